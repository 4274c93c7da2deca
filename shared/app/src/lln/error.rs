//! Why an LLN use case failed.

use crate::deliveries::DeliveryError;
use domain::IdError;
use domain::lln::{CandidateIssues, LlnError};
use domain::ports::{Retryable, StoreError};
use domain::{ConnectionId, LearnerCode};

/// Why an LLN use case failed. Messages name what to fix and hold no secret.
#[derive(Debug, thiserror::Error)]
pub enum LlnFlowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tool(#[from] LlnError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error("the tenant has no LLN connection (OCSAT or LLN Robot)")]
    NoLlnConnection,
    #[error("the tenant has several LLN connections ({connections}); name one")]
    SeveralLlnConnections { connections: String },
    #[error("connection {connection} does not exist")]
    UnknownConnection { connection: ConnectionId },
    #[error("connection {connection} is not an LLN connection (OCSAT or LLN Robot)")]
    NotLln { connection: ConnectionId },
    #[error("learner {learner} does not exist")]
    UnknownLearner { learner: LearnerCode },
    #[error("{0}")]
    Issues(CandidateIssues),
    #[error("learner {learner} already has candidate {candidate} in this connection")]
    AlreadyInvited {
        learner: LearnerCode,
        candidate: String,
    },
    #[error("learner {learner} has no candidate in this connection; create one first")]
    NoCandidate { learner: LearnerCode },
    #[error("no download {id}")]
    UnknownDownload { id: String },
    #[error("download {id} was already {state}")]
    DownloadClosed { id: String, state: &'static str },
    #[error("no saved assessment {id}")]
    UnknownAssessment { id: String },
    #[error("the tenant has no enabled SMS connection to deliver assessments to")]
    NoSms,
    #[error("assessment {id} cannot be delivered: {source}")]
    BadId {
        id: String,
        #[source]
        source: IdError,
    },
}

impl Retryable for LlnFlowError {
    fn is_retryable(&self) -> bool {
        match self {
            LlnFlowError::Store(e) => e.is_retryable(),
            LlnFlowError::Tool(e) => e.is_retryable(),
            LlnFlowError::Delivery(e) => e.is_retryable(),
            _ => false,
        }
    }
}
