//! The nightly schedule: one run per enabled connection, queued for export.

use crate::errors::panic_text;
use chrono::{DateTime, Utc};
use domain::ports::{
    ConnectionStore, EnqueueFailure, JobQueue, QueueError, RunStore, StoreError,
    TenantSettingsStore, UnreadableRecord, Written,
};
use domain::{
    Connection, ConnectionId, Job, LogLevel, Run, RunId, RunLogLine, RunStatus, TenantId, Trigger,
};
use futures::{FutureExt, StreamExt, stream};
use std::panic::AssertUnwindSafe;

/// DynamoDB writes in flight at once while starting runs.
const START_CONCURRENCY: usize = 16;

/// What one nightly invocation did.
#[derive(Debug, Default, PartialEq)]
pub struct NightlyReport {
    /// Runs queued by this invocation (new, or started earlier but never finished).
    pub queued: Vec<(TenantId, ConnectionId, RunId)>,
    /// Runs for this schedule time that had already finished: left alone.
    pub already_finished: usize,
    /// Runs that could not start (their connection's record or their tenant's
    /// settings unreadable): finished with an error line saying why.
    pub failed: usize,
}

/// What starting one connection's run came to.
enum Started {
    /// Recorded (or found unfinished): queue its export.
    Queue(Box<Run>),
    /// This schedule time's run had already finished.
    AlreadyFinished,
    /// It cannot run tonight: finished with an error saying why.
    Failed,
}

/// Records tonight's run of one connection. With `cannot_run` (or when the
/// tenant's settings cannot be read) the run is finished at once with an
/// error line saying why, so the failure is in the connection's history.
async fn start_one(
    runs: &dyn RunStore,
    tenants: &dyn TenantSettingsStore,
    tenant: &TenantId,
    connection: &ConnectionId,
    cannot_run: Option<String>,
    scheduled_ms: u64,
    now: DateTime<Utc>,
) -> Result<Started, String> {
    let text = |e: &dyn std::error::Error| crate::errors::error_text(e);
    let (keep, cannot_run) = match tenants.tenant_settings(tenant).await {
        Ok(settings) => (settings.run_history_days, cannot_run),
        Err(e) if e.is_retryable() => return Err(text(&e)),
        Err(e) => (
            None,
            Some(cannot_run.unwrap_or_else(|| {
                format!(
                    "The tenant's settings could not be read ({}); save them again through the API (PUT /v1/settings).",
                    text(&e)
                )
            })),
        ),
    };
    let id = RunId::for_schedule(scheduled_ms, tenant, connection);
    let run = Run::start(
        tenant.clone(),
        connection.clone(),
        id,
        Trigger::Nightly,
        now,
    )
    .keeping(keep);
    match runs.start_run(&run).await.map_err(|e| text(&e))? {
        Written::Done => {}
        Written::AlreadyDone => {
            let existing = runs
                .run(&run.tenant, &run.connection, &run.id)
                .await
                .map_err(|e| text(&e))?;
            if existing.is_some_and(|r| r.status != RunStatus::Importing) {
                return Ok(Started::AlreadyFinished);
            }
        }
    }
    let Some(why) = cannot_run else {
        return Ok(Started::Queue(Box::new(run)));
    };
    let line = RunLogLine {
        at: now,
        level: LogLevel::Error,
        message: why,
    };
    runs.append_log(tenant, connection, &run.id, &[line])
        .await
        .map_err(|e| text(&e))?;
    runs.finish_run(
        tenant,
        connection,
        &run.id,
        RunStatus::FinishedWithError,
        now,
    )
    .await
    .map_err(|e| text(&e))?;
    Ok(Started::Failed)
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("the enabled connections could not be read")]
    List(#[source] StoreError),
    /// Some connections' runs could not be recorded (the others were queued).
    #[error("{} nightly run(s) could not be started: {}", failed.len(), failed.join("; "))]
    Start {
        failed: Vec<String>,
        report: NightlyReport,
    },
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
            DispatchError::List(e) => e.is_retryable(),
            DispatchError::Start { .. } => true,
            DispatchError::Enqueue { .. } => true,
            DispatchError::Queue(e) => e.is_retryable(),
        }
    }
}

