//! Connections: create, partial update (settings merged), enable/disable, the
//! write-only secret (stored in Secrets Manager, shown only as `****abcd`),
//! and the connection test. Reading and listing are in `handler.rs`.

use crate::Deps;
use crate::error::{ApiError, ErrorBody};
use crate::handler::ConnectionView;
use crate::json::{self, JsonBody, Resource, nullable};
use app::connections::{
    ConnectionChanges, ConnectionFields, MaskedConnection, Setup, SetupError, UrlCheck,
};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use domain::{ConnectionId, ConnectionKind, TenantId};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A new connection. `settings` holds the options of its kind (see
/// docs/api.md); the ones left out take their defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    /// Unique within the tenant: letters, digits, `.`, `_`, `-`.
    pub id: String,
    /// `moodle`, `ocsat`, `lln_robot`, `course_key`, `sms`.
    #[schema(value_type = String, example = "moodle")]
    pub kind: ConnectionKind,
    pub name: String,
    /// For OCSAT and LLN Robot: the API URL, prefilled with the product's
    /// default when left out (the token endpoint, `settings.auth_url`, likewise).
    #[serde(default)]
    pub base_url: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub error_email: Option<String>,
    /// The kind's settings, e.g. for Moodle `{"role_id": 5, "auto_push": true}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// The token (a Moodle connection that signs in with a token) or client
    /// secret. Write-only: never returned, only shown masked.
    #[schema(value_type = Option<String>, write_only)]
    pub secret: Option<SecretString>,
    /// The kind's further secrets by name (LLN: `api_key`; CourseKey:
    /// `initial_password`; Moodle: `password`, for `settings.login` with a
    /// username). Write-only: only ever shown masked.
    #[serde(default)]
    #[schema(value_type = Object, write_only)]
    pub secrets: BTreeMap<String, SecretString>,
}

fn yes() -> bool {
    true
}

impl Resource for ConnectionInput {
    const NAME: &'static str = "connections";
}

/// Only the fields sent change; `settings` is merged into the current
/// settings key by key (`null` puts a setting back to its default).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionPatch {
    pub name: Option<String>,
    pub base_url: Option<String>,
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub error_email: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
    #[schema(value_type = Option<String>, write_only)]
    pub secret: Option<SecretString>,
    /// Further secrets to set or rotate, by name (see [`ConnectionInput::secrets`]).
    #[serde(default)]
    #[schema(value_type = Object, write_only)]
    pub secrets: BTreeMap<String, SecretString>,
}

impl Resource for ConnectionPatch {
    const NAME: &'static str = "connections";
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretInput {
    #[schema(value_type = String, write_only)]
    pub secret: SecretString,
}

impl Resource for SecretInput {
    const NAME: &'static str = "connections";
}

/// A connection with its secret masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionOut {
    #[serde(flatten)]
    pub connection: ConnectionView,
    /// `****abcd` (the last four characters of a long secret), `****` for a
    /// short one, `null` when none is set.
    pub secret: Option<String>,
    /// Each further secret of the kind, masked the same way (`null`: not set).
    pub secrets: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    pub secret: Option<String>,
    /// The kind's further secrets, masked (`null`: not set).
    pub secrets: BTreeMap<String, Option<String>>,
}

/// The result of a connection test (`ok` false when the site could not be
/// reached, or required functions are missing).
#[derive(Debug, Serialize, ToSchema)]
pub struct TestView {
    pub ok: bool,
    #[schema(value_type = Option<Object>)]
    pub site: Option<app::connections::SiteReport>,
    pub problem: Option<String>,
    /// The tenant's time zone (`site.time_zone` is the Moodle site's).
    pub tenant_time_zone: String,
    /// What does not fail the test but a person should know: the site's time
    /// zone differs from the tenant's, or could not be read.
    pub notes: Vec<String>,
}

/// How long the API waits for a base URL's host name to resolve when a
/// connection is saved (a name that does not resolve in time passes: the
/// connectors check every address again when they connect).
const RESOLVE_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// The deployment's egress rule, with host names resolved (the connectors' check):
/// the [`UrlCheck`] the api's and the console's connection forms both use.
pub struct Resolved(pub domain::egress::Egress);

#[async_trait::async_trait]
impl UrlCheck for Resolved {
    async fn check(&self, url: &str) -> Result<(), String> {
        connectors::egress::check_resolved(url, self.0, RESOLVE_WITHIN)
            .await
            .map_err(|refused| refused.to_string())
    }
}

/// Configuring connections over the deployment's ports (the api's routes and
/// the console's forms).
pub fn with_setup<'a>(deps: &'a Deps, urls: &'a Resolved) -> Setup<'a> {
    Setup {
        connections: deps.connections.as_ref(),
        secret_sink: deps.secret_sink.as_ref(),
        secret_source: deps.secret_source.as_ref(),
        secret_prefix: &deps.secret_prefix,
        urls,
    }
}

