//! LLN (OCSAT / LLN Robot): candidates, the bulk update, downloads of
//! assessment results (held until saved or cancelled), saved assessments and
//! their reports, the API call log and the LLN reports. Every route takes an
//! optional `connection` (query or body); without it the tenant's only LLN
//! connection is used.
//!
//! The routes take their use cases ([`LlnRoutes`], a part of [`crate::AppState`])
//! as `State` and read the tenant the API key middleware puts in the request. The rules for LLN
//! connections themselves (one per product, URLs prefilled) are here too and
//! called from `connections.rs`; the connection test goes through [`Probes`].

use crate::error::{ApiError, ErrorBody};
use crate::json::Query;
use crate::json::{JsonBody, Resource, nullable};
use app::lln::{AssessmentEdit, Lln, LlnFlowError, SummaryFilter};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use domain::lln::{AssessmentId, LlnError};
use domain::ports::{LlnApis, Retryable};
use domain::{ConnectionId, LearnerCode, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::ToSchema;

/// The LLN use cases and the clock.
#[derive(Clone)]
pub struct LlnRoutes {
    pub lln: Lln,
    pub now: fn() -> DateTime<Utc>,
}

/// The routes under `/v1`, added to `router` behind the API key check (see
/// [`crate::router::app`]).
pub fn routes(router: Router<crate::AppState>) -> Router<crate::AppState> {
    router
        .route("/v1/lln/candidates", post(create_candidate))
        .route("/v1/lln/candidates/{learner}", get(get_candidate))
        .route("/v1/lln/candidates/{learner}/push", post(push_candidate))
        .route("/v1/lln/bulk", get(bulk_changes))
        .route("/v1/lln/bulk/push", post(bulk_push))
        .route("/v1/lln/downloads", post(start_download))
        .route("/v1/lln/downloads/{download}", get(get_download))
        .route("/v1/lln/downloads/{download}/save", post(save_download))
        .route("/v1/lln/downloads/{download}/cancel", post(cancel_download))
        .route("/v1/lln/assessments", get(list_assessments))
        .route(
            "/v1/lln/assessments/{assessment}",
            get(get_assessment).patch(patch_assessment),
        )
        .route(
            "/v1/lln/assessments/{assessment}/report",
            get(assessment_report),
        )
        .route("/v1/lln/connections/{connection}/logging", put(put_logging))
        .route("/v1/lln/connections/{connection}/log", get(get_log))
        .route(
            "/v1/lln/connections/{connection}/log/download",
            get(download_log),
        )
        .route("/v1/lln/reports/summary", get(summary))
        .route("/v1/lln/reports/history", get(history))
}

// ---- errors ----

impl From<LlnFlowError> for ApiError {
    fn from(e: LlnFlowError) -> Self {
        use LlnFlowError as E;
        let message = e.to_string();
        match e {
            E::Store(s) => s.into(),
            E::Delivery(d) => {
                tracing::error!(error = &d as &dyn std::error::Error, "delivery error");
                if d.is_retryable() {
                    ApiError::unavailable()
                } else {
                    ApiError::internal()
                }
            }
            E::Tool(t) => tool_error(t),
            E::NoLlnConnection | E::SeveralLlnConnections { .. } => {
                ApiError::unprocessable("connection", message)
            }
            E::UnknownConnection { .. } => ApiError::not_found("connection", message),
            E::NotLln { .. } => ApiError::unprocessable("connection", message),
            E::UnknownLearner { .. } => ApiError::not_found("learner", message),
            E::Issues(issues) => {
                ApiError::unprocessable(&format!("learner.{}", issues.fields().join(",")), message)
            }
            E::AlreadyInvited { .. } => ApiError::conflict(Some("learner"), message),
            E::NoCandidate { .. } => ApiError::not_found("learner", message),
            E::UnknownDownload { .. } => ApiError::not_found("download", message),
            E::DownloadClosed { .. } => ApiError::conflict(Some("download"), message),
            E::UnknownAssessment { .. } => ApiError::not_found("assessment", message),
            E::NoSms => ApiError::unprocessable("connection", message),
            E::BadId { .. } => ApiError::unprocessable("assessment", message),
        }
    }
}

fn tool_error(e: LlnError) -> ApiError {
    let message = e.to_string();
    tracing::warn!(error = &e as &dyn std::error::Error, "LLN tool call failed");
    match e {
        LlnError::Unavailable(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "lln_unavailable",
            None,
            format!("{message}; try again shortly"),
        ),
        LlnError::Invalid { issues } => {
            let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
            ApiError::unprocessable(&format!("learner.{}", fields.join(",")), message)
        }
        LlnError::Duplicate { field } => {
            ApiError::conflict(Some(&format!("learner.{field}")), message)
        }
        LlnError::Secret(domain::ports::SecretError::NotFound { .. }) => ApiError::unprocessable(
            "connections.secret",
            "the connection's client secret or API key is not set",
        ),
        _ => ApiError::new(StatusCode::BAD_GATEWAY, "lln_refused", None, message),
    }
}

// ---- query helpers ----

type Q = HashMap<String, String>;

fn connection_of(q: &Q) -> Result<Option<ConnectionId>, ApiError> {
    q.get("connection")
        .map(|c| {
            ConnectionId::parse(c.as_str())
                .map_err(|e| ApiError::bad_request("connection", e.to_string()))
        })
        .transpose()
}

fn learner_param(raw: &str, field: &str) -> Result<LearnerCode, ApiError> {
    LearnerCode::parse(raw).map_err(|e| ApiError::bad_request(field, e.to_string()))
}

/// A date-time (RFC 3339) or a date (the start of that day in the tenant's
/// zone); `end` makes a bare date the end of that day.
async fn time_param(
    api: &LlnRoutes,
    tenant: &TenantId,
    q: &Q,
    field: &str,
    end: bool,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(raw) = q.get(field) else {
        return Ok(None);
    };
    let zone = api.lln.tenants.tenant_settings(tenant).await?.zone();
    crate::json::time_bound(raw, field, zone, end).map(Some)
}

// ---- candidates ----

/// Create a learner's candidate in the LLN tool.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateInput {
    /// The learner's code.
    pub learner: String,
    /// The candidate's username; default: the learner's email, or
    /// `Firstname.Surname` when that email is not unique.
    pub username: Option<String>,
    /// The LLN connection (default: the tenant's only one).
    pub connection: Option<String>,
}

