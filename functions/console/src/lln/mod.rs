//! The LLN screens (issue 19 item 3; the seed vettrak-ocsat-lln-integration):
//! create a learner's candidate (every missing field listed), a candidate with
//! what is out of sync with the tool, the "Get results" wizard (Ok / Error /
//! Done, save or cancel), the bulk update grid (Use ticks, Find modified
//! clients, Push updates), an assessment (edit, report), the summary (filters,
//! CSV), the history and the API log (secrets masked). Every page calls app's LLN use cases ([`app::lln::Lln`],
//! the ones the api's `/v1/lln` routes call) on the LLN connection the person
//! chose (remembered with their session; the LLN page offers the choice when the
//! tenant has several, e.g. OCSAT and LLN Robot), else the tenant's only one.

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::session::SignedIn;
use crate::views::{Chrome, local_time, render};
use app::lln::{Lln, LlnFlowError};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, NaiveDate, Utc};
use domain::lln::{DownloadStatus, FieldProblem, LlnError};
use domain::ports::{LlnDownloadState, Retryable};
use domain::zone::TenantZone;
use domain::{ConnectionId, LearnerCode, TenantId};
use serde::Deserialize;

/// The LLN routes, merged into the console's Router.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/lln", get(home))
        .route("/console/lln/connection", post(choose_connection))
        .route(
            "/console/lln/candidates/new",
            get(new_candidate).post(create_candidate),
        )
        .route("/console/lln/candidates/{learner}", get(candidate))
        .route(
            "/console/lln/candidates/{learner}/update",
            post(update_candidate),
        )
        .route(
            "/console/lln/downloads",
            get(download_form).post(start_download),
        )
        .route("/console/lln/bulk", get(bulk).post(bulk_push))
        .route("/console/lln/reports/summary", get(summary))
        .route("/console/lln/reports/history", get(history))
        .route("/console/lln/log", get(api_log).post(switch_logging))
        .route(
            "/console/lln/assessments/{id}",
            get(assessment).post(edit_assessment),
        )
        .route(
            "/console/lln/assessments/{id}/report",
            get(assessment_report),
        )
        .route("/console/lln/downloads/{id}", get(download))
        .route("/console/lln/downloads/{id}/save", post(save_download))
        .route("/console/lln/downloads/{id}/cancel", post(cancel_download))
}

type Page = Result<Response, ConsoleError>;

/// The LLN screens' frame, naming the LLN connection they work with (none
/// when there is no usable one: the page itself says why).
async fn chrome(state: &ConsoleState, who: &SignedIn) -> Result<Chrome, ConsoleError> {
    let mut chrome = crate::pages::chrome(who, "LLN");
    let chosen = chosen(state, who).await?;
    if let Ok(c) = lln(state).connection(&who.tenant, chosen.as_ref()).await {
        chrome.working_with = Some(format!(
            "LLN connection: {} ({}, {})",
            c.name,
            home::product(&c),
            c.id
        ));
    }
    Ok(chrome)
}

fn lln(state: &ConsoleState) -> &Lln {
    &state.api.lln.lln
}

fn now(state: &ConsoleState) -> DateTime<Utc> {
    (state.api.deps.now)()
}

/// The LLN connection this session works with: the one its person chose on the
/// LLN page (remembered with the session), else None: the tenant's only one.
async fn chosen(
    state: &ConsoleState,
    who: &SignedIn,
) -> Result<Option<ConnectionId>, ConsoleError> {
    Ok(state.sessions.lln_choice(&who.id_hash).await?)
}

async fn zone(state: &ConsoleState, tenant: &TenantId) -> Result<TenantZone, ConsoleError> {
    Ok(state.api.deps.tenants.tenant_settings(tenant).await?.zone())
}

fn page(template: &impl Template) -> Page {
    Ok(render(template)?.into_response())
}

fn refused(template: &impl Template) -> Page {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(template)?).into_response())
}

/// A problem shown beside the form: the field at fault (as the SMS or the form
/// names it) and what to do.
#[derive(Debug, Clone)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// A learner field in words, and where to fix it.
pub fn field_label(field: &str) -> &'static str {
    match field {
        "family_name" => "Surname (family name)",
        "given_name" => "Given name",
        "other_name" => "Other name",
        "learner_code" => "Learner code",
        "date_of_birth" => "Date of birth",
        "email" => "Email",
        "username" => "OCSAT username",
        _ => "Field",
    }
}

fn issue_problems(issues: &[domain::lln::FieldIssue], code: Option<&LearnerCode>) -> Vec<Problem> {
    let fix = match code {
        Some(c) => format!(
            "set it on learner {c} in the SMS (it reaches learnbridge through PUT /v1/learners/{c}), then reload this page"
        ),
        None => "set it on the learner in the SMS, then reload this page".to_owned(),
    };
    issues
        .iter()
        .map(|i| {
            let what = match &i.problem {
                FieldProblem::Missing => "is missing".to_owned(),
                FieldProblem::Invalid { reason } => reason.clone(),
            };
            let fix = if i.field == "username" {
                "write a username without spaces".to_owned()
            } else {
                fix.clone()
            };
            Problem::new(&i.field, format!("{} {what}: {fix}", field_label(&i.field)))
        })
        .collect()
}

/// What a use case's refusal shows: the fields at fault, or the page's error.
fn problems(e: LlnFlowError, code: Option<&LearnerCode>) -> Result<Vec<Problem>, ConsoleError> {
    use LlnFlowError as E;
    let message = e.to_string();
    Ok(match e {
        E::Store(s) => return Err(s.into()),
        E::Issues(i) => issue_problems(&i.issues, code),
        E::Tool(LlnError::Invalid { issues }) => issue_problems(&issues, code),
        E::Tool(LlnError::Duplicate { field }) => vec![Problem::new(
            &field,
            format!("{message}: choose another {}", field_label(&field)),
        )],
        E::Tool(t) if t.is_retryable() => vec![Problem::new(
            "connection",
            format!("{t}; nothing was changed, try again shortly"),
        )],
        E::Tool(t) => vec![Problem::new("connection", t.to_string())],
        E::Delivery(d) => vec![Problem::new("sms", d.to_string())],
        E::SeveralLlnConnections { connections } => vec![Problem::new(
            "connection",
            format!(
                "this tenant has several LLN connections ({connections}): choose the one to work with on the LLN page"
            ),
        )],
        E::NoLlnConnection | E::UnknownConnection { .. } | E::NotLln { .. } | E::NoSms => {
            vec![Problem::new("connection", message)]
        }
        E::UnknownLearner { .. } | E::AlreadyInvited { .. } | E::NoCandidate { .. } => {
            vec![Problem::new("learner", message)]
        }
        E::UnknownDownload { .. } | E::DownloadClosed { .. } => {
            vec![Problem::new("download", message)]
        }
        E::UnknownAssessment { .. } | E::BadId { .. } => vec![Problem::new("assessment", message)],
    })
}

/// A form carrying only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

fn learner_code(raw: &str) -> Result<LearnerCode, Problem> {
    LearnerCode::parse(raw.trim()).map_err(|e| Problem::new("learner", e.to_string()))
}

mod home;
pub use home::*;
mod create;
pub use create::*;
mod candidate;
pub use candidate::*;
mod downloads;
pub use downloads::*;
mod bulk;
pub use bulk::*;
mod assessments;
pub use assessments::*;
mod reports;
pub use reports::*;
