//! Categories, courses, course contents and course modules.

use super::wire::{bool_01, flag, opt_bool_01, opt_flag};
use super::{Criterion, MoodleWarning, NameValue, moodle_time};
use crate::moodle::ids::{CourseModuleId, MoodleCategoryId, MoodleCourseId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------- categories

/// `core_course_get_categories`: `criteria[0][key]=idnumber&criteria[0][value]=...`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GetCategoriesRequest {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<Criterion>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_bool_01"
    )]
    pub addsubcategories: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Category {
    pub id: MoodleCategoryId,
    pub name: String,
    #[serde(default)]
    pub idnumber: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub descriptionformat: i64,
    pub parent: i64,
    #[serde(default)]
    pub sortorder: i64,
    #[serde(default)]
    pub coursecount: i64,
    #[serde(deserialize_with = "flag")]
    pub visible: bool,
    #[serde(default, deserialize_with = "opt_flag")]
    pub visibleold: Option<bool>,
    #[serde(default)]
    pub timemodified: i64,
    #[serde(default)]
    pub depth: i64,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub theme: Option<String>,
}

// ---------------------------------------------------------------- courses

/// `core_course_get_courses_by_field`: `field=idnumber&value=OCC-1001`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GetCoursesByFieldRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A field `core_course_get_courses_by_field` can search by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CourseField {
    Id,
    Ids,
    Shortname,
    Idnumber,
    Category,
}

impl CourseField {
    pub fn name(self) -> &'static str {
        match self {
            CourseField::Id => "id",
            CourseField::Ids => "ids",
            CourseField::Shortname => "shortname",
            CourseField::Idnumber => "idnumber",
            CourseField::Category => "category",
        }
    }
}

/// `{courses, warnings}` from `core_course_get_courses_by_field`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CoursesByField {
    pub courses: Vec<CourseSummary>,
    #[serde(default)]
    pub warnings: Vec<MoodleWarning>,
}

/// A course as `core_course_get_courses_by_field` describes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CourseSummary {
    pub id: MoodleCourseId,
    pub fullname: String,
    #[serde(default)]
    pub displayname: String,
    pub shortname: String,
    #[serde(default)]
    pub categoryid: Option<MoodleCategoryId>,
    #[serde(default)]
    pub categoryname: Option<String>,
    #[serde(default)]
    pub sortorder: Option<i64>,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub summaryformat: Option<i64>,
    #[serde(default)]
    pub contacts: Vec<CourseContact>,
    #[serde(default)]
    pub enrollmentmethods: Vec<String>,
    #[serde(default)]
    pub idnumber: Option<String>,
    pub format: String,
    #[serde(default)]
    pub showgrades: Option<i64>,
    #[serde(default)]
    pub newsitems: Option<i64>,
    #[serde(default)]
    pub startdate: i64,
    #[serde(default)]
    pub enddate: i64,
    #[serde(default)]
    pub maxbytes: Option<i64>,
    #[serde(default)]
    pub showreports: Option<i64>,
    #[serde(deserialize_with = "flag")]
    pub visible: bool,
    #[serde(default)]
    pub groupmode: Option<i64>,
    #[serde(default)]
    pub groupmodeforce: Option<i64>,
    #[serde(default)]
    pub defaultgroupingid: Option<i64>,
    #[serde(default, deserialize_with = "opt_flag")]
    pub enablecompletion: Option<bool>,
    #[serde(default)]
    pub completionnotify: Option<i64>,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub theme: Option<String>,
    #[serde(default)]
    pub marker: Option<i64>,
    #[serde(default)]
    pub timecreated: Option<i64>,
    #[serde(default)]
    pub timemodified: Option<i64>,
    #[serde(default)]
    pub courseformatoptions: Vec<FormatOption>,
    #[serde(default)]
    pub showactivitydates: Option<bool>,
    #[serde(default)]
    pub showcompletionconditions: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CourseContact {
    pub id: i64,
    pub fullname: String,
}

/// `courseformatoptions[]`: the value is a number or a string depending on the option.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FormatOption {
    pub name: String,
    pub value: serde_json::Value,
}

/// `core_course_get_courses`: `options[ids][0]=2`; no ids means every course.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GetCoursesRequest {
    #[serde(skip_serializing_if = "GetCoursesOptions::is_empty")]
    pub options: GetCoursesOptions,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GetCoursesOptions {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<MoodleCourseId>,
}

