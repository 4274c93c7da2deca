#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The deliveries queue and the daily schedule from events/ through the handler.

use retry_worker::handler::{self, Invocation, Response};

const SQS: &str = include_str!("../../../events/retry-worker/sqs-batch.json");
const SCHEDULED: &str = include_str!("../../../events/retry-worker/scheduled.json");

#[tokio::test]
async fn deliveries_are_never_acknowledged_unsent() {
    let event: Invocation = serde_json::from_str(SQS).unwrap();
    assert!(matches!(event, Invocation::Sqs(_)));
    let Response::Sqs(response) = handler::handle(event).await.unwrap() else {
        panic!("an SQS response")
    };
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    // The deliver job stays on the queue (then the DLQ, alarmed) until it is
    // sent; the malformed one too; the job on the wrong queue is acknowledged.
    assert_eq!(
        failed,
        [
            "00000000-0000-4000-8000-000000000001",
            "00000000-0000-4000-8000-000000000003"
        ]
    );
}

#[tokio::test]
async fn the_daily_schedule_is_recognised() {
    let event: Invocation = serde_json::from_str(SCHEDULED).unwrap();
    assert!(matches!(event, Invocation::Schedule(_)));
    assert!(matches!(
        handler::handle(event).await.unwrap(),
        Response::Schedule { due: 0 }
    ));
    let other: Invocation = serde_json::from_str(r#"{"schedule":"nightly"}"#).unwrap();
    assert!(handler::handle(other).await.is_err());
}
