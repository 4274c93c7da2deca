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

/// A call of learnbridge's ports over a Moodle site: a method of
/// [`crate::moodle_gateway::MoodleGateway`] as `LearningSystem` or `GradeSource`.
/// Each declares the web service functions it makes ([`PortCall::functions`]);
/// the functions a feature needs are computed from the calls it makes, and a
/// test over the simulator fails when a call makes a function it did not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortCall {
    /// `LearningSystem::test`: who the site is, and what the token may call.
    Test,
    /// `LearningSystem::users_by` (by id, idnumber, username: exact; by email:
    /// Moodle's case-insensitive search, exact matches kept).
    UsersBy,
    /// `LearningSystem::users_named`.
    UsersNamed,
    /// `LearningSystem::create_users`.
    CreateUsers,
    /// `LearningSystem::update_users`, with the look-ups that explain a warning.
    UpdateUsers,
    /// `LearningSystem::enrolled_users`.
    EnrolledUsers,
    /// `LearningSystem::enrol`.
    Enrol,
    /// `LearningSystem::unenrol` and `GradeSource::unenrol`.
    Unenrol,
    /// `LearningSystem::suspend_enrolment`.
    SuspendEnrolment,
    /// `LearningSystem::course_by_idnumber`.
    CourseByIdnumber,
    /// `LearningSystem::course`.
    Course,
    /// `LearningSystem::create_course`.
    CreateCourse,
    /// `LearningSystem::update_course`.
    UpdateCourse,
    /// `LearningSystem::categories`.
    Categories,
    /// `LearningSystem::learner_progress`: read before a learner is removed.
    LearnerProgress,
    /// `GradeSource::course_activities`.
    CourseActivities,
    /// `GradeSource::course_grades`.
    CourseGrades,
    /// `GradeSource::pass_grade`.
    PassGrade,
    /// `GradeSource::activities_completion`.
    ActivitiesCompletion,
    /// `GradeSource::course_completion`.
    CourseCompletion,
    /// `GradeSource::participants`.
    Participants,
}

impl PortCall {
    pub const ALL: [PortCall; 21] = [
        PortCall::Test,
        PortCall::UsersBy,
        PortCall::UsersNamed,
        PortCall::CreateUsers,
        PortCall::UpdateUsers,
        PortCall::EnrolledUsers,
        PortCall::Enrol,
        PortCall::Unenrol,
        PortCall::SuspendEnrolment,
        PortCall::CourseByIdnumber,
        PortCall::Course,
        PortCall::CreateCourse,
        PortCall::UpdateCourse,
        PortCall::Categories,
        PortCall::LearnerProgress,
        PortCall::CourseActivities,
        PortCall::CourseGrades,
        PortCall::PassGrade,
        PortCall::ActivitiesCompletion,
        PortCall::CourseCompletion,
        PortCall::Participants,
    ];

    /// The functions this call makes (a function's [`FALLBACKS`] stand-in, and
    /// the [`OPTIONAL_FUNCTIONS`] of the test, are not listed).
    pub const fn functions(self) -> &'static [WsFunction] {
        use WsFunction as F;
        match self {
            PortCall::Test => &[F::GetSiteInfo],
            PortCall::UsersBy => &[F::GetUsersByField, F::GetUsers],
            PortCall::UsersNamed => &[F::GetUsers],
            PortCall::CreateUsers => &[F::CreateUsers],
            PortCall::UpdateUsers => &[F::UpdateUsers, F::GetUsers, F::GetUsersByField],
            PortCall::EnrolledUsers | PortCall::Participants => &[F::GetEnrolledUsers],
            PortCall::Enrol | PortCall::SuspendEnrolment => &[F::EnrolUsers],
            PortCall::Unenrol => &[F::UnenrolUsers],
            PortCall::CourseByIdnumber => &[F::GetCoursesByField],
            PortCall::Course => &[F::GetCourses],
            PortCall::CreateCourse => &[F::CreateCourses],
            PortCall::UpdateCourse => &[F::UpdateCourses],
            PortCall::Categories => &[F::GetCategories],
            PortCall::LearnerProgress => &[F::GetGradeItems, F::GetCourseCompletionStatus],
            PortCall::CourseActivities => &[F::GetContents],
            PortCall::CourseGrades => &[F::GetGradeItems],
            PortCall::PassGrade => &[F::GetCourseModule],
            PortCall::ActivitiesCompletion => &[F::GetActivitiesCompletionStatus],
            PortCall::CourseCompletion => &[F::GetCourseCompletionStatus],
        }
    }
}

/// A feature of a Moodle connection, each needing a set of functions in the
/// token's external service: those of the [`PortCall`]s it makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Courses, users and enrolments out (VETtrak's list plus Smartosh's):
    /// link or create courses, match or create users, enrol, change, remove.
    EnrolmentPush,
    /// Grades and activity completion back.
    Results,
    /// Course completion back (and unenrol after completion, the Smartosh way).
    CourseCompletion,
}

