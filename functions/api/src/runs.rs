//! Runs started by a person — a whole sync (export then import) or only the
//! results download, for a connection or one offering — and stopping a download.
//! Disabled connections can still be run by hand (Smartosh's "Perform connection").

use crate::Deps;
use crate::error::{ApiError, ErrorBody};
use crate::json::{JsonBody, Resource};
use app::runs::{RunError, Runs};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use domain::{ConnectionId, RunId, TenantId, Trigger};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a run does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Export (learners, courses, enrolments out), then import (results back).
    #[default]
    Full,
    /// Only download results ("Transfer results from Moodle").
    Import,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    #[serde(default)]
    pub stage: Stage,
    /// Only this offering; every linked offering when left out.
    #[serde(default)]
    pub offering: Option<String>,
}

impl Resource for RunRequest {
    const NAME: &'static str = "runs";
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunStarted {
    pub run: String,
    pub connection: String,
    pub stage: Stage,
    pub offering: Option<String>,
    /// Read the run, with its log, here.
    pub href: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StopRequested {
    pub run: String,
    pub stop_requested: bool,
}

/// Start a run now.
#[utoipa::path(
    post,
    path = "/v1/connections/{id}/runs",
    tag = "runs",
    params(("id" = String, Path, description = "The connection's id")),
    request_body = RunRequest,
    responses(
        (status = 202, description = "Queued", body = RunStarted),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such connection or offering", body = ErrorBody),
        (status = 422, description = "The connection is not one that syncs (the SMS)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn start_run(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<RunRequest>,
) -> Result<(StatusCode, Json<RunStarted>), ApiError> {
    let id = ConnectionId::parse(id)?;
    let stage = match request.stage {
        Stage::Full => app::runs::Stage::Full,
        Stage::Import => app::runs::Stage::Import,
    };
    let (run, offering) = runs(&deps)
        .start(&tenant, &id, stage, request.offering, (deps.now)())
        .await
        .map_err(run_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RunStarted {
            href: format!("/v1/connections/{id}/runs/{run}"),
            run: run.to_string(),
            connection: id.to_string(),
            stage: request.stage,
            offering: offering.map(|o| o.to_string()),
        }),
    ))
}

/// Runs over the deployment's ports (also the transfer of `links.rs`, and the
/// console's runs, transfers and downloads).
pub fn runs(deps: &Deps) -> Runs<'_> {
    Runs {
        connections: deps.connections.as_ref(),
        runs: deps.runs.as_ref(),
        sis: deps.sis.as_ref(),
        tenants: deps.tenants.as_ref(),
        queue: deps.queue.as_ref(),
    }
}

/// A run's refusal as the runs routes answer it.
pub(crate) fn run_error(e: RunError) -> ApiError {
    match e {
        RunError::NoConnection { .. } => ApiError::not_found("connection_id", e.to_string()),
        RunError::NotSynced { .. } => ApiError::unprocessable("connection_id", e.to_string()),
        RunError::BadOffering(e) => ApiError::bad_request("runs.offering", e.to_string()),
        RunError::BadConnection(e) => ApiError::bad_request("connection_id", e.to_string()),
        RunError::NotMoodle { .. } => ApiError::unprocessable("connection_id", e.to_string()),
        RunError::NoOffering { .. } => ApiError::not_found("runs.offering", e.to_string()),
        RunError::NoRun { .. } => ApiError::not_found("run_id", e.to_string()),
        RunError::Finished { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "finished",
            Some("run_id"),
            e.to_string(),
        ),
        RunError::Store(e) => e.into(),
        RunError::NotQueued(e) if e.is_retryable() => ApiError::unavailable(),
        RunError::NotQueued(_) => ApiError::internal(),
    }
}

/// Stop a run's results download; what was read so far is kept, and the next
/// download reads the rest.
#[utoipa::path(
    post,
    path = "/v1/connections/{id}/runs/{run}/stop",
    tag = "runs",
    params(("id" = String, Path, description = "The connection's id"), ("run" = String, Path, description = "The run's id")),
    responses(
        (status = 202, description = "The download stops at its next check (within seconds)", body = StopRequested),
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "The run has finished", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn stop_run(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path((id, run)): Path<(String, String)>,
) -> Result<(StatusCode, Json<StopRequested>), ApiError> {
    let id = ConnectionId::parse(id)?;
    let run = RunId::parse(run)?;
    runs(&deps)
        .stop(&tenant, &id, &run)
        .await
        .map_err(run_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(StopRequested {
            run: run.to_string(),
            stop_requested: true,
        }),
    ))
}

/// A run in a connection's history (its log is at `href`).
#[derive(Debug, Serialize, ToSchema)]
pub struct RunSummary {
    pub id: String,
    pub connection: String,
    /// Importing, Finished successfully, Finished with warnings, Finished with error.
    pub status: &'static str,
    #[schema(value_type = String)]
    pub trigger: Trigger,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Seconds it ran (so far, while Importing).
    pub duration_seconds: i64,
    /// What it did, by name (e.g. `users_created`, `enrolled`, `results_ready`, `failures`).
    pub counts: std::collections::BTreeMap<String, u64>,
    /// The one offering it was for; `null`: every linked offering.
    pub offering: Option<String>,
    pub href: String,
}

