//! Creating and editing a connection per kind (issue 19, item 3): the kind's
//! settings as labelled form fields, its secrets as password inputs that are
//! never echoed back (shown only masked, as the use case masks them, and left
//! unchanged when the field is left empty), and switching it on and off. Every
//! change goes through app's [`Setup`] with the api's own URL check
//! ([`api::connections::Resolved`]); every [`SetupError`] is shown under the
//! field it names.

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::session::SignedIn;
use crate::views::{Chrome, render};
use app::connections::{ConnectionChanges, ConnectionFields, MaskedConnection, Setup, SetupError};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use domain::connection::{LlnProduct, LlnSettings};
use domain::{ConnectionId, ConnectionKind, TenantId};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

mod form;
mod specs;
use form::*;
use specs::*;

/// The routes of this screen, merged into the console's Router.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/connections/new", get(new_form).post(create))
        .route("/console/connections/{id}/edit", get(edit_form).post(edit))
        .route("/console/connections/{id}/enable", post(enable))
        .route("/console/connections/{id}/disable", post(disable))
}

/// Every kind a connection can be, in the order the form offers them.
pub const KINDS: &[(ConnectionKind, &str)] = &[
    (ConnectionKind::Moodle, "Moodle"),
    (ConnectionKind::Ocsat, "OCSAT"),
    (ConnectionKind::LlnRobot, "LLN Robot"),
    (ConnectionKind::CourseKey, "CourseKey"),
    (ConnectionKind::Sms, "SMS (where results are delivered)"),
];

#[derive(Template)]
#[template(path = "connection_form.html")]
pub struct ConnectionFormPage {
    pub chrome: Chrome,
    /// `None`: a new connection.
    pub editing: Option<String>,
    pub enabled: bool,
    pub kind: &'static str,
    pub kind_label: &'static str,
    /// `(kind, label)` for a new connection's kind picker.
    pub kinds: Vec<(&'static str, &'static str)>,
    pub id: String,
    pub name: String,
    pub base_url: String,
    pub base_url_help: String,
    pub error_email: String,
    pub new_enabled: bool,
    pub top_errors: Vec<FieldError>,
    pub fields: Vec<FormField>,
    pub secrets: Vec<SecretField>,
    pub errors: Vec<FieldError>,
    /// Just saved: the page says so.
    pub saved: bool,
}

impl ConnectionFormPage {
    pub fn error_of(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

fn chrome(who: &SignedIn) -> Chrome {
    crate::pages::chrome(who, "Connections")
}

#[allow(clippy::too_many_arguments)]
fn page(
    who: &SignedIn,
    kind: ConnectionKind,
    editing: Option<&str>,
    enabled: bool,
    values: &Values,
    masked: Option<&MaskedConnection>,
    errors: Vec<FieldError>,
) -> ConnectionFormPage {
    let base_url_help = match LlnProduct::from_kind(kind) {
        Some(p) => format!(
            "The {p} API; prefilled with the product's ({}), can be changed.",
            p.default_api_url()
        ),
        None => "Where the system is reached, e.g. https://moodle.example.edu.au.".to_owned(),
    };
    ConnectionFormPage {
        chrome: chrome(who),
        editing: editing.map(str::to_owned),
        enabled,
        kind: kind.as_str(),
        kind_label: kind_label(kind),
        kinds: KINDS.iter().map(|(k, l)| (k.as_str(), *l)).collect(),
        id: values.one("id").to_owned(),
        name: values.one("name").to_owned(),
        base_url: values.one("base_url").to_owned(),
        base_url_help,
        error_email: values.one("error_email").to_owned(),
        new_enabled: values.has("enabled", "on"),
        top_errors: errors
            .iter()
            .filter(|e| e.field == "form")
            .cloned()
            .collect(),
        fields: setting_fields(kind, values, &errors),
        secrets: secret_fields(kind, masked, &errors),
        errors,
        saved: false,
    }
}

fn urls(state: &ConsoleState) -> api::connections::Resolved {
    api::connections::Resolved(state.api.deps.egress)
}

fn setup<'a>(state: &'a ConsoleState, urls: &'a api::connections::Resolved) -> Setup<'a> {
    api::connections::with_setup(&state.api.deps, urls)
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    kind: Option<String>,
}

/// `/console/connections/new?kind=ocsat`: the form of a kind, with its
/// defaults (OCSAT and LLN Robot: the product's URLs prefilled).
pub async fn new_form(
    who: SignedIn,
    Query(query): Query<NewQuery>,
) -> Result<Response, ConsoleError> {
    if !who.role.may_change() {
        return Err(ConsoleError::Forbidden(
            "you are signed in with a viewer key: it reads only; sign in with an admin key to create a connection".to_owned(),
        ));
    }
    let kind = query
        .kind
        .as_deref()
        .and_then(kind_of)
        .unwrap_or(ConnectionKind::Moodle);
    let settings = app::connections::setup::settings_of(kind, Map::new())
        .map_err(|_| ConsoleError::NotFound("No such kind.".to_owned()))?;
    let mut values = Values::of_settings(&settings);
    if let Some(product) = LlnProduct::from_kind(kind) {
        values.set("base_url".into(), product.default_api_url().to_owned());
        if let Some(lln) = LlnSettings::defaults_for(kind) {
            values.set("settings.auth_url".into(), lln.auth_url);
        }
    }
    values.set("enabled".into(), "on".into());
    let p = page(&who, kind, None, true, &values, None, Vec::new());
    Ok(render(&p)?.into_response())
}

fn secrets_from(
    kind: ConnectionKind,
    values: &Values,
) -> (Option<SecretString>, BTreeMap<String, SecretString>) {
    let given = |name: &str| {
        let raw = values.one(name);
        (!raw.is_empty()).then(|| SecretString::from(raw.to_owned()))
    };
    let secrets = kind
        .secret_fields()
        .iter()
        .filter_map(|n| given(&format!("secrets.{n}")).map(|s| ((*n).to_owned(), s)))
        .collect();
    (given("secret"), secrets)
}

fn optional(raw: &str) -> Option<String> {
    let raw = raw.trim();
    (!raw.is_empty()).then(|| raw.to_owned())
}

fn refused(p: &ConnectionFormPage) -> Result<Response, ConsoleError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(p)?).into_response())
}

