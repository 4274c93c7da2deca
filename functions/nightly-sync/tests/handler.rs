#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The scheduled event from events/ through the handler, against moto.

use chrono::{TimeZone, Utc};
use cloud::testing::{self, connection};
use domain::ConnectionKind::{Moodle, Sms};
use domain::ports::ConnectionStore;
use domain::{Job, Trigger};
use nightly_sync::{Config, Deps, handler};

const EVENT: &str = include_str!("../../../events/nightly-sync/scheduled.json");
const ROSTER_TICK: &str = include_str!("../../../events/nightly-sync/coursekey_roster.json");

#[tokio::test]
async fn the_nightly_schedule_queues_one_run_per_enabled_connection_once() {
    let config = testing::fresh_stack().await;
    let sdk = testing::sdk().await;
    let stores = cloud::Stores::new(&config, &sdk);
    for c in [
        connection("acme", "moodle-main", Moodle, true),
        connection("acme", "moodle-old", Moodle, false),
        connection("acme", "sms", Sms, true),
        connection("bolt", "moodle", Moodle, true),
    ] {
        stores.connections.save_connection(&c).await.unwrap();
    }
    let deps = Deps::from_aws(
        &Config::from_stack(&config).unwrap(),
        &testing::function_sdk(&sdk, &config, "nightly-sync").await,
    );
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 15, 0, 3).unwrap();

    let event: handler::ScheduledInvocation = serde_json::from_str(EVENT).unwrap();
    let response = handler::handle(&deps, event.clone(), now).await.unwrap();
    assert_eq!(
        response,
        handler::Response {
            queued: 2,
            already_finished: 0
        }
    );

    let jobs = testing::drain_jobs(&sdk, &config, domain::QueueRole::EnrolmentPush).await;
    let mut queued: Vec<(String, String)> = jobs
        .iter()
        .map(|job| match job {
            Job::SyncConnection {
                tenant,
                connection,
                trigger: Trigger::Nightly,
                offering: None,
                ..
            } => (tenant.to_string(), connection.to_string()),
            other => panic!("unexpected job {other:?}"),
        })
        .collect();
    queued.sort();
    assert_eq!(
        queued,
        [
            ("acme".into(), "moodle-main".into()),
            ("bolt".into(), "moodle".into())
        ]
    );

    // The Scheduler retries the same invocation: the same runs, no new ones.
    handler::handle(&deps, event, now).await.unwrap();
    let mut again = testing::drain_jobs(&sdk, &config, domain::QueueRole::EnrolmentPush).await;
    let mut jobs = jobs;
    jobs.sort_by_key(Job::dedup_key);
    again.sort_by_key(Job::dedup_key);
    assert_eq!(again, jobs, "a retried schedule names the same runs");
}

#[tokio::test]
async fn another_schedule_name_is_refused() {
    let config = testing::fresh_stack().await;
    let sdk = testing::sdk().await;
    let deps = Deps::from_aws(
        &Config::from_stack(&config).unwrap(),
        &testing::function_sdk(&sdk, &config, "nightly-sync").await,
    );
    let event: handler::ScheduledInvocation =
        serde_json::from_str(r#"{"schedule":"hourly"}"#).unwrap();
    let err = handler::handle(&deps, event, Utc::now()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "nightly-sync handles the \"nightly\" and \"coursekey_roster\" schedules, not \"hourly\""
    );
}

#[tokio::test]
async fn the_coursekey_roster_tick_queues_a_push_per_marked_offering_in_its_window_once() {
    use domain::attendance::{CourseKeyOffering, HoursType};
    use domain::ports::{AttendanceStore, SisStore};
    use domain::sis::{Offering, OfferingStatus};
    use domain::{ConnectionKind::CourseKey, OfferingId, TenantId};

    let config = testing::fresh_stack().await;
    let sdk = testing::sdk().await;
    let stores = cloud::Stores::new(&config, &sdk);
    stores
        .connections
        .save_connection(&connection("acme", "ck", CourseKey, true))
        .await
        .unwrap();
    let date = |m, d| chrono::NaiveDate::from_ymd_opt(2026, m, d).unwrap();
    // OFF-1 starts on 2 March (its window opened 9 February); OFF-2 in June (Scheduled);
    // OFF-3 is not marked.
    for (id, start, marked) in [
        ("OFF-1", date(3, 2), true),
        ("OFF-2", date(6, 1), true),
        ("OFF-3", date(3, 2), false),
    ] {
        let offering = OfferingId::parse(id).unwrap();
        stores
            .sis
            .save_offering(&Offering {
                tenant: TenantId::parse("acme").unwrap(),
                id: offering.clone(),
                name: id.into(),
                start_date: Some(start),
                end_date: Some(start + chrono::TimeDelta::days(60)),
                status: OfferingStatus::Active,
                auto_push: false,
                must_be_evaluated: false,
                assessables: vec![],
                updated_at: Utc::now(),
            })
            .await
            .unwrap();
        stores
            .attendance
            .save_coursekey_offering(&CourseKeyOffering {
                tenant: TenantId::parse("acme").unwrap(),
                offering,
                send_to_coursekey: marked,
                hours_type: HoursType::Marks,
                instructors: vec!["INS-1".into()],
                classes: vec![],
                synchronized_at: None,
                last_error: None,
                pushed_fingerprint: None,
                pushed_classes: vec![],
            })
            .await
            .unwrap();
    }
    let deps = Deps::from_aws(
        &Config::from_stack(&config).unwrap(),
        &testing::function_sdk(&sdk, &config, "nightly-sync").await,
    );
    let event: handler::ScheduledInvocation = serde_json::from_str(ROSTER_TICK).unwrap();
    let response = handler::handle(&deps, event.clone(), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        response,
        handler::Response {
            queued: 1,
            already_finished: 0
        }
    );
    let jobs = testing::drain_jobs(&sdk, &config, domain::QueueRole::EnrolmentPush).await;
    assert_eq!(
        jobs,
        [Job::PushCourseKeyRoster {
            tenant: TenantId::parse("acme").unwrap(),
            connection: domain::ConnectionId::parse("ck").unwrap(),
            offering: OfferingId::parse("OFF-1").unwrap(),
        }]
    );

    // The Scheduler retries the same tick: nothing more is queued.
    let again = handler::handle(&deps, event, Utc::now()).await.unwrap();
    assert_eq!(
        again,
        handler::Response {
            queued: 0,
            already_finished: 1
        }
    );
    assert!(
        testing::drain_jobs(&sdk, &config, domain::QueueRole::EnrolmentPush)
            .await
            .is_empty()
    );
}
