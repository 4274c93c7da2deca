//! SQS batch of jobs -> one enrolment-push use case each: the nightly export,
//! pushing an offering, syncing a learner or an offering, removing an enrolment.

use crate::Deps;
use app::courses::Courses;
use app::jobs::expect_queue;
use app::learners::Learners;
use app::push::{Push, PushError};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::ports::Retryable;
use domain::{Job, QueueRole};

/// Jobs handled at once within one batch; each talks to one learning system.
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

async fn handle_job(deps: &Deps, job: Job) -> Result<(), PushError> {
    expect_queue(&job, QueueRole::EnrolmentPush)?;
    let now = chrono::Utc::now();
    let push = Push {
        connections: deps.connections.as_ref(),
        runs: deps.runs.as_ref(),
        queue: deps.queue.as_ref(),
        sis: deps.sis.as_ref(),
        links: deps.links.as_ref(),
        learning: deps.learning.as_ref(),
        mailer: deps.mailer.as_ref(),
        tenants: deps.tenants.as_ref(),
        clock: chrono::Utc::now,
    };
    let learners = Learners {
        connections: deps.connections.as_ref(),
        sis: deps.sis.as_ref(),
        links: deps.links.as_ref(),
        learning: deps.learning.as_ref(),
    };
    match job {
        Job::SyncConnection {
            tenant,
            connection,
            run,
            trigger,
            offering,
        } => {
            push.export(&tenant, &connection, &run, trigger, offering.as_ref(), now)
                .await
        }
        Job::PushOffering {
            tenant,
            connection,
            offering,
            run,
            trigger,
        } => push
            .push_job(&tenant, &connection, &offering, &run, trigger, now)
            .await
            .map(|_| ()),
        Job::SyncLearner { tenant, learner } => {
            let synced = learners.sync_learner(&tenant, &learner, now).await?;
            let what = format!("Sending learner {learner}'s changes to Moodle");
            record_failures(deps, &tenant, &what, synced.failures, now).await
        }
        Job::SyncOffering { tenant, offering } => {
            let synced = Courses {
                connections: deps.connections.as_ref(),
                sis: deps.sis.as_ref(),
                links: deps.links.as_ref(),
                learning: deps.learning.as_ref(),
                tenants: deps.tenants.as_ref(),
            }
            .sync_offering(&tenant, &offering)
            .await?;
            let what = format!("Sending offering {offering}'s dates and status to Moodle");
            record_failures(deps, &tenant, &what, synced.failures, now).await
        }
        Job::RemoveEnrolment {
            tenant,
            connection,
            offering,
            learner,
        } => {
            let removals = app::removal::Removals {
                connections: deps.connections.as_ref(),
                sis: deps.sis.as_ref(),
                links: deps.links.as_ref(),
                learning: deps.learning.as_ref(),
                grades: deps.grades.as_ref(),
                results: deps.results.as_ref(),
                deliveries: deps.deliveries.as_ref(),
                queue: deps.queue.as_ref(),
                runs: deps.runs.as_ref(),
                mailer: deps.mailer.as_ref(),
                tenants: deps.tenants.as_ref(),
                clock: chrono::Utc::now,
            };
            match removals
                .remove_enrolment(&tenant, &connection, &offering, &learner, now)
                .await
            {
                // A removal that did not happen is on its own run already.
                Ok(_) => Ok(()),
                Err(e) if e.is_retryable() => Err(e),
                Err(error) => {
                    let what = format!("Removing learner {learner} from offering {offering}");
                    let failure = app::push::ConnectionFailure { connection, error };
                    record_failures(deps, &tenant, &what, vec![failure], now).await
                }
            }
        }
        Job::PushCourseKeyRoster {
            tenant,
            connection,
            offering,
        } => {
            crate::coursekey::push_roster(
                &deps.coursekey,
                deps.connections.as_ref(),
                deps.sis.as_ref(),
                deps.tenants.as_ref(),
                &tenant,
                &connection,
                &offering,
                now,
            )
            .await
        }
        // expect_queue refused these before the match: they belong on other queues.
        Job::FetchResults { .. } | Job::ProcessAttendance { .. } | Job::Deliver { .. } => {
            Err(PushError::Job(app::jobs::JobError::WrongQueue {
                job: job.name(),
                queue: QueueRole::EnrolmentPush.name(),
            }))
        }
    }
}

/// Changes a connection refused for good: each becomes a run with its error in
/// that connection's history (and the error email), then the job is done. The
/// run started with the job (`started`) and finishes now.
async fn record_failures(
    deps: &Deps,
    tenant: &domain::TenantId,
    what: &str,
    failures: Vec<app::push::ConnectionFailure>,
    started: chrono::DateTime<chrono::Utc>,
) -> Result<(), PushError> {
    let pipeline = deps.pipeline();
    for failure in failures {
        pipeline
            .incident(
                tenant,
                &failure.connection,
                what,
                &failure.error,
                started,
                chrono::Utc::now(),
            )
            .await?;
    }
    Ok(())
}
