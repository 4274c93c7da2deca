//! The simulated site's state: what a JSON fixture seeds and `snapshot()` returns.

use serde::{Deserialize, Serialize};

mod samples;

pub use samples::{SYDNEY_ADMIN_PASSWORD, SYDNEY_SAMPLE_TOKEN, SYDNEY_USER_PASSWORD};

/// Site-wide settings that change how Moodle answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SiteSettings {
    pub sitename: String,
    /// Short name of the site course (id 1).
    pub shortname: String,
    pub summary: String,
    pub siteurl: String,
    pub release: String,
    pub version: String,
    /// Theme revision used in image URLs.
    pub themerev: i64,
    /// `$CFG->allowaccountssameemail` (0 by default: emails are unique).
    pub allowaccountssameemail: bool,
    /// `$CFG->passwordpolicy`: 8 chars, 1 digit, 1 lower, 1 upper, 1 special.
    pub passwordpolicy: bool,
    /// `$CFG->extendedusernamechars`.
    pub extendedusernamechars: bool,
    /// `$CFG->debug` >= DEBUG_NORMAL: errors carry `debuginfo`.
    pub debug: bool,
    /// An old (3.x) site: `core_grades_get_grades` still exists.
    pub old_site: bool,
    /// `$CFG->gradebookroles`: roles whose users are graded.
    pub gradebookroles: Vec<i64>,
    /// Enrol plugins a new course gets an instance of (`manual` for enrolment by web service).
    pub default_enrol_plugins: Vec<String>,
    /// `$CFG->timezone`: the site's default time zone (an IANA name), which users whose
    /// `timezone` is `"99"` follow; `tool_mobile_get_config` section `locationsettings`
    /// reports it.
    pub timezone: String,
    /// `$CFG->forcetimezone`: `"99"` (not forced: each user's own zone applies) or a zone.
    pub forcetimezone: String,
    /// `$CFG->recovergradesdefault`: whether re-enrolling a user restores the gradebook
    /// grades deleted when their last enrolment in the course was removed (off by default).
    pub recovergradesdefault: bool,
}

