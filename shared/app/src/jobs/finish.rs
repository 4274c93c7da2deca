//! Ending a run: finished with the status its log earns, its lease given
//! back, its errors emailed; a dead-lettered job or a failed change recorded
//! where a person sees it.

use super::begin::Pipeline;
use super::error::JobError;
use chrono::{DateTime, Utc};
use domain::{ConnectionId, Job, LogLevel, Run, RunId, RunLogLine, RunStatus, TenantId, Trigger};

impl Pipeline<'_> {
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

    pub(super) async fn finish_with_log(
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
}

/// A job's last transient failure, as the batch driver reports it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct GaveUp(String);
