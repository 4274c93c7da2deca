//! A delivery's life: claimed for an attempt, moved on by its verdict, expired
//! after its window, paused, resent or cancelled by a person; and what a new
//! payload for the same key does (first result wins).

use super::*;

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
