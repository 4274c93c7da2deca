//! Grades: `gradereport_user_get_grade_items`, and `core_grades_get_grades` for old sites.

use super::wire::flag;
use super::{MoodleWarning, moodle_time};
use crate::moodle::ids::{CourseModuleId, MoodleCourseId, MoodleUserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `gradereport_user_get_grade_items`: `courseid=2&userid=4`; `userid=0` means
/// every graded user of the course.
#[derive(Debug, Clone, Serialize)]
pub struct GetGradeItemsRequest {
    pub courseid: MoodleCourseId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userid: Option<MoodleUserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groupid: Option<i64>,
}

/// `{usergrades, warnings}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GradeItemsResponse {
    pub usergrades: Vec<UserGrades>,
    #[serde(default)]
    pub warnings: Vec<MoodleWarning>,
}

/// One user's grade items in one course.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserGrades {
    pub courseid: MoodleCourseId,
    #[serde(default)]
    pub courseidnumber: Option<String>,
    pub userid: MoodleUserId,
    #[serde(default)]
    pub userfullname: String,
    #[serde(default)]
    pub useridnumber: Option<String>,
    #[serde(default)]
    pub maxdepth: i64,
    pub gradeitems: Vec<GradeItem>,
}

/// One grade item with the user's grade. It has no pass grade: take `gradepass`
/// from `core_course_get_course_module`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GradeItem {
    pub id: i64,
    #[serde(default)]
    pub itemname: Option<String>,
    /// `mod`, `course`, `category`, `manual`.
    pub itemtype: String,
    #[serde(default)]
    pub itemmodule: Option<String>,
    #[serde(default)]
    pub iteminstance: Option<i64>,
    #[serde(default)]
    pub itemnumber: Option<i64>,
    #[serde(default)]
    pub idnumber: Option<String>,
    #[serde(default)]
    pub categoryid: Option<i64>,
    #[serde(default)]
    pub outcomeid: Option<i64>,
    #[serde(default)]
    pub scaleid: Option<i64>,
    #[serde(default)]
    pub locked: Option<bool>,
    #[serde(default)]
    pub cmid: Option<CourseModuleId>,
    #[serde(default)]
    pub weightraw: Option<f64>,
    #[serde(default)]
    pub weightformatted: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// `null` when ungraded.
    #[serde(default)]
    pub graderaw: Option<f64>,
    #[serde(default)]
    pub gradedatesubmitted: Option<i64>,
    #[serde(default)]
    pub gradedategraded: Option<i64>,
    #[serde(default)]
    pub gradehiddenbydate: Option<bool>,
    #[serde(default)]
    pub gradeneedsupdate: Option<bool>,
    #[serde(default)]
    pub gradeishidden: Option<bool>,
    #[serde(default)]
    pub gradeislocked: Option<bool>,
    #[serde(default)]
    pub gradeisoverridden: Option<bool>,
    #[serde(default)]
    pub gradeformatted: Option<String>,
    #[serde(default)]
    pub grademin: Option<f64>,
    #[serde(default)]
    pub grademax: Option<f64>,
    #[serde(default)]
    pub rangeformatted: Option<String>,
    #[serde(default)]
    pub percentageformatted: Option<String>,
    #[serde(default)]
    pub feedback: Option<String>,
    #[serde(default)]
    pub feedbackformat: Option<i64>,
}

impl GradeItem {
    /// The course total (`itemtype: "course"`).
    pub fn is_course_total(&self) -> bool {
        self.itemtype == "course"
    }
}

/// `core_grades_get_grades` (Moodle 3.x and earlier): `courseid=2&userids[0]=4`.
#[derive(Debug, Clone, Serialize)]
pub struct LegacyGetGradesRequest {
    pub courseid: MoodleCourseId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activityid: Option<CourseModuleId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub userids: Vec<MoodleUserId>,
}

