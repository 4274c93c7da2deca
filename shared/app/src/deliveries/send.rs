//! Sending one delivery: claimed, sent, its attempt recorded; a refusal
//! retried, expired or pausing its connection, and told to a person.

use super::error::DeliveryError;
use chrono::{DateTime, TimeDelta, Utc};
use domain::connection::ConnectionSettings;
use domain::delivery::{
    self, Attempt, Delivery, DeliveryId, DeliveryState, Notice, SendResult, Verdict,
};
use domain::ports::{
    ConnectionStore, DeliveryStore, Email, Mailer, SecretError, SecretSource, SmsClient,
    SmsSendError, StoreError,
};
use domain::{Connection, TenantId};

/// A delivery whose next try is at most this far off is waited for through the
/// queue (the job is handed back to SQS); anything later waits for the sweep.
pub const SAME_DAY_WAIT: TimeDelta = delivery::SAME_DAY_MAX_DELAY;
/// How many pending deliveries of a connection are paused at once.
const PAUSE_BATCH: usize = 1_000;

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
