//! The Moodle web service functions learnbridge calls, and which of them each
//! feature needs in the token's external service.

use std::fmt;

/// A web service function this client calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WsFunction {
    GetSiteInfo,
    GetCategories,
    GetCoursesByField,
    GetCourses,
    GetContents,
    GetCourseModule,
    CreateCourses,
    UpdateCourses,
    ImportCourse,
    GetUsers,
    GetUsersByField,
    CreateUsers,
    UpdateUsers,
    GetEnrolledUsers,
    GetUsersCourses,
    EnrolUsers,
    UnenrolUsers,
    GetGradeItems,
    GetActivitiesCompletionStatus,
    GetCourseCompletionStatus,
    /// `core_grades_get_grades`: only for old sites whose service lacks
    /// `gradereport_user_get_grade_items` (the function is gone in Moodle 4.x).
    LegacyGetGrades,
    /// `tool_mobile_get_config`: the site's time zone (optional in the service).
    GetMobileConfig,
}

/// Whether repeating a call can change the result (see [`WsFunction::idempotency`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads, updates to given values, enrol (re-enrol is a silent no-op) and
    /// unenrol (unenrolling a non-member is a silent no-op): safe to repeat.
    Idempotent,
    /// Creates and imports: a repeat after a lost answer creates a second record
    /// (or fails with "username taken"), or imports the activities twice.
    NotIdempotent,
}

impl WsFunction {
    pub const ALL: [WsFunction; 22] = [
        WsFunction::GetSiteInfo,
        WsFunction::GetCategories,
        WsFunction::GetCoursesByField,
        WsFunction::GetCourses,
        WsFunction::GetContents,
        WsFunction::GetCourseModule,
        WsFunction::CreateCourses,
        WsFunction::UpdateCourses,
        WsFunction::ImportCourse,
        WsFunction::GetUsers,
        WsFunction::GetUsersByField,
        WsFunction::CreateUsers,
        WsFunction::UpdateUsers,
        WsFunction::GetEnrolledUsers,
        WsFunction::GetUsersCourses,
        WsFunction::EnrolUsers,
        WsFunction::UnenrolUsers,
        WsFunction::GetGradeItems,
        WsFunction::GetActivitiesCompletionStatus,
        WsFunction::GetCourseCompletionStatus,
        WsFunction::LegacyGetGrades,
        WsFunction::GetMobileConfig,
    ];

    /// The name Moodle knows the function by (`wsfunction=`).
    pub const fn name(self) -> &'static str {
        match self {
            WsFunction::GetSiteInfo => "core_webservice_get_site_info",
            WsFunction::GetCategories => "core_course_get_categories",
            WsFunction::GetCoursesByField => "core_course_get_courses_by_field",
            WsFunction::GetCourses => "core_course_get_courses",
            WsFunction::GetContents => "core_course_get_contents",
            WsFunction::GetCourseModule => "core_course_get_course_module",
            WsFunction::CreateCourses => "core_course_create_courses",
            WsFunction::UpdateCourses => "core_course_update_courses",
            WsFunction::ImportCourse => "core_course_import_course",
            WsFunction::GetUsers => "core_user_get_users",
            WsFunction::GetUsersByField => "core_user_get_users_by_field",
            WsFunction::CreateUsers => "core_user_create_users",
            WsFunction::UpdateUsers => "core_user_update_users",
            WsFunction::GetEnrolledUsers => "core_enrol_get_enrolled_users",
            WsFunction::GetUsersCourses => "core_enrol_get_users_courses",
            WsFunction::EnrolUsers => "enrol_manual_enrol_users",
            WsFunction::UnenrolUsers => "enrol_manual_unenrol_users",
            WsFunction::GetGradeItems => "gradereport_user_get_grade_items",
            WsFunction::GetActivitiesCompletionStatus => {
                "core_completion_get_activities_completion_status"
            }
            WsFunction::GetCourseCompletionStatus => "core_completion_get_course_completion_status",
            WsFunction::LegacyGetGrades => "core_grades_get_grades",
            WsFunction::GetMobileConfig => "tool_mobile_get_config",
        }
    }

    pub const fn idempotency(self) -> Idempotency {
        match self {
            WsFunction::CreateCourses | WsFunction::CreateUsers | WsFunction::ImportCourse => {
                Idempotency::NotIdempotent
            }
            _ => Idempotency::Idempotent,
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for WsFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A feature of a Moodle connection, each needing a set of functions in the
/// token's external service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Courses, users and enrolments out (VETtrak's list plus Smartosh's).
    EnrolmentPush,
    /// Grades and activity completion back.
    Results,
    /// Course completion back (and unenrol after completion, the Smartosh way).
    CourseCompletion,
}

/// `core_webservice_get_site_info` and the test-connection call itself.
const SITE: &[&str] = &["core_webservice_get_site_info"];

/// Enrolment push: link/create courses, match/create users, enrol and unenrol
/// (`vettrak-moodle-integration.txt`, `smartosh-moodle-connection.txt`).
pub const ENROLMENT_PUSH_FUNCTIONS: &[&str] = &[
    "core_webservice_get_site_info",
    "core_course_get_categories",
    "core_course_get_courses_by_field",
    "core_course_get_courses",
    "core_course_create_courses",
    "core_course_update_courses",
    "core_course_import_course",
    "core_user_get_users",
    "core_user_create_users",
    "core_user_update_users",
    "core_enrol_get_enrolled_users",
    "enrol_manual_enrol_users",
    "enrol_manual_unenrol_users",
];

/// Results: map activities, read grades (with the pass grade from the course
/// module) and activity completion. `gradereport_user_get_grade_items` may be
/// replaced by `core_grades_get_grades` on old sites (see [`FALLBACKS`]).
pub const RESULTS_FUNCTIONS: &[&str] = &[
    "core_webservice_get_site_info",
    "core_course_get_contents",
    "core_course_get_course_module",
    "core_enrol_get_enrolled_users",
    "gradereport_user_get_grade_items",
    "core_completion_get_activities_completion_status",
];

/// Course completion: completion status per learner, the learner's courses
/// (with `completed`), and unenrol after completion.
pub const COURSE_COMPLETION_FUNCTIONS: &[&str] = &[
    "core_webservice_get_site_info",
    "core_enrol_get_enrolled_users",
    "core_enrol_get_users_courses",
    "core_completion_get_course_completion_status",
    "enrol_manual_unenrol_users",
];

/// A required function that another function can stand in for: `(required, fallback)`.
/// Smartosh: "core_grades_get_grades or gradereport_user_get_grade_items".
pub const FALLBACKS: &[(&str, &str)] =
    &[("gradereport_user_get_grade_items", "core_grades_get_grades")];

impl Feature {
    pub fn required_functions(self) -> &'static [&'static str] {
        match self {
            Feature::EnrolmentPush => ENROLMENT_PUSH_FUNCTIONS,
            Feature::Results => RESULTS_FUNCTIONS,
            Feature::CourseCompletion => COURSE_COMPLETION_FUNCTIONS,
        }
    }

    /// The features a connection's settings turn on: push and results always,
    /// course completion when `course_completions` or `unenrol_after_completion` is set.
    pub fn enabled_by(settings: &domain::connection::MoodleSettings) -> Vec<Feature> {
        let mut features = vec![Feature::EnrolmentPush, Feature::Results];
        if settings.course_completions || settings.unenrol_after_completion {
            features.push(Feature::CourseCompletion);
        }
        features
    }
}

