//! Connections: create, partial update (settings merged), enable/disable, the
//! write-only secret (stored in Secrets Manager, shown only as `****abcd`),
//! and the connection test. Reading and listing are in `handler.rs`.

use crate::Deps;
use crate::error::{ApiError, ErrorBody};
use crate::handler::ConnectionView;
use crate::json::{self, JsonBody, Resource, nullable};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use domain::connection::{ConnectionSettings, MoodleLogin, NewUserAuth};
use domain::ports::{SecretError, Written};
use domain::{Connection, ConnectionId, ConnectionKind, TenantId};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

const NAME_MAX: usize = 200;
const URL_MAX: usize = 2048;
const EMAIL_MAX: usize = 254;
const SECRET_MAX: usize = 4096;

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

fn validate(c: &Connection) -> Result<(), ApiError> {
    json::text("connections.name", &c.name, NAME_MAX)?;
    if c.name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "connections.name",
            "the name must not be empty",
        ));
    }
    json::text("connections.base_url", &c.base_url, URL_MAX)?;
    match url::Url::parse(&c.base_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => {
            return Err(ApiError::bad_request(
                "connections.base_url",
                "base_url must be an http(s) URL",
            ));
        }
    }
    if let Some(email) = &c.error_email {
        json::text("connections.error_email", email, EMAIL_MAX)?;
        let valid = email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
        if !valid {
            return Err(ApiError::bad_request(
                "connections.error_email",
                "error_email must be an email address",
            ));
        }
    }
    validate_settings(&c.settings)
}

/// How long the API waits for a base URL's host name to resolve when a
/// connection is saved (a name that does not resolve in time passes: the
/// connectors check every address again when they connect).
const RESOLVE_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

/// The URLs a connection makes learnbridge call (its base URL; for OCSAT and
/// LLN Robot also the token endpoint) obey the deployment's egress rule: https,
/// and no internal address, literally or once resolved (422 naming the field).
async fn check_egress(c: &Connection, egress: domain::egress::Egress) -> Result<(), ApiError> {
    let mut urls = vec![("connections.base_url", c.base_url.as_str())];
    if let ConnectionSettings::Ocsat(s) | ConnectionSettings::LlnRobot(s) = &c.settings
        && !s.auth_url.trim().is_empty()
    {
        urls.push(("connections.settings.auth_url", s.auth_url.as_str()));
    }
    for (field, url) in urls {
        if let Err(refused) = connectors::egress::check_resolved(url, egress, RESOLVE_WITHIN).await
        {
            return Err(ApiError::unprocessable(
                field,
                format!("{field} cannot be used: {refused}"),
            ));
        }
    }
    Ok(())
}

