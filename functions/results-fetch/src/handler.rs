//! SQS batch of jobs -> the import stage of each run.

use crate::Deps;
use app::jobs::{Begin, expect_queue};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::{Job, QueueRole};

/// Jobs handled at once within one batch.
pub const CONCURRENCY: usize = 4;

/// Handles one SQS batch; only transient failures are reported back to SQS.
pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let pipeline = deps.pipeline();
    cloud::sqs::process_batch_or_give_up(
        event,
        CONCURRENCY,
        |job| handle_job(deps, job),
        // A job failing on its last receive: its run says why before SQS
        // moves it to the dead-letter queue.
        |job, reason, receives| {
            let pipeline = &pipeline;
            async move {
                pipeline
                    .gave_up(&job, &reason, receives, chrono::Utc::now())
                    .await
            }
        },
    )
    .await
}

async fn handle_job(deps: &Deps, job: Job) -> Result<(), crate::attendance::FetchJobError> {
    expect_queue(&job, QueueRole::ResultsFetch)?;
    let pipeline = deps.pipeline();
    match &job {
        Job::FetchResults {
            tenant,
            connection,
            run,
            offering,
        } => {
            // Renews the connection's lease (or finds the run finished, or
            // another run at work: then the job comes back later).
            if pipeline
                .begin(&job, tenant, connection, run, None, chrono::Utc::now())
                .await?
                != Begin::Go
            {
                return Ok(());
            }
            crate::results::fetch(deps, tenant, connection, run, offering.as_ref()).await?;
            pipeline
                .import(tenant, connection, run, chrono::Utc::now())
                .await
                .map(|_| ())
                .map_err(Into::into)
        }
        Job::ProcessAttendance {
            tenant,
            connection,
            record_ids,
        } => {
            let ports = deps.attendance.ports(
                deps.connections.as_ref(),
                deps.queue.as_ref(),
                deps.tenants.as_ref(),
            );
            app::attendance::process_attendance(
                &ports,
                tenant,
                connection,
                record_ids,
                chrono::Utc::now(),
            )
            .await
            .map(|_| ())
            .map_err(Into::into)
        }
        // expect_queue refused every other kind.
        _ => Ok(()),
    }
}
