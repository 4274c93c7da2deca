//! SQS batch of jobs -> one enrolment-push use case each: the nightly export,
//! pushing an offering, syncing a learner or an offering, removing an enrolment.

use crate::Deps;
use app::courses::Courses;
use app::jobs::expect_queue;
use app::learners::Learners;
use app::push::{Push, PushError};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::{Job, QueueRole};

/// Jobs handled at once within one batch; each talks to one learning system.
pub const CONCURRENCY: usize = 4;

/// Handles one SQS batch; only transient failures are reported back to SQS.
pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    cloud::sqs::process_batch(event, CONCURRENCY, |job| handle_job(deps, job)).await
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
            push.export(
                &tenant,
                &connection,
                &run,
                trigger,
                offering.as_deref(),
                now,
            )
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
            learners.sync_learner(&tenant, &learner).await.map(|_| ())
        }
        Job::SyncOffering { tenant, offering } => Courses {
            connections: deps.connections.as_ref(),
            sis: deps.sis.as_ref(),
            links: deps.links.as_ref(),
            learning: deps.learning.as_ref(),
        }
        .sync_offering(&tenant, &offering)
        .await
        .map(|_| ()),
        Job::RemoveEnrolment {
            tenant,
            connection,
            offering,
            learner,
        } => learners
            .remove_enrolment(&tenant, &connection, &offering, &learner, now)
            .await
            .map(|_| ()),
        Job::PushCourseKeyRoster {
            tenant,
            connection,
            offering,
        } => {
            crate::coursekey::push_roster(
                &deps.coursekey,
                deps.connections.as_ref(),
                deps.sis.as_ref(),
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