fn validate_settings(settings: &ConnectionSettings) -> Result<(), ApiError> {
    let bad = |field: &str, message: &str| {
        Err(ApiError::unprocessable(
            &format!("connections.settings.{field}"),
            message.to_owned(),
        ))
    };
    match settings {
        ConnectionSettings::Moodle(m) => {
            if m.role_id < 1 {
                return bad(
                    "role_id",
                    "a Moodle role id is a positive number (5 is the student role)",
                );
            }
            if !(1..=1000).contains(&m.batch_size) {
                return bad("batch_size", "batch_size must be between 1 and 1000");
            }
            if !(1..=16).contains(&m.max_concurrency) {
                return bad(
                    "max_concurrency",
                    "max_concurrency must be between 1 and 16",
                );
            }
            if let MoodleLogin::Password { username, service } = &m.login {
                if username.trim().is_empty() {
                    return bad(
                        "login.username",
                        "name the Moodle user learnbridge signs in as",
                    );
                }
                if service.trim().is_empty() {
                    return bad(
                        "login.service",
                        "name the external service's short name (Site administration > Server > Web services > External services)",
                    );
                }
            }
            if let NewUserAuth::Plugin { auth } = &m.new_user_auth
                && auth.trim().is_empty()
            {
                return bad(
                    "new_user_auth.auth",
                    "name the Moodle authentication plugin",
                );
            }
        }
        ConnectionSettings::CourseKey(ck) => {
            if ck.update_every_minutes < 1 {
                return bad(
                    "update_every_minutes",
                    "update_every_minutes must be at least 1",
                );
            }
            // Bounded so that no setting reaches date arithmetic it could overflow.
            for (field, value, min, max) in [
                ("update_every_minutes", ck.update_every_minutes, 1, 1440),
                (
                    "weeks_before_start_to_enable",
                    ck.weeks_before_start_to_enable,
                    0,
                    104,
                ),
                (
                    "weeks_after_end_to_disable",
                    ck.weeks_after_end_to_disable,
                    0,
                    104,
                ),
                (
                    "absent_after_start_minutes",
                    ck.absent_after_start_minutes,
                    0,
                    1440,
                ),
                (
                    "absent_before_end_minutes",
                    ck.absent_before_end_minutes,
                    0,
                    1440,
                ),
                (
                    "follow_adjustments_days",
                    ck.follow_adjustments_days,
                    0,
                    365,
                ),
            ] {
                if let Err(range) = domain::limits::check_setting(value, min, max) {
                    return bad(field, &format!("{field} must be {range}"));
                }
            }
        }
        ConnectionSettings::Sms(sms) => {
            if let Err(range) = domain::limits::check_setting(sms.retry_days, 1, 365) {
                return bad("retry_days", &format!("retry_days must be {range}"));
            }
        }
        ConnectionSettings::Ocsat(lln) | ConnectionSettings::LlnRobot(lln) => {
            if lln
                .code
                .as_ref()
                .is_some_and(|c| c.trim().is_empty() || c.len() > 64)
            {
                return bad("code", "an LLN code is 1 to 64 characters (or left out)");
            }
        }
    }
    Ok(())
}

/// Settings of a kind from a JSON object (the kind tag is ours to add).
fn settings_of(
    kind: ConnectionKind,
    mut object: serde_json::Map<String, serde_json::Value>,
) -> Result<ConnectionSettings, ApiError> {
    let tag = serde_json::Value::from(kind.as_str());
    if let Some(sent) = object.get("kind")
        && *sent != tag
    {
        return Err(ApiError::unprocessable(
            "connections.settings.kind",
            "a connection's kind cannot change; create another connection",
        ));
    }
    object.insert("kind".to_owned(), tag);
    json::from_value(serde_json::Value::Object(object), "connections.settings")
}

fn check_secret(secret: &SecretString) -> Result<(), ApiError> {
    check_secret_value("connections.secret", secret)
}

fn check_secret_value(field: &str, secret: &SecretString) -> Result<(), ApiError> {
    let value = secret.expose_secret();
    if value.trim().is_empty() || value.len() > SECRET_MAX {
        return Err(ApiError::bad_request(
            field,
            format!("the secret must be 1 to {SECRET_MAX} characters"),
        ));
    }
    Ok(())
}

/// Further secrets must be ones the kind has, each 1 to SECRET_MAX characters.
fn check_named_secrets(
    kind: ConnectionKind,
    secrets: &BTreeMap<String, SecretString>,
) -> Result<(), ApiError> {
    let allowed = kind.secret_fields();
    for (name, value) in secrets {
        let field = format!("connections.secrets.{name}");
        if !allowed.contains(&name.as_str()) {
            let known = if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            };
            return Err(ApiError::bad_request(
                &field,
                format!(
                    "a {kind:?} connection has no secret named {name:?} (its further secrets: {known})"
                ),
            ));
        }
        check_secret_value(&field, value)?;
    }
    Ok(())
}

async fn put_named_secrets(
    deps: &Deps,
    connection: &Connection,
    secrets: &BTreeMap<String, SecretString>,
) -> Result<(), ApiError> {
    for (name, value) in secrets {
        deps.secret_sink
            .put_secret(
                &connection.field_secret_name(&deps.secret_prefix, name),
                value,
            )
            .await?;
        tracing::info!(connection = %connection.id, secret = %name, "connection secret stored");
    }
    Ok(())
}

