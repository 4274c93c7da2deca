//! Enrolments: who is in a course, which courses a user is in, manual enrol/unenrol.

use super::wire::{opt_bool_01, opt_flag};
use super::{NameValue, moodle_time};
use crate::moodle::ids::{MoodleCategoryId, MoodleCourseId, MoodleRoleId, MoodleUserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `core_enrol_get_enrolled_users`: `courseid=2&options[0][name]=userfields&options[0][value]=id,email`.
#[derive(Debug, Clone, Serialize)]
pub struct GetEnrolledUsersRequest {
    pub courseid: MoodleCourseId,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<NameValue>,
}

/// A user enrolled in a course; with the `userfields` option only the listed
/// fields are present.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EnrolledUser {
    pub id: MoodleUserId,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub fullname: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub idnumber: Option<String>,
    #[serde(default)]
    pub firstaccess: Option<i64>,
    #[serde(default)]
    pub lastaccess: Option<i64>,
    #[serde(default)]
    pub lastcourseaccess: Option<i64>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub roles: Vec<EnrolledRole>,
    #[serde(default)]
    pub enrolledcourses: Vec<EnrolledCourseRef>,
}

impl EnrolledUser {
    pub fn has_role(&self, role: MoodleRoleId) -> bool {
        self.roles.iter().any(|r| r.roleid == role)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EnrolledRole {
    pub roleid: MoodleRoleId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub shortname: String,
    #[serde(default)]
    pub sortorder: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EnrolledCourseRef {
    pub id: MoodleCourseId,
    pub fullname: String,
    pub shortname: String,
}

/// `core_enrol_get_users_courses`: `userid=4`.
#[derive(Debug, Clone, Serialize)]
pub struct GetUsersCoursesRequest {
    pub userid: MoodleUserId,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_bool_01"
    )]
    pub returnusercount: Option<bool>,
}

/// A course a user is enrolled in, with their progress and completion.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserCourse {
    pub id: MoodleCourseId,
    pub shortname: String,
    pub fullname: String,
    #[serde(default)]
    pub displayname: String,
    #[serde(default)]
    pub enrolledusercount: Option<i64>,
    #[serde(default)]
    pub idnumber: Option<String>,
    #[serde(default, deserialize_with = "opt_flag")]
    pub visible: Option<bool>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub summaryformat: Option<i64>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default, deserialize_with = "opt_flag")]
    pub showgrades: Option<bool>,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default, deserialize_with = "opt_flag")]
    pub enablecompletion: Option<bool>,
    #[serde(default)]
    pub completionhascriteria: Option<bool>,
    #[serde(default)]
    pub completionusertracked: Option<bool>,
    #[serde(default)]
    pub category: Option<MoodleCategoryId>,
    /// Percentage of tracked activities complete; `null` without completion tracking.
    #[serde(default)]
    pub progress: Option<f64>,
    #[serde(default)]
    pub completed: Option<bool>,
    #[serde(default)]
    pub startdate: Option<i64>,
    #[serde(default)]
    pub enddate: Option<i64>,
    #[serde(default)]
    pub marker: Option<i64>,
    #[serde(default)]
    pub lastaccess: Option<i64>,
    #[serde(default)]
    pub isfavourite: Option<bool>,
    #[serde(default)]
    pub hidden: Option<bool>,
    #[serde(default)]
    pub showactivitydates: Option<bool>,
    #[serde(default)]
    pub showcompletionconditions: Option<bool>,
    #[serde(default)]
    pub timemodified: Option<i64>,
}

impl UserCourse {
    pub fn is_site(&self) -> bool {
        super::is_site_course(self.id, self.format.as_deref().unwrap_or(""))
    }
    pub fn last_access(&self) -> Option<DateTime<Utc>> {
        moodle_time(self.lastaccess)
    }
}

/// One enrolment for `enrol_manual_enrol_users`
/// (`enrolments[0][roleid]=5&enrolments[0][userid]=7&enrolments[0][courseid]=2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enrolment {
    pub roleid: MoodleRoleId,
    pub userid: MoodleUserId,
    pub courseid: MoodleCourseId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestart: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeend: Option<i64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_bool_01"
    )]
    pub suspend: Option<bool>,
}

impl Enrolment {
    pub fn new(userid: MoodleUserId, courseid: MoodleCourseId, roleid: MoodleRoleId) -> Self {
        Self {
            roleid,
            userid,
            courseid,
            timestart: None,
            timeend: None,
            suspend: None,
        }
    }

    /// The learner's access window (epoch seconds from the dates given).
    pub fn between(mut self, start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Self {
        self.timestart = start.map(|t| t.timestamp());
        self.timeend = end.map(|t| t.timestamp());
        self
    }

    /// Keeps the enrolment but suspends it (results stay readable).
    pub fn suspended(mut self, suspend: bool) -> Self {
        self.suspend = Some(suspend);
        self
    }
}

/// One unenrolment for `enrol_manual_unenrol_users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unenrolment {
    pub userid: MoodleUserId,
    pub courseid: MoodleCourseId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roleid: Option<MoodleRoleId>,
}

impl Unenrolment {
    pub fn new(userid: MoodleUserId, courseid: MoodleCourseId) -> Self {
        Self {
            userid,
            courseid,
            roleid: None,
        }
    }
}
