//! Deliveries to the SMS: create one (and queue it), send one, the daily sweep,
//! and a person's "resend now" and "cancel".
//!
//! A send is guarded twice: the delivery is claimed with a version check before
//! anything goes out (a lease: not due for a few minutes), and the attempt is
//! recorded with a version check after. Two workers, or a duplicated job, send
//! at most once; after a 2xx nothing sends it again. A worker that dies between
//! the send and the record leaves a lease that runs out: the next worker sends
//! again with the same `Idempotency-Key`, which the SMS uses to drop the repeat.
//!
//! The daily sweep only queues: it reads `gsi2 DUE` and queues one `deliver`
//! job per due delivery. The sends then run on the deliveries queue, whose
//! consumer is capped at two at once (infra/template.yaml), each within its own
//! invocation's deadline, so a sweep over many tenants never runs out of time
//! and never floods an SMS. Sending from the sweep itself would tie every send
//! to one 300 s invocation.

use chrono::{DateTime, TimeDelta, Utc};
use domain::connection::ConnectionSettings;
use domain::delivery::{
    self, Attempt, Delivery, DeliveryId, DeliveryKey, DeliveryState, Merge, Notice, RefusedChange,
    SendResult, Verdict,
};
use domain::ports::{
    ConnectionStore, DeliveryStore, Email, JobQueue, Mailer, QueueError, Retryable, SecretError,
    SecretSource, SmsClient, SmsSendError, StoreError, Written,
};
use domain::{Connection, ConnectionId, Job, TenantId};

/// The most due deliveries one sweep queues; the rest wait for the next one.
pub const SWEEP_LIMIT: usize = 50_000;
/// A delivery whose next try is at most this far off is waited for through the
/// queue (the job is handed back to SQS); anything later waits for the sweep.
pub const SAME_DAY_WAIT: TimeDelta = delivery::SAME_DAY_MAX_DELAY;
/// How many pending deliveries of a connection are paused at once.
const PAUSE_BATCH: usize = 1_000;

/// Why a delivery use case failed. Only store, queue and secret outages are
/// worth retrying; the rest are answered to the person or recorded.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("the connection's secret could not be read")]
    Secret(#[source] SecretError),
    #[error(transparent)]
    Send(#[from] SmsSendError),
    #[error("delivery {id} does not exist")]
    NotFound { id: DeliveryId },
    #[error(transparent)]
    Refused(#[from] RefusedChange),
    #[error("connection {connection} is not an SMS connection")]
    NotSms { connection: ConnectionId },
    #[error("delivery {id} was changed by someone else; try again")]
    Changed { id: DeliveryId },
}

impl Retryable for DeliveryError {
    fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Store(e) => e.is_retryable(),
            DeliveryError::Queue(e) => e.is_retryable(),
            DeliveryError::Secret(e) => e.is_retryable(),
            DeliveryError::Send(e) => e.is_retryable(),
            DeliveryError::Changed { .. } => true,
            DeliveryError::NotFound { .. }
            | DeliveryError::Refused(_)
            | DeliveryError::NotSms { .. } => false,
        }
    }
}

async fn enqueue_one(queue: &dyn JobQueue, job: Job) -> Result<(), DeliveryError> {
    match queue
        .enqueue(std::slice::from_ref(&job))
        .await?
        .into_iter()
        .next()
    {
        Some(failure) => Err(failure.error.into()),
        None => Ok(()),
    }
}

fn deliver_job(d: &Delivery) -> Job {
    Job::Deliver {
        tenant: d.tenant.clone(),
        delivery: d.id.to_string(),
    }
}

/// What [`create_delivery`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new delivery, queued to be sent.
    New(DeliveryId),
    /// The same delivery was already there: nothing changed.
    Unchanged(DeliveryId),
    /// Not delivered yet: it now carries the new payload.
    Replaced(DeliveryId),
    /// Already delivered: the new payload was recorded as superseded, not sent.
    Superseded {
        delivered: DeliveryId,
        superseded: DeliveryId,
    },
}

