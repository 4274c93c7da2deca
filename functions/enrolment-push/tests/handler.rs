#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The SQS batch from events/ through the handler, against moto.

use aws_lambda_events::event::sqs::SqsEvent;
use cloud::testing::{self, connection};
use domain::ConnectionKind::Moodle;

use domain::{ConnectionId, Job, RunId, RunStatus, TenantId};
use enrolment_push::{Config, Deps, handler};

const EVENT: &str = include_str!("../../../events/enrolment-push/sqs-batch.json");

#[tokio::test]
async fn good_jobs_run_bad_bodies_are_retried_and_permanent_failures_are_acknowledged() {
    let config = testing::fresh_stack().await;
    let sdk = testing::sdk().await;
    let deps = Deps::from_aws(
        &Config::from_stack(&config).unwrap(),
        &testing::function_sdk(&sdk, &config, "enrolment-push").await,
    );
    deps.connections
        .save_connection(&connection("acme", "moodle-main", Moodle, true))
        .await
        .unwrap();

    let event: SqsEvent = serde_json::from_str(EVENT).unwrap();
    let response = handler::handle(&deps, event.clone()).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    // Only the body that is not a job goes back to SQS (and on to the DLQ);
    // the unknown connection and the job on the wrong queue are permanent.
    assert_eq!(failed, ["00000000-0000-4000-8000-000000000003"]);

    let (tenant, conn) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
    );
    let run_id = RunId::parse("0195a1b2-0000-7000-8000-000000000001").unwrap();
    let run = deps
        .runs
        .run(&tenant, &conn, &run_id)
        .await
        .unwrap()
        .expect("the run is recorded");
    assert_eq!(run.status, RunStatus::Importing);
    // Nothing is linked through the connection, whose secret does not exist:
    // its check says so (the nightly run of an unlinked connection is not a
    // silent success), then the export's line.
    let log = deps.runs.log(&tenant, &conn, &run_id).await.unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0]
            .message
            .starts_with("No offering is linked through this connection, and Moodle"),
        "{}",
        log[0].message
    );
    assert!(
        log[1].message.starts_with("Run started by a person"),
        "{}",
        log[1].message
    );

    let imports = testing::drain_jobs(&sdk, &config, domain::QueueRole::ResultsFetch).await;
    assert!(matches!(imports.as_slice(), [Job::FetchResults { run, .. }] if run == &run_id));

    // SQS delivers the same batch again: nothing new happens.
    let again = handler::handle(&deps, event).await;
    assert_eq!(again.batch_item_failures.len(), 1);
    assert_eq!(
        deps.runs.log(&tenant, &conn, &run_id).await.unwrap().len(),
        2,
        "the check and the start are logged once"
    );
    assert_eq!(
        testing::drain_jobs(&sdk, &config, domain::QueueRole::ResultsFetch)
            .await
            .len(),
        1,
        "the import is queued again, and is idempotent"
    );
}
