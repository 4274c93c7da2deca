//! Deliveries: results, completions, attendance and LLN assessments going back
//! to the SMS, retried once a day for up to `retry_days` (30) days, delivered once.
//!
//! Everything here is a plain function of its inputs, with `now` passed in:
//! how an SMS answer is classified, when the next attempt is due, when a
//! delivery expires, and what a later result for the same key does (first
//! result wins).

use crate::ids::{
    AssessableId, ConnectionId, IdError, LearnerCode, OfferingId, TenantId, check_id,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A delivery's id: derived from its idempotency key, so producing the same
/// delivery twice names the same record. `dlv-` and 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeliveryId(String);

impl DeliveryId {
    pub const FIELD: &'static str = "delivery_id";

    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        check_id(Self::FIELD, &value)?;
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn derive(parts: &[&[u8]]) -> Self {
        // Two FNV-1a passes with different offsets: 128 stable bits. Not for
        // security: a collision is caught on create (the stored key differs).
        let a = fnv1a64(0xcbf2_9ce4_8422_2325, parts);
        let b = fnv1a64(0x6c62_272e_07bb_0142, parts);
        Self(format!("dlv-{a:016x}{b:016x}"))
    }
}

impl TryFrom<String> for DeliveryId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        Self::parse(value)
    }
}

impl From<DeliveryId> for String {
    fn from(id: DeliveryId) -> String {
        id.0
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fnv1a64(offset: u64, parts: &[&[u8]]) -> u64 {
    let mut hash = offset;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator that no id contains, so ("ab","c") and ("a","bc") differ.
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// What a delivery carries back to the SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// A unit/task's final result: passed or failed (grade, outcome, dates).
    /// First result wins: a later different one for the key is never sent.
    Result,
    /// A unit/task started: a message of its own, so the final result that
    /// follows it is still sent (started is not completed).
    Started,
    /// A course completion (Coachview: final grade, passed, completion date).
    Completion,
    /// An attendance record (Present / Late / Absent).
    Attendance,
    /// An LLN assessment result.
    LlnAssessment,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Result => "result",
            DeliveryKind::Started => "started",
            DeliveryKind::Completion => "completion",
            DeliveryKind::Attendance => "attendance",
            DeliveryKind::LlnAssessment => "lln_assessment",
        }
    }
}

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt (`next_attempt_at`).
    Pending,
    /// The SMS accepted it (2xx). Never sent again.
    Delivered,
    /// The SMS refused it for good (400): its message is the last error.
    Failed,
    /// Refused every day for `retry_days` days: given up, with the last error.
    Expired,
    /// The SMS refused our credentials (401/403): waits for a person to fix the
    /// connection and resend.
    Paused,
    /// A person cancelled it.
    Cancelled,
    /// A later result for a key that was already delivered: recorded, never sent.
    Superseded,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 7] = [
        DeliveryState::Pending,
        DeliveryState::Delivered,
        DeliveryState::Failed,
        DeliveryState::Expired,
        DeliveryState::Paused,
        DeliveryState::Cancelled,
        DeliveryState::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Expired => "expired",
            DeliveryState::Paused => "paused",
            DeliveryState::Cancelled => "cancelled",
            DeliveryState::Superseded => "superseded",
        }
    }

    /// Parses the wire name (`pending`, ...); the error names the field.
    pub fn parse(value: &str) -> Result<Self, UnknownState> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| UnknownState {
                found: value.chars().take(40).collect(),
            })
    }
}

/// A state name that is not one of [`DeliveryState::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "state must be one of pending, delivered, failed, expired, paused, cancelled, superseded (found {found:?})"
)]
pub struct UnknownState {
    pub found: String,
}

impl UnknownState {
    pub const FIELD: &'static str = "state";
}

/// What makes two deliveries the same: (tenant, learner, offering, assessable, kind).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    pub tenant: TenantId,
    pub learner: LearnerCode,
    pub offering: OfferingId,
    pub assessable: Option<AssessableId>,
    pub kind: DeliveryKind,
}

impl DeliveryKey {
    /// `{tenant}:{kind}:{learner}:{offering}:{assessable or -}`. Ids hold no `:`,
    /// so the key is unambiguous; it is sent as the `Idempotency-Key` header.
    pub fn idempotency_key(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.tenant,
            self.kind.as_str(),
            self.learner,
            self.offering,
            self.assessable.as_ref().map_or("-", AssessableId::as_str)
        )
    }

    /// The id of the delivery for this key.
    pub fn delivery_id(&self) -> DeliveryId {
        DeliveryId::derive(&[self.idempotency_key().as_bytes()])
    }
}