impl Default for SiteSettings {
    fn default() -> Self {
        Self {
            sitename: "Moodle Acceptance Peer".into(),
            shortname: "acceptance".into(),
            summary: "Loopback-only test peer".into(),
            siteurl: "http://127.0.0.1:8081".into(),
            release: "4.3 (Build: 20231009)".into(),
            version: "2023100900".into(),
            themerev: 1_795_393_631,
            allowaccountssameemail: false,
            passwordpolicy: true,
            extendedusernamechars: true,
            debug: false,
            old_site: false,
            gradebookroles: vec![5],
            default_enrol_plugins: vec!["manual".into()],
            timezone: "UTC".into(),
            forcetimezone: "99".into(),
            recovergradesdefault: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub idnumber: Option<String>,
    pub description: String,
    /// 1 (HTML) for the default category, 0 for ones made in the admin pages with no text.
    pub descriptionformat: i64,
    pub parent: i64,
    pub sortorder: i64,
    pub visible: i64,
    pub timemodified: i64,
}

impl Default for Category {
    fn default() -> Self {
        Self {
            id: 0,
            name: String::new(),
            idnumber: None,
            description: String::new(),
            descriptionformat: 1,
            parent: 0,
            sortorder: 10000,
            visible: 1,
            timemodified: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Course {
    pub id: i64,
    /// Category id (0 for the site course).
    pub category: i64,
    pub sortorder: i64,
    pub fullname: String,
    pub shortname: String,
    pub idnumber: String,
    pub summary: String,
    pub format: String,
    pub showgrades: i64,
    pub newsitems: i64,
    pub startdate: i64,
    pub enddate: i64,
    pub numsections: i64,
    pub visible: i64,
    pub groupmode: i64,
    pub timecreated: i64,
    pub timemodified: i64,
    pub enablecompletion: i64,
    pub lang: String,
    pub cacherev: i64,
    /// Context id of the course (used in file URLs).
    pub contextid: i64,
    /// Grade item id of the course total.
    pub grade_item_id: Option<i64>,
    /// Id of the course's top grade category (the course total's `iteminstance`, the
    /// activities' `categoryid`); the course total's item id when not given.
    pub grade_category_id: Option<i64>,
    /// Course completion aggregation: 1 all, 2 any.
    pub completion_aggregation: i64,
    /// Course completion criteria: activity completion of these cmids.
    pub completion_criteria: Vec<i64>,
}

impl Default for Course {
    fn default() -> Self {
        Self {
            id: 0,
            category: 1,
            sortorder: 10001,
            fullname: String::new(),
            shortname: String::new(),
            idnumber: String::new(),
            summary: String::new(),
            format: "topics".into(),
            showgrades: 1,
            newsitems: 0,
            startdate: 0,
            enddate: 0,
            numsections: 1,
            visible: 1,
            groupmode: 0,
            timecreated: 0,
            timemodified: 0,
            enablecompletion: 0,
            lang: String::new(),
            cacherev: 0,
            contextid: 0,
            grade_item_id: None,
            grade_category_id: None,
            completion_aggregation: 1,
            completion_criteria: Vec::new(),
        }
    }
}

impl Course {
    pub fn is_site(&self) -> bool {
        self.format == "site"
    }

    /// The course's top grade category id.
    pub fn grade_category(&self) -> i64 {
        self.grade_category_id.or(self.grade_item_id).unwrap_or(1)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Section {
    pub id: i64,
    pub course: i64,
    /// Section number (0 = General).
    pub section: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CourseModule {
    /// The cmid.
    pub id: i64,
    pub course: i64,
    /// Section id (not number).
    pub section: i64,
    /// Id of the module type (quiz 17, page 16, ...).
    pub module: i64,
    pub modname: String,
    pub instance: i64,
    pub name: String,
    pub idnumber: String,
    /// Completion tracking: 0 none, 1 manual, 2 automatic.
    pub completion: i64,
    pub completionusegrade: bool,
    pub completionpassgrade: bool,
    pub grademax: Option<f64>,
    pub gradepass: Option<f64>,
    pub grade_item_id: Option<i64>,
    pub contextid: i64,
    pub added: i64,
    pub visible: i64,
}

impl Default for CourseModule {
    fn default() -> Self {
        Self {
            id: 0,
            course: 0,
            section: 0,
            module: 0,
            modname: String::new(),
            instance: 1,
            name: String::new(),
            idnumber: String::new(),
            completion: 0,
            completionusegrade: false,
            completionpassgrade: false,
            grademax: None,
            gradepass: None,
            grade_item_id: None,
            contextid: 0,
            added: 0,
            visible: 1,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomField {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub firstname: String,
    pub lastname: String,
    pub email: String,
    pub idnumber: String,
    pub auth: String,
    pub suspended: bool,
    pub confirmed: bool,
    pub deleted: bool,
    pub lang: String,
    pub theme: String,
    pub timezone: String,
    pub mailformat: i64,
    pub city: String,
    pub country: String,
    pub department: String,
    pub institution: String,
    pub firstaccess: i64,
    pub lastaccess: i64,
    pub customfields: Vec<CustomField>,
}

impl Default for User {
    fn default() -> Self {
        Self {
            id: 0,
            username: String::new(),
            password: String::new(),
            firstname: String::new(),
            lastname: String::new(),
            email: String::new(),
            idnumber: String::new(),
            auth: "manual".into(),
            suspended: false,
            confirmed: true,
            deleted: false,
            lang: "en".into(),
            theme: String::new(),
            timezone: "99".into(),
            mailformat: 1,
            city: String::new(),
            country: String::new(),
            department: String::new(),
            institution: String::new(),
            firstaccess: 0,
            lastaccess: 0,
            customfields: Vec::new(),
        }
    }
}

impl User {
    pub fn fullname(&self) -> String {
        format!("{} {}", self.firstname, self.lastname)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Role {
    pub id: i64,
    pub shortname: String,
    pub name: String,
    pub sortorder: i64,
    /// Whether the token's user may assign it in a course.
    pub assignable: bool,
    /// Capabilities (for `withcapability` filters), e.g. `mod/assign:submit`.
    pub capabilities: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnrolInstance {
    pub id: i64,
    pub courseid: i64,
    /// Plugin: `manual`, `self`, `guest`, ...
    pub enrol: String,
    /// 0 enabled, 1 disabled.
    pub status: i64,
    pub roleid: i64,
}

impl Default for EnrolInstance {
    fn default() -> Self {
        Self {
            id: 0,
            courseid: 0,
            enrol: "manual".into(),
            status: 0,
            roleid: 5,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserEnrolment {
    pub enrolid: i64,
    pub userid: i64,
    /// 0 active, 1 suspended.
    pub status: i64,
    pub timestart: i64,
    pub timeend: i64,
    pub timecreated: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoleAssignment {
    pub courseid: i64,
    pub userid: i64,
    pub roleid: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Grade {
    pub cmid: i64,
    pub userid: i64,
    /// None: the grade record exists but has no value.
    pub grade: Option<f64>,
    pub feedback: String,
    pub timegraded: i64,
    pub timesubmitted: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActivityCompletion {
    pub cmid: i64,
    pub userid: i64,
    /// 0 incomplete, 1 complete, 2 complete-pass, 3 complete-fail.
    pub state: u8,
    pub timemodified: i64,
}

/// A course completion criterion met (as aggregated by the completion cron).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CriteriaCompletion {
    pub courseid: i64,
    pub userid: i64,
    pub cmid: i64,
    pub timecompleted: i64,
}

/// Course completion (as aggregated by the completion cron).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CourseCompletion {
    pub courseid: i64,
    pub userid: i64,
    pub timecompleted: i64,
}

/// A user's last access to a course (Moodle's `user_lastaccess`: written when
/// the user opens the course or anything in it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CourseAccess {
    pub userid: i64,
    pub courseid: i64,
    pub timeaccess: i64,
}

/// An external service: the functions its tokens may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Service {
    pub shortname: String,
    pub functions: Vec<String>,
    /// A disabled service is "not available" to `login/token.php`.
    pub enabled: bool,
    /// "Authorised users only": `login/token.php` answers `usernotallowed` to anyone
    /// not in `authorised_users`.
    pub restricted: bool,
    /// User ids allowed on a restricted service.
    pub authorised_users: Vec<i64>,
}

impl Default for Service {
    fn default() -> Self {
        Self {
            shortname: String::new(),
            functions: Vec::new(),
            enabled: true,
            restricted: false,
            authorised_users: Vec::new(),
        }
    }
}

impl Service {
    /// An enabled service open to every user, with these functions.
    pub fn new(shortname: &str, functions: &[&str]) -> Self {
        Self {
            shortname: shortname.to_owned(),
            functions: functions.iter().map(|f| (*f).to_owned()).collect(),
            ..Self::default()
        }
    }

    /// Restricted to these users ("authorised users only").
    pub fn restricted_to(mut self, userids: &[i64]) -> Self {
        self.restricted = true;
        self.authorised_users = userids.to_vec();
        self
    }
}

/// Gradebook grades restored from grade history when a user was enrolled again with
/// `recovergradesdefault` on, not yet regraded: the report shows them without weights,
/// and the course total as graded at the recovery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecoveredGrades {
    pub courseid: i64,
    pub userid: i64,
    /// When they were restored.
    pub at: i64,
}

/// One finished quiz attempt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuizAttempt {
    pub cmid: i64,
    pub userid: i64,
    /// 1, 2, ...
    pub attempt: i64,
    /// The attempt's grade, on the quiz's scale (0..=grademax).
    pub grade: f64,
    pub timestart: i64,
    pub timefinish: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Token {
    pub token: String,
    pub userid: i64,
    /// Service short name.
    pub service: String,
}

/// A username/password that `login/token.php` exchanges for a token of a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Login {
    pub username: String,
    pub password: String,
    pub service: String,
    pub token: String,
}

/// The whole simulated site. Missing fields in a JSON fixture take the defaults of an
/// empty site (site course, Category 1, guest and admin, standard roles).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MoodleFixture {
    pub site: SiteSettings,
    pub categories: Vec<Category>,
    pub courses: Vec<Course>,
    pub sections: Vec<Section>,
    pub modules: Vec<CourseModule>,
    pub users: Vec<User>,
    pub roles: Vec<Role>,
    pub enrol_instances: Vec<EnrolInstance>,
    pub user_enrolments: Vec<UserEnrolment>,
    pub role_assignments: Vec<RoleAssignment>,
    pub grades: Vec<Grade>,
    /// Gradebook grades deleted when a user's last enrolment in the course was removed
    /// (Moodle's grade history), restored on re-enrolment with `recovergradesdefault`.
    /// The activity's own record (the assignment's grade, the quiz's best grade) stays.
    pub grade_history: Vec<Grade>,
    pub recovered_grades: Vec<RecoveredGrades>,
    pub quiz_attempts: Vec<QuizAttempt>,
    pub activity_completions: Vec<ActivityCompletion>,
    pub criteria_completions: Vec<CriteriaCompletion>,
    pub course_completions: Vec<CourseCompletion>,
    pub user_lastaccess: Vec<CourseAccess>,
    pub services: Vec<Service>,
    pub tokens: Vec<Token>,
    pub logins: Vec<Login>,
}

/// The token recorded in `moodle-samples/` (a local test value).
pub const SAMPLE_TOKEN: &str = "acce55ed0cc1001a11ce5e57ab1e0001";

/// The functions of the samples' service, in the order `core_webservice_get_site_info` lists them.
pub const SAMPLE_SERVICE_FUNCTIONS: &[&str] = &[
    "core_webservice_get_site_info",
    "core_course_get_categories",
    "core_course_get_courses_by_field",
    "core_course_get_contents",
    "core_course_create_courses",
    "core_course_update_courses",
    "core_user_get_users",
    "core_user_get_users_by_field",
    "core_user_create_users",
    "core_user_update_users",
    "core_enrol_get_enrolled_users",
    "core_enrol_get_users_courses",
    "enrol_manual_enrol_users",
    "enrol_manual_unenrol_users",
    "core_course_get_course_module",
    "gradereport_user_get_grade_items",
    "core_completion_get_course_completion_status",
    "core_completion_get_activities_completion_status",
    "core_course_get_courses",
    "core_course_import_course",
    "core_course_get_course_module_by_instance",
    "core_course_delete_courses",
    "core_user_delete_users",
    "core_enrol_get_course_enrolment_methods",
    "gradereport_user_get_grades_table",
    "core_grades_get_gradeitems",
    "mod_assign_get_grades",
    "mod_quiz_get_user_best_grade",
    "core_completion_update_activity_completion_status_manually",
];

fn standard_roles() -> Vec<Role> {
    let role = |id: i64, shortname: &str, assignable: bool, caps: &[&str]| Role {
        id,
        shortname: shortname.into(),
        name: String::new(),
        sortorder: 0,
        assignable,
        capabilities: caps.iter().map(|c| (*c).to_owned()).collect(),
    };
    vec![
        role(
            1,
            "manager",
            true,
            &["moodle/grade:viewall", "report/progress:view"],
        ),
        role(2, "coursecreator", false, &[]),
        role(
            3,
            "editingteacher",
            true,
            &[
                "moodle/grade:viewall",
                "mod/assign:grade",
                "report/progress:view",
            ],
        ),
        role(
            4,
            "teacher",
            true,
            &["moodle/grade:viewall", "mod/assign:grade"],
        ),
        role(
            5,
            "student",
            true,
            &[
                "mod/assign:submit",
                "mod/quiz:attempt",
                "moodle/course:isincompletionreports",
                "moodle/grade:view",
            ],
        ),
        role(6, "guest", false, &[]),
        role(7, "user", false, &[]),
        role(8, "frontpage", false, &[]),
    ]
}

impl Default for MoodleFixture {
    fn default() -> Self {
        let site = SiteSettings::default();
        Self {
            categories: vec![Category {
                id: 1,
                name: "Category 1".into(),
                idnumber: None,
                sortorder: 10000,
                timemodified: 1_795_393_600,
                ..Category::default()
            }],
            courses: vec![Course {
                id: 1,
                category: 0,
                sortorder: 1,
                fullname: site.sitename.clone(),
                shortname: site.shortname.clone(),
                summary: site.summary.clone(),
                format: "site".into(),
                newsitems: 3,
                numsections: 1,
                timecreated: 1_795_393_600,
                timemodified: 1_795_393_637,
                cacherev: site.themerev,
                contextid: 2,
                ..Course::default()
            }],
            users: vec![
                User {
                    id: 1,
                    username: "guest".into(),
                    firstname: "Guest user".into(),
                    lastname: " ".into(),
                    email: "root@localhost".into(),
                    ..User::default()
                },
                User {
                    id: 2,
                    username: "admin".into(),
                    password: "Admin#1234".into(),
                    firstname: "Admin".into(),
                    lastname: "User".into(),
                    email: "admin@example.com".into(),
                    ..User::default()
                },
            ],
            roles: standard_roles(),
            site,
            sections: Vec::new(),
            modules: Vec::new(),
            enrol_instances: Vec::new(),
            user_enrolments: Vec::new(),
            role_assignments: Vec::new(),
            grades: Vec::new(),
            grade_history: Vec::new(),
            recovered_grades: Vec::new(),
            quiz_attempts: Vec::new(),
            activity_completions: Vec::new(),
            criteria_completions: Vec::new(),
            course_completions: Vec::new(),
            user_lastaccess: Vec::new(),
            services: Vec::new(),
            tokens: Vec::new(),
            logins: Vec::new(),
        }
    }
}