/// What a created or replaced connection is checked for before anything is
/// stored: the LLN products' defaults filled in, its fields and settings, where
/// its URLs reach, and the secrets sent with it.
async fn checked(
    deps: &Deps,
    mut connection: Connection,
    secret: Option<&SecretString>,
    secrets: &BTreeMap<String, SecretString>,
) -> Result<Connection, ApiError> {
    crate::lln::prefill(&mut connection);
    validate(&connection)?;
    check_egress(&connection, deps.egress).await?;
    if let Some(secret) = secret {
        check_secret(secret)?;
    }
    check_named_secrets(connection.kind(), secrets)?;
    Ok(connection)
}

/// Stores the secrets sent with a created or replaced connection.
async fn store_secrets(
    deps: &Deps,
    connection: &Connection,
    secret: Option<&SecretString>,
    secrets: &BTreeMap<String, SecretString>,
) -> Result<(), ApiError> {
    if let Some(secret) = secret {
        deps.secret_sink
            .put_secret(&connection.secret_name(&deps.secret_prefix), secret)
            .await?;
    }
    put_named_secrets(deps, connection, secrets).await
}

async fn masked(deps: &Deps, name: &str) -> Result<Option<String>, ApiError> {
    match deps.secret_source.secret(name).await {
        Ok(secret) => Ok(Some(domain::mask::mask_secret(secret.expose_secret()))),
        Err(SecretError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn masked_secret(deps: &Deps, connection: &Connection) -> Result<Option<String>, ApiError> {
    masked(deps, &connection.secret_name(&deps.secret_prefix)).await
}

async fn out(deps: &Deps, connection: Connection) -> Result<ConnectionOut, ApiError> {
    let secret = masked_secret(deps, &connection).await?;
    let secrets = masked_named_secrets(deps, &connection).await?;
    Ok(ConnectionOut {
        connection: ConnectionView::from(connection),
        secret,
        secrets,
    })
}

async fn masked_named_secrets(
    deps: &Deps,
    connection: &Connection,
) -> Result<BTreeMap<String, Option<String>>, ApiError> {
    let mut secrets = BTreeMap::new();
    for name in connection.kind().secret_fields() {
        let value = masked(
            deps,
            &connection.field_secret_name(&deps.secret_prefix, name),
        )
        .await?;
        secrets.insert((*name).to_owned(), value);
    }
    Ok(secrets)
}

async fn load(deps: &Deps, tenant: &TenantId, id: String) -> Result<Connection, ApiError> {
    let id = ConnectionId::parse(id)?;
    deps.connections
        .connection(tenant, &id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("connection_id", format!("connection {id} does not exist"))
        })
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
    let connection = Connection {
        tenant: tenant.clone(),
        id,
        name: input.name,
        base_url: input.base_url,
        enabled: input.enabled,
        error_email: input.error_email,
        settings: settings_of(input.kind, input.settings)?,
    };
    let connection = checked(&deps, connection, input.secret.as_ref(), &input.secrets).await?;
    if deps
        .connections
        .connection(&tenant, &connection.id)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(
            Some("connections.id"),
            format!(
                "connection {} exists; change it with PATCH /v1/connections/{}",
                connection.id, connection.id
            ),
        ));
    }
    crate::lln::one_per_product(deps.connections.as_ref(), &connection).await?;
    // The record first, conditionally: of two creates racing (for one id, or
    // for a kind a tenant has one of), the loser gets a 409 before it writes
    // any secret (so it never overwrites the winner's).
    if deps.connections.create_connection(&connection).await? == Written::AlreadyDone {
        // Which one: another connection of the kind, else the id.
        crate::lln::one_per_product(deps.connections.as_ref(), &connection).await?;
        return Err(ApiError::conflict(
            Some("connections.id"),
            format!(
                "connection {} exists; change it with PATCH /v1/connections/{}",
                connection.id, connection.id
            ),
        ));
    }
    store_secrets(&deps, &connection, input.secret.as_ref(), &input.secrets).await?;
    tracing::info!(connection = %connection.id, kind = ?connection.kind(), "connection created");
    Ok((StatusCode::CREATED, Json(out(&deps, connection).await?)))
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
    match deps.connections.connection(&tenant, &id).await {
        Ok(Some(stored)) if stored.kind() != input.kind => {
            return Err(ApiError::unprocessable(
                "connections.kind",
                format!(
                    "connection {id} is a {} connection; a connection cannot change kind",
                    stored.kind().as_str()
                ),
            ));
        }
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(ApiError::not_found(
                "connection_id",
                format!("connection {id} does not exist; create it with POST /v1/connections"),
            ));
        }
        // Unreadable: this PUT writes it anew.
        Err(domain::ports::StoreError::Corrupt { .. }) => {
            tracing::warn!(connection = %id, "repairing a connection whose stored record could not be read");
        }
        Err(e) => return Err(e.into()),
    }
    let connection = Connection {
        tenant: tenant.clone(),
        id,
        name: input.name,
        base_url: input.base_url,
        enabled: input.enabled,
        error_email: input.error_email,
        settings: settings_of(input.kind, input.settings)?,
    };
    let connection = checked(&deps, connection, input.secret.as_ref(), &input.secrets).await?;
    crate::lln::one_per_product(deps.connections.as_ref(), &connection).await?;
    store_secrets(&deps, &connection, input.secret.as_ref(), &input.secrets).await?;
    deps.connections.save_connection(&connection).await?;
    tracing::info!(connection = %connection.id, "connection replaced");
    Ok(Json(out(&deps, connection).await?))
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
    let mut connection = load(&deps, &tenant, id).await?;
    if let Some(v) = patch.name {
        connection.name = v;
    }
    if let Some(v) = patch.base_url {
        connection.base_url = v;
    }
    if let Some(v) = patch.enabled {
        connection.enabled = v;
    }
    if let Some(v) = patch.error_email {
        connection.error_email = v;
    }
    if let Some(changes) = patch.settings {
        let current =
            serde_json::to_value(&connection.settings).map_err(|_| ApiError::internal())?;
        let mut merged = match current {
            serde_json::Value::Object(map) => map,
            _ => return Err(ApiError::internal()),
        };
        merged.remove("kind");
        for (key, value) in changes {
            if value.is_null() {
                merged.remove(&key);
            } else {
                merged.insert(key, value);
            }
        }
        connection.settings = settings_of(connection.kind(), merged)?;
    }
    crate::lln::prefill(&mut connection);
    validate(&connection)?;
    check_egress(&connection, deps.egress).await?;
    check_named_secrets(connection.kind(), &patch.secrets)?;
    if let Some(secret) = &patch.secret {
        check_secret(secret)?;
        deps.secret_sink
            .put_secret(&connection.secret_name(&deps.secret_prefix), secret)
            .await?;
    }
    put_named_secrets(&deps, &connection, &patch.secrets).await?;
    deps.connections.save_connection(&connection).await?;
    tracing::info!(connection = %connection.id, "connection updated");
    Ok(Json(out(&deps, connection).await?))
}

async fn set_enabled(
    deps: &Deps,
    tenant: &TenantId,
    id: String,
    enabled: bool,
) -> Result<Json<ConnectionOut>, ApiError> {
    let mut connection = load(deps, tenant, id).await?;
    if connection.enabled != enabled {
        connection.enabled = enabled;
        deps.connections.save_connection(&connection).await?;
        tracing::info!(connection = %connection.id, enabled, "connection switched");
    }
    Ok(Json(out(deps, connection).await?))
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
    let connection = load(&deps, &tenant, id).await?;
    Ok(Json(SecretView {
        secret: masked_secret(&deps, &connection).await?,
        secrets: masked_named_secrets(&deps, &connection).await?,
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
    let connection = load(&deps, &tenant, id).await?;
    check_secret(&input.secret)?;
    deps.secret_sink
        .put_secret(&connection.secret_name(&deps.secret_prefix), &input.secret)
        .await?;
    tracing::info!(connection = %connection.id, "connection secret stored");
    Ok(Json(SecretView {
        secret: Some(domain::mask::mask_secret(input.secret.expose_secret())),
        secrets: masked_named_secrets(&deps, &connection).await?,
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
    let connection = load(&deps, &tenant, id).await?;
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