/// One message to the SMS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub tenant: TenantId,
    pub id: DeliveryId,
    /// The SMS connection it goes to.
    pub connection: ConnectionId,
    pub kind: DeliveryKind,
    pub learner: LearnerCode,
    pub offering: OfferingId,
    pub assessable: Option<AssessableId>,
    pub idempotency_key: String,
    /// The result, grade and dates, in domain terms (the connector shapes it).
    pub payload: serde_json::Value,
    pub state: DeliveryState,
    pub attempts: u32,
    /// Transient failures (429, 5xx, timeouts) since the last other answer.
    #[serde(default)]
    pub same_day_retries: u32,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    #[serde(default)]
    pub delivered_at: Option<DateTime<Utc>>,
    /// A reason a person can act on. Holds the SMS's words, never our secrets.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Optimistic concurrency: the stored version this copy was read at.
    pub version: u64,
}

impl Delivery {
    /// A new pending delivery, due now.
    pub fn new(
        key: &DeliveryKey,
        connection: ConnectionId,
        payload: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant: key.tenant.clone(),
            id: key.delivery_id(),
            connection,
            kind: key.kind,
            learner: key.learner.clone(),
            offering: key.offering.clone(),
            assessable: key.assessable.clone(),
            idempotency_key: key.idempotency_key(),
            payload,
            state: DeliveryState::Pending,
            attempts: 0,
            same_day_retries: 0,
            created_at: now,
            first_attempt_at: None,
            next_attempt_at: now,
            delivered_at: None,
            last_error: None,
            version: 0,
        }
    }

    pub fn key(&self) -> DeliveryKey {
        DeliveryKey {
            tenant: self.tenant.clone(),
            learner: self.learner.clone(),
            offering: self.offering.clone(),
            assessable: self.assessable.clone(),
            kind: self.kind,
        }
    }

    /// Whether the retry worker should send it now.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.state == DeliveryState::Pending && self.next_attempt_at <= now
    }

    /// When retrying ends: `retry_days` after the first attempt (the end of time
    /// when that is past what can be represented: never an overflow).
    pub fn window_end(&self, retry_days: u32) -> Option<DateTime<Utc>> {
        self.first_attempt_at.map(|first| {
            first
                .checked_add_signed(TimeDelta::days(i64::from(retry_days)))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        })
    }
}

/// What the SMS (or the network) answered to one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    Answered(SmsAnswer),
    /// No answer within the client's timeout.
    TimedOut,
    /// The request could not be sent or the answer not read.
    Unreachable,
}

/// An HTTP answer from the SMS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SmsAnswer {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The start of the body (at most [`BODY_EXCERPT_CHARS`] characters).
    pub body: String,
}

impl SmsAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How much of an SMS answer's body is kept (as the reason a person reads).
pub const BODY_EXCERPT_CHARS: usize = 300;

/// An excerpt of a body fit for a reason: control characters replaced, cut at
/// [`BODY_EXCERPT_CHARS`] characters.
pub fn body_excerpt(body: &str) -> String {
    body.trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(BODY_EXCERPT_CHARS)
        .collect()
}

/// The verdict on one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx.
    Delivered,
    /// 404 or "not recognised": the SMS does not know the learner or course
    /// yet. Tried again at the next daily run.
    RetryNextDay { reason: String },
    /// 429, 5xx, timeouts, unreachable: tried again the same day after `after`.
    RetrySoon { after: TimeDelta, reason: String },
    /// 400 and other refusals: failed for good, with the SMS's message.
    Failed { reason: String },
    /// 401/403 (and redirects): our credentials or URL are wrong; the
    /// connection's deliveries pause until a person fixes it.
    Misconfigured { reason: String },
}

/// Words in a refusal that mean "I do not know this learner or course (yet)".
const NOT_RECOGNISED: &[&str] = &["not recognised", "not recognized", "niet herkend"];

/// The first same-day retry waits this long; each next one twice as long.
pub const SAME_DAY_FIRST_DELAY: TimeDelta = TimeDelta::minutes(5);
/// No same-day retry waits longer than this.
pub const SAME_DAY_MAX_DELAY: TimeDelta = TimeDelta::hours(2);
/// After this many transient failures in a row, the next try is the daily one.
pub const SAME_DAY_MAX_RETRIES: u32 = 5;
/// A retry is due this long after a "not recognised" refusal: the next daily
/// run (24 hours apart, a few hours late at most) picks it up once, and a
/// delivery first tried mid-day is retried at the very next daily run.
pub const DAILY_RETRY_GAP: TimeDelta = TimeDelta::hours(12);
/// While one worker sends, the delivery is not due for this long, so no other
/// worker sends it; longer than any client timeout plus the write after it.
pub const SEND_LEASE: TimeDelta = TimeDelta::minutes(5);

