//! Connections, their runs (with logs, counts and the lease), and the tenant's
//! own settings.

use super::store::{StoreError, UnreadableRecord, Written};
use crate::connection::Connection;
use crate::ids::{ConnectionId, RunId, TenantId};
use crate::run::{LeaseOutcome, Run, RunLogLine, RunStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Connections, across tenants only for the nightly schedule.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Every enabled connection of every tenant (the nightly sync's one cross-tenant read).
    async fn enabled_connections(&self) -> Result<Vec<Connection>, StoreError>;
    /// As [`ConnectionStore::enabled_connections`], with the enabled
    /// connections' records that could not be read listed beside the others
    /// instead of failing the whole list.
    async fn enabled_connections_checked(
        &self,
    ) -> Result<(Vec<Connection>, Vec<UnreadableRecord>), StoreError> {
        Ok((self.enabled_connections().await?, Vec::new()))
    }
    async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError>;
    async fn connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, StoreError>;
    /// A tenant's connections as [`ConnectionStore::connections`], with the
    /// records that could not be read listed beside them (a person repairs
    /// them), instead of failing the whole list.
    async fn connections_checked(
        &self,
        tenant: &TenantId,
    ) -> Result<(Vec<Connection>, Vec<UnreadableRecord>), StoreError> {
        Ok((self.connections(tenant).await?, Vec::new()))
    }
    async fn save_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    /// Writes a connection whose stored record could not be read (its kind
    /// unknown): as [`ConnectionStore::save_connection`], and what the store
    /// keeps to hold a tenant to one connection of a kind follows the kind it
    /// is written as (whatever it held for another kind is let go).
    /// [`Written::AlreadyDone`] (nothing written) when another connection
    /// holds its kind.
    async fn repair_connection(&self, connection: &Connection) -> Result<Written, StoreError> {
        self.save_connection(connection).await?;
        Ok(Written::Done)
    }
    /// Stores a new connection only if the tenant has none with its id, nor
    /// (for a kind [`crate::ConnectionKind::one_per_tenant`]) one of its kind:
    /// [`Written::AlreadyDone`] (changing nothing) when it has, so two creates
    /// racing never both succeed.
    async fn create_connection(&self, connection: &Connection) -> Result<Written, StoreError>;
}

/// Runs and their logs.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Records a new run; the same run id twice is [`Written::AlreadyDone`].
    async fn start_run(&self, run: &Run) -> Result<Written, StoreError>;
    async fn run(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<Option<Run>, StoreError>;
    async fn append_log(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        lines: &[RunLogLine],
    ) -> Result<(), StoreError>;
    /// The whole log (a person reads it a page at a time: [`RunStore::log_page`]).
    async fn log(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<Vec<RunLogLine>, StoreError>;
    /// The log's lines after line `after` (0: from the first), at most `limit`.
    async fn log_page(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        after: u64,
        limit: usize,
    ) -> Result<crate::run::LogPage, StoreError> {
        let all = self.log(tenant, connection, run).await?;
        Ok(crate::run::LogPage::of(all, after, limit))
    }
    /// Appends `lines` and adds `counts` only the first time `key` is given
    /// for this run (a redelivered job's second attempt changes nothing);
    /// true when it did.
    async fn append_once(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        key: &str,
        lines: &[RunLogLine],
        counts: &[(&str, u64)],
    ) -> Result<bool, StoreError>;
    async fn finish_run(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        status: RunStatus,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// A person asks a running download to stop (what was read so far is kept).
    /// False when there is no such run.
    async fn request_stop(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<bool, StoreError>;
    /// A connection's runs that started in `[from, to]` (either end open), newest
    /// first, at most `limit`: its history.
    async fn history(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError>;
    /// Whether a person asked the run to stop.
    async fn stop_requested(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<bool, StoreError>;
    /// Takes (or renews) the connection's lease for `run` until `until`: granted
    /// when no run holds it, when `run` already does, or when the holder's lease
    /// ran out before `now` (then `taken_from` names that run). Atomic: two runs
    /// asking at once never both get it.
    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError>;
    /// Gives the lease back, if `run` still holds it (else nothing changes).
    async fn release_lease(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<(), StoreError>;
    /// Sets what the run found in one offering (e.g. `blocked`): the last
    /// value set for an offering stands, so an offering pushed again in the
    /// same run (a retried job) replaces its figures instead of adding to
    /// them. The run's [`Run::counts`] sum them over its offerings, and
    /// `offerings_pushed` is how many offerings have figures.
    async fn set_offering_counts(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        offering: &str,
        counts: &[(&str, u64)],
    ) -> Result<(), StoreError>;
    /// Adds to the run's counts, atomically per name (stages add concurrently).
    async fn add_counts(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        counts: &[(&str, u64)],
    ) -> Result<(), StoreError>;
}

/// A tenant's own settings (run history retention, the run-error email).
#[async_trait]
pub trait TenantSettingsStore: Send + Sync {
    /// The tenant's settings; the defaults when it never set any.
    async fn tenant_settings(
        &self,
        tenant: &TenantId,
    ) -> Result<crate::tenant::TenantSettings, StoreError>;
    async fn save_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &crate::tenant::TenantSettings,
    ) -> Result<(), StoreError>;
}