impl From<SetupError> for ApiError {
    fn from(e: SetupError) -> Self {
        match e {
            SetupError::Invalid { field, message } => ApiError::bad_request(&field, message),
            SetupError::Unusable { field, message } => ApiError::unprocessable(&field, message),
            SetupError::Settings(e) => json::path_error(e, "connections.settings"),
            SetupError::Exists { .. } => ApiError::conflict(Some("connections.id"), e.to_string()),
            SetupError::OnePerTenant { .. } => {
                ApiError::conflict(Some("connections.kind"), e.to_string())
            }
            SetupError::NotFound { .. } => ApiError::not_found("connection_id", e.to_string()),
            SetupError::KindChange { .. } => {
                ApiError::unprocessable("connections.kind", e.to_string())
            }
            SetupError::Encode(_) => ApiError::internal(),
            SetupError::Store(e) => e.into(),
            SetupError::Secret(e) => e.into(),
        }
    }
}

fn out(masked: MaskedConnection) -> ConnectionOut {
    ConnectionOut {
        connection: ConnectionView::from(masked.connection),
        secret: masked.secret,
        secrets: masked.secrets,
    }
}

/// Create a connection (and store its secret).
#[utoipa::path(
    post,
    path = "/v1/connections",
    tag = "connections",
    request_body = ConnectionInput,
    responses(
        (status = 201, description = "Created", body = ConnectionOut),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 409, description = "A connection with this id exists, or a second connection of one LLN product", body = ErrorBody),
        (status = 422, description = "A setting out of range, or a base URL (or token endpoint) that is not https or is an internal address", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create_connection(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    JsonBody(input): JsonBody<ConnectionInput>,
) -> Result<(StatusCode, Json<ConnectionOut>), ApiError> {
    let id = ConnectionId::parse(input.id)
        .map_err(|e| ApiError::bad_request("connections.id", e.to_string()))?;
    let fields = ConnectionFields {
        kind: input.kind,
        name: input.name,
        base_url: input.base_url,
        enabled: input.enabled,
        error_email: input.error_email,
        settings: input.settings,
        secret: input.secret,
        secrets: input.secrets,
    };
    let urls = Resolved(deps.egress);
    let made = with_setup(&deps, &urls).create(&tenant, id, fields).await?;
    Ok((StatusCode::CREATED, Json(out(made))))
}

/// A connection's every field but its id (the path's), replacing what is
/// stored; `settings` left out take their defaults, as on create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionReplace {
    /// The stored connection's kind (a connection cannot change kind); for
    /// one whose stored record cannot be read, the kind it should be.
    #[schema(value_type = String, example = "moodle")]
    pub kind: ConnectionKind,
    pub name: String,
    #[serde(default)]
    pub base_url: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub error_email: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Set or rotate the secret (left out: the stored one stays).
    #[schema(value_type = Option<String>, write_only)]
    pub secret: Option<SecretString>,
    /// Further secrets to set or rotate, by name (see [`ConnectionInput::secrets`]).
    #[serde(default)]
    #[schema(value_type = Object, write_only)]
    pub secrets: BTreeMap<String, SecretString>,
}

impl Resource for ConnectionReplace {
    const NAME: &'static str = "connections";
}

