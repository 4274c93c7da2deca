//! The export of a `sync_connection` job: every linked offering pushed and
//! called, removals that did not happen queued again, and a connection
//! nothing is linked through checked.

use super::error::PushError;
use super::service::{Push, line};
use crate::errors::error_text;
use crate::jobs::{Begin, JobError};
use chrono::{DateTime, Utc};
use domain::connection::ConnectionSettings;
use domain::ports::Retryable;
use domain::sis::{CourseLink, TransferStatus};
use domain::{
    Connection, ConnectionId, Job, LogLevel, OfferingId, RunId, TenantId, Trigger, run::counts,
};

impl Push<'_> {
    /// named) is pushed and its not-called enrolments called, then the import
    /// is queued (see [`Pipeline::export`](crate::jobs::Pipeline::export)). A finished run is left alone.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, run = %run))]
    pub async fn export(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        trigger: Trigger,
        offering: Option<&OfferingId>,
        now: DateTime<Utc>,
    ) -> Result<(), PushError> {
        let pipeline = self.pipeline();
        let Some(conn) = self.connections.connection(tenant, connection).await? else {
            // No run is recorded for a connection that does not exist.
            return Err(JobError::UnknownConnection {
                tenant: tenant.clone(),
                connection: connection.clone(),
            }
            .into());
        };
        let job = Job::SyncConnection {
            tenant: tenant.clone(),
            connection: connection.clone(),
            run: run.clone(),
            trigger,
            offering: offering.cloned(),
        };
        if pipeline
            .begin(&job, tenant, connection, run, Some(trigger), now)
            .await?
            != Begin::Go
        {
            return Ok(());
        }
        let disabled = self
            .skipped_while_disabled(&conn, run, trigger, now)
            .await?;
        if matches!(conn.settings, ConnectionSettings::Moodle(_)) && !disabled {
            let links = self.links.links(tenant, connection).await?;
            if links.is_empty() && offering.is_none() {
                self.check_unlinked(&conn, run, now).await?;
            }
            for link in links
                .iter()
                .filter(|l| offering.is_none_or(|o| &l.offering == o))
            {
                match self
                    .push_offering(tenant, connection, &link.offering, run, true, now)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.is_retryable() => return Err(e),
                    Err(e) => {
                        self.record_failure(tenant, connection, run, &e, now)
                            .await?;
                        self.runs
                            .add_counts(tenant, connection, run, &[(counts::FAILURES, 1)])
                            .await?;
                    }
                }
                self.retry_removals(tenant, connection, link, run, now)
                    .await?;
            }
        }
        pipeline
            .export(tenant, connection, run, trigger, offering, now)
            .await?;
        Ok(())
    }
}

/// How the line of an unlinked connection's check begins.
const UNLINKED_PREFIX: &str = "No offering is linked through this connection";

impl Push<'_> {
    /// A run of a Moodle connection nothing is linked through pushes and reads
    /// nothing, yet it says whether Moodle answers (one call, the connection
    /// test's): a refusal (a bad token, a missing function) is an error on the
    /// run, which then finishes with error, not a success nobody questions.
    async fn check_unlinked(
        &self,
        conn: &Connection,
        run: &RunId,
        now: DateTime<Utc>,
    ) -> Result<(), PushError> {
        // A redelivered job checks once (the run's log is a line or two here).
        let log = self.runs.log(&conn.tenant, &conn.id, run).await?;
        if log.iter().any(|l| l.message.starts_with(UNLINKED_PREFIX)) {
            return Ok(());
        }
        let checked = match self.learning.for_connection(conn).await {
            Ok(lms) => lms.test().await,
            Err(e) => Err(e),
        };
        let (level, message) = match checked {
            Ok(report) if report.missing_functions.is_empty() => (
                LogLevel::Info,
                format!(
                    "{UNLINKED_PREFIX}: nothing to push or read. Moodle answers ({}, {}).",
                    report.site_name, report.release
                ),
            ),
            Ok(report) => (
                LogLevel::Error,
                format!(
                    "{UNLINKED_PREFIX}, and Moodle's service for its token lacks functions learnbridge needs: {}. Add them to the external service in Moodle.",
                    report.missing_functions.join(", ")
                ),
            ),
            // Not reached (a timeout, a 5xx): said, and checked again next run.
            Err(e) if e.is_retryable() => (
                LogLevel::Warning,
                format!(
                    "{UNLINKED_PREFIX}, and Moodle could not be reached for the connection check: {}; checked again next run.",
                    error_text(&e)
                ),
            ),
            Err(e) => (
                LogLevel::Error,
                format!(
                    "{UNLINKED_PREFIX}, and Moodle refused the connection check: {}.",
                    error_text(&e)
                ),
            ),
        };
        if level == LogLevel::Error {
            tracing::warn!("the connection check of an unlinked connection failed");
            self.runs
                .add_counts(&conn.tenant, &conn.id, run, &[(counts::FAILURES, 1)])
                .await?;
        }
        self.runs
            .append_log(&conn.tenant, &conn.id, run, &[line(level, message, now)])
            .await?;
        Ok(())
    }

    /// Removals that did not happen (their reads or Moodle failed: the
    /// transfer holds why) are queued again, each once per export.
    async fn retry_removals(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        link: &CourseLink,
        run: &RunId,
        now: DateTime<Utc>,
    ) -> Result<(), PushError> {
        let jobs: Vec<Job> = self
            .links
            .transfers(tenant, connection, &link.offering)
            .await?
            .into_iter()
            .filter(|t| t.status == TransferStatus::Transferred && t.removal_error.is_some())
            .map(|t| Job::RemoveEnrolment {
                tenant: tenant.clone(),
                connection: connection.clone(),
                offering: t.offering,
                learner: t.learner,
            })
            .collect();
        if jobs.is_empty() {
            return Ok(());
        }
        if let Some(failure) = self.queue.enqueue(&jobs).await?.into_iter().next() {
            return Err(PushError::Queue(failure.error));
        }
        self.runs
            .append_log(
                tenant,
                connection,
                run,
                &[line(
                    LogLevel::Info,
                    format!(
                        "Offering {}: {} removal(s) that did not happen are tried again.",
                        link.offering,
                        jobs.len()
                    ),
                    now,
                )],
            )
            .await?;
        Ok(())
    }
}
