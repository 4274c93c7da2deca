//! A tenant's own settings: its time zone, how long its run history is kept,
//! and the email a connection's error address gets when a run finishes with errors.

use crate::connection::Connection;
use crate::run::{Run, RunStatus};
use crate::zone::TenantZone;
use serde::{Deserialize, Serialize};

/// The longest a tenant may keep its run history.
pub const MAX_HISTORY_DAYS: u32 = 3650;

/// Settings that hold for all of a tenant's connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// The tenant's time zone, an IANA name (`Australia/Sydney`): every date
    /// (a result's, a completion's, an enrolment's start, "today") is a day in
    /// it. A tenant that never set one is in `UTC`.
    pub time_zone: String,
    /// Days runs and their logs are kept; `None`: the deployment's default
    /// (`RunHistoryDays` in the template).
    pub run_history_days: Option<u32>,
    /// The email sent to a connection's error address when a run has errors.
    pub run_error_email: RunErrorTemplate,
}

/// Subject and body of the run-error email. Placeholders: `{connection}` (its
/// id), `{connection_name}`, `{run}`, `{status}`, `{errors}`, `{warnings}` (the
/// numbers of such lines), `{started_at}`, `{finished_at}` and `{run_path}` (the
/// API path of the run in the history). The log itself is never in the email:
/// it can name learners; a person reads it in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunErrorTemplate {
    pub subject: String,
    pub body: String,
}

impl Default for RunErrorTemplate {
    fn default() -> Self {
        Self {
            subject: "learnbridge: {connection_name} finished with errors".into(),
            body: "The run {run} of the connection {connection_name} ({connection}), started \
                   {started_at}, ended {status} with {errors} error(s) and {warnings} warning(s) \
                   at {finished_at}.\n\nThe details are in the connection's history: \
                   GET {run_path}\n"
                .into(),
        }
    }
}

/// Why a tenant setting was refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingError {
    pub field: &'static str,
    pub message: String,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            time_zone: TenantZone::UTC.name().to_owned(),
            run_history_days: None,
            run_error_email: RunErrorTemplate::default(),
        }
    }
}

impl TenantSettings {
    /// The tenant's zone. A name that no longer parses (never stored: saving
    /// checks it) is UTC, like a tenant that set none.
    pub fn zone(&self) -> TenantZone {
        TenantZone::parse(&self.time_zone).unwrap_or_default()
    }

