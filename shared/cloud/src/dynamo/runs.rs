//! Runs and their logs in the runs table.

use super::keys;
use super::record::{RecordError, corrupt, parse_id};
use super::table::{Condition, QueryOptions, SkRange, Table};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use domain::ports::{RunStore, StoreError, Written};
use domain::{ConnectionId, LogLevel, Run, RunId, RunLogLine, RunStatus, TenantId, Trigger};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why the run store refused a write.
#[derive(Debug, thiserror::Error)]
pub enum RunStoreError {
    #[error("run {run} does not exist")]
    NoSuchRun { run: String },
    #[error("run {run}'s log is full (at most {max} lines)", max = keys::MAX_LOG_SEQ)]
    LogFull { run: String },
}

/// A run as stored: `T#{t}#CONN#{c}` / `RUN#{r}`, in gsi1 as
/// `T#{t}#RUNS` / `{started_at}#{c}#{r}`. `log_seq` is the number of the last
/// log line handed out: appenders reserve numbers by adding to it atomically.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunRecord {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    tenant: String,
    connection: String,
    id: String,
    trigger: Trigger,
    status: RunStatus,
    started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finished_at: Option<DateTime<Utc>>,
    expires_at: i64,
    #[serde(default)]
    log_seq: u64,
    /// A person asked the run's download to stop.
    #[serde(default)]
    stop_requested: bool,
    /// What the run did, by name; stages add to it atomically.
    #[serde(default)]
    counts: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keep_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offering: Option<String>,
}

/// A connection's lease: `T#{t}#CONN#{c}` / `LEASE`. `expires_at` is also the
/// table's TTL attribute, so a lease nobody released is cleaned up too.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseRecord {
    pk: String,
    sk: String,
    holder: String,
    expires_at: i64,
}

const LEASE_SK: &str = "LEASE";

impl TryFrom<RunRecord> for Run {
    type Error = RecordError;

    fn try_from(r: RunRecord) -> Result<Self, RecordError> {
        let tenant: TenantId = parse_id(r.tenant)?;
        let connection: ConnectionId = parse_id(r.connection)?;
        let id: RunId = parse_id(r.id)?;
        if r.pk != keys::connection(&tenant, &connection) || r.sk != keys::run_sk(&id) {
            return Err(RecordError::KeyMismatch);
        }
        Ok(Run {
            tenant,
            connection,
            id,
            trigger: r.trigger,
            status: r.status,
            started_at: r.started_at,
            finished_at: r.finished_at,
            counts: r.counts,
            keep_days: r.keep_days,
            offering: r.offering,
        })
    }
}

/// One log line as stored: `T#{t}#RUN#{r}` / `LOG#{seq:06}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogLineRecord {
    pk: String,
    sk: String,
    tenant: String,
    connection: String,
    run: String,
    seq: u64,
    at: DateTime<Utc>,
    level: LogLevel,
    message: String,
    expires_at: i64,
}

impl From<LogLineRecord> for RunLogLine {
    fn from(r: LogLineRecord) -> Self {
        RunLogLine {
            at: r.at,
            level: r.level,
            message: r.message,
        }
    }
}

/// The field `request_stop` sets.
#[derive(Serialize)]
struct StopRequest {
    stop_requested: bool,
}

/// The fields `finish_run` sets.
#[derive(Serialize)]
struct Finish {
    status: RunStatus,
    finished_at: DateTime<Utc>,
}

fn to_run(record: RunRecord) -> Result<Run, StoreError> {
    Run::try_from(record).map_err(|e| corrupt("run", e))
}

fn rejected(error: RunStoreError) -> StoreError {
    StoreError::Rejected(Box::new(error))
}

/// [`RunStore`] over the runs table. Runs and their log lines carry
/// `expires_at` = start + the configured history retention.
#[derive(Debug, Clone)]
pub struct DynamoRunStore {
    table: Table,
    history_days: u32,
}

impl DynamoRunStore {
    pub fn new(table: Table, history_days: u32) -> Self {
        Self {
            table,
            history_days,
        }
    }

