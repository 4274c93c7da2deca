//! SQS batch of jobs -> the export stage of each run.

use crate::Deps;
use app::jobs::{JobError, Pipeline, expect_queue};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::{Job, QueueRole};

/// Jobs handled at once within one batch; each talks to one learning system.
pub const CONCURRENCY: usize = 4;

/// Handles one SQS batch; only transient failures are reported back to SQS.
pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    cloud::sqs::process_batch(event, CONCURRENCY, |job| handle_job(deps, job)).await
}

async fn handle_job(deps: &Deps, job: Job) -> Result<(), JobError> {
    expect_queue(&job, QueueRole::EnrolmentPush)?;
    let pipeline = Pipeline {
        connections: deps.connections.as_ref(),
        runs: deps.runs.as_ref(),
        queue: deps.queue.as_ref(),
    };
    match job {
        Job::SyncConnection {
            tenant,
            connection,
            run,
            trigger,
            offering,
        } => {
            pipeline
                .export(
                    &tenant,
                    &connection,
                    &run,
                    trigger,
                    offering.as_deref(),
                    chrono::Utc::now(),
                )
                .await
        }
        // expect_queue refused every other kind.
        _ => Ok(()),
    }
}