/// Starts one run per enabled connection for the schedule time `scheduled_at`
/// (kept as long as its tenant keeps history) and queues its export.
/// Idempotent per schedule time: run ids derive from it, so a retried
/// invocation re-queues only runs that have not finished.
///
/// One connection's failure never stops the others: each is started on its
/// own (a panic included). A connection that cannot run (its stored record or
/// its tenant's settings cannot be read) gets tonight's run finished with an
/// error line saying why, in its history; one whose run could not even be
/// recorded is logged and returned in [`DispatchError::Start`] after the others
/// are queued, so the schedule's retry tries it again.
#[tracing::instrument(skip_all, fields(scheduled_at = %scheduled_at))]
pub async fn dispatch_nightly(
    connections: &dyn ConnectionStore,
    runs: &dyn RunStore,
    queue: &dyn JobQueue,
    tenants: &dyn TenantSettingsStore,
    scheduled_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<NightlyReport, DispatchError> {
    let (enabled, unreadable) = connections
        .enabled_connections_checked()
        .await
        .map_err(DispatchError::List)?;
    let enabled: Vec<Connection> = enabled
        .into_iter()
        .filter(|c| c.enabled && c.kind().is_synced_nightly())
        .collect();
    let scheduled_ms = u64::try_from(scheduled_at.timestamp_millis()).unwrap_or(0);

    let (mut started, mut failed_to_start) =
        start_enabled(runs, tenants, &enabled, scheduled_ms, now).await;
    start_unreadable(
        runs,
        tenants,
        unreadable,
        scheduled_ms,
        now,
        &mut started,
        &mut failed_to_start,
    )
    .await;
    let failed_runs = started
        .iter()
        .filter(|s| matches!(s, Started::Failed))
        .count();
    let started: Vec<Option<Run>> = started
        .into_iter()
        .filter_map(|s| match s {
            Started::Queue(run) => Some(Some(*run)),
            Started::AlreadyFinished => Some(None),
            Started::Failed => None,
        })
        .collect();

    let mut report = NightlyReport {
        already_finished: started.iter().filter(|r| r.is_none()).count(),
        failed: failed_runs,
        ..Default::default()
    };
    let to_queue: Vec<Run> = started.into_iter().flatten().collect();
    let total = to_queue.len();
    let failures = queue_exports(runs, queue, &to_queue, now).await?;
    let failed: std::collections::HashSet<usize> = failures.iter().map(|f| f.index).collect();
    report.queued = to_queue
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !failed.contains(i))
        .map(|(_, run)| (run.tenant, run.connection, run.id))
        .collect();
    if !failed_to_start.is_empty() {
        return Err(DispatchError::Start {
            failed: failed_to_start,
            report,
        });
    }
    if failures.is_empty() {
        tracing::info!(
            queued = report.queued.len(),
            already_finished = report.already_finished,
            failed = report.failed,
            "nightly runs queued"
        );
        Ok(report)
    } else {
        Err(DispatchError::Enqueue {
            failed: failures.len(),
            total,
            report,
        })
    }
}

/// Starts tonight's run of each enabled connection, each on its own (a panic
/// included): what cannot start is recorded, never fatal. The runs started,
/// and those that could not even be recorded, with why.
async fn start_enabled(
    runs: &dyn RunStore,
    tenants: &dyn TenantSettingsStore,
    enabled: &[Connection],
    scheduled_ms: u64,
    now: DateTime<Utc>,
) -> (Vec<Started>, Vec<String>) {
    let outcomes: Vec<(TenantId, ConnectionId, Result<Started, String>)> =
        stream::iter(enabled.iter().map(|connection| async move {
            let outcome = AssertUnwindSafe(start_one(
                runs,
                tenants,
                &connection.tenant,
                &connection.id,
                None,
                scheduled_ms,
                now,
            ))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(panic_text(panic.as_ref())));
            (connection.tenant.clone(), connection.id.clone(), outcome)
        }))
        .buffer_unordered(START_CONCURRENCY)
        .collect()
        .await;
    let mut started = Vec::new();
    let mut failed_to_start = Vec::new();
    for (tenant, connection, outcome) in outcomes {
        match outcome {
            Ok(s) => started.push(s),
            Err(error) => {
                tracing::error!(%tenant, %connection, %error, "the nightly run could not be started; the others go on");
                failed_to_start.push(format!("{tenant}/{connection}: {error}"));
            }
        }
    }
    (started, failed_to_start)
}