impl GetCoursesOptions {
    fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A course as `core_course_get_courses` describes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Course {
    pub id: MoodleCourseId,
    pub shortname: String,
    pub categoryid: MoodleCategoryId,
    #[serde(default)]
    pub categorysortorder: Option<i64>,
    pub fullname: String,
    #[serde(default)]
    pub displayname: String,
    #[serde(default)]
    pub idnumber: Option<String>,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub summaryformat: Option<i64>,
    pub format: String,
    #[serde(default)]
    pub showgrades: Option<i64>,
    #[serde(default)]
    pub newsitems: Option<i64>,
    #[serde(default)]
    pub startdate: i64,
    #[serde(default)]
    pub enddate: i64,
    #[serde(default)]
    pub numsections: Option<i64>,
    #[serde(default)]
    pub maxbytes: Option<i64>,
    #[serde(default)]
    pub showreports: Option<i64>,
    #[serde(deserialize_with = "flag")]
    pub visible: bool,
    #[serde(default)]
    pub hiddensections: Option<i64>,
    #[serde(default)]
    pub groupmode: Option<i64>,
    #[serde(default)]
    pub groupmodeforce: Option<i64>,
    #[serde(default)]
    pub defaultgroupingid: Option<i64>,
    #[serde(default)]
    pub timecreated: Option<i64>,
    #[serde(default)]
    pub timemodified: Option<i64>,
    #[serde(default, deserialize_with = "opt_flag")]
    pub enablecompletion: Option<bool>,
    #[serde(default)]
    pub completionnotify: Option<i64>,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub forcetheme: Option<String>,
    #[serde(default)]
    pub courseformatoptions: Vec<FormatOption>,
    #[serde(default)]
    pub showactivitydates: Option<bool>,
    #[serde(default)]
    pub showcompletionconditions: Option<bool>,
}

/// Whether a course is the site course (the front page): id 1 or format `site`.
pub fn is_site_course(id: MoodleCourseId, format: &str) -> bool {
    id.is_site() || format == "site"
}

impl Course {
    pub fn is_site(&self) -> bool {
        is_site_course(self.id, &self.format)
    }
    pub fn start(&self) -> Option<DateTime<Utc>> {
        moodle_time(Some(self.startdate))
    }
    pub fn end(&self) -> Option<DateTime<Utc>> {
        moodle_time(Some(self.enddate))
    }
}

impl CourseSummary {
    pub fn is_site(&self) -> bool {
        is_site_course(self.id, &self.format)
    }
}

// ---------------------------------------------------------------- contents

/// `core_course_get_contents`: `courseid=2`.
#[derive(Debug, Clone, Serialize)]
pub struct GetContentsRequest {
    pub courseid: MoodleCourseId,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<NameValue>,
}

/// One section of a course with its modules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CourseSection {
    pub id: i64,
    pub name: String,
    #[serde(default, deserialize_with = "opt_flag")]
    pub visible: Option<bool>,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub summaryformat: i64,
    #[serde(default)]
    pub section: i64,
    #[serde(default)]
    pub hiddenbynumsections: Option<i64>,
    #[serde(default)]
    pub uservisible: Option<bool>,
    #[serde(default)]
    pub modules: Vec<ContentModule>,
}

/// A module as `core_course_get_contents` lists it (no `idnumber` here: use
/// `core_course_get_course_module` for that and the pass grade).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ContentModule {
    pub id: CourseModuleId,
    #[serde(default)]
    pub url: Option<String>,
    pub name: String,
    #[serde(default)]
    pub instance: Option<i64>,
    #[serde(default)]
    pub contextid: Option<i64>,
    #[serde(default, deserialize_with = "opt_flag")]
    pub visible: Option<bool>,
    #[serde(default)]
    pub uservisible: Option<bool>,
    #[serde(default, deserialize_with = "opt_flag")]
    pub visibleoncoursepage: Option<bool>,
    #[serde(default)]
    pub modicon: Option<String>,
    pub modname: String,
    #[serde(default)]
    pub modplural: Option<String>,
    #[serde(default)]
    pub availability: Option<String>,
    #[serde(default)]
    pub indent: Option<i64>,
    /// 0 none, 1 manual, 2 automatic.
    #[serde(default)]
    pub completion: Option<i64>,
    #[serde(default)]
    pub completiondata: Option<ModuleCompletionData>,
    #[serde(default)]
    pub downloadcontent: Option<i64>,
    #[serde(default)]
    pub groupmode: Option<i64>,
}

/// The viewing user's completion of a module (for the token's user: rarely useful).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModuleCompletionData {
    pub state: i64,
    #[serde(default)]
    pub timecompleted: i64,
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
}

// ---------------------------------------------------------------- course module