/// Functions the connection test asks for but no feature needs: by name, and
/// what they give. Missing ones are reported apart, and the test is still ok.
pub const OPTIONAL_FUNCTIONS: &[(&str, &str)] = &[(
    "tool_mobile_get_config",
    "the site's time zone (`section=locationsettings`) for the connection test",
)];

/// A required function that another function can stand in for: `(required, fallback)`.
/// Smartosh: "core_grades_get_grades or gradereport_user_get_grade_items".
pub const FALLBACKS: &[(&str, &str)] =
    &[("gradereport_user_get_grade_items", "core_grades_get_grades")];

impl Feature {
    pub const ALL: [Feature; 3] = [
        Feature::EnrolmentPush,
        Feature::Results,
        Feature::CourseCompletion,
    ];

    /// The port calls this feature makes.
    pub const fn calls(self) -> &'static [PortCall] {
        match self {
            Feature::EnrolmentPush => &[
                PortCall::Test,
                PortCall::CourseByIdnumber,
                PortCall::Course,
                PortCall::Categories,
                PortCall::CreateCourse,
                PortCall::UpdateCourse,
                PortCall::UsersBy,
                PortCall::UsersNamed,
                PortCall::CreateUsers,
                PortCall::UpdateUsers,
                PortCall::EnrolledUsers,
                PortCall::Enrol,
                PortCall::SuspendEnrolment,
                PortCall::LearnerProgress,
                PortCall::Unenrol,
            ],
            Feature::Results => &[
                PortCall::Test,
                PortCall::CourseActivities,
                PortCall::PassGrade,
                PortCall::Participants,
                PortCall::CourseGrades,
                PortCall::ActivitiesCompletion,
            ],
            Feature::CourseCompletion => &[
                PortCall::Test,
                PortCall::Participants,
                PortCall::CourseCompletion,
                PortCall::Unenrol,
            ],
        }
    }

    /// The functions this feature needs, each once, in the order its calls make them.
    pub fn required_functions(self) -> Vec<&'static str> {
        required_functions(&[self])
    }

    /// A short name for the feature, as docs/api.md uses it.
    pub const fn label(self) -> &'static str {
        match self {
            Feature::EnrolmentPush => "enrolment push",
            Feature::Results => "results",
            Feature::CourseCompletion => "course completion",
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

/// The functions a set of features needs, each once, in a stable order
/// (`core_webservice_get_site_info` first).
pub fn required_functions(features: &[Feature]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = vec![WsFunction::GetSiteInfo.name()];
    for feature in features {
        for call in feature.calls() {
            for function in call.functions() {
                if !out.contains(&function.name()) {
                    out.push(function.name());
                }
            }
        }
    }
    out
}

/// The table of functions docs/api.md shows (a test checks the document holds
/// exactly this): every required function with the features that need it,
/// then the optional ones.
pub fn functions_table() -> String {
    let mut table = String::from("| function | needed for |\n|---|---|\n");
    for name in required_functions(&Feature::ALL) {
        let features: Vec<&str> = Feature::ALL
            .iter()
            .filter(|f| f.required_functions().contains(&name))
            .map(|f| f.label())
            .collect();
        let mut needed = features.join(", ");
        if let Some((_, instead)) = FALLBACKS.iter().find(|(n, _)| *n == name) {
            needed.push_str(&format!(" (`{instead}` stands in on old sites)"));
        }
        table.push_str(&format!("| `{name}` | {needed} |\n"));
    }
    for (name, what) in OPTIONAL_FUNCTIONS {
        table.push_str(&format!("| `{name}` | optional: {what} |\n"));
    }
    table
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

    /// Functions a seed names that learnbridge does not call (so no site needs them).
    const SEEDS_NOT_CALLED: &[&str] = &[
        // Copying a template course's content: the connector can, no use case offers it (VM-29).
        "core_course_import_course",
        // A learner's courses: course completion is read per course instead.
        "core_enrol_get_users_courses",
    ];

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
        let all = required_functions(&Feature::ALL);
        for name in vettrak.iter().chain(smartosh.iter()) {
            assert!(
                all.contains(name) || SEEDS_NOT_CALLED.contains(name),
                "{name} is needed by a seed but no feature requires it"
            );
            assert!(
                WsFunction::ALL.iter().any(|f| f.name() == *name),
                "{name} has no client call"
            );
        }
        assert!(
            all.contains(&"core_user_get_users_by_field"),
            "every look-up by id, idnumber or username uses it"
        );
    }

    #[test]
    fn every_function_a_call_makes_is_required_by_a_feature() {
        let all = required_functions(&Feature::ALL);
        for call in PortCall::ALL {
            assert!(
                Feature::ALL.iter().any(|f| f.calls().contains(&call)),
                "{call:?} is made by no feature"
            );
            for function in call.functions() {
                assert!(all.contains(&function.name()), "{function}");
            }
        }
        let table = functions_table();
        assert!(table.contains("| `core_user_get_users_by_field` | enrolment push |"));
        assert!(table.contains("| `tool_mobile_get_config` | optional: "));
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
