//! The roster tick: each due CourseKey connection's marked offerings inside
//! their window queued for a push.

use super::push::unreadable_offering;
use chrono::{DateTime, NaiveDate, Utc};
use domain::attendance::{roster_push_due, roster_tick_due};
use domain::connection::{ConnectionSettings, CourseKeySettings};
use domain::ports::{
    AttendanceStore, ConnectionStore, JobQueue, QueueError, Retryable, SisStore, StoreError,
    TenantSettingsStore,
};
use domain::{ConnectionId, Job, TenantId};
use futures::{FutureExt, StreamExt, stream};
use std::collections::HashSet;
use std::panic::AssertUnwindSafe;

/// What one roster tick did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RosterTickReport {
    /// CourseKey connections whose tick was due (and is now recorded).
    pub ticked: usize,
    /// CourseKey connections not due: ticked less than `update_every_minutes`
    /// ago, or this very tick retried.
    pub not_due: usize,
    /// `push_coursekey_roster` jobs queued.
    pub queued: Vec<Job>,
}

#[derive(Debug, thiserror::Error)]
pub enum RosterTickError {
    #[error("a store failed")]
    Store(#[from] StoreError),
    /// Some pushes could not be queued: the tick is not recorded, so the
    /// Scheduler's retry queues them again (a push queued twice is cheap: the
    /// second finds the roster's fingerprint unchanged).
    #[error("{failed} roster push(es) could not be queued")]
    Queue {
        failed: usize,
        #[source]
        source: QueueError,
    },
    /// Some tenants' ticks failed (each logged, and on their marked offerings'
    /// status); every other tenant was ticked. Their tick is not recorded, so
    /// the Scheduler's retry (or the next minute) tries them again.
    #[error("the CourseKey roster tick failed for {}: {}", failed.len(), failed.join("; "))]
    Tenants {
        failed: Vec<String>,
        report: RosterTickReport,
    },
}

impl Retryable for RosterTickError {
    fn is_retryable(&self) -> bool {
        match self {
            RosterTickError::Store(e) => e.is_retryable(),
            RosterTickError::Queue { source, .. } => source.is_retryable(),
            RosterTickError::Tenants { .. } => true,
        }
    }
}

/// The roster tick for `scheduled_at`: for each enabled CourseKey connection
/// whose last tick is at least `update_every_minutes` ago, one
/// `push_coursekey_roster` job per marked offering inside its sync window
/// (deduplicated by [`Job::dedup_key`]), then the tick's time is stored. A
/// retried tick (same `scheduled_at`) finds it stored and queues nothing.
#[tracing::instrument(skip_all, fields(scheduled_at = %scheduled_at))]
pub async fn dispatch_roster_updates(
    connections: &dyn ConnectionStore,
    store: &dyn AttendanceStore,
    sis: &dyn SisStore,
    queue: &dyn JobQueue,
    tenant_settings: &dyn TenantSettingsStore,
    scheduled_at: DateTime<Utc>,
) -> Result<RosterTickReport, RosterTickError> {
    let mut report = RosterTickReport::default();
    // Offerings do not name a CourseKey connection: like the API, a tenant's
    // roster goes to its first CourseKey connection only (by id).
    let mut tenants = HashSet::new();
    // A connection's record that cannot be read is left out, never the tick.
    let (mut enabled, unreadable) = connections.enabled_connections_checked().await?;
    enabled.sort_by(|a, b| (&a.tenant, &a.id).cmp(&(&b.tenant, &b.id)));
    let mut failed = Vec::new();
    for conn in enabled {
        let ConnectionSettings::CourseKey(settings) = &conn.settings else {
            continue;
        };
        if !tenants.insert(conn.tenant.clone()) {
            tracing::warn!(tenant = %conn.tenant, connection = %conn.id, "a second CourseKey connection of the tenant; its roster goes to the first");
            continue;
        }
        // One tenant's failure (or panic) never stops the others' rosters.
        let ticked = AssertUnwindSafe(tick_one(
            store,
            sis,
            queue,
            tenant_settings,
            settings,
            &conn.tenant,
            &conn.id,
            scheduled_at,
        ))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            Err(TickFailure::Panic(crate::errors::panic_text(
                panic.as_ref(),
            )))
        });
        match ticked {
            Ok(None) => report.not_due += 1,
            Ok(Some(jobs)) => {
                report.ticked += 1;
                report.queued.extend(jobs);
            }
            Err(failure) => {
                let reason = failure.to_string();
                tracing::error!(tenant = %conn.tenant, connection = %conn.id, error = %reason, "CourseKey roster tick failed for this tenant; the others go on");
                record_tick_failure(store, &conn.tenant, &reason).await;
                failed.push(format!("{}/{}: {reason}", conn.tenant, conn.id));
            }
        }
    }
    // A tenant whose connection could not be read and that has no readable
    // CourseKey connection: its marked offerings' status says why (that
    // connection may be its CourseKey one). Not a failed tick: retrying the
    // schedule cannot repair a record, a person can.
    for record in unreadable {
        tracing::error!(key = %record.key, reason = %record.reason, "an enabled connection's stored record could not be read; the tick goes on without it");
        let Some(tenant) = &record.tenant else {
            continue;
        };
        if tenants.contains(tenant) {
            continue;
        }
        let id = record
            .connection
            .as_ref()
            .map_or_else(|| record.key.clone(), ToString::to_string);
        let reason = format!(
            "the stored connection {id} cannot be read ({}); if it is the CourseKey connection, replace it with PUT /v1/connections/{id}",
            record.reason
        );
        record_tick_failure(store, tenant, &reason).await;
    }
    if failed.is_empty() {
        Ok(report)
    } else {
        Err(RosterTickError::Tenants { failed, report })
    }
}

