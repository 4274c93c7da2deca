//! Why a results use case failed.

use crate::deliveries::DeliveryError;
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::learning::LearningError;
use domain::ports::{Retryable, StoreError};
use domain::results::{MappingError, ReviewError};
use domain::{AssessableId, Connection, ConnectionId, LearnerCode, OfferingId};

/// Why a results use case failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Learning(#[from] LearningError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error("connection {connection} is not a Moodle connection")]
    NotMoodle { connection: ConnectionId },
    #[error("connection {connection} does not exist")]
    UnknownConnection { connection: ConnectionId },
    #[error("offering {offering} is not linked through connection {connection}")]
    NotLinked {
        offering: OfferingId,
        connection: ConnectionId,
    },
    #[error("offering {offering} does not exist")]
    UnknownOffering { offering: OfferingId },
    #[error("no result for learner {learner} and assessable {assessable} in offering {offering}")]
    UnknownResult {
        offering: OfferingId,
        learner: LearnerCode,
        assessable: AssessableId,
    },
    #[error("no course completion for learner {learner} in offering {offering}")]
    UnknownCompletion {
        offering: OfferingId,
        learner: LearnerCode,
    },
    #[error("the tenant has no enabled SMS connection to save results to")]
    NoSms,
    /// A request named a result by something that is not an id.
    #[error(transparent)]
    BadId(#[from] domain::IdError),
    /// A list asked for a state results are never in.
    #[error("{state} is not a review state: use ready, error or done")]
    BadState { state: String },
}

impl ResultsError {
    /// The request's field this error is about, when it is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ResultsError::BadId(e) => Some(e.field()),
            ResultsError::BadState { .. } => Some("state"),
            ResultsError::Mapping(_) => Some("activities"),
            _ => None,
        }
    }
}

impl Retryable for ResultsError {
    fn is_retryable(&self) -> bool {
        match self {
            ResultsError::Store(e) => e.is_retryable(),
            ResultsError::Learning(e) => e.is_retryable(),
            ResultsError::Delivery(e) => e.is_retryable(),
            _ => false,
        }
    }
}

pub(super) fn moodle_settings(connection: &Connection) -> Result<&MoodleSettings, ResultsError> {
    match &connection.settings {
        ConnectionSettings::Moodle(s) => Ok(s),
        _ => Err(ResultsError::NotMoodle {
            connection: connection.id.clone(),
        }),
    }
}

/// An error and its sources, for a run's log line (ids and reasons, no secrets).
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
