//! Runs and their logs in the runs table.

use super::keys;
use super::record::{RecordError, corrupt, parse_id};
use super::table::{Condition, QueryOptions, SkRange, Table};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use domain::ports::{RunStore, StoreError, Written};
use domain::{
    ConnectionId, LogLevel, LogPage, LogTally, Run, RunId, RunLogLine, RunStatus, TenantId, Trigger,
};
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
/// log line handed out: appenders reserve numbers by adding to it atomically,
/// and add the warnings and errors among them to `log_warnings` and
/// `log_errors` in the same update, so the run's ending is known without
/// reading its log. `once` (a string set, not decoded here) holds the keys of
/// [`RunStore::append_once`].
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
    #[serde(default)]
    log_warnings: u64,
    #[serde(default)]
    log_errors: u64,
    /// A person asked the run's download to stop.
    #[serde(default)]
    stop_requested: bool,
    /// What the run did, by name; stages add to it atomically.
    #[serde(default)]
    counts: BTreeMap<String, u64>,
    /// What the run found per offering, by name: set (not added), so a
    /// retried push of an offering replaces its figures.
    #[serde(default)]
    offerings: BTreeMap<String, BTreeMap<String, u64>>,
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
            counts: domain::run::merged_counts(&r.counts, &r.offerings),
            keep_days: r.keep_days,
            offering: r.offering,
            log: LogTally {
                lines: r.log_seq,
                warnings: r.log_warnings,
                errors: r.log_errors,
            },
        })
    }
}

/// A page of log lines as stored: `T#{t}#RUN#{r}` / `LOG#{seq:06}`, where
/// `seq` is the number of its first line and `lines` the lines of one
/// append, in order (at most [`LINES_PER_ITEM`] and [`BYTES_PER_ITEM`]). Items
/// written before pages held one line each in `at`, `level` and `message`:
/// they are read as pages of one line.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogRecord {
    pk: String,
    sk: String,
    tenant: String,
    connection: String,
    run: String,
    seq: u64,
    /// The lines as one JSON string of `[at, level, message]` triples: what
    /// is written now. One string attribute instead of a list of maps makes an
    /// item about half the size and far cheaper to store and read (moto took
    /// 169 ms to answer the query of a run's first page of 500 lines stored as
    /// lists of maps, 10 ms stored so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    packed: Option<String>,
    /// The lines as a list of maps: items written before `packed`, still read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    lines: Vec<StoredLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    level: Option<LogLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    expires_at: i64,
}

/// One line inside a [`LogRecord`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredLine {
    at: DateTime<Utc>,
    level: LogLevel,
    message: String,
}

/// The most lines one log item holds: a 2,000-line log is 20 items.
const LINES_PER_ITEM: usize = 100;
/// The most message bytes one log item holds (DynamoDB's item limit is 400 KB).
const BYTES_PER_ITEM: usize = 200_000;
/// Log items read per query while a page fills.
const ITEMS_PER_QUERY: usize = 10;

impl LogRecord {
    /// Its lines, numbered; a `packed` string that is not lines is corrupt.
    fn numbered(self) -> Result<Vec<(u64, RunLogLine)>, StoreError> {
        let lines: Vec<RunLogLine> = if let Some(packed) = &self.packed {
            let triples: Vec<(DateTime<Utc>, LogLevel, String)> = serde_json::from_str(packed)
                .map_err(|e| StoreError::Corrupt {
                    what: format!("log lines from {} of run {}", self.seq, self.run),
                    source: Box::new(e),
                })?;
            triples
                .into_iter()
                .map(|(at, level, message)| RunLogLine { at, level, message })
                .collect()
        } else if self.lines.is_empty() {
            match (self.at, self.level, self.message) {
                (Some(at), Some(level), Some(message)) => vec![RunLogLine { at, level, message }],
                _ => Vec::new(),
            }
        } else {
            self.lines
                .into_iter()
                .map(|l| RunLogLine {
                    at: l.at,
                    level: l.level,
                    message: l.message,
                })
                .collect()
        };
        Ok((self.seq..).zip(lines).collect())
    }

    /// `lines` as the `packed` string.
    fn pack(lines: &[RunLogLine]) -> Result<String, StoreError> {
        let triples: Vec<(&DateTime<Utc>, &LogLevel, &str)> = lines
            .iter()
            .map(|l| (&l.at, &l.level, l.message.as_str()))
            .collect();
        serde_json::to_string(&triples).map_err(|e| StoreError::Rejected(Box::new(e)))
    }
}

