//! Configuring a connection: create, replace (also how an unreadable stored
//! record is repaired), change some fields (settings merged key by key),
//! switch on and off, and its write-only secrets. Each is checked before
//! anything is stored: the LLN products' defaults filled in, its fields and
//! settings, where its URLs reach, the secrets sent with it, and one
//! connection per LLN product and one CourseKey connection per tenant.

use async_trait::async_trait;
use domain::connection::{ConnectionSettings, LlnProduct, MoodleLogin, NewUserAuth};
use domain::ports::{ConnectionStore, SecretError, SecretSink, SecretSource, StoreError, Written};
use domain::{Connection, ConnectionId, ConnectionKind, TenantId};
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;

const NAME_MAX: usize = 200;
const URL_MAX: usize = 2048;
const EMAIL_MAX: usize = 254;
/// The longest secret (a token, a password) a connection takes.
pub const SECRET_MAX: usize = 4096;

/// Where a connection's URLs may point (the deployment's egress rule: https,
/// no internal address, literally or once resolved): an adapter over the
/// connectors' check, which resolves host names.
#[async_trait]
pub trait UrlCheck: Send + Sync {
    /// `Err` says why the URL cannot be used (no secret in it).
    async fn check(&self, url: &str) -> Result<(), String>;
}

/// The ports configuring connections uses.
pub struct Setup<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub secret_sink: &'a dyn SecretSink,
    pub secret_source: &'a dyn SecretSource,
    /// Connection secrets live under it.
    pub secret_prefix: &'a str,
    pub urls: &'a dyn UrlCheck,
}

/// A connection's every field but its tenant and id, as a person sends it.
#[derive(Debug)]
pub struct ConnectionFields {
    pub kind: ConnectionKind,
    pub name: String,
    /// Empty: the LLN product's default (other kinds must send one).
    pub base_url: String,
    pub enabled: bool,
    pub error_email: Option<String>,
    /// The kind's settings; the ones left out take their defaults.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// The token or client secret (left out: none, or on replace the stored one stays).
    pub secret: Option<SecretString>,
    /// The kind's further secrets by name ([`ConnectionKind::secret_fields`]).
    pub secrets: BTreeMap<String, SecretString>,
}

/// Some of a connection's fields: only those given change.
#[derive(Debug, Default)]
pub struct ConnectionChanges {
    pub name: Option<String>,
    pub base_url: Option<String>,
    pub enabled: Option<bool>,
    /// `Some(None)` clears it.
    pub error_email: Option<Option<String>>,
    /// Merged into the current settings key by key; `null` puts a setting back
    /// to its default.
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
    pub secret: Option<SecretString>,
    pub secrets: BTreeMap<String, SecretString>,
}

/// A connection and its secrets, masked (`****abcd`; `None`: not set).
#[derive(Debug)]
pub struct MaskedConnection {
    pub connection: Connection,
    pub secret: Option<String>,
    /// Each further secret of the kind.
    pub secrets: BTreeMap<String, Option<String>>,
}

