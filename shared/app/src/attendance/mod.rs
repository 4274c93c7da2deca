//! Process CourseKey attendance: raw records stored by `coursekey-webhook` become
//! P / L / A (and minutes, for attendance-log offerings), stored once, journaled,
//! and sent to the SMS as deliveries. Records that fail validation are kept with
//! their reason beside the raw record (listed by the API) and emailed to the
//! connection's error address (ids and reasons only, no names). Accepting
//! what CourseKey POSTs (verify, store each record once, enqueue) is [`accept`].

pub mod accept;
mod payload;
mod process;

pub use payload::{delivery_assessable, delivery_payload, validation_email};
pub use process::{AttendancePorts, AttendanceReport, ProcessError, RawRecord, process_attendance};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