impl Resource for CandidateInput {
    const NAME: &'static str = "candidate";
}

/// Push the learner's current fields to the tool.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushInput {
    /// A new username (default: the candidate keeps its own).
    pub username: Option<String>,
}

impl Resource for PushInput {
    const NAME: &'static str = "push";
}

/// A JSON body that may be left out (then every field takes its default).
fn optional_body<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
    prefix: &str,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        crate::json::parse(body, prefix)
    }
}

fn named(raw: Option<&str>, field: &str) -> Result<Option<ConnectionId>, ApiError> {
    raw.map(|c| ConnectionId::parse(c).map_err(|e| ApiError::bad_request(field, e.to_string())))
        .transpose()
}

/// Create a learner's candidate (every missing required field named at once).
#[utoipa::path(post, path = "/v1/lln/candidates", tag = "lln", request_body = CandidateInput,
    responses((status = 201, description = "The invitation: the candidate and its staff"),
              (status = 409, description = "The learner already has a candidate, or the tool has the username", body = ErrorBody),
              (status = 422, description = "Required fields missing (named in `field` and `message`)", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create_candidate(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    JsonBody(input): JsonBody<CandidateInput>,
) -> Result<Response, ApiError> {
    let learner = learner_param(&input.learner, "candidate.learner")?;
    let connection = named(input.connection.as_deref(), "candidate.connection")?;
    let invitation = api
        .lln
        .create_candidate(
            &tenant,
            connection.as_ref(),
            &learner,
            input.username.as_deref(),
            (api.now)(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(invitation)).into_response())
}

/// A learner's candidate with what is out of sync with the tool, field by field.
#[utoipa::path(get, path = "/v1/lln/candidates/{learner}", tag = "lln",
    params(("learner" = String, Path), ("connection" = Option<String>, Query)),
    responses((status = 200, description = "invitation, current fields, issues, remote candidate, out_of_sync"),
              (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_candidate(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Path(learner): Path<String>,
    Query(q): Query<Q>,
) -> Result<Response, ApiError> {
    let learner = learner_param(&learner, "learner")?;
    let view = api
        .lln
        .candidate(&tenant, connection_of(&q)?.as_ref(), &learner)
        .await?;
    Ok(Json(view).into_response())
}

/// Push one learner's current fields to the tool.
#[utoipa::path(post, path = "/v1/lln/candidates/{learner}/push", tag = "lln",
    params(("learner" = String, Path), ("connection" = Option<String>, Query)),
    request_body = PushInput,
    responses((status = 200, description = "The invitation as pushed"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn push_candidate(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Path(learner): Path<String>,
    Query(q): Query<Q>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let learner = learner_param(&learner, "learner")?;
    let input: PushInput = optional_body(&body, PushInput::NAME)?;
    let invitation = api
        .lln
        .update_candidate(
            &tenant,
            connection_of(&q)?.as_ref(),
            &learner,
            input.username.as_deref(),
            (api.now)(),
        )
        .await?;
    Ok(Json(invitation).into_response())
}

// ---- bulk update ----

#[derive(Debug, Serialize)]
struct BulkList {
    connection: ConnectionId,
    rows: Vec<app::lln::BulkRow>,
}

/// The learners changed since their last push (or left out of the last bulk update).
#[utoipa::path(get, path = "/v1/lln/bulk", tag = "lln",
    params(("connection" = Option<String>, Query)),
    responses((status = 200, description = "connection, rows (status ok/issues, created/updated dates, selected)")),
    security(("api_key" = [])))]
pub async fn bulk_changes(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Query(q): Query<Q>,
) -> Result<Response, ApiError> {
    let (connection, rows) = api
        .lln
        .bulk_changes(&tenant, connection_of(&q)?.as_ref())
        .await?;
    Ok(Json(BulkList { connection, rows }).into_response())
}

/// Push the bulk update.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkPushInput {
    /// Learners to push (default: every changed one that is Ok).
    pub selected: Option<Vec<String>>,
    /// Learners left out: flagged, offered again in the next bulk update.
    #[serde(default)]
    pub excluded: Vec<String>,
    pub connection: Option<String>,
}

impl Resource for BulkPushInput {
    const NAME: &'static str = "bulk";
}

fn codes(raw: &[String], field: &str) -> Result<Vec<LearnerCode>, ApiError> {
    raw.iter()
        .enumerate()
        .map(|(i, c)| learner_param(c, &format!("{field}[{i}]")))
        .collect()
}

/// Push the selected changed learners; errors are reported per record after.
#[utoipa::path(post, path = "/v1/lln/bulk/push", tag = "lln", request_body = BulkPushInput,
    responses((status = 200, description = "pushed, excluded, failed (learner, error, retryable)")),
    security(("api_key" = [])))]
pub async fn bulk_push(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    JsonBody(input): JsonBody<BulkPushInput>,
) -> Result<Response, ApiError> {
    let selected = input
        .selected
        .as_deref()
        .map(|s| codes(s, "bulk.selected"))
        .transpose()?;
    let excluded = codes(&input.excluded, "bulk.excluded")?;
    let connection = named(input.connection.as_deref(), "bulk.connection")?;
    let report = api
        .lln
        .bulk_push(
            &tenant,
            connection.as_ref(),
            selected.as_deref(),
            &excluded,
            (api.now)(),
        )
        .await?;
    Ok(Json(report).into_response())
}

// ---- downloads ----

/// Download assessment results.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadInput {
    /// Only this learner's candidate (default: every candidate).
    pub learner: Option<String>,
    /// Override the stored modified date for this download (RFC 3339).
    pub modified_after: Option<DateTime<Utc>>,
    pub connection: Option<String>,
}

