//! The simulated site's state: what a JSON fixture seeds and `snapshot()` returns.

use serde::{Deserialize, Serialize};

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

impl MoodleFixture {
    /// The site recorded in `moodle-samples/` (see its README).
    pub fn sample_site() -> Self {
        const T_CAT: i64 = 1_795_393_645;
        const T_GRADED: i64 = 1_795_393_646;
        let mut f = MoodleFixture::default();
        f.categories.push(Category {
            id: 2,
            name: "Acceptance Category".into(),
            idnumber: Some("ACC-CAT-1".into()),
            description: "Category used by the acceptance tests".into(),
            sortorder: 20000,
            timemodified: T_CAT,
            ..Category::default()
        });
        f.courses.push(Course {
            id: 2,
            category: 2,
            sortorder: 20001,
            fullname: "Occupational Competency Course 1001".into(),
            shortname: "OCC-1001".into(),
            idnumber: "OCC-1001".into(),
            summary: "Seeded course for the integration acceptance tests.".into(),
            format: "topics".into(),
            startdate: 1_704_067_200,
            numsections: 2,
            timecreated: T_CAT,
            timemodified: T_CAT,
            enablecompletion: 1,
            cacherev: 1_795_393_660,
            contextid: 12,
            grade_item_id: Some(1),
            completion_aggregation: 1,
            completion_criteria: vec![1, 2],
            ..Course::default()
        });
        for (id, num, name) in [(1, 0, "General"), (2, 1, "Topic 1"), (3, 2, "Topic 2")] {
            f.sections.push(Section {
                id,
                course: 2,
                section: num,
                name: name.into(),
            });
        }
        f.modules = vec![
            CourseModule {
                id: 1,
                course: 2,
                section: 2,
                module: 17,
                modname: "quiz".into(),
                name: "OCC Quiz 1".into(),
                idnumber: "OCC-QUIZ-1".into(),
                completion: 2,
                completionusegrade: true,
                completionpassgrade: true,
                grademax: Some(10.0),
                gradepass: Some(6.0),
                grade_item_id: Some(2),
                contextid: 17,
                added: T_CAT,
                ..CourseModule::default()
            },
            CourseModule {
                id: 2,
                course: 2,
                section: 2,
                module: 1,
                modname: "assign".into(),
                name: "OCC Assignment 1".into(),
                idnumber: "OCC-ASSIGN-1".into(),
                completion: 2,
                completionusegrade: true,
                completionpassgrade: true,
                grademax: Some(100.0),
                gradepass: Some(50.0),
                grade_item_id: Some(3),
                contextid: 18,
                added: T_CAT,
                ..CourseModule::default()
            },
            CourseModule {
                id: 3,
                course: 2,
                section: 2,
                module: 16,
                modname: "page".into(),
                name: "OCC Reading Page".into(),
                idnumber: "OCC-PAGE-1".into(),
                completion: 1,
                contextid: 19,
                added: T_GRADED,
                ..CourseModule::default()
            },
            CourseModule {
                id: 4,
                course: 2,
                section: 3,
                module: 13,
                modname: "lesson".into(),
                name: "OCC Lesson 1".into(),
                idnumber: "OCC-LESSON-1".into(),
                completion: 0,
                grademax: Some(100.0),
                gradepass: None,
                grade_item_id: Some(4),
                contextid: 20,
                added: T_GRADED,
                ..CourseModule::default()
            },
        ];
        let person =
            |id: i64, username: &str, first: &str, last: &str, email: &str, idn: &str| User {
                id,
                username: username.into(),
                password: "Sample#1234".into(),
                firstname: first.into(),
                lastname: last.into(),
                email: email.into(),
                idnumber: idn.into(),
                city: "Testville".into(),
                country: "NZ".into(),
                ..User::default()
            };
        f.users.extend([
            person(
                3,
                "occ.teacher1",
                "Tina",
                "Teacher",
                "teacher1@example.com",
                "TCH-001",
            ),
            person(
                4,
                "occ.student1",
                "Sam",
                "Passer",
                "student1@example.com",
                "STU-001",
            ),
            person(
                5,
                "occ.student2",
                "Fran",
                "Failer",
                "student2@example.com",
                "STU-002",
            ),
            person(
                6,
                "occ.student3",
                "Nina",
                "Nothing",
                "student3@example.com",
                "STU-003",
            ),
        ]);
        f.enrol_instances.push(EnrolInstance {
            id: 1,
            courseid: 2,
            enrol: "manual".into(),
            status: 0,
            roleid: 5,
        });
        for (userid, roleid) in [(3, 3), (4, 5), (5, 5), (6, 5)] {
            f.user_enrolments.push(UserEnrolment {
                enrolid: 1,
                userid,
                status: 0,
                timestart: 0,
                timeend: 0,
                timecreated: T_CAT,
            });
            f.role_assignments.push(RoleAssignment {
                courseid: 2,
                userid,
                roleid,
            });
        }
        let grade =
            |cmid: i64, userid: i64, g: f64, feedback: &str, submitted: Option<i64>| Grade {
                cmid,
                userid,
                grade: Some(g),
                feedback: feedback.into(),
                timegraded: T_GRADED,
                timesubmitted: submitted,
            };
        f.grades = vec![
            grade(1, 4, 10.0, "", Some(T_GRADED)),
            grade(2, 4, 85.0, "Well done.", None),
            grade(1, 5, 3.33333, "", Some(T_GRADED)),
            grade(2, 5, 30.0, "Needs more work.", None),
        ];
        let ac = |cmid: i64, userid: i64, state: u8| ActivityCompletion {
            cmid,
            userid,
            state,
            timemodified: T_GRADED,
        };
        f.activity_completions = vec![
            ac(1, 4, 2),
            ac(2, 4, 2),
            ac(3, 4, 1),
            ac(1, 5, 3),
            ac(2, 5, 3),
        ];
        f.criteria_completions = vec![
            CriteriaCompletion {
                courseid: 2,
                userid: 4,
                cmid: 1,
                timecompleted: T_GRADED,
            },
            CriteriaCompletion {
                courseid: 2,
                userid: 4,
                cmid: 2,
                timecompleted: T_GRADED,
            },
        ];
        f.course_completions = vec![CourseCompletion {
            courseid: 2,
            userid: 4,
            timecompleted: T_GRADED,
        }];
        f.services
            .push(Service::new("learnbridge", SAMPLE_SERVICE_FUNCTIONS));
        f.tokens.push(Token {
            token: SAMPLE_TOKEN.into(),
            userid: 2,
            service: "learnbridge".into(),
        });
        f
    }
}

