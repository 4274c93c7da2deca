//! The summary (and its CSV), the history between two days, and the API log.

use super::downloads::results_text;
use super::error::LlnFlowError;
use super::service::Lln;
use chrono::{DateTime, Utc};
use domain::TenantId;
use domain::connection::ConnectionSettings;
use domain::lln::{ApiCall, SavedAssessment};
use domain::ports::{LlnAction, LlnHistoryEntry};
use domain::{Connection, ConnectionId, LearnerCode};
use serde::Serialize;
use std::collections::HashMap;

/// Filters of the LLN summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryFilter {
    pub learner: Option<LearnerCode>,
    /// Assessments completed from / to (both included).
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub status: Option<String>,
}

impl SummaryFilter {
    fn filters_assessments(&self) -> bool {
        self.from.is_some() || self.to.is_some() || self.status.is_some()
    }
}

/// One row of the LLN summary: a candidate, with one of its saved assessments
/// (or none yet).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    pub learner: LearnerCode,
    pub given_name: String,
    pub family_name: String,
    pub candidate_id: String,
    pub username: String,
    pub created_in_lln: DateTime<Utc>,
    pub assessment_id: Option<String>,
    pub assessment_name: Option<String>,
    pub skills: Vec<String>,
    pub completed_at: Option<DateTime<Utc>>,
    /// `skill: level / score / band` per skill, `; `-separated.
    pub results: Option<String>,
    pub status: Option<String>,
    pub staff: Option<String>,
    pub follow_up_comment: Option<String>,
    pub saved_at: Option<DateTime<Utc>>,
}

/// Quotes a CSV field when it holds a comma, quote, CR or LF (RFC 4180), and
/// defuses a leading `=`, `+`, `-`, `@` (spreadsheet formulas) with a `'`.
pub fn csv_field(value: &str) -> String {
    let value = match value.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// The LLN summary as CSV (header, then one line per row, CRLF line ends).
pub fn summary_csv(rows: &[SummaryRow]) -> String {
    const HEADER: [&str; 15] = [
        "learner",
        "given_name",
        "family_name",
        "candidate_id",
        "username",
        "created_in_lln",
        "assessment_id",
        "assessment_name",
        "skills",
        "completed_at",
        "results",
        "status",
        "staff",
        "follow_up_comment",
        "saved_at",
    ];
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let mut out = HEADER.join(",");
    out.push_str("\r\n");
    for r in rows {
        let fields = [
            r.learner.to_string(),
            r.given_name.clone(),
            r.family_name.clone(),
            r.candidate_id.clone(),
            r.username.clone(),
            r.created_in_lln.to_rfc3339(),
            r.assessment_id.clone().unwrap_or_default(),
            r.assessment_name.clone().unwrap_or_default(),
            r.skills.join("; "),
            time(r.completed_at),
            r.results.clone().unwrap_or_default(),
            r.status.clone().unwrap_or_default(),
            r.staff.clone().unwrap_or_default(),
            r.follow_up_comment.clone().unwrap_or_default(),
            time(r.saved_at),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

/// The API log as newline-delimited JSON, one call a line (for a file).
pub fn api_log_ndjson(calls: &[ApiCall]) -> String {
    calls
        .iter()
        .filter_map(|c| serde_json::to_string(c).ok())
        .map(|line| line + "\n")
        .collect()
}

impl Lln {
    /// The LLN summary (LLN-42): every candidate with each of its saved
    /// assessments (a candidate without one shows once, when no assessment
    /// filter is set), filtered.
    pub async fn summary(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        filter: &SummaryFilter,
    ) -> Result<Vec<SummaryRow>, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let mut invitations = self.store.invitations(tenant, &connection.id).await?;
        if let Some(code) = &filter.learner {
            invitations.retain(|i| &i.candidate.learner == code);
        }
        let mut by_learner: HashMap<LearnerCode, Vec<SavedAssessment>> = HashMap::new();
        for saved in self.store.assessments(tenant, &connection.id).await? {
            let a = &saved.assessment;
            let keep = filter.from.is_none_or(|from| a.completed_at >= from)
                && filter.to.is_none_or(|to| a.completed_at <= to)
                && filter
                    .status
                    .as_ref()
                    .is_none_or(|s| saved.status.as_deref() == Some(s.as_str()));
            if keep {
                by_learner
                    .entry(saved.learner.clone())
                    .or_default()
                    .push(saved);
            }
        }
        let mut rows = Vec::new();
        for invitation in invitations {
            let c = invitation.candidate;
            let base = |saved: Option<&SavedAssessment>| SummaryRow {
                learner: c.learner.clone(),
                given_name: c.pushed.given_name.clone().unwrap_or_default(),
                family_name: c.pushed.family_name.clone(),
                candidate_id: c.candidate_id.to_string(),
                username: c.username.clone(),
                created_in_lln: c.created_in_lln,
                assessment_id: saved.map(|s| s.assessment.id.to_string()),
                assessment_name: saved.map(|s| s.assessment.name.clone()),
                skills: saved
                    .map(|s| s.assessment.skills.clone())
                    .unwrap_or_default(),
                completed_at: saved.map(|s| s.assessment.completed_at),
                results: saved.map(|s| results_text(&s.assessment)),
                status: saved.and_then(|s| s.status.clone()),
                staff: saved.and_then(|s| s.staff.clone()),
                follow_up_comment: saved.and_then(|s| s.follow_up_comment.clone()),
                saved_at: saved.map(|s| s.saved_at),
            };
            match by_learner.get_mut(&c.learner) {
                Some(list) => {
                    list.sort_by_key(|a| a.assessment.completed_at);
                    rows.extend(list.iter().map(|s| base(Some(s))));
                }
                None if !filter.filters_assessments() => rows.push(base(None)),
                None => {}
            }
        }
        Ok(rows)
    }

    /// The history (audit trail) from `from` to `to` (LLN-44).
    pub async fn history_between(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LlnHistoryEntry>, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        Ok(self.store.history(tenant, &connection.id, from, to).await?)
    }

    /// Switches API call logging for a connection (LLN-10); returns it as saved.
    pub async fn set_api_logging(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        on: bool,
        now: DateTime<Utc>,
    ) -> Result<Connection, LlnFlowError> {
        let mut connection = self.connection(tenant, Some(connection)).await?;
        match &mut connection.settings {
            ConnectionSettings::Ocsat(s) | ConnectionSettings::LlnRobot(s) => {
                if s.api_logging == on {
                    return Ok(connection);
                }
                s.api_logging = on;
            }
            _ => {
                return Err(LlnFlowError::NotLln {
                    connection: connection.id,
                });
            }
        }
        self.connections.save_connection(&connection).await?;
        self.history(
            &connection,
            now,
            LlnAction::ApiLoggingSwitched,
            None,
            format!("API logging {}", if on { "on" } else { "off" }),
        )
        .await?;
        Ok(connection)
    }

    /// The connection's API call log (LLN-12), secrets already obfuscated.
    pub async fn api_log(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<ApiCall>, LlnFlowError> {
        let connection = self.connection(tenant, Some(connection)).await?;
        Ok(self.store.api_calls(tenant, &connection.id).await?)
    }
}
