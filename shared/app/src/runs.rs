//! Runs a person starts — a whole sync (export then import) or only the
//! results download, for a connection or one offering; one offering's
//! enrolments transferred to Moodle now — and stopping one. Disabled
//! connections can still be run by hand.

use chrono::{DateTime, Utc};
use domain::ports::{
    ConnectionStore, JobQueue, QueueError, RunStore, SisStore, StoreError, TenantSettingsStore,
};
use domain::{
    ConnectionId, ConnectionKind, Job, OfferingId, Run, RunId, RunStatus, TenantId, Trigger,
};

/// The ports starting and stopping runs uses.
pub struct Runs<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub runs: &'a dyn RunStore,
    pub sis: &'a dyn SisStore,
    pub tenants: &'a dyn TenantSettingsStore,
    pub queue: &'a dyn JobQueue,
}

/// What a run does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stage {
    /// Export (learners, courses, enrolments out), then import (results back).
    #[default]
    Full,
    /// Only download results.
    Import,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("connection {id} does not exist")]
    NoConnection { id: ConnectionId },
    /// The SMS connection: deliveries go to it, it is not synced.
    #[error("connection {id} is the SMS: deliveries go to it, it is not synced")]
    NotSynced { id: ConnectionId },
    /// The offering sent is not an offering id.
    #[error(transparent)]
    BadOffering(domain::IdError),
    #[error("offering {offering} does not exist")]
    NoOffering { offering: OfferingId },
    /// The connection sent is not a connection id.
    #[error(transparent)]
    BadConnection(domain::IdError),
    /// A transfer goes to a Moodle connection only.
    #[error("connection {id} is not a Moodle connection; enrolments are transferred to Moodle")]
    NotMoodle { id: ConnectionId },
    #[error("run {run} does not exist")]
    NoRun { run: RunId },
    /// Stopping a run that has finished.
    #[error("run {run} has finished ({})", status.label())]
    Finished { run: RunId, status: RunStatus },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run is recorded but its job could not be queued.
    #[error("the run's job could not be queued")]
    NotQueued(#[source] QueueError),
}

impl Runs<'_> {
    /// Starts a run now: the run is recorded (kept as long as the tenant keeps
    /// its history) before its job is queued, so the history shows it at once
    /// and an import-only job finds it. `offering`: only this one (as sent;
    /// checked once the connection is known); left out, every linked one.
    /// Answers the run and the offering.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection))]
    pub async fn start(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        stage: Stage,
        offering: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(RunId, Option<OfferingId>), RunError> {
        let Some(stored) = self.connections.connection(tenant, connection).await? else {
            return Err(RunError::NoConnection {
                id: connection.clone(),
            });
        };
        let id = stored.id;
        if stored.settings.kind() == ConnectionKind::Sms {
            return Err(RunError::NotSynced { id });
        }
        let offering = offering
            .map(OfferingId::parse)
            .transpose()
            .map_err(RunError::BadOffering)?;
        if let Some(offering) = &offering
            && self.sis.offering(tenant, offering).await?.is_none()
        {
            return Err(RunError::NoOffering {
                offering: offering.clone(),
            });
        }
        let run = RunId::new_v7();
        let keep = self.tenants.tenant_settings(tenant).await?.run_history_days;
        self.runs
            .start_run(
                &Run::start(
                    tenant.clone(),
                    id.clone(),
                    run.clone(),
                    Trigger::Manual,
                    now,
                )
                .keeping(keep)
                .for_offering(offering.as_ref().map(OfferingId::as_str)),
            )
            .await?;
        let job = match stage {
            Stage::Full => Job::SyncConnection {
                tenant: tenant.clone(),
                connection: id,
                run: run.clone(),
                trigger: Trigger::Manual,
                offering: offering.clone(),
            },
            Stage::Import => Job::FetchResults {
                tenant: tenant.clone(),
                connection: id,
                run: run.clone(),
                offering: offering.clone(),
            },
        };
        self.enqueue(&job).await?;
        Ok((run, offering))
    }

    /// Transfers one offering's enrolments to a Moodle connection now (a
    /// `push_offering` job of its own run). `connection`: as sent, checked
    /// once the offering is known. Answers the run and the connection.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, offering = %offering))]
    pub async fn transfer(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        connection: String,
    ) -> Result<(RunId, ConnectionId), RunError> {
        if self.sis.offering(tenant, offering).await?.is_none() {
            return Err(RunError::NoOffering {
                offering: offering.clone(),
            });
        }
        let id = ConnectionId::parse(connection).map_err(RunError::BadConnection)?;
        let Some(stored) = self.connections.connection(tenant, &id).await? else {
            return Err(RunError::NoConnection { id });
        };
        if stored.settings.kind() != ConnectionKind::Moodle {
            return Err(RunError::NotMoodle { id });
        }
        let run = RunId::new_v7();
        self.enqueue(&Job::PushOffering {
            tenant: tenant.clone(),
            connection: id.clone(),
            offering: offering.clone(),
            run: run.clone(),
            trigger: Trigger::Manual,
        })
        .await?;
        Ok((run, id))
    }

    async fn enqueue(&self, job: &Job) -> Result<(), RunError> {
        let failures = self
            .queue
            .enqueue(std::slice::from_ref(job))
            .await
            .map_err(RunError::NotQueued)?;
        if let Some(failure) = failures.into_iter().next() {
            tracing::error!(
                job = job.name(),
                error = &failure.error as &dyn std::error::Error,
                "job not queued"
            );
            return Err(RunError::NotQueued(failure.error));
        }
        tracing::info!(jobs = 1, "jobs queued");
        Ok(())
    }

    /// Asks a running run to stop (the download checks between offerings).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, run = %run))]
    pub async fn stop(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<(), RunError> {
        let Some(stored) = self.runs.run(tenant, connection, run).await? else {
            return Err(RunError::NoRun { run: run.clone() });
        };
        if stored.status != RunStatus::Importing {
            return Err(RunError::Finished {
                run: run.clone(),
                status: stored.status,
            });
        }
        self.runs.request_stop(tenant, connection, run).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