/// The token of the Sydney site's admin for the `learnbridge` service (the same local test
/// value as the first site's).
pub const SYDNEY_SAMPLE_TOKEN: &str = SAMPLE_TOKEN;

/// The Sydney site's admin password (`login/token.php` samples).
pub const SYDNEY_ADMIN_PASSWORD: &str = "S3cret-Passw0rd!";

/// The password of the Sydney site's `smp.*` users.
pub const SYDNEY_USER_PASSWORD: &str = "Sample#2026pw";

impl MoodleFixture {
    /// The second recorded site (samples whose URL is `127.0.0.1:8880`, see the samples'
    /// README): site time zone Australia/Sydney; categories 1, 4 (`ACC-CAT-1`), 5
    /// (`SHORT-CAT`); course 7 `SMP-4001` (completion on, no course completion criteria)
    /// with quiz cmid 12 (max 10, pass 6, grading method highest) and assignment cmid 13
    /// (max 100, pass 50), both completing on grade + pass; users `taken` (6),
    /// `smp.unenrol` (310, assignment 72), `smp.recover` (311, assignment 64),
    /// `smp.retake` (312, one failed quiz attempt 3.33333 finished 1796129400) and
    /// `smp.update` (313). The `learnbridge` service is restricted to the admin and
    /// includes `tool_mobile_get_config`.
    pub fn sample_site_sydney() -> Self {
        const T_SITE: i64 = 1_796_577_791;
        const T_CAT: i64 = 1_793_566_800;
        const T_GRADED: i64 = 1_796_579_332;
        const COURSE: i64 = 7;
        let mut f = MoodleFixture::default();
        f.site.siteurl = "http://127.0.0.1:8880".into();
        f.site.themerev = 1_796_577_845;
        f.site.timezone = "Australia/Sydney".into();
        f.categories[0].timemodified = T_SITE;
        for (id, name, idnumber, sortorder) in [
            (4, "Accredited courses", "ACC-CAT-1", 20000),
            (5, "Short courses", "SHORT-CAT", 30000),
        ] {
            f.categories.push(Category {
                id,
                name: name.into(),
                idnumber: Some(idnumber.into()),
                descriptionformat: 0,
                sortorder,
                timemodified: T_CAT,
                ..Category::default()
            });
        }
        // The other courses of the site (the samples show only how many each category has).
        for (id, category, shortname) in [
            (2, 4, "ACC-2001"),
            (3, 5, "SHORT-3001"),
            (4, 5, "SHORT-3002"),
            (5, 5, "SHORT-3003"),
        ] {
            f.courses.push(Course {
                id,
                category,
                sortorder: category * 10000 + id,
                fullname: format!("Course {shortname}"),
                shortname: shortname.into(),
                idnumber: shortname.into(),
                startdate: T_CAT,
                timecreated: T_CAT,
                timemodified: T_CAT,
                contextid: 20 + id,
                grade_item_id: Some(id),
                grade_category_id: Some(id),
                ..Course::default()
            });
        }
        f.courses.push(Course {
            id: COURSE,
            category: 5,
            sortorder: 50007,
            fullname: "Sample course 4001".into(),
            shortname: "SMP-4001".into(),
            idnumber: "SMP-4001".into(),
            startdate: T_CAT,
            numsections: 1,
            timecreated: T_SITE,
            timemodified: T_SITE,
            enablecompletion: 1,
            cacherev: T_GRADED,
            contextid: 40,
            grade_item_id: Some(10),
            grade_category_id: Some(6),
            ..Course::default()
        });
        for (id, num, name) in [(20, 0, "General"), (21, 1, "Topic 1")] {
            f.sections.push(Section {
                id,
                course: COURSE,
                section: num,
                name: name.into(),
            });
        }
        let graded = |id: i64, module: i64, modname: &str, instance: i64, name: &str| {
            let (max, pass, item) = if modname == "quiz" {
                (10.0, 6.0, 11)
            } else {
                (100.0, 50.0, 12)
            };
            CourseModule {
                id,
                course: COURSE,
                section: 21,
                module,
                modname: modname.into(),
                instance,
                name: name.into(),
                completion: 2,
                completionusegrade: true,
                completionpassgrade: true,
                grademax: Some(max),
                gradepass: Some(pass),
                grade_item_id: Some(item),
                contextid: 29 + id,
                added: T_SITE,
                ..CourseModule::default()
            }
        };
        f.modules = vec![
            graded(12, 17, "quiz", 3, "Retake quiz"),
            graded(13, 1, "assign", 2, "Unenrol assignment"),
        ];
        f.users[1].password = SYDNEY_ADMIN_PASSWORD.into();
        let person =
            |id: i64, username: &str, first: &str, last: &str, email: &str, idn: &str| User {
                id,
                username: username.into(),
                password: SYDNEY_USER_PASSWORD.into(),
                firstname: first.into(),
                lastname: last.into(),
                email: email.into(),
                idnumber: idn.into(),
                ..User::default()
            };
        f.users.extend([
            person(6, "taken", "Taken", "Other", "taken@example.com", "OTHER-1"),
            person(
                310,
                "smp.unenrol",
                "Una",
                "Unenrol",
                "smp.unenrol@example.com",
                "SMP-UNENROL-1",
            ),
            person(
                311,
                "smp.recover",
                "Rory",
                "Recover",
                "smp.recover@example.com",
                "SMP-RECOVER-1",
            ),
            person(
                312,
                "smp.retake",
                "Rhea",
                "Retake",
                "smp.retake@example.com",
                "SMP-RETAKE-1",
            ),
            person(
                313,
                "smp.update",
                "Uma",
                "Update",
                "smp.update@example.com",
                "SMP-UPDATE-1",
            ),
        ]);
        f.enrol_instances.push(EnrolInstance {
            id: 20,
            courseid: COURSE,
            ..EnrolInstance::default()
        });
        for userid in [310, 311, 312, 313] {
            f.user_enrolments.push(UserEnrolment {
                enrolid: 20,
                userid,
                timecreated: T_SITE,
                ..UserEnrolment::default()
            });
            f.role_assignments.push(RoleAssignment {
                courseid: COURSE,
                userid,
                roleid: 5,
            });
        }
        for (userid, grade) in [(310, 72.0), (311, 64.0)] {
            f.grades.push(Grade {
                cmid: 13,
                userid,
                grade: Some(grade),
                feedback: String::new(),
                timegraded: T_GRADED,
                timesubmitted: None,
            });
            f.activity_completions.push(ActivityCompletion {
                cmid: 13,
                userid,
                state: 2,
                timemodified: T_GRADED,
            });
        }
        // smp.retake's first attempt: 1 of 3 correct, finished 23:50 in Sydney.
        f.quiz_attempts.push(QuizAttempt {
            cmid: 12,
            userid: 312,
            attempt: 1,
            grade: 3.33333,
            timestart: 1_796_129_100,
            timefinish: 1_796_129_400,
        });
        f.grades.push(Grade {
            cmid: 12,
            userid: 312,
            grade: Some(3.33333),
            feedback: String::new(),
            timegraded: 1_796_129_400,
            timesubmitted: Some(1_796_129_400),
        });
        f.activity_completions.push(ActivityCompletion {
            cmid: 12,
            userid: 312,
            state: 3,
            timemodified: 1_796_129_400,
        });
        let mut functions: Vec<&str> = SAMPLE_SERVICE_FUNCTIONS.to_vec();
        functions.push("tool_mobile_get_config");
        f.services
            .push(Service::new("learnbridge", &functions).restricted_to(&[2]));
        f.tokens.push(Token {
            token: SYDNEY_SAMPLE_TOKEN.into(),
            userid: 2,
            service: "learnbridge".into(),
        });
        f
    }
}
