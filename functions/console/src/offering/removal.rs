//! Remove from Moodle: one transferred learner's enrolment taken out of a
//! Moodle connection's course (`app::enrolment_removal::RemovalRequest`, as
//! `POST /v1/offerings/{id}/enrolments/{code}/removal`). A page says what will
//! happen and asks to confirm; the removal job reads the learner's grades and
//! completion first (nothing is lost), then unenrols or suspends; the same page
//! then shows the result and the results kept.

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::offerings::load_offering;
use crate::pages::chrome;
use crate::session::SignedIn;
use crate::views::{Chrome, FieldError, render};
use app::enrolment_removal::{RemovalRequest, RemovalRequestError as E};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use domain::connection::ConnectionSettings;
use domain::sis::TransferStatus;
use domain::{Connection, LearnerCode};
use serde::Deserialize;

/// A result read from Moodle and kept in learnbridge.
pub struct KeptResult {
    pub assessable: String,
    pub result: &'static str,
    pub grade: String,
    pub state: &'static str,
    /// Why it is in error, for the person who fixes it.
    pub error: String,
}

#[derive(Template)]
#[template(path = "offering_removal.html")]
pub struct RemovalPage {
    pub chrome: Chrome,
    pub offering: String,
    pub offering_name: String,
    pub connection: String,
    pub connection_name: String,
    pub learner: String,
    /// Unenrolled (true) or suspended (the connection's `unenrol_on_removal`).
    pub unenrol: bool,
    /// The enrolment's transfer now: its word.
    pub status: &'static str,
    /// In the course: it can be removed.
    pub removable: bool,
    /// Removed from the course.
    pub removed: bool,
    /// A removal was asked for and the job has not done it yet: refresh.
    pub waiting: bool,
    /// Why the last removal did not happen.
    pub removal_error: Option<String>,
    pub results: Vec<KeptResult>,
    pub completion: Option<String>,
    pub error: Option<FieldError>,
}

#[derive(Deserialize, Default)]
pub struct RemovalQuery {
    #[serde(default)]
    requested: Option<String>,
}

struct Target {
    offering: domain::sis::Offering,
    connection: Connection,
    learner: LearnerCode,
}

async fn target(
    state: &ConsoleState,
    who: &SignedIn,
    (id, connection, learner): (String, String, String),
) -> Result<Target, ConsoleError> {
    let offering = load_offering(state, &who.tenant, &id).await?;
    let connection = super::moodle_connection(state, &who.tenant, &connection).await?;
    let missing = || {
        ConsoleError::NotFound(format!(
            "Learner {learner:?} is not enrolled in offering {}.",
            offering.id
        ))
    };
    let code = LearnerCode::parse(learner.clone()).map_err(|_| missing())?;
    if state
        .api
        .deps
        .sis
        .enrolment(&who.tenant, &offering.id, &code)
        .await?
        .is_none()
    {
        return Err(missing());
    }
    Ok(Target {
        offering,
        connection,
        learner: code,
    })
}

async fn removal_page(
    state: &ConsoleState,
    who: &SignedIn,
    t: Target,
    requested: bool,
    error: Option<FieldError>,
) -> Result<axum::response::Html<String>, ConsoleError> {
    let deps = &state.api.deps;
    let transfer = deps
        .links
        .transfer(&who.tenant, &t.connection.id, &t.offering.id, &t.learner)
        .await?;
    let status = transfer.as_ref().map(|t| &t.status);
    let removable = matches!(status, Some(TransferStatus::Transferred));
    let removed = matches!(status, Some(TransferStatus::Removed));
    let removal_error = transfer.as_ref().and_then(|t| t.removal_error.clone());
    let store = &state.api.results.results;
    let results = store
        .results(&who.tenant, &t.offering.id)
        .await?
        .into_iter()
        .filter(|r| r.learner == t.learner && r.connection == t.connection.id)
        .map(|r| KeptResult {
            assessable: r.assessable.to_string(),
            result: r.result.as_str(),
            grade: match (r.grade, r.grade_max) {
                (Some(g), Some(max)) => format!("{g} / {max}"),
                (Some(g), None) => g.to_string(),
                _ => "—".to_owned(),
            },
            state: r.state.as_str(),
            error: r.error.unwrap_or_default(),
        })
        .collect();
    let zone = crate::pages::zone(state, &who.tenant).await?;
    let completion = store
        .completions(&who.tenant, &t.offering.id)
        .await?
        .into_iter()
        .find(|c| c.learner == t.learner && c.connection == t.connection.id)
        .map(|c| crate::views::local_time(zone, c.completed_at));
    let unenrol = match &t.connection.settings {
        ConnectionSettings::Moodle(m) => m.unenrol_on_removal,
        _ => true,
    };
    Ok(render(&RemovalPage {
        chrome: chrome(who, "Offerings"),
        offering: t.offering.id.to_string(),
        offering_name: t.offering.name,
        connection: t.connection.id.to_string(),
        connection_name: t.connection.name,
        learner: t.learner.to_string(),
        unenrol,
        status: match status {
            None => "Not transferred",
            Some(TransferStatus::Ready) => "Ready",
            Some(TransferStatus::Transferred) => "Transferred",
            Some(TransferStatus::Blocked { .. }) => "Blocked",
            Some(TransferStatus::Removed) => "Removed",
        },
        removable,
        removed,
        waiting: requested && removable && removal_error.is_none(),
        removal_error,
        results,
        completion,
        error,
    })?)
}

/// What a removal will do, with its confirm button; after it, the result.
pub async fn page(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(path): Path<(String, String, String)>,
    Query(query): Query<RemovalQuery>,
) -> Result<axum::response::Html<String>, ConsoleError> {
    let t = target(&state, &who, path).await?;
    removal_page(&state, &who, t, query.requested.is_some(), None).await
}

#[derive(Deserialize)]
pub struct RemovalForm {
    #[serde(default)]
    csrf: String,
}

/// Confirmed: queues the removal, then shows its result as it comes.
pub async fn remove(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    Form(form): Form<RemovalForm>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let t = target(&state, &who, path).await?;
    let deps = &state.api.deps;
    let asked = RemovalRequest {
        connections: deps.connections.as_ref(),
        sis: deps.sis.as_ref(),
        links: deps.links.as_ref(),
        queue: deps.queue.as_ref(),
    }
    .request(
        &who.tenant,
        &t.offering.id,
        &t.learner,
        t.connection.id.to_string(),
    )
    .await;
    let error = match asked {
        Ok(_) => {
            return Ok(Redirect::to(&format!(
                "/console/offerings/{}/removal/{}/{}?requested=1",
                t.offering.id, t.connection.id, t.learner
            ))
            .into_response());
        }
        Err(E::Store(e)) => return Err(e.into()),
        Err(e @ E::NotEnrolled { .. }) => FieldError {
            field: "learner",
            message: e.to_string(),
        },
        Err(e @ E::NotTransferred { .. }) => FieldError {
            field: "learner",
            message: e.to_string(),
        },
        Err(E::NotQueued(e)) => FieldError {
            field: "connection",
            message: if e.is_retryable() {
                "the removal could not be queued; nothing was changed: try again shortly"
            } else {
                "the removal could not be queued; nothing was changed"
            }
            .to_owned(),
        },
        Err(e) => FieldError {
            field: "connection",
            message: e.to_string(),
        },
    };
    let page = removal_page(&state, &who, t, false, Some(error)).await?;
    Ok((StatusCode::CONFLICT, page).into_response())
}
