//! A run: one execution of a sync for a connection, with its log.

use crate::ids::{ConnectionId, RunId, TenantId};
use crate::job::Trigger;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// What the run did, counted by name (e.g. `users_created`, `enrolled`,
    /// `results_ready`, `failures`): see [`counts`] for the names.
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    /// Days its history is kept (the tenant's setting when the run started);
    /// `None`: the deployment's default.
    #[serde(default)]
    pub keep_days: Option<u32>,
    /// The one offering the run was for; `None`: every linked offering.
    #[serde(default)]
    pub offering: Option<String>,
    /// How many lines its log holds, and of which level: kept as lines are
    /// appended, so the run's ending is known without reading its log.
    #[serde(default)]
    pub log: LogTally,
}

/// A run log's lines counted by level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogTally {
    pub lines: u64,
    pub warnings: u64,
    pub errors: u64,
}

impl LogTally {
    /// The tally of these lines.
    pub fn of(lines: &[RunLogLine]) -> LogTally {
        let count = |level| {
            u64::try_from(lines.iter().filter(|l| l.level == level).count()).unwrap_or(u64::MAX)
        };
        LogTally {
            lines: u64::try_from(lines.len()).unwrap_or(u64::MAX),
            warnings: count(LogLevel::Warning),
            errors: count(LogLevel::Error),
        }
    }

    /// Both tallies together.
    pub fn add(self, other: LogTally) -> LogTally {
        LogTally {
            lines: self.lines.saturating_add(other.lines),
            warnings: self.warnings.saturating_add(other.warnings),
            errors: self.errors.saturating_add(other.errors),
        }
    }

    /// The ending a run with this log earns (see [`RunStatus::from_log`]).
    pub fn status(self) -> RunStatus {
        if self.errors > 0 {
            RunStatus::FinishedWithError
        } else if self.warnings > 0 {
            RunStatus::FinishedWithWarnings
        } else {
            RunStatus::FinishedSuccessfully
        }
    }
}

/// One page of a run's log: lines numbered from 1 in the order appended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogPage {
    /// `(number, line)`, in order.
    pub lines: Vec<(u64, RunLogLine)>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<u64>,
}

impl LogPage {
    /// The page of `all` (the whole log, in order) after line `after`, at most `limit` lines.
    pub fn of(all: Vec<RunLogLine>, after: u64, limit: usize) -> LogPage {
        let total = all.len();
        let lines: Vec<(u64, RunLogLine)> = (1u64..)
            .zip(all)
            .skip(usize::try_from(after).unwrap_or(usize::MAX))
            .take(limit)
            .collect();
        let last = lines.last().map_or(after, |(n, _)| *n);
        LogPage {
            next: (usize::try_from(last).unwrap_or(usize::MAX) < total).then_some(last),
            lines,
        }
    }
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
            counts: BTreeMap::new(),
            keep_days: None,
            offering: None,
            log: LogTally::default(),
        }
    }

    /// The run is for this one offering only.
    pub fn for_offering(mut self, offering: Option<&str>) -> Self {
        self.offering = offering.map(str::to_owned);
        self
    }

    /// Whether the run covered `offering` (it was for it, or for all).
    pub fn covers(&self, offering: &str) -> bool {
        self.offering.as_deref().is_none_or(|o| o == offering)
    }

    /// The run's history is kept this many days instead of the default.
    pub fn keeping(mut self, days: Option<u32>) -> Self {
        self.keep_days = days;
        self
    }

    /// How long it ran (so far, while it runs).
    pub fn duration(&self, now: DateTime<Utc>) -> TimeDelta {
        self.finished_at.unwrap_or(now) - self.started_at
    }
}

/// A run's counts: the event counts added as the work went, plus the
/// figures set per offering (see `RunStore::set_offering_counts`) summed
/// over its offerings, and `offerings_pushed`, how many offerings have some.
pub fn merged_counts(
    added: &BTreeMap<String, u64>,
    per_offering: &BTreeMap<String, BTreeMap<String, u64>>,
) -> BTreeMap<String, u64> {
    let mut all = added.clone();
    for figures in per_offering.values() {
        for (name, n) in figures {
            let total = all.entry(name.clone()).or_default();
            *total = total.saturating_add(*n);
        }
    }
    if !per_offering.is_empty() {
        let pushed = all.entry(counts::OFFERINGS_PUSHED.to_owned()).or_default();
        *pushed = pushed.saturating_add(u64::try_from(per_offering.len()).unwrap_or(u64::MAX));
    }
    all
}

