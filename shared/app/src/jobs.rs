//! The run pipeline: export (enrolment-push) then import (results-fetch).
//!
//! Each stage is safe to run twice for the same job: SQS delivers at least once.

use chrono::{DateTime, TimeDelta, Utc};
use domain::ports::{
    ConnectionStore, JobQueue, MAX_DELAY_SECONDS, Mailer, QueueError, Retryable, RunStore,
    StoreError, TenantSettingsStore,
};
use domain::run::LEASE_SECONDS;
use domain::{
    ConnectionId, Job, LeaseOutcome, LogLevel, QueueRole, Run, RunId, RunLogLine, RunStatus,
    TenantId, Trigger,
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
        Trigger::Change => "a change in the SMS",
    }
}

/// The ports the pipeline stages use.
pub struct Pipeline<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub runs: &'a dyn RunStore,
    pub queue: &'a dyn JobQueue,
    /// Sends the run-error email.
    pub mailer: &'a dyn Mailer,
    /// The tenant's history retention and run-error email template.
    pub tenants: &'a dyn TenantSettingsStore,
}

/// Whether a stage may go on with its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// The run holds its connection's lease: do the work.
    Go,
    /// The run already finished (a duplicate job, or another run took over):
    /// nothing to do.
    Finished(RunStatus),
    /// Another run works on the connection: the job was queued again to come
    /// back when that run's lease ends.
    Waiting { holder: RunId },
}

/// How a waiting run's line on the log begins (written once per holder).
const WAITING_LOG_PREFIX: &str = "Waiting for run ";