/// Why a connection was not saved. `field` names what a person sends
/// (`connections.base_url`, `connections.settings.role_id`, ...).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A field is malformed (too long, empty, not a URL or an email address).
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// A field is well-formed but cannot be used: a setting out of range, a
    /// URL the egress rule refuses, a change of kind.
    #[error("{message}")]
    Unusable { field: String, message: String },
    /// The settings do not decode for the kind (the path names the setting).
    #[error("the settings do not decode: {0}")]
    Settings(serde_path_to_error::Error<serde_json::Error>),
    #[error("connection {id} exists; change it with PATCH /v1/connections/{id}")]
    Exists { id: ConnectionId },
    /// A second connection of a kind a tenant has one of.
    #[error("{}", one_per_tenant_message(*kind, other))]
    OnePerTenant {
        kind: ConnectionKind,
        other: ConnectionId,
    },
    #[error("connection {id} does not exist")]
    NotFound { id: ConnectionId },
    /// Replacing a connection with one of another kind.
    #[error(
        "connection {id} is a {} connection; a connection cannot change kind",
        stored.as_str()
    )]
    KindChange {
        id: ConnectionId,
        stored: ConnectionKind,
    },
    /// The stored settings could not be written out to be merged.
    #[error("the stored settings could not be merged")]
    Encode(#[source] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

fn one_per_tenant_message(kind: ConnectionKind, other: &ConnectionId) -> String {
    match LlnProduct::from_kind(kind) {
        Some(product) => format!(
            "the tenant already has a {product} connection ({other}); only one connection per LLN product is allowed"
        ),
        None => format!(
            "the tenant already has a CourseKey connection ({other}); a tenant has one CourseKey connection"
        ),
    }
}

fn invalid(field: &str, message: impl Into<String>) -> SetupError {
    SetupError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn unusable(field: &str, message: impl Into<String>) -> SetupError {
    SetupError::Unusable {
        field: field.to_owned(),
        message: message.into(),
    }
}

impl Setup<'_> {
    /// Creates a connection and stores its secrets. The record is written
    /// first, conditionally: of two creates racing (for one id, or for a kind
    /// a tenant has one of), the loser is refused before it writes any secret
    /// (so it never overwrites the winner's).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %id))]
    pub async fn create(
        &self,
        tenant: &TenantId,
        id: ConnectionId,
        input: ConnectionFields,
    ) -> Result<MaskedConnection, SetupError> {
        let (connection, secret, secrets) = self.checked(tenant, id, input).await?;
        if self
            .connections
            .connection(tenant, &connection.id)
            .await?
            .is_some()
        {
            return Err(SetupError::Exists { id: connection.id });
        }
        one_per_product(self.connections, &connection).await?;
        if self.connections.create_connection(&connection).await? == Written::AlreadyDone {
            // Which one: another connection of the kind, else the id.
            one_per_product(self.connections, &connection).await?;
            return Err(SetupError::Exists { id: connection.id });
        }
        self.store_secrets(&connection, secret.as_ref(), &secrets)
            .await?;
        tracing::info!(kind = ?connection.kind(), "connection created");
        self.masked(connection).await
    }

    /// Replaces a connection's fields (its secrets stay unless sent). A stored
    /// record that cannot be read is written anew: this is how it is repaired.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %id))]
    pub async fn replace(
        &self,
        tenant: &TenantId,
        id: ConnectionId,
        input: ConnectionFields,
    ) -> Result<MaskedConnection, SetupError> {
        let repair = match self.connections.connection(tenant, &id).await {
            Ok(Some(stored)) if stored.kind() != input.kind => {
                return Err(SetupError::KindChange {
                    id,
                    stored: stored.kind(),
                });
            }
            Ok(Some(_)) => false,
            Ok(None) => return Err(SetupError::NotFound { id }),
            Err(StoreError::Corrupt { .. }) => {
                tracing::warn!("repairing a connection whose stored record could not be read");
                true
            }
            Err(e) => return Err(e.into()),
        };
        let (connection, secret, secrets) = self.checked(tenant, id, input).await?;
        one_per_product(self.connections, &connection).await?;
        if repair {
            // Its kind was unknown: the one-per-tenant hold follows the kind
            // it is written as, before any secret is.
            if self.connections.repair_connection(&connection).await? == Written::AlreadyDone {
                one_per_product(self.connections, &connection).await?;
                return Err(SetupError::Unusable {
                    field: "kind".to_owned(),
                    message: format!(
                        "another of the tenant's connections holds the {} kind (its record may be unreadable too: repair that one first)",
                        connection.kind().as_str()
                    ),
                });
            }
        }
        self.store_secrets(&connection, secret.as_ref(), &secrets)
            .await?;
        self.connections.save_connection(&connection).await?;
        tracing::info!("connection replaced");
        self.masked(connection).await
    }

    /// Changes some of a connection's fields; its settings are merged.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %id))]
    pub async fn change(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        changes: ConnectionChanges,
    ) -> Result<MaskedConnection, SetupError> {
        let mut connection = self.load(tenant, id).await?;
        if let Some(v) = changes.name {
            connection.name = v;
        }
        if let Some(v) = changes.base_url {
            connection.base_url = v;
        }
        if let Some(v) = changes.enabled {
            connection.enabled = v;
        }
        if let Some(v) = changes.error_email {
            connection.error_email = v;
        }
        if let Some(changes) = changes.settings {
            connection.settings = merged_settings(&connection.settings, changes)?;
        }
        prefill(&mut connection);
        validate(&connection)?;
        self.check_urls(&connection).await?;
        check_named_secrets(connection.kind(), &changes.secrets)?;
        if let Some(secret) = &changes.secret {
            check_secret(secret)?;
            self.secret_sink
                .put_secret(&connection.secret_name(self.secret_prefix), secret)
                .await?;
        }
        self.put_named_secrets(&connection, &changes.secrets)
            .await?;
        self.connections.save_connection(&connection).await?;
        tracing::info!("connection updated");
        self.masked(connection).await
    }

    /// Switches a connection on or off (off: the nightly run skips it; it can
    /// still be run by hand).
    pub async fn set_enabled(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        enabled: bool,
    ) -> Result<MaskedConnection, SetupError> {
        let mut connection = self.load(tenant, id).await?;
        if connection.enabled != enabled {
            connection.enabled = enabled;
            self.connections.save_connection(&connection).await?;
            tracing::info!(connection = %connection.id, enabled, "connection switched");
        }
        self.masked(connection).await
    }

    /// Sets (or rotates) a connection's secret; answers its secrets masked.
    pub async fn set_secret(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        secret: &SecretString,
    ) -> Result<MaskedConnection, SetupError> {
        let connection = self.load(tenant, id).await?;
        check_secret(secret)?;
        self.secret_sink
            .put_secret(&connection.secret_name(self.secret_prefix), secret)
            .await?;
        tracing::info!(connection = %connection.id, "connection secret stored");
        Ok(MaskedConnection {
            secret: Some(domain::mask::mask_secret(secret.expose_secret())),
            secrets: self.masked_named_secrets(&connection).await?,
            connection,
        })
    }

    /// A connection with its secrets masked (404 when it does not exist).
    pub async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<MaskedConnection, SetupError> {
        let connection = self.load(tenant, id).await?;
        self.masked(connection).await
    }

    /// The stored connection, or [`SetupError::NotFound`].
    pub async fn load(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Connection, SetupError> {
        self.connections
            .connection(tenant, id)
            .await?
            .ok_or_else(|| SetupError::NotFound { id: id.clone() })
    }

    /// What a created or replaced connection is checked for before anything
    /// is stored; answers it with the secrets sent with it.
    async fn checked(
        &self,
        tenant: &TenantId,
        id: ConnectionId,
        input: ConnectionFields,
    ) -> Result<
        (
            Connection,
            Option<SecretString>,
            BTreeMap<String, SecretString>,
        ),
        SetupError,
    > {
        let mut connection = Connection {
            tenant: tenant.clone(),
            id,
            name: input.name,
            base_url: input.base_url,
            enabled: input.enabled,
            error_email: input.error_email,
            settings: settings_of(input.kind, input.settings)?,
        };
        prefill(&mut connection);
        validate(&connection)?;
        self.check_urls(&connection).await?;
        if let Some(secret) = &input.secret {
            check_secret(secret)?;
        }
        check_named_secrets(connection.kind(), &input.secrets)?;
        Ok((connection, input.secret, input.secrets))
    }

    /// The URLs a connection makes learnbridge call (its base URL; for OCSAT
    /// and LLN Robot also the token endpoint) obey the egress rule.
    async fn check_urls(&self, c: &Connection) -> Result<(), SetupError> {
        let mut urls = vec![("connections.base_url", c.base_url.as_str())];
        if let ConnectionSettings::Ocsat(s) | ConnectionSettings::LlnRobot(s) = &c.settings
            && !s.auth_url.trim().is_empty()
        {
            urls.push(("connections.settings.auth_url", s.auth_url.as_str()));
        }
        for (field, url) in urls {
            if let Err(refused) = self.urls.check(url).await {
                return Err(unusable(
                    field,
                    format!("{field} cannot be used: {refused}"),
                ));
            }
        }
        Ok(())
    }

    async fn store_secrets(
        &self,
        connection: &Connection,
        secret: Option<&SecretString>,
        secrets: &BTreeMap<String, SecretString>,
    ) -> Result<(), SetupError> {
        if let Some(secret) = secret {
            self.secret_sink
                .put_secret(&connection.secret_name(self.secret_prefix), secret)
                .await?;
        }
        self.put_named_secrets(connection, secrets).await
    }

    async fn put_named_secrets(
        &self,
        connection: &Connection,
        secrets: &BTreeMap<String, SecretString>,
    ) -> Result<(), SetupError> {
        for (name, value) in secrets {
            self.secret_sink
                .put_secret(
                    &connection.field_secret_name(self.secret_prefix, name),
                    value,
                )
                .await?;
            tracing::info!(connection = %connection.id, secret = %name, "connection secret stored");
        }
        Ok(())
    }

    async fn masked_value(&self, name: &str) -> Result<Option<String>, SecretError> {
        match self.secret_source.secret(name).await {
            Ok(secret) => Ok(Some(domain::mask::mask_secret(secret.expose_secret()))),
            Err(SecretError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn masked_named_secrets(
        &self,
        connection: &Connection,
    ) -> Result<BTreeMap<String, Option<String>>, SecretError> {
        let mut secrets = BTreeMap::new();
        for name in connection.kind().secret_fields() {
            let value = self
                .masked_value(&connection.field_secret_name(self.secret_prefix, name))
                .await?;
            secrets.insert((*name).to_owned(), value);
        }
        Ok(secrets)
    }

    /// The connection with its secrets masked.
    pub async fn masked(&self, connection: Connection) -> Result<MaskedConnection, SetupError> {
        let secret = self
            .masked_value(&connection.secret_name(self.secret_prefix))
            .await?;
        let secrets = self.masked_named_secrets(&connection).await?;
        Ok(MaskedConnection {
            connection,
            secret,
            secrets,
        })
    }
}

/// An LLN connection's API URL and token endpoint, prefilled with the
/// product's defaults when left empty (both can be changed).
pub fn prefill(connection: &mut Connection) {
    let Some(product) = LlnProduct::from_kind(connection.kind()) else {
        return;
    };
    if connection.base_url.trim().is_empty() {
        connection.base_url = product.default_api_url().to_owned();
    }
    if let ConnectionSettings::Ocsat(s) | ConnectionSettings::LlnRobot(s) = &mut connection.settings
        && s.auth_url.trim().is_empty()
    {
        s.auth_url = product.default_auth_url().to_owned();
    }
}

/// One connection per LLN product, and one CourseKey connection, per tenant.
pub async fn one_per_product(
    connections: &dyn ConnectionStore,
    connection: &Connection,
) -> Result<(), SetupError> {
    if !connection.kind().one_per_tenant() {
        return Ok(());
    }
    let existing = connections
        .connections(&connection.tenant)
        .await?
        .into_iter()
        .find(|c| c.kind() == connection.kind() && c.id != connection.id);
    match existing {
        Some(other) => Err(SetupError::OnePerTenant {
            kind: connection.kind(),
            other: other.id,
        }),
        None => Ok(()),
    }
}

/// Settings of a kind from a JSON object (the kind tag is ours to add).
pub fn settings_of(
    kind: ConnectionKind,
    mut object: serde_json::Map<String, serde_json::Value>,
) -> Result<ConnectionSettings, SetupError> {
    let tag = serde_json::Value::from(kind.as_str());
    if let Some(sent) = object.get("kind")
        && *sent != tag
    {
        return Err(unusable(
            "connections.settings.kind",
            "a connection's kind cannot change; create another connection",
        ));
    }
    object.insert("kind".to_owned(), tag);
    serde_path_to_error::deserialize(serde_json::Value::Object(object))
        .map_err(SetupError::Settings)
}

/// The current settings with `changes` merged in key by key (`null`: back to
/// the default).
fn merged_settings(
    current: &ConnectionSettings,
    changes: serde_json::Map<String, serde_json::Value>,
) -> Result<ConnectionSettings, SetupError> {
    let kind = current.kind();
    let mut merged = match serde_json::to_value(current).map_err(SetupError::Encode)? {
        serde_json::Value::Object(map) => map,
        other => {
            return Err(SetupError::Encode(serde::de::Error::custom(format!(
                "settings are not an object: {other}"
            ))));
        }
    };
    merged.remove("kind");
    for (key, value) in changes {
        if value.is_null() {
            merged.remove(&key);
        } else {
            merged.insert(key, value);
        }
    }
    settings_of(kind, merged)
}

/// A text field: at most `max` characters and no control characters.
fn text(field: &str, value: &str, max: usize) -> Result<(), SetupError> {
    if value.chars().count() > max {
        return Err(invalid(
            field,
            format!("at most {max} characters are allowed"),
        ));
    }
    if let Some(c) = value.chars().find(|c| domain::ids::is_control_or_bidi(*c)) {
        return Err(invalid(
            field,
            format!(
                "control and bidirectional formatting characters are not allowed (found U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

fn validate(c: &Connection) -> Result<(), SetupError> {
    text("connections.name", &c.name, NAME_MAX)?;
    if c.name.trim().is_empty() {
        return Err(invalid("connections.name", "the name must not be empty"));
    }
    text("connections.base_url", &c.base_url, URL_MAX)?;
    match url::Url::parse(&c.base_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => {
            return Err(invalid(
                "connections.base_url",
                "base_url must be an http(s) URL",
            ));
        }
    }
    if let Some(email) = &c.error_email {
        text("connections.error_email", email, EMAIL_MAX)?;
        let valid = email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
        if !valid {
            return Err(invalid(
                "connections.error_email",
                "error_email must be an email address",
            ));
        }
    }
    validate_settings(&c.settings)
}

fn validate_settings(settings: &ConnectionSettings) -> Result<(), SetupError> {
    let bad = |field: &str, message: &str| {
        Err(unusable(
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

fn check_secret(secret: &SecretString) -> Result<(), SetupError> {
    check_secret_value("connections.secret", secret)
}

fn check_secret_value(field: &str, secret: &SecretString) -> Result<(), SetupError> {
    let value = secret.expose_secret();
    if value.trim().is_empty() || value.len() > SECRET_MAX {
        return Err(invalid(
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
) -> Result<(), SetupError> {
    let allowed = kind.secret_fields();
    for (name, value) in secrets {
        let field = format!("connections.secrets.{name}");
        if !allowed.contains(&name.as_str()) {
            let known = if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            };
            return Err(invalid(
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

#[cfg(test)]
mod tests;