/// `{items, outcomes}` from `core_grades_get_grades`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LegacyGradesResponse {
    #[serde(default)]
    pub items: Vec<LegacyGradeItem>,
    #[serde(default)]
    pub outcomes: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LegacyGradeItem {
    /// The course module id, or `"course"` for the course total.
    pub activityid: String,
    #[serde(default)]
    pub itemnumber: Option<i64>,
    #[serde(default)]
    pub scaleid: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub grademin: Option<f64>,
    #[serde(default)]
    pub grademax: Option<f64>,
    /// Unlike the grade report, the old function has the pass grade.
    #[serde(default)]
    pub gradepass: Option<f64>,
    #[serde(default, deserialize_with = "super::wire::opt_flag")]
    pub locked: Option<bool>,
    #[serde(default, deserialize_with = "super::wire::opt_flag")]
    pub hidden: Option<bool>,
    #[serde(default)]
    pub grades: Vec<LegacyGrade>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LegacyGrade {
    pub userid: MoodleUserId,
    #[serde(default)]
    pub grade: Option<f64>,
    #[serde(default, deserialize_with = "flag")]
    pub locked: bool,
    #[serde(default, deserialize_with = "flag")]
    pub hidden: bool,
    #[serde(default, deserialize_with = "flag")]
    pub overridden: bool,
    #[serde(default)]
    pub feedback: Option<String>,
    #[serde(default)]
    pub feedbackformat: Option<i64>,
    #[serde(default)]
    pub usermodified: Option<i64>,
    #[serde(default)]
    pub datesubmitted: Option<i64>,
    #[serde(default)]
    pub dategraded: Option<i64>,
    #[serde(default)]
    pub str_grade: Option<String>,
    #[serde(default)]
    pub str_long_grade: Option<String>,
    #[serde(default)]
    pub str_feedback: Option<String>,
}

/// One learner's grades in a course, whichever function read them.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnerGrades {
    pub user: MoodleUserId,
    pub items: Vec<ActivityGrade>,
}

/// One grade, in learnbridge's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityGrade {
    /// The activity; `None` for the course total and manual items.
    pub cmid: Option<CourseModuleId>,
    pub course_total: bool,
    /// `quiz`, `assign`, ...
    pub module: Option<String>,
    pub name: Option<String>,
    pub idnumber: Option<String>,
    /// `None` when not graded.
    pub grade: Option<f64>,
    pub grade_min: Option<f64>,
    pub grade_max: Option<f64>,
    /// Known only from the old function; read it from the course module otherwise.
    pub grade_pass: Option<f64>,
    pub graded_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
}

impl From<UserGrades> for LearnerGrades {
    fn from(u: UserGrades) -> Self {
        LearnerGrades {
            user: u.userid,
            items: u
                .gradeitems
                .into_iter()
                .map(|g| ActivityGrade {
                    cmid: g.cmid,
                    course_total: g.is_course_total(),
                    module: g.itemmodule,
                    name: g.itemname,
                    idnumber: g.idnumber,
                    grade: g.graderaw,
                    grade_min: g.grademin,
                    grade_max: g.grademax,
                    grade_pass: None,
                    graded_at: moodle_time(g.gradedategraded),
                    submitted_at: moodle_time(g.gradedatesubmitted),
                })
                .collect(),
        }
    }
}

/// Regroups the old function's item-major answer by learner.
pub fn legacy_to_learners(response: LegacyGradesResponse) -> Vec<LearnerGrades> {
    let mut learners: Vec<LearnerGrades> = Vec::new();
    for item in response.items {
        let course_total = item.activityid == "course";
        let cmid = item.activityid.parse::<i64>().ok().map(CourseModuleId);
        for g in item.grades {
            let grade = ActivityGrade {
                cmid,
                course_total,
                module: None,
                name: item.name.clone(),
                idnumber: None,
                grade: g.grade,
                grade_min: item.grademin,
                grade_max: item.grademax,
                grade_pass: item.gradepass.filter(|p| *p > 0.0),
                graded_at: moodle_time(g.dategraded),
                submitted_at: moodle_time(g.datesubmitted),
            };
            match learners.iter_mut().find(|l| l.user == g.userid) {
                Some(l) => l.items.push(grade),
                None => learners.push(LearnerGrades {
                    user: g.userid,
                    items: vec![grade],
                }),
            }
        }
    }
    learners
}
