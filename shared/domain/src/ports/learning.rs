//! The learning system (Moodle) reached through a connection: the export's
//! writes and the results download's reads.

use crate::connection::Connection;
use async_trait::async_trait;

/// A learning system (Moodle) reached through one connection, in domain terms.
/// Batch operations answer one outcome per record, in input order: a record the
/// site refuses blocks only its own enrolment, with the site's reason.
#[async_trait]
pub trait LearningSystem: Send + Sync {
    /// The site's address, for the emails to learners.
    fn site_url(&self) -> &str;
    /// Users whose `field` is one of `values` (bulk, chunked by the connection's batch size).
    async fn users_by(
        &self,
        field: crate::learning::UserLookup,
        values: &[String],
    ) -> Result<Vec<crate::learning::LmsUser>, crate::learning::LearningError>;
    /// Users with this first and last name (one search per learner: only for name rules).
    async fn users_named(
        &self,
        firstname: &str,
        lastname: &str,
    ) -> Result<Vec<crate::learning::LmsUser>, crate::learning::LearningError>;
    /// Creates users; each outcome is the new user's id.
    async fn create_users(
        &self,
        users: &[crate::learning::NewLmsUser],
    ) -> crate::learning::RecordOutcomes<i64>;
    async fn update_users(
        &self,
        changes: &[crate::learning::UserChanges],
    ) -> crate::learning::RecordOutcomes<()>;
    /// The ids of the users enrolled in a course.
    async fn enrolled_users(&self, course: i64)
    -> Result<Vec<i64>, crate::learning::LearningError>;
    /// Enrols users; enrolling someone already enrolled changes nothing.
    async fn enrol(
        &self,
        enrolments: &[crate::learning::CourseEnrolment],
    ) -> crate::learning::RecordOutcomes<()>;
    /// Unenrols a user; unenrolling someone not enrolled changes nothing.
    async fn unenrol(&self, course: i64, user: i64) -> Result<(), crate::learning::RecordFailure>;
    /// Keeps the enrolment but suspends it.
    async fn suspend_enrolment(
        &self,
        enrolment: &crate::learning::CourseEnrolment,
    ) -> Result<(), crate::learning::RecordFailure>;
    async fn course_by_idnumber(
        &self,
        idnumber: &str,
    ) -> Result<Option<crate::learning::LmsCourse>, crate::learning::LearningError>;
    async fn course(
        &self,
        id: i64,
    ) -> Result<Option<crate::learning::LmsCourse>, crate::learning::LearningError>;
    async fn create_course(
        &self,
        course: &crate::learning::NewLmsCourse,
    ) -> Result<crate::learning::LmsCourse, crate::learning::RecordFailure>;
    async fn update_course(
        &self,
        schedule: &crate::learning::CourseSchedule,
    ) -> Result<(), crate::learning::RecordFailure>;
    async fn categories(
        &self,
    ) -> Result<Vec<crate::learning::LmsCategory>, crate::learning::LearningError>;
    /// A learner's grades and course completion: read before they are removed.
    async fn learner_progress(
        &self,
        course: i64,
        user: i64,
    ) -> Result<crate::learning::LearnerProgress, crate::learning::LearningError>;
    /// Site info and the functions the token's service lacks.
    async fn test(&self) -> Result<crate::learning::SiteReport, crate::learning::LearningError>;
}

/// The learning system behind a connection, built from its settings and secret
/// (and kept per connection within an instance).
#[async_trait]
pub trait LearningSystems: Send + Sync {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<std::sync::Arc<dyn LearningSystem>, crate::learning::LearningError>;
}

/// The reads the results download needs from a learning system (Moodle), in
/// domain terms, plus the unenrolment Smartosh's mode does after reading.
#[async_trait]
pub trait GradeSource: Send + Sync {
    /// The course's activities with their type (one call per course).
    async fn course_activities(
        &self,
        course: i64,
    ) -> Result<Vec<crate::results::CourseActivity>, crate::learning::LearningError>;
    /// Every learner's grades in the course, in one call (Moodle: userid 0).
    async fn course_grades(
        &self,
        course: i64,
    ) -> Result<Vec<crate::results::LearnerGrades>, crate::learning::LearningError>;
    /// One activity's pass grade (Moodle: core_course_get_course_module).
    async fn pass_grade(&self, cmid: i64) -> Result<Option<f64>, crate::learning::LearningError>;
    /// One learner's activity completion states, by course module id.
    async fn activities_completion(
        &self,
        course: i64,
        user: i64,
    ) -> Result<Vec<(i64, crate::results::ActivityCompletion)>, crate::learning::LearningError>;
    /// One learner's course completion.
    async fn course_completion(
        &self,
        course: i64,
        user: i64,
    ) -> Result<crate::results::CourseCompletionRead, crate::learning::LearningError>;
    /// Unenrols a learner from the course (after everything was read).
    async fn unenrol(&self, course: i64, user: i64) -> Result<(), crate::learning::LearningError>;
    /// The course's participants with username, idnumber and last course
    /// access, in one call (Moodle: core_enrol_get_enrolled_users).
    async fn participants(
        &self,
        course: i64,
    ) -> Result<Vec<crate::results::Participant>, crate::learning::LearningError>;
}

/// Builds the grade source of a connection.
#[async_trait]
pub trait GradeSources: Send + Sync {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<std::sync::Arc<dyn GradeSource>, crate::learning::LearningError>;
}