impl Pipeline<'_> {
    /// Starts (or resumes) a stage of `run` on its connection: records the run
    /// (with the tenant's history retention) when `trigger` is given, then takes
    /// or renews the connection's lease, so one run at a time works on a
    /// connection. When the lease lapsed under a run that never finished (its
    /// function died), that run is marked failed, and this one does its work:
    /// every stage is idempotent, so nothing is done twice. When another run
    /// holds the lease, `job` is queued again for when it ends.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, run = %run))]
    pub async fn begin(
        &self,
        job: &Job,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        trigger: Option<Trigger>,
        now: DateTime<Utc>,
    ) -> Result<Begin, JobError> {
        if let Some(trigger) = trigger {
            // A run is only ever recorded for a connection that exists.
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
            let keep = self.tenants.tenant_settings(tenant).await?.run_history_days;
            let offering = match job {
                Job::SyncConnection { offering, .. } | Job::FetchResults { offering, .. } => {
                    offering.as_deref()
                }
                Job::PushOffering { offering, .. } => Some(offering.as_str()),
                _ => None,
            };
            let record = Run::start(
                tenant.clone(),
                connection.clone(),
                run.clone(),
                trigger,
                now,
            )
            .keeping(keep)
            .for_offering(offering);
            self.runs.start_run(&record).await?;
        }
        let Some(stored) = self.runs.run(tenant, connection, run).await? else {
            return Err(JobError::UnknownRun {
                tenant: tenant.clone(),
                connection: connection.clone(),
                run: run.clone(),
            });
        };
        if stored.status != RunStatus::Importing {
            tracing::info!("run already finished; duplicate job ignored");
            return Ok(Begin::Finished(stored.status));
        }
        let until = now + TimeDelta::seconds(LEASE_SECONDS);
        match self
            .runs
            .acquire_lease(tenant, connection, run, now, until)
            .await?
        {
            LeaseOutcome::Acquired { taken_from, .. } => {
                if let Some(dead) = taken_from {
                    self.abandoned(tenant, connection, &dead, run, now).await?;
                }
                Ok(Begin::Go)
            }
            LeaseOutcome::Busy { holder, until } => {
                let wait = (until - now)
                    .num_seconds()
                    .clamp(30, i64::from(MAX_DELAY_SECONDS));
                self.queue
                    .enqueue_delayed(job, u32::try_from(wait).unwrap_or(MAX_DELAY_SECONDS))
                    .await?;
                // Said once per holder, whatever the number of deliveries.
                let prefix = format!("{WAITING_LOG_PREFIX}{holder}");
                let line = RunLogLine {
                    at: now,
                    level: LogLevel::Info,
                    message: format!(
                        "{prefix}, which is working on this connection; this run goes on when it ends."
                    ),
                };
                self.runs
                    .append_once(
                        tenant,
                        connection,
                        run,
                        &format!("waiting#{holder}"),
                        &[line],
                        &[],
                    )
                    .await?;
                tracing::info!(%holder, wait, "connection busy; job queued again");
                Ok(Begin::Waiting { holder })
            }
        }
    }

    /// A run whose lease lapsed before it finished: its function died. It is
    /// finished with an error saying so (and its error email sent); `by` does
    /// its work.
    async fn abandoned(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        dead: &RunId,
        by: &RunId,
        now: DateTime<Utc>,
    ) -> Result<(), JobError> {
        let Some(stored) = self.runs.run(tenant, connection, dead).await? else {
            return Ok(());
        };
        if stored.status != RunStatus::Importing {
            return Ok(());
        }
        tracing::warn!(dead = %dead, "a run stopped before it finished; taking over");
        let line = RunLogLine {
            at: now,
            level: LogLevel::Error,
            message: format!(
                "This run stopped before it finished (its function ended without a word); run {by} took over its work."
            ),
        };
        self.runs
            .append_log(tenant, connection, dead, &[line])
            .await?;
        self.finish_with_log(tenant, connection, dead, now).await?;
        Ok(())
    }

    /// A job that failed on every receive SQS allows (`receives`) and now goes
    /// to the dead-letter queue: its run is finished with an error line saying
    /// why (its lease given back, its error email sent), or, for a job without
    /// a run but with a connection, the failure becomes a run of its own. Best
    /// effort: what cannot be recorded is logged.
    #[tracing::instrument(skip_all, fields(job = job.name(), receives))]
    pub async fn gave_up(&self, job: &Job, reason: &str, receives: u32, now: DateTime<Utc>) {
        let message = format!(
            "The run's {} job failed {receives} times ({reason}) and was moved to the dead-letter queue; this run ends here. Run the connection again once the cause is fixed.",
            job.name()
        );
        let recorded = match job {
            Job::SyncConnection {
                tenant,
                connection,
                run,
                ..
            }
            | Job::PushOffering {
                tenant,
                connection,
                run,
                ..
            }
            | Job::FetchResults {
                tenant,
                connection,
                run,
                ..
            } => self.end_run(tenant, connection, run, message, now).await,
            Job::RemoveEnrolment {
                tenant, connection, ..
            }
            | Job::PushCourseKeyRoster {
                tenant, connection, ..
            }
            | Job::ProcessAttendance {
                tenant, connection, ..
            } => {
                let what = format!("The {} job (after {receives} tries)", job.name());
                self.incident(
                    tenant,
                    connection,
                    &what,
                    &GaveUp(reason.to_owned()),
                    now,
                    now,
                )
                .await
                .map(|_| ())
            }
            Job::SyncLearner { .. } | Job::SyncOffering { .. } | Job::Deliver { .. } => {
                tracing::error!(
                    reason,
                    "a job without a connection was dead-lettered; see the dead-letter queue"
                );
                Ok(())
            }
        };
        if let Err(error) = recorded {
            tracing::error!(
                error = &error as &dyn std::error::Error,
                "could not record a dead-lettered job on its run"
            );
        }
    }

    async fn end_run(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        message: String,
        now: DateTime<Utc>,
    ) -> Result<(), JobError> {
        match self.runs.run(tenant, connection, run).await? {
            Some(stored) if stored.status == RunStatus::Importing => {}
            _ => return Ok(()),
        }
        let line = RunLogLine {
            at: now,
            level: LogLevel::Error,
            message,
        };
        self.runs
            .append_log(tenant, connection, run, &[line])
            .await?;
        self.finish(tenant, connection, run, now).await?;
        Ok(())
    }

    /// A change sent on its own (no run of its own) failed for good on this
    /// connection: it is recorded as a run with that one error, in the
    /// connection's history, and the error address is emailed, so nothing
    /// fails where nobody looks. The run started when the change's job did
    /// (`started`) and finished when the failure was known (`now`). Returns
    /// the run's id.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection))]
    pub async fn incident(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        what: &str,
        error: &dyn std::error::Error,
        started: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<RunId, JobError> {
        let run = RunId::new_v7();
        let keep = self.tenants.tenant_settings(tenant).await?.run_history_days;
        let record = Run::start(
            tenant.clone(),
            connection.clone(),
            run.clone(),
            Trigger::Change,
            started,
        )
        .keeping(keep);
        self.runs.start_run(&record).await?;
        let line = RunLogLine {
            at: now,
            level: LogLevel::Error,
            message: format!("{what} failed: {}", crate::errors::error_text(error)),
        };
        self.runs
            .append_log(tenant, connection, &run, &[line])
            .await?;
        self.runs
            .add_counts(
                tenant,
                connection,
                &run,
                &[(domain::run::counts::FAILURES, 1)],
            )
            .await?;
        self.finish_with_log(tenant, connection, &run, now).await?;
        tracing::warn!(%run, what, "a change failed; recorded as a run");
        Ok(run)
    }

    /// Finishes a run with the status its log earns, gives its connection's
    /// lease back, and, when it finished with error, emails the connection's
    /// error address (no personal details: counts and where to read the run).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, run = %run))]
    pub async fn finish(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        now: DateTime<Utc>,
    ) -> Result<RunStatus, JobError> {
        let status = self.finish_with_log(tenant, connection, run, now).await?;
        self.runs.release_lease(tenant, connection, run).await?;
        Ok(status)
    }

    async fn finish_with_log(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        now: DateTime<Utc>,
    ) -> Result<RunStatus, JobError> {
        // The run's tally of its log lines, kept as they were appended: the
        // log itself is not read.
        let Some(stored) = self.runs.run(tenant, connection, run).await? else {
            return Err(JobError::UnknownRun {
                tenant: tenant.clone(),
                connection: connection.clone(),
                run: run.clone(),
            });
        };
        let status = stored.log.status();
        self.runs
            .finish_run(tenant, connection, run, status, now)
            .await?;
        tracing::info!(status = status.label(), "run finished");
        if status == RunStatus::FinishedWithError {
            self.email_errors(tenant, connection, run, stored.log)
                .await?;
        }
        Ok(status)
    }

    async fn email_errors(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        log: domain::LogTally,
    ) -> Result<(), JobError> {
        let (Some(conn), Some(stored)) = (
            self.connections.connection(tenant, connection).await?,
            self.runs.run(tenant, connection, run).await?,
        ) else {
            return Ok(());
        };
        let template = self.tenants.tenant_settings(tenant).await?.run_error_email;
        let Some(email) = domain::tenant::run_error_email(&template, &conn, &stored, log) else {
            return Ok(());
        };
        // The run is finished either way: a mail failure is written on its log
        // (and traced), not retried, so a redelivered job cannot email twice.
        if let Err(error) = self.mailer.send(&email).await {
            tracing::warn!(error = %error, "the run-error email could not be sent");
            let line = RunLogLine {
                at: stored.finished_at.unwrap_or(stored.started_at),
                level: LogLevel::Warning,
                message: format!("The error email could not be sent: {error}."),
            };
            self.runs
                .append_log(tenant, connection, run, &[line])
                .await?;
        }
        Ok(())
    }

    /// End of the export stage of a `sync_connection` job, once [`Self::begin`]
    /// recorded the run and said go: queues the import and says so on the run.
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
            .append_once(tenant, connection, run, "export", &[line], &[])
            .await?;
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
        self.finish(tenant, connection, run, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use chrono::TimeZone;
    use domain::Connection;
    use domain::connection::{ConnectionSettings, MoodleSettings};
    use domain::ports::Mailer;

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

    /// The export as a `sync_connection` job runs it: begin, then (when the
    /// run may go) the end of the export.
    async fn export(
        pipeline: &Pipeline<'_>,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
        trigger: Trigger,
    ) -> Result<(), JobError> {
        let job = Job::SyncConnection {
            tenant: t.clone(),
            connection: c.clone(),
            run: r.clone(),
            trigger,
            offering: None,
        };
        if pipeline.begin(&job, t, c, r, Some(trigger), now()).await? == Begin::Go {
            pipeline.export(t, c, r, trigger, None, now()).await?;
        }
        Ok(())
    }

    fn pipeline<'a>(
        connections: &'a MemConnections,
        runs: &'a MemRuns,
        queue: &'a MemQueue,
        mailer: &'a dyn Mailer,
        tenants: &'a MemTenants,
    ) -> Pipeline<'a> {
        Pipeline {
            connections,
            runs,
            queue,
            mailer,
            tenants,
        }
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
        let (mailer, tenants) = (MemMailer::default(), MemTenants::default());
        let pipeline = pipeline(&connections, &runs, &queue, &mailer, &tenants);
        let (t, c, r) = ids();
        export(&pipeline, &t, &c, &r, Trigger::Manual)
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
        export(&pipeline, &t, &c, &r, Trigger::Manual)
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
        let (mailer, tenants) = (MemMailer::default(), MemTenants::default());
        let pipeline = pipeline(&connections, &runs, &queue, &mailer, &tenants);
        let (t, _, r) = ids();
        let ghost = ConnectionId::parse("ghost").unwrap();
        let err = export(&pipeline, &t, &ghost, &r, Trigger::Nightly)
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

    fn sync(run: &str) -> Job {
        let (t, c, _) = ids();
        Job::SyncConnection {
            tenant: t,
            connection: c,
            run: RunId::parse(run).unwrap(),
            trigger: Trigger::Nightly,
            offering: None,
        }
    }

    fn minutes(m: i64) -> DateTime<Utc> {
        now() + TimeDelta::minutes(m)
    }

    #[tokio::test]
    async fn one_run_at_a_time_the_other_waits_and_goes_on_when_it_ends() {
        let (connections, runs, queue) = stores();
        let (mailer, tenants) = (MemMailer::default(), MemTenants::default());
        let pipeline = pipeline(&connections, &runs, &queue, &mailer, &tenants);
        let (t, c, _) = ids();
        let (a, b) = (
            RunId::parse("run-a").unwrap(),
            RunId::parse("run-b").unwrap(),
        );
        let go = pipeline
            .begin(&sync("run-a"), &t, &c, &a, Some(Trigger::Nightly), now())
            .await
            .unwrap();
        assert_eq!(go, Begin::Go);
        // A manual run while the nightly one works: it waits, queued again for
        // when the lease ends (capped at SQS's 15 minutes), with one log line.
        for at in [minutes(1), minutes(2)] {
            let waiting = pipeline
                .begin(&sync("run-b"), &t, &c, &b, Some(Trigger::Manual), at)
                .await
                .unwrap();
            assert_eq!(waiting, Begin::Waiting { holder: a.clone() });
        }
        let delayed = queue.delayed.lock().unwrap().clone();
        assert_eq!(delayed.len(), 2);
        assert_eq!(delayed[0], (sync("run-b"), 840));
        let log = runs.log(&t, &c, &b).await.unwrap();
        assert_eq!(log.len(), 1, "{log:?}");
        assert!(log[0].message.starts_with("Waiting for run run-a"));
        assert_eq!(
            runs.run(&t, &c, &b).await.unwrap().unwrap().status,
            RunStatus::Importing
        );
        // The first run renews its lease at its next stage, then finishes.
        assert_eq!(
            pipeline
                .begin(&sync("run-a"), &t, &c, &a, None, minutes(3))
                .await
                .unwrap(),
            Begin::Go
        );
        pipeline.finish(&t, &c, &a, minutes(4)).await.unwrap();
        assert_eq!(
            pipeline
                .begin(
                    &sync("run-b"),
                    &t,
                    &c,
                    &b,
                    Some(Trigger::Manual),
                    minutes(5)
                )
                .await
                .unwrap(),
            Begin::Go,
            "released: the waiting run goes on"
        );
        // A finished run's duplicate job does nothing.
        assert_eq!(
            pipeline
                .begin(
                    &sync("run-a"),
                    &t,
                    &c,
                    &a,
                    Some(Trigger::Nightly),
                    minutes(6)
                )
                .await
                .unwrap(),
            Begin::Finished(RunStatus::FinishedSuccessfully)
        );
        assert!(mailer.0.lock().unwrap().is_empty(), "no errors, no email");
    }

    #[tokio::test]
    async fn a_run_that_died_is_marked_failed_and_emailed_and_the_next_takes_over() {
        let (connections, runs, queue) = stores();
        connections.0.lock().unwrap()[0].error_email = Some("ops@acme.example".into());
        let (mailer, tenants) = (MemMailer::default(), MemTenants::default());
        let pipeline = pipeline(&connections, &runs, &queue, &mailer, &tenants);
        let (t, c, _) = ids();
        let (dead, next) = (
            RunId::parse("run-dead").unwrap(),
            RunId::parse("run-next").unwrap(),
        );
        pipeline
            .begin(
                &sync("run-dead"),
                &t,
                &c,
                &dead,
                Some(Trigger::Nightly),
                now(),
            )
            .await
            .unwrap();
        // Its function dies: no finish, no release. Within the lease, others wait.
        assert!(matches!(
            pipeline
                .begin(
                    &sync("run-next"),
                    &t,
                    &c,
                    &next,
                    Some(Trigger::Manual),
                    minutes(10)
                )
                .await
                .unwrap(),
            Begin::Waiting { .. }
        ));
        // Once the lease has lapsed, the next run takes over.
        assert_eq!(
            pipeline
                .begin(
                    &sync("run-next"),
                    &t,
                    &c,
                    &next,
                    Some(Trigger::Manual),
                    minutes(16)
                )
                .await
                .unwrap(),
            Begin::Go
        );
        let stored = runs.run(&t, &c, &dead).await.unwrap().unwrap();
        assert_eq!(stored.status, RunStatus::FinishedWithError);
        let log = runs.log(&t, &c, &dead).await.unwrap();
        assert!(
            log.iter().any(|l| l.level == LogLevel::Error
                && l.message.contains("stopped before it finished")
                && l.message.contains("run-next")),
            "{log:?}"
        );
        let sent = mailer.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, "ops@acme.example");
        assert!(
            sent[0]
                .body
                .contains("/v1/connections/moodle/runs/run-dead")
        );
        // The dead run's late job (if SQS brings it back) changes nothing.
        assert_eq!(
            pipeline
                .begin(&sync("run-dead"), &t, &c, &dead, None, minutes(17))
                .await
                .unwrap(),
            Begin::Finished(RunStatus::FinishedWithError)
        );
        assert_eq!(mailer.0.lock().unwrap().len(), 1, "emailed once");
    }

    #[tokio::test]
    async fn errors_are_emailed_once_with_the_tenants_template_and_no_personal_details() {
        let (connections, runs, queue) = stores();
        connections.0.lock().unwrap()[0].error_email = Some("ops@acme.example".into());
        let (mailer, tenants) = (MemMailer::default(), MemTenants::default());
        let (t, c, r) = ids();
        let mut settings = domain::tenant::TenantSettings {
            run_history_days: Some(90),
            ..Default::default()
        };
        settings.run_error_email.subject = "[{status}] {connection} {errors}".into();
        tenants.0.lock().unwrap().insert(t.clone(), settings);
        let pipeline = pipeline(&connections, &runs, &queue, &mailer, &tenants);
        pipeline
            .begin(&sync("run-1"), &t, &c, &r, Some(Trigger::Nightly), now())
            .await
            .unwrap();
        assert_eq!(
            runs.run(&t, &c, &r).await.unwrap().unwrap().keep_days,
            Some(90),
            "kept as long as the tenant says"
        );
        let incident = RunLogLine {
            at: now(),
            level: LogLevel::Error,
            message: "User Ada Lovelace (A1) - enrolment refused".into(),
        };
        runs.append_log(&t, &c, &r, &[incident]).await.unwrap();
        assert_eq!(
            pipeline.import(&t, &c, &r, minutes(1)).await.unwrap(),
            RunStatus::FinishedWithError
        );
        pipeline.import(&t, &c, &r, minutes(2)).await.unwrap();
        let sent = mailer.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 1, "a redelivered import emails no second time");
        assert_eq!(sent[0].subject, "[Finished with error] moodle 1");
        assert!(!sent[0].body.contains("Ada") && !sent[0].body.contains("A1"));
        assert!(
            runs.leases.lock().unwrap().is_empty(),
            "the lease is given back"
        );
    }

    #[tokio::test]
    async fn a_mail_failure_is_a_warning_on_the_run_not_a_retry() {
        struct Down;
        #[async_trait::async_trait]
        impl Mailer for Down {
            async fn send(&self, _: &domain::ports::Email) -> Result<(), domain::ports::MailError> {
                Err(domain::ports::MailError::Rejected {
                    reason: "MAIL_FROM is not set".into(),
                })
            }
        }
        let (connections, runs, queue) = stores();
        connections.0.lock().unwrap()[0].error_email = Some("ops@acme.example".into());
        let tenants = MemTenants::default();
        let pipeline = pipeline(&connections, &runs, &queue, &Down, &tenants);
        let (t, c, r) = ids();
        pipeline
            .begin(&sync("run-1"), &t, &c, &r, Some(Trigger::Nightly), now())
            .await
            .unwrap();
        let incident = RunLogLine {
            at: now(),
            level: LogLevel::Error,
            message: "x".into(),
        };
        runs.append_log(&t, &c, &r, &[incident]).await.unwrap();
        assert_eq!(
            pipeline.import(&t, &c, &r, minutes(1)).await.unwrap(),
            RunStatus::FinishedWithError
        );
        let log = runs.log(&t, &c, &r).await.unwrap();
        assert!(
            log.iter().any(|l| l.level == LogLevel::Warning
                && l.message == "The error email could not be sent: the mail service refused the message: MAIL_FROM is not set."),
            "{log:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_import_enqueue_is_transient() {
        let (connections, runs, queue) = stores();
        *queue.refuse_next.lock().unwrap() = vec![0];
        let (mailer, tenants) = (MemMailer::default(), MemTenants::default());
        let pipeline = pipeline(&connections, &runs, &queue, &mailer, &tenants);
        let (t, c, r) = ids();
        let err = export(&pipeline, &t, &c, &r, Trigger::Nightly)
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        // SQS redelivers; the second attempt completes without a second run.
        export(&pipeline, &t, &c, &r, Trigger::Nightly)
            .await
            .unwrap();
        assert_eq!(runs.runs.lock().unwrap().len(), 1);
        assert_eq!(queue.sent.lock().unwrap().len(), 1);
    }
}

/// A job's last transient failure, as the batch driver reports it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct GaveUp(String);