/// Creates a connection from the form; on success shows it, else the form
/// again with every error under its field (secrets are never sent back).
pub async fn create(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let values = Values::from_pairs(pairs);
    who.check_change(&method, &headers, values.one("csrf"))?;
    let Some(kind) = kind_of(values.one("kind")) else {
        let p = page(
            &who,
            ConnectionKind::Moodle,
            None,
            true,
            &values,
            None,
            vec![FieldError {
                field: "kind".to_owned(),
                message: "choose a kind".to_owned(),
            }],
        );
        return refused(&p);
    };
    let page_with = |errors| page(&who, kind, None, true, &values, None, errors);
    let id = match ConnectionId::parse(values.one("id").trim()) {
        Ok(id) => id,
        Err(e) => {
            return refused(&page_with(vec![FieldError {
                field: "id".to_owned(),
                message: e.to_string(),
            }]));
        }
    };
    let settings = match settings_from(kind, &values) {
        Ok(s) => s,
        Err(errors) => return refused(&page_with(errors)),
    };
    let (secret, secrets) = secrets_from(kind, &values);
    let fields = ConnectionFields {
        kind,
        name: values.one("name").trim().to_owned(),
        base_url: values.one("base_url").trim().to_owned(),
        enabled: values.has("enabled", "on"),
        error_email: optional(values.one("error_email")),
        settings,
        secret,
        secrets,
    };
    let urls = urls(&state);
    match setup(&state, &urls).create(&who.tenant, id, fields).await {
        Ok(made) => Ok(Redirect::to(&format!(
            "/console/connections/{}/edit?saved=1",
            made.connection.id
        ))
        .into_response()),
        Err(e) => refused(&page_with(vec![field_error(e)?])),
    }
}

fn connection_id(id: &str) -> Result<ConnectionId, ConsoleError> {
    ConnectionId::parse(id)
        .map_err(|_| ConsoleError::NotFound(format!("This tenant has no connection {id:?}.")))
}

