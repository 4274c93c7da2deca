//! Which changes of the SMS's records are saved, and which go on to Moodle.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use app::sms_records::{
    EnrolmentSave, Save, enrolment_save, learner_save, offering_repair, offering_save,
};
use chrono::{NaiveDate, TimeDelta, Utc};
use domain::sis::{Enrolment, EnrolmentState, Learner, Offering, OfferingStatus};
use domain::{Job, LearnerCode, OfferingId, TenantId};

fn learner() -> Learner {
    Learner {
        tenant: TenantId::parse("acme").unwrap(),
        code: LearnerCode::parse("L1").unwrap(),
        username: None,
        given_name: "Ana".into(),
        middle_name: None,
        family_name: "Ruiz".into(),
        email: Some("ana@example.com".into()),
        date_of_birth: None,
        archived: false,
        email_opt_out: false,
        updated_at: Utc::now(),
    }
}

fn offering() -> Offering {
    Offering {
        tenant: TenantId::parse("acme").unwrap(),
        id: OfferingId::parse("OCC-1").unwrap(),
        name: "Welding".into(),
        start_date: NaiveDate::from_ymd_opt(2027, 2, 1),
        end_date: NaiveDate::from_ymd_opt(2027, 6, 30),
        status: OfferingStatus::Active,
        auto_push: false,
        must_be_evaluated: false,
        assessables: vec![],
        updated_at: Utc::now(),
    }
}

#[test]
fn a_new_learner_is_stored_and_nothing_is_synced() {
    assert_eq!(learner_save(None, &learner()), Save::Store { sync: None });
}

#[test]
fn the_same_learner_again_changes_nothing_whatever_its_time() {
    let before = learner();
    let after = Learner {
        updated_at: before.updated_at + TimeDelta::hours(1),
        ..before.clone()
    };
    assert_eq!(learner_save(Some(&before), &after), Save::Unchanged);
}

#[test]
fn each_field_moodle_holds_goes_to_moodle_and_the_others_are_only_stored() {
    let before = learner();
    let sync = Job::SyncLearner {
        tenant: before.tenant.clone(),
        learner: before.code.clone(),
    };
    let synced: Vec<Learner> = vec![
        Learner {
            username: Some("ana".into()),
            ..before.clone()
        },
        Learner {
            given_name: "Anna".into(),
            ..before.clone()
        },
        Learner {
            middle_name: Some("M".into()),
            ..before.clone()
        },
        Learner {
            family_name: "Ruíz".into(),
            ..before.clone()
        },
        Learner {
            email: Some("ana@new.example".into()),
            ..before.clone()
        },
        Learner {
            archived: true,
            ..before.clone()
        },
    ];
    for after in synced {
        assert_eq!(
            learner_save(Some(&before), &after),
            Save::Store {
                sync: Some(sync.clone())
            },
            "{after:?}"
        );
    }
    let stored_only: Vec<Learner> = vec![
        Learner {
            date_of_birth: NaiveDate::from_ymd_opt(1990, 1, 1),
            ..before.clone()
        },
        Learner {
            email_opt_out: true,
            ..before.clone()
        },
    ];
    for after in stored_only {
        assert_eq!(
            learner_save(Some(&before), &after),
            Save::Store { sync: None },
            "{after:?}"
        );
    }
}

#[test]
fn an_offerings_dates_or_status_go_to_its_courses_and_its_name_is_only_stored() {
    let before = offering();
    assert_eq!(offering_save(None, &before), Save::Store { sync: None });
    let again = Offering {
        updated_at: before.updated_at + TimeDelta::hours(1),
        ..before.clone()
    };
    assert_eq!(offering_save(Some(&before), &again), Save::Unchanged);
    let sync = Job::SyncOffering {
        tenant: before.tenant.clone(),
        offering: before.id.clone(),
    };
    for after in [
        Offering {
            start_date: NaiveDate::from_ymd_opt(2027, 3, 1),
            ..before.clone()
        },
        Offering {
            end_date: None,
            ..before.clone()
        },
        Offering {
            status: OfferingStatus::Cancelled,
            ..before.clone()
        },
    ] {
        assert_eq!(
            offering_save(Some(&before), &after),
            Save::Store {
                sync: Some(sync.clone())
            },
            "{after:?}"
        );
    }
    let renamed = Offering {
        name: "Welding 2".into(),
        ..before.clone()
    };
    assert_eq!(
        offering_save(Some(&before), &renamed),
        Save::Store { sync: None }
    );
}

