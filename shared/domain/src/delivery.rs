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

mod answer;
mod lifecycle;

pub use answer::*;
pub use lifecycle::*;

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
