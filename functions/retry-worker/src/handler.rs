//! SQS `deliver` jobs, and the daily schedule.

use app::jobs::{JobError, expect_queue};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::ports::Retryable;
use domain::{Job, QueueRole};
use serde::{Deserialize, Serialize};

/// Jobs handled at once within one batch.
pub const CONCURRENCY: usize = 8;

/// The two ways retry-worker is invoked.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    /// Its SQS queue.
    Sqs(SqsEvent),
    /// The daily schedule: `{"schedule": "daily-retry", "scheduled_time": ...}`.
    Schedule(ScheduledInvocation),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledInvocation {
    pub schedule: String,
    #[serde(default)]
    pub scheduled_time: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Response {
    Sqs(SqsBatchResponse),
    Schedule { due: usize },
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("retry-worker handles the \"daily-retry\" schedule, not {0:?}")]
    UnknownSchedule(String),
}

/// A delivery job that this build cannot send yet. It is reported back to SQS
/// (never acknowledged), so it waits on the queue and then in the DLQ, whose
/// alarm makes it visible: nothing is lost.
#[derive(Debug, thiserror::Error)]
#[error(
    "delivery {delivery} cannot be sent: deliveries to the SMS are not configured in this build"
)]
pub struct NotDeliverable {
    pub delivery: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    NotDeliverable(#[from] NotDeliverable),
}

impl Retryable for DeliverError {
    fn is_retryable(&self) -> bool {
        match self {
            DeliverError::Job(e) => e.is_retryable(),
            DeliverError::NotDeliverable(_) => true,
        }
    }
}

pub async fn handle(event: Invocation) -> Result<Response, HandlerError> {
    match event {
        Invocation::Sqs(event) => Ok(Response::Sqs(
            cloud::sqs::process_batch(event, CONCURRENCY, handle_job).await,
        )),
        Invocation::Schedule(s) if s.schedule == "daily-retry" => Ok(Response::Schedule { due: 0 }),
        Invocation::Schedule(s) => Err(HandlerError::UnknownSchedule(s.schedule)),
    }
}

async fn handle_job(job: Job) -> Result<(), DeliverError> {
    expect_queue(&job, QueueRole::Deliveries)?;
    match job {
        Job::Deliver { delivery, .. } => Err(NotDeliverable { delivery }.into()),
        _ => Ok(()),
    }
}
