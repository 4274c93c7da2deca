//! The connections' and runs' own routes (the other resources have a module each),
//! and `/health`.

use crate::Deps;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use domain::{Connection, ConnectionId, RunId, RunLogLine, TenantId};
use serde::Serialize;

#[utoipa::path(get, path = "/health", tag = "connections", responses((status = 200, description = "The API is up")))]
pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// A connection as the API shows it. Its secret is never part of it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    #[schema(value_type = String)]
    pub id: ConnectionId,
    #[schema(value_type = String)]
    pub kind: domain::ConnectionKind,
    pub name: String,
    pub base_url: String,
    pub enabled: bool,
    pub error_email: Option<String>,
    #[schema(value_type = Object)]
    pub settings: domain::ConnectionSettings,
}

impl From<Connection> for ConnectionView {
    fn from(c: Connection) -> Self {
        let kind = c.kind();
        let mut settings = c.settings;
        // An LLN client id is sensitive too (the seed: "obfuscated from view"):
        // stored as sent, shown masked.
        if let domain::ConnectionSettings::Ocsat(s) | domain::ConnectionSettings::LlnRobot(s) =
            &mut settings
            && !s.client_id.is_empty()
        {
            s.client_id = domain::mask::mask_secret(&s.client_id);
        }
        Self {
            id: c.id.clone(),
            kind,
            name: c.name,
            base_url: c.base_url,
            enabled: c.enabled,
            error_email: c.error_email,
            settings,
        }
    }
}

/// One entry of the connections list: a connection, or one whose stored
/// record cannot be read (written by hand or by an older version).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ConnectionListItem {
    Connection(Box<ConnectionView>),
    Unreadable(UnreadableConnection),
}

/// A connection whose stored record cannot be read: its id (from the
/// record's key), why, and how to repair it (`PUT /v1/connections/{id}`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnreadableConnection {
    pub id: String,
    /// What is wrong with the record and how to repair it.
    pub unreadable: String,
}

/// The tenant's connections; one whose stored record cannot be read is
/// listed as `{id, unreadable}` with why, the others as they are.
#[utoipa::path(get, path = "/v1/connections", tag = "connections", responses((status = 200, body = [ConnectionListItem]), (status = 401, body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn list_connections(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
) -> Result<Json<Vec<ConnectionListItem>>, ApiError> {
    let (connections, unreadable) = deps.connections.connections_checked(&tenant).await?;
    let mut items: Vec<(String, ConnectionListItem)> = connections
        .into_iter()
        .map(|c| {
            (
                c.id.to_string(),
                ConnectionListItem::Connection(Box::new(ConnectionView::from(c))),
            )
        })
        .collect();
    for record in unreadable {
        tracing::warn!(key = %record.key, "a connection's stored record could not be read; listed as unreadable");
        let id = record
            .connection
            .map_or_else(|| record.key.clone(), |c| c.to_string());
        let unreadable = crate::error::unreadable_connection(&id, &record.reason);
        items.push((
            id.clone(),
            ConnectionListItem::Unreadable(UnreadableConnection { id, unreadable }),
        ));
    }
    // In the store's order (by id), the unreadable ones in their place.
    items.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Json(items.into_iter().map(|(_, item)| item).collect()))
}

pub(crate) async fn load_connection(
    deps: &Deps,
    tenant: &TenantId,
    id: &str,
) -> Result<Connection, ApiError> {
    let id = ConnectionId::parse(id)?;
    deps.connections
        .connection(tenant, &id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("connection_id", format!("connection {id} does not exist"))
        })
}

#[utoipa::path(get, path = "/v1/connections/{connection}", tag = "connections", params(("connection" = String, Path)), responses((status = 200, body = ConnectionView), (status = 404, body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn get_connection(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    Ok(Json(load_connection(&deps, &tenant, &id).await?.into()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunView {
    #[schema(value_type = String)]
    pub id: RunId,
    #[schema(value_type = String)]
    pub connection: ConnectionId,
    pub status: &'static str,
    #[schema(value_type = String)]
    pub trigger: domain::Trigger,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Seconds it ran (so far, while Importing).
    pub duration_seconds: i64,
    /// What it did, by name (e.g. `users_created`, `enrolled`, `results_ready`, `failures`).
    pub counts: std::collections::BTreeMap<String, u64>,
    /// Its operations (info) and incidents (warnings, errors), in order: the
    /// page asked for (`after`, `limit`), from the first line by default.
    #[schema(value_type = Vec<Object>)]
    pub log: Vec<RunLogLine>,
    /// How many lines the whole log holds.
    pub log_lines: u64,
    /// More lines follow: ask again with `after` set to this (the number of
    /// the last line in `log`, counting from 1). Absent on the last page.
    pub log_next: Option<u64>,
}

/// Which page of a run's log to show.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Lines after this one (numbered from 1); 0 or absent: from the first.
    pub after: Option<u64>,
    /// At most this many lines, 1 to 1,000 (default 500).
    pub limit: Option<usize>,
}

/// Lines of a run's log shown at once unless `limit` says otherwise.
pub const LOG_PAGE_DEFAULT: usize = 500;
/// The most lines one page shows.
pub const LOG_PAGE_MAX: usize = 1000;

#[utoipa::path(get, path = "/v1/connections/{connection}/runs/{run}", tag = "connections", params(("connection" = String, Path), ("run" = String, Path), LogQuery), responses((status = 200, body = RunView), (status = 400, description = "A bad `after` or `limit`", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn get_run(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path((connection, run)): Path<(String, String)>,
    crate::json::Query(page): crate::json::Query<LogQuery>,
) -> Result<Json<RunView>, ApiError> {
    let limit = page.limit.unwrap_or(LOG_PAGE_DEFAULT);
    if !(1..=LOG_PAGE_MAX).contains(&limit) {
        return Err(ApiError::bad_request(
            "limit",
            format!("limit must be 1 to {LOG_PAGE_MAX}"),
        ));
    }
    let connection = load_connection(&deps, &tenant, &connection).await?;
    let run_id = RunId::parse(run)?;
    // The run and its log's page are read side by side: one round trip, not two.
    let (run, log) = tokio::try_join!(
        deps.runs.run(&tenant, &connection.id, &run_id),
        deps.runs.log_page(
            &tenant,
            &connection.id,
            &run_id,
            page.after.unwrap_or(0),
            limit,
        ),
    )?;
    let run =
        run.ok_or_else(|| ApiError::not_found("run_id", format!("run {run_id} does not exist")))?;
    Ok(Json(RunView {
        duration_seconds: run.duration((deps.now)()).num_seconds(),
        counts: run.counts.clone(),
        id: run.id,
        connection: run.connection,
        status: run.status.label(),
        trigger: run.trigger,
        started_at: run.started_at,
        finished_at: run.finished_at,
        log: log.lines.into_iter().map(|(_, line)| line).collect(),
        log_lines: run.log.lines,
        log_next: log.next,
    }))
}