/// Creates the delivery for `key` (idempotently) and queues it; a later,
/// different payload for the same key follows "first result wins"
/// ([`delivery::merge_payload`]).
#[tracing::instrument(skip_all, fields(tenant = %key.tenant, connection = %connection))]
pub async fn create_delivery(
    store: &dyn DeliveryStore,
    queue: &dyn JobQueue,
    key: &DeliveryKey,
    connection: &ConnectionId,
    payload: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Created, DeliveryError> {
    let new = Delivery::new(key, connection.clone(), payload, now);
    if store.create(&new).await? == Written::Done {
        enqueue_one(queue, deliver_job(&new)).await?;
        return Ok(Created::New(new.id));
    }
    let existing = store
        .delivery(&new.tenant, &new.id)
        .await?
        .ok_or_else(|| DeliveryError::Changed { id: new.id.clone() })?;
    match delivery::merge_payload(&existing, &new.payload, now) {
        Merge::Unchanged => {
            // A redelivered job may find it created but never queued: queue it again.
            if existing.is_due(now) {
                enqueue_one(queue, deliver_job(&existing)).await?;
            }
            Ok(Created::Unchanged(existing.id))
        }
        Merge::Replace(replaced) => {
            store.update(&replaced, None).await.map_err(|e| match e {
                StoreError::Conflict { .. } => DeliveryError::Changed {
                    id: replaced.id.clone(),
                },
                e => e.into(),
            })?;
            if replaced.is_due(now) {
                enqueue_one(queue, deliver_job(&replaced)).await?;
            }
            Ok(Created::Replaced(replaced.id))
        }
        Merge::Supersede(superseded) => {
            store.create(&superseded).await?;
            tracing::info!(delivered = %existing.id, superseded = %superseded.id, "a later result was recorded, not sent: the first result wins");
            Ok(Created::Superseded {
                delivered: existing.id,
                superseded: superseded.id,
            })
        }
    }
}

/// What [`Sender::deliver`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliverOutcome {
    /// No such delivery (a stale job): nothing to do.
    NotFound,
    /// Not pending (delivered, failed, paused, ...): nothing sent.
    NotPending(DeliveryState),
    /// Pending but not due until `at` (leased by another worker, or waiting).
    NotDue { at: DateTime<Utc>, same_day: bool },
    /// Another worker claimed it first: it sends, not this one.
    Busy,
    /// Its window closed: expired without another send.
    Expired,
    /// Sent; the delivery is now in `state` (pending: retried at `next`).
    Sent {
        state: DeliveryState,
        next: Option<DateTime<Utc>>,
        same_day: bool,
    },
}

impl DeliverOutcome {
    /// Whether the job should go back on the queue to try again later today.
    pub fn wait_on_queue(&self, now: DateTime<Utc>) -> bool {
        match self {
            DeliverOutcome::NotDue { at, same_day } => *same_day && *at - now <= SAME_DAY_WAIT,
            DeliverOutcome::Sent {
                next: Some(at),
                same_day: true,
                ..
            } => *at - now <= SAME_DAY_WAIT,
            _ => false,
        }
    }
}

/// The ports sending needs.
pub struct Sender<'a> {
    pub store: &'a dyn DeliveryStore,
    pub connections: &'a dyn ConnectionStore,
    pub secrets: &'a dyn SecretSource,
    pub sms: &'a dyn SmsClient,
    pub mailer: &'a dyn Mailer,
    /// `${StackName}/connections`.
    pub secret_prefix: &'a str,
}

fn retry_days(connection: &Connection) -> u32 {
    match &connection.settings {
        ConnectionSettings::Sms(s) => s.retry_days,
        _ => domain::connection::SmsSettings::default().retry_days,
    }
}

