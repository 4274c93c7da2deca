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

use crate::ids::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use crate::sis::{Assessable, EnrolmentState};
use crate::zone::TenantZone;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The Moodle activity types a unit or task can be mapped to (the seed's list).
pub const MAPPABLE_MODULES: [&str; 8] = [
    "assign",
    "attendance",
    "checklist",
    "h5pactivity",
    "lesson",
    "lti",
    "quiz",
    "scorm",
];

/// Whether an activity of this type (Moodle's `modname`) can be mapped.
pub fn is_mappable(modname: &str) -> bool {
    MAPPABLE_MODULES.contains(&modname)
}

/// Why a mapping was refused. Each names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error(
        "activity {cmid} is a {modname}, which cannot be mapped; only assign, attendance, checklist, h5pactivity, lesson, lti, quiz and scorm activities can"
    )]
    UnmappableType { cmid: i64, modname: String },
    #[error("activity {cmid} is not in the linked course")]
    UnknownActivity { cmid: i64 },
    #[error("assessable {assessable} is not part of the offering")]
    UnknownAssessable { assessable: AssessableId },
    #[error("an assessable must be mapped to at least one activity")]
    NoActivities,
    #[error("activity {cmid} is listed twice")]
    Duplicate { cmid: i64 },
    #[error(
        "assessable {assessable} is a {kind}, a level this connection does not map or result (result_levels)"
    )]
    LevelNotAllowed {
        assessable: AssessableId,
        kind: &'static str,
    },
}

/// One activity (course module) of a linked course, as the mapping screen lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseActivity {
    /// The course module id.
    pub cmid: i64,
    pub modname: String,
    pub name: String,
    pub mappable: bool,
}

impl CourseActivity {
    pub fn new(cmid: i64, modname: impl Into<String>, name: impl Into<String>) -> Self {
        let modname = modname.into();
        Self {
            cmid,
            mappable: is_mappable(&modname),
            modname,
            name: name.into(),
        }
    }
}

/// A mapped activity: its course module id and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedActivity {
    pub cmid: i64,
    pub modname: String,
}

/// An assessable of an offering mapped to one or more activities of the linked course.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    pub tenant: TenantId,
    pub offering: OfferingId,
    pub connection: ConnectionId,
    pub assessable: AssessableId,
    pub activities: Vec<MappedActivity>,
    pub updated_at: DateTime<Utc>,
}

/// Checks a requested mapping against the course's activities: every cmid must
/// be in the course, once, and of a mappable type.
pub fn check_mapping(
    course: &[CourseActivity],
    cmids: &[i64],
) -> Result<Vec<MappedActivity>, MappingError> {
    if cmids.is_empty() {
        return Err(MappingError::NoActivities);
    }
    let mut out: Vec<MappedActivity> = Vec::with_capacity(cmids.len());
    for &cmid in cmids {
        if out.iter().any(|a| a.cmid == cmid) {
            return Err(MappingError::Duplicate { cmid });
        }
        let activity = course
            .iter()
            .find(|a| a.cmid == cmid)
            .ok_or(MappingError::UnknownActivity { cmid })?;
        if !is_mappable(&activity.modname) {
            return Err(MappingError::UnmappableType {
                cmid,
                modname: activity.modname.clone(),
            });
        }
        out.push(MappedActivity {
            cmid,
            modname: activity.modname.clone(),
        });
    }
    Ok(out)
}

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
    /// The mapped activities' grade, raw: see [`result_grade`].
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
    /// The raw grade (see [`result_grade`]).
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
    /// processed them (see [`progress`]).
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

/// A course completion (Coachview's final grade; Smartosh's attendance and
/// evaluation) as it goes to the SMS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionRecord {
    pub learner: LearnerCode,
    pub offering: OfferingId,
    pub completed_at: DateTime<Utc>,
    /// The completion's day in the tenant's time zone (what an SMS shows as
    /// the completion date: Coachview's `CompletionDate`).
    pub completed_on: NaiveDate,
    /// The course total grade, raw (stated like a result's: [`result_grade`]).
    pub grade: Option<f64>,
    /// The maximum `grade` is out of (the course total's `grademax`).
    #[serde(default)]
    pub grade_max: Option<f64>,
    /// Smartosh: the attendance date (the completion's date).
    pub attendance_date: Option<NaiveDate>,
    /// Smartosh: the learner is marked attended (SM-34).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attended: bool,
    /// Smartosh, when the training must be evaluated.
    pub evaluation_date: Option<NaiveDate>,
    pub evaluation_grade: Option<f64>,
    /// The Moodle course's id: the e-learning course id Coachview's course
    /// part holds (CV-09).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_id: Option<i64>,
    /// The Moodle user's idnumber: the person number Coachview matches to its
    /// persoonsid or externid (CV-08).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl CompletionRecord {
    /// The record for a completion; `smartosh` adds the attendance date, and the
    /// evaluation when `must_be_evaluated`: the completion's day in `zone`.
    pub fn new(
        learner: LearnerCode,
        offering: OfferingId,
        completed_at: DateTime<Utc>,
        grade: Option<f64>,
        smartosh: bool,
        must_be_evaluated: bool,
        zone: TenantZone,
    ) -> Self {
        let date = zone.date_of(completed_at);
        let evaluated = smartosh && must_be_evaluated;
        Self {
            learner,
            offering,
            completed_at,
            completed_on: date,
            grade,
            grade_max: None,
            attendance_date: smartosh.then_some(date),
            attended: smartosh,
            evaluation_date: evaluated.then_some(date),
            evaluation_grade: if evaluated { grade } else { None },
            course_id: None,
            external_id: None,
        }
    }
}

/// A participant of a Moodle course, as the import identifies it (Moodle:
/// `core_enrol_get_enrolled_users` with the `userfields` option, one call per course).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Participant {
    /// The learning system's user id.
    pub user: i64,
    pub username: String,
    pub idnumber: String,
    /// When the user last accessed the course (Moodle's `lastcourseaccess`; none: never).
    pub last_access: Option<DateTime<Utc>>,
}

/// A learner of the offering as the import knows them: code, SMS username, and
/// the Moodle account stored at export (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownLearner {
    pub code: LearnerCode,
    pub username: Option<String>,
    pub stored: Option<i64>,
}

/// How a participant was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifiedBy {
    /// The Moodle account stored when the learner was exported.
    Stored,
    /// The participant's idnumber is the learner code.
    Idnumber,
    /// The participant's username is the learner's SMS username.
    Username,
}

