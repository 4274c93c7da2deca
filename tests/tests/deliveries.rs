#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Deliveries end to end: the retry worker's real handler over a stack
//! provisioned from the SAM template on moto, the HTTPS client, and the SMS
//! simulator, with an injected clock walking days 1 to 31.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use domain::connection::{ConnectionSettings, DeliveryFormat, SmsSettings};
use domain::delivery::{DeliveryKey, DeliveryKind, DeliveryState};
use domain::ports::{ConnectionStore, DeliveryStore};
use domain::{
    AssessableId, Connection, ConnectionId, Job, LearnerCode, OfferingId, QueueRole, TenantId,
};
use retry_worker::handler::{self, Invocation, Response, ScheduledInvocation};
use secrecy::SecretString;
use simulators::sms::SmsSim;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

const SECRET: &str = "whsec_e2e_sms_secret";

/// The injected clocks (seconds since the epoch), one per test (tests run in
/// parallel), read by the worker's `now` and set with the simulator's.
static CLOCKS: [AtomicI64; 3] = [AtomicI64::new(0), AtomicI64::new(0), AtomicI64::new(0)];

fn clock<const N: usize>() -> DateTime<Utc> {
    DateTime::from_timestamp(CLOCKS[N].load(Ordering::SeqCst), 0).unwrap()
}

fn day(n: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap() + TimeDelta::days(n - 1)
}

fn key() -> DeliveryKey {
    DeliveryKey {
        tenant: TenantId::parse("acme").unwrap(),
        learner: LearnerCode::parse("1001").unwrap(),
        offering: OfferingId::parse("OPL-7").unwrap(),
        assessable: Some(AssessableId::parse("EL-1").unwrap()),
        kind: DeliveryKind::Completion,
    }
}

struct World {
    system: devstack::runner::LocalSystem,
    sdk: aws_config::SdkConfig,
    deps: retry_worker::Deps,
    clock: usize,
    sim: SmsSim,
    _server: simulators::server::RunningServer,
}

async fn world<const N: usize>(format: DeliveryFormat) -> World {
    let system = tests::local_system().await;
    let sdk = cloud::testing::sdk().await;
    let sim = SmsSim::new(SECRET);
    let server = sim.start().await.unwrap();
    let stores = system.stores();
    let connection = Connection {
        tenant: TenantId::parse("acme").unwrap(),
        id: ConnectionId::parse("coachview").unwrap(),
        name: "Coachview".into(),
        base_url: format!("{}/results", server.base_url),
        enabled: true,
        error_email: Some("ops@example.com".into()),
        settings: ConnectionSettings::Sms(SmsSettings {
            format,
            retry_days: 30,
        }),
    };
    stores
        .connections
        .save_connection(&connection)
        .await
        .unwrap();
    stores
        .secrets
        .put(
            &connection.secret_name(&system.config.secret_prefix),
            &SecretString::from(SECRET),
        )
        .await
        .unwrap();
    let deps = retry_worker::Deps {
        now: clock::<N>,
        ..retry_worker::Deps::from_aws(
            &retry_worker::Config::from_stack(&system.config).unwrap(),
            &sdk,
        )
        .unwrap()
    };
    World {
        system,
        sdk,
        deps,
        clock: N,
        sim,
        _server: server,
    }
}

impl World {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(CLOCKS[self.clock].load(Ordering::SeqCst), 0).unwrap()
    }

    fn set_day(&self, n: i64) {
        CLOCKS[self.clock].store(day(n).timestamp(), Ordering::SeqCst);
        self.sim.set_clock(Some(day(n)));
    }

    async fn create(&self, grade: &str) {
        let stores = self.system.stores();
        app::deliveries::create_delivery(
            &stores.deliveries,
            &stores.queue,
            &key(),
            &ConnectionId::parse("coachview").unwrap(),
            serde_json::json!({"grade": grade, "completed_on": self.now().date_naive().to_string(), "passed": true}),
            self.now(),
        )
        .await
        .unwrap();
    }

    /// Takes every job off the deliveries queue, as Lambda's event source mapping would.
    async fn take_jobs(&self) -> Vec<Job> {
        cloud::testing::drain_jobs(&self.sdk, &self.system.config, QueueRole::Deliveries).await
    }

    /// Runs jobs through the real handler as one SQS batch.
    async fn run(&self, jobs: &[Job]) -> usize {
        if jobs.is_empty() {
            return 0;
        }
        let records: Vec<serde_json::Value> = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                serde_json::json!({
                    "messageId": format!("m-{i}"),
                    "receiptHandle": format!("rh-{i}"),
                    "body": serde_json::to_string(job).unwrap(),
                    "attributes": {},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "awsRegion": "us-east-1"
                })
            })
            .collect();
        let event: Invocation =
            serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
        let Response::Sqs(response) = handler::handle(&self.deps, event).await.unwrap() else {
            panic!("an SQS response")
        };
        response.batch_item_failures.len()
    }

    async fn sweep(&self) -> usize {
        let event = Invocation::Schedule(ScheduledInvocation {
            schedule: "daily-retry".into(),
            scheduled_time: Some(self.now()),
        });
        match handler::handle(&self.deps, event).await.unwrap() {
            Response::Schedule { due, .. } => due,
            Response::Sqs(_) => panic!("a schedule response"),
        }
    }

    async fn stored(&self) -> domain::delivery::Delivery {
        self.system
            .stores()
            .deliveries
            .delivery(&key().tenant, &key().delivery_id())
            .await
            .unwrap()
            .unwrap()
    }
}

