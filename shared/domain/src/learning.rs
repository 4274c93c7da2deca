//! The learning system (Moodle) in domain terms: the users, courses and
//! enrolments the [`crate::ports::LearningSystem`] port reads and writes.
//!
//! Adapters convert their wire types into these; nothing here knows HTTP.

use crate::error::{BoxError, Retryable, SecretError};
use crate::sis::BlockReason;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

/// A Moodle user as far as matching and syncing need one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmsUser {
    pub id: i64,
    pub username: String,
    /// Moodle's idnumber is NOT unique: several users may share one.
    pub idnumber: String,
    pub email: String,
    pub firstname: String,
    pub middlename: String,
    pub lastname: String,
    pub suspended: bool,
}

/// A field users can be looked up by, in bulk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserLookup {
    Id,
    Idnumber,
    Username,
    Email,
}

/// How a user learnbridge creates signs in (from the connection's `new_user_auth`).
#[derive(Debug, Clone)]
pub enum NewUserPassword {
    /// `createpassword=1`: Moodle makes one and emails it.
    MoodleCreates,
    /// learnbridge's generated password, with `auth_forcepasswordchange=1`.
    Generated(SecretString),
    /// A named auth plugin: no password.
    Plugin(String),
}

/// A user to create. `username` is already lower-case.
#[derive(Debug, Clone)]
pub struct NewLmsUser {
    pub username: String,
    pub idnumber: String,
    pub firstname: String,
    pub middlename: Option<String>,
    pub lastname: String,
    pub email: String,
    pub password: NewUserPassword,
}

/// Only the fields that changed are `Some`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    pub id: i64,
    pub username: Option<String>,
    pub idnumber: Option<String>,
    pub firstname: Option<String>,
    pub middlename: Option<String>,
    pub lastname: Option<String>,
    pub email: Option<String>,
    pub suspended: Option<bool>,
}

impl UserChanges {
    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.idnumber.is_none()
            && self.firstname.is_none()
            && self.middlename.is_none()
            && self.lastname.is_none()
            && self.email.is_none()
            && self.suspended.is_none()
    }

    /// The names of the changed fields, as Moodle calls them (for logs: no values).
    pub fn field_names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (name, set) in [
            ("idnumber", self.idnumber.is_some()),
            ("username", self.username.is_some()),
            ("firstname", self.firstname.is_some()),
            ("middlename", self.middlename.is_some()),
            ("lastname", self.lastname.is_some()),
            ("email", self.email.is_some()),
            ("suspended", self.suspended.is_some()),
        ] {
            if set {
                out.push(name);
            }
        }
        out
    }
}

/// One manual enrolment into a course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseEnrolment {
    pub course: i64,
    pub user: i64,
    pub role: i64,
    /// The enrolment's start date (Moodle's `timestart`).
    pub start: Option<DateTime<Utc>>,
}

/// A course as linking and syncing need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmsCourse {
    pub id: i64,
    pub shortname: String,
    pub fullname: String,
    pub idnumber: String,
    pub category: i64,
    /// Moodle's `startdate`: an instant (local midnight of the first day).
    pub start: Option<DateTime<Utc>>,
    /// Moodle's `enddate`: an instant (the last second of the last day).
    pub end: Option<DateTime<Utc>>,
    pub visible: bool,
}

/// A course to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLmsCourse {
    pub shortname: String,
    pub fullname: String,
    /// The offering's id, so "find by idnumber" links it later.
    pub idnumber: String,
    pub category: i64,
    /// Moodle's `startdate`: an instant (local midnight of the first day).
    pub start: Option<DateTime<Utc>>,
    /// Moodle's `enddate`: an instant (the last second of the last day).
    pub end: Option<DateTime<Utc>>,
    pub visible: bool,
}

/// New dates and visibility of a linked course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseSchedule {
    pub course: i64,
    /// See [`NewLmsCourse::start`].
    pub start: Option<DateTime<Utc>>,
    /// See [`NewLmsCourse::end`].
    pub end: Option<DateTime<Utc>>,
    pub visible: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmsCategory {
    pub id: i64,
    pub name: String,
    /// The category's ID number in Moodle (empty when it has none).
    pub idnumber: String,
    pub parent: i64,
}

/// One graded item of a learner's course.
#[derive(Debug, Clone, PartialEq)]
pub struct GradeRead {
    pub item: String,
    pub grade: Option<f64>,
}

/// What a learner did in a course: read before they are unenrolled or suspended.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LearnerProgress {
    pub grades: Vec<GradeRead>,
    pub course_completed: bool,
    pub completed_at: Option<DateTime<Utc>>,
}

/// The site behind a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteReport {
    pub site_name: String,
    pub release: String,
    /// Functions the features need that the token's service lacks, by name.
    pub missing_functions: Vec<String>,
    /// Optional functions the token's service lacks, by name (the site is usable).
    pub missing_optional_functions: Vec<String>,
}

/// A call that failed as a whole (not one record of it).
#[derive(Debug, thiserror::Error)]
pub enum LearningError {
    /// Timeouts, connection failures, 429/5xx: try again later.
    #[error("the learning system is unavailable")]
    Unavailable(#[source] BoxError),
    /// The site refused the call (token, missing function, permission): a person must act.
    #[error("the learning system refused the call")]
    Refused(#[source] BoxError),
    /// The connection's secret could not be read.
    #[error("the connection's secret could not be read")]
    Secret(#[source] SecretError),
    /// The connection is not a learning system learnbridge can push to.
    #[error("connection {connection} is not a Moodle connection")]
    NotALearningSystem { connection: String },
}

impl Retryable for LearningError {
    fn is_retryable(&self) -> bool {
        match self {
            LearningError::Unavailable(_) => true,
            LearningError::Secret(e) => e.is_retryable(),
            LearningError::Refused(_) | LearningError::NotALearningSystem { .. } => false,
        }
    }
}

/// Why one record of a batch did not go through.
#[derive(Debug)]
pub enum RecordFailure {
    /// The learning system refused this record: the enrolment is blocked with the reason.
    Refused(BlockReason),
    /// This record's call failed as a whole (transient or site-wide).
    Failed(LearningError),
}

/// One outcome per input record, in input order.
pub type RecordOutcomes<T> = Vec<Result<T, RecordFailure>>;
