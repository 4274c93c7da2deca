#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The deliveries queue and the daily schedule from events/ through the
//! handler, over moto and the SMS simulator.

use chrono::{DateTime, TimeZone, Utc};
use cloud::testing;
use domain::connection::{ConnectionSettings, SmsSettings};
use domain::delivery::{DeliveryKey, DeliveryKind, DeliveryState};
use domain::ports::{ConnectionStore, DeliveryStore};
use domain::{
    AssessableId, Connection, ConnectionId, LearnerCode, OfferingId, QueueRole, TenantId,
};
use retry_worker::Deps;
use retry_worker::handler::{self, Invocation, Response};
use secrecy::SecretString;
use simulators::sms::SmsSim;

const SQS: &str = include_str!("../../../events/retry-worker/sqs-batch.json");
const SCHEDULED: &str = include_str!("../../../events/retry-worker/scheduled.json");
const SECRET: &str = "whsec_fixture_sms_acme_0001";

fn day1() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap()
}

fn day2() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap()
}

/// The delivery the fixture's first message names.
fn fixture_key() -> DeliveryKey {
    DeliveryKey {
        tenant: TenantId::parse("acme").unwrap(),
        learner: LearnerCode::parse("L001").unwrap(),
        offering: OfferingId::parse("OFF-1").unwrap(),
        assessable: Some(AssessableId::parse("U1").unwrap()),
        kind: DeliveryKind::Result,
    }
}

struct Stack {
    config: cloud::Config,
    sdk: aws_config::SdkConfig,
    /// retry-worker's role from infra/template.yaml: all its Deps may do.
    role: aws_config::SdkConfig,
    sim: SmsSim,
    _server: simulators::server::RunningServer,
}

impl Stack {
    async fn new() -> Self {
        let config = testing::fresh_stack().await;
        let sdk = testing::sdk().await;
        let sim = SmsSim::new(SECRET);
        sim.set_clock(Some(day1()));
        let server = sim.start().await.unwrap();
        let stores = cloud::Stores::new(&config, &sdk);
        let connection = Connection {
            tenant: TenantId::parse("acme").unwrap(),
            id: ConnectionId::parse("sms").unwrap(),
            name: "SMS".into(),
            base_url: format!("{}/results", server.base_url),
            enabled: true,
            error_email: Some("ops@example.com".into()),
            settings: ConnectionSettings::Sms(SmsSettings::default()),
        };
        stores
            .connections
            .save_connection(&connection)
            .await
            .unwrap();
        stores
            .secrets
            .put(
                &connection.secret_name(&config.secret_prefix),
                &SecretString::from(SECRET),
            )
            .await
            .unwrap();
        app::deliveries::create_delivery(
            &stores.deliveries,
            &stores.queue,
            &fixture_key(),
            &connection.id,
            serde_json::json!({"grade": "Competent", "completed_on": "2026-11-20"}),
            day1(),
        )
        .await
        .unwrap();
        Self {
            role: testing::function_sdk(&sdk, &config, "retry-worker").await,
            config,
            sdk,
            sim,
            _server: server,
        }
    }

    fn deps(&self, now: fn() -> DateTime<Utc>) -> Deps {
        Deps {
            now,
            ..Deps::from_aws(
                &retry_worker::Config::from_stack(&self.config).unwrap(),
                &self.role,
            )
            .unwrap()
        }
    }

    async fn state(&self) -> DeliveryState {
        let stores = cloud::Stores::new(&self.config, &self.sdk);
        let key = fixture_key();
        stores
            .deliveries
            .delivery(&key.tenant, &key.delivery_id())
            .await
            .unwrap()
            .unwrap()
            .state
    }
}

