//! Review: a result waiting for a person (ready / error / done), what a new
//! proposal does to the stored one (results progress, first result wins), and
//! a person's adjustment and approval.

use super::rules::{ProposedResult, ResultType};
use crate::ids::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A result's place in the review queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Can be processed.
    Ready,
    /// Cannot be processed until a person fixes it (the reason says what).
    Error,
    /// Already saved to the SMS (a delivery exists).
    Done,
}

impl ReviewState {
    pub const ALL: [ReviewState; 3] = [ReviewState::Ready, ReviewState::Error, ReviewState::Done];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Ready => "ready",
            ReviewState::Error => "error",
            ReviewState::Done => "done",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// A result waiting for review (or already saved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResult {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub offering: OfferingId,
    pub learner: LearnerCode,
    pub assessable: AssessableId,
    pub result: ResultType,
    pub start_date: Option<NaiveDate>,
    pub finish_date: Option<NaiveDate>,
    /// The raw grade (see [`super::result_grade`]).
    pub grade: Option<f64>,
    /// The maximum `grade` is out of.
    #[serde(default)]
    pub grade_max: Option<f64>,
    pub state: ReviewState,
    /// Why it is in error, for the person who must fix it.
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// What this result was before (oldest first): a started result saved to
    /// the SMS before the final one, or proposals replaced before anyone
    /// processed them (see [`super::progress`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<PastResult>,
    /// A later attempt's different final result, read after this one was
    /// saved: shown, never sent (first result wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub later: Option<LaterAttempt>,
}

/// An earlier state of a result, kept when a newer one replaced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastResult {
    pub result: ResultType,
    pub start_date: Option<NaiveDate>,
    pub finish_date: Option<NaiveDate>,
    pub grade: Option<f64>,
    #[serde(default)]
    pub grade_max: Option<f64>,
    /// It was saved to the SMS (a started result); otherwise it was a
    /// proposal nobody processed.
    pub delivered: bool,
    /// When the newer result replaced it.
    pub replaced_at: DateTime<Utc>,
}

/// A final result read after the first final result was saved, that differs
/// from it (a retake): recorded and shown on the saved result, never sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaterAttempt {
    pub result: ResultType,
    pub finish_date: Option<NaiveDate>,
    pub grade: Option<f64>,
    #[serde(default)]
    pub grade_max: Option<f64>,
    /// When it was first read.
    pub seen_at: DateTime<Utc>,
}

/// What a new proposal does to the result stored for the same learner and
/// assessable (the seed: "Results will not show for units/tasks that have
/// already been completed. Additionally, units/tasks will not be started if
/// they are already started"; Coachview: a later attempt's new final grade is
/// not registered again).
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Nothing new to store.
    Unchanged,
    /// A result for review: the first one, or one that replaces an
    /// unprocessed proposal (a retake before anything final was saved; a
    /// failed nobody processed, replaced by the pass) or follows a started
    /// result already saved (started is not completed). The replaced one is in
    /// its history.
    Propose(StoredResult),
    /// The final result was processed but its delivery has not reached the
    /// SMS yet: nothing final was delivered, so the retake's result takes its
    /// place (still done, the old one in the history) and the waiting
    /// delivery is to carry it instead.
    Redeliver(StoredResult),
    /// The final result was delivered; a later attempt differs: recorded on
    /// the saved result (state still done), never sent.
    LaterAttempt(StoredResult),
}

fn is_final(result: ResultType) -> bool {
    matches!(result, ResultType::Passed | ResultType::Failed)
}

/// The rules' new proposal against what is stored (see [`Progress`]):
/// - nothing stored: proposed;
/// - an unprocessed proposal (ready or in error): the same result, grade and
///   finish date again changes nothing (a person's adjusted start date is
///   kept); anything else replaces it, the old one kept in the history;
/// - a started result saved: another started changes nothing; a passed or
///   failed is proposed (and delivered as its own message);
/// - a passed or failed saved: a started changes nothing; a final result with
///   the same type and grade changes nothing; a different one replaces it
///   while its delivery has not reached the SMS (`delivered` false), and is
///   otherwise recorded as the later attempt, never sent.
pub fn progress(
    stored: Option<&StoredResult>,
    key: ResultKey,
    proposed: ProposedResult,
    delivered: bool,
    now: DateTime<Utc>,
) -> Progress {
    let Some(stored) = stored else {
        return Progress::Propose(StoredResult::new(key, proposed, now));
    };
    let same = stored.result == proposed.result
        && stored.grade == proposed.grade
        && stored.grade_max == proposed.grade_max;
    match stored.state {
        ReviewState::Ready | ReviewState::Error => {
            if same && stored.finish_date == proposed.finish_date {
                return Progress::Unchanged;
            }
            Progress::Propose(stored.replaced_by(key, proposed, false, now))
        }
        ReviewState::Done if !is_final(stored.result) => {
            if is_final(proposed.result) {
                Progress::Propose(stored.replaced_by(key, proposed, true, now))
            } else {
                Progress::Unchanged
            }
        }
        ReviewState::Done => {
            if !is_final(proposed.result) || same {
                return Progress::Unchanged;
            }
            if !delivered {
                let mut next = stored.replaced_by(key, proposed, false, now);
                if next.state == ReviewState::Ready {
                    next.state = ReviewState::Done;
                    return Progress::Redeliver(next);
                }
                // The retake's result cannot be saved as it is (e.g. no
                // finish date): a person reviews it; the waiting delivery
                // still carries the processed one.
                return Progress::Propose(next);
            }
            let later = LaterAttempt {
                result: proposed.result,
                finish_date: proposed.finish_date,
                grade: proposed.grade,
                grade_max: proposed.grade_max,
                seen_at: now,
            };
            if let Some(seen) = &stored.later
                && seen.result == later.result
                && seen.grade == later.grade
                && seen.grade_max == later.grade_max
            {
                return Progress::Unchanged;
            }
            let mut recorded = stored.clone();
            recorded.later = Some(later);
            recorded.updated_at = now;
            Progress::LaterAttempt(recorded)
        }
    }
}

