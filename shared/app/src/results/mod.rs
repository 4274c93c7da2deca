//! Results fetch: Moodle grades and completions into reviewed results and
//! course completions, then deliveries to the SMS; and the mapping and review
//! a person does.
//!
//! Per linked course, one download reads:
//! - the participants in ONE call (`participants`: Moodle's
//!   `core_enrol_get_enrolled_users`), to identify learners without a stored
//!   account by idnumber or username (SM-33) and to see who used the course;
//! - every learner's grades in ONE call (`course_grades`: Moodle's
//!   `gradereport_user_get_grade_items` with `userid=0`);
//! - each mapped activity's pass grade once per run (cached across offerings);
//! - activity and course completion per learner, with at most the connection's
//!   `max_concurrency` learners in flight, and only for learners
//!   [`read_reason`](domain::results::read_reason) picks: graded, submitted or in the course since
//!   the connection's watermark, in its retry set, newly linked, awaiting
//!   Moodle's completion cron, or waiting for an approved unenrolment.
//!
//! So a re-run costs two calls per course plus a few calls per changed
//! learner, not per enrolled learner (docs/architecture.md, "Results fetch").
//! A failure reading one learner is a warning on the run for that learner; the
//! others go on, the watermark moves, and the learner (or a whole offering
//! that could not be read) is kept in the retry set and read next run.
//! A completion waits for review like a result; in the Smartosh mode the
//! learner is unenrolled only once it is approved, after their reads.

mod completions;
mod error;
mod fetch;
mod learner;
mod mapping;
mod offering;
mod removal;
mod request;
mod review;
mod service;
mod stop;

pub use error::ResultsError;
pub use fetch::{FetchCounts, WATERMARK_OVERLAP};
pub use removal::RemovalRead;
pub use request::{DEFAULT_LIST, MAX_LIST, ResultRef, list_limit, review_state};
pub use review::{PROCESS_ALL_LIMIT, Processed};
pub use service::Results;
pub use stop::STOP_POLL;

#[cfg(test)]
mod tests;
