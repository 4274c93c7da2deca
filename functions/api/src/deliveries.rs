//! Deliveries to the SMS: list a connection's by state, see one with every
//! attempt, resend one now, cancel one. Tenant-scoped like every `/v1` route:
//! the tenant comes from the API key, and every key read starts with it.

use crate::error::ApiError;
use crate::json::Query;
use crate::{AppState, Deps};
use app::deliveries::{self, DeliveryError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use domain::delivery::{Attempt, Delivery, DeliveryId, DeliveryKind, DeliveryState, UnknownState};
use domain::ports::Retryable;
use domain::{ConnectionId, TenantId};
use serde::Serialize;
use std::collections::HashMap;

/// Most deliveries one list returns (and the default).
pub const MAX_LIMIT: usize = 500;
const DEFAULT_LIMIT: usize = 100;

/// The deliveries routes under `/v1`, added to `router` (see [`crate::router::app`]).
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    router
        .route("/v1/deliveries", get(list_deliveries))
        .route("/v1/deliveries/{delivery}", get(get_delivery))
        .route("/v1/deliveries/{delivery}/resend", post(resend_delivery))
        .route("/v1/deliveries/{delivery}/cancel", post(cancel_delivery))
}

/// A delivery as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub connection: String,
    /// `result`, `completion`, `attendance` or `lln_assessment`.
    #[schema(value_type = String)]
    pub kind: DeliveryKind,
    pub learner: String,
    pub offering: String,
    pub assessable: Option<String>,
    pub idempotency_key: String,
    /// `pending`, `delivered`, `failed`, `expired`, `paused`, `cancelled` or `superseded`.
    #[schema(value_type = String)]
    pub state: DeliveryState,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub first_attempt_at: Option<DateTime<Utc>>,
    /// When it is tried next (pending deliveries only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Why it is not delivered yet (or not at all), in words a person can act on.
    pub last_error: Option<String>,
    /// The result, completion, attendance or assessment it carries.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id.to_string(),
            connection: d.connection.to_string(),
            kind: d.kind,
            learner: d.learner.to_string(),
            offering: d.offering.to_string(),
            assessable: d.assessable.map(|a| a.to_string()),
            idempotency_key: d.idempotency_key,
            state: d.state,
            attempts: d.attempts,
            created_at: d.created_at,
            first_attempt_at: d.first_attempt_at,
            next_attempt_at: (d.state == DeliveryState::Pending).then_some(d.next_attempt_at),
            delivered_at: d.delivered_at,
            last_error: d.last_error,
            payload: d.payload,
        }
    }
}

/// One delivery with every attempt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    /// Every attempt: when, the SMS's answer, and what followed.
    #[schema(value_type = Vec<Object>)]
    pub attempt_log: Vec<Attempt>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub connection: String,
    #[schema(value_type = String)]
    pub state: DeliveryState,
    pub deliveries: Vec<DeliveryView>,
}

impl From<DeliveryError> for ApiError {
    fn from(error: DeliveryError) -> Self {
        match error {
            DeliveryError::Store(e) => e.into(),
            DeliveryError::NotFound { id } => {
                ApiError::not_found(DeliveryId::FIELD, format!("delivery {id} does not exist"))
            }
            DeliveryError::Refused(e) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                Some("state"),
                e.to_string(),
            ),
            e @ DeliveryError::Changed { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", None, e.to_string())
            }
            e => {
                tracing::error!(
                    error = &e as &dyn std::error::Error,
                    "delivery request failed"
                );
                if e.is_retryable() {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        None,
                        "the service is busy; try again shortly",
                    )
                } else {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        None,
                        "the request could not be completed",
                    )
                }
            }
        }
    }
}

