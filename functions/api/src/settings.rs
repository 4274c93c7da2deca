//! The tenant's own settings: its time zone, how long its run history is kept, and the email
//! a connection's error address gets when a run finishes with errors.

use crate::error::{ApiError, ErrorBody};
use crate::json::{JsonBody, Resource};
use crate::{AppState, Deps};
use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use domain::TenantId;
use domain::tenant::TenantSettings;

/// The settings routes under `/v1`, added to `router` (see [`crate::router::app`]).
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    router.route("/v1/settings", get(get_settings).put(put_settings))
}

impl Resource for TenantSettings {
    const NAME: &'static str = "settings";
}

/// The tenant's settings (the defaults until it sets any).
#[utoipa::path(
    get,
    path = "/v1/settings",
    tag = "settings",
    responses((status = 200, description = "The settings", body = Object)),
    security(("api_key" = []))
)]
pub async fn get_settings(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
) -> Result<Json<TenantSettings>, ApiError> {
    Ok(Json(deps.tenants.tenant_settings(&tenant).await?))
}

/// Replace the tenant's settings. Left out, a setting takes its default:
/// `time_zone` (an IANA name such as `Australia/Sydney`; `UTC`: every date is a
/// day in it; an unknown name is refused by name), `run_history_days` (1 to 3650; `null`: the deployment's `RunHistoryDays`) and
/// `run_error_email` (`subject`, `body`, with the placeholders `{connection}`,
/// `{connection_name}`, `{run}`, `{status}`, `{errors}`, `{warnings}`,
/// `{started_at}`, `{finished_at}`, `{run_path}`). The retention applies to
/// runs that start afterwards.
#[utoipa::path(
    put,
    path = "/v1/settings",
    tag = "settings",
    request_body = Object,
    responses(
        (status = 200, description = "Stored", body = Object),
        (status = 400, description = "An unknown or malformed field", body = ErrorBody),
        (status = 422, description = "A setting out of range, an unknown placeholder or time zone", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn put_settings(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    JsonBody(settings): JsonBody<TenantSettings>,
) -> Result<Json<TenantSettings>, ApiError> {
    match app::settings::save(deps.tenants.as_ref(), &tenant, settings).await {
        Ok(stored) => Ok(Json(stored)),
        Err(app::settings::SaveSettingsError::Invalid(e)) => Err(ApiError::unprocessable(
            &format!("settings.{}", e.field),
            e.message,
        )),
        Err(app::settings::SaveSettingsError::Store(e)) => Err(e.into()),
    }
}
