//! The result rules: what the learning system says about a learner in each
//! mapped activity, the seed's Started / Passed / Failed buckets over it, the
//! result's grade and dates, and the course completion's date.

use crate::sis::{Assessable, EnrolmentState};
use crate::zone::TenantZone;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Moodle's activity completion state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompletionState {
    Incomplete,
    Complete,
    CompletePass,
    CompleteFail,
}

impl CompletionState {
    /// Moodle's number (0..=3); anything else is not known.
    pub fn from_moodle(value: i64) -> Option<Self> {
        match value {
            0 => Some(Self::Incomplete),
            1 => Some(Self::Complete),
            2 => Some(Self::CompletePass),
            3 => Some(Self::CompleteFail),
            _ => None,
        }
    }
}

/// One learner's activity completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityCompletion {
    pub state: CompletionState,
    /// Set whenever the state is not incomplete (complete-fail included).
    pub completed_at: Option<DateTime<Utc>>,
}

/// What the learning system says about one learner in one mapped activity.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ActivityOutcome {
    pub cmid: i64,
    pub grade: Option<f64>,
    /// The activity's maximum grade (`grademax`), to compare grades out of different maxima.
    #[serde(default)]
    pub max_grade: Option<f64>,
    /// The activity's pass grade (`gradepass`); 0 or none: no pass grade.
    pub pass_grade: Option<f64>,
    /// Hidden from the learner: not released, treated as no grade.
    pub hidden: bool,
    /// A scale grade (the scale item's number).
    pub scale: bool,
    /// Overridden in the gradebook: the grade is still the grade.
    pub overridden: bool,
    pub graded_at: Option<DateTime<Utc>>,
    pub completion: Option<ActivityCompletion>,
}

/// How one activity stands for one learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityStanding {
    Pending,
    Passed,
    Failed,
}

impl ActivityOutcome {
    /// The grade that counts: none when hidden.
    pub fn visible_grade(&self) -> Option<f64> {
        if self.hidden { None } else { self.grade }
    }

    pub fn standing(&self) -> ActivityStanding {
        let state = self.completion.map(|c| c.state);
        if state == Some(CompletionState::CompleteFail) {
            return ActivityStanding::Failed;
        }
        let pass = self.pass_grade.filter(|p| *p > 0.0);
        match (self.visible_grade(), pass) {
            (Some(grade), Some(pass)) if grade >= pass => ActivityStanding::Passed,
            (Some(_), Some(_)) => ActivityStanding::Failed,
            // A scale without a pass grade decides by completion alone.
            (Some(_), None) if self.scale => match state {
                Some(CompletionState::CompletePass) => ActivityStanding::Passed,
                _ => ActivityStanding::Pending,
            },
            (Some(_), None) => ActivityStanding::Passed,
            (None, _) if state == Some(CompletionState::CompletePass) => ActivityStanding::Passed,
            (None, _) => ActivityStanding::Pending,
        }
    }
}

/// One learner's grade in one activity, as the grade report gives it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ItemGrade {
    pub cmid: i64,
    pub grade: Option<f64>,
    /// The item's maximum grade (`grademax`).
    #[serde(default)]
    pub max_grade: Option<f64>,
    pub hidden: bool,
    pub scale: bool,
    pub overridden: bool,
    pub graded_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
}

/// One learner's grades in a course (all activities, and the course total).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LearnerGrades {
    /// The learning system's user id.
    pub user: i64,
    pub items: Vec<ItemGrade>,
    pub course_total: Option<f64>,
    /// The course total's maximum (`grademax` of the course item).
    #[serde(default)]
    pub course_max: Option<f64>,
}

impl LearnerGrades {
    /// The latest grading or submission of any item: what says "changed".
    pub fn last_change(&self) -> Option<DateTime<Utc>> {
        self.items
            .iter()
            .flat_map(|i| [i.graded_at, i.submitted_at])
            .flatten()
            .max()
    }

    /// Whether anything changed at or after `since` (none: the first run, all changed).
    pub fn changed_since(&self, since: Option<DateTime<Utc>>) -> bool {
        match since {
            None => true,
            Some(since) => self.last_change().is_some_and(|at| at >= since),
        }
    }

    /// The outcome of one mapped activity (pass grade and completion joined in).
    pub fn outcome(
        &self,
        cmid: i64,
        pass_grade: Option<f64>,
        completion: Option<ActivityCompletion>,
    ) -> ActivityOutcome {
        let item = self.items.iter().find(|i| i.cmid == cmid);
        ActivityOutcome {
            cmid,
            grade: item.and_then(|i| i.grade),
            max_grade: item.and_then(|i| i.max_grade),
            pass_grade,
            hidden: item.is_some_and(|i| i.hidden),
            scale: item.is_some_and(|i| i.scale),
            overridden: item.is_some_and(|i| i.overridden),
            graded_at: item.and_then(|i| i.graded_at),
            completion,
        }
    }
}

/// A learner's course completion as read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CourseCompletionRead {
    pub completed: bool,
    pub criteria: Vec<CriterionStatus>,
    /// Moodle does not track the learner's completion in the course (no
    /// active enrolment: not started yet, suspended, or gone; Moodle answers
    /// `usernotenroled`): there is no completion to read, nor to lose.
    #[serde(default)]
    pub untracked: bool,
}

/// The seed's three buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultType {
    Started,
    Passed,
    Failed,
}

impl ResultType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultType::Started => "started",
            ResultType::Passed => "passed",
            ResultType::Failed => "failed",
        }
    }
}

