//! Why a push (or another enrolment-push use case) failed as a whole.

use crate::jobs::JobError;
use domain::learning::{LearningError, RecordFailure};
use domain::ports::{QueueError, Retryable, StoreError};
use domain::sis::BlockReason;
use domain::{ConnectionId, LearnerCode, OfferingId, TenantId};

/// Why a push (or another enrolment-push use case) failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Learning(#[from] LearningError),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    CourseKey(#[from] crate::roster::RosterPushError),
    #[error("connection {connection} does not exist for tenant {tenant}")]
    UnknownConnection {
        tenant: TenantId,
        connection: ConnectionId,
    },
    #[error("connection {connection} is not a Moodle connection")]
    NotMoodle { connection: ConnectionId },
    #[error("offering {offering} does not exist for tenant {tenant}")]
    UnknownOffering {
        tenant: TenantId,
        offering: OfferingId,
    },
    #[error("offering {offering} is not linked to a course of connection {connection}")]
    NotLinked {
        offering: OfferingId,
        connection: ConnectionId,
    },
    #[error(
        "no Moodle course has ID number {idnumber}: create one, or set the course's ID number in Moodle and check again"
    )]
    CourseNotFound { idnumber: String },
    #[error("Moodle course {course} does not exist")]
    UnknownCourse { course: i64 },
    #[error("Moodle category {category} does not exist; choose one of Moodle's categories")]
    UnknownCategory { category: i64 },
    #[error("learner {learner} has no Moodle account in connection {connection}")]
    NoAccount {
        learner: LearnerCode,
        connection: ConnectionId,
    },
    /// A learner's results could not be read before their removal: nothing
    /// was removed.
    #[error("the learner's results could not be read before the removal")]
    ResultsNotRead(#[source] Box<crate::results::ResultsError>),
    #[error("learner {learner} does not exist for tenant {tenant}")]
    UnknownLearner {
        tenant: TenantId,
        learner: LearnerCode,
    },
    #[error("Moodle user {moodle_user_id} does not exist on the connection's site")]
    UnknownMoodleUser { moodle_user_id: i64 },
    #[error(
        "Moodle user {moodle_user_id} is already the account of learner {learner} in this connection; one Moodle user belongs to one learner"
    )]
    AccountHeld {
        moodle_user_id: i64,
        learner: LearnerCode,
    },
    /// Moodle refused one record; the reason (for the person who acts) is the
    /// source, apart from the message, which names no person: the run log
    /// shows both ([`error_text`](crate::errors::error_text)), traces only the message.
    #[error("Moodle refused the {what}")]
    Refused {
        what: &'static str,
        #[source]
        reason: BlockReason,
    },
}

impl Retryable for PushError {
    fn is_retryable(&self) -> bool {
        match self {
            PushError::Store(e) => e.is_retryable(),
            PushError::Queue(e) => e.is_retryable(),
            PushError::Learning(e) => e.is_retryable(),
            PushError::Job(e) => e.is_retryable(),
            PushError::CourseKey(e) => e.is_retryable(),
            PushError::ResultsNotRead(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl From<RecordFailure> for PushError {
    fn from(f: RecordFailure) -> Self {
        match f {
            RecordFailure::Failed(e) => PushError::Learning(e),
            RecordFailure::Refused(reason) => PushError::Refused {
                what: "change",
                reason,
            },
        }
    }
}