/// Who is who among a course's participants (SM-33).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identified {
    /// Moodle user id -> learner, with how.
    pub by_user: std::collections::HashMap<i64, (LearnerCode, IdentifiedBy)>,
    /// Learners with no stored account whom more than one participant could be
    /// (or who share a participant with another learner): not guessed, left out.
    pub ambiguous: Vec<LearnerCode>,
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Identifies the offering's learners among the course's participants: the
/// account stored at export wins; a learner without one is the single
/// participant (not already someone's) whose idnumber is the learner code, else
/// the single one whose username is the learner's username (Moodle lowercases
/// usernames). Two candidates, or two learners for one participant, identify
/// nobody: a person must link them.
pub fn identify(participants: &[Participant], learners: &[KnownLearner]) -> Identified {
    let mut out = Identified::default();
    for l in learners {
        if let Some(user) = l.stored {
            out.by_user
                .insert(user, (l.code.clone(), IdentifiedBy::Stored));
        }
    }
    let mut claims: std::collections::HashMap<i64, Vec<(LearnerCode, IdentifiedBy)>> =
        std::collections::HashMap::new();
    for l in learners.iter().filter(|l| l.stored.is_none()) {
        let free = |p: &&Participant| !out.by_user.contains_key(&p.user);
        let by_idnumber: Vec<&Participant> = participants
            .iter()
            .filter(free)
            .filter(|p| !p.idnumber.trim().is_empty() && p.idnumber.trim() == l.code.as_str())
            .collect();
        let by_username: Vec<&Participant> = match &l.username {
            Some(u) if !u.trim().is_empty() => participants
                .iter()
                .filter(free)
                .filter(|p| norm(&p.username) == norm(u))
                .collect(),
            _ => Vec::new(),
        };
        let (found, how) = if by_idnumber.is_empty() {
            (by_username, IdentifiedBy::Username)
        } else {
            (by_idnumber, IdentifiedBy::Idnumber)
        };
        match found.as_slice() {
            [] => {}
            [one] => claims
                .entry(one.user)
                .or_default()
                .push((l.code.clone(), how)),
            _ => out.ambiguous.push(l.code.clone()),
        }
    }
    for (user, mut who) in claims {
        if who.len() == 1
            && let Some(one) = who.pop()
        {
            out.by_user.insert(user, one);
        } else {
            out.ambiguous.extend(who.into_iter().map(|(code, _)| code));
        }
    }
    out.ambiguous.sort();
    out
}

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

/// A course completion read from Moodle, in the review queue like a result
/// (the seed's "Course completions" tab): ready until a person (or, without
/// review, the download) processes it; then it is a delivery and the enrolment
/// is completed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCompletion {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub offering: OfferingId,
    pub learner: LearnerCode,
    /// The Moodle user, for the unenrolment that follows (Smartosh).
    pub user: i64,
    /// When the latest completion criterion was met (a person may change the date).
    pub completed_at: DateTime<Utc>,
    /// The course total grade, raw.
    pub grade: Option<f64>,
    /// The maximum `grade` is out of.
    #[serde(default)]
    pub grade_max: Option<f64>,
    /// A later course total that differs from the one saved to the SMS (a
    /// retake after processing): shown, never sent (first result wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub later_grade: Option<LaterGrade>,
    /// Smartosh mode: attendance (and evaluation) recorded, then unenrolled.
    pub smartosh: bool,
    pub must_be_evaluated: bool,
    pub state: ReviewState,
    pub error: Option<String>,
    /// When the learner was unenrolled from the Moodle course (Smartosh), after approval.
    pub unenrolled_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The Moodle course the completion was read from.
    #[serde(default)]
    pub course_id: Option<i64>,
    /// The Moodle user's idnumber when the completion was read (empty: none).
    #[serde(default)]
    pub idnumber: Option<String>,
}

impl StoredCompletion {
    /// A completion as read: ready for review.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: (TenantId, ConnectionId, OfferingId, LearnerCode),
        user: i64,
        completed_at: DateTime<Utc>,
        grade: Option<f64>,
        smartosh: bool,
        must_be_evaluated: bool,
        now: DateTime<Utc>,
    ) -> Self {
        let (tenant, connection, offering, learner) = key;
        Self {
            tenant,
            connection,
            offering,
            learner,
            user,
            completed_at,
            grade,
            grade_max: None,
            later_grade: None,
            smartosh,
            must_be_evaluated,
            state: ReviewState::Ready,
            error: None,
            unenrolled_at: None,
            updated_at: now,
            course_id: None,
            idnumber: None,
        }
    }

    /// A person's change of the status date, a day in the tenant's `zone` (the
    /// local time of day is kept).
    pub fn adjust(
        &mut self,
        date: NaiveDate,
        zone: TenantZone,
        now: DateTime<Utc>,
    ) -> Result<(), ReviewError> {
        if self.state == ReviewState::Done {
            return Err(ReviewError::AlreadySaved);
        }
        self.completed_at = zone.at(date, zone.time_of(self.completed_at));
        self.error = (date > zone.today(now))
            .then(|| format!("the completion date {date} is in the future"));
        self.state = if self.error.is_some() {
            ReviewState::Error
        } else {
            ReviewState::Ready
        };
        self.updated_at = now;
        Ok(())
    }

    /// Processing: a ready completion becomes done (its delivery is created by the caller).
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

    /// The course total as read again. An unprocessed completion takes it
    /// (a retake before processing updates the proposal); a processed one
    /// keeps the grade the SMS has and records a different later one, never
    /// sent (first result wins). A total that is gone (no grade) changes
    /// nothing. Whether anything changed.
    pub fn regrade(
        &mut self,
        grade: Option<f64>,
        grade_max: Option<f64>,
        now: DateTime<Utc>,
    ) -> bool {
        if grade.is_none() || (grade == self.grade && grade_max == self.grade_max) {
            return false;
        }
        if self.state != ReviewState::Done {
            self.grade = grade;
            self.grade_max = grade_max;
            self.updated_at = now;
            return true;
        }
        if self
            .later_grade
            .as_ref()
            .is_some_and(|l| l.grade == grade && l.grade_max == grade_max)
        {
            return false;
        }
        self.later_grade = Some(LaterGrade {
            grade,
            grade_max,
            seen_at: now,
        });
        self.updated_at = now;
        true
    }

    /// Approved, still enrolled in Moodle, and the mode unenrols.
    pub fn unenrol_pending(&self) -> bool {
        self.smartosh && self.state == ReviewState::Done && self.unenrolled_at.is_none()
    }

    /// What goes to the SMS, dated by the tenant's `zone`.
    pub fn record(&self, zone: TenantZone) -> CompletionRecord {
        let mut record = CompletionRecord::new(
            self.learner.clone(),
            self.offering.clone(),
            self.completed_at,
            self.grade,
            self.smartosh,
            self.must_be_evaluated,
            zone,
        );
        record.grade_max = self.grade_max;
        record.course_id = self.course_id;
        record.external_id = self
            .idnumber
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_owned);
        record
    }
}

/// A course total read after the completion was saved, that differs from the
/// saved one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaterGrade {
    pub grade: Option<f64>,
    #[serde(default)]
    pub grade_max: Option<f64>,
    pub seen_at: DateTime<Utc>,
}

/// The name of an assessable level, as settings and errors spell it.
pub fn level_name(kind: crate::sis::AssessableKind) -> &'static str {
    match kind {
        crate::sis::AssessableKind::Unit => "unit",
        crate::sis::AssessableKind::Task => "task",
    }
}