/// Enabled connections whose stored record cannot be read: their run says so
/// (added to `started`), or, when it cannot be recorded, `failed_to_start`.
async fn start_unreadable(
    runs: &dyn RunStore,
    tenants: &dyn TenantSettingsStore,
    unreadable: Vec<UnreadableRecord>,
    scheduled_ms: u64,
    now: DateTime<Utc>,
    started: &mut Vec<Started>,
    failed_to_start: &mut Vec<String>,
) {
    for record in unreadable {
        tracing::error!(key = %record.key, reason = %record.reason, "an enabled connection's stored record could not be read");
        let (Some(tenant), Some(connection)) = (record.tenant.clone(), record.connection.clone())
        else {
            failed_to_start.push(format!("item {}: {}", record.key, record.reason));
            continue;
        };
        let why = format!(
            "The connection's stored settings could not be read ({}); save the connection again through the API (PUT /v1/connections/{connection}).",
            record.reason
        );
        match AssertUnwindSafe(start_one(
            runs,
            tenants,
            &tenant,
            &connection,
            Some(why),
            scheduled_ms,
            now,
        ))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(panic_text(panic.as_ref())))
        {
            Ok(s) => started.push(s),
            Err(error) => failed_to_start.push(format!("{tenant}/{connection}: {error}")),
        }
    }
}

/// Queues the export of each run; one that could not be queued gets a
/// warning line on the run (best effort). The queue's failures.
async fn queue_exports(
    runs: &dyn RunStore,
    queue: &dyn JobQueue,
    to_queue: &[Run],
    now: DateTime<Utc>,
) -> Result<Vec<EnqueueFailure>, DispatchError> {
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
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
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

    /// Tenant settings that cannot be read for bolt, and that panic for zed.
    struct Poisoned(MemTenants);
    #[async_trait::async_trait]
    impl TenantSettingsStore for Poisoned {
        async fn tenant_settings(
            &self,
            tenant: &TenantId,
        ) -> Result<domain::tenant::TenantSettings, StoreError> {
            match tenant.as_str() {
                "bolt" => Err(StoreError::Corrupt {
                    what: "item T#bolt / SETTINGS".into(),
                    source: "invalid type: integer `42`, expected a string".into(),
                }),
                "zed" => panic!("a poisoned setting"),
                _ => self.0.tenant_settings(tenant).await,
            }
        }
        async fn save_tenant_settings(
            &self,
            tenant: &TenantId,
            settings: &domain::tenant::TenantSettings,
        ) -> Result<(), StoreError> {
            self.0.save_tenant_settings(tenant, settings).await
        }
    }

    #[tokio::test]
    async fn one_tenants_unreadable_settings_or_panic_never_stops_the_others() {
        let (connections, runs, queue) = stores();
        connections
            .0
            .lock()
            .unwrap()
            .push(connection("zed", "moodle", true, moodle()));
        let tenants = Poisoned(MemTenants::default());
        let err = dispatch_nightly(&connections, &runs, &queue, &tenants, at(2), at(2))
            .await
            .unwrap_err();
        // zed panicked: logged, returned for the schedule's retry; the rest went on.
        let DispatchError::Start { failed, report } = &err else {
            panic!("{err}")
        };
        assert_eq!(failed.len(), 1);
        assert!(
            failed[0].starts_with("zed/moodle: it panicked"),
            "{failed:?}"
        );
        assert_eq!(report.queued.len(), 1, "acme's run is queued");
        assert_eq!(report.failed, 1, "bolt's run failed with its reason");
        let sent = queue.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].tenant().as_str(), "acme");
        let bolt = runs
            .runs
            .lock()
            .unwrap()
            .values()
            .find(|r| r.tenant.as_str() == "bolt")
            .cloned()
            .unwrap();
        assert_eq!(bolt.status, RunStatus::FinishedWithError);
        let logs = runs.logs.lock().unwrap();
        let line = &logs
            .iter()
            .find(|((t, _, _), _)| t.as_str() == "bolt")
            .unwrap()
            .1[0];
        assert_eq!(line.level, LogLevel::Error);
        assert!(
            line.message
                .starts_with("The tenant's settings could not be read"),
            "{}",
            line.message
        );
    }
}