impl RunSummary {
    fn of(run: domain::Run, now: chrono::DateTime<chrono::Utc>) -> Self {
        RunSummary {
            href: format!("/v1/connections/{}/runs/{}", run.connection, run.id),
            duration_seconds: run.duration(now).num_seconds(),
            id: run.id.to_string(),
            status: run.status.label(),
            trigger: run.trigger,
            started_at: run.started_at,
            finished_at: run.finished_at,
            offering: run.offering,
            counts: run.counts,
            connection: run.connection.to_string(),
        }
    }
}

/// Filters of a connection's history.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Runs that started at or after this time (RFC 3339), or from the start
    /// of this day (`2026-12-02`) in the tenant's time zone.
    pub from: Option<String>,
    /// Runs that started at or before this time (RFC 3339), or by the end of
    /// this day in the tenant's time zone.
    pub to: Option<String>,
    /// At most this many (default 50, at most 500).
    pub limit: Option<usize>,
}

/// Most runs one history page returns.
pub const HISTORY_MAX: usize = 500;

/// A connection's history: its runs, newest first, by date range.
#[utoipa::path(
    get,
    path = "/v1/connections/{id}/runs",
    tag = "runs",
    params(("id" = String, Path, description = "The connection's id"), HistoryQuery),
    responses(
        (status = 200, description = "Newest first", body = [RunSummary]),
        (status = 400, description = "Invalid filter", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn history(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    query: Result<axum::extract::Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<RunSummary>>, ApiError> {
    let axum::extract::Query(query) =
        query.map_err(|e| ApiError::bad_request("runs.query", e.body_text()))?;
    let id = crate::handler::load_connection(&deps, &tenant, &id)
        .await?
        .id;
    let (from, to) = bounds(&deps, &tenant, &query).await?;
    let limit = checked_limit(&query)?;
    let runs = deps.runs.history(&tenant, &id, from, to, limit).await?;
    let now = (deps.now)();
    Ok(Json(
        runs.into_iter().map(|r| RunSummary::of(r, now)).collect(),
    ))
}

/// An offering's history: the runs of its linked connections that covered it
/// (runs for it alone, and runs for every linked offering), newest first.
#[utoipa::path(
    get,
    path = "/v1/offerings/{id}/runs",
    tag = "runs",
    params(("id" = String, Path, description = "The offering's id"), HistoryQuery),
    responses(
        (status = 200, description = "Newest first", body = [RunSummary]),
        (status = 400, description = "Invalid filter", body = ErrorBody),
        (status = 404, description = "No such offering", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn offering_history(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    query: Result<axum::extract::Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<RunSummary>>, ApiError> {
    let axum::extract::Query(query) =
        query.map_err(|e| ApiError::bad_request("runs.query", e.body_text()))?;
    let offering = crate::offerings::parse_id(id)?;
    let offering = crate::offerings::load(&deps, &tenant, &offering).await?.id;
    let (from, to) = bounds(&deps, &tenant, &query).await?;
    let limit = checked_limit(&query)?;
    let mut runs = Vec::new();
    for connection in deps.connections.connections(&tenant).await? {
        if deps
            .links
            .link(&tenant, &offering, &connection.id)
            .await?
            .is_none()
        {
            continue;
        }
        runs.extend(
            deps.runs
                .history(&tenant, &connection.id, from, to, HISTORY_MAX)
                .await?
                .into_iter()
                .filter(|r| r.covers(offering.as_str())),
        );
    }
    runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    runs.truncate(limit);
    let now = (deps.now)();
    Ok(Json(
        runs.into_iter().map(|r| RunSummary::of(r, now)).collect(),
    ))
}

type Bound = Option<chrono::DateTime<chrono::Utc>>;

/// The history's `from` and `to` as instants: a bare date is a day in the
/// tenant's zone (from its first instant, to its last); `from` not after `to`.
async fn bounds(
    deps: &Deps,
    tenant: &TenantId,
    query: &HistoryQuery,
) -> Result<(Bound, Bound), ApiError> {
    if query.from.is_none() && query.to.is_none() {
        return Ok((None, None));
    }
    let zone = deps.tenants.tenant_settings(tenant).await?.zone();
    let from = query
        .from
        .as_deref()
        .map(|raw| crate::json::time_bound(raw, "runs.from", zone, false))
        .transpose()?;
    let to = query
        .to
        .as_deref()
        .map(|raw| crate::json::time_bound(raw, "runs.to", zone, true))
        .transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::unprocessable("runs.from", "from is after to"));
    }
    Ok((from, to))
}

/// The history filters' checks: `limit` 1 to [`HISTORY_MAX`].
fn checked_limit(query: &HistoryQuery) -> Result<usize, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > HISTORY_MAX {
        return Err(ApiError::bad_request(
            "runs.limit",
            format!("limit must be 1 to {HISTORY_MAX}"),
        ));
    }
    Ok(limit)
}