/// The functions a set of features needs, each once, in a stable order.
pub fn required_functions(features: &[Feature]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = SITE.to_vec();
    for feature in features {
        for name in feature.required_functions() {
            if !out.contains(name) {
                out.push(name);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_indexed_in_order() {
        for (i, f) in WsFunction::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
        }
        let mut names: Vec<_> = WsFunction::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), WsFunction::ALL.len());
    }

    #[test]
    fn the_seeds_lists_are_covered() {
        let vettrak = [
            "core_webservice_get_site_info",
            "core_course_get_categories",
            "core_course_get_courses_by_field",
            "core_course_get_contents",
            "core_course_create_courses",
            "core_course_update_courses",
            "core_user_get_users",
            "core_user_create_users",
            "core_user_update_users",
            "core_enrol_get_enrolled_users",
            "enrol_manual_enrol_users",
            "enrol_manual_unenrol_users",
            "core_course_get_course_module",
            "gradereport_user_get_grade_items",
            "core_completion_get_course_completion_status",
            "core_course_get_courses",
            "core_course_import_course",
        ];
        let smartosh = [
            "core_completion_get_activities_completion_status",
            "core_completion_get_course_completion_status",
            "core_course_get_courses",
            "core_enrol_get_enrolled_users",
            "core_enrol_get_users_courses",
            "gradereport_user_get_grade_items",
            "core_webservice_get_site_info",
            "enrol_manual_enrol_users",
            "enrol_manual_unenrol_users",
            "core_user_create_users",
            "core_user_get_users",
            "core_user_update_users",
        ];
        let all = required_functions(&[
            Feature::EnrolmentPush,
            Feature::Results,
            Feature::CourseCompletion,
        ]);
        for name in vettrak.iter().chain(smartosh.iter()) {
            assert!(
                all.contains(name),
                "{name} is needed by a seed but no feature requires it"
            );
            assert!(
                WsFunction::ALL.iter().any(|f| f.name() == *name),
                "{name} has no client call"
            );
        }
    }

    #[test]
    fn only_creates_and_imports_are_not_idempotent() {
        let not: Vec<_> = WsFunction::ALL
            .iter()
            .filter(|f| f.idempotency() == Idempotency::NotIdempotent)
            .map(|f| f.name())
            .collect();
        assert_eq!(
            not,
            [
                "core_course_create_courses",
                "core_course_import_course",
                "core_user_create_users"
            ]
        );
    }
}
