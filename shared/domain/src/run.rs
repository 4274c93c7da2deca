//! A run: one execution of a sync for a connection, with its log.

use crate::ids::{ConnectionId, RunId, TenantId};
use crate::job::Trigger;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Smartosh's statuses: Importing while it runs, then one of three endings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Importing,
    FinishedSuccessfully,
    FinishedWithWarnings,
    FinishedWithError,
}

impl RunStatus {
    /// The label a person sees.
    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Importing => "Importing",
            RunStatus::FinishedSuccessfully => "Finished successfully",
            RunStatus::FinishedWithWarnings => "Finished with warnings",
            RunStatus::FinishedWithError => "Finished with error",
        }
    }

    /// The ending a run earns from its log: any error makes it an error, else any
    /// warning makes it a warning.
    pub fn from_log(lines: &[RunLogLine]) -> RunStatus {
        if lines.iter().any(|l| l.level == LogLevel::Error) {
            RunStatus::FinishedWithError
        } else if lines.iter().any(|l| l.level == LogLevel::Warning) {
            RunStatus::FinishedWithWarnings
        } else {
            RunStatus::FinishedSuccessfully
        }
    }
}

/// An operation (info) or an incident (warning, error) on a run's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Info,
    Warning,
    Error,
}

/// One line a person can read. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLogLine {
    pub at: DateTime<Utc>,
    pub level: LogLevel,
    pub message: String,
}

/// One execution of a sync for a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub id: RunId,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl Run {
    pub fn start(
        tenant: TenantId,
        connection: ConnectionId,
        id: RunId,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            connection,
            id,
            trigger,
            status: RunStatus::Importing,
            started_at: now,
            finished_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: LogLevel) -> RunLogLine {
        RunLogLine {
            at: DateTime::<Utc>::UNIX_EPOCH,
            level,
            message: String::new(),
        }
    }

    #[test]
    fn status_follows_the_worst_line() {
        assert_eq!(RunStatus::from_log(&[]), RunStatus::FinishedSuccessfully);
        assert_eq!(
            RunStatus::from_log(&[line(LogLevel::Info)]),
            RunStatus::FinishedSuccessfully
        );
        assert_eq!(
            RunStatus::from_log(&[line(LogLevel::Info), line(LogLevel::Warning)]),
            RunStatus::FinishedWithWarnings
        );
        assert_eq!(
            RunStatus::from_log(&[
                line(LogLevel::Warning),
                line(LogLevel::Error),
                line(LogLevel::Info)
            ]),
            RunStatus::FinishedWithError
        );
    }

    #[test]
    fn labels_are_the_seeds_words() {
        assert_eq!(
            RunStatus::FinishedWithWarnings.label(),
            "Finished with warnings"
        );
        assert_eq!(RunStatus::Importing.label(), "Importing");
    }
}
