//! When a `deliver` job goes back on its queue: the retry re-queue delay.

use crate::deliveries::DeliverOutcome;
use chrono::{DateTime, Utc};
use domain::ports::MAX_DELAY_SECONDS;

/// The delay (seconds) to send a `deliver` job again with, when its outcome
/// says to try again later today ([`DeliverOutcome::wait_on_queue`]); `None`
/// when the job is done with. The job comes back when the backoff ends: at
/// least a second, at most SQS's [`MAX_DELAY_SECONDS`] (a job that comes back
/// early finds the delivery not due and waits again).
pub fn requeue_delay(outcome: &DeliverOutcome, now: DateTime<Utc>) -> Option<u32> {
    if !outcome.wait_on_queue(now) {
        return None;
    }
    let at = match outcome {
        DeliverOutcome::NotDue { at, .. } | DeliverOutcome::Sent { next: Some(at), .. } => *at,
        _ => now,
    };
    Some(u32::try_from((at - now).num_seconds().max(1)).unwrap_or(MAX_DELAY_SECONDS))
}