#[test]
fn a_repaired_offering_is_stored_and_its_courses_are_synced() {
    let after = offering();
    assert_eq!(
        offering_repair(&after),
        Save::Store {
            sync: Some(Job::SyncOffering {
                tenant: after.tenant.clone(),
                offering: after.id.clone(),
            })
        }
    );
}

fn enrolment(state: EnrolmentState) -> Enrolment {
    Enrolment {
        tenant: TenantId::parse("acme").unwrap(),
        learner: LearnerCode::parse("L1").unwrap(),
        offering: OfferingId::parse("OCC-1").unwrap(),
        state,
        start_date: NaiveDate::from_ymd_opt(2027, 2, 1),
        session_date: None,
        updated_at: Utc::now(),
    }
}

#[test]
fn only_a_new_active_enrolment_is_auto_pushed_and_the_same_one_again_changes_nothing() {
    for (state, auto_push) in [
        (EnrolmentState::NotCalled, true),
        (EnrolmentState::InProgress, true),
        (EnrolmentState::Completed, false),
        (EnrolmentState::Withdrawn, false),
    ] {
        assert_eq!(
            enrolment_save(None, &enrolment(state)),
            EnrolmentSave::Store { auto_push },
            "{state:?}"
        );
    }
    let before = enrolment(EnrolmentState::NotCalled);
    let again = Enrolment {
        updated_at: before.updated_at + TimeDelta::hours(1),
        ..before.clone()
    };
    assert_eq!(
        enrolment_save(Some(&before), &again),
        EnrolmentSave::Unchanged
    );
    let called = Enrolment {
        state: EnrolmentState::InProgress,
        session_date: NaiveDate::from_ymd_opt(2027, 2, 3),
        ..again
    };
    assert_eq!(
        enrolment_save(Some(&before), &called),
        EnrolmentSave::Store { auto_push: false }
    );
}

#[tokio::test]
async fn a_new_enrolment_is_auto_pushed_to_each_linked_moodle_connection_that_takes_it() {
    use app::testing::{MemConnections, MemLinks};
    use domain::connection::{ConnectionSettings, MoodleSettings};
    use domain::{Connection, ConnectionId};
    let connections = MemConnections::default();
    for (id, auto_push, enabled) in [
        ("a", true, true),
        ("b", false, true),
        ("c", true, false),
        ("d", true, true),
    ] {
        connections.0.lock().unwrap().push(Connection {
            tenant: TenantId::parse("acme").unwrap(),
            id: ConnectionId::parse(id).unwrap(),
            name: id.into(),
            base_url: "https://lms.example".into(),
            enabled,
            error_email: None,
            settings: ConnectionSettings::Moodle(MoodleSettings {
                auto_push,
                ..MoodleSettings::default()
            }),
        });
    }
    let links = MemLinks::default();
    let mut offering = offering();
    for id in ["a", "b", "c"] {
        let connection = ConnectionId::parse(id).unwrap();
        links.links.lock().unwrap().insert(
            (
                offering.tenant.clone(),
                offering.id.clone(),
                connection.clone(),
            ),
            domain::sis::CourseLink {
                tenant: offering.tenant.clone(),
                offering: offering.id.clone(),
                connection,
                course_id: 7,
                course_idnumber: None,
                course_shortname: None,
                linked_at: Utc::now(),
            },
        );
    }
    let none = app::sms_records::auto_push_jobs(&connections, &links, &offering)
        .await
        .unwrap();
    assert!(none.is_empty(), "the offering is not auto-pushed");
    offering.auto_push = true;
    let jobs = app::sms_records::auto_push_jobs(&connections, &links, &offering)
        .await
        .unwrap();
    // b does not take auto-push, c is disabled, d has no course linked.
    assert!(
        matches!(&jobs[..], [Job::PushOffering { connection, trigger: domain::Trigger::AutoPush, .. }] if connection.as_str() == "a"),
        "{jobs:?}"
    );
}