#[tokio::test]
async fn refused_for_four_days_then_accepted_exactly_once_walking_days_1_to_31() {
    let world = world::<0>(DeliveryFormat::CoachviewXml).await;
    // The SMS does not know the learner until day 5.
    world.sim.refuse_until(Some(day(5)));
    let started = Instant::now();
    world.set_day(1);
    world.create("8.5").await;
    let jobs = world.take_jobs().await;
    assert_eq!(world.run(&jobs).await, 0, "a refusal is acknowledged");
    for n in 2..=31 {
        world.set_day(n);
        let due = world.sweep().await;
        assert_eq!(due, usize::from(n <= 5), "day {n}");
        let jobs = world.take_jobs().await;
        assert_eq!(jobs.len(), due);
        world.run(&jobs).await;
        // A later attempt's different grade, after delivery: recorded, not sent.
        if n == 10 {
            world.create("9.5").await;
        }
    }
    let elapsed = started.elapsed();
    println!("walked days 1 to 31 in {} ms", elapsed.as_millis());

    let accepted = world.sim.accepted();
    assert_eq!(accepted.len(), 1, "exactly one accepted delivery");
    assert_eq!(accepted[0].at, day(5));
    assert!(accepted[0].body.contains("<FinalGrade>8.5</FinalGrade>"));
    assert_eq!(world.sim.received().len(), 5, "once a day, days 1 to 5");
    assert_eq!(world.sim.duplicates(), 0);
    let d = world.stored().await;
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.attempts, 5);
    let attempts = world
        .system
        .stores()
        .deliveries
        .attempts(&d.tenant, &d.id)
        .await
        .unwrap();
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [Some(404), Some(404), Some(404), Some(404), Some(200)]
    );
    let superseded = world
        .system
        .stores()
        .deliveries
        .by_state(&d.tenant, &d.connection, DeliveryState::Superseded, 10)
        .await
        .unwrap();
    assert_eq!(superseded.len(), 1);
    assert_eq!(superseded[0].payload["grade"], "9.5");
}

#[tokio::test]
async fn refused_every_day_it_expires_on_day_31_with_its_last_error() {
    let world = world::<1>(DeliveryFormat::JsonWebhook).await;
    world.sim.refuse_until(Some(day(99)));
    world.set_day(1);
    world.create("7").await;
    let jobs = world.take_jobs().await;
    world.run(&jobs).await;
    for n in 2..=31 {
        world.set_day(n);
        world.sweep().await;
        let jobs = world.take_jobs().await;
        world.run(&jobs).await;
    }
    let d = world.stored().await;
    assert_eq!(d.state, DeliveryState::Expired);
    assert_eq!(d.attempts, 30);
    assert!(
        d.last_error
            .as_deref()
            .unwrap()
            .contains("learner not recognised"),
        "{:?}",
        d.last_error
    );
    assert_eq!(world.sim.received().len(), 30);
    assert!(world.sim.accepted().is_empty());
    world.set_day(40);
    assert_eq!(world.sweep().await, 0, "an expired delivery is never due");
}

#[tokio::test]
async fn duplicate_and_concurrent_workers_send_at_most_once() {
    let world = world::<2>(DeliveryFormat::JsonWebhook).await;
    world.set_day(1);
    world.create("8").await;
    let job = world.take_jobs().await;
    assert_eq!(job.len(), 1);
    // The same job three times in one batch, and two batches at once: the
    // claim lets exactly one worker send.
    let three = [job[0].clone(), job[0].clone(), job[0].clone()];
    let (a, b) = tokio::join!(world.run(&three), world.run(&job));
    assert_eq!((a, b), (0, 0));
    assert_eq!(world.sim.received().len(), 1, "one request reached the SMS");
    assert_eq!(world.sim.accepted().len(), 1);
    // After the 2xx: a redelivered job, the next day's sweep, a resend attempt.
    world.run(&job).await;
    world.set_day(2);
    assert_eq!(world.sweep().await, 0);
    world.run(&job).await;
    assert_eq!(world.sim.received().len(), 1);
    assert_eq!(world.stored().await.state, DeliveryState::Delivered);
}
