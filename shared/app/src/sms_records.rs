//! What saving the SMS's new record of a learner or an offering comes to:
//! nothing when its content is the same, else a save, and a sync job when a
//! field a learning system holds a copy of changed. And the push jobs a new
//! enrolment of an auto-push offering starts ([`auto_push_jobs`]). What makes
//! a record valid is [`domain::sis::check`].

use domain::Job;
use domain::sis::{Enrolment, Learner, Offering};

/// What to do with a record the SMS sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Save {
    /// Its content is the stored one's: nothing is written or queued.
    Unchanged,
    /// Store it, and queue `sync` (when a synced field changed).
    Store { sync: Option<Job> },
}

/// The fields Moodle holds a copy of: a change to one is synced.
pub fn learner_synced_fields_differ(a: &Learner, b: &Learner) -> bool {
    a.username != b.username
        || a.given_name != b.given_name
        || a.middle_name != b.middle_name
        || a.family_name != b.family_name
        || a.email != b.email
        || a.archived != b.archived
}

/// Whether two records of a learner say the same (its `updated_at` aside).
pub fn learner_same_content(a: &Learner, b: &Learner) -> bool {
    !learner_synced_fields_differ(a, b)
        && a.date_of_birth == b.date_of_birth
        && a.email_opt_out == b.email_opt_out
}

/// Saving `after` over `before` (none: a new learner): which learner field
/// changes go to Moodle (a `sync_learner` job; a new learner has no account yet).
pub fn learner_save(before: Option<&Learner>, after: &Learner) -> Save {
    match before {
        Some(before) if learner_same_content(before, after) => Save::Unchanged,
        Some(before) => Save::Store {
            sync: learner_synced_fields_differ(before, after).then(|| Job::SyncLearner {
                tenant: after.tenant.clone(),
                learner: after.code.clone(),
            }),
        },
        None => Save::Store { sync: None },
    }
}

/// The fields the linked courses copy (dates, and the status that sets the
/// course's visibility): a change to one is synced.
pub fn offering_course_fields_differ(a: &Offering, b: &Offering) -> bool {
    a.start_date != b.start_date || a.end_date != b.end_date || a.status != b.status
}

/// Whether two records of an offering say the same (its `updated_at` aside).
pub fn offering_same_content(a: &Offering, b: &Offering) -> bool {
    Offering {
        updated_at: b.updated_at,
        ..a.clone()
    } == *b
}

/// Saving `after` over `before` (none: a new offering): a change of a field
/// the linked courses copy is a `sync_offering` job.
pub fn offering_save(before: Option<&Offering>, after: &Offering) -> Save {
    match before {
        Some(before) if offering_same_content(before, after) => Save::Unchanged,
        Some(before) => Save::Store {
            sync: offering_course_fields_differ(before, after).then(|| Job::SyncOffering {
                tenant: after.tenant.clone(),
                offering: after.id.clone(),
            }),
        },
        None => Save::Store { sync: None },
    }
}

/// Writing `after` over a stored record of the offering that could not be
/// read (the repair): what changed is not known, so it is stored and its
/// courses are synced as after a change of dates.
pub fn offering_repair(after: &Offering) -> Save {
    Save::Store {
        sync: Some(Job::SyncOffering {
            tenant: after.tenant.clone(),
            offering: after.id.clone(),
        }),
    }
}

/// What to do with an enrolment the SMS sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrolmentSave {
    /// Its content is the stored one's: nothing is written or queued.
    Unchanged,
    /// Store it; when `auto_push`, queue the offering's [`auto_push_jobs`].
    Store { auto_push: bool },
}

/// Saving `after` over `before` (none: a new enrolment): only a new, active
/// enrolment goes on to Moodle by itself (the offering's auto-push); a change
/// of an existing one waits for the next push.
pub fn enrolment_save(before: Option<&Enrolment>, after: &Enrolment) -> EnrolmentSave {
    match before {
        Some(before)
            if Enrolment {
                updated_at: after.updated_at,
                ..before.clone()
            } == *after =>
        {
            EnrolmentSave::Unchanged
        }
        Some(_) => EnrolmentSave::Store { auto_push: false },
        None => EnrolmentSave::Store {
            auto_push: after.state.is_active(),
        },
    }
}

/// The push jobs a new enrolment of `offering` starts: none unless the
/// offering is auto-pushed, then one per enabled Moodle connection that takes
/// auto-pushed enrolments and has a course linked to it.
pub async fn auto_push_jobs(
    connections: &dyn domain::ports::ConnectionStore,
    links: &dyn domain::ports::LinkStore,
    offering: &Offering,
) -> Result<Vec<Job>, domain::ports::StoreError> {
    use domain::connection::ConnectionSettings;
    if !offering.auto_push {
        return Ok(Vec::new());
    }
    let mut jobs = Vec::new();
    for connection in connections.connections(&offering.tenant).await? {
        let takes_auto_push =
            matches!(&connection.settings, ConnectionSettings::Moodle(m) if m.auto_push);
        if !connection.enabled || !takes_auto_push {
            continue;
        }
        if links
            .link(&offering.tenant, &offering.id, &connection.id)
            .await?
            .is_some()
        {
            jobs.push(Job::PushOffering {
                tenant: offering.tenant.clone(),
                connection: connection.id,
                offering: offering.id.clone(),
                run: domain::RunId::new_v7(),
                trigger: domain::Trigger::AutoPush,
            });
        }
    }
    Ok(jobs)
}
