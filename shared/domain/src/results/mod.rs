//! Results from a learning system: which activities an assessable is mapped to,
//! the seed's Started / Passed / Failed rules over their grades, the result's
//! dates, course completion, and the review a person does before a result is
//! saved to the SMS.
//!
//! Pure: the grades and completion states come in as plain values (read by the
//! `results` use case through [`crate::ports::GradeSource`]), `now` is passed in.
//!
//! The edges, decided here once:
//! - **no grade**: the activity has neither passed nor failed yet.
//! - **hidden grade**: not released to the learner, so treated as no grade.
//! - **scale grades**: a scale grade is the scale item's number (1 = first item);
//!   it is compared with the pass grade like any number. A scale without a pass
//!   grade decides by the completion state (complete-pass / complete-fail) alone.
//! - **overridden grades**: the overridden grade is the grade (it is what the
//!   gradebook shows); the graded date is the override's date.
//! - **complete-fail completion state (3)**: the activity failed, whatever grade
//!   the report shows; complete-pass (2) with no grade counts as passed.
//! - an activity with no pass grade (0 or none) and a grade passes on any grade,
//!   unless its completion state says complete-fail.
//!
//! By subject: mapping (which activities, at which levels), the rules (Started /
//! Passed / Failed, grades, dates), review (ready / error / done, results
//! progress), course completions, learner identification and read reasons.
//! Every item is re-exported here (`domain::results::decide`).

mod completion;
mod identify;
mod mapping;
mod read;
mod review;
mod rules;

pub use completion::*;
pub use identify::*;
pub use mapping::*;
pub use read::*;
pub use review::*;
pub use rules::*;

#[cfg(test)]
mod tests;
