#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The scheduled event from events/ through the handler, against moto.

use chrono::{TimeZone, Utc};
use cloud::testing::{self, connection};
use domain::ConnectionKind::{Moodle, Sms};
use domain::ports::ConnectionStore;
use domain::{Job, Trigger};
use nightly_sync::{Deps, handler};

const EVENT: &str = include_str!("../../../events/nightly-sync/scheduled.json");

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
    let deps = Deps::from_aws(&config, &sdk);
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
    let deps = Deps::from_aws(&config, &sdk);
    let event: handler::ScheduledInvocation =
        serde_json::from_str(r#"{"schedule":"hourly"}"#).unwrap();
    let err = handler::handle(&deps, event, Utc::now()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "nightly-sync handles the \"nightly\" schedule, not \"hourly\""
    );
}
