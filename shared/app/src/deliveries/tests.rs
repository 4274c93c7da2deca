use super::*;
use crate::testing::{MemConnections, MemQueue};
use async_trait::async_trait;
use chrono::TimeZone;
use chrono::{DateTime, TimeDelta, Utc};
use domain::connection::ConnectionSettings;
use domain::connection::SmsSettings;
use domain::delivery::{Attempt, Delivery, DeliveryId, DeliveryKey, DeliveryState, SendResult};
use domain::delivery::{DeliveryKind, SmsAnswer};
use domain::ports::MailError;
use domain::ports::{
    DeliveryStore, Email, Mailer, SecretError, SecretSource, SmsClient, SmsSendError, StoreError,
    Written,
};
use domain::{AssessableId, LearnerCode, OfferingId};
use domain::{Connection, ConnectionId, Job, TenantId};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Deliveries in memory, with the store's version checks.
#[derive(Default)]
struct MemDeliveries {
    items: Mutex<BTreeMap<(TenantId, DeliveryId), Delivery>>,
    attempts: Mutex<BTreeMap<(TenantId, DeliveryId), Vec<Attempt>>>,
}

#[async_trait]
impl DeliveryStore for MemDeliveries {
    async fn create(&self, d: &Delivery) -> Result<Written, StoreError> {
        let mut items = self.items.lock().unwrap();
        let key = (d.tenant.clone(), d.id.clone());
        if items.contains_key(&key) {
            return Ok(Written::AlreadyDone);
        }
        items.insert(key, d.clone());
        Ok(Written::Done)
    }
    async fn delivery(
        &self,
        t: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        Ok(self
            .items
            .lock()
            .unwrap()
            .get(&(t.clone(), id.clone()))
            .cloned())
    }
    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let mut due: Vec<Delivery> = self
            .items
            .lock()
            .unwrap()
            .values()
            .filter(|d| d.is_due(now))
            .cloned()
            .collect();
        due.sort_by_key(|d| d.next_attempt_at);
        due.truncate(limit);
        Ok(due)
    }
    async fn by_state(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        state: DeliveryState,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        Ok(self
            .items
            .lock()
            .unwrap()
            .values()
            .filter(|d| &d.tenant == t && &d.connection == c && d.state == state)
            .take(limit)
            .cloned()
            .collect())
    }
    async fn attempts(&self, t: &TenantId, id: &DeliveryId) -> Result<Vec<Attempt>, StoreError> {
        Ok(self
            .attempts
            .lock()
            .unwrap()
            .get(&(t.clone(), id.clone()))
            .cloned()
            .unwrap_or_default())
    }
    async fn update(&self, d: &Delivery, attempt: Option<&Attempt>) -> Result<(), StoreError> {
        let mut items = self.items.lock().unwrap();
        let key = (d.tenant.clone(), d.id.clone());
        let conflict = || StoreError::Conflict {
            what: d.id.to_string(),
        };
        if items.get(&key).map(|s| s.version) != Some(d.version) {
            return Err(conflict());
        }
        let mut attempts = self.attempts.lock().unwrap();
        let list = attempts.entry(key.clone()).or_default();
        if let Some(a) = attempt {
            if list.iter().any(|x| x.n == a.n) {
                return Err(conflict());
            }
            list.push(a.clone());
        }
        items.insert(
            key,
            Delivery {
                version: d.version + 1,
                ..d.clone()
            },
        );
        Ok(())
    }
}

/// An SMS that answers with `answer(now)` and counts the sends.
struct FakeSms {
    answer: Box<dyn Fn(DateTime<Utc>) -> SendResult + Send + Sync>,
    sent: Mutex<Vec<(DeliveryId, DateTime<Utc>)>>,
    slow: bool,
}

impl FakeSms {
    fn new(answer: impl Fn(DateTime<Utc>) -> SendResult + Send + Sync + 'static) -> Self {
        Self {
            answer: Box::new(answer),
            sent: Mutex::new(Vec::new()),
            slow: false,
        }
    }
    fn accepted(&self) -> usize {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(
                |(_, at)| matches!((self.answer)(*at), SendResult::Answered(a) if a.status < 300),
            )
            .count()
    }
}

