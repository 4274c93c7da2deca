//! The nightly schedule: one run per enabled connection, queued for export.

use chrono::{DateTime, Utc};
use domain::ports::{
    ConnectionStore, JobQueue, QueueError, RunStore, StoreError, TenantSettingsStore, Written,
};
use domain::{
    Connection, ConnectionId, Job, LogLevel, Run, RunId, RunLogLine, RunStatus, TenantId, Trigger,
};
use futures::{StreamExt, TryStreamExt, stream};

/// DynamoDB writes in flight at once while starting runs.
const START_CONCURRENCY: usize = 16;

/// What one nightly invocation did.
#[derive(Debug, Default, PartialEq)]
pub struct NightlyReport {
    /// Runs queued by this invocation (new, or started earlier but never finished).
    pub queued: Vec<(TenantId, ConnectionId, RunId)>,
    /// Runs for this schedule time that had already finished: left alone.
    pub already_finished: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("the enabled connections could not be read")]
    List(#[source] StoreError),
    #[error("a run could not be recorded")]
    Start(#[source] StoreError),
    #[error("{failed} of {total} runs could not be queued; the schedule's retry will queue them")]
    Enqueue {
        failed: usize,
        total: usize,
        report: NightlyReport,
    },
    #[error("the runs could not be queued")]
    Queue(#[source] QueueError),
}

impl domain::ports::Retryable for DispatchError {
    fn is_retryable(&self) -> bool {
        match self {
            DispatchError::List(e) | DispatchError::Start(e) => e.is_retryable(),
            DispatchError::Enqueue { .. } => true,
            DispatchError::Queue(e) => e.is_retryable(),
        }
    }
}

/// Starts one run per enabled connection for the schedule time `scheduled_at`
/// (kept as long as its tenant keeps history) and queues its export.
/// Idempotent per schedule time: run ids derive from it, so a retried
/// invocation re-queues only runs that have not finished.
#[tracing::instrument(skip_all, fields(scheduled_at = %scheduled_at))]
pub async fn dispatch_nightly(
    connections: &dyn ConnectionStore,
    runs: &dyn RunStore,
    queue: &dyn JobQueue,
    tenants: &dyn TenantSettingsStore,
    scheduled_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<NightlyReport, DispatchError> {
    let enabled: Vec<Connection> = connections
        .enabled_connections()
        .await
        .map_err(DispatchError::List)?
        .into_iter()
        .filter(|c| c.enabled && c.kind().is_synced_nightly())
        .collect();
    let scheduled_ms = u64::try_from(scheduled_at.timestamp_millis()).unwrap_or(0);
    let mut keep_days: std::collections::HashMap<TenantId, Option<u32>> =
        std::collections::HashMap::new();
    for connection in &enabled {
        if !keep_days.contains_key(&connection.tenant) {
            let settings = tenants
                .tenant_settings(&connection.tenant)
                .await
                .map_err(DispatchError::Start)?;
            keep_days.insert(connection.tenant.clone(), settings.run_history_days);
        }
    }
    let keep_days = &keep_days;

    let started: Vec<Option<Run>> = stream::iter(enabled.iter().map(|connection| async move {
        let id = RunId::for_schedule(scheduled_ms, &connection.tenant, &connection.id);
        let run = Run::start(
            connection.tenant.clone(),
            connection.id.clone(),
            id,
            Trigger::Nightly,
            now,
        )
        .keeping(keep_days.get(&connection.tenant).copied().flatten());
        match runs.start_run(&run).await? {
            Written::Done => Ok(Some(run)),
            Written::AlreadyDone => {
                let existing = runs.run(&run.tenant, &run.connection, &run.id).await?;
                Ok(match existing {
                    Some(existing) if existing.status != RunStatus::Importing => None,
                    _ => Some(run),
                })
            }
        }
    }))
    .buffer_unordered(START_CONCURRENCY)
    .try_collect()
    .await
    .map_err(DispatchError::Start)?;

    let mut report = NightlyReport {
        already_finished: started.iter().filter(|r| r.is_none()).count(),
        ..Default::default()
    };
    let to_queue: Vec<Run> = started.into_iter().flatten().collect();
    let jobs: Vec<Job> = to_queue
        .iter()
        .map(|run| Job::SyncConnection {
            tenant: run.tenant.clone(),
            connection: run.connection.clone(),
            run: run.id.clone(),
            trigger: Trigger::Nightly,
            offering: None,
        })
        .collect();
    let failures = if jobs.is_empty() {
        Vec::new()
    } else {
        queue.enqueue(&jobs).await.map_err(DispatchError::Queue)?
    };
    let failed: std::collections::HashSet<usize> = failures.iter().map(|f| f.index).collect();

    for failure in &failures {
        if let Some(run) = to_queue.get(failure.index) {
            tracing::warn!(tenant = %run.tenant, connection = %run.connection, run = %run.id, error = %failure.error, "run could not be queued");
            let line = RunLogLine {
                at: now,
                level: LogLevel::Warning,
                message: format!(
                    "The run could not be queued ({}); the schedule will try again.",
                    failure.error
                ),
            };
            // The log line is best effort: the failure is also returned to the caller.
            if let Err(error) = runs
                .append_log(&run.tenant, &run.connection, &run.id, &[line])
                .await
            {
                tracing::warn!(run = %run.id, error = %error, "could not log a queueing failure");
            }
        }
    }
    report.queued = to_queue
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !failed.contains(i))
        .map(|(_, run)| (run.tenant, run.connection, run.id))
        .collect();
    if failures.is_empty() {
        tracing::info!(
            queued = report.queued.len(),
            already_finished = report.already_finished,
            "nightly runs queued"
        );
        Ok(report)
    } else {
        Err(DispatchError::Enqueue {
            failed: failures.len(),
            total: jobs.len(),
            report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::*;
    use chrono::TimeZone;
    use domain::connection::{ConnectionSettings, MoodleSettings, SmsSettings};

    fn connection(
        tenant: &str,
        id: &str,
        enabled: bool,
        settings: ConnectionSettings,
    ) -> Connection {
        Connection {
            tenant: TenantId::parse(tenant).unwrap(),
            id: ConnectionId::parse(id).unwrap(),
            name: id.to_owned(),
            base_url: "http://127.0.0.1:1".to_owned(),
            enabled,
            error_email: None,
            settings,
        }
    }

    fn moodle() -> ConnectionSettings {
        ConnectionSettings::Moodle(MoodleSettings::default())
    }

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, 0, 0).unwrap()
    }

    fn stores() -> (MemConnections, MemRuns, MemQueue) {
        let connections = MemConnections::default();
        *connections.0.lock().unwrap() = vec![
            connection("acme", "moodle", true, moodle()),
            connection("acme", "old-moodle", false, moodle()),
            connection(
                "acme",
                "sms",
                true,
                ConnectionSettings::Sms(SmsSettings::default()),
            ),
            connection("bolt", "moodle", true, moodle()),
        ];
        (connections, MemRuns::default(), MemQueue::default())
    }

    #[tokio::test]
    async fn one_run_per_enabled_synced_connection() {
        let (connections, runs, queue) = stores();
        let report = dispatch_nightly(
            &connections,
            &runs,
            &queue,
            &MemTenants::default(),
            at(2),
            at(2),
        )
        .await
        .unwrap();
        assert_eq!(
            report.queued.len(),
            2,
            "disabled and SMS connections are skipped"
        );
        let sent = queue.sent.lock().unwrap();
        let tenants: Vec<&str> = sent.iter().map(|j| j.tenant().as_str()).collect();
        assert_eq!(tenants.len(), 2);
        assert!(tenants.contains(&"acme") && tenants.contains(&"bolt"));
        assert!(sent.iter().all(|j| matches!(
            j,
            Job::SyncConnection {
                trigger: Trigger::Nightly,
                ..
            }
        )));
        assert_eq!(runs.runs.lock().unwrap().len(), 2);
        assert!(
            runs.runs
                .lock()
                .unwrap()
                .values()
                .all(|r| r.status == RunStatus::Importing)
        );
    }

    #[tokio::test]
    async fn a_repeated_invocation_starts_no_new_runs() {
        let (connections, runs, queue) = stores();
        dispatch_nightly(
            &connections,
            &runs,
            &queue,
            &MemTenants::default(),
            at(2),
            at(2),
        )
        .await
        .unwrap();
        let first: Vec<_> = runs.runs.lock().unwrap().keys().cloned().collect();
        // Finish one of them; the retry must leave it alone and re-queue the other.
        let (t, c, r) = first[0].clone();
        runs.finish_run(&t, &c, &r, RunStatus::FinishedSuccessfully, at(3))
            .await
            .unwrap();
        let report = dispatch_nightly(
            &connections,
            &runs,
            &queue,
            &MemTenants::default(),
            at(2),
            at(4),
        )
        .await
        .unwrap();
        assert_eq!(
            runs.runs.lock().unwrap().len(),
            2,
            "same schedule time, same runs"
        );
        assert_eq!(report.already_finished, 1);
        assert_eq!(report.queued.len(), 1);
        // A new night makes new runs.
        dispatch_nightly(
            &connections,
            &runs,
            &queue,
            &MemTenants::default(),
            at(2) + chrono::Duration::days(1),
            at(4),
        )
        .await
        .unwrap();
        assert_eq!(runs.runs.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn a_queueing_failure_is_logged_on_the_run_and_returned() {
        let (connections, runs, queue) = stores();
        *queue.refuse_next.lock().unwrap() = vec![1];
        let err = dispatch_nightly(
            &connections,
            &runs,
            &queue,
            &MemTenants::default(),
            at(2),
            at(2),
        )
        .await
        .unwrap_err();
        let DispatchError::Enqueue {
            failed,
            total,
            report,
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!((*failed, *total, report.queued.len()), (1, 2, 1));
        assert!(domain::ports::Retryable::is_retryable(&err));
        let logs = runs.logs.lock().unwrap().clone();
        assert_eq!(logs.len(), 1);
        let line = &logs.values().next().unwrap()[0];
        assert!(
            line.message.contains("could not be queued"),
            "{}",
            line.message
        );
        // The schedule's retry queues only what is left.
        let report = dispatch_nightly(
            &connections,
            &runs,
            &queue,
            &MemTenants::default(),
            at(2),
            at(2),
        )
        .await
        .unwrap();
        assert_eq!(
            report.queued.len(),
            2,
            "unfinished runs are re-queued; their consumers are idempotent"
        );
    }
}