impl Resource for DownloadInput {
    const NAME: &'static str = "download";
}

/// Download the assessments completed after the stored modified date (or the override).
#[utoipa::path(post, path = "/v1/lln/downloads", tag = "lln", request_body = DownloadInput,
    responses((status = 201, description = "The download: id, modified_after, items with status ok / error (reason) / done; held open until saved or cancelled"),
              (status = 503, description = "The LLN tool is unavailable", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn start_download(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let input: DownloadInput = optional_body(&body, DownloadInput::NAME)?;
    let learner = input
        .learner
        .as_deref()
        .map(|l| learner_param(l, "download.learner"))
        .transpose()?;
    let connection = named(input.connection.as_deref(), "download.connection")?;
    let download = api
        .lln
        .download(
            &tenant,
            connection.as_ref(),
            learner.as_ref(),
            input.modified_after,
            (api.now)(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(download)).into_response())
}

fn download_id(raw: &str) -> Result<&str, ApiError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(raw)
    } else {
        Err(ApiError::bad_request("download", "not a download id"))
    }
}

/// A download with its items.
#[utoipa::path(get, path = "/v1/lln/downloads/{download}", tag = "lln",
    params(("download" = String, Path), ("connection" = Option<String>, Query)),
    responses((status = 200, description = "The download"), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_download(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Result<Response, ApiError> {
    let download = api
        .lln
        .get_download(&tenant, connection_of(&q)?.as_ref(), download_id(&id)?)
        .await?;
    Ok(Json(download).into_response())
}

/// Save a download: the Ok assessments are recorded and delivered; the modified date advances.
#[utoipa::path(post, path = "/v1/lln/downloads/{download}/save", tag = "lln",
    params(("download" = String, Path), ("connection" = Option<String>, Query)),
    responses((status = 200, description = "saved assessment ids, deliveries, modified_since"),
              (status = 409, description = "Already saved or cancelled", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn save_download(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Result<Response, ApiError> {
    let report = api
        .lln
        .save_download(
            &tenant,
            connection_of(&q)?.as_ref(),
            download_id(&id)?,
            (api.now)(),
        )
        .await?;
    Ok(Json(report).into_response())
}

/// Cancel a download: nothing is saved and the modified date stays.
#[utoipa::path(post, path = "/v1/lln/downloads/{download}/cancel", tag = "lln",
    params(("download" = String, Path), ("connection" = Option<String>, Query)),
    responses((status = 200, description = "The cancelled download"),
              (status = 409, description = "Already saved or cancelled", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn cancel_download(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Result<Response, ApiError> {
    let download = api
        .lln
        .cancel_download(
            &tenant,
            connection_of(&q)?.as_ref(),
            download_id(&id)?,
            (api.now)(),
        )
        .await?;
    Ok(Json(download).into_response())
}

// ---- assessments ----

fn assessment_id(raw: &str) -> Result<AssessmentId, ApiError> {
    AssessmentId::parse(raw).map_err(|e| ApiError::bad_request("assessment", e.to_string()))
}

/// Saved assessments, of one learner or all.
#[utoipa::path(get, path = "/v1/lln/assessments", tag = "lln",
    params(("connection" = Option<String>, Query), ("learner" = Option<String>, Query)),
    responses((status = 200, description = "Saved assessments, by completion")),
    security(("api_key" = [])))]
pub async fn list_assessments(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Query(q): Query<Q>,
) -> Result<Response, ApiError> {
    let learner = q
        .get("learner")
        .map(|l| learner_param(l, "learner"))
        .transpose()?;
    let list = api
        .lln
        .assessments(&tenant, connection_of(&q)?.as_ref(), learner.as_ref())
        .await?;
    Ok(Json(list).into_response())
}

/// One saved assessment.
#[utoipa::path(get, path = "/v1/lln/assessments/{assessment}", tag = "lln",
    params(("assessment" = String, Path), ("connection" = Option<String>, Query)),
    responses((status = 200, description = "The saved assessment"), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_assessment(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Result<Response, ApiError> {
    let (_, saved) = api
        .lln
        .assessment(&tenant, connection_of(&q)?.as_ref(), &assessment_id(&id)?)
        .await?;
    Ok(Json(saved).into_response())
}

const TEXT_MAX: usize = 2000;

/// Only the fields sent change; `null` clears one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub status: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub staff: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub follow_up_comment: Option<Option<String>>,
}

impl Resource for AssessmentPatch {
    const NAME: &'static str = "assessment";
}

/// Record a saved assessment's status, staff or follow-up comment.
#[utoipa::path(patch, path = "/v1/lln/assessments/{assessment}", tag = "lln",
    params(("assessment" = String, Path), ("connection" = Option<String>, Query)),
    request_body = AssessmentPatch,
    responses((status = 200, description = "The saved assessment"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn patch_assessment(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
    JsonBody(patch): JsonBody<AssessmentPatch>,
) -> Result<Response, ApiError> {
    for (field, value) in [
        ("assessment.status", &patch.status),
        ("assessment.staff", &patch.staff),
        ("assessment.follow_up_comment", &patch.follow_up_comment),
    ] {
        if let Some(Some(v)) = value {
            crate::json::text(field, v, TEXT_MAX)?;
        }
    }
    let saved = api
        .lln
        .edit_assessment(
            &tenant,
            connection_of(&q)?.as_ref(),
            &assessment_id(&id)?,
            AssessmentEdit {
                status: patch.status,
                staff: patch.staff,
                follow_up_comment: patch.follow_up_comment,
            },
            (api.now)(),
        )
        .await?;
    Ok(Json(saved).into_response())
}

/// The assessment's report: everything its edit view shows.
#[utoipa::path(get, path = "/v1/lln/assessments/{assessment}/report", tag = "lln",
    params(("assessment" = String, Path), ("connection" = Option<String>, Query)),
    responses((status = 200, description = "connection, product, learner and name, candidate, username, the saved assessment"), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn assessment_report(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> Result<Response, ApiError> {
    let report = api
        .lln
        .assessment_report(&tenant, connection_of(&q)?.as_ref(), &assessment_id(&id)?)
        .await?;
    Ok(Json(report).into_response())
}

// ---- API call log ----

/// Switch API call logging.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoggingInput {
    pub enabled: bool,
}

impl Resource for LoggingInput {
    const NAME: &'static str = "logging";
}

#[derive(Debug, Serialize)]
struct LoggingView {
    connection: ConnectionId,
    api_logging: bool,
    message: String,
}

/// Turn LLN API call logging on or off for a connection (confirmed in `message`).
#[utoipa::path(put, path = "/v1/lln/connections/{connection}/logging", tag = "lln",
    params(("connection" = String, Path)), request_body = LoggingInput,
    responses((status = 200, description = "connection, api_logging, message"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn put_logging(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Path(connection): Path<String>,
    JsonBody(input): JsonBody<LoggingInput>,
) -> Result<Response, ApiError> {
    let id = ConnectionId::parse(connection)?;
    let c = api
        .lln
        .set_api_logging(&tenant, &id, input.enabled, (api.now)())
        .await?;
    let message = if input.enabled {
        format!(
            "LLN API logging is on for {}: every call to the LLN tool is logged (secrets obfuscated) and kept {} days",
            c.id,
            cloud::dynamo::API_CALL_RETENTION_DAYS
        )
    } else {
        format!("LLN API logging is off for {}", c.id)
    };
    Ok(Json(LoggingView {
        connection: c.id,
        api_logging: input.enabled,
        message,
    })
    .into_response())
}

/// The connection's API call log, oldest first, secrets obfuscated.
#[utoipa::path(get, path = "/v1/lln/connections/{connection}/log", tag = "lln",
    params(("connection" = String, Path)),
    responses((status = 200, description = "The logged calls"), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_log(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Path(connection): Path<String>,
) -> Result<Response, ApiError> {
    let id = ConnectionId::parse(connection)?;
    let calls = api.lln.api_log(&tenant, &id).await?;
    Ok(Json(calls).into_response())
}

/// The API call log as a file: newline-delimited JSON.
#[utoipa::path(get, path = "/v1/lln/connections/{connection}/log/download", tag = "lln",
    params(("connection" = String, Path)),
    responses((status = 200, description = "application/x-ndjson, one call a line", content_type = "application/x-ndjson"), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn download_log(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Path(connection): Path<String>,
) -> Result<Response, ApiError> {
    let id = ConnectionId::parse(connection)?;
    let calls = api.lln.api_log(&tenant, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"lln-api-log-{id}.ndjson\""),
            ),
        ],
        app::lln::api_log_ndjson(&calls),
    )
        .into_response())
}

// ---- reports ----

/// The LLN summary: candidates with their saved assessments, filterable; `format=csv` for a spreadsheet.
#[utoipa::path(get, path = "/v1/lln/reports/summary", tag = "lln",
    params(("connection" = Option<String>, Query), ("learner" = Option<String>, Query),
           ("from" = Option<String>, Query, description = "Completed from (date or date-time)"),
           ("to" = Option<String>, Query, description = "Completed to (date or date-time)"),
           ("status" = Option<String>, Query), ("format" = Option<String>, Query, description = "json (default) or csv")),
    responses((status = 200, description = "Rows (JSON) or text/csv"), (status = 400, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn summary(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Query(q): Query<Q>,
) -> Result<Response, ApiError> {
    let filter = SummaryFilter {
        learner: q
            .get("learner")
            .map(|l| learner_param(l, "learner"))
            .transpose()?,
        from: time_param(&api, &tenant, &q, "from", false).await?,
        to: time_param(&api, &tenant, &q, "to", true).await?,
        status: q.get("status").cloned(),
    };
    let rows = api
        .lln
        .summary(&tenant, connection_of(&q)?.as_ref(), &filter)
        .await?;
    match q.get("format").map(String::as_str) {
        None | Some("json") => Ok(Json(rows).into_response()),
        Some("csv") => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"lln-summary.csv\"",
                ),
            ],
            app::lln::summary_csv(&rows),
        )
            .into_response()),
        Some(_) => Err(ApiError::bad_request(
            "format",
            "format must be json or csv",
        )),
    }
}

/// The LLN history (audit trail) over a date range.
#[utoipa::path(get, path = "/v1/lln/reports/history", tag = "lln", operation_id = "lln_history",
    params(("connection" = Option<String>, Query),
           ("from" = String, Query, description = "Date or date-time"),
           ("to" = String, Query, description = "Date or date-time (a date: to the end of that day)")),
    responses((status = 200, description = "Entries oldest first: at, action, learner, detail"), (status = 400, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn history(
    State(api): State<LlnRoutes>,
    Extension(tenant): Extension<TenantId>,
    Query(q): Query<Q>,
) -> Result<Response, ApiError> {
    let from = time_param(&api, &tenant, &q, "from", false)
        .await?
        .ok_or_else(|| ApiError::bad_request("from", "from is required (a date or date-time)"))?;
    let to = time_param(&api, &tenant, &q, "to", true)
        .await?
        .ok_or_else(|| ApiError::bad_request("to", "to is required (a date or date-time)"))?;
    if to < from {
        return Err(ApiError::bad_request("to", "to must not be before from"));
    }
    let entries = api
        .lln
        .history_between(&tenant, connection_of(&q)?.as_ref(), from, to)
        .await?;
    Ok(Json(entries).into_response())
}

// ---- wiring ----

/// The LLN routes over one stack's adapters, with the OCSAT / LLN Robot
/// connector (its API call log in `store`); `deps.probe` then also tests LLN
/// connections.
pub fn wire(deps: &mut crate::Deps, store: cloud::dynamo::DynamoLlnStore) -> LlnRoutes {
    let store = Arc::new(store);
    let apis: Arc<dyn LlnApis> = Arc::new(
        connectors::ocsat::OcsatApis::new(
            deps.secret_source.clone(),
            deps.secret_prefix.clone(),
            store.clone(),
        )
        .with_egress(deps.egress),
    );
    deps.probe = Arc::new(crate::probe::Probes {
        moodle: deps.probe.clone(),
        lln: apis.clone(),
    });
    LlnRoutes {
        lln: Lln {
            connections: deps.connections.clone(),
            sis: deps.sis.clone(),
            store,
            apis,
            deliveries: deps.deliveries.clone(),
            queue: deps.queue.clone(),
            tenants: deps.tenants.clone(),
        },
        now: deps.now,
    }
}
