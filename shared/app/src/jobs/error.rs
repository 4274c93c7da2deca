//! Why a job failed, and the queue check every handler makes first.

use domain::ports::{QueueError, Retryable, StoreError};
use domain::{ConnectionId, Job, QueueRole, RunId, TenantId};

/// Why a job failed. Transient failures go back to SQS; permanent ones are
/// recorded where a person sees them and acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("connection {connection} does not exist for tenant {tenant}")]
    UnknownConnection {
        tenant: TenantId,
        connection: ConnectionId,
    },
    #[error("run {run} of connection {connection} does not exist for tenant {tenant}")]
    UnknownRun {
        tenant: TenantId,
        connection: ConnectionId,
        run: RunId,
    },
    #[error("a {job} job does not belong on the {queue} queue")]
    WrongQueue {
        job: &'static str,
        queue: &'static str,
    },
}

impl Retryable for JobError {
    fn is_retryable(&self) -> bool {
        match self {
            JobError::Store(e) => e.is_retryable(),
            JobError::Queue(e) => e.is_retryable(),
            JobError::UnknownConnection { .. }
            | JobError::UnknownRun { .. }
            | JobError::WrongQueue { .. } => false,
        }
    }
}

/// Refuses a job that arrived on a queue it does not belong on.
pub fn expect_queue(job: &Job, queue: QueueRole) -> Result<(), JobError> {
    if job.queue() == queue {
        Ok(())
    } else {
        Err(JobError::WrongQueue {
            job: job.name(),
            queue: queue.name(),
        })
    }
}
