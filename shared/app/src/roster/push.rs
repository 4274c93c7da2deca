//! One offering's roster pushed to CourseKey, and its status as shown.

use chrono::{DateTime, NaiveDate, Utc};
use domain::attendance::{
    CourseKeyOffering, Roster, SyncStatus, WindowPosition, in_window, roster_fingerprint,
    sync_status,
};
use domain::connection::CourseKeySettings;
use domain::ports::{
    AttendanceStore, CourseKeyRoster, Retryable, RosterError, SisStore, StoreError,
    TenantSettingsStore,
};
use domain::sis::{Enrolment, EnrolmentState, Learner};
use domain::{OfferingId, TenantId};

/// The ports a roster push needs.
pub struct RosterPorts<'a> {
    pub store: &'a dyn AttendanceStore,
    pub sis: &'a dyn SisStore,
    pub roster: &'a dyn CourseKeyRoster,
    /// The tenant's zone: "today" for the sync window.
    pub tenants: &'a dyn TenantSettingsStore,
}

#[derive(Debug, thiserror::Error)]
pub enum RosterPushError {
    #[error("offering {offering} is not known to the SMS or to CourseKey")]
    UnknownOffering { offering: OfferingId },
    #[error("a store failed")]
    Store(#[from] StoreError),
    /// CourseKey was unavailable: recorded as Failed, and worth another try.
    #[error("CourseKey is unavailable")]
    Unavailable(#[source] RosterError),
    #[error("the connection's secret could not be read")]
    Secret(#[from] domain::ports::SecretError),
    /// The roster client could not be built from the connection (its URL).
    #[error("the CourseKey client could not be built")]
    Client(#[source] RosterError),
}

impl Retryable for RosterPushError {
    fn is_retryable(&self) -> bool {
        match self {
            RosterPushError::UnknownOffering { .. } => false,
            RosterPushError::Store(e) => e.is_retryable(),
            RosterPushError::Unavailable(_) => true,
            RosterPushError::Secret(e) => e.is_retryable(),
            RosterPushError::Client(_) => false,
        }
    }
}

/// The offering's status as shown, computed from its stored CourseKey side.
pub async fn status(
    store: &dyn AttendanceStore,
    sis: &dyn SisStore,
    settings: &CourseKeySettings,
    tenant: &TenantId,
    offering: &OfferingId,
    today: NaiveDate,
) -> Result<Option<(CourseKeyOffering, SyncStatus)>, StoreError> {
    let Some(ck) = store.coursekey_offering(tenant, offering).await? else {
        return Ok(None);
    };
    let (start, end) = match sis.offering(tenant, offering).await {
        Ok(sms) => sms.map_or((None, None), |o| (o.start_date, o.end_date)),
        // Its SMS record cannot be read: the status says so (as the tick's).
        Err(error) if !error.is_retryable() => {
            let reason = unreadable_offering(&error);
            return Ok(Some((ck, SyncStatus::Failed { reason })));
        }
        Err(error) => return Err(error),
    };
    let status = sync_status(&ck, start, end, today, settings);
    Ok(Some((ck, status)))
}

/// What a marked offering's status says when its SMS record cannot be read.
pub(super) fn unreadable_offering(error: &StoreError) -> String {
    format!(
        "The SMS offering could not be read ({}); send the offering again through the API.",
        crate::errors::error_text(error)
    )
}

/// Pushes one offering when its status allows, and stores the outcome.
#[tracing::instrument(skip_all, fields(tenant = %tenant, offering = %offering))]
pub async fn push_offering(
    p: &RosterPorts<'_>,
    settings: &CourseKeySettings,
    tenant: &TenantId,
    offering: &OfferingId,
    now: DateTime<Utc>,
) -> Result<SyncStatus, RosterPushError> {
    let unknown = || RosterPushError::UnknownOffering {
        offering: offering.clone(),
    };
    let ck = p
        .store
        .coursekey_offering(tenant, offering)
        .await?
        .ok_or_else(unknown)?;
    let sms = p
        .sis
        .offering(tenant, offering)
        .await?
        .ok_or_else(unknown)?;
    // Decide on the offering as it is now, not on the last push's error.
    let mut fresh = ck.clone();
    fresh.last_error = None;
    let today = p.tenants.tenant_settings(tenant).await?.zone().today(now);
    let before = sync_status(&fresh, sms.start_date, sms.end_date, today, settings);
    if !ck.send_to_coursekey {
        return Ok(before);
    }
    let (start, end) = match in_window(sms.start_date, sms.end_date, today, settings) {
        WindowPosition::Before | WindowPosition::After => return Ok(before),
        WindowPosition::NoDates => return record(p, ck, before).await,
        WindowPosition::Inside => match (sms.start_date, sms.end_date, &before) {
            (_, _, SyncStatus::Failed { .. }) => return record(p, ck, before).await,
            (Some(start), Some(end), _) => (start, end),
            _ => return record(p, ck, before).await,
        },
    };
    let enrolments = p.sis.enrolments(tenant, offering).await?;
    let codes: Vec<_> = enrolments.iter().map(|e| e.learner.clone()).collect();
    let learners = p.sis.learners(tenant, &codes).await?;
    let students = students(&enrolments, &learners);
    let fingerprint = roster_fingerprint(&Roster {
        title: &sms.name,
        start,
        end,
        instructors: &ck.instructors,
        students: &students,
        classes: &ck.classes,
    });
    if ck.synchronized_at.is_some()
        && ck.last_error.is_none()
        && ck.pushed_fingerprint.as_deref() == Some(fingerprint.as_str())
    {
        tracing::debug!("roster unchanged since the last push; no CourseKey call");
        return Ok(SyncStatus::Synchronized);
    }
    match push(p, &ck, &sms.name, start, end, &students).await {
        Ok(calls) => {
            tracing::info!(calls, "roster pushed to CourseKey");
            let sent: Vec<String> = ck.classes.iter().map(|c| c.code.clone()).collect();
            save_outcome(p, ck, |fresh| {
                fresh.synchronized_at.get_or_insert(now);
                fresh.last_error = None;
                fresh.pushed_fingerprint = Some(fingerprint);
                fresh.pushed_classes = sent;
            })
            .await?;
            Ok(SyncStatus::Synchronized)
        }
        Err(e) => {
            tracing::warn!(error = &e as &dyn std::error::Error, "roster push failed");
            let reason = e.to_string();
            save_outcome(p, ck, |fresh| fresh.last_error = Some(reason)).await?;
            if e.is_retryable() {
                Err(RosterPushError::Unavailable(e))
            } else {
                Ok(SyncStatus::Failed {
                    reason: e.to_string(),
                })
            }
        }
    }
}

async fn record(
    p: &RosterPorts<'_>,
    ck: CourseKeyOffering,
    status: SyncStatus,
) -> Result<SyncStatus, RosterPushError> {
    if let SyncStatus::Failed { reason } = &status
        && ck.last_error.as_deref() != Some(reason)
    {
        let reason = reason.clone();
        save_outcome(p, ck, |fresh| fresh.last_error = Some(reason)).await?;
    }
    Ok(status)
}

/// Stores a push's outcome on the offering's CourseKey side as it is *now*: a
/// person may have saved new classes or instructors while the push ran, and
/// those must not be overwritten with what the push read. (The fingerprint kept
/// is of what was sent, so a roster changed meanwhile is pushed next time.)
async fn save_outcome(
    p: &RosterPorts<'_>,
    read: CourseKeyOffering,
    apply: impl FnOnce(&mut CourseKeyOffering),
) -> Result<(), StoreError> {
    let mut fresh = p
        .store
        .coursekey_offering(&read.tenant, &read.offering)
        .await?
        .unwrap_or(read);
    apply(&mut fresh);
    p.store.save_coursekey_offering(&fresh).await
}

/// Each enrolled learner the SMS knows, with whether they are dropped (withdrawn).
fn students<'a>(enrolments: &[Enrolment], learners: &'a [Learner]) -> Vec<(&'a Learner, bool)> {
    enrolments
        .iter()
        .filter_map(|e| {
            learners
                .iter()
                .find(|l| l.code == e.learner)
                .map(|l| (l, e.state == EnrolmentState::Withdrawn))
        })
        .collect()
}

/// The calls, in order; the number made.
async fn push(
    p: &RosterPorts<'_>,
    ck: &CourseKeyOffering,
    title: &str,
    start: NaiveDate,
    end: NaiveDate,
    students: &[(&Learner, bool)],
) -> Result<usize, RosterError> {
    let mut calls = 0;
    p.roster
        .upsert_course(&ck.offering, title, start, end)
        .await?;
    calls += 1;
    for instructor in &ck.instructors {
        p.roster.add_instructor(instructor, &ck.offering).await?;
        calls += 1;
    }
    for (learner, _) in students {
        p.roster.upsert_student(learner).await?;
        calls += 1;
    }
    for (learner, dropped) in students {
        p.roster
            .set_enrolment(&ck.offering, &learner.code, *dropped)
            .await?;
        calls += 1;
    }
    for class in &ck.classes {
        p.roster.upsert_class(&ck.offering, class).await?;
        calls += 1;
    }
    // A class pushed before and no longer scheduled is a schedule change too.
    for code in &ck.pushed_classes {
        if ck.class(code).is_none() {
            p.roster.remove_class(&ck.offering, code).await?;
            calls += 1;
        }
    }
    Ok(calls)
}