#[async_trait]
impl SmsClient for FakeSms {
    async fn send(
        &self,
        _c: &Connection,
        _s: &secrecy::SecretString,
        d: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<SendResult, SmsSendError> {
        if self.slow {
            tokio::task::yield_now().await;
        }
        self.sent.lock().unwrap().push((d.id.clone(), now));
        Ok((self.answer)(now))
    }
}

fn status(code: u16, body: &str) -> SendResult {
    SendResult::Answered(SmsAnswer {
        status: code,
        headers: vec![],
        body: body.to_owned(),
    })
}

#[derive(Default)]
struct MemMailer(Mutex<Vec<Email>>);

#[async_trait]
impl Mailer for MemMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.0.lock().unwrap().push(email.clone());
        Ok(())
    }
}

struct OneSecret;

#[async_trait]
impl SecretSource for OneSecret {
    async fn secret(&self, name: &str) -> Result<secrecy::SecretString, SecretError> {
        if name == "stack/connections/acme/sms" {
            Ok(secrecy::SecretString::from("whsec"))
        } else {
            Err(SecretError::NotFound {
                name: name.to_owned(),
            })
        }
    }
}

fn day(n: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap() + TimeDelta::days(i64::from(n) - 1)
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn sms_id() -> ConnectionId {
    ConnectionId::parse("sms").unwrap()
}

fn key(learner: &str) -> DeliveryKey {
    DeliveryKey {
        tenant: tenant(),
        learner: LearnerCode::parse(learner).unwrap(),
        offering: OfferingId::parse("OPL-7").unwrap(),
        assessable: Some(AssessableId::parse("EL-1").unwrap()),
        kind: DeliveryKind::Completion,
    }
}

struct World {
    store: MemDeliveries,
    connections: MemConnections,
    queue: MemQueue,
    sms: FakeSms,
    mailer: MemMailer,
}

impl World {
    fn new(sms: FakeSms) -> Self {
        let connections = MemConnections::default();
        connections.0.lock().unwrap().push(Connection {
            tenant: tenant(),
            id: sms_id(),
            name: "Coachview".into(),
            base_url: "http://127.0.0.1:9/results".into(),
            enabled: true,
            error_email: Some("ops@example.com".into()),
            settings: ConnectionSettings::Sms(SmsSettings::default()),
        });
        Self {
            store: MemDeliveries::default(),
            connections,
            queue: MemQueue::default(),
            sms,
            mailer: MemMailer::default(),
        }
    }

    fn sender(&self) -> Sender<'_> {
        Sender {
            store: &self.store,
            connections: &self.connections,
            secrets: &OneSecret,
            sms: &self.sms,
            mailer: &self.mailer,
            secret_prefix: "stack/connections",
        }
    }

    async fn create(&self, learner: &str, grade: &str, now: DateTime<Utc>) -> Created {
        create_delivery(
            &self.store,
            &self.queue,
            &key(learner),
            &sms_id(),
            json!({"grade": grade, "passed": true}),
            now,
        )
        .await
        .unwrap()
    }

    /// Runs every queued job, as the deliveries queue's consumer would.
    async fn drain(&self, now: DateTime<Utc>) -> Vec<DeliverOutcome> {
        let jobs = std::mem::take(&mut *self.queue.sent.lock().unwrap());
        let mut outcomes = Vec::new();
        for job in jobs {
            let Job::Deliver { tenant, delivery } = job else {
                panic!("only deliver jobs")
            };
            let id = DeliveryId::parse(delivery).unwrap();
            outcomes.push(self.sender().deliver(&tenant, &id, now).await.unwrap());
        }
        outcomes
    }

    async fn only(&self) -> Delivery {
        let items = self.store.items.lock().unwrap();
        assert_eq!(items.len(), 1);
        items.values().next().unwrap().clone()
    }
}

