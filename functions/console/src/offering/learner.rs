//! A learner's record as the SMS sent it, opened from a blocked (red) line of an
//! offering's transfer preview: the fields the block reasons name are marked, so
//! an admin sees what to fix in the SMS. Tenant-scoped: another tenant's learner
//! is not found. The reasons are the preview's own (`app::push::Push::preview`).

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::offerings::{preview_problem, preview_use_case};
use crate::pages::{chrome, zone};
use crate::session::SignedIn;
use crate::views::{Chrome, render};
use app::push::PushError;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use domain::sis::{BlockReason, TransferStatus};
use domain::{ConnectionId, LearnerCode, OfferingId};
use serde::Deserialize;

/// One field of the record.
pub struct FieldRow {
    /// The field's name as the SMS sends it (`email`, `family_name`, ...).
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    /// A block reason names it: fix it in the SMS.
    pub to_fix: bool,
}

#[derive(Template)]
#[template(path = "learner.html")]
pub struct LearnerPage {
    pub chrome: Chrome,
    pub code: String,
    pub fields: Vec<FieldRow>,
    /// The offering and connection whose preview blocked the learner.
    pub offering: String,
    pub connection: String,
    /// The block reasons in that preview (empty: not blocked there).
    pub reasons: Vec<String>,
    /// Why the preview could not be asked.
    pub problem: Option<String>,
    pub zone: String,
}

#[derive(Deserialize, Default)]
pub struct LearnerQuery {
    #[serde(default)]
    offering: Option<String>,
    #[serde(default)]
    connection: Option<String>,
}

/// The block reasons of `code` in an offering's preview on a connection, or
/// why the preview could not be asked.
async fn block_reasons(
    state: &ConsoleState,
    who: &SignedIn,
    code: &LearnerCode,
    offering: &str,
    connection: &str,
) -> Result<Result<Vec<BlockReason>, String>, ConsoleError> {
    let (Ok(offering), Ok(connection)) = (
        OfferingId::parse(offering),
        ConnectionId::parse(connection.to_owned()),
    ) else {
        return Ok(Err("no such offering or connection".to_owned()));
    };
    match preview_use_case(state)
        .preview(&who.tenant, &connection, &offering)
        .await
    {
        Ok(rows) => Ok(Ok(rows
            .into_iter()
            .find(|r| &r.learner == code)
            .and_then(|r| match r.status {
                TransferStatus::Blocked { reasons } => Some(reasons),
                _ => None,
            })
            .unwrap_or_default())),
        Err(PushError::Store(e)) => Err(e.into()),
        Err(
            e @ (PushError::UnknownConnection { .. }
            | PushError::NotMoodle { .. }
            | PushError::UnknownOffering { .. }),
        ) => Ok(Err(e.to_string())),
        Err(e) => Ok(Err(preview_problem(&e))),
    }
}

/// The learner's SMS record, with the fields to fix marked.
pub async fn page(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(code): Path<String>,
    Query(query): Query<LearnerQuery>,
) -> Result<Html<String>, ConsoleError> {
    let missing = || ConsoleError::NotFound(format!("This tenant has no learner {code:?}."));
    let code = LearnerCode::parse(code.clone()).map_err(|_| missing())?;
    let learner = state
        .api
        .deps
        .sis
        .learner(&who.tenant, &code)
        .await?
        .ok_or_else(missing)?;
    let (offering, connection) = (
        query.offering.unwrap_or_default(),
        query.connection.unwrap_or_default(),
    );
    let (reasons, problem) = if offering.is_empty() || connection.is_empty() {
        (Vec::new(), None)
    } else {
        match block_reasons(&state, &who, &code, &offering, &connection).await? {
            Ok(reasons) => (reasons, None),
            Err(problem) => (Vec::new(), Some(problem)),
        }
    };
    let named: Vec<&str> = reasons
        .iter()
        .flat_map(|r| r.learner_fields().iter().copied())
        .collect();
    let zone = zone(&state, &who.tenant).await?;
    let optional = |v: Option<String>| v.unwrap_or_else(|| "— (not sent)".to_owned());
    let yes_no = |b: bool| if b { "Yes" } else { "No" }.to_owned();
    let fields = [
        ("username", "Username", optional(learner.username)),
        ("given_name", "Given name", learner.given_name),
        ("middle_name", "Middle name", optional(learner.middle_name)),
        ("family_name", "Family name (surname)", learner.family_name),
        ("email", "Email", optional(learner.email)),
        (
            "date_of_birth",
            "Date of birth",
            optional(learner.date_of_birth.map(|d| d.to_string())),
        ),
        ("archived", "Archived", yes_no(learner.archived)),
        (
            "email_opt_out",
            "Email sending disabled",
            yes_no(learner.email_opt_out),
        ),
    ]
    .into_iter()
    .map(|(name, label, value)| FieldRow {
        name,
        label,
        value: if value.trim().is_empty() {
            "— (empty)".to_owned()
        } else {
            value
        },
        to_fix: named.contains(&name),
    })
    .collect();
    Ok(render(&LearnerPage {
        chrome: chrome(&who, "Offerings"),
        code: code.to_string(),
        fields,
        offering,
        connection,
        reasons: reasons.iter().map(BlockReason::message).collect(),
        problem,
        zone: format!(
            "{} ({})",
            crate::views::local_time(zone, learner.updated_at),
            zone.name()
        ),
    })?)
}
