//! The tenant's own screens: its settings (time zone, run history days, the
//! run-error email; changed through [`app::settings::save`], the api's
//! `PUT /v1/settings` use case) and its API keys (listed with label, role,
//! created and revoked; an admin revokes one after confirming, as
//! `DELETE /v1/api-keys/{id}` does: the key is refused from then on).

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::session::SignedIn;
use crate::views::{Chrome, FieldError, local_time, render};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use domain::tenant::{MAX_HISTORY_DAYS, RunErrorTemplate, TenantSettings};
use serde::Deserialize;

/// The routes of these screens, merged into the console's Router.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/settings", get(settings).post(save_settings))
        .route("/console/api-keys", get(api_keys))
        .route(
            "/console/api-keys/{id}/revoke",
            get(confirm_revoke).post(revoke),
        )
}

use crate::pages::chrome;

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub chrome: Chrome,
    pub time_zone: String,
    pub run_history_days: String,
    pub max_history_days: u32,
    pub subject: String,
    pub body: String,
    pub error: Option<FieldError>,
    pub saved: bool,
}

impl SettingsPage {
    pub fn error_of(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn settings(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Query(query): Query<SavedQuery>,
) -> Result<Response, ConsoleError> {
    let stored = state.api.deps.tenants.tenant_settings(&who.tenant).await?;
    Ok(render(&SettingsPage {
        chrome: chrome(&who, "Settings"),
        time_zone: stored.time_zone,
        run_history_days: stored
            .run_history_days
            .map(|d| d.to_string())
            .unwrap_or_default(),
        max_history_days: MAX_HISTORY_DAYS,
        subject: stored.run_error_email.subject,
        body: stored.run_error_email.body,
        error: None,
        saved: query.saved.is_some(),
    })?
    .into_response())
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    run_history_days: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
}

/// Stores the settings through the use case; a refused one is named on the form.
pub async fn save_settings(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Form(form): Form<SettingsForm>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let again = |error: FieldError| SettingsPage {
        chrome: chrome(&who, "Settings"),
        time_zone: form.time_zone.clone(),
        run_history_days: form.run_history_days.clone(),
        max_history_days: MAX_HISTORY_DAYS,
        subject: form.subject.clone(),
        body: form.body.clone(),
        error: Some(error),
        saved: false,
    };
    let days = form.run_history_days.trim();
    let run_history_days = if days.is_empty() {
        None
    } else {
        match days.parse::<u32>() {
            Ok(d) => Some(d),
            Err(_) => {
                let page = again(FieldError {
                    field: "run_history_days",
                    message: format!(
                        "{days:?} is not a number of days: write 1 to {MAX_HISTORY_DAYS}, or leave it empty for the deployment's default"
                    ),
                });
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
            }
        }
    };
    let settings = TenantSettings {
        time_zone: form.time_zone.clone(),
        run_history_days,
        run_error_email: RunErrorTemplate {
            subject: form.subject.clone(),
            body: form.body.replace("\r\n", "\n"),
        },
    };
    match app::settings::save(state.api.deps.tenants.as_ref(), &who.tenant, settings).await {
        Ok(_) => Ok(Redirect::to("/console/settings?saved=1").into_response()),
        Err(app::settings::SaveSettingsError::Invalid(e)) => {
            let field = match e.field {
                "run_error_email.subject" => "subject",
                "run_error_email.body" => "body",
                other => other,
            };
            let page = again(FieldError {
                field,
                message: e.message,
            });
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(app::settings::SaveSettingsError::Store(e)) => Err(e.into()),
    }
}

/// One key in the list.
pub struct KeyRow {
    pub id: String,
    pub label: String,
    pub role: String,
    pub created: String,
    pub revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
pub struct ApiKeysPage {
    pub chrome: Chrome,
    pub keys: Vec<KeyRow>,
    pub zone: String,
    pub revoked: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct RevokedQuery {
    revoked: Option<String>,
}

async fn key_rows(
    state: &ConsoleState,
    who: &SignedIn,
) -> Result<(Vec<KeyRow>, String), ConsoleError> {
    let deps = &state.api.deps;
    let zone = deps.tenants.tenant_settings(&who.tenant).await?.zone();
    let keys = deps.api_keys.list_keys(&who.tenant).await?;
    Ok((
        keys.into_iter()
            .map(|k| KeyRow {
                id: k.id,
                label: k.label,
                role: k.role.to_string(),
                created: local_time(zone, k.created_at),
                revoked: k.revoked.then(|| {
                    k.revoked_at
                        .map_or_else(|| "yes".to_owned(), |t| local_time(zone, t))
                }),
            })
            .collect(),
        zone.name().to_owned(),
    ))
}

pub async fn api_keys(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Query(query): Query<RevokedQuery>,
) -> Result<Response, ConsoleError> {
    let (keys, zone) = key_rows(&state, &who).await?;
    Ok(render(&ApiKeysPage {
        chrome: chrome(&who, "API keys"),
        keys,
        zone,
        revoked: query.revoked,
    })?
    .into_response())
}

#[derive(Template)]
#[template(path = "api_key_revoke.html")]
pub struct RevokePage {
    pub chrome: Chrome,
    pub key: KeyRow,
}

async fn one_key(state: &ConsoleState, who: &SignedIn, id: &str) -> Result<KeyRow, ConsoleError> {
    let (keys, _) = key_rows(state, who).await?;
    keys.into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| ConsoleError::NotFound(format!("This tenant has no API key {id:?}.")))
}

/// Asks before a key is revoked (a revoked key cannot be used again).
pub async fn confirm_revoke(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    if !who.role.may_change() {
        return Err(ConsoleError::Forbidden(
            "you are signed in with a viewer key: it reads only; sign in with an admin key to revoke a key".to_owned(),
        ));
    }
    let key = one_key(&state, &who, &id).await?;
    Ok(render(&RevokePage {
        chrome: chrome(&who, "API keys"),
        key,
    })?
    .into_response())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Revokes the key (refused from the next request on; revoking the key of this
/// very session ends it).
pub async fn revoke(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let deps = &state.api.deps;
    if deps
        .api_keys
        .revoke_key(&who.tenant, &id, (deps.now)())
        .await?
    {
        tracing::info!(tenant = %who.tenant, key = %id, "API key revoked in the console");
        Ok(Redirect::to(&format!("/console/api-keys?revoked={id}")).into_response())
    } else {
        Err(ConsoleError::NotFound(format!(
            "This tenant has no API key {id:?}."
        )))
    }
}