#[tokio::test]
async fn days_1_to_31_refused_until_day_5_then_delivered_exactly_once() {
    let world = World::new(FakeSms::new(|now| {
        if now < day(5) {
            status(404, "learner not recognised")
        } else {
            status(200, "ok")
        }
    }));
    world.create("1001", "8", day(1)).await;
    world.drain(day(1)).await;
    for n in 2..=31 {
        let report = daily_sweep(&world.store, &world.queue, day(n))
            .await
            .unwrap();
        assert_eq!(report.due, usize::from((2..6).contains(&n)), "day {n}");
        world.drain(day(n)).await;
    }
    let d = world.only().await;
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.attempts, 5, "days 1 to 5, once a day");
    assert_eq!(d.delivered_at, Some(day(5)));
    assert_eq!(world.sms.sent.lock().unwrap().len(), 5);
    assert_eq!(world.sms.accepted(), 1);
    let attempts = world.store.attempts(&d.tenant, &d.id).await.unwrap();
    assert_eq!(attempts.len(), 5);
    assert_eq!(attempts[0].status, Some(404));
    assert_eq!(
        attempts[4].outcome,
        domain::delivery::AttemptOutcome::Delivered
    );
    assert!(world.mailer.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn refused_every_day_it_expires_after_30_days_and_tells_the_error_address_once() {
    let world = World::new(FakeSms::new(|_| status(404, "Jan Jansen not recognised")));
    world.create("1001", "8", day(1)).await;
    world.drain(day(1)).await;
    for n in 2..=31 {
        daily_sweep(&world.store, &world.queue, day(n))
            .await
            .unwrap();
        let outcomes = world.drain(day(n)).await;
        if n == 31 {
            assert_eq!(outcomes, vec![DeliverOutcome::Expired]);
        }
        assert_eq!(
            world.only().await.state,
            if n < 31 {
                DeliveryState::Pending
            } else {
                DeliveryState::Expired
            },
            "day {n}"
        );
    }
    let d = world.only().await;
    assert_eq!(d.attempts, 30, "once a day, days 1 to 30");
    assert!(
        d.last_error.as_deref().unwrap().starts_with(
            "expired after 30 days of retries; last error: the SMS does not recognise"
        )
    );
    let mails = world.mailer.0.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, "ops@example.com");
    assert!(mails[0].body.contains(d.id.as_str()));
    assert!(mails[0].body.contains("30 attempts"));
    for personal in ["1001", "Jansen"] {
        assert!(!mails[0].body.contains(personal), "no personal details");
        assert!(!mails[0].subject.contains(personal));
    }
    // Nothing is due any more.
    assert_eq!(
        daily_sweep(&world.store, &world.queue, day(60))
            .await
            .unwrap()
            .due,
        0
    );
}

#[tokio::test]
async fn credentials_refused_pause_the_connection_and_tell_once() {
    let world = World::new(FakeSms::new(|_| status(401, "bad signature")));
    world.create("1001", "8", day(1)).await;
    world.create("1002", "6", day(1)).await;
    world.create("1003", "7", day(1)).await;
    world.drain(day(1)).await;
    let states: Vec<DeliveryState> = world
        .store
        .items
        .lock()
        .unwrap()
        .values()
        .map(|d| d.state)
        .collect();
    assert_eq!(states, vec![DeliveryState::Paused; 3]);
    assert_eq!(
        world.sms.sent.lock().unwrap().len(),
        1,
        "the first refusal pauses the others before they are sent"
    );
    let mails = world.mailer.0.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].body.contains("3 deliveries are paused"),
        "{}",
        mails[0].body
    );
    assert_eq!(
        daily_sweep(&world.store, &world.queue, day(2))
            .await
            .unwrap()
            .due,
        0
    );

    // A person fixes the secret and resends one.
    let id = key("1002").delivery_id();
    let resent = resend_now(&world.store, &world.queue, &tenant(), &id, day(2))
        .await
        .unwrap();
    assert_eq!(resent.state, DeliveryState::Pending);
    assert_eq!(world.queue.sent.lock().unwrap().len(), 1);
    let cancelled = cancel(&world.store, &tenant(), &id).await.unwrap();
    assert_eq!(cancelled.state, DeliveryState::Cancelled);
    assert!(matches!(
        world.drain(day(2)).await.as_slice(),
        [DeliverOutcome::NotPending(DeliveryState::Cancelled)]
    ));
    assert!(matches!(
        resend_now(&world.store, &world.queue, &tenant(), &id, day(2)).await,
        Err(DeliveryError::Refused(_))
    ));
}