/// The names runs count under ([`Run::counts`]), so every stage uses the same.
pub mod counts {
    /// Offerings the export pushed.
    pub const OFFERINGS_PUSHED: &str = "offerings_pushed";
    /// Users created in the learning system.
    pub const USERS_CREATED: &str = "users_created";
    /// Existing users matched to learners.
    pub const USERS_MATCHED: &str = "users_matched";
    /// Enrolments made in the learning system.
    pub const ENROLLED: &str = "enrolled";
    /// Enrolments called (marked in progress) in the SMS.
    pub const CALLED: &str = "called";
    /// Enrolments blocked, each with its reason on the log.
    pub const BLOCKED: &str = "blocked";
    /// Learners whose results were read.
    pub const LEARNERS_READ: &str = "learners_read";
    /// Results ready for review, in error, saved.
    pub const RESULTS_READY: &str = "results_ready";
    pub const RESULTS_IN_ERROR: &str = "results_in_error";
    pub const RESULTS_SAVED: &str = "results_saved";
    /// Course completions read.
    pub const COMPLETIONS: &str = "completions";
    /// Learners unenrolled (after completion, or on removal).
    pub const UNENROLLED: &str = "unenrolled";
    /// Enrolments suspended (kept) on removal.
    pub const SUSPENDED: &str = "suspended";
    /// Records that failed (one learner or one offering each).
    pub const FAILURES: &str = "failures";
    /// Moodle participants unknown to the SMS (exclusive-tenant alerts).
    pub const UNKNOWN_PARTICIPANTS: &str = "unknown_participants";
}

/// How long a run holds its connection's lease before another run may take it
/// over: longer than any one stage can take (a function's timeout is at most
/// 5 minutes; the wait between export and import is normally seconds).
pub const LEASE_SECONDS: i64 = 15 * 60;

/// What asking for a connection's lease gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// This run holds the lease until `until`. `taken_from` is the run that held
    /// it before, when its lease had run out (it may have died).
    Acquired {
        until: DateTime<Utc>,
        taken_from: Option<RunId>,
    },
    /// Another run holds it until `until`.
    Busy { holder: RunId, until: DateTime<Utc> },
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
    fn a_run_lasts_until_it_finishes_or_until_now() {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let mut run = Run::start(
            TenantId::parse("acme").unwrap(),
            ConnectionId::parse("moodle").unwrap(),
            RunId::parse("r").unwrap(),
            Trigger::Manual,
            start,
        )
        .keeping(Some(30));
        assert_eq!(run.keep_days, Some(30));
        assert!(run.covers("OCC-1") && run.covers("OCC-2"), "a run for all");
        let one = run.clone().for_offering(Some("OCC-1"));
        assert!(one.covers("OCC-1") && !one.covers("OCC-2"));
        assert_eq!(
            run.duration(start + TimeDelta::seconds(90)),
            TimeDelta::seconds(90)
        );
        run.finished_at = Some(start + TimeDelta::seconds(42));
        assert_eq!(
            run.duration(start + TimeDelta::seconds(90)),
            TimeDelta::seconds(42)
        );
    }

    #[test]
    fn a_tally_earns_the_status_its_lines_do() {
        for lines in [
            vec![],
            vec![line(LogLevel::Info)],
            vec![line(LogLevel::Info), line(LogLevel::Warning)],
            vec![line(LogLevel::Warning), line(LogLevel::Error)],
        ] {
            let tally = LogTally::of(&lines);
            assert_eq!(tally.status(), RunStatus::from_log(&lines));
            assert_eq!(tally.lines, lines.len() as u64);
        }
        let two =
            LogTally::of(&[line(LogLevel::Warning)]).add(LogTally::of(&[line(LogLevel::Error)]));
        assert_eq!((two.lines, two.warnings, two.errors), (2, 1, 1));
    }

    #[test]
    fn pages_cover_every_line_once() {
        let all: Vec<RunLogLine> = (0..7).map(|_| line(LogLevel::Info)).collect();
        let mut after = 0;
        let mut seen = Vec::new();
        loop {
            let page = LogPage::of(all.clone(), after, 3);
            seen.extend(page.lines.iter().map(|(n, _)| *n));
            match page.next {
                Some(next) => after = next,
                None => break,
            }
        }
        assert_eq!(seen, (1..=7).collect::<Vec<u64>>());
        assert_eq!(LogPage::of(all, 7, 3), LogPage::default());
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