    /// Checks every setting; the first wrong one is named.
    pub fn validate(&self) -> Result<(), SettingError> {
        if let Err(e) = TenantZone::parse(&self.time_zone) {
            return Err(SettingError {
                field: "time_zone",
                message: e.to_string(),
            });
        }
        if let Some(days) = self.run_history_days
            && !(1..=MAX_HISTORY_DAYS).contains(&days)
        {
            return Err(SettingError {
                field: "run_history_days",
                message: format!("run_history_days must be between 1 and {MAX_HISTORY_DAYS}"),
            });
        }
        let template = &self.run_error_email;
        if template.subject.trim().is_empty() || template.subject.len() > 200 {
            return Err(SettingError {
                field: "run_error_email.subject",
                message: "the subject must be 1 to 200 characters".into(),
            });
        }
        if template.subject.contains(['\r', '\n']) {
            return Err(SettingError {
                field: "run_error_email.subject",
                message: "the subject must be one line".into(),
            });
        }
        if template.body.trim().is_empty() || template.body.len() > 10_000 {
            return Err(SettingError {
                field: "run_error_email.body",
                message: "the body must be 1 to 10000 characters".into(),
            });
        }
        for (field, text) in [
            ("run_error_email.subject", &template.subject),
            ("run_error_email.body", &template.body),
        ] {
            if let Some(unknown) = unknown_placeholder(text) {
                return Err(SettingError {
                    field,
                    message: format!(
                        "{{{unknown}}} is not a placeholder; use {}",
                        PLACEHOLDERS
                            .iter()
                            .map(|p| format!("{{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        Ok(())
    }
}

const PLACEHOLDERS: [&str; 9] = [
    "connection",
    "connection_name",
    "run",
    "status",
    "errors",
    "warnings",
    "started_at",
    "finished_at",
    "run_path",
];

fn unknown_placeholder(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Some(name);
        }
        rest = &after[close + 1..];
    }
    None
}

/// The API path of a run in its connection's history.
pub fn run_path(run: &Run) -> String {
    format!("/v1/connections/{}/runs/{}", run.connection, run.id)
}

/// The run-error email for a finished run, or `None` when none is due: the run
/// did not finish with error, or the connection has no error address.
/// It names the connection and the run, never a learner: no log line goes in.
pub fn run_error_email(
    template: &RunErrorTemplate,
    connection: &Connection,
    run: &Run,
    log: crate::run::LogTally,
) -> Option<crate::email::Email> {
    if run.status != RunStatus::FinishedWithError {
        return None;
    }
    let to = connection.error_email.as_deref()?.trim();
    if to.is_empty() {
        return None;
    }
    let (errors, warnings) = (log.errors, log.warnings);
    let finished = run
        .finished_at
        .map_or_else(|| "-".to_owned(), |at| at.to_rfc3339());
    let fill = |text: &str| {
        text.replace("{connection_name}", &connection.name)
            .replace("{connection}", connection.id.as_str())
            .replace("{run_path}", &run_path(run))
            .replace("{run}", run.id.as_str())
            .replace("{status}", run.status.label())
            .replace("{errors}", &errors.to_string())
            .replace("{warnings}", &warnings.to_string())
            .replace("{started_at}", &run.started_at.to_rfc3339())
            .replace("{finished_at}", &finished)
    };
    Some(crate::email::Email {
        to: to.to_owned(),
        subject: fill(&template.subject).replace(['\r', '\n'], " "),
        body: fill(&template.body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::{ConnectionSettings, MoodleSettings};
    use crate::ids::{ConnectionId, RunId, TenantId};
    use crate::job::Trigger;
    use crate::run::{LogLevel, RunLogLine};
    use chrono::{TimeZone, Utc};

    fn connection(error_email: Option<&str>) -> Connection {
        Connection {
            tenant: TenantId::parse("acme").unwrap(),
            id: ConnectionId::parse("moodle-main").unwrap(),
            name: "ACME Moodle".into(),
            base_url: "https://moodle.example".into(),
            enabled: true,
            error_email: error_email.map(str::to_owned),
            settings: ConnectionSettings::Moodle(MoodleSettings::default()),
        }
    }

    fn line(level: LogLevel, message: &str) -> RunLogLine {
        RunLogLine {
            at: Utc.with_ymd_and_hms(2026, 11, 23, 2, 1, 0).unwrap(),
            level,
            message: message.into(),
        }
    }

    fn run(status: RunStatus) -> Run {
        let mut run = Run::start(
            TenantId::parse("acme").unwrap(),
            ConnectionId::parse("moodle-main").unwrap(),
            RunId::parse("run-7").unwrap(),
            Trigger::Nightly,
            Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap(),
        );
        run.status = status;
        run.finished_at = Some(Utc.with_ymd_and_hms(2026, 11, 23, 2, 5, 0).unwrap());
        run
    }

    #[test]
    fn an_erroneous_run_emails_counts_and_the_run_never_the_log() {
        let log = [
            line(
                LogLevel::Info,
                "User Ada Lovelace (A1) - registered in the system",
            ),
            line(LogLevel::Error, "User Grace Hopper (G1) - enrolment failed"),
            line(LogLevel::Warning, "Learner ada@example.com has no idnumber"),
            line(LogLevel::Error, "Offering OCC-9 could not be pushed"),
        ];
        let email = run_error_email(
            &RunErrorTemplate::default(),
            &connection(Some("ops@acme.example")),
            &run(RunStatus::FinishedWithError),
            crate::run::LogTally::of(&log),
        )
        .unwrap();
        assert_eq!(email.to, "ops@acme.example");
        assert_eq!(
            email.subject,
            "learnbridge: ACME Moodle finished with errors"
        );
        assert!(email.body.contains("run-7"), "{}", email.body);
        assert!(email.body.contains("2 error(s) and 1 warning(s)"));
        assert!(
            email
                .body
                .contains("GET /v1/connections/moodle-main/runs/run-7")
        );
        assert!(email.body.contains("Finished with error"));
        for personal in ["Ada", "Grace", "A1", "ada@example.com", "OCC-9"] {
            assert!(!email.body.contains(personal), "{personal} leaked");
            assert!(!email.subject.contains(personal), "{personal} leaked");
        }
    }

    #[test]
    fn no_email_without_errors_or_without_an_address() {
        let log = [line(LogLevel::Warning, "w")];
        let template = RunErrorTemplate::default();
        for (status, address) in [
            (RunStatus::FinishedWithWarnings, Some("ops@acme.example")),
            (RunStatus::FinishedSuccessfully, Some("ops@acme.example")),
            (RunStatus::Importing, Some("ops@acme.example")),
            (RunStatus::FinishedWithError, None),
            (RunStatus::FinishedWithError, Some("  ")),
        ] {
            assert_eq!(
                run_error_email(
                    &template,
                    &connection(address),
                    &run(status),
                    crate::run::LogTally::of(&log)
                ),
                None,
                "{status:?} {address:?}"
            );
        }
    }

    #[test]
    fn a_tenants_template_is_filled_and_kept_to_one_subject_line() {
        let template = RunErrorTemplate {
            subject: "[{status}] {connection}".into(),
            body: "See https://console.acme.example/runs/{run} ({errors})".into(),
        };
        let email = run_error_email(
            &template,
            &connection(Some("ops@acme.example")),
            &run(RunStatus::FinishedWithError),
            crate::run::LogTally::of(&[line(LogLevel::Error, "x")]),
        )
        .unwrap();
        assert_eq!(email.subject, "[Finished with error] moodle-main");
        assert_eq!(
            email.body,
            "See https://console.acme.example/runs/run-7 (1)"
        );
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        assert_eq!(TenantSettings::default().validate(), Ok(()));
        let cases: [(TenantSettings, &str); 8] = [
            (
                TenantSettings {
                    time_zone: "Australia/Sidney".into(),
                    ..Default::default()
                },
                "time_zone",
            ),
            (
                TenantSettings {
                    time_zone: String::new(),
                    ..Default::default()
                },
                "time_zone",
            ),
            (
                TenantSettings {
                    run_history_days: Some(0),
                    ..Default::default()
                },
                "run_history_days",
            ),
            (
                TenantSettings {
                    run_history_days: Some(MAX_HISTORY_DAYS + 1),
                    ..Default::default()
                },
                "run_history_days",
            ),
            (
                TenantSettings {
                    run_error_email: RunErrorTemplate {
                        subject: " ".into(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                "run_error_email.subject",
            ),
            (
                TenantSettings {
                    run_error_email: RunErrorTemplate {
                        subject: "a\nBcc: x@y".into(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                "run_error_email.subject",
            ),
            (
                TenantSettings {
                    run_error_email: RunErrorTemplate {
                        body: "{learner_name}".into(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                "run_error_email.body",
            ),
            (
                TenantSettings {
                    run_error_email: RunErrorTemplate {
                        body: String::new(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                "run_error_email.body",
            ),
        ];
        for (settings, field) in cases {
            assert_eq!(settings.validate().unwrap_err().field, field);
        }
        let ok = TenantSettings {
            run_history_days: Some(MAX_HISTORY_DAYS),
            time_zone: "Australia/Sydney".into(),
            ..Default::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.zone().name(), "Australia/Sydney");
        assert_eq!(TenantSettings::default().zone(), TenantZone::UTC);
        // A tenant stored before zones existed reads as UTC.
        let old: TenantSettings = serde_json::from_str(r#"{"run_history_days": 30}"#).unwrap();
        assert_eq!(old.time_zone, "UTC");
    }
}
