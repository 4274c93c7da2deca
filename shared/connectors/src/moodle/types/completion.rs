//! Activity and course completion.

use super::{MoodleWarning, moodle_time};
use crate::moodle::ids::{CourseModuleId, MoodleCourseId, MoodleUserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Both completion functions: `courseid=2&userid=4`.
#[derive(Debug, Clone, Serialize)]
pub struct CompletionRequest {
    pub courseid: MoodleCourseId,
    pub userid: MoodleUserId,
}

/// `{statuses, warnings}` from `core_completion_get_activities_completion_status`.
/// Lists only activities with completion tracking.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ActivitiesCompletion {
    pub statuses: Vec<ActivityCompletion>,
    #[serde(default)]
    pub warnings: Vec<MoodleWarning>,
}

/// Moodle's completion states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(from = "i64")]
pub enum CompletionState {
    Incomplete,
    Complete,
    CompletePass,
    /// Complete, but failed: `timecompleted` is still set.
    CompleteFail,
    Unknown(i64),
}

impl From<i64> for CompletionState {
    fn from(v: i64) -> Self {
        match v {
            0 => CompletionState::Incomplete,
            1 => CompletionState::Complete,
            2 => CompletionState::CompletePass,
            3 => CompletionState::CompleteFail,
            other => CompletionState::Unknown(other),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ActivityCompletion {
    pub cmid: CourseModuleId,
    pub modname: String,
    #[serde(default)]
    pub instance: Option<i64>,
    pub state: CompletionState,
    /// Set whenever state != 0, including complete-fail.
    #[serde(default)]
    pub timecompleted: i64,
    /// 1 manual, 2 automatic.
    #[serde(default)]
    pub tracking: i64,
    #[serde(default)]
    pub overrideby: Option<i64>,
    #[serde(default)]
    pub valueused: Option<bool>,
    #[serde(default)]
    pub hascompletion: Option<bool>,
    #[serde(default)]
    pub isautomatic: Option<bool>,
    #[serde(default)]
    pub istrackeduser: Option<bool>,
    #[serde(default)]
    pub uservisible: Option<bool>,
    #[serde(default)]
    pub details: Vec<CompletionRuleDetail>,
}

impl ActivityCompletion {
    pub fn completed_at(&self) -> Option<DateTime<Utc>> {
        moodle_time(Some(self.timecompleted))
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompletionRuleDetail {
    pub rulename: String,
    pub rulevalue: CompletionRuleValue,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompletionRuleValue {
    pub status: i64,
    pub description: String,
}

/// `{completionstatus, warnings}` from `core_completion_get_course_completion_status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CourseCompletionResponse {
    pub completionstatus: CourseCompletionStatus,
    #[serde(default)]
    pub warnings: Vec<MoodleWarning>,
}

/// Aggregated by Moodle's cron, so it can lag the grades.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CourseCompletionStatus {
    pub completed: bool,
    /// 1 all criteria, 2 any.
    pub aggregation: i64,
    pub completions: Vec<CourseCompletionCriterion>,
}

impl CourseCompletionStatus {
    /// Moodle gives no course-level completion time: the latest criterion time
    /// stands in for it, and only when the course is complete.
    pub fn completed_at(&self) -> Option<DateTime<Utc>> {
        if !self.completed {
            return None;
        }
        self.completions
            .iter()
            .filter_map(|c| moodle_time(c.timecompleted))
            .max()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CourseCompletionCriterion {
    #[serde(rename = "type")]
    pub kind: i64,
    pub title: String,
    pub status: String,
    pub complete: bool,
    #[serde(default)]
    pub timecompleted: Option<i64>,
    #[serde(default)]
    pub details: Option<CourseCompletionCriterionDetails>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CourseCompletionCriterionDetails {
    #[serde(rename = "type")]
    pub kind: String,
    pub criteria: String,
    pub requirement: String,
    pub status: String,
}
