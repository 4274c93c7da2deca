//! Read reasons: which learners a download reads further, and what a download
//! keeps to read again (retries, an offering's own progress).

use crate::ids::{LearnerCode, OfferingId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A completion counts as just happened for this long after the learner's
/// last access or grade: Moodle's completion cron marks the course complete
/// some time after the last criterion is met (minutes on a healthy site, hours
/// when cron runs rarely).
pub const COMPLETION_LAG: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// A learner who passed every mapped assessable is awaited for Moodle's course
/// completion for at most this long after their last grade: a course whose
/// completion is never configured must not be read for ever.
pub const COMPLETION_WAIT: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// Why a learner is read further in a download (completion reads), beyond the
/// one grade report every learner is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadReason {
    /// The connection's first complete download: everyone.
    FirstRun,
    /// Their reads failed in an earlier download.
    Retry,
    /// Their account was linked, or their enrolment changed, since the
    /// watermark: grades from before it were never read for them.
    New,
    /// A grade item was graded or submitted since the watermark.
    Graded,
    /// They accessed the course since the watermark (an activity completed
    /// without a grade: viewed, marked done, submitted), or, when their course
    /// completion is read, within [`COMPLETION_LAG`] before it.
    Accessed,
    /// They passed every mapped assessable and their course completion is not
    /// marked yet (within [`COMPLETION_WAIT`]).
    AwaitingCompletion,
    /// Their completion was approved and they are still enrolled in Moodle
    /// (Smartosh): read, then unenrolled.
    Unenrol,
}

/// What decides whether a learner is read further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadInputs {
    /// The watermark less its overlap; none: the first run.
    pub since: Option<DateTime<Utc>>,
    pub now: DateTime<Utc>,
    /// In the connection's retry set.
    pub retry: bool,
    /// The latest grading or submission of any of their items.
    pub last_change: Option<DateTime<Utc>>,
    /// Their last access to the course.
    pub last_access: Option<DateTime<Utc>>,
    /// Their course completion is read (completions on, enrolment active, no
    /// completion stored yet).
    pub completion_read: bool,
    /// They passed every mapped assessable (saved).
    pub passed_all: bool,
    /// An approved completion is waiting for the unenrolment.
    pub unenrol_pending: bool,
    /// Their account was linked (or found) or their enrolment changed since the watermark.
    pub new_to_us: bool,
}

/// Whether (and why) a learner is read further: in proportion to the learners
/// that changed, never to all enrolled after the first run.
pub fn read_reason(i: &ReadInputs) -> Option<ReadReason> {
    if i.unenrol_pending {
        return Some(ReadReason::Unenrol);
    }
    if i.retry {
        return Some(ReadReason::Retry);
    }
    let Some(since) = i.since else {
        return Some(ReadReason::FirstRun);
    };
    if i.new_to_us {
        return Some(ReadReason::New);
    }
    if i.last_change.is_some_and(|at| at >= since) {
        return Some(ReadReason::Graded);
    }
    if i.last_access.is_some_and(|at| at >= since) {
        return Some(ReadReason::Accessed);
    }
    if i.completion_read
        && [i.last_access, i.last_change]
            .into_iter()
            .flatten()
            .any(|at| at >= since - COMPLETION_LAG)
    {
        return Some(ReadReason::Accessed);
    }
    if i.completion_read
        && i.passed_all
        && i.last_change
            .is_some_and(|at| at >= i.now - COMPLETION_WAIT)
    {
        return Some(ReadReason::AwaitingCompletion);
    }
    None
}

/// A learner (or, with no learner, a whole offering) whose reads failed in a
/// download: read again next run whatever changed, while the watermark moves on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RetryEntry {
    pub offering: OfferingId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learner: Option<LearnerCode>,
}

/// How far a download scoped to one offering got, kept apart from the
/// connection's own watermark: running it twice reads only what changed, and
/// it never moves (or holds back) what a download of every offering keeps.
/// It counts only while it is later than the connection's watermark (a later
/// download of every offering read the offering too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferingProgress {
    pub offering: OfferingId,
    /// When the offering's last complete scoped download started.
    pub at: DateTime<Utc>,
    /// Its learners (or, with no learner, the whole offering) to read again.
    pub retries: Vec<RetryEntry>,
}
