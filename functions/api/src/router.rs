//! The Router: every route assembled in one place, the API key middleware and the
//! fallbacks. Every `/v1` route is scoped to the tenant of the API key.

use crate::error::ApiError;
use crate::handler;
use crate::{AppState, Deps};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use secrecy::ExposeSecret;

/// The API as an axum Router, every route over one [`AppState`]: served by
/// `lambda_http::run` in Lambda and by `axum::serve` in the local runner; tests call
/// it with `oneshot`. The only place the shipped Router is assembled.
///
/// Built on every cold start, so each route is inserted once, with its full path:
/// each module adds its `/v1` routes to the one Router (`routes(router)`) rather than
/// returning its own Router to `merge`, and nothing is `nest`ed (both insert every
/// route again and wrap it in another layer). The API key check is a `route_layer`
/// over the `/v1` routes only, added before `/health` and `/openapi.json`.
pub fn app(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/connections", get(handler::list_connections))
        .route("/v1/connections/{connection}", get(handler::get_connection))
        .route(
            "/v1/connections/{connection}/runs/{run}",
            get(handler::get_run),
        );
    let v1 = crate::openapi::routes(v1);
    let v1 = crate::deliveries::routes(v1);
    let v1 = crate::settings::routes(v1);
    let v1 = crate::api_keys::routes(v1);
    let v1 = crate::results::routes(v1);
    let v1 = crate::mappings::routes(v1);
    let v1 = crate::coursekey::routes(v1);
    let v1 = crate::lln::routes(v1);
    v1.route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .route("/health", get(handler::health))
        .route("/openapi.json", get(crate::openapi::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(crate::json::MAX_BODY_BYTES))
        .layer(middleware::map_response(crate::error::json_errors))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", None, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
        "this route does not take that method",
    )
}

/// Whether a request only reads (what a viewer key may do).
pub fn is_read(method: &axum::http::Method) -> bool {
    method == axum::http::Method::GET || method == axum::http::Method::HEAD
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
    let pepper = deps.pepper.get().await?;
    let hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), key);
    let (tenant, role) = match deps.api_keys.key_state(&hash).await? {
        domain::ports::KeyState::Active(tenant, role) => (tenant, role),
        domain::ports::KeyState::Revoked => {
            return Err(ApiError::forbidden(
                Some("authorization"),
                "this API key was revoked; ask an admin for a new one",
            ));
        }
        domain::ports::KeyState::Unknown => return Err(ApiError::unauthorized()),
    };
    tracing::Span::current().record("tenant", tracing::field::display(&tenant));
    if !role.may_change() && !is_read(request.method()) {
        return Err(ApiError::forbidden(
            Some("role"),
            "this API key is a viewer key: it reads only; ask an admin for an admin key to change anything",
        ));
    }
    request.extensions_mut().insert(tenant);
    request.extensions_mut().insert(role);
    Ok(next.run(request).await)
}
