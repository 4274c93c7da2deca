//! A `push_offering` job ("transfer enrolments", auto-push): one offering
//! pushed inside a run.

use super::error::PushError;
use super::service::{Push, PushReport, moodle_connection};
use crate::jobs::Begin;
use chrono::{DateTime, Utc};
use domain::ports::Retryable;
use domain::{ConnectionId, Job, OfferingId, RunId, TenantId, Trigger, run::counts};
use tracing::Instrument;

impl Push<'_> {
    /// A `push_offering` job: the run is recorded, the offering pushed, and the
    /// run finished with the status its log earns. A finished run is left alone.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, offering = %offering, run = %run))]
    pub async fn push_job(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
        run: &RunId,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Result<PushReport, PushError> {
        let (conn, settings) = moodle_connection(self.connections, tenant, connection).await?;
        let pipeline = self.pipeline();
        let job = Job::PushOffering {
            tenant: tenant.clone(),
            connection: connection.clone(),
            offering: offering.clone(),
            run: run.clone(),
            trigger,
        };
        if pipeline
            .begin(&job, tenant, connection, run, Some(trigger), now)
            .instrument(tracing::debug_span!("begin"))
            .await?
            != Begin::Go
        {
            return Ok(PushReport::default());
        }
        if self
            .skipped_while_disabled(&conn, run, trigger, now)
            .await?
        {
            pipeline
                .finish(tenant, connection, run, (self.clock)())
                .await?;
            return Ok(PushReport::default());
        }
        // The connection as read above: not read again.
        let report = match self
            .push_offering_of(&conn, &settings, offering, run, false, now)
            .await
        {
            Ok(report) => report,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                self.record_failure(tenant, connection, run, &e, now)
                    .await?;
                self.runs
                    .add_counts(tenant, connection, run, &[(counts::FAILURES, 1)])
                    .await?;
                PushReport::default()
            }
        };
        pipeline
            .finish(tenant, connection, run, (self.clock)())
            .await?;
        Ok(report)
    }
}
