//! SQS `deliver` jobs, and the daily schedule.

use crate::Deps;
use app::deliveries::{DeliverOutcome, DeliveryError, Sender, daily_sweep};
use app::jobs::{JobError, expect_queue};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::delivery::DeliveryId;
use domain::ports::{MAX_DELAY_SECONDS, Retryable};
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
    /// What the daily sweep found due and queued.
    Schedule {
        due: usize,
        queued: usize,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("retry-worker handles the \"daily-retry\" schedule, not {0:?}")]
    UnknownSchedule(String),
    /// Failing the invocation makes Lambda retry it (then its DLQ): the sweep is idempotent.
    #[error("the daily sweep failed")]
    Sweep(#[source] DeliveryError),
    #[error(
        "{failed} of {due} due deliveries could not be queued; the schedule's retry will queue them"
    )]
    Enqueue { failed: usize, due: usize },
}

/// Why one deliver job was not done.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// Not an error in the delivery: it is retried later today. The job is sent
    /// again with a delay of the backoff; only when that send fails does it go
    /// back on the queue (SQS hands it out again after the visibility timeout).
    #[error("delivery {id} is retried later today")]
    LaterToday { id: DeliveryId },
}

impl Retryable for DeliverError {
    fn is_retryable(&self) -> bool {
        match self {
            DeliverError::Job(e) => e.is_retryable(),
            DeliverError::Delivery(e) => e.is_retryable(),
            DeliverError::LaterToday { .. } => true,
        }
    }
}

pub async fn handle(deps: &Deps, event: Invocation) -> Result<Response, HandlerError> {
    match event {
        Invocation::Sqs(event) => Ok(Response::Sqs(
            cloud::sqs::process_batch(event, CONCURRENCY, |job| handle_job(deps, job)).await,
        )),
        Invocation::Schedule(s) if s.schedule == "daily-retry" => {
            let now = (deps.now)();
            let report = daily_sweep(deps.deliveries.as_ref(), deps.queue.as_ref(), now)
                .await
                .map_err(HandlerError::Sweep)?;
            if !report.unreadable.is_empty() {
                let recorded = app::incidents::record_unreadable_deliveries(
                    deps.runs.as_ref(),
                    deps.tenants.as_ref(),
                    &report.unreadable,
                    s.scheduled_time.unwrap_or(now),
                    now,
                )
                .await;
                let untold = app::deliveries::report_unreadable(
                    deps.connections.as_ref(),
                    deps.mailer.as_ref(),
                    &report.unreadable,
                )
                .await;
                tracing::error!(
                    unreadable = report.unreadable.len(),
                    runs = recorded.runs.len(),
                    unrecorded = recorded.unrecorded,
                    untold,
                    "due deliveries left out: their stored records could not be read"
                );
            }
            if report.failed > 0 {
                return Err(HandlerError::Enqueue {
                    failed: report.failed,
                    due: report.due,
                });
            }
            Ok(Response::Schedule {
                due: report.due,
                queued: report.queued,
            })
        }
        Invocation::Schedule(s) => Err(HandlerError::UnknownSchedule(s.schedule)),
    }
}

async fn handle_job(deps: &Deps, job: Job) -> Result<(), DeliverError> {
    expect_queue(&job, QueueRole::Deliveries)?;
    let Job::Deliver { tenant, delivery } = &job else {
        return Ok(());
    };
    let id = delivery.clone();
    let sender = Sender {
        store: deps.deliveries.as_ref(),
        connections: deps.connections.as_ref(),
        secrets: deps.secrets.as_ref(),
        sms: deps.sms.as_ref(),
        mailer: deps.mailer.as_ref(),
        secret_prefix: &deps.secret_prefix,
    };
    let now = (deps.now)();
    let outcome = sender.deliver(tenant, &id, now).await?;
    if outcome.wait_on_queue(now) {
        // Back when the backoff ends (at most SQS's 15 minutes; a job that comes
        // back early finds the delivery not due and waits again).
        let at = match &outcome {
            DeliverOutcome::NotDue { at, .. } | DeliverOutcome::Sent { next: Some(at), .. } => *at,
            _ => now,
        };
        let delay = u32::try_from((at - now).num_seconds().max(1)).unwrap_or(MAX_DELAY_SECONDS);
        if let Err(error) = deps.queue.enqueue_delayed(&job, delay).await {
            tracing::warn!(error = %error, "could not queue the retry; SQS brings the job back");
            return Err(DeliverError::LaterToday { id });
        }
        tracing::info!(delivery = %id, delay, "retried later today");
    }
    Ok(())
}
