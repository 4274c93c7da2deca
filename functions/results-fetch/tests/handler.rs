#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The SQS batch from events/ through the handler, against moto.

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::Utc;
use cloud::testing::{self, connection};
use domain::ConnectionKind::Moodle;

use domain::{ConnectionId, Run, RunId, RunStatus, TenantId, Trigger};
use results_fetch::{Config, Deps, handler};

const EVENT: &str = include_str!("../../../events/results-fetch/sqs-batch.json");

#[tokio::test]
async fn the_import_finishes_its_run_and_a_bad_tenant_id_goes_back_to_the_queue() {
    let config = testing::fresh_stack().await;
    let sdk = testing::sdk().await;
    let deps = Deps::from_aws(
        &Config::from_stack(&config).unwrap(),
        &testing::function_sdk(&sdk, &config, "results-fetch").await,
    );
    deps.connections
        .save_connection(&connection("acme", "moodle-main", Moodle, true))
        .await
        .unwrap();
    let (tenant, conn) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
    );
    let run_id = RunId::parse("0195a1b2-0000-7000-8000-000000000001").unwrap();
    deps.runs
        .start_run(&Run::start(
            tenant.clone(),
            conn.clone(),
            run_id.clone(),
            Trigger::Manual,
            Utc::now(),
        ))
        .await
        .unwrap();

    let event: SqsEvent = serde_json::from_str(EVENT).unwrap();
    let response = handler::handle(&deps, event.clone()).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    // "acme#bolt" is not a tenant id: the message cannot be decoded and is
    // redriven to the DLQ; the unknown run is permanent and acknowledged.
    assert_eq!(failed, ["00000000-0000-4000-8000-000000000003"]);

    let run = deps
        .runs
        .run(&tenant, &conn, &run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::FinishedSuccessfully);
    assert!(run.finished_at.is_some());

    // A duplicate delivery leaves the finished run alone.
    handler::handle(&deps, event).await;
    assert_eq!(
        deps.runs.log(&tenant, &conn, &run_id).await.unwrap().len(),
        1
    );
}