    fn expires_at(&self, started_at: DateTime<Utc>, keep_days: Option<u32>) -> i64 {
        let days = keep_days.unwrap_or(self.history_days);
        let keep = TimeDelta::try_days(i64::from(days)).unwrap_or(TimeDelta::MAX);
        started_at
            .checked_add_signed(keep)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
            .timestamp()
    }

    /// A connection's runs, newest first.
    pub async fn runs_of(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError> {
        let records: Vec<RunRecord> = self
            .table
            .query(
                &keys::connection(tenant, connection),
                Some(keys::RUN_SK_PREFIX),
                QueryOptions::default().newest_first().limit(limit),
            )
            .await?;
        records.into_iter().map(to_run).collect()
    }

    /// A tenant's runs that started in `[from, to]`, newest first.
    pub async fn tenant_runs(
        &self,
        tenant: &TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError> {
        // `{to}#~` sorts after every `{to}#{connection}#{run}`, since ids hold no `~`.
        let range = SkRange::Between(keys::timestamp(from), format!("{}#~", keys::timestamp(to)));
        let records: Vec<RunRecord> = self
            .table
            .query_index(
                keys::GSI1,
                &keys::tenant_runs(tenant),
                &range,
                QueryOptions::default().newest_first().limit(limit),
            )
            .await?;
        let runs = records
            .into_iter()
            .map(to_run)
            .collect::<Result<Vec<_>, _>>()?;
        // Defence in depth: the index key names the tenant, and so must each record.
        if runs.iter().any(|run| &run.tenant != tenant) {
            return Err(corrupt("run", RecordError::KeyMismatch));
        }
        Ok(runs)
    }
}

#[async_trait]
impl RunStore for DynamoRunStore {
    async fn start_run(&self, run: &Run) -> Result<Written, StoreError> {
        let record = RunRecord {
            pk: keys::connection(&run.tenant, &run.connection),
            sk: keys::run_sk(&run.id),
            gsi1pk: keys::tenant_runs(&run.tenant),
            gsi1sk: keys::run_history_sk(run.started_at, &run.connection, &run.id),
            tenant: run.tenant.to_string(),
            connection: run.connection.to_string(),
            id: run.id.to_string(),
            trigger: run.trigger,
            status: run.status,
            started_at: run.started_at,
            finished_at: run.finished_at,
            expires_at: self.expires_at(run.started_at, run.keep_days),
            log_seq: 0,
            stop_requested: false,
            counts: run.counts.clone(),
            keep_days: run.keep_days,
            offering: run.offering.clone(),
        };
        self.table.put(&record, Condition::NotExists).await
    }

    async fn run(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<Option<Run>, StoreError> {
        let record: Option<RunRecord> = self
            .table
            .get(&keys::connection(tenant, connection), &keys::run_sk(run))
            .await?;
        record.map(to_run).transpose()
    }

    /// Reserves sequence numbers for `lines` by adding their count to the run's
    /// `log_seq` atomically, then writes them: concurrent appenders get disjoint
    /// numbers, and no line ever overwrites an earlier one.
    async fn append_log(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        lines: &[RunLogLine],
    ) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        let count = u64::try_from(lines.len()).unwrap_or(u64::MAX);
        let reserved: Option<RunRecord> = self
            .table
            .increment(
                &keys::connection(tenant, connection),
                &keys::run_sk(run),
                "log_seq",
                count,
            )
            .await?;
        let Some(record) = reserved else {
            return Err(rejected(RunStoreError::NoSuchRun {
                run: run.to_string(),
            }));
        };
        let last = record.log_seq;
        if last > keys::MAX_LOG_SEQ {
            return Err(rejected(RunStoreError::LogFull {
                run: run.to_string(),
            }));
        }
        let first = last.saturating_sub(count) + 1;
        let records: Vec<LogLineRecord> = lines
            .iter()
            .zip(first..)
            .map(|(line, seq)| LogLineRecord {
                pk: keys::run_log(tenant, run),
                sk: keys::log_sk(seq),
                tenant: tenant.to_string(),
                connection: connection.to_string(),
                run: run.to_string(),
                seq,
                at: line.at,
                level: line.level,
                message: line.message.clone(),
                expires_at: record.expires_at,
            })
            .collect();
        self.table.batch_put(&records).await
    }

    async fn log(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<Vec<RunLogLine>, StoreError> {
        let records: Vec<LogLineRecord> = self
            .table
            .query(
                &keys::run_log(tenant, run),
                Some(keys::LOG_SK_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        let connection = connection.as_str();
        Ok(records
            .into_iter()
            .filter(|r| r.connection == connection)
            .map(RunLogLine::from)
            .collect())
    }

    async fn finish_run(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        status: RunStatus,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let found = self
            .table
            .update(
                &keys::connection(tenant, connection),
                &keys::run_sk(run),
                &Finish {
                    status,
                    finished_at: at,
                },
            )
            .await?;
        if found {
            Ok(())
        } else {
            Err(rejected(RunStoreError::NoSuchRun {
                run: run.to_string(),
            }))
        }
    }

    async fn request_stop(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<bool, StoreError> {
        self.table
            .update(
                &keys::connection(tenant, connection),
                &keys::run_sk(run),
                &StopRequest {
                    stop_requested: true,
                },
            )
            .await
    }

    async fn history(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError> {
        if from.is_none() && to.is_none() {
            return self.runs_of(tenant, connection, limit).await;
        }
        // A connection keeps its runs for the retention period only (a few hundred
        // at most), so the range is applied to its partition read newest first.
        let records: Vec<RunRecord> = self
            .table
            .query(
                &keys::connection(tenant, connection),
                Some(keys::RUN_SK_PREFIX),
                QueryOptions::default().newest_first(),
            )
            .await?;
        let mut runs = Vec::new();
        for record in records {
            let run = to_run(record)?;
            if from.is_some_and(|f| run.started_at < f) || to.is_some_and(|t| run.started_at > t) {
                continue;
            }
            runs.push(run);
            if runs.len() == limit {
                break;
            }
        }
        Ok(runs)
    }

    async fn stop_requested(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<bool, StoreError> {
        let record: Option<RunRecord> = self
            .table
            .get(&keys::connection(tenant, connection), &keys::run_sk(run))
            .await?;
        Ok(record.is_some_and(|r| r.stop_requested))
    }

    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<domain::LeaseOutcome, StoreError> {
        let record = LeaseRecord {
            pk: keys::connection(tenant, connection),
            sk: LEASE_SK.to_owned(),
            holder: run.to_string(),
            expires_at: until.timestamp(),
        };
        let at = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or(until);
        match self
            .table
            .claim::<_, LeaseRecord>(&record, run.as_str(), now.timestamp())
            .await?
        {
            Ok(old) => Ok(domain::LeaseOutcome::Acquired {
                until,
                taken_from: old
                    .filter(|old| old.holder != record.holder)
                    .map(|old| parse_id::<RunId>(old.holder))
                    .transpose()
                    .map_err(|e| corrupt("lease", e))?,
            }),
            Err(Some(current)) => Ok(domain::LeaseOutcome::Busy {
                until: at(current.expires_at),
                holder: parse_id::<RunId>(current.holder).map_err(|e| corrupt("lease", e))?,
            }),
            // Released between the refusal and the read: the caller asks again.
            Err(None) => Err(StoreError::Conflict {
                what: format!("the lease of connection {connection}"),
            }),
        }
    }

    async fn release_lease(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<(), StoreError> {
        self.table
            .delete_if(
                &keys::connection(tenant, connection),
                LEASE_SK,
                "holder",
                run.as_str(),
            )
            .await
            .map(|_| ())
    }

    async fn add_counts(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        counts: &[(&str, u64)],
    ) -> Result<(), StoreError> {
        let counts: Vec<(&str, u64)> = counts.iter().copied().filter(|(_, n)| *n > 0).collect();
        if self
            .table
            .add_to_map(
                &keys::connection(tenant, connection),
                &keys::run_sk(run),
                "counts",
                &counts,
            )
            .await?
        {
            Ok(())
        } else {
            Err(rejected(RunStoreError::NoSuchRun {
                run: run.to_string(),
            }))
        }
    }
}