#[tokio::test]
async fn a_400_fails_for_good_with_the_sms_message() {
    let world = World::new(FakeSms::new(|_| status(400, "grade must be a number")));
    world.create("1001", "x", day(1)).await;
    world.drain(day(1)).await;
    let d = world.only().await;
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(
        d.last_error.as_deref(),
        Some("the SMS refused the delivery (HTTP 400): grade must be a number")
    );
    assert_eq!(
        daily_sweep(&world.store, &world.queue, day(2))
            .await
            .unwrap()
            .due,
        0
    );
}

#[tokio::test]
async fn transient_failures_wait_on_the_queue_the_same_day() {
    let world = World::new(FakeSms::new(|now| {
        if now < day(1) + TimeDelta::minutes(10) {
            status(503, "")
        } else {
            status(200, "")
        }
    }));
    world.create("1001", "8", day(1)).await;
    let outcomes = world.drain(day(1)).await;
    let [outcome] = outcomes.as_slice() else {
        panic!()
    };
    assert!(outcome.wait_on_queue(day(1)), "{outcome:?}");
    // SQS hands the job back: too early, it waits again; later it is sent.
    let id = key("1001").delivery_id();
    let early = world
        .sender()
        .deliver(&tenant(), &id, day(1) + TimeDelta::minutes(2))
        .await
        .unwrap();
    assert!(
        early.wait_on_queue(day(1) + TimeDelta::minutes(2)),
        "{early:?}"
    );
    let later = world
        .sender()
        .deliver(&tenant(), &id, day(1) + TimeDelta::minutes(30))
        .await
        .unwrap();
    assert!(matches!(
        later,
        DeliverOutcome::Sent {
            state: DeliveryState::Delivered,
            ..
        }
    ));
    assert!(!later.wait_on_queue(day(1)));
}

#[tokio::test]
async fn duplicate_and_concurrent_jobs_send_at_most_once() {
    let mut sms = FakeSms::new(|_| status(200, ""));
    sms.slow = true;
    let world = World::new(sms);
    world.create("1001", "8", day(1)).await;
    let id = key("1001").delivery_id();
    let t = tenant();
    let sender = world.sender();
    let (a, b, c) = tokio::join!(
        sender.deliver(&t, &id, day(1)),
        sender.deliver(&t, &id, day(1)),
        sender.deliver(&t, &id, day(1)),
    );
    let outcomes = [a.unwrap(), b.unwrap(), c.unwrap()];
    assert_eq!(world.sms.sent.lock().unwrap().len(), 1, "{outcomes:?}");
    // The queued job and a later duplicate find it delivered.
    for outcome in world.drain(day(1)).await {
        assert_eq!(
            outcome,
            DeliverOutcome::NotPending(DeliveryState::Delivered)
        );
    }
    let again = sender.deliver(&t, &id, day(9)).await.unwrap();
    assert_eq!(again, DeliverOutcome::NotPending(DeliveryState::Delivered));
    assert_eq!(world.sms.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn first_result_wins_a_later_grade_is_recorded_not_sent() {
    let world = World::new(FakeSms::new(|_| status(200, "")));
    assert!(matches!(
        world.create("1001", "8", day(1)).await,
        Created::New(_)
    ));
    assert!(
        matches!(
            world.create("1001", "9", day(1)).await,
            Created::Replaced(_)
        ),
        "before it was sent, the later grade replaces the waiting one"
    );
    world.drain(day(1)).await;
    assert_eq!(world.sms.sent.lock().unwrap().len(), 1);
    let Created::Superseded {
        delivered,
        superseded,
    } = world.create("1001", "10", day(3)).await
    else {
        panic!("superseded")
    };
    assert!(world.queue.sent.lock().unwrap().is_empty(), "not queued");
    let first = world
        .store
        .delivery(&tenant(), &delivered)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.payload["grade"], "9");
    let later = world
        .store
        .delivery(&tenant(), &superseded)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(later.state, DeliveryState::Superseded);
    assert_eq!(later.payload["grade"], "10", "visible, never sent");
    assert_eq!(
        world.create("1001", "10", day(4)).await,
        Created::Superseded {
            delivered,
            superseded
        },
        "the same later grade again is the same record"
    );
    assert_eq!(world.sms.sent.lock().unwrap().len(), 1);
}
