//! What a schedule that serves every tenant finds wrong with one tenant's
//! records, recorded where that tenant's people look: a run of its own in
//! the connection's history (`GET /v1/connections/{id}/runs`), finished with
//! an error line per record saying what and why.

use chrono::{DateTime, Utc};
use domain::ports::{RunStore, StoreError, TenantSettingsStore, UnreadableRecord, Written};
use domain::{ConnectionId, LogLevel, Run, RunId, RunLogLine, RunStatus, TenantId, Trigger};
use std::collections::BTreeMap;

/// What recording the daily retry's unreadable deliveries came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The runs written (one per connection with unreadable deliveries).
    pub runs: Vec<(TenantId, ConnectionId, RunId)>,
    /// Records that could not be put on a run: their tenant or connection is
    /// unknown (the item's attributes do not say), or the store failed. They
    /// are in the error log only.
    pub unrecorded: usize,
}

/// Records the due deliveries the daily retry could not read (and left out)
/// as one run per connection, trigger `change`, finished with an error line
/// per delivery: the item's key and why. The run's id derives from the
/// schedule time (`scheduled_at`), so the Scheduler retrying the invocation
/// writes nothing twice; the next day's sweep, finding the record still
/// unreadable, records it again.
#[tracing::instrument(skip_all, fields(records = records.len()))]
pub async fn record_unreadable_deliveries(
    runs: &dyn RunStore,
    tenants: &dyn TenantSettingsStore,
    records: &[UnreadableRecord],
    scheduled_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Recorded {
    let mut recorded = Recorded::default();
    let mut by_connection: BTreeMap<(TenantId, ConnectionId), Vec<&UnreadableRecord>> =
        BTreeMap::new();
    for record in records {
        match (&record.tenant, &record.connection) {
            (Some(t), Some(c)) => by_connection
                .entry((t.clone(), c.clone()))
                .or_default()
                .push(record),
            _ => {
                tracing::error!(key = %record.key, "an unreadable delivery names no tenant and connection: in this log only");
                recorded.unrecorded += 1;
            }
        }
    }
    let scheduled_ms = u64::try_from(scheduled_at.timestamp_millis()).unwrap_or(0);
    for ((tenant, connection), records) in by_connection {
        let run = RunId::for_schedule(scheduled_ms, &tenant, &connection);
        match record_one(runs, tenants, &tenant, &connection, &run, &records, now).await {
            Ok(()) => recorded.runs.push((tenant, connection, run)),
            Err(error) => {
                tracing::error!(%tenant, %connection, error = &error as &dyn std::error::Error, "the unreadable deliveries could not be recorded on a run");
                recorded.unrecorded += records.len();
            }
        }
    }
    recorded
}

/// The line a person reads on the run for one unreadable delivery.
pub fn unreadable_delivery_line(record: &UnreadableRecord) -> String {
    format!(
        "The daily retry could not read a stored delivery and left it out (every other delivery was queued): item {}: {}. It was written in a form learnbridge does not read; ask the deployment's operators to repair or remove it.",
        record.key, record.reason
    )
}

async fn record_one(
    runs: &dyn RunStore,
    tenants: &dyn TenantSettingsStore,
    tenant: &TenantId,
    connection: &ConnectionId,
    run: &RunId,
    records: &[&UnreadableRecord],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // Unreadable settings keep the deployment's retention.
    let keep = match tenants.tenant_settings(tenant).await {
        Ok(settings) => settings.run_history_days,
        Err(error) if error.is_retryable() => return Err(error),
        Err(_) => None,
    };
    let record = Run::start(
        tenant.clone(),
        connection.clone(),
        run.clone(),
        Trigger::Change,
        now,
    )
    .keeping(keep);
    if runs.start_run(&record).await? == Written::AlreadyDone {
        // This schedule time's run: recorded by an earlier invocation unless
        // that one failed before finishing it.
        if runs
            .run(tenant, connection, run)
            .await?
            .is_some_and(|r| r.status != RunStatus::Importing)
        {
            return Ok(());
        }
    }
    let lines: Vec<RunLogLine> = records
        .iter()
        .map(|record| RunLogLine {
            at: now,
            level: LogLevel::Error,
            message: unreadable_delivery_line(record),
        })
        .collect();
    runs.append_log(tenant, connection, run, &lines).await?;
    runs.add_counts(
        tenant,
        connection,
        run,
        &[(
            domain::run::counts::FAILURES,
            u64::try_from(records.len()).unwrap_or(u64::MAX),
        )],
    )
    .await?;
    runs.finish_run(tenant, connection, run, RunStatus::FinishedWithError, now)
        .await
}
