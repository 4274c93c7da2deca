//! The run pipeline: export (enrolment-push) then import (results-fetch).
//!
//! Each stage is safe to run twice for the same job: SQS delivers at least once.

use chrono::{DateTime, Utc};
use domain::ports::{ConnectionStore, JobQueue, QueueError, Retryable, RunStore, StoreError};
use domain::{
    ConnectionId, Job, LogLevel, QueueRole, Run, RunId, RunLogLine, RunStatus, TenantId, Trigger,
};

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

/// How the export's line on a run's log begins.
const EXPORT_LOG_PREFIX: &str = "Run started by ";

fn trigger_label(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Nightly => "the nightly schedule",
        Trigger::Manual => "a person",
        Trigger::AutoPush => "a new enrolment (auto-push)",
    }
}

/// The ports the pipeline stages use.
pub struct Pipeline<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub runs: &'a dyn RunStore,
    pub queue: &'a dyn JobQueue,
}

impl Pipeline<'_> {
    /// Export stage of a `sync_connection` job: makes sure the run is recorded,
    /// then queues the import. A job whose run already finished changes nothing.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, run = %run))]
    pub async fn export(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        trigger: Trigger,
        offering: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), JobError> {
        if self
            .connections
            .connection(tenant, connection)
            .await?
            .is_none()
        {
            return Err(JobError::UnknownConnection {
                tenant: tenant.clone(),
                connection: connection.clone(),
            });
        }
        let record = Run::start(
            tenant.clone(),
            connection.clone(),
            run.clone(),
            trigger,
            now,
        );
        self.runs.start_run(&record).await?;
        let stored = self.runs.run(tenant, connection, run).await?;
        if stored.is_some_and(|r| r.status != RunStatus::Importing) {
            tracing::info!("run already finished; duplicate job ignored");
            return Ok(());
        }
        let fetch = Job::FetchResults {
            tenant: tenant.clone(),
            connection: connection.clone(),
            run: run.clone(),
            offering: offering.map(str::to_owned),
        };
        if let Some(failure) = self
            .queue
            .enqueue(std::slice::from_ref(&fetch))
            .await?
            .into_iter()
            .next()
        {
            return Err(JobError::Queue(failure.error));
        }
        // A redelivered job re-queues the import (its earlier enqueue may have
        // failed) but does not log the start twice.
        let log = self.runs.log(tenant, connection, run).await?;
        if !log
            .iter()
            .any(|line| line.message.starts_with(EXPORT_LOG_PREFIX))
        {
            let scope = offering.map_or_else(
                || "all linked offerings".to_owned(),
                |o| format!("offering {o}"),
            );
            let line = RunLogLine {
                at: now,
                level: LogLevel::Info,
                message: format!(
                    "{EXPORT_LOG_PREFIX}{}, for {scope}; export done, import queued.",
                    trigger_label(trigger)
                ),
            };
            self.runs
                .append_log(tenant, connection, run, &[line])
                .await?;
        }
        Ok(())
    }

    /// Import stage of a `fetch_results` job: finishes the run with the status
    /// its log earns. A run that already finished is left as it is.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, run = %run))]
    pub async fn import(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        now: DateTime<Utc>,
    ) -> Result<RunStatus, JobError> {
        let Some(stored) = self.runs.run(tenant, connection, run).await? else {
            return Err(JobError::UnknownRun {
                tenant: tenant.clone(),
                connection: connection.clone(),
                run: run.clone(),
            });
        };
        if stored.status != RunStatus::Importing {
            return Ok(stored.status);
        }
        let line = RunLogLine {
            at: now,
            level: LogLevel::Info,
            message: "Import done.".to_owned(),
        };
        self.runs
            .append_log(tenant, connection, run, &[line])
            .await?;
        let log = self.runs.log(tenant, connection, run).await?;
        let status = RunStatus::from_log(&log);
        self.runs
            .finish_run(tenant, connection, run, status, now)
            .await?;
        tracing::info!(status = status.label(), "run finished");
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::*;
    use chrono::TimeZone;
    use domain::Connection;
    use domain::connection::{ConnectionSettings, MoodleSettings};

    fn ids() -> (TenantId, ConnectionId, RunId) {
        (
            TenantId::parse("acme").unwrap(),
            ConnectionId::parse("moodle").unwrap(),
            RunId::parse("run-1").unwrap(),
        )
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
    }

    fn stores() -> (MemConnections, MemRuns, MemQueue) {
        let (tenant, connection, _) = ids();
        let connections = MemConnections::default();
        *connections.0.lock().unwrap() = vec![Connection {
            tenant,
            id: connection,
            name: "Moodle".into(),
            base_url: "http://127.0.0.1:1".into(),
            enabled: true,
            error_email: None,
            settings: ConnectionSettings::Moodle(MoodleSettings::default()),
        }];
        (connections, MemRuns::default(), MemQueue::default())
    }

    #[tokio::test]
    async fn export_then_import_finishes_the_run_once() {
        let (connections, runs, queue) = stores();
        let pipeline = Pipeline {
            connections: &connections,
            runs: &runs,
            queue: &queue,
        };
        let (t, c, r) = ids();
        pipeline
            .export(&t, &c, &r, Trigger::Manual, None, now())
            .await
            .unwrap();
        let sent = queue.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert!(matches!(&sent[0], Job::FetchResults { run, .. } if run == &r));
        assert_eq!(
            pipeline.import(&t, &c, &r, now()).await.unwrap(),
            RunStatus::FinishedSuccessfully
        );
        let log = runs.log(&t, &c, &r).await.unwrap();
        assert_eq!(log.len(), 2);
        assert!(log[0].message.starts_with("Run started by a person"));

        // Duplicate deliveries of both jobs change nothing.
        pipeline
            .export(&t, &c, &r, Trigger::Manual, None, now())
            .await
            .unwrap();
        assert_eq!(
            queue.sent.lock().unwrap().len(),
            1,
            "a finished run queues no second import"
        );
        assert_eq!(
            pipeline.import(&t, &c, &r, now()).await.unwrap(),
            RunStatus::FinishedSuccessfully
        );
        assert_eq!(runs.log(&t, &c, &r).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn unknown_connection_or_run_is_permanent() {
        let (connections, runs, queue) = stores();
        let pipeline = Pipeline {
            connections: &connections,
            runs: &runs,
            queue: &queue,
        };
        let (t, _, r) = ids();
        let ghost = ConnectionId::parse("ghost").unwrap();
        let err = pipeline
            .export(&t, &ghost, &r, Trigger::Nightly, None, now())
            .await
            .unwrap_err();
        assert!(!err.is_retryable());
        assert_eq!(
            err.to_string(),
            "connection ghost does not exist for tenant acme"
        );
        let err = pipeline.import(&t, &ghost, &r, now()).await.unwrap_err();
        assert!(matches!(err, JobError::UnknownRun { .. }));
        assert!(queue.sent.lock().unwrap().is_empty());
    }

    #[test]
    fn jobs_on_the_wrong_queue_are_refused_permanently() {
        let (t, _, _) = ids();
        let job = Job::Deliver {
            tenant: t,
            delivery: "d".into(),
        };
        let err = expect_queue(&job, QueueRole::EnrolmentPush).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a deliver job does not belong on the enrolment-push queue"
        );
        assert!(!err.is_retryable());
        assert!(expect_queue(&job, QueueRole::Deliveries).is_ok());
    }

    #[tokio::test]
    async fn a_failed_import_enqueue_is_transient() {
        let (connections, runs, queue) = stores();
        *queue.refuse_next.lock().unwrap() = vec![0];
        let pipeline = Pipeline {
            connections: &connections,
            runs: &runs,
            queue: &queue,
        };
        let (t, c, r) = ids();
        let err = pipeline
            .export(&t, &c, &r, Trigger::Nightly, None, now())
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        // SQS redelivers; the second attempt completes without a second run.
        pipeline
            .export(&t, &c, &r, Trigger::Nightly, None, now())
            .await
            .unwrap();
        assert_eq!(runs.runs.lock().unwrap().len(), 1);
        assert_eq!(queue.sent.lock().unwrap().len(), 1);
    }
}
