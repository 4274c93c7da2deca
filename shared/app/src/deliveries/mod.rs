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

mod create;
mod error;
mod resend;
mod send;
mod sweep;

pub use create::{Created, create_delivery};
pub use error::DeliveryError;
pub use resend::{cancel, resend_now};
pub use send::{DeliverOutcome, SAME_DAY_WAIT, Sender};
pub use sweep::{SWEEP_LIMIT, SweepReport, daily_sweep, report_unreadable};

#[cfg(test)]
mod tests;
