//! Enrolment push: the transfer preview of an offering, pushing its ready
//! enrolments to the linked Moodle course, and the nightly export of a connection.
//!
//! Batched: the look-ups, creates and enrolments of a push go to Moodle in
//! chunks of the connection's batch size (100), one call per chunk per field.
//! Idempotent: every effect is recorded (the learner's Moodle account, the
//! enrolment's transfer) as it happens, and a push plans from what is recorded,
//! so a duplicate message or a re-run creates no second user and no second
//! enrolment, and writes no second log line.
//!
//! One file per stage: `load` (an offering's records), `look_up` (who is in
//! Moodle already), `preview`, `offering` (one offering's push), `chunk` (what a
//! batch shares) and `batch` (one batch, from its look-ups to its emails) with
//! its steps `create`, `link` and `enrol`, `accounts`, `emails`, `call` (the
//! nightly call of transferred enrolments), `participants` (exclusive-tenant
//! alerts), `job` (the `push_offering` job), `export` (the `sync_connection`
//! job's export), `service` (`Push` and what its use cases share), `error`.

mod accounts;
mod batch;
mod call;
mod chunk;
mod create;
mod emails;
mod enrol;
mod error;
mod export;
mod job;
mod link;
mod load;
mod look_up;
mod offering;
mod participants;
mod preview;
mod service;

pub use crate::errors::error_text;
pub use error::PushError;
pub use preview::{PreviewMailer, PreviewRow};
pub(crate) use service::moodle_connection;
pub use service::{ConnectionFailure, Push, PushReport, Synced};

#[cfg(test)]
mod tests;