/// The wait a 429 asks for: `Retry-After` (seconds or an HTTP date), else a
/// rate-limit reset header (`RateLimit-Reset`, `X-RateLimit-Reset`: seconds, or
/// a Unix time when it is that large). Capped at a day.
pub fn requested_wait(answer: &SmsAnswer, now: DateTime<Utc>) -> Option<TimeDelta> {
    let from_seconds_or_epoch = |raw: &str| -> Option<TimeDelta> {
        let n: i64 = raw.trim().parse().ok()?;
        if n > 1_000_000_000 {
            DateTime::<Utc>::from_timestamp(n, 0).map(|at| at - now)
        } else {
            Some(TimeDelta::seconds(n))
        }
    };
    let wait = answer
        .header("retry-after")
        .and_then(|raw| {
            raw.trim()
                .parse::<i64>()
                .ok()
                .map(TimeDelta::seconds)
                .or_else(|| {
                    DateTime::parse_from_rfc2822(raw.trim())
                        .ok()
                        .map(|at| at.with_timezone(&Utc) - now)
                })
        })
        .or_else(|| {
            answer
                .header("ratelimit-reset")
                .and_then(from_seconds_or_epoch)
        })
        .or_else(|| {
            answer
                .header("x-ratelimit-reset")
                .and_then(from_seconds_or_epoch)
        })?;
    Some(wait.clamp(TimeDelta::zero(), TimeDelta::days(1)))
}

/// The backoff before the `n`th (0-based) same-day retry: 5, 10, 20, 40, 80 minutes, at most 2 hours.
pub fn same_day_backoff(n: u32) -> TimeDelta {
    let factor = 2i32.saturating_pow(n.min(16));
    (SAME_DAY_FIRST_DELAY * factor).min(SAME_DAY_MAX_DELAY)
}

/// Classifies one send. `same_day_retries` is the count of transient failures
/// in a row before this one.
pub fn classify(result: &SendResult, same_day_retries: u32, now: DateTime<Utc>) -> Verdict {
    let answer = match result {
        SendResult::TimedOut => {
            return Verdict::RetrySoon {
                after: same_day_backoff(same_day_retries),
                reason: "the SMS did not answer in time".to_owned(),
            };
        }
        SendResult::Unreachable => {
            return Verdict::RetrySoon {
                after: same_day_backoff(same_day_retries),
                reason: "the SMS could not be reached".to_owned(),
            };
        }
        SendResult::Answered(answer) => answer,
    };
    let status = answer.status;
    let said = body_excerpt(&answer.body);
    let with_message = |what: String| {
        if said.is_empty() {
            what
        } else {
            format!("{what}: {said}")
        }
    };
    let lower = said.to_lowercase();
    match status {
        200..=299 => Verdict::Delivered,
        401 | 403 => Verdict::Misconfigured {
            reason: with_message(format!(
                "the SMS refused our credentials (HTTP {status}); check the connection's signing secret and URL"
            )),
        },
        429 => {
            let backoff = same_day_backoff(same_day_retries);
            let after = requested_wait(answer, now).map_or(backoff, |asked| asked.max(backoff));
            Verdict::RetrySoon {
                after,
                reason: with_message("the SMS asked us to slow down (HTTP 429)".to_owned()),
            }
        }
        404 => Verdict::RetryNextDay {
            reason: with_message(
                "the SMS does not recognise the learner or course yet (HTTP 404)".to_owned(),
            ),
        },
        400..=499 if NOT_RECOGNISED.iter().any(|w| lower.contains(w)) => Verdict::RetryNextDay {
            reason: with_message(format!(
                "the SMS does not recognise the learner or course yet (HTTP {status})"
            )),
        },
        500..=599 => Verdict::RetrySoon {
            after: same_day_backoff(same_day_retries),
            reason: with_message(format!("the SMS failed (HTTP {status})")),
        },
        300..=399 => Verdict::Misconfigured {
            reason: format!(
                "the SMS answered with a redirect (HTTP {status}); check the connection's URL"
            ),
        },
        _ => Verdict::Failed {
            reason: with_message(format!("the SMS refused the delivery (HTTP {status})")),
        },
    }
}

