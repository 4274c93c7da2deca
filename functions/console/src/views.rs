//! The pages: one askama template (functions/console/templates) per screen,
//! filled from plain view structs. Templates escape everything they print.

use askama::Template;
use axum::response::Html;
use chrono::{DateTime, Utc};
use domain::ports::Role;
use domain::zone::TenantZone;
use domain::{Run, RunStatus};

/// Renders a page to HTML.
pub fn render(page: &impl Template) -> Result<Html<String>, askama::Error> {
    page.render().map(Html)
}

/// A screen of the navigation.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    /// Not built yet: the link says so and leads to a page that says so.
    pub coming: bool,
}

/// The navigation, in the seeds' order of work.
pub const NAV: &[NavItem] = &[
    NavItem {
        href: "/console/connections",
        label: "Connections",
        coming: false,
    },
    NavItem {
        href: "/console/offerings",
        label: "Offerings",
        coming: false,
    },
    NavItem {
        href: "/console/results",
        label: "Results",
        coming: false,
    },
    NavItem {
        href: "/console/runs",
        label: "Runs",
        coming: false,
    },
    NavItem {
        href: "/console/deliveries",
        label: "Deliveries",
        coming: false,
    },
    NavItem {
        href: "/console/coursekey",
        label: "CourseKey",
        coming: false,
    },
    NavItem {
        href: "/console/lln",
        label: "LLN",
        coming: false,
    },
    NavItem {
        href: "/console/settings",
        label: "Settings",
        coming: false,
    },
    NavItem {
        href: "/console/api-keys",
        label: "API keys",
        coming: false,
    },
];

/// What every signed-in page shows around its content.
pub struct Chrome {
    pub tenant: String,
    pub role: Role,
    /// The session's CSRF token, for the page's forms (sign-out included).
    pub csrf: String,
    /// The navigation entry of this page.
    pub current: &'static str,
    /// What the screens of this entry work with, when there is a choice (the
    /// LLN screens: the LLN connection), shown under the navigation.
    pub working_with: Option<String>,
}

impl Chrome {
    pub fn may_change(&self) -> bool {
        self.role.may_change()
    }
    pub fn nav(&self) -> &'static [NavItem] {
        NAV
    }
}

/// An error under a form field: the field's name as the form says it, and what to do.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// The CSS class of a run status: the colour is never the only sign (the label is shown too).
pub fn status_class(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Importing => "status-importing",
        RunStatus::FinishedSuccessfully => "status-ok",
        RunStatus::FinishedWithWarnings => "status-warning",
        RunStatus::FinishedWithError => "status-error",
    }
}

/// An instant as a person in the tenant's zone reads it.
pub fn local_time(zone: TenantZone, at: DateTime<Utc>) -> String {
    format!(
        "{} {}",
        zone.date_of(at).format("%Y-%m-%d"),
        zone.time_of(at).format("%H:%M:%S")
    )
}

/// What started a run, in words.
pub fn trigger_label(trigger: domain::Trigger) -> &'static str {
    match trigger {
        domain::Trigger::Nightly => "Nightly",
        domain::Trigger::Manual => "Started by a person",
        domain::Trigger::AutoPush => "Automatic push",
        domain::Trigger::Change => "A change in the SMS",
    }
}

/// A log line's level, in words.
pub fn level_label(level: domain::LogLevel) -> &'static str {
    match level {
        domain::LogLevel::Info => "Info",
        domain::LogLevel::Warning => "Warning",
        domain::LogLevel::Error => "Error",
    }
}

/// One run in a list.
pub struct RunRow {
    pub id: String,
    pub connection: String,
    pub status: &'static str,
    pub class: &'static str,
    pub trigger: String,
    pub started: String,
    pub finished: String,
    pub duration: String,
    pub log_lines: u64,
}

impl RunRow {
    pub fn of(run: &Run, zone: TenantZone, now: DateTime<Utc>) -> Self {
        let seconds = run.duration(now).num_seconds();
        Self {
            id: run.id.to_string(),
            connection: run.connection.to_string(),
            status: run.status.label(),
            class: status_class(run.status),
            trigger: trigger_label(run.trigger).to_owned(),
            started: local_time(zone, run.started_at),
            finished: run
                .finished_at
                .map_or_else(|| "—".to_owned(), |t| local_time(zone, t)),
            duration: format!("{}:{:02}", seconds / 60, seconds % 60),
            log_lines: run.log.lines,
        }
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub error: Option<FieldError>,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

#[derive(Template)]
#[template(path = "coming.html")]
pub struct ComingPage {
    pub chrome: Chrome,
    pub screen: String,
}

/// A connection in the list and on its page.
pub struct ConnectionRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub base_url: String,
    pub enabled: bool,
    pub last_run: Option<RunRow>,
}

#[derive(Template)]
#[template(path = "connections.html")]
pub struct ConnectionsPage {
    pub chrome: Chrome,
    pub rows: Vec<ConnectionRow>,
    /// Stored connections that cannot be read: id and why.
    pub unreadable: Vec<(String, String)>,
}

/// A connection test's report, as shown.
pub struct TestReport {
    pub ok: bool,
    pub site_name: String,
    pub site_url: String,
    pub release: String,
    pub account: String,
    pub missing_functions: Vec<String>,
    pub missing_optional_functions: Vec<String>,
    pub site_time_zone: String,
    pub tenant_time_zone: String,
    pub problem: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Template)]
#[template(path = "connection.html")]
pub struct ConnectionPage {
    pub chrome: Chrome,
    pub connection: ConnectionRow,
    pub test: Option<TestReport>,
    pub error: Option<FieldError>,
}

#[derive(Template)]
#[template(path = "runs.html")]
pub struct RunsPage {
    pub chrome: Chrome,
    /// `(id, name)` of every connection, for the filter.
    pub connections: Vec<(String, String)>,
    pub connection: String,
    pub from: String,
    pub to: String,
    pub zone: String,
    pub errors: Vec<FieldError>,
    pub runs: Vec<RunRow>,
    /// Whether a search was made (else the page asks for one).
    pub searched: bool,
}

impl RunsPage {
    pub fn error_of(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

/// One line of a run's log.
pub struct LogRow {
    pub number: u64,
    pub at: String,
    pub level: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "run.html")]
pub struct RunPage {
    pub chrome: Chrome,
    pub connection_name: String,
    pub run: RunRow,
    pub counts: Vec<(String, u64)>,
    pub lines: Vec<LogRow>,
    /// `after` for the previous and next pages.
    pub previous: Option<u64>,
    pub next: Option<u64>,
    pub zone: String,
    /// Refresh while it is still importing.
    pub importing: bool,
}