/// Replace a connection's fields (its secrets stay unless sent). This is
/// also how a connection whose stored record cannot be read (written by hand
/// or by an older version; listed as `unreadable`, read as 409) is repaired:
/// the record is written anew from the body.
#[utoipa::path(
    put,
    path = "/v1/connections/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "The connection's id")),
    request_body = ConnectionReplace,
    responses(
        (status = 200, description = "Replaced (or repaired)", body = ConnectionOut),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such connection (create it with POST /v1/connections)", body = ErrorBody),
        (status = 409, description = "A second connection of one LLN product or of CourseKey", body = ErrorBody),
        (status = 422, description = "A setting out of range, a change of kind, or a base URL (or token endpoint) that is not https or is an internal address", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn put_connection(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ConnectionReplace>,
) -> Result<Json<ConnectionOut>, ApiError> {
    let id = ConnectionId::parse(id)?;
    let fields = ConnectionFields {
        kind: input.kind,
        name: input.name,
        base_url: input.base_url,
        enabled: input.enabled,
        error_email: input.error_email,
        settings: input.settings,
        secret: input.secret,
        secrets: input.secrets,
    };
    let urls = Resolved(deps.egress);
    match with_setup(&deps, &urls).replace(&tenant, id, fields).await {
        Ok(replaced) => Ok(Json(out(replaced))),
        Err(SetupError::NotFound { id }) => Err(ApiError::not_found(
            "connection_id",
            format!("connection {id} does not exist; create it with POST /v1/connections"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Change some of a connection's fields; settings are merged.
#[utoipa::path(
    patch,
    path = "/v1/connections/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "The connection's id")),
    request_body = ConnectionPatch,
    responses(
        (status = 200, description = "Updated", body = ConnectionOut),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 422, description = "A setting out of range, a change of kind, or a base URL (or token endpoint) that is not https or is an internal address", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn patch_connection(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ConnectionPatch>,
) -> Result<Json<ConnectionOut>, ApiError> {
    let id = ConnectionId::parse(id)?;
    let changes = ConnectionChanges {
        name: patch.name,
        base_url: patch.base_url,
        enabled: patch.enabled,
        error_email: patch.error_email,
        settings: patch.settings,
        secret: patch.secret,
        secrets: patch.secrets,
    };
    let urls = Resolved(deps.egress);
    let changed = with_setup(&deps, &urls)
        .change(&tenant, &id, changes)
        .await?;
    Ok(Json(out(changed)))
}

async fn set_enabled(
    deps: &Deps,
    tenant: &TenantId,
    id: String,
    enabled: bool,
) -> Result<Json<ConnectionOut>, ApiError> {
    let id = ConnectionId::parse(id)?;
    let urls = Resolved(deps.egress);
    let switched = with_setup(deps, &urls)
        .set_enabled(tenant, &id, enabled)
        .await?;
    Ok(Json(out(switched)))
}

/// Disable a connection: the nightly run skips it; it can still be run by hand.
#[utoipa::path(
    post,
    path = "/v1/connections/{id}/disable",
    tag = "connections",
    params(("id" = String, Path, description = "The connection's id")),
    responses(
        (status = 200, description = "Disabled", body = ConnectionOut),
        (status = 404, description = "No such connection", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn disable_connection(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionOut>, ApiError> {
    set_enabled(&deps, &tenant, id, false).await
}

/// Enable a connection again.
#[utoipa::path(
    post,
    path = "/v1/connections/{id}/enable",
    tag = "connections",
    params(("id" = String, Path, description = "The connection's id")),
    responses(
        (status = 200, description = "Enabled", body = ConnectionOut),
        (status = 404, description = "No such connection", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn enable_connection(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<ConnectionOut>, ApiError> {
    set_enabled(&deps, &tenant, id, true).await
}

/// The connection's secrets, masked.
#[utoipa::path(
    get,
    path = "/v1/connections/{id}/secret",
    tag = "connections",
    params(("id" = String, Path, description = "The connection's id")),
    responses(
        (status = 200, description = "Masked (`****abcd`) or null", body = SecretView),
        (status = 404, description = "No such connection", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get_secret(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<SecretView>, ApiError> {
    let id = ConnectionId::parse(id)?;
    let urls = Resolved(deps.egress);
    let masked = with_setup(&deps, &urls).connection(&tenant, &id).await?;
    Ok(Json(SecretView {
        secret: masked.secret,
        secrets: masked.secrets,
    }))
}

/// Set (or rotate) the connection's secret.
#[utoipa::path(
    put,
    path = "/v1/connections/{id}/secret",
    tag = "connections",
    params(("id" = String, Path, description = "The connection's id")),
    request_body = SecretInput,
    responses(
        (status = 200, description = "Stored; shown masked", body = SecretView),
        (status = 400, description = "Empty or too long", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn put_secret(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<SecretInput>,
) -> Result<Json<SecretView>, ApiError> {
    let id = ConnectionId::parse(id)?;
    let urls = Resolved(deps.egress);
    let masked = with_setup(&deps, &urls)
        .set_secret(&tenant, &id, &input.secret)
        .await?;
    Ok(Json(SecretView {
        secret: masked.secret,
        secrets: masked.secrets,
    }))
}

/// Test a connection: for Moodle, the site's name, release and version, and
/// the functions the enabled features need that the token's service lacks
/// (and the optional ones, apart). A password login that Moodle refuses is a
/// `problem` saying what to fix.
#[utoipa::path(
    post,
    path = "/v1/connections/{id}/test",
    tag = "connections",
    params(("id" = String, Path, description = "The connection's id")),
    responses(
        (status = 200, description = "Tested (see `ok`)", body = TestView),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 422, description = "No secret set, or a kind that cannot be tested", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn test_connection(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<TestView>, ApiError> {
    use app::connections::TestError;
    let id = ConnectionId::parse(id)?;
    let urls = Resolved(deps.egress);
    let connection = with_setup(&deps, &urls).load(&tenant, &id).await?;
    let test = app::connections::test_connection(
        &connection,
        deps.secret_source.as_ref(),
        &deps.secret_prefix,
        deps.probe.as_ref(),
        deps.tenants.tenant_settings(&tenant).await?.zone(),
    )
    .await
    .map_err(|e| match e {
        TestError::Unsupported { .. } => ApiError::unprocessable("connection_id", e.to_string()),
        TestError::NoSecret { field } => ApiError::unprocessable(field, e.to_string()),
        TestError::Secret(e) => e.into(),
    })?;
    Ok(Json(TestView {
        ok: test.ok,
        site: test.site,
        problem: test.problem,
        tenant_time_zone: test.tenant_time_zone,
        notes: test.notes,
    }))
}