/// `core_course_get_course_module`: `cmid=1`.
#[derive(Debug, Clone, Serialize)]
pub struct GetCourseModuleRequest {
    pub cmid: CourseModuleId,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CourseModuleResponse {
    pub cm: CourseModule,
    #[serde(default)]
    pub warnings: Vec<MoodleWarning>,
}

/// A course module with its idnumber, completion settings and grade settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CourseModule {
    pub id: CourseModuleId,
    pub course: MoodleCourseId,
    #[serde(default)]
    pub module: Option<i64>,
    pub name: String,
    pub modname: String,
    #[serde(default)]
    pub instance: Option<i64>,
    #[serde(default)]
    pub section: Option<i64>,
    #[serde(default)]
    pub sectionnum: Option<i64>,
    #[serde(default)]
    pub groupmode: Option<i64>,
    #[serde(default)]
    pub groupingid: Option<i64>,
    /// 0 none, 1 manual, 2 automatic.
    #[serde(default)]
    pub completion: Option<i64>,
    #[serde(default)]
    pub idnumber: Option<String>,
    #[serde(default)]
    pub added: Option<i64>,
    #[serde(default)]
    pub score: Option<i64>,
    #[serde(default)]
    pub indent: Option<i64>,
    #[serde(default, deserialize_with = "opt_flag")]
    pub visible: Option<bool>,
    #[serde(default, deserialize_with = "opt_flag")]
    pub visibleoncoursepage: Option<bool>,
    #[serde(default)]
    pub visibleold: Option<i64>,
    #[serde(default)]
    pub completiongradeitemnumber: Option<i64>,
    #[serde(default)]
    pub completionpassgrade: Option<i64>,
    #[serde(default)]
    pub completionview: Option<i64>,
    #[serde(default)]
    pub completionexpected: Option<i64>,
    #[serde(default)]
    pub showdescription: Option<i64>,
    #[serde(default)]
    pub downloadcontent: Option<i64>,
    #[serde(default)]
    pub availability: Option<String>,
    /// Maximum grade, for graded modules.
    #[serde(default)]
    pub grade: Option<f64>,
    /// The pass grade as Moodle sends it: a string (`"6.00"`).
    #[serde(default)]
    pub gradepass: Option<String>,
    #[serde(default)]
    pub gradecat: Option<i64>,
}

impl CourseModule {
    /// The pass grade as a number; `None` when the module has none (or it is 0).
    pub fn pass_grade(&self) -> Option<f64> {
        let value: f64 = self.gradepass.as_deref()?.trim().parse().ok()?;
        (value > 0.0).then_some(value)
    }
}

// ---------------------------------------------------------------- create / update / import

/// One course for `core_course_create_courses` (`courses[0][fullname]=...`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewCourse {
    pub fullname: String,
    pub shortname: String,
    pub categoryid: MoodleCategoryId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idnumber: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summaryformat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startdate: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enddate: Option<i64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_bool_01"
    )]
    pub visible: Option<bool>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_bool_01"
    )]
    pub enablecompletion: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numsections: Option<i64>,
}

impl NewCourse {
    pub fn new(
        fullname: impl Into<String>,
        shortname: impl Into<String>,
        categoryid: MoodleCategoryId,
    ) -> Self {
        Self {
            fullname: fullname.into(),
            shortname: shortname.into(),
            categoryid,
            idnumber: None,
            summary: None,
            summaryformat: None,
            format: None,
            startdate: None,
            enddate: None,
            visible: None,
            enablecompletion: None,
            numsections: None,
        }
    }
}

/// `[{id, shortname}]` from `core_course_create_courses`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreatedCourse {
    pub id: MoodleCourseId,
    pub shortname: String,
}

/// One course change for `core_course_update_courses`: only the fields set are sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CourseUpdate {
    pub id: MoodleCourseId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fullname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shortname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categoryid: Option<MoodleCategoryId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idnumber: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startdate: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enddate: Option<i64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_bool_01"
    )]
    pub visible: Option<bool>,
}

impl CourseUpdate {
    pub fn new(id: MoodleCourseId) -> Self {
        Self {
            id,
            fullname: None,
            shortname: None,
            categoryid: None,
            idnumber: None,
            summary: None,
            startdate: None,
            enddate: None,
            visible: None,
        }
    }
}

/// `{warnings}` from the update functions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct WarningsOnly {
    #[serde(default)]
    pub warnings: Vec<MoodleWarning>,
}

/// `core_course_import_course`: `importfrom=2&importto=3&deletecontent=0`.
#[derive(Debug, Clone, Serialize)]
pub struct ImportCourseRequest {
    pub importfrom: MoodleCourseId,
    pub importto: MoodleCourseId,
    #[serde(serialize_with = "bool_01")]
    pub deletecontent: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<NameValue>,
}