/// What a result needs before it can be saved; `None` when nothing is missing.
pub fn problem(
    result: ResultType,
    start: Option<NaiveDate>,
    finish: Option<NaiveDate>,
) -> Option<String> {
    if start.is_none() {
        return Some(
            "the result has no start date: set one, or turn on \"use the enrolment's start date\""
                .into(),
        );
    }
    match (result, start, finish) {
        (ResultType::Passed | ResultType::Failed, _, None) => {
            Some("a passed or failed result needs a finish date".into())
        }
        (_, Some(s), Some(f)) if f < s => {
            Some(format!("the finish date {f} is before the start date {s}"))
        }
        _ => None,
    }
}

impl StoredResult {
    /// A new result from the rules: ready, or error with the reason.
    pub fn new(key: ResultKey, proposed: ProposedResult, now: DateTime<Utc>) -> Self {
        let error = problem(proposed.result, proposed.start_date, proposed.finish_date);
        Self {
            tenant: key.tenant,
            connection: key.connection,
            offering: key.offering,
            learner: key.learner,
            assessable: key.assessable,
            result: proposed.result,
            start_date: proposed.start_date,
            finish_date: proposed.finish_date,
            grade: proposed.grade,
            grade_max: proposed.grade_max,
            state: if error.is_some() {
                ReviewState::Error
            } else {
                ReviewState::Ready
            },
            error,
            updated_at: now,
            history: Vec::new(),
            later: None,
        }
    }

    /// A new proposal in this one's place, this one kept in its history.
    fn replaced_by(
        &self,
        key: ResultKey,
        proposed: ProposedResult,
        delivered: bool,
        now: DateTime<Utc>,
    ) -> Self {
        let mut next = Self::new(key, proposed, now);
        next.history = self.history.clone();
        next.history.push(PastResult {
            result: self.result,
            start_date: self.start_date,
            finish_date: self.finish_date,
            grade: self.grade,
            grade_max: self.grade_max,
            delivered,
            replaced_at: now,
        });
        next
    }

    /// A person's change to the type and dates; the state is checked again.
    pub fn adjust(&mut self, change: &Adjustment, now: DateTime<Utc>) -> Result<(), ReviewError> {
        if self.state == ReviewState::Done {
            return Err(ReviewError::AlreadySaved);
        }
        if let Some(result) = change.result {
            self.result = result;
        }
        if let Some(start) = change.start_date {
            self.start_date = Some(start);
        }
        if let Some(finish) = change.finish_date {
            self.finish_date = Some(finish);
        }
        if self.result == ResultType::Started {
            self.finish_date = None;
        }
        self.error = problem(self.result, self.start_date, self.finish_date);
        self.state = if self.error.is_some() {
            ReviewState::Error
        } else {
            ReviewState::Ready
        };
        self.updated_at = now;
        Ok(())
    }

    /// Processing: a ready result becomes done (its delivery is created by the caller).
    pub fn approve(&mut self, now: DateTime<Utc>) -> Result<(), ReviewError> {
        match self.state {
            ReviewState::Ready => {
                self.state = ReviewState::Done;
                self.updated_at = now;
                Ok(())
            }
            ReviewState::Done => Err(ReviewError::AlreadySaved),
            ReviewState::Error => Err(ReviewError::NotReady {
                reason: self.error.clone().unwrap_or_default(),
            }),
        }
    }

    /// What goes to the SMS.
    pub fn payload(&self) -> serde_json::Value {
        serde_json::json!({
            "learner": self.learner,
            "offering": self.offering,
            "assessable": self.assessable,
            "result": self.result.as_str(),
            "start_date": self.start_date,
            "finish_date": self.finish_date,
            "grade": self.grade,
            "grade_max": self.grade_max,
        })
    }
}

/// Who and what a result is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultKey {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub offering: OfferingId,
    pub learner: LearnerCode,
    pub assessable: AssessableId,
}

/// What a person may change on a result before it is saved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    pub result: Option<ResultType>,
    pub start_date: Option<NaiveDate>,
    pub finish_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("the result was already saved to the SMS")]
    AlreadySaved,
    #[error("the result is not ready: {reason}")]
    NotReady { reason: String },
}
