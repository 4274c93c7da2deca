//! The transfer preview of an offering for one Moodle connection: every
//! enrolment as ready, already transferred, or blocked with every reason a
//! person can fix. It asks Moodle (look-ups only) and changes nothing.

use crate::Deps;
use crate::error::{ApiError, ErrorBody};
use crate::json::Query;
use crate::links::ConnectionQuery;
use crate::offerings;
use app::push::{PreviewMailer, Push, PushError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use domain::learning::LearningError;
use domain::ports::{Retryable, SecretError};
use domain::sis::TransferStatus;
use domain::{ConnectionId, TenantId};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewRowView {
    pub learner: String,
    /// `{"status": "ready" | "transferred" | "removed"}` or
    /// `{"status": "blocked", "reasons": [{"reason": "missing_email"}, ...]}`.
    #[schema(value_type = Object)]
    pub status: TransferStatus,
    /// What to fix, for a blocked enrolment, in words.
    pub messages: Vec<String>,
}

/// The push use case as the transfer preview runs it: it sends no email (also
/// the console's offering page).
pub fn push(deps: &Deps) -> Push<'_> {
    Push {
        clock: deps.now,
        tenants: deps.tenants.as_ref(),
        connections: deps.connections.as_ref(),
        runs: deps.runs.as_ref(),
        queue: deps.queue.as_ref(),
        sis: deps.sis.as_ref(),
        links: deps.links.as_ref(),
        learning: deps.learning.as_ref(),
        mailer: &PreviewMailer,
    }
}

fn push_error(error: PushError) -> ApiError {
    match error {
        PushError::Store(e) => e.into(),
        PushError::UnknownConnection { connection, .. } => ApiError::not_found(
            "connection",
            format!("connection {connection} does not exist"),
        ),
        PushError::NotMoodle { .. } => ApiError::unprocessable("connection", error.to_string()),
        PushError::UnknownOffering { offering, .. } => offerings::offering_not_found(&offering),
        PushError::Learning(LearningError::Secret(SecretError::NotFound { .. })) => {
            ApiError::unprocessable(
                "connections.secret",
                "the connection has no secret yet; set it first",
            )
        }
        e if e.is_retryable() => {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "preview: Moodle unavailable"
            );
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                Some("connection"),
                "Moodle could not be reached; try again shortly",
            )
        }
        e @ PushError::Learning(_) => {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "preview: Moodle refused"
            );
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "learning_system_refused",
                Some("connection"),
                format!(
                    "Moodle refused the look-up; test the connection: {}",
                    app::push::error_text(&e)
                ),
            )
        }
        e => {
            tracing::error!(error = &e as &dyn std::error::Error, "preview failed");
            ApiError::internal()
        }
    }
}

/// What transferring the offering's enrolments to a connection would do now.
#[utoipa::path(
    get,
    path = "/v1/offerings/{id}/transfer-preview",
    tag = "links",
    params(("id" = String, Path, description = "The offering's id"), ConnectionQuery),
    responses(
        (status = 200, description = "One row per enrolment", body = [PreviewRowView]),
        (status = 400, description = "No or a bad connection", body = ErrorBody),
        (status = 404, description = "No such offering or connection", body = ErrorBody),
        (status = 422, description = "Not a Moodle connection, or no secret", body = ErrorBody),
        (status = 502, description = "Moodle refused the look-up", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn transfer_preview(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(offering): Path<String>,
    Query(query): Query<ConnectionQuery>,
) -> Result<Json<Vec<PreviewRowView>>, ApiError> {
    let offering = offerings::parse_id(offering)?;
    let connection = query
        .connection
        .ok_or_else(|| ApiError::bad_request("connection", "name the connection"))?;
    let connection = ConnectionId::parse(connection)
        .map_err(|e| ApiError::bad_request("connection", e.to_string()))?;
    let push = push(&deps);
    // The offering first, so an unknown one is a 404 before Moodle is asked.
    offerings::load(&deps, &tenant, &offering).await?;
    let rows = push
        .preview(&tenant, &connection, &offering)
        .await
        .map_err(push_error)?;
    Ok(Json(
        rows.into_iter()
            .map(|row| PreviewRowView {
                learner: row.learner.to_string(),
                messages: match &row.status {
                    TransferStatus::Blocked { reasons } => {
                        reasons.iter().map(|r| r.message()).collect()
                    }
                    _ => Vec::new(),
                },
                status: row.status,
            })
            .collect(),
    ))
}