/// Splits one append into items: consecutive lines, each item within both limits.
fn pages(lines: &[RunLogLine]) -> Vec<&[RunLogLine]> {
    let mut pages = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, line) in lines.iter().enumerate() {
        let size = line.message.len() + 64;
        if i > start && (i - start >= LINES_PER_ITEM || bytes + size > BYTES_PER_ITEM) {
            pages.push(&lines[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < lines.len() {
        pages.push(&lines[start..]);
    }
    pages
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
            log_warnings: 0,
            log_errors: 0,
            stop_requested: false,
            counts: run.counts.clone(),
            offerings: BTreeMap::new(),
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
    /// `log_seq` atomically (and their warnings and errors to the run's
    /// tallies), then writes them a page per item: concurrent appenders get
    /// disjoint numbers, and no line ever overwrites an earlier one.
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
        let tally = LogTally::of(lines);
        let reserved: Option<RunRecord> = self
            .table
            .add_numbers(
                &keys::connection(tenant, connection),
                &keys::run_sk(run),
                &[
                    ("log_seq", tally.lines),
                    ("log_warnings", tally.warnings),
                    ("log_errors", tally.errors),
                ],
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
        let mut seq = last.saturating_sub(tally.lines) + 1;
        let mut records = Vec::new();
        for page in pages(lines) {
            records.push(LogRecord {
                pk: keys::run_log(tenant, run),
                sk: keys::log_sk(seq),
                tenant: tenant.to_string(),
                connection: connection.to_string(),
                run: run.to_string(),
                seq,
                packed: Some(LogRecord::pack(page)?),
                lines: Vec::new(),
                at: None,
                level: None,
                message: None,
                expires_at: record.expires_at,
            });
            seq += u64::try_from(page.len()).unwrap_or(u64::MAX);
        }
        self.table.batch_put(&records).await
    }

    async fn log(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<Vec<RunLogLine>, StoreError> {
        let records: Vec<LogRecord> = self
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
            .map(LogRecord::numbered)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .map(|(_, line)| line)
            .collect())
    }

    /// The item holding line `after + 1` (the last one starting at or before
    /// it; for the first page, the first item), then the items after it, as
    /// many per query as would fill the page (at most [`ITEMS_PER_QUERY`]),
    /// until the page is full: the first page of 500 lines is one query of 6
    /// items.
    async fn log_page(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        after: u64,
        limit: usize,
    ) -> Result<LogPage, StoreError> {
        let pk = keys::run_log(tenant, run);
        let ours = |r: &LogRecord| r.connection == connection.as_str();
        let mut lines: Vec<(u64, RunLogLine)> = Vec::new();
        let more;
        let first = after.saturating_add(1);
        // The first page starts with the first item (line 1 begins it): no
        // look-up of the item holding line `after + 1` is needed.
        let mut from = first;
        if after > 0 {
            let holding: Vec<LogRecord> = self
                .table
                .query_range(
                    &pk,
                    &SkRange::Between(keys::LOG_SK_PREFIX.to_owned(), keys::log_sk(first)),
                    QueryOptions::default().newest_first().limit(1),
                )
                .await?;
            for record in holding.into_iter().filter(ours) {
                lines.extend(record.numbered()?.into_iter().filter(|(n, _)| *n > after));
            }
            from = first.saturating_add(1);
        }
        loop {
            if lines.len() > limit {
                more = true;
                break;
            }
            // As many items as full ones would fill the page (and tell
            // whether more follow), up to ITEMS_PER_QUERY.
            let items = (limit + 1 - lines.len())
                .div_ceil(LINES_PER_ITEM)
                .clamp(1, ITEMS_PER_QUERY);
            let records: Vec<LogRecord> = self
                .table
                .query_range(
                    &pk,
                    &SkRange::Between(keys::log_sk(from), format!("{}~", keys::LOG_SK_PREFIX)),
                    QueryOptions::default().limit(items),
                )
                .await?;
            let got = records.len();
            for record in records {
                from = record.seq.saturating_add(1);
                if ours(&record) {
                    lines.extend(record.numbered()?);
                }
            }
            if got < items {
                more = lines.len() > limit;
                break;
            }
        }
        lines.truncate(limit);
        Ok(LogPage {
            next: more.then(|| lines.last().map_or(after, |(n, _)| *n)),
            lines,
        })
    }

    async fn append_once(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        key: &str,
        lines: &[RunLogLine],
        counts: &[(&str, u64)],
    ) -> Result<bool, StoreError> {
        let counts: Vec<(&str, u64)> = counts.iter().copied().filter(|(_, n)| *n > 0).collect();
        let first = self
            .table
            .add_once(
                &keys::connection(tenant, connection),
                &keys::run_sk(run),
                "once",
                key,
                "counts",
                &counts,
            )
            .await?;
        if first {
            self.append_log(tenant, connection, run, lines).await?;
        }
        Ok(first)
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

    async fn set_offering_counts(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        offering: &str,
        counts: &[(&str, u64)],
    ) -> Result<(), StoreError> {
        let figures: BTreeMap<&str, u64> = counts.iter().copied().collect();
        if self
            .table
            .set_in_map(
                &keys::connection(tenant, connection),
                &keys::run_sk(run),
                "offerings",
                offering,
                &figures,
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