impl Sender<'_> {
    /// Sends one delivery if it is pending and due, and records the attempt.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, delivery = %id))]
    pub async fn deliver(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<DeliverOutcome, DeliveryError> {
        let Some(current) = self.store.delivery(tenant, id).await? else {
            tracing::info!("no such delivery; job ignored");
            return Ok(DeliverOutcome::NotFound);
        };
        if current.state != DeliveryState::Pending {
            return Ok(DeliverOutcome::NotPending(current.state));
        }
        let connection = self
            .connections
            .connection(tenant, &current.connection)
            .await?;
        let retry_days = connection.as_ref().map_or(30, retry_days);
        if let Some(t) = delivery::expire_if_past_window(&current, now, retry_days) {
            return match self.store.update(&t.delivery, None).await {
                Ok(()) => {
                    tracing::info!(attempts = t.delivery.attempts, "delivery expired");
                    self.notify(connection.as_ref(), &t.delivery, Notice::Expired)
                        .await;
                    Ok(DeliverOutcome::Expired)
                }
                Err(StoreError::Conflict { .. }) => Ok(DeliverOutcome::Busy),
                Err(e) => Err(e.into()),
            };
        }
        if !current.is_due(now) {
            return Ok(DeliverOutcome::NotDue {
                at: current.next_attempt_at,
                same_day: current.same_day_retries > 0,
            });
        }
        let Some(connection) =
            connection.filter(|c| matches!(c.settings, ConnectionSettings::Sms(_)))
        else {
            // Recorded where a person sees it, and acknowledged.
            let reason = format!(
                "connection {} does not exist or is not an SMS connection",
                current.connection
            );
            let failed = Delivery {
                state: DeliveryState::Failed,
                last_error: Some(reason),
                ..current.clone()
            };
            self.store.update(&failed, None).await?;
            return Ok(DeliverOutcome::NotPending(DeliveryState::Failed));
        };

        let secret = match self
            .secrets
            .secret(&connection.secret_name(self.secret_prefix))
            .await
        {
            Ok(secret) => Some(secret),
            Err(SecretError::NotFound { .. }) => None,
            Err(e) => return Err(DeliveryError::Secret(e)),
        };

        // Claim it: from here, no other worker sends it.
        let claimed = delivery::claim(&current, now);
        match self.store.update(&claimed, None).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return Ok(DeliverOutcome::Busy),
            Err(e) => return Err(e.into()),
        }
        let claimed = Delivery {
            version: claimed.version.saturating_add(1),
            ..claimed
        };

        let (result, verdict) = match secret {
            None => (
                SendResult::Unreachable,
                Verdict::Misconfigured {
                    reason: "the connection has no signing secret; set it and resend".to_owned(),
                },
            ),
            Some(secret) => match self.sms.send(&connection, &secret, &claimed, now).await {
                Ok(result) => {
                    let verdict = delivery::classify(&result, claimed.same_day_retries, now);
                    (result, verdict)
                }
                Err(SmsSendError::BadUrl(_)) => (
                    SendResult::Unreachable,
                    Verdict::Misconfigured {
                        reason: "the connection's URL is not a valid http(s) URL".to_owned(),
                    },
                ),
                Err(SmsSendError::Unencodable { reason }) => (
                    SendResult::Unreachable,
                    Verdict::Failed {
                        reason: format!("not sent: {reason}"),
                    },
                ),
                // Released by the lease running out; SQS tries the job again.
                Err(e) => return Err(e.into()),
            },
        };
        let transition = delivery::after_attempt(&claimed, &verdict, now);
        let attempt = Attempt::record(claimed.attempts, now, &result, &verdict);
        match self
            .store
            .update(&transition.delivery, Some(&attempt))
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                // Only when the lease ran out mid-send and another worker took
                // over: its record stands.
                tracing::warn!(
                    "the delivery was taken over while sending; this attempt is not recorded"
                );
                return Ok(DeliverOutcome::Busy);
            }
            Err(e) => return Err(e.into()),
        }
        let d = &transition.delivery;
        tracing::info!(
            state = d.state.as_str(),
            attempts = d.attempts,
            status = attempt.status,
            "delivery attempted"
        );
        match transition.notice {
            Some(Notice::Paused) => self.pause_connection(&connection, d).await?,
            Some(notice) => self.notify(Some(&connection), d, notice).await,
            None => {}
        }
        let same_day = matches!(verdict, Verdict::RetrySoon { .. }) && d.same_day_retries > 0;
        Ok(DeliverOutcome::Sent {
            state: d.state,
            next: (d.state == DeliveryState::Pending).then_some(d.next_attempt_at),
            same_day,
        })
    }

    /// The SMS refused our credentials: every pending delivery of the
    /// connection pauses (the sweep skips them) until a person resends them.
    /// The error address is told once, when the first one pauses.
    async fn pause_connection(
        &self,
        connection: &Connection,
        paused: &Delivery,
    ) -> Result<(), DeliveryError> {
        let before = self
            .store
            .by_state(&connection.tenant, &connection.id, DeliveryState::Paused, 2)
            .await?;
        let first_pause = before.iter().all(|d| d.id == paused.id);
        let reason = paused.last_error.clone().unwrap_or_default();
        let pending = self
            .store
            .by_state(
                &connection.tenant,
                &connection.id,
                DeliveryState::Pending,
                PAUSE_BATCH,
            )
            .await?;
        let mut count = 1usize;
        for other in &pending {
            if let Some(p) = delivery::pause(other, &reason) {
                match self.store.update(&p, None).await {
                    Ok(()) => count += 1,
                    // Being sent or changed right now: its own answer decides.
                    Err(StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        tracing::warn!(
            paused = count,
            "the SMS refused our credentials; the connection's deliveries are paused"
        );
        if first_pause {
            self.send_notice(
                connection,
                format!("learnbridge: deliveries to {} are paused", connection.id),
                format!(
                    "The SMS of connection {conn} (tenant {tenant}) refused learnbridge's credentials \
                     (HTTP 401/403 or a wrong URL), so {count} deliveries are paused and will not be \
                     retried.\n\nFix the connection's URL or signing secret, then resend the paused \
                     deliveries: GET /v1/deliveries?connection={conn}&state=paused lists them, \
                     POST /v1/deliveries/{{id}}/resend sends one now.\n\nFirst paused delivery: {id}.",
                    conn = connection.id,
                    tenant = connection.tenant,
                    id = paused.id,
                ),
            )
            .await;
        }
        Ok(())
    }

    async fn notify(&self, connection: Option<&Connection>, d: &Delivery, notice: Notice) {
        let Some(connection) = connection else {
            return;
        };
        if notice == Notice::Expired {
            self.send_notice(
                connection,
                format!("learnbridge: a delivery to {} expired", connection.id),
                format!(
                    "Delivery {id} to the SMS of connection {conn} (tenant {tenant}) was refused \
                     every day for {days} days ({attempts} attempts) and has expired.\n\nIts last \
                     error and every attempt: GET /v1/deliveries/{id}. After fixing the cause in \
                     the SMS, POST /v1/deliveries/{id}/resend sends it again.",
                    id = d.id,
                    conn = connection.id,
                    tenant = connection.tenant,
                    days = retry_days(connection),
                    attempts = d.attempts,
                ),
            )
            .await;
        }
    }

    /// Emails the connection's error address: ids, counts and where to look;
    /// never a learner's details or the SMS's words. A failure is logged:
    /// the delivery's state, which a person can see, is already recorded.
    async fn send_notice(&self, connection: &Connection, subject: String, body: String) {
        let Some(to) = connection.error_email.clone() else {
            tracing::warn!("the connection has no error address; nobody was emailed");
            return;
        };
        if let Err(error) = self.mailer.send(&Email { to, subject, body }).await {
            tracing::error!(
                error = &error as &dyn std::error::Error,
                "the notice email could not be sent"
            );
        }
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub due: usize,
    pub queued: usize,
    /// Jobs that could not be queued: still due, so the next sweep queues them.
    pub failed: usize,
    /// Due records that could not be read (left out; every other is queued).
    pub unreadable: Vec<domain::ports::UnreadableRecord>,
}

/// The daily run: queues a `deliver` job for every pending delivery, of every
/// tenant, that is due at `now` (expiry is decided when the job runs).
#[tracing::instrument(skip_all, fields(now = %now))]
pub async fn daily_sweep(
    store: &dyn DeliveryStore,
    queue: &dyn JobQueue,
    now: DateTime<Utc>,
) -> Result<SweepReport, DeliveryError> {
    // One record that cannot be read is left out, never the whole sweep.
    let (due, unreadable) = store.due_checked(now, SWEEP_LIMIT).await?;
    for record in &unreadable {
        tracing::error!(key = %record.key, reason = %record.reason, "a due delivery's stored record could not be read; the others are queued");
    }
    let jobs: Vec<Job> = due.iter().map(deliver_job).collect();
    let failures = if jobs.is_empty() {
        Vec::new()
    } else {
        queue.enqueue(&jobs).await?
    };
    let report = SweepReport {
        due: due.len(),
        queued: jobs.len() - failures.len(),
        failed: failures.len(),
        unreadable,
    };
    tracing::info!(
        due = report.due,
        queued = report.queued,
        failed = report.failed,
        "daily sweep"
    );
    Ok(report)
}

/// Tells each unreadable due delivery's connection's error address (ids and
/// the reason only), so a record the sweep had to leave out is seen. Returns
/// how many could not be told (no connection known, no address, or the
/// email failed): those are in the error log only.
pub async fn report_unreadable(
    connections: &dyn ConnectionStore,
    mailer: &dyn Mailer,
    records: &[domain::ports::UnreadableRecord],
) -> usize {
    let mut untold = 0;
    for record in records {
        let connection = match (&record.tenant, &record.connection) {
            (Some(t), Some(c)) => connections.connection(t, c).await.ok().flatten(),
            _ => None,
        };
        let Some(to) = connection.as_ref().and_then(|c| c.error_email.clone()) else {
            untold += 1;
            continue;
        };
        let subject = format!(
            "learnbridge: a delivery of connection {} could not be read",
            record
                .connection
                .as_ref()
                .map(|c| c.as_str())
                .unwrap_or("?")
        );
        let body = format!(
            "The daily retry could not read a stored delivery and left it out (every other delivery was sent).\n\nItem: {}\nWhy: {}\n\nThe record was written in a form learnbridge does not read; ask the deployment's operators to repair or remove it.",
            record.key, record.reason
        );
        if let Err(error) = mailer.send(&Email { to, subject, body }).await {
            tracing::error!(error = &error as &dyn std::error::Error, key = %record.key, "the unreadable-delivery notice could not be sent");
            untold += 1;
        }
    }
    untold
}

async fn load(
    store: &dyn DeliveryStore,
    tenant: &TenantId,
    id: &DeliveryId,
) -> Result<Delivery, DeliveryError> {
    store
        .delivery(tenant, id)
        .await?
        .ok_or_else(|| DeliveryError::NotFound { id: id.clone() })
}

fn conflict_to_changed(id: &DeliveryId) -> impl FnOnce(StoreError) -> DeliveryError + '_ {
    move |e| match e {
        StoreError::Conflict { .. } => DeliveryError::Changed { id: id.clone() },
        e => e.into(),
    }
}

/// A person's "resend now": the delivery becomes due now, with a fresh retry
/// window, and is queued. Returns it as stored.
#[tracing::instrument(skip_all, fields(tenant = %tenant, delivery = %id))]
pub async fn resend_now(
    store: &dyn DeliveryStore,
    queue: &dyn JobQueue,
    tenant: &TenantId,
    id: &DeliveryId,
    now: DateTime<Utc>,
) -> Result<Delivery, DeliveryError> {
    let current = load(store, tenant, id).await?;
    let due = delivery::resend_now(&current, now)?;
    store
        .update(&due, None)
        .await
        .map_err(conflict_to_changed(id))?;
    enqueue_one(queue, deliver_job(&due)).await?;
    Ok(Delivery {
        version: due.version.saturating_add(1),
        ..due
    })
}

/// A person's "cancel": the delivery is never tried again.
#[tracing::instrument(skip_all, fields(tenant = %tenant, delivery = %id))]
pub async fn cancel(
    store: &dyn DeliveryStore,
    tenant: &TenantId,
    id: &DeliveryId,
) -> Result<Delivery, DeliveryError> {
    let current = load(store, tenant, id).await?;
    let cancelled = delivery::cancel(&current)?;
    if cancelled == current {
        return Ok(current);
    }
    store
        .update(&cancelled, None)
        .await
        .map_err(conflict_to_changed(id))?;
    Ok(Delivery {
        version: cancelled.version.saturating_add(1),
        ..cancelled
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemConnections, MemQueue};
    use async_trait::async_trait;
    use chrono::TimeZone;
    use domain::connection::SmsSettings;
    use domain::delivery::{DeliveryKind, SmsAnswer};
    use domain::ports::{MailError, SecretError};
    use domain::{AssessableId, LearnerCode, OfferingId};
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
        async fn attempts(
            &self,
            t: &TenantId,
            id: &DeliveryId,
        ) -> Result<Vec<Attempt>, StoreError> {
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
                .filter(|(_, at)| {
                    matches!((self.answer)(*at), SendResult::Answered(a) if a.status < 300)
                })
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
        assert!(d.last_error.as_deref().unwrap().starts_with(
            "expired after 30 days of retries; last error: the SMS does not recognise"
        ));
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
}
