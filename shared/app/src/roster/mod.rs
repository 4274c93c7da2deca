//! Push one offering's roster to CourseKey: the course (title, dates), its
//! instructors (added, never removed), its students from the enrolments
//! (withdrawn ones flagged dropped) and its classes (schedule changes are the
//! same upsert with new times). Only offerings marked send-to-CourseKey, inside
//! the sync window, with an instructor and a class, are pushed; the outcome is
//! the offering's [`SyncStatus`](domain::attendance::SyncStatus), stored with it. A roster whose fingerprint is
//! the last successful push's makes no CourseKey call at all.
//!
//! [`dispatch_roster_updates`] is the roster tick: every minute the schedule
//! asks each enabled CourseKey connection whether `update_every_minutes` have
//! passed since its last tick, and queues one push per marked offering inside
//! its window (so a Scheduled offering is pushed once its window opens, and
//! enrolment changes reach CourseKey without anyone saving the offering).

mod push;
mod tick;

pub use push::{RosterPorts, RosterPushError, push_offering, status};
pub use tick::{RosterTickError, RosterTickReport, dispatch_roster_updates};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