/// What the use case must tell the connection's error address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The connection's deliveries were paused (credentials refused).
    Paused,
    /// The delivery expired after its retry window.
    Expired,
}

/// A delivery after one attempt, and whether someone must be told.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub delivery: Delivery,
    pub notice: Option<Notice>,
}

/// Starts an attempt: counts it, notes the first attempt, and makes the
/// delivery not due for [`SEND_LEASE`] so that no other worker sends it.
/// Written with a version check before anything is sent.
pub fn claim(delivery: &Delivery, now: DateTime<Utc>) -> Delivery {
    Delivery {
        attempts: delivery.attempts.saturating_add(1),
        first_attempt_at: delivery.first_attempt_at.or(Some(now)),
        next_attempt_at: now + SEND_LEASE,
        ..delivery.clone()
    }
}

/// A pending delivery whose window has closed expires without another send.
pub fn expire_if_past_window(
    delivery: &Delivery,
    now: DateTime<Utc>,
    retry_days: u32,
) -> Option<Transition> {
    let end = delivery.window_end(retry_days)?;
    (delivery.state == DeliveryState::Pending && now >= end).then(|| Transition {
        delivery: Delivery {
            state: DeliveryState::Expired,
            last_error: Some(format!(
                "expired after {retry_days} days of retries; last error: {}",
                delivery.last_error.as_deref().unwrap_or("none recorded")
            )),
            ..delivery.clone()
        },
        notice: Some(Notice::Expired),
    })
}

/// The delivery after an attempt (`claimed`, see [`claim`]) ended with `verdict` at `now`.
///
/// Refusals are retried once a day, transient failures the same day with
/// backoff; a retry that would fall after the window (`retry_days` from the
/// first attempt) is not planned: the delivery stays pending until the window
/// closes and then expires at the next run ([`expire_if_past_window`]), so a
/// delivery never expires before its window ends.
pub fn after_attempt(claimed: &Delivery, verdict: &Verdict, now: DateTime<Utc>) -> Transition {
    let base = claimed.clone();
    match verdict {
        Verdict::Delivered => Transition {
            delivery: Delivery {
                state: DeliveryState::Delivered,
                delivered_at: Some(now),
                same_day_retries: 0,
                last_error: None,
                ..base
            },
            notice: None,
        },
        Verdict::RetryNextDay { reason } => Transition {
            delivery: Delivery {
                state: DeliveryState::Pending,
                next_attempt_at: now + DAILY_RETRY_GAP,
                same_day_retries: 0,
                last_error: Some(reason.clone()),
                ..base
            },
            notice: None,
        },
        Verdict::RetrySoon { after, reason } => {
            let retries = base.same_day_retries.saturating_add(1);
            let next = if retries > SAME_DAY_MAX_RETRIES {
                now + DAILY_RETRY_GAP.max(*after)
            } else {
                now + *after
            };
            Transition {
                delivery: Delivery {
                    state: DeliveryState::Pending,
                    next_attempt_at: next,
                    same_day_retries: if retries > SAME_DAY_MAX_RETRIES {
                        0
                    } else {
                        retries
                    },
                    last_error: Some(reason.clone()),
                    ..base
                },
                notice: None,
            }
        }
        Verdict::Failed { reason } => Transition {
            delivery: Delivery {
                state: DeliveryState::Failed,
                last_error: Some(reason.clone()),
                ..base
            },
            notice: None,
        },
        Verdict::Misconfigured { reason } => Transition {
            delivery: Delivery {
                state: DeliveryState::Paused,
                last_error: Some(reason.clone()),
                ..base
            },
            notice: Some(Notice::Paused),
        },
    }
}

/// Pauses another pending delivery of a connection whose credentials were refused.
pub fn pause(delivery: &Delivery, reason: &str) -> Option<Delivery> {
    (delivery.state == DeliveryState::Pending).then(|| Delivery {
        state: DeliveryState::Paused,
        last_error: Some(reason.to_owned()),
        ..delivery.clone()
    })
}

/// "Resend now": a paused, failed, expired or pending delivery becomes due now,
/// with a fresh retry window. Delivered, cancelled and superseded ones are not
/// sent: the error says why.
pub fn resend_now(delivery: &Delivery, now: DateTime<Utc>) -> Result<Delivery, RefusedChange> {
    match delivery.state {
        DeliveryState::Pending
        | DeliveryState::Paused
        | DeliveryState::Failed
        | DeliveryState::Expired => Ok(Delivery {
            state: DeliveryState::Pending,
            next_attempt_at: now,
            first_attempt_at: None,
            same_day_retries: 0,
            ..delivery.clone()
        }),
        state => Err(RefusedChange {
            state,
            action: "resent",
        }),
    }
}

