//! Starting a stage: the run recorded, the connection's lease taken (one run
//! at a time per connection), a run that died taken over.

use super::error::JobError;
use chrono::{DateTime, TimeDelta, Utc};
use domain::ports::{
    ConnectionStore, JobQueue, MAX_DELAY_SECONDS, Mailer, RunStore, TenantSettingsStore,
};
use domain::run::LEASE_SECONDS;
use domain::{
    ConnectionId, Job, LeaseOutcome, LogLevel, OfferingId, Run, RunId, RunLogLine, RunStatus,
    TenantId, Trigger,
};

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
            // A run is only ever recorded for a connection that exists (read
            // side by side with the tenant's settings: both only read).
            let (stored, settings) = futures::join!(
                self.connections.connection(tenant, connection),
                self.tenants.tenant_settings(tenant)
            );
            if stored?.is_none() {
                return Err(JobError::UnknownConnection {
                    tenant: tenant.clone(),
                    connection: connection.clone(),
                });
            }
            let keep = settings?.run_history_days;
            let offering = match job {
                Job::SyncConnection { offering, .. } | Job::FetchResults { offering, .. } => {
                    offering.as_ref().map(OfferingId::as_str)
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
}
