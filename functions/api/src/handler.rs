//! The routes. Every `/v1` route is scoped to the tenant of the API key.

use crate::Deps;
use crate::error::ApiError;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};
use domain::{Connection, ConnectionId, RunId, RunLogLine, TenantId};
use secrecy::ExposeSecret;
use serde::Serialize;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The API as an axum Router: served by `lambda_http::run` in Lambda and by
/// `axum::serve` in the local runner; tests call it with `oneshot`.
pub fn app(deps: Deps) -> Router {
    let v1 = Router::new()
        .route("/connections", get(list_connections))
        .route("/connections/{connection}", get(get_connection))
        .route("/connections/{connection}/runs/{run}", get(get_run))
        .route_layer(middleware::from_fn_with_state(deps.clone(), authenticate));
    Router::new()
        .route("/health", get(health))
        .nest("/v1", v1)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(deps)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", None, "no such route")
}

/// Resolves the API key to its tenant; refuses the request otherwise.
async fn authenticate(
    State(deps): State<Deps>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let key = app::auth::bearer_key(header).ok_or_else(ApiError::unauthorized)?;
    let hash = app::auth::hash_api_key(deps.pepper.expose_secret().as_bytes(), key);
    let tenant = deps
        .api_keys
        .tenant_for(&hash)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    tracing::Span::current().record("tenant", tracing::field::display(&tenant));
    request.extensions_mut().insert(tenant);
    Ok(next.run(request).await)
}

/// A connection as the API shows it. Its secret is never part of it.
#[derive(Debug, Serialize)]
pub struct ConnectionView {
    pub id: ConnectionId,
    pub kind: domain::ConnectionKind,
    pub name: String,
    pub base_url: String,
    pub enabled: bool,
    pub error_email: Option<String>,
    pub settings: domain::ConnectionSettings,
}

impl From<Connection> for ConnectionView {
    fn from(c: Connection) -> Self {
        Self {
            id: c.id.clone(),
            kind: c.kind(),
            name: c.name,
            base_url: c.base_url,
            enabled: c.enabled,
            error_email: c.error_email,
            settings: c.settings,
        }
    }
}

async fn list_connections(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
) -> Result<Json<Vec<ConnectionView>>, ApiError> {
    let connections = deps.connections.connections(&tenant).await?;
    Ok(Json(
        connections.into_iter().map(ConnectionView::from).collect(),
    ))
}

async fn load_connection(deps: &Deps, tenant: &TenantId, id: &str) -> Result<Connection, ApiError> {
    let id = ConnectionId::parse(id)?;
    deps.connections
        .connection(tenant, &id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("connection_id", format!("connection {id} does not exist"))
        })
}

async fn get_connection(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    Ok(Json(load_connection(&deps, &tenant, &id).await?.into()))
}

#[derive(Debug, Serialize)]
pub struct RunView {
    pub id: RunId,
    pub connection: ConnectionId,
    pub status: &'static str,
    pub trigger: domain::Trigger,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub log: Vec<RunLogLine>,
}

async fn get_run(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path((connection, run)): Path<(String, String)>,
) -> Result<Json<RunView>, ApiError> {
    let connection = load_connection(&deps, &tenant, &connection).await?;
    let run_id = RunId::parse(run)?;
    let run = deps
        .runs
        .run(&tenant, &connection.id, &run_id)
        .await?
        .ok_or_else(|| ApiError::not_found("run_id", format!("run {run_id} does not exist")))?;
    let log = deps.runs.log(&tenant, &connection.id, &run_id).await?;
    Ok(Json(RunView {
        id: run.id,
        connection: run.connection,
        status: run.status.label(),
        trigger: run.trigger,
        started_at: run.started_at,
        finished_at: run.finished_at,
        log,
    }))
}