/// An assessable can be mapped (and resulted) only at a level the
/// connection's `result_levels` lists (VM-10).
pub fn check_level(
    levels: &[crate::sis::AssessableKind],
    assessable: &crate::sis::Assessable,
) -> Result<(), MappingError> {
    if levels.contains(&assessable.kind) {
        Ok(())
    } else {
        Err(MappingError::LevelNotAllowed {
            assessable: assessable.id.clone(),
            kind: level_name(assessable.kind),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sis::AssessableKind;
    use chrono::TimeZone;

    #[test]
    fn an_assessable_is_mapped_only_at_an_allowed_level() {
        use AssessableKind::{Task, Unit};
        let cases: [(&[AssessableKind], AssessableKind, bool); 5] = [
            (&[Unit, Task], Unit, true),
            (&[Unit, Task], Task, true),
            (&[Unit], Task, false),
            (&[Task], Unit, false),
            (&[], Unit, false),
        ];
        for (levels, kind, ok) in cases {
            let mut a = assessable(None);
            a.kind = kind;
            let got = check_level(levels, &a);
            assert_eq!(got.is_ok(), ok, "{levels:?} {kind:?}");
            if let Err(e) = got {
                assert_eq!(
                    e.to_string(),
                    format!(
                        "assessable {} is a {}, a level this connection does not map or result (result_levels)",
                        a.id,
                        level_name(kind)
                    )
                );
            }
        }
    }

    #[test]
    fn a_completion_record_names_the_moodle_course_and_idnumber() {
        let mut c = StoredCompletion::new(
            (
                TenantId::parse("acme").unwrap(),
                ConnectionId::parse("moodle").unwrap(),
                OfferingId::parse("OPL-7").unwrap(),
                LearnerCode::parse("1001").unwrap(),
            ),
            42,
            at(7),
            Some(7.5),
            false,
            false,
            at(8),
        );
        let plain = serde_json::to_value(c.record(TenantZone::UTC)).unwrap();
        assert!(plain.get("course_id").is_none() && plain.get("external_id").is_none());
        c.course_id = Some(31);
        c.idnumber = Some(" CV-1001 ".to_owned());
        let r = serde_json::to_value(c.record(TenantZone::UTC)).unwrap();
        assert_eq!(
            (r["course_id"].clone(), r["external_id"].clone()),
            (serde_json::json!(31), serde_json::json!("CV-1001"))
        );
        c.idnumber = Some("  ".to_owned());
        assert_eq!(
            c.record(TenantZone::UTC).external_id,
            None,
            "an empty idnumber names nobody"
        );
        // Stored before the fields existed: read back without them.
        let mut old = serde_json::to_value(&c).unwrap();
        old.as_object_mut()
            .unwrap()
            .retain(|k, _| k != "course_id" && k != "idnumber");
        let back: StoredCompletion = serde_json::from_value(old).unwrap();
        assert_eq!((back.course_id, back.idnumber), (None, None));
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 10, 0, 0).unwrap()
    }
    fn date(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
    }
    fn assessable(expected: Option<NaiveDate>) -> Assessable {
        Assessable {
            id: AssessableId::parse("BSBWHS211").unwrap(),
            name: "Unit".into(),
            kind: AssessableKind::Unit,
            expected_start_date: expected,
        }
    }
    fn graded(cmid: i64, grade: f64, pass: f64, day: u32) -> ActivityOutcome {
        ActivityOutcome {
            cmid,
            grade: Some(grade),
            max_grade: Some(100.0),
            pass_grade: Some(pass),
            graded_at: Some(at(day)),
            ..ActivityOutcome::default()
        }
    }
    fn completed(mut o: ActivityOutcome, state: CompletionState, day: u32) -> ActivityOutcome {
        o.completion = Some(ActivityCompletion {
            state,
            completed_at: Some(at(day)),
        });
        o
    }
    const RECORD: ResultRules = ResultRules {
        record_failed_results: true,
        use_enrolment_start_date: true,
        zone: TenantZone::UTC,
    };
    const NO_FAIL: ResultRules = ResultRules {
        record_failed_results: false,
        use_enrolment_start_date: true,
        zone: TenantZone::UTC,
    };

    #[test]
    fn only_the_seeds_activity_types_can_be_mapped() {
        for m in MAPPABLE_MODULES {
            assert!(is_mappable(m), "{m}");
        }
        for m in ["forum", "page", "url", "resource", "label", "feedback", ""] {
            assert!(!is_mappable(m), "{m}");
        }
        let course = vec![
            CourseActivity::new(1, "quiz", "Quiz"),
            CourseActivity::new(2, "forum", "News"),
            CourseActivity::new(3, "assign", "Essay"),
        ];
        assert!(course[0].mappable && !course[1].mappable);
        assert_eq!(check_mapping(&course, &[1, 3]).unwrap().len(), 2);
        let err = check_mapping(&course, &[1, 2]).unwrap_err();
        assert_eq!(
            err,
            MappingError::UnmappableType {
                cmid: 2,
                modname: "forum".into()
            }
        );
        assert!(
            err.to_string()
                .contains("is a forum, which cannot be mapped")
        );
        assert_eq!(
            check_mapping(&course, &[9]),
            Err(MappingError::UnknownActivity { cmid: 9 })
        );
        assert_eq!(check_mapping(&course, &[]), Err(MappingError::NoActivities));
        assert_eq!(
            check_mapping(&course, &[1, 1]),
            Err(MappingError::Duplicate { cmid: 1 })
        );
    }

    type Case = (
        &'static str,
        ResultRules,
        PriorResult,
        Vec<ActivityOutcome>,
        Result<ResultType, NoResult>,
    );

    /// The seed's buckets, one row per rule and edge.
    #[test]
    fn result_rules_table() {
        let hidden = ActivityOutcome {
            hidden: true,
            ..graded(2, 90.0, 50.0, 5)
        };
        let overridden_pass = ActivityOutcome {
            overridden: true,
            ..graded(2, 60.0, 50.0, 6)
        };
        let scale_pass = ActivityOutcome {
            scale: true,
            ..graded(2, 3.0, 2.0, 5)
        };
        let scale_fail = ActivityOutcome {
            scale: true,
            ..graded(2, 1.0, 2.0, 5)
        };
        let scale_no_pass = ActivityOutcome {
            scale: true,
            pass_grade: None,
            ..graded(2, 3.0, 0.0, 5)
        };
        let no_grade = ActivityOutcome {
            cmid: 2,
            ..ActivityOutcome::default()
        };
        let complete_fail_with_pass_grade =
            completed(graded(2, 80.0, 50.0, 5), CompletionState::CompleteFail, 5);
        let complete_fail_no_grade = completed(no_grade, CompletionState::CompleteFail, 5);
        let complete_pass_no_grade = completed(no_grade, CompletionState::CompletePass, 5);
        let no_pass_grade = ActivityOutcome {
            pass_grade: None,
            ..graded(2, 10.0, 0.0, 5)
        };
        use NoResult::*;
        use PriorResult as P;
        use ResultType::*;
        let cases: Vec<Case> = vec![
            (
                "all pass",
                RECORD,
                P::None,
                vec![graded(1, 80.0, 50.0, 3), graded(2, 50.0, 50.0, 4)],
                Ok(Passed),
            ),
            (
                "grade equal to pass grade passes",
                RECORD,
                P::None,
                vec![graded(1, 50.0, 50.0, 3)],
                Ok(Passed),
            ),
            (
                "any below fails",
                RECORD,
                P::None,
                vec![graded(1, 80.0, 50.0, 3), graded(2, 40.0, 50.0, 4)],
                Ok(Failed),
            ),
            (
                "failed is started when failures are not recorded",
                NO_FAIL,
                P::None,
                vec![graded(1, 40.0, 50.0, 3)],
                Ok(Started),
            ),
            (
                "some but not all pass",
                RECORD,
                P::None,
                vec![graded(1, 80.0, 50.0, 3), no_grade],
                Ok(Started),
            ),
            (
                "no grade at all: nothing",
                RECORD,
                P::None,
                vec![no_grade],
                Err(NothingYet),
            ),
            (
                "no activities: nothing",
                RECORD,
                P::None,
                vec![],
                Err(NothingYet),
            ),
            (
                "already completed: nothing",
                RECORD,
                P::Completed,
                vec![graded(1, 80.0, 50.0, 3)],
                Err(AlreadyCompleted),
            ),
            (
                "already started: no new started",
                RECORD,
                P::Started,
                vec![graded(1, 80.0, 50.0, 3), no_grade],
                Err(AlreadyStarted),
            ),
            (
                "already started: passed still comes",
                RECORD,
                P::Started,
                vec![graded(1, 80.0, 50.0, 3)],
                Ok(Passed),
            ),
            (
                "already started, failure not recorded: nothing",
                NO_FAIL,
                P::Started,
                vec![graded(1, 40.0, 50.0, 3)],
                Err(AlreadyStarted),
            ),
            (
                "hidden grade is no grade",
                RECORD,
                P::None,
                vec![graded(1, 80.0, 50.0, 3), hidden],
                Ok(Started),
            ),
            (
                "hidden grade alone: nothing",
                RECORD,
                P::None,
                vec![hidden],
                Err(NothingYet),
            ),
            (
                "overridden grade counts",
                RECORD,
                P::None,
                vec![overridden_pass],
                Ok(Passed),
            ),
            (
                "scale grade at or above pass",
                RECORD,
                P::None,
                vec![scale_pass],
                Ok(Passed),
            ),
            (
                "scale grade below pass",
                RECORD,
                P::None,
                vec![scale_fail],
                Ok(Failed),
            ),
            (
                "scale without pass grade waits for completion",
                RECORD,
                P::None,
                vec![scale_no_pass],
                Err(NothingYet),
            ),
            (
                "scale without pass grade, complete-pass",
                RECORD,
                P::None,
                vec![completed(scale_no_pass, CompletionState::CompletePass, 5)],
                Ok(Passed),
            ),
            (
                "complete-fail (3) fails whatever the grade",
                RECORD,
                P::None,
                vec![complete_fail_with_pass_grade],
                Ok(Failed),
            ),
            (
                "complete-fail (3) without a grade fails",
                RECORD,
                P::None,
                vec![graded(1, 80.0, 50.0, 3), complete_fail_no_grade],
                Ok(Failed),
            ),
            (
                "complete-pass without a grade passes",
                RECORD,
                P::None,
                vec![complete_pass_no_grade],
                Ok(Passed),
            ),
            (
                "no pass grade: any grade passes",
                RECORD,
                P::None,
                vec![no_pass_grade],
                Ok(Passed),
            ),
        ];
        for (name, rules, prior, outcomes, want) in cases {
            let got =
                decide(rules, &assessable(None), Some(date(1)), prior, &outcomes).map(|r| r.result);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn the_result_grade_is_raw_with_its_maximum_summed_over_the_activities() {
        let quiz = ActivityOutcome {
            cmid: 1,
            grade: Some(9.0),
            max_grade: Some(10.0),
            ..ActivityOutcome::default()
        };
        let assign = ActivityOutcome {
            cmid: 2,
            grade: Some(85.0),
            max_grade: Some(100.0),
            ..ActivityOutcome::default()
        };
        assert_eq!(
            result_grade(&[quiz]),
            (Some(9.0), Some(10.0)),
            "one activity: exactly Moodle's grade and maximum"
        );
        assert_eq!(
            result_grade(&[quiz, assign]),
            (Some(94.0), Some(110.0)),
            "points out of points, like Moodle's Natural course total"
        );
        let hidden = ActivityOutcome {
            hidden: true,
            ..assign
        };
        assert_eq!(
            result_grade(&[quiz, hidden]),
            (Some(9.0), Some(10.0)),
            "a hidden grade does not count"
        );
        let scale = ActivityOutcome {
            cmid: 3,
            grade: Some(2.0),
            max_grade: Some(4.0),
            scale: true,
            ..ActivityOutcome::default()
        };
        assert_eq!(result_grade(&[scale]), (None, None), "a scale is no points");
        let no_max = ActivityOutcome {
            cmid: 4,
            grade: Some(7.0),
            ..ActivityOutcome::default()
        };
        assert_eq!(result_grade(&[no_max]), (None, None));
        assert_eq!(result_grade(&[]), (None, None));
        // The retake sample: a quiz graded 3.33333 out of 10, nothing lost.
        let third = ActivityOutcome {
            cmid: 5,
            grade: Some(3.33333),
            max_grade: Some(10.0),
            ..ActivityOutcome::default()
        };
        assert_eq!(result_grade(&[third]), (Some(3.33333), Some(10.0)));
        let tenth = ActivityOutcome {
            cmid: 6,
            grade: Some(0.1),
            max_grade: Some(1.0),
            ..ActivityOutcome::default()
        };
        assert_eq!(
            result_grade(&[tenth, tenth, tenth]),
            (Some(0.3), Some(3.0)),
            "sums are rounded to Moodle's 5 decimals"
        );
    }

    #[test]
    fn a_learner_changed_when_an_item_was_graded_or_submitted_since_the_watermark() {
        let g = LearnerGrades {
            user: 7,
            items: vec![
                ItemGrade {
                    cmid: 1,
                    grade: Some(80.0),
                    graded_at: Some(at(3)),
                    ..ItemGrade::default()
                },
                ItemGrade {
                    cmid: 2,
                    submitted_at: Some(at(6)),
                    ..ItemGrade::default()
                },
            ],
            course_total: None,
            course_max: None,
        };
        assert!(g.changed_since(None), "first run: everyone");
        assert!(g.changed_since(Some(at(6))));
        assert!(!g.changed_since(Some(at(7))));
        assert!(!LearnerGrades::default().changed_since(Some(at(1))));
        let o = g.outcome(1, Some(50.0), None);
        assert_eq!(
            (o.grade, o.pass_grade, o.graded_at),
            (Some(80.0), Some(50.0), Some(at(3)))
        );
        assert_eq!(
            g.outcome(9, None, None).grade,
            None,
            "an unknown activity is pending"
        );
    }

    #[test]
    fn finish_date_is_the_latest_graded_date() {
        let r = decide(
            RECORD,
            &assessable(None),
            Some(date(1)),
            PriorResult::None,
            &[graded(1, 80.0, 50.0, 9), graded(2, 70.0, 50.0, 4)],
        )
        .unwrap();
        assert_eq!(r.finish_date, Some(date(9)));
        assert_eq!((r.grade, r.grade_max), (Some(150.0), Some(200.0)));
        let started = decide(
            RECORD,
            &assessable(None),
            Some(date(1)),
            PriorResult::None,
            &[graded(1, 80.0, 50.0, 9), ActivityOutcome::default()],
        )
        .unwrap();
        assert_eq!(started.finish_date, None, "a started result has no finish");
    }

    #[test]
    fn start_date_table() {
        let off = ResultRules {
            record_failed_results: true,
            use_enrolment_start_date: false,
            zone: TenantZone::UTC,
        };
        let one = vec![completed(
            graded(1, 80.0, 50.0, 9),
            CompletionState::Complete,
            8,
        )];
        let two = vec![
            completed(graded(1, 80.0, 50.0, 9), CompletionState::Complete, 7),
            completed(graded(2, 80.0, 50.0, 9), CompletionState::CompletePass, 5),
        ];
        let two_uncompleted = vec![graded(1, 80.0, 50.0, 9), graded(2, 80.0, 50.0, 9)];
        let cases = vec![
            (
                "one mapped, preference on: enrolment start",
                RECORD,
                None,
                one.clone(),
                Some(date(1)),
            ),
            (
                "one mapped, preference off: none",
                off,
                None,
                one.clone(),
                None,
            ),
            (
                "expected start date wins",
                RECORD,
                Some(date(2)),
                one.clone(),
                Some(date(2)),
            ),
            (
                "expected start date wins with many mapped",
                RECORD,
                Some(date(2)),
                two.clone(),
                Some(date(2)),
            ),
            (
                "many mapped: earliest completion",
                RECORD,
                None,
                two.clone(),
                Some(date(5)),
            ),
            (
                "many mapped, preference off: earliest completion",
                off,
                None,
                two,
                Some(date(5)),
            ),
            (
                "many mapped, none completed: enrolment start ignored",
                RECORD,
                None,
                two_uncompleted,
                None,
            ),
        ];
        for (name, rules, expected, outcomes, want) in cases {
            assert_eq!(
                start_date(rules, &assessable(expected), Some(date(1)), &outcomes),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn course_completion_only_for_active_enrolments_dated_by_the_latest_criterion() {
        let criteria = [
            CriterionStatus {
                complete: true,
                completed_at: Some(at(3)),
            },
            CriterionStatus {
                complete: true,
                completed_at: Some(at(7)),
            },
            CriterionStatus {
                complete: false,
                completed_at: Some(at(9)),
            },
        ];
        assert_eq!(
            course_completion(EnrolmentState::InProgress, true, &criteria),
            Some(at(7))
        );
        assert_eq!(
            course_completion(EnrolmentState::NotCalled, true, &criteria),
            Some(at(7))
        );
        assert_eq!(
            course_completion(EnrolmentState::Completed, true, &criteria),
            None
        );
        assert_eq!(
            course_completion(EnrolmentState::Withdrawn, true, &criteria),
            None
        );
        assert_eq!(
            course_completion(EnrolmentState::InProgress, false, &criteria),
            None
        );
        assert_eq!(
            course_completion(EnrolmentState::InProgress, true, &[]),
            None
        );
    }

    fn key() -> ResultKey {
        ResultKey {
            tenant: TenantId::parse("acme").unwrap(),
            connection: ConnectionId::parse("moodle").unwrap(),
            offering: OfferingId::parse("OFF-1").unwrap(),
            learner: LearnerCode::parse("L1").unwrap(),
            assessable: AssessableId::parse("U1").unwrap(),
        }
    }

    #[test]
    fn review_states_ready_error_done_and_adjustments() {
        let ready = StoredResult::new(
            key(),
            ProposedResult {
                result: ResultType::Passed,
                start_date: Some(date(1)),
                finish_date: Some(date(3)),
                grade: Some(80.0),
                grade_max: Some(100.0),
            },
            at(4),
        );
        assert_eq!(ready.state, ReviewState::Ready);
        let mut no_start = StoredResult::new(
            key(),
            ProposedResult {
                result: ResultType::Passed,
                start_date: None,
                finish_date: Some(date(3)),
                grade: None,
                grade_max: None,
            },
            at(4),
        );
        assert_eq!(no_start.state, ReviewState::Error);
        assert!(no_start.error.as_deref().unwrap().contains("no start date"));
        assert!(matches!(
            no_start.approve(at(5)),
            Err(ReviewError::NotReady { .. })
        ));
        // A person sets the start date: ready again.
        no_start
            .adjust(
                &Adjustment {
                    start_date: Some(date(2)),
                    ..Adjustment::default()
                },
                at(5),
            )
            .unwrap();
        assert_eq!(no_start.state, ReviewState::Ready);
        // A finish before the start is an error.
        no_start
            .adjust(
                &Adjustment {
                    finish_date: Some(date(1)),
                    ..Adjustment::default()
                },
                at(5),
            )
            .unwrap();
        assert_eq!(no_start.state, ReviewState::Error);
        // Changing the type to started drops the finish date.
        no_start
            .adjust(
                &Adjustment {
                    result: Some(ResultType::Started),
                    ..Adjustment::default()
                },
                at(5),
            )
            .unwrap();
        assert_eq!(
            (no_start.state, no_start.finish_date),
            (ReviewState::Ready, None)
        );
        no_start.approve(at(6)).unwrap();
        assert_eq!(no_start.state, ReviewState::Done);
        assert_eq!(no_start.approve(at(6)), Err(ReviewError::AlreadySaved));
        assert_eq!(
            no_start.adjust(&Adjustment::default(), at(6)),
            Err(ReviewError::AlreadySaved)
        );
        assert_eq!(ReviewState::parse("ready"), Some(ReviewState::Ready));
        assert_eq!(ReviewState::parse("x"), None);
        assert_eq!(ready.payload()["result"], "passed");
    }

    fn proposal(result: ResultType, grade: f64, finish: Option<u32>) -> ProposedResult {
        ProposedResult {
            result,
            start_date: Some(date(1)),
            finish_date: finish.map(date),
            grade: Some(grade),
            grade_max: Some(10.0),
        }
    }

    fn proposed(p: Progress) -> StoredResult {
        match p {
            Progress::Propose(r) => r,
            other => panic!("expected a proposal, got {other:?}"),
        }
    }

    #[test]
    fn started_is_not_completed_a_saved_started_is_followed_by_the_pass() {
        use ResultType::*;
        let mut started = proposed(progress(
            None,
            key(),
            proposal(Started, 5.0, None),
            false,
            at(2),
        ));
        assert_eq!(
            progress(
                Some(&started),
                key(),
                proposal(Started, 6.0, None),
                true,
                at(3)
            ),
            Progress::Propose(StoredResult {
                grade: Some(6.0),
                updated_at: at(3),
                history: vec![PastResult {
                    result: Started,
                    start_date: Some(date(1)),
                    finish_date: None,
                    grade: Some(5.0),
                    grade_max: Some(10.0),
                    delivered: false,
                    replaced_at: at(3),
                }],
                ..started.clone()
            }),
            "an unprocessed started takes the newer grade"
        );
        started.approve(at(3)).unwrap();
        assert_eq!(
            progress(
                Some(&started),
                key(),
                proposal(Started, 6.0, None),
                true,
                at(4)
            ),
            Progress::Unchanged,
            "units/tasks will not be started if they are already started"
        );
        let passed = proposed(progress(
            Some(&started),
            key(),
            proposal(Passed, 10.0, Some(5)),
            true,
            at(5),
        ));
        assert_eq!(
            (passed.result, passed.state, passed.grade),
            (Passed, ReviewState::Ready, Some(10.0))
        );
        assert_eq!(passed.history.len(), 1);
        assert!(
            passed.history[0].delivered,
            "the saved started is in the history"
        );
    }

    #[test]
    fn first_final_result_wins_a_later_attempt_is_recorded_never_proposed() {
        use ResultType::*;
        let mut failed = proposed(progress(
            None,
            key(),
            proposal(Failed, 3.33333, Some(3)),
            false,
            at(3),
        ));
        failed.approve(at(4)).unwrap();
        assert_eq!(
            progress(
                Some(&failed),
                key(),
                proposal(Failed, 3.33333, Some(3)),
                true,
                at(5)
            ),
            Progress::Unchanged,
            "results will not show for units/tasks already completed"
        );
        assert_eq!(
            progress(
                Some(&failed),
                key(),
                proposal(Started, 5.0, None),
                true,
                at(5)
            ),
            Progress::Unchanged
        );
        let Progress::LaterAttempt(recorded) = progress(
            Some(&failed),
            key(),
            proposal(Passed, 10.0, Some(6)),
            true,
            at(6),
        ) else {
            panic!("a later attempt")
        };
        assert_eq!(recorded.state, ReviewState::Done, "still the saved one");
        assert_eq!(
            (recorded.result, recorded.grade),
            (Failed, Some(3.33333)),
            "the SMS's value is kept"
        );
        assert_eq!(
            recorded.later,
            Some(LaterAttempt {
                result: Passed,
                finish_date: Some(date(6)),
                grade: Some(10.0),
                grade_max: Some(10.0),
                seen_at: at(6),
            })
        );
        assert_eq!(
            progress(
                Some(&recorded),
                key(),
                proposal(Passed, 10.0, Some(6)),
                true,
                at(7)
            ),
            Progress::Unchanged,
            "the same later attempt again changes nothing"
        );
        assert!(matches!(
            progress(Some(&recorded), key(), proposal(Passed, 9.0, Some(8)), true, at(8)),
            Progress::LaterAttempt(r) if r.later.as_ref().and_then(|l| l.grade) == Some(9.0)
        ));
    }

    #[test]
    fn a_processed_final_result_not_yet_delivered_takes_the_retake() {
        use ResultType::*;
        let mut failed = proposed(progress(
            None,
            key(),
            proposal(Failed, 3.33333, Some(3)),
            false,
            at(3),
        ));
        failed.approve(at(3)).unwrap();
        let Progress::Redeliver(passed) = progress(
            Some(&failed),
            key(),
            proposal(Passed, 10.0, Some(4)),
            false,
            at(4),
        ) else {
            panic!("the waiting delivery carries the pass")
        };
        assert_eq!(
            (passed.result, passed.grade, passed.state),
            (Passed, Some(10.0), ReviewState::Done)
        );
        assert_eq!(passed.history.len(), 1);
        assert!(!passed.history[0].delivered);
        assert_eq!(passed.later, None);
    }

    #[test]
    fn a_retake_before_anything_final_was_saved_updates_the_proposal() {
        use ResultType::*;
        // The samples: the quiz graded 3.33333 / 10 (completion state 3,
        // complete-fail), retaken to 10 / 10 (state 2) later that day.
        let first = ActivityOutcome {
            cmid: 1,
            grade: Some(3.33333),
            max_grade: Some(10.0),
            pass_grade: Some(5.0),
            graded_at: Some(at(3)),
            completion: Some(ActivityCompletion {
                state: CompletionState::CompleteFail,
                completed_at: Some(at(3)),
            }),
            ..ActivityOutcome::default()
        };
        let retake = ActivityOutcome {
            grade: Some(10.0),
            graded_at: Some(at(4)),
            completion: Some(ActivityCompletion {
                state: CompletionState::CompletePass,
                completed_at: Some(at(4)),
            }),
            ..first
        };
        let rules = ResultRules {
            record_failed_results: true,
            use_enrolment_start_date: true,
            zone: TenantZone::UTC,
        };
        let a = assessable(None);
        let failed = decide(rules, &a, Some(date(1)), PriorResult::None, &[first]).unwrap();
        assert_eq!(
            (failed.result, failed.grade, failed.grade_max),
            (Failed, Some(3.33333), Some(10.0))
        );
        let stored = proposed(progress(None, key(), failed, false, at(3)));
        assert_eq!(stored.state, ReviewState::Ready);
        let passed = decide(rules, &a, Some(date(1)), PriorResult::None, &[retake]).unwrap();
        let replaced = proposed(progress(Some(&stored), key(), passed, false, at(4)));
        assert_eq!(
            (
                replaced.result,
                replaced.grade,
                replaced.finish_date,
                replaced.state
            ),
            (Passed, Some(10.0), Some(date(4)), ReviewState::Ready),
            "the failed nobody processed is replaced by the pass"
        );
        assert_eq!(
            replaced.history,
            vec![PastResult {
                result: Failed,
                start_date: Some(date(1)),
                finish_date: Some(date(3)),
                grade: Some(3.33333),
                grade_max: Some(10.0),
                delivered: false,
                replaced_at: at(4),
            }],
            "and shown in its history"
        );
        assert_eq!(replaced.payload()["grade"], 10.0);
        assert_eq!(replaced.payload()["grade_max"], 10.0);
        // A person's start date survives the same proposal read again.
        let mut adjusted = replaced.clone();
        adjusted
            .adjust(
                &Adjustment {
                    start_date: Some(date(2)),
                    ..Adjustment::default()
                },
                at(5),
            )
            .unwrap();
        let again = decide(rules, &a, Some(date(1)), PriorResult::None, &[retake]).unwrap();
        assert_eq!(
            progress(Some(&adjusted), key(), again, false, at(6)),
            Progress::Unchanged
        );
    }

    #[test]
    fn a_completion_grade_updates_until_processed_then_first_wins() {
        let mut c = StoredCompletion::new(
            (
                TenantId::parse("acme").unwrap(),
                ConnectionId::parse("moodle").unwrap(),
                OfferingId::parse("S1").unwrap(),
                LearnerCode::parse("L1").unwrap(),
            ),
            7,
            at(3),
            Some(3.33333),
            false,
            false,
            at(3),
        );
        c.grade_max = Some(10.0);
        assert!(!c.regrade(Some(3.33333), Some(10.0), at(4)), "same total");
        assert!(!c.regrade(None, None, at(4)), "a total that is gone");
        assert!(c.regrade(Some(10.0), Some(10.0), at(4)), "a retake");
        assert_eq!((c.grade, c.later_grade.as_ref()), (Some(10.0), None));
        c.approve(at(5)).unwrap();
        let record = serde_json::to_value(c.record(TenantZone::UTC)).unwrap();
        assert_eq!(
            (&record["grade"], &record["grade_max"]),
            (&serde_json::json!(10.0), &serde_json::json!(10.0)),
            "a completion's grade is stated like a result's"
        );
        assert!(c.regrade(Some(8.0), Some(10.0), at(6)));
        assert_eq!(c.grade, Some(10.0), "the SMS's grade is kept");
        assert_eq!(
            c.later_grade,
            Some(LaterGrade {
                grade: Some(8.0),
                grade_max: Some(10.0),
                seen_at: at(6)
            })
        );
        assert!(!c.regrade(Some(8.0), Some(10.0), at(7)), "seen already");
        assert_eq!(c.record(TenantZone::UTC).grade, Some(10.0), "never sent");
    }

    #[test]
    fn completion_record_smartosh_adds_attendance_and_evaluation() {
        let l = LearnerCode::parse("L1").unwrap();
        let o = OfferingId::parse("S1").unwrap();
        let plain = CompletionRecord::new(
            l.clone(),
            o.clone(),
            at(7),
            Some(8.0),
            false,
            true,
            TenantZone::UTC,
        );
        assert_eq!((plain.attendance_date, plain.evaluation_date), (None, None));
        assert!(!plain.attended);
        assert!(
            serde_json::to_value(&plain)
                .unwrap()
                .get("attended")
                .is_none(),
            "only Smartosh's records say attended"
        );
        let sm = CompletionRecord::new(
            l.clone(),
            o.clone(),
            at(7),
            Some(8.0),
            true,
            false,
            TenantZone::UTC,
        );
        assert_eq!(
            (sm.attendance_date, sm.evaluation_date),
            (Some(date(7)), None)
        );
        assert!(sm.attended, "the learner is marked attended");
        assert_eq!(serde_json::to_value(&sm).unwrap()["attended"], true);
        let ev = CompletionRecord::new(l, o, at(7), Some(8.0), true, true, TenantZone::UTC);
        assert_eq!(
            (ev.evaluation_date, ev.evaluation_grade),
            (Some(date(7)), Some(8.0))
        );
    }
}

#[cfg(test)]
mod fetch_tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 10, 0, 0).unwrap()
    }
    fn code(c: &str) -> LearnerCode {
        LearnerCode::parse(c).unwrap()
    }
    fn p(user: i64, username: &str, idnumber: &str) -> Participant {
        Participant {
            user,
            username: username.into(),
            idnumber: idnumber.into(),
            last_access: None,
        }
    }
    fn l(c: &str, username: Option<&str>, stored: Option<i64>) -> KnownLearner {
        KnownLearner {
            code: code(c),
            username: username.map(Into::into),
            stored,
        }
    }

    #[test]
    fn participants_are_identified_by_stored_account_then_idnumber_then_username() {
        let participants = vec![
            p(1, "ana", "L1"),
            p(2, "bea.moodle", "L2"),
            p(3, "Carla", ""),
            p(4, "dup", "L4"),
            p(5, "dup2", "L4"),
            p(6, "eve", "L6"),
            p(7, "x", "L7"),
            p(8, "shared", ""),
        ];
        type Want = Vec<(i64, &'static str, IdentifiedBy)>;
        let cases: Vec<(&str, Vec<KnownLearner>, Want, Vec<&str>)> = vec![
            (
                "stored account wins over an idnumber elsewhere",
                vec![l("L1", None, Some(9))],
                vec![(9, "L1", IdentifiedBy::Stored)],
                vec![],
            ),
            (
                "idnumber is the learner code",
                vec![l("L2", Some("other"), None)],
                vec![(2, "L2", IdentifiedBy::Idnumber)],
                vec![],
            ),
            (
                "username, case and spaces ignored",
                vec![l("L3", Some(" carla "), None)],
                vec![(3, "L3", IdentifiedBy::Username)],
                vec![],
            ),
            (
                "no match: nobody",
                vec![l("L9", Some("nobody"), None)],
                vec![],
                vec![],
            ),
            (
                "two participants with the idnumber: not guessed",
                vec![l("L4", None, None)],
                vec![],
                vec!["L4"],
            ),
            (
                "a participant already someone's stored account is not taken",
                vec![l("A", None, Some(6)), l("L6", None, None)],
                vec![(6, "A", IdentifiedBy::Stored)],
                vec![],
            ),
            (
                "two learners for one participant: neither",
                vec![l("M1", Some("shared"), None), l("M2", Some("SHARED"), None)],
                vec![],
                vec!["M1", "M2"],
            ),
            (
                "idnumber before username",
                vec![l("L7", Some("ana"), None)],
                vec![(7, "L7", IdentifiedBy::Idnumber)],
                vec![],
            ),
        ];
        for (name, learners, want, ambiguous) in cases {
            let got = identify(&participants, &learners);
            let mut pairs: Vec<(i64, &str, IdentifiedBy)> = got
                .by_user
                .iter()
                .map(|(u, (c, how))| (*u, c.as_str(), *how))
                .collect();
            pairs.sort_by_key(|x| x.0);
            assert_eq!(pairs, want, "{name}");
            let amb: Vec<&str> = got.ambiguous.iter().map(|c| c.as_str()).collect();
            assert_eq!(amb, ambiguous, "{name}");
        }
    }

    #[test]
    fn read_reason_table() {
        let since = Some(at(10));
        let base = ReadInputs {
            since,
            now: at(11),
            ..ReadInputs::default()
        };
        let hour = TimeDelta::hours(1);
        let cases: Vec<(&str, ReadInputs, Option<ReadReason>)> = vec![
            ("nothing changed", base, None),
            (
                "first run",
                ReadInputs {
                    since: None,
                    ..base
                },
                Some(ReadReason::FirstRun),
            ),
            (
                "in the retry set, nothing changed",
                ReadInputs {
                    retry: true,
                    ..base
                },
                Some(ReadReason::Retry),
            ),
            (
                "graded since",
                ReadInputs {
                    last_change: Some(at(10) + hour),
                    ..base
                },
                Some(ReadReason::Graded),
            ),
            (
                "graded exactly at the watermark",
                ReadInputs {
                    last_change: since,
                    ..base
                },
                Some(ReadReason::Graded),
            ),
            (
                "graded before",
                ReadInputs {
                    last_change: Some(at(9)),
                    ..base
                },
                None,
            ),
            (
                "accessed the course since (completed an activity without a grade)",
                ReadInputs {
                    last_access: Some(at(10) + hour),
                    ..base
                },
                Some(ReadReason::Accessed),
            ),
            (
                "accessed before, completion not read",
                ReadInputs {
                    last_access: Some(at(10) - hour),
                    ..base
                },
                None,
            ),
            (
                "accessed just before, completion read: the cron may have marked it since",
                ReadInputs {
                    last_access: Some(at(10) - hour),
                    completion_read: true,
                    ..base
                },
                Some(ReadReason::Accessed),
            ),
            (
                "accessed long before, completion read",
                ReadInputs {
                    last_access: Some(at(10) - COMPLETION_LAG - hour),
                    completion_read: true,
                    ..base
                },
                None,
            ),
            (
                "passed everything, awaiting the cron",
                ReadInputs {
                    last_change: Some(at(3)),
                    completion_read: true,
                    passed_all: true,
                    ..base
                },
                Some(ReadReason::AwaitingCompletion),
            ),
            (
                "passed everything long ago: no longer awaited",
                ReadInputs {
                    last_change: Some(at(11) - COMPLETION_WAIT - hour),
                    completion_read: true,
                    passed_all: true,
                    ..base
                },
                None,
            ),
            (
                "passed everything but completion not read (completed, or off)",
                ReadInputs {
                    last_change: Some(at(3)),
                    passed_all: true,
                    ..base
                },
                None,
            ),
            (
                "linked or enrolled since the watermark, graded before it",
                ReadInputs {
                    last_change: Some(at(3)),
                    new_to_us: true,
                    ..base
                },
                Some(ReadReason::New),
            ),
            (
                "approved completion waiting for the unenrolment",
                ReadInputs {
                    unenrol_pending: true,
                    since: None,
                    ..base
                },
                Some(ReadReason::Unenrol),
            ),
        ];
        for (name, inputs, want) in cases {
            assert_eq!(read_reason(&inputs), want, "{name}");
        }
    }

    #[test]
    fn a_completion_is_reviewed_adjusted_approved_then_unenrolled() {
        let mut c = StoredCompletion::new(
            (
                TenantId::parse("acme").unwrap(),
                ConnectionId::parse("moodle").unwrap(),
                OfferingId::parse("S1").unwrap(),
                code("L1"),
            ),
            7,
            at(6),
            Some(8.0),
            true,
            true,
            at(8),
        );
        assert_eq!(c.state, ReviewState::Ready);
        assert!(!c.unenrol_pending(), "not before approval");
        c.adjust(
            NaiveDate::from_ymd_opt(2026, 3, 20).unwrap(),
            TenantZone::UTC,
            at(8),
        )
        .unwrap();
        assert_eq!(c.state, ReviewState::Error, "a future date");
        c.adjust(
            NaiveDate::from_ymd_opt(2026, 3, 5).unwrap(),
            TenantZone::UTC,
            at(8),
        )
        .unwrap();
        assert_eq!((c.state, c.completed_at), (ReviewState::Ready, at(5)));
        let record = c.record(TenantZone::UTC);
        assert_eq!(
            (record.attendance_date, record.evaluation_grade),
            (NaiveDate::from_ymd_opt(2026, 3, 5), Some(8.0))
        );
        c.approve(at(9)).unwrap();
        assert!(c.unenrol_pending());
        assert_eq!(c.approve(at(9)), Err(ReviewError::AlreadySaved));
        assert_eq!(
            c.adjust(
                NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(),
                TenantZone::UTC,
                at(9)
            ),
            Err(ReviewError::AlreadySaved)
        );
        c.unenrolled_at = Some(at(10));
        assert!(!c.unenrol_pending());
    }

    /// The recorded Sydney site's time, 1796130600: 2 December in Sydney, still
    /// 1 December in UTC. A result's and a completion's dates are the tenant's days.
    #[test]
    fn dates_are_the_tenants_days_not_utcs() {
        let sample = DateTime::<Utc>::from_timestamp(1_796_130_600, 0).unwrap();
        let sydney = TenantZone::parse("Australia/Sydney").unwrap();
        let dec = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let outcome = ActivityOutcome {
            cmid: 1,
            grade: Some(80.0),
            max_grade: Some(100.0),
            pass_grade: Some(50.0),
            graded_at: Some(sample),
            completion: Some(ActivityCompletion {
                state: CompletionState::CompletePass,
                completed_at: Some(sample),
            }),
            ..ActivityOutcome::default()
        };
        let two = [outcome, outcome];
        for (zone, day) in [(sydney, dec(2)), (TenantZone::UTC, dec(1))] {
            let rules = ResultRules {
                record_failed_results: true,
                use_enrolment_start_date: false,
                zone,
            };
            let unit = Assessable {
                id: AssessableId::parse("BSBWHS211").unwrap(),
                name: "Unit".into(),
                kind: crate::sis::AssessableKind::Unit,
                expected_start_date: None,
            };
            let r = decide(rules, &unit, None, PriorResult::None, &two).unwrap();
            assert_eq!(
                (r.start_date, r.finish_date),
                (Some(day), Some(day)),
                "{zone}"
            );
            let record = CompletionRecord::new(
                code("L1"),
                OfferingId::parse("S1").unwrap(),
                sample,
                None,
                true,
                true,
                zone,
            );
            assert_eq!(
                (
                    record.completed_on,
                    record.attendance_date,
                    record.evaluation_date
                ),
                (day, Some(day), Some(day)),
                "{zone}"
            );
        }
        // A person's new date keeps the local time of day (00:10 in Sydney),
        // and "the future" is Sydney's tomorrow.
        let mut c = StoredCompletion::new(
            (
                TenantId::parse("acme").unwrap(),
                ConnectionId::parse("moodle").unwrap(),
                OfferingId::parse("S1").unwrap(),
                code("L1"),
            ),
            7,
            sample,
            None,
            true,
            false,
            sample,
        );
        c.adjust(dec(1), sydney, sample).unwrap();
        assert_eq!(c.completed_at, sample - TimeDelta::days(1));
        assert_eq!(c.record(sydney).attendance_date, Some(dec(1)));
        c.adjust(dec(2), sydney, sample).unwrap();
        assert_eq!(
            c.state,
            ReviewState::Ready,
            "today in Sydney is not the future"
        );
        c.adjust(dec(3), sydney, sample).unwrap();
        assert_eq!(c.state, ReviewState::Error, "tomorrow in Sydney is");
    }
}
