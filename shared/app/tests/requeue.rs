//! The retry re-queue delay of a `deliver` job.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use app::deliveries::DeliverOutcome;
use app::requeue::requeue_delay;
use chrono::{TimeDelta, Utc};
use domain::delivery::DeliveryState;
use domain::ports::MAX_DELAY_SECONDS;

#[test]
fn a_same_day_backoff_comes_back_when_it_ends_at_least_a_second_later() {
    let now = Utc::now();
    let sent = |after: TimeDelta| DeliverOutcome::Sent {
        state: DeliveryState::Pending,
        next: Some(now + after),
        same_day: true,
    };
    assert_eq!(requeue_delay(&sent(TimeDelta::seconds(90)), now), Some(90));
    assert_eq!(requeue_delay(&sent(TimeDelta::zero()), now), Some(1));
    assert_eq!(requeue_delay(&sent(TimeDelta::seconds(-5)), now), Some(1));
    let waiting = DeliverOutcome::NotDue {
        at: now + TimeDelta::seconds(300),
        same_day: true,
    };
    assert_eq!(requeue_delay(&waiting, now), Some(300));
    assert!(requeue_delay(&waiting, now).unwrap() <= MAX_DELAY_SECONDS);
}

#[test]
fn a_refusal_retried_tomorrow_or_a_finished_delivery_leaves_the_queue() {
    let now = Utc::now();
    for outcome in [
        DeliverOutcome::NotFound,
        DeliverOutcome::Busy,
        DeliverOutcome::Expired,
        DeliverOutcome::NotPending(DeliveryState::Delivered),
        DeliverOutcome::Sent {
            state: DeliveryState::Delivered,
            next: None,
            same_day: false,
        },
        // The daily retry's next day: not a same-day backoff.
        DeliverOutcome::Sent {
            state: DeliveryState::Pending,
            next: Some(now + TimeDelta::hours(12)),
            same_day: false,
        },
        DeliverOutcome::NotDue {
            at: now + TimeDelta::hours(12),
            same_day: false,
        },
    ] {
        assert_eq!(requeue_delay(&outcome, now), None, "{outcome:?}");
    }
}