/// "Cancel": a delivery that was not delivered stops being tried.
pub fn cancel(delivery: &Delivery) -> Result<Delivery, RefusedChange> {
    match delivery.state {
        DeliveryState::Pending
        | DeliveryState::Paused
        | DeliveryState::Failed
        | DeliveryState::Expired => Ok(Delivery {
            state: DeliveryState::Cancelled,
            ..delivery.clone()
        }),
        DeliveryState::Cancelled => Ok(delivery.clone()),
        state => Err(RefusedChange {
            state,
            action: "cancelled",
        }),
    }
}

/// A change a delivery's state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {} delivery cannot be {action}", state.as_str())]
pub struct RefusedChange {
    pub state: DeliveryState,
    pub action: &'static str,
}

/// What a new payload for an existing key does (first result wins).
#[derive(Debug, Clone, PartialEq)]
pub enum Merge {
    /// Same payload, or nothing to change: a duplicate.
    Unchanged,
    /// Not delivered yet: the stored delivery takes the new payload (and a
    /// failed or expired one is tried again, with a fresh window).
    Replace(Delivery),
    /// Already delivered: the new payload is recorded as a superseded delivery
    /// of its own (its id derives from the key and the payload), never sent.
    Supersede(Delivery),
}

/// First result wins: decides what a later payload for `existing`'s key does.
pub fn merge_payload(
    existing: &Delivery,
    payload: &serde_json::Value,
    now: DateTime<Utc>,
) -> Merge {
    if &existing.payload == payload {
        return Merge::Unchanged;
    }
    match existing.state {
        DeliveryState::Delivered => {
            let canonical = payload.to_string();
            let id = DeliveryId::derive(&[
                existing.idempotency_key.as_bytes(),
                b"superseded",
                canonical.as_bytes(),
            ]);
            Merge::Supersede(Delivery {
                id,
                payload: payload.clone(),
                state: DeliveryState::Superseded,
                attempts: 0,
                same_day_retries: 0,
                created_at: now,
                first_attempt_at: None,
                next_attempt_at: now,
                delivered_at: None,
                last_error: Some(format!(
                    "not sent: the SMS already has the first result for this key (delivery {})",
                    existing.id
                )),
                version: 0,
                ..existing.clone()
            })
        }
        DeliveryState::Pending | DeliveryState::Paused | DeliveryState::Cancelled => {
            Merge::Replace(Delivery {
                payload: payload.clone(),
                ..existing.clone()
            })
        }
        DeliveryState::Failed | DeliveryState::Expired => Merge::Replace(Delivery {
            payload: payload.clone(),
            state: DeliveryState::Pending,
            next_attempt_at: now,
            first_attempt_at: None,
            same_day_retries: 0,
            ..existing.clone()
        }),
        DeliveryState::Superseded => Merge::Unchanged,
    }
}

/// How one attempt ended, as the attempts list shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Delivered,
    RetryNextDay,
    RetrySoon,
    Failed,
    Misconfigured,
}

/// One attempt of a delivery: what was answered and what it meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub n: u32,
    pub at: DateTime<Utc>,
    /// The HTTP status, when the SMS answered.
    pub status: Option<u16>,
    pub outcome: AttemptOutcome,
    /// The reason a person reads (the SMS's words for refusals).
    pub message: Option<String>,
}

impl Attempt {
    /// The record of attempt `n` (see [`claim`]) that ended with `verdict`.
    pub fn record(n: u32, at: DateTime<Utc>, result: &SendResult, verdict: &Verdict) -> Self {
        let status = match result {
            SendResult::Answered(answer) => Some(answer.status),
            SendResult::TimedOut | SendResult::Unreachable => None,
        };
        let (outcome, message) = match verdict {
            Verdict::Delivered => (AttemptOutcome::Delivered, None),
            Verdict::RetryNextDay { reason } => (AttemptOutcome::RetryNextDay, Some(reason)),
            Verdict::RetrySoon { reason, .. } => (AttemptOutcome::RetrySoon, Some(reason)),
            Verdict::Failed { reason } => (AttemptOutcome::Failed, Some(reason)),
            Verdict::Misconfigured { reason } => (AttemptOutcome::Misconfigured, Some(reason)),
        };
        Self {
            n,
            at,
            status,
            outcome,
            message: message.cloned(),
        }
    }
}

#[cfg(test)]
mod tests;