/// Why one tenant's tick did not happen.
#[derive(Debug, thiserror::Error)]
enum TickFailure {
    #[error("{}", crate::errors::error_text(.0))]
    Tick(#[from] RosterTickError),
    #[error("{}", crate::errors::error_text(.0))]
    Store(#[from] StoreError),
    #[error("the roster tick {0}")]
    Panic(String),
}

/// One CourseKey connection's tick: `None` when not due, else the pushes queued.
#[allow(clippy::too_many_arguments)]
async fn tick_one(
    store: &dyn AttendanceStore,
    sis: &dyn SisStore,
    queue: &dyn JobQueue,
    tenant_settings: &dyn TenantSettingsStore,
    settings: &CourseKeySettings,
    tenant: &TenantId,
    connection: &ConnectionId,
    scheduled_at: DateTime<Utc>,
) -> Result<Option<Vec<Job>>, TickFailure> {
    let last = store.roster_tick(tenant, connection).await?;
    if !roster_tick_due(last, scheduled_at, settings.update_every_minutes) {
        return Ok(None);
    }
    // "Today" is the tenant's: a window opens at its local midnight.
    let today = tenant_settings
        .tenant_settings(tenant)
        .await?
        .zone()
        .today(scheduled_at);
    let jobs = due_pushes(store, sis, settings, tenant, connection, today).await?;
    if !jobs.is_empty() {
        let failures = queue
            .enqueue(&jobs)
            .await
            .map_err(|source| RosterTickError::Queue {
                failed: jobs.len(),
                source,
            })?;
        let failed = failures.len();
        if let Some(first) = failures.into_iter().next() {
            return Err(RosterTickError::Queue {
                failed,
                source: first.error,
            }
            .into());
        }
    }
    store
        .save_roster_tick(tenant, connection, scheduled_at)
        .await?;
    tracing::info!(%tenant, %connection, queued = jobs.len(), "CourseKey roster tick");
    Ok(Some(jobs))
}

/// A tenant's failed tick, on each of its marked offerings' CourseKey status
/// (best effort: the tick's error log has it too).
async fn record_tick_failure(store: &dyn AttendanceStore, tenant: &TenantId, reason: &str) {
    let Ok(marked) = store.marked_coursekey_offerings(tenant).await else {
        return;
    };
    let reason = format!("The CourseKey roster update could not run: {reason}");
    for mut ck in marked {
        if ck.last_error.as_deref() == Some(reason.as_str()) {
            continue;
        }
        ck.last_error = Some(reason.clone());
        if let Err(error) = store.save_coursekey_offering(&ck).await {
            tracing::warn!(offering = %ck.offering, error = &error as &dyn std::error::Error, "could not record the tick's failure on the offering");
        }
    }
}

/// The SMS offerings read at once by one tick (their dates decide the window).
const TICK_READ_CONCURRENCY: usize = 16;

/// One push per marked offering of the tenant that is inside its window today.
async fn due_pushes(
    store: &dyn AttendanceStore,
    sis: &dyn SisStore,
    settings: &CourseKeySettings,
    tenant: &TenantId,
    connection: &ConnectionId,
    today: NaiveDate,
) -> Result<Vec<Job>, StoreError> {
    let marked = store.marked_coursekey_offerings(tenant).await?;
    let dated: Vec<_> = stream::iter(marked.into_iter().map(|ck| async move {
        let sms = sis.offering(tenant, &ck.offering).await;
        (ck, sms)
    }))
    .buffered(TICK_READ_CONCURRENCY)
    .collect()
    .await;
    let mut seen = HashSet::new();
    let mut jobs = Vec::new();
    for (ck, sms) in dated {
        let sms = match sms {
            Ok(Some(sms)) => sms,
            Ok(None) => continue,
            // A transient failure fails the tick (the Scheduler retries it).
            Err(error) if error.is_retryable() => return Err(error),
            // One offering whose SMS record cannot be read: its status says
            // so, and the tenant's other offerings are pushed.
            Err(error) => {
                let reason = unreadable_offering(&error);
                tracing::error!(%tenant, offering = %ck.offering, error = &error as &dyn std::error::Error, "a marked offering could not be read; skipped");
                if ck.last_error.as_deref() != Some(reason.as_str()) {
                    let mut failed = ck;
                    failed.last_error = Some(reason);
                    store.save_coursekey_offering(&failed).await?;
                }
                continue;
            }
        };
        if !roster_push_due(&ck, sms.start_date, sms.end_date, today, settings) {
            continue;
        }
        let job = Job::PushCourseKeyRoster {
            tenant: tenant.clone(),
            connection: connection.clone(),
            offering: ck.offering.clone(),
        };
        if seen.insert(job.dedup_key()) {
            jobs.push(job);
        }
    }
    Ok(jobs)
}
