//! The two stages of a run: export (enrolment-push) queues the import;
//! import (results-fetch) finishes the run.

use super::begin::Pipeline;
use super::error::JobError;
use chrono::{DateTime, Utc};
use domain::{
    ConnectionId, Job, LogLevel, OfferingId, RunId, RunLogLine, RunStatus, TenantId, Trigger,
};

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

impl Pipeline<'_> {
    /// End of the export stage of a `sync_connection` job, once [`Self::begin`]
    /// recorded the run and said go: queues the import and says so on the run.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, run = %run))]
    pub async fn export(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        trigger: Trigger,
        offering: Option<&OfferingId>,
        now: DateTime<Utc>,
    ) -> Result<(), JobError> {
        let fetch = Job::FetchResults {
            tenant: tenant.clone(),
            connection: connection.clone(),
            run: run.clone(),
            offering: offering.cloned(),
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