/// Where the assessable already is in the SMS for this learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorResult {
    #[default]
    None,
    Started,
    /// Passed or failed (saved): no further result.
    Completed,
}

/// The settings the rules read (from the connection's Moodle settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultRules {
    pub record_failed_results: bool,
    pub use_enrolment_start_date: bool,
    /// The tenant's zone: a result's dates are its calendar days.
    pub zone: TenantZone,
}

/// A result the rules propose, before review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposedResult {
    pub result: ResultType,
    pub start_date: Option<NaiveDate>,
    pub finish_date: Option<NaiveDate>,
    /// The mapped activities' grade, raw: see [`super::result_grade`].
    pub grade: Option<f64>,
    /// The maximum `grade` is out of.
    #[serde(default)]
    pub grade_max: Option<f64>,
}

/// One way to state a grade, for results and completions alike: the raw
/// grade and the maximum it is out of (Moodle's `graderaw` and `grademax`),
/// never a percentage. Raw and maximum lose nothing; an SMS that wants a
/// percentage divides.
///
/// A result's grade over its mapped activities is the sum of their visible
/// grades out of the sum of their maxima (Moodle's default "Natural"
/// aggregation, the way its course total is formed): one activity is stated
/// exactly as Moodle has it. Scale grades (a scale item's number) and grades
/// without a maximum are left out, rather than added to points; with none
/// left there is no grade. Sums are rounded to Moodle's 5 decimals.
pub fn result_grade(outcomes: &[ActivityOutcome]) -> (Option<f64>, Option<f64>) {
    let counted: Vec<(f64, f64)> = outcomes
        .iter()
        .filter(|o| !o.scale)
        .filter_map(|o| match (o.visible_grade(), o.max_grade) {
            (Some(grade), Some(max)) if max > 0.0 => Some((grade, max)),
            _ => None,
        })
        .collect();
    if counted.is_empty() {
        return (None, None);
    }
    let round = |v: f64| (v * 100_000.0).round() / 100_000.0;
    let grade = counted.iter().map(|(g, _)| g).sum::<f64>();
    let max = counted.iter().map(|(_, m)| m).sum::<f64>();
    (Some(round(grade)), Some(round(max)))
}

/// Why the rules propose nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoResult {
    AlreadyCompleted,
    AlreadyStarted,
    NothingYet,
}

/// The seed's rules for one learner and one mapped assessable.
///
/// `outcomes` holds one entry per mapped activity (an activity the learning
/// system said nothing about is a default, pending one).
pub fn decide(
    rules: ResultRules,
    assessable: &Assessable,
    enrolment_start: Option<NaiveDate>,
    prior: PriorResult,
    outcomes: &[ActivityOutcome],
) -> Result<ProposedResult, NoResult> {
    if prior == PriorResult::Completed {
        return Err(NoResult::AlreadyCompleted);
    }
    let standings: Vec<ActivityStanding> = outcomes.iter().map(|o| o.standing()).collect();
    let passed = standings
        .iter()
        .filter(|s| **s == ActivityStanding::Passed)
        .count();
    let failed = standings.contains(&ActivityStanding::Failed);
    let result = if failed {
        if rules.record_failed_results {
            ResultType::Failed
        } else {
            ResultType::Started
        }
    } else if !outcomes.is_empty() && passed == outcomes.len() {
        ResultType::Passed
    } else if passed > 0 {
        ResultType::Started
    } else {
        return Err(NoResult::NothingYet);
    };
    if result == ResultType::Started && prior == PriorResult::Started {
        return Err(NoResult::AlreadyStarted);
    }
    let finish_date = match result {
        ResultType::Started => None,
        ResultType::Passed | ResultType::Failed => outcomes
            .iter()
            .filter_map(|o| o.graded_at)
            .max()
            .map(|d| rules.zone.date_of(d)),
    };
    let (grade, grade_max) = result_grade(outcomes);
    Ok(ProposedResult {
        result,
        start_date: start_date(rules, assessable, enrolment_start, outcomes),
        finish_date,
        grade,
        grade_max,
    })
}

/// The result's start date: the training plan's expected start date wins; else,
/// when more than one activity is mapped, the earliest completion date among
/// them (the enrolment's start is then ignored); else the enrolment's start
/// date when the connection prefers it; else none (Moodle has no activity start).
pub fn start_date(
    rules: ResultRules,
    assessable: &Assessable,
    enrolment_start: Option<NaiveDate>,
    outcomes: &[ActivityOutcome],
) -> Option<NaiveDate> {
    if let Some(expected) = assessable.expected_start_date {
        return Some(expected);
    }
    if outcomes.len() > 1 {
        return outcomes
            .iter()
            .filter_map(|o| o.completion.and_then(|c| c.completed_at))
            .min()
            .map(|d| rules.zone.date_of(d));
    }
    if rules.use_enrolment_start_date {
        enrolment_start
    } else {
        None
    }
}

/// One criterion of a learner's course completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionStatus {
    pub complete: bool,
    pub completed_at: Option<DateTime<Utc>>,
}

/// The course completion's date, when it applies: only for an active
/// enrolment of a learner whose course is completed; the date is when the
/// latest criterion was met.
pub fn course_completion(
    enrolment: EnrolmentState,
    completed: bool,
    criteria: &[CriterionStatus],
) -> Option<DateTime<Utc>> {
    if !enrolment.is_active() || !completed {
        return None;
    }
    criteria
        .iter()
        .filter(|c| c.complete)
        .filter_map(|c| c.completed_at)
        .max()
}
