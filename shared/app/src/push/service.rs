//! `Push`, the ports enrolment push uses, and what its use cases share: the
//! connection's Moodle settings, the counts of a push, and writing to a run.

use super::error::PushError;
use crate::errors::error_text;
use crate::jobs::Pipeline;
use chrono::{DateTime, Utc};
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::ports::{
    ConnectionStore, JobQueue, LearningSystems, LinkStore, Mailer, Retryable, RunStore, SisStore,
    TenantSettingsStore,
};
use domain::{Connection, ConnectionId, LogLevel, RunId, RunLogLine, TenantId, Trigger};

/// The ports enrolment push uses.
pub struct Push<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub runs: &'a dyn RunStore,
    pub queue: &'a dyn JobQueue,
    pub sis: &'a dyn SisStore,
    pub links: &'a dyn LinkStore,
    pub learning: &'a dyn LearningSystems,
    pub mailer: &'a dyn Mailer,
    pub tenants: &'a dyn TenantSettingsStore,
    /// The time now: a run's end is taken when it ends, not when its job began.
    pub clock: fn() -> DateTime<Utc>,
}

/// A change sent to every linked connection: how many were updated, and the
/// connections that refused it (each recorded on its own history; one
/// connection's refusal never stops the others).
#[derive(Debug, Default)]
pub struct Synced {
    pub updated: usize,
    pub failures: Vec<ConnectionFailure>,
}

/// A connection that could not take a change, and why (never retryable: a
/// transient failure makes the whole job come back instead).
#[derive(Debug)]
pub struct ConnectionFailure {
    pub connection: ConnectionId,
    pub error: PushError,
}

impl Synced {
    /// Records `result` of one connection: counted, kept as a failure, or
    /// (transient) handed back so the job is tried again.
    pub(crate) fn add(
        &mut self,
        connection: &ConnectionId,
        result: Result<bool, PushError>,
    ) -> Result<(), PushError> {
        match result {
            Ok(true) => self.updated += 1,
            Ok(false) => {}
            Err(e) if e.is_retryable() => return Err(e),
            Err(error) => self.failures.push(ConnectionFailure {
                connection: connection.clone(),
                error,
            }),
        }
        Ok(())
    }
}

/// What one push did, in counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    pub created: usize,
    pub linked: usize,
    pub enrolled: usize,
    pub already_enrolled: usize,
    pub blocked: usize,
    pub called: usize,
    pub emails: usize,
    /// Learners left ready for the next run: Moodle could not be searched for them.
    pub unavailable: usize,
}

impl PushReport {
    /// Adds another part's counts (a batch's) to these.
    pub(super) fn absorb(&mut self, other: &PushReport) {
        self.created += other.created;
        self.linked += other.linked;
        self.enrolled += other.enrolled;
        self.already_enrolled += other.already_enrolled;
        self.blocked += other.blocked;
        self.called += other.called;
        self.emails += other.emails;
        self.unavailable += other.unavailable;
    }
}

/// The connection's Moodle settings, or why there are none.
pub(crate) async fn moodle_connection(
    connections: &dyn ConnectionStore,
    tenant: &TenantId,
    connection: &ConnectionId,
) -> Result<(Connection, MoodleSettings), PushError> {
    let Some(conn) = connections.connection(tenant, connection).await? else {
        return Err(PushError::UnknownConnection {
            tenant: tenant.clone(),
            connection: connection.clone(),
        });
    };
    let ConnectionSettings::Moodle(settings) = &conn.settings else {
        return Err(PushError::NotMoodle {
            connection: connection.clone(),
        });
    };
    let settings = settings.clone();
    Ok((conn, settings))
}

/// A run log line.
pub(super) fn line(level: LogLevel, message: String, now: DateTime<Utc>) -> RunLogLine {
    RunLogLine {
        at: now,
        level,
        message,
    }
}

impl Push<'_> {
    /// Log lines and counts of work just made durable, written at once, so a
    /// job that fails later keeps what it did (and a retry, planning from
    /// what is stored, never counts it again).
    pub(super) async fn record(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        lines: &[RunLogLine],
        counted: &[(&str, u64)],
    ) -> Result<(), PushError> {
        self.runs.append_log(tenant, connection, run, lines).await?;
        if counted.iter().any(|(_, n)| *n > 0) {
            self.runs
                .add_counts(tenant, connection, run, counted)
                .await?;
        }
        Ok(())
    }

    pub(super) fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            connections: self.connections,
            runs: self.runs,
            queue: self.queue,
            mailer: self.mailer,
            tenants: self.tenants,
        }
    }

    /// A disabled connection is pushed only when a person runs it (SM-11); a
    /// scheduled or auto-push run queued before it was disabled does nothing
    /// (CV-11) and says so on the run. Whether the run is skipped.
    pub(super) async fn skipped_while_disabled(
        &self,
        conn: &Connection,
        run: &RunId,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Result<bool, PushError> {
        if conn.enabled || trigger == Trigger::Manual {
            return Ok(false);
        }
        let message = "Nothing was pushed: the connection is disabled.".to_owned();
        self.runs
            .append_log(
                &conn.tenant,
                &conn.id,
                run,
                &[line(LogLevel::Info, message, now)],
            )
            .await?;
        Ok(true)
    }

    /// A push's permanent failure, an error line on the run.
    pub(super) async fn record_failure(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        error: &PushError,
        now: DateTime<Utc>,
    ) -> Result<(), PushError> {
        let message = error_text(error);
        // Only the top message: a refusal's reason may name a username.
        tracing::error!(error = %error, "push failed");
        self.runs
            .append_log(
                tenant,
                connection,
                run,
                &[line(LogLevel::Error, message, now)],
            )
            .await?;
        Ok(())
    }
}

/// A count for [`RunStore::add_counts`].
pub(super) fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