async fn masked(
    state: &ConsoleState,
    tenant: &TenantId,
    id: &ConnectionId,
) -> Result<MaskedConnection, ConsoleError> {
    let urls = urls(state);
    setup(state, &urls)
        .connection(tenant, id)
        .await
        .map_err(|e| match field_error(e) {
            Ok(f) => ConsoleError::NotFound(f.message),
            Err(e) => e,
        })
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

/// A connection's settings, secrets masked; an admin changes them here.
pub async fn edit_form(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<SavedQuery>,
) -> Result<Response, ConsoleError> {
    let id = connection_id(&id)?;
    let current = masked(&state, &who.tenant, &id).await?;
    let values = Values::of_connection(&current.connection);
    let mut p = page(
        &who,
        current.connection.kind(),
        Some(id.as_str()),
        current.connection.enabled,
        &values,
        Some(&current),
        Vec::new(),
    );
    p.saved = query.saved.is_some();
    Ok(render(&p)?.into_response())
}

/// Changes a connection's fields (settings merged; a secret left empty stays).
pub async fn edit(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let values = Values::from_pairs(pairs);
    who.check_change(&method, &headers, values.one("csrf"))?;
    let id = connection_id(&id)?;
    let current = masked(&state, &who.tenant, &id).await?;
    let kind = current.connection.kind();
    let enabled = current.connection.enabled;
    let page_with = |errors| {
        page(
            &who,
            kind,
            Some(id.as_str()),
            enabled,
            &values,
            Some(&current),
            errors,
        )
    };
    let settings = match settings_from(kind, &values) {
        Ok(s) => s,
        Err(errors) => return refused(&page_with(errors)),
    };
    let (secret, secrets) = secrets_from(kind, &values);
    let changes = ConnectionChanges {
        name: Some(values.one("name").trim().to_owned()),
        base_url: Some(values.one("base_url").trim().to_owned()),
        enabled: None,
        error_email: Some(optional(values.one("error_email"))),
        settings: Some(settings),
        secret,
        secrets,
    };
    let urls = urls(&state);
    match setup(&state, &urls).change(&who.tenant, &id, changes).await {
        Ok(_) => {
            Ok(Redirect::to(&format!("/console/connections/{id}/edit?saved=1")).into_response())
        }
        Err(e) => refused(&page_with(vec![field_error(e)?])),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn switch(
    state: &ConsoleState,
    who: &SignedIn,
    method: &Method,
    headers: &HeaderMap,
    id: &str,
    csrf: &str,
    enabled: bool,
) -> Result<Response, ConsoleError> {
    who.check_change(method, headers, csrf)?;
    let id = connection_id(id)?;
    let urls = urls(state);
    setup(state, &urls)
        .set_enabled(&who.tenant, &id, enabled)
        .await
        .map_err(|e| match field_error(e) {
            Ok(f) => ConsoleError::NotFound(f.message),
            Err(e) => e,
        })?;
    Ok(Redirect::to(&format!("/console/connections/{id}")).into_response())
}

pub async fn enable(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    switch(&state, &who, &method, &headers, &id, &form.csrf, true).await
}

pub async fn disable(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    switch(&state, &who, &method, &headers, &id, &form.csrf, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Values {
        Values::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_kinds_defaults_go_round_the_form_unchanged() {
        for (kind, _) in KINDS {
            let defaults = app::connections::setup::settings_of(*kind, Map::new()).unwrap();
            let sent = settings_from(*kind, &Values::of_settings(&defaults)).unwrap();
            assert_eq!(
                app::connections::setup::settings_of(*kind, sent).unwrap(),
                defaults,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn moodle_login_fields_apply_only_to_their_method_and_numbers_name_their_field() {
        let token = settings_from(
            ConnectionKind::Moodle,
            &values(&[
                ("settings.login.method", "token"),
                ("settings.login.username", "ignored"),
                ("settings.role_id", "5"),
                ("settings.batch_size", "100"),
                ("settings.max_concurrency", "4"),
            ]),
        )
        .unwrap();
        assert_eq!(token["login"], serde_json::json!({"method": "token"}));
        let bad = settings_from(
            ConnectionKind::Moodle,
            &values(&[("settings.role_id", "five")]),
        )
        .unwrap_err();
        assert_eq!(bad[0].field, "settings.role_id");
    }

    #[test]
    fn setup_errors_name_the_forms_field() {
        let e = field_error(SetupError::Unusable {
            field: "connections.settings.login.username".into(),
            message: "name the user".into(),
        })
        .unwrap();
        assert_eq!(e.field, "settings.login.username");
        let e = field_error(SetupError::Invalid {
            field: "connections.secrets.password".into(),
            message: "x".into(),
        })
        .unwrap();
        assert_eq!(e.field, "secrets.password");
    }
}
