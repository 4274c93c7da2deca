//! Transfer: an offering's enrolments sent to a Moodle connection's course now
//! (`app::runs::Runs::transfer`, as `POST /v1/offerings/{id}/transfers`), and
//! the run it started, with its counts, refreshing until it has finished.

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::offerings::{load_offering, offering_page};
use crate::pages::{chrome, zone};
use crate::session::SignedIn;
use crate::views::{Chrome, FieldError, RunRow, render};
use app::runs::{RunError, Runs};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::RunId;
use serde::Deserialize;

pub(crate) fn runs(state: &ConsoleState) -> Runs<'_> {
    api::runs::runs(&state.api.deps)
}

#[derive(Deserialize)]
pub struct TransferForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    connection: String,
}

/// Starts the transfer and shows its run; a refusal shows the offering with the field.
pub async fn start(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<TransferForm>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let offering = load_offering(&state, &who.tenant, &id).await?;
    let error = match runs(&state)
        .transfer(&who.tenant, &offering.id, form.connection)
        .await
    {
        Ok((run, connection)) => {
            return Ok(Redirect::to(&format!(
                "/console/offerings/{}/transfers/{connection}/{run}",
                offering.id
            ))
            .into_response());
        }
        Err(RunError::Store(e)) => return Err(e.into()),
        Err(
            e @ (RunError::BadConnection(_)
            | RunError::NoConnection { .. }
            | RunError::NotMoodle { .. }),
        ) => FieldError {
            field: "connection",
            message: e.to_string(),
        },
        Err(RunError::NotQueued(e)) => {
            tracing::error!(error = &e as &dyn std::error::Error, "transfer not queued");
            FieldError {
                field: "connection",
                message: "the transfer could not be queued; nothing was sent: try again shortly"
                    .to_owned(),
            }
        }
        Err(e) => FieldError {
            field: "offering",
            message: e.to_string(),
        },
    };
    let page = offering_page(&state, &who, offering, Some(error)).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Template)]
#[template(path = "offering_transfer.html")]
pub struct TransferPage {
    pub chrome: Chrome,
    pub offering: String,
    pub offering_name: String,
    pub connection: String,
    pub connection_name: String,
    pub run_id: String,
    /// None while the job waits on the queue (the run is recorded when it starts).
    pub run: Option<RunRow>,
    pub counts: Vec<(String, u64)>,
    /// Queued or importing: the page refreshes.
    pub waiting: bool,
    /// Minutes since the transfer was queued, when no run has been recorded
    /// after [`NOT_STARTED_AFTER`]: the page says the job has not started,
    /// and stops refreshing.
    pub not_started: Option<i64>,
    pub zone: String,
}

/// The transfer's run: queued, importing (refreshing), or finished with its counts.
pub async fn page(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path((id, connection, run)): Path<(String, String, String)>,
) -> Result<Html<String>, ConsoleError> {
    let offering = load_offering(&state, &who.tenant, &id).await?;
    let connection = super::moodle_connection(&state, &who.tenant, &connection).await?;
    let run_id = RunId::parse(run.clone())
        .map_err(|_| ConsoleError::NotFound(format!("No transfer run {run:?}.")))?;
    let deps = &state.api.deps;
    let found = deps.runs.run(&who.tenant, &connection.id, &run_id).await?;
    let zone = zone(&state, &who.tenant).await?;
    let now = (deps.now)();
    let not_started = not_started(found.is_some(), &run_id, now);
    let waiting = not_started.is_none()
        && found
            .as_ref()
            .is_none_or(|r| r.status == domain::RunStatus::Importing);
    Ok(render(&TransferPage {
        chrome: chrome(&who, "Offerings"),
        offering: offering.id.to_string(),
        offering_name: offering.name,
        connection: connection.id.to_string(),
        connection_name: connection.name,
        run_id: run_id.to_string(),
        run: found.as_ref().map(|r| RunRow::of(r, zone, now)),
        counts: found
            .map(|r| r.counts.into_iter().collect())
            .unwrap_or_default(),
        waiting,
        not_started,
        zone: zone.name().to_owned(),
    })?)
}

/// How long a queued transfer may go without its run being recorded before
/// the page says it has not started: the job records its run as it begins,
/// seconds after it is queued unless the push is busy with other work (the
/// operator's queue-age alarm fires at 2 hours).
pub const NOT_STARTED_AFTER: chrono::Duration = chrono::Duration::minutes(30);

/// Minutes since the run `id` was queued, if its run is not recorded and that
/// is longer than [`NOT_STARTED_AFTER`].
fn not_started(recorded: bool, id: &RunId, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    let queued = id.created_at()?;
    let waited = now - queued;
    (!recorded && waited > NOT_STARTED_AFTER).then(|| waited.num_minutes())
}