fn parse_list_query(
    query: &HashMap<String, String>,
) -> Result<(ConnectionId, DeliveryState, usize), ApiError> {
    if let Some(unknown) = query
        .keys()
        .find(|k| !matches!(k.as_str(), "connection" | "state" | "limit"))
    {
        return Err(ApiError::bad_request(
            unknown,
            format!("{unknown} is not a parameter of this list (connection, state, limit)"),
        ));
    }
    let connection = query.get("connection").ok_or_else(|| {
        ApiError::bad_request("connection", "name the SMS connection: ?connection=<id>")
    })?;
    let connection = ConnectionId::parse(connection.as_str())
        .map_err(|e| ApiError::bad_request("connection", e.to_string()))?;
    let state = match query.get("state") {
        None => DeliveryState::Pending,
        Some(s) => DeliveryState::parse(s)
            .map_err(|e: UnknownState| ApiError::bad_request(UnknownState::FIELD, e.to_string()))?,
    };
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                ));
            }
        },
    };
    Ok((connection, state, limit))
}

/// A connection's deliveries in one state.
#[utoipa::path(get, path = "/v1/deliveries", tag = "deliveries",
    params(("connection" = String, Query, description = "The SMS connection"),
           ("state" = Option<String>, Query, description = "pending (default), delivered, failed, expired, paused, cancelled, superseded"),
           ("limit" = Option<usize>, Query, description = "At most this many")),
    responses((status = 200, body = DeliveryList), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn list_deliveries(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<DeliveryList>, ApiError> {
    let (connection, state, limit) = parse_list_query(&query)?;
    // Deliveries go to an SMS connection: another kind is a 422 naming it.
    let kind = match crate::handler::load_connection(&deps, &tenant, connection.as_str()).await {
        Ok(c) => c.kind(),
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return Err(ApiError::not_found(
                "connection",
                format!("connection {connection} does not exist"),
            ));
        }
        Err(e) => return Err(e),
    };
    if kind != domain::ConnectionKind::Sms {
        return Err(ApiError::unprocessable(
            "connection",
            format!(
                "connection {connection} is a {} connection; deliveries go to an SMS connection",
                kind.as_str()
            ),
        ));
    }
    let found = deps
        .deliveries
        .by_state(&tenant, &connection, state, limit)
        .await?;
    Ok(Json(DeliveryList {
        connection: connection.to_string(),
        state,
        deliveries: found.into_iter().map(DeliveryView::from).collect(),
    }))
}

fn delivery_id(raw: String) -> Result<DeliveryId, ApiError> {
    DeliveryId::parse(raw).map_err(ApiError::from)
}

/// One delivery with every attempt.
#[utoipa::path(get, path = "/v1/deliveries/{delivery}", tag = "deliveries",
    params(("delivery" = String, Path, description = "The delivery's id")),
    responses((status = 200, body = DeliveryDetail), (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_delivery(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let id = delivery_id(id)?;
    let delivery = deps
        .deliveries
        .delivery(&tenant, &id)
        .await?
        .ok_or_else(|| DeliveryError::NotFound { id: id.clone() })?;
    let attempt_log = deps.deliveries.attempts(&tenant, &id).await?;
    Ok(Json(DeliveryDetail {
        delivery: delivery.into(),
        attempt_log,
    }))
}

/// Send a delivery again now (a failed, expired or paused one goes back to pending).
#[utoipa::path(post, path = "/v1/deliveries/{delivery}/resend", tag = "deliveries",
    params(("delivery" = String, Path, description = "The delivery's id")),
    responses((status = 202, body = DeliveryView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn resend_delivery(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let id = delivery_id(id)?;
    let delivery = deliveries::resend_now(
        deps.deliveries.as_ref(),
        deps.queue.as_ref(),
        &tenant,
        &id,
        (deps.now)(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(delivery.into())))
}

/// Cancel a delivery that was not delivered yet.
#[utoipa::path(post, path = "/v1/deliveries/{delivery}/cancel", tag = "deliveries",
    params(("delivery" = String, Path, description = "The delivery's id")),
    responses((status = 200, body = DeliveryView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn cancel_delivery(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryView>, ApiError> {
    let id = delivery_id(id)?;
    let delivery = deliveries::cancel(deps.deliveries.as_ref(), &tenant, &id).await?;
    Ok(Json(delivery.into()))
}