fn failures(response: Response) -> Vec<String> {
    let Response::Sqs(response) = response else {
        panic!("an SQS response")
    };
    response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

#[tokio::test]
async fn the_fixture_names_the_delivery_of_its_key() {
    assert!(SQS.contains(fixture_key().delivery_id().as_str()));
}

#[tokio::test]
async fn a_batch_sends_its_delivery_once_and_hands_back_only_what_sqs_should_retry() {
    let stack = Stack::new().await;
    let deps = stack.deps(day1);
    let event: Invocation = serde_json::from_str(SQS).unwrap();
    // 1: sent and acknowledged; 2: wrong queue, acknowledged; 3: not a job,
    // handed back (then the DLQ); 4: not a delivery id, so not a job either
    // (ids are parsed once, when the message is read, as a bad tenant is):
    // handed back (then the DLQ).
    assert_eq!(
        failures(handler::handle(&deps, event).await.unwrap()),
        [
            "00000000-0000-4000-8000-000000000003",
            "00000000-0000-4000-8000-000000000004"
        ]
    );
    assert_eq!(stack.sim.accepted().len(), 1);
    assert_eq!(stack.state().await, DeliveryState::Delivered);

    // The same batch again (SQS delivers at least once): nothing is sent again.
    let again: Invocation = serde_json::from_str(SQS).unwrap();
    handler::handle(&deps, again).await.unwrap();
    assert_eq!(stack.sim.received().len(), 1, "not even a second request");
}

#[tokio::test]
async fn a_refusal_waits_for_the_next_daily_schedule() {
    let stack = Stack::new().await;
    stack.sim.refuse_until(Some(day2()));
    let event: Invocation = serde_json::from_str(SQS).unwrap();
    assert_eq!(
        failures(handler::handle(&stack.deps(day1), event).await.unwrap()),
        [
            "00000000-0000-4000-8000-000000000003",
            "00000000-0000-4000-8000-000000000004"
        ],
        "a refusal is recorded and acknowledged: the daily run retries it"
    );
    assert_eq!(stack.state().await, DeliveryState::Pending);

    let scheduled: Invocation = serde_json::from_str(SCHEDULED).unwrap();
    assert!(matches!(
        handler::handle(&stack.deps(day1), scheduled).await.unwrap(),
        Response::Schedule { due: 0, queued: 0 }
    ));
    let scheduled: Invocation = serde_json::from_str(SCHEDULED).unwrap();
    assert!(matches!(
        handler::handle(&stack.deps(day2), scheduled).await.unwrap(),
        Response::Schedule { due: 1, queued: 1 }
    ));
    let jobs = testing::drain_jobs(&stack.sdk, &stack.config, QueueRole::Deliveries).await;
    assert_eq!(jobs.len(), 2, "the one queued at creation and the sweep's");

    stack.sim.set_clock(Some(day2()));
    let event: Invocation = serde_json::from_str(SQS).unwrap();
    handler::handle(&stack.deps(day2), event).await.unwrap();
    assert_eq!(stack.state().await, DeliveryState::Delivered);
    assert_eq!(stack.sim.accepted().len(), 1);
    assert_eq!(stack.sim.received().len(), 2);

    let other: Invocation = serde_json::from_str(r#"{"schedule":"nightly"}"#).unwrap();
    assert!(handler::handle(&stack.deps(day2), other).await.is_err());
}

#[tokio::test]
async fn a_busy_sms_is_tried_again_after_the_backoff_not_the_visibility_timeout() {
    let stack = Stack::new().await;
    // Drop the job queued when the delivery was created.
    testing::drain_jobs(&stack.sdk, &stack.config, QueueRole::Deliveries).await;
    stack.sim.answer_next(simulators::sms::Canned::Status(
        503,
        "down for maintenance".into(),
    ));
    let event: Invocation = serde_json::from_str(SQS).unwrap();
    assert_eq!(
        failures(handler::handle(&stack.deps(day1), event).await.unwrap()),
        [
            "00000000-0000-4000-8000-000000000003",
            "00000000-0000-4000-8000-000000000004"
        ],
        "the 503 is not handed back to SQS: the job is queued again with a delay"
    );
    assert_eq!(stack.state().await, DeliveryState::Pending);
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let url = stack.config.queues.url(QueueRole::Deliveries).unwrap();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = attributes
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        })
        .cloned();
    assert_eq!(delayed.as_deref(), Some("1"), "one delayed retry");
    assert!(
        testing::drain_jobs(&stack.sdk, &stack.config, QueueRole::Deliveries)
            .await
            .is_empty(),
        "not visible before its delay"
    );
}
