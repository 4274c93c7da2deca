//! The tenant's API keys: listed without the keys (only a keyed hash is stored, so
//! no key can be shown again, even masked), and revoked by id. A revoked key is
//! refused (403) from the next request on.

use crate::error::{ApiError, ErrorBody};
use crate::{AppState, Deps};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use domain::TenantId;
use domain::ports::ApiKeyInfo;
use serde::Serialize;

/// The API key routes under `/v1`, added to `router` (see [`crate::router::app`]).
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    router
        .route("/v1/api-keys", get(list_api_keys))
        .route("/v1/api-keys/{id}", delete(revoke_api_key))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyList {
    /// Oldest first: `id` (a public fingerprint of the key, not the key), `label`,
    /// `created_at`, `revoked`, `revoked_at`.
    #[schema(value_type = Vec<Object>)]
    pub api_keys: Vec<ApiKeyInfo>,
}

/// The tenant's API keys, revoked ones included. Keys are never shown: quote a key's
/// `id` to revoke it.
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "settings",
    responses((status = 200, body = ApiKeyList)),
    security(("api_key" = []))
)]
pub async fn list_api_keys(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
) -> Result<Json<ApiKeyList>, ApiError> {
    Ok(Json(ApiKeyList {
        api_keys: deps.api_keys.list_keys(&tenant).await?,
    }))
}

/// Revokes one of the tenant's keys (the one making the request included); it is
/// refused from the next request on. Revoking a revoked key changes nothing.
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "settings",
    params(("id" = String, Path, description = "The key's id, from GET /v1/api-keys")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "The tenant has no key with this id", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn revoke_api_key(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if deps.api_keys.revoke_key(&tenant, &id, (deps.now)()).await? {
        tracing::info!(%tenant, key = %id, "API key revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            "api_key_id",
            "this tenant has no API key with this id (GET /v1/api-keys lists them)",
        ))
    }
}
