//! The job queue.

use crate::error::{BoxError, Retryable};
use crate::job::Job;
use async_trait::async_trait;

/// Errors from a queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("the queue refused the message: {reason}")]
    Rejected { reason: String },
    #[error("a job could not be encoded")]
    Encode(#[source] BoxError),
}

impl QueueError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Unavailable(_))
    }
}

impl Retryable for QueueError {
    fn is_retryable(&self) -> bool {
        QueueError::is_retryable(self)
    }
}

/// A job that could not be enqueued, by its index in the batch.
#[derive(Debug)]
pub struct EnqueueFailure {
    pub index: usize,
    pub error: QueueError,
}

/// Sends jobs to the queue each belongs on.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Enqueues every job; returns those that failed, by index, so the caller
    /// can report exactly which ones (the rest were sent).
    async fn enqueue(&self, jobs: &[Job]) -> Result<Vec<EnqueueFailure>, QueueError>;
    /// Enqueues one job that becomes visible only after `delay_seconds` (at most
    /// [`MAX_DELAY_SECONDS`]; longer delays are cut to it).
    async fn enqueue_delayed(&self, job: &Job, delay_seconds: u32) -> Result<(), QueueError>;
}

/// The longest a queued job can wait before it is delivered (SQS's limit).
pub const MAX_DELAY_SECONDS: u32 = 900;
