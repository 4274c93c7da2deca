//! The key layout of docs/architecture.md, in one place.
//!
//! Every key that holds tenant data starts with `T#{tenant}`; ids cannot contain
//! `#` (see `domain::ids`), so no id reaches into another tenant's key space.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::{ConnectionId, RunId, TenantId};

/// The name of every table's first global secondary index.
pub const GSI1: &str = "gsi1";
/// The deliveries table's second index.
pub const GSI2: &str = "gsi2";

/// `T#{t}`: a tenant's partition in the data table.
pub fn tenant(tenant: &TenantId) -> String {
    format!("T#{tenant}")
}

/// `CONN#{c}`: a connection under its tenant.
pub fn connection_sk(connection: &ConnectionId) -> String {
    format!("CONN#{connection}")
}

pub const CONNECTION_SK_PREFIX: &str = "CONN#";

/// The sparse index partition of connections the nightly sync runs.
pub const ENABLED: &str = "ENABLED";

/// `T#{t}#CONN#{c}`: a connection's partition (its runs, its external accounts),
/// and its sort key in the `ENABLED` index.
pub fn connection(tenant: &TenantId, connection: &ConnectionId) -> String {
    format!("T#{tenant}#CONN#{connection}")
}

/// `KEY#{hash}`: an API key, by the hash of the key.
pub fn api_key(hash: &str) -> String {
    format!("KEY#{hash}")
}

pub const API_KEY_SK: &str = "KEY";

/// `RUN#{r}`: a run under its connection.
pub fn run_sk(run: &RunId) -> String {
    format!("RUN#{run}")
}

pub const RUN_SK_PREFIX: &str = "RUN#";

/// `T#{t}#RUNS`: a tenant's runs in gsi1.
pub fn tenant_runs(tenant: &TenantId) -> String {
    format!("T#{tenant}#RUNS")
}

/// A timestamp as a fixed-width, sortable key part: `2025-01-31T02:00:00.000Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `{started_at}#{c}#{r}`: a run's place in its tenant's history.
pub fn run_history_sk(started_at: DateTime<Utc>, connection: &ConnectionId, run: &RunId) -> String {
    format!("{}#{connection}#{run}", timestamp(started_at))
}

/// `T#{t}#RUN#{r}`: a run's log partition.
pub fn run_log(tenant: &TenantId, run: &RunId) -> String {
    format!("T#{tenant}#RUN#{run}")
}

/// The largest log sequence number that keeps six digits.
pub const MAX_LOG_SEQ: u64 = 999_999;

/// `LOG#{seq:06}`: one log line, in order.
pub fn log_sk(seq: u64) -> String {
    format!("LOG#{seq:06}")
}

pub const LOG_SK_PREFIX: &str = "LOG#";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_architecture() {
        let t = TenantId::parse("acme").unwrap();
        let c = ConnectionId::parse("moodle").unwrap();
        let r = RunId::parse("r1").unwrap();
        assert_eq!(tenant(&t), "T#acme");
        assert_eq!(connection_sk(&c), "CONN#moodle");
        assert_eq!(connection(&t, &c), "T#acme#CONN#moodle");
        assert_eq!(run_sk(&r), "RUN#r1");
        assert_eq!(tenant_runs(&t), "T#acme#RUNS");
        assert_eq!(run_log(&t, &r), "T#acme#RUN#r1");
        assert_eq!(log_sk(7), "LOG#000007");
        assert_eq!(api_key("ab12"), "KEY#ab12");
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 5_000_000).unwrap();
        assert_eq!(
            run_history_sk(at, &c, &r),
            "2023-11-14T22:13:20.005Z#moodle#r1"
        );
    }
}
