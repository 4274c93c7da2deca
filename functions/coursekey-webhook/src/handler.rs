//! `POST /webhooks/coursekey/{tenant}/{connection}`.

use crate::Deps;
use app::attendance::accept::{AcceptError, Inbox, Unsigned};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use connectors::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use domain::{ConnectionId, TenantId};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// Largest body accepted (CourseKey sends records in small batches).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
pub use app::attendance::accept::{MAX_RECORD_ID_LEN, MAX_RECORDS};

pub fn app(deps: Deps) -> Router {
    Router::new()
        .route("/webhooks/coursekey/{tenant}/{connection}", post(receive))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", None, "no such route") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                None,
                "this route takes POST only",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(deps)
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    error: &'static str,
    field: Option<String>,
    message: String,
}

fn error(
    status: StatusCode,
    error: &'static str,
    field: Option<&str>,
    message: impl Into<String>,
) -> Response {
    (
        status,
        Json(ErrorBody {
            error,
            field: field.map(str::to_owned),
            message: message.into(),
        }),
    )
        .into_response()
}

fn unauthorized(field: &str, message: impl Into<String>) -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        Some(field),
        message,
    )
}

fn unavailable(e: &(dyn std::error::Error + Send + Sync + 'static)) -> Response {
    tracing::error!(error = e, "could not accept attendance");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        None,
        "try again shortly",
    )
}

/// The answer: how many records were new and how many were duplicates.
#[derive(Debug, Serialize, PartialEq)]
pub struct Accepted {
    pub accepted: usize,
    pub duplicates: usize,
}

impl From<app::attendance::accept::Accepted> for Accepted {
    fn from(a: app::attendance::accept::Accepted) -> Self {
        Accepted {
            accepted: a.accepted,
            duplicates: a.duplicates,
        }
    }
}

#[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection))]
async fn receive(
    State(deps): State<Deps>,
    Path((tenant, connection)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                Some("body"),
                format!("the body is over {MAX_BODY_BYTES} bytes; send fewer records per request"),
            );
        }
        Err(rejection) => {
            return error(
                rejection.status(),
                "invalid",
                Some("body"),
                "the body could not be read",
            );
        }
    };
    let inbox = Inbox {
        connections: deps.connections.as_ref(),
        secrets: deps.secrets.as_ref(),
        secret_prefix: &deps.secret_prefix,
        inbox: deps.inbox.as_ref(),
        queue: deps.queue.as_ref(),
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // The signature covers the route: a request signed for another tenant's or
    // connection's URL is refused even if both were given one secret.
    let now = (deps.now)();
    let verify = |secret: &SecretString, tenant: &TenantId, connection: &ConnectionId| {
        let route = signature::webhook_route(tenant.as_str(), connection.as_str());
        signature::verify_route(
            secret.expose_secret().as_bytes(),
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            &route,
            &body,
            now,
            signature::DEFAULT_TOLERANCE_SECS,
        )
        .map_err(|e| Unsigned {
            field: e.field().to_owned(),
            message: e.to_string(),
        })
    };
    match inbox
        .accept(&tenant, &connection, SIGNATURE_HEADER, verify, &body, now)
        .await
    {
        Ok(accepted) => (StatusCode::ACCEPTED, Json(Accepted::from(accepted))).into_response(),
        Err(AcceptError::Unsigned(u)) => unauthorized(&u.field, u.message),
        Err(AcceptError::Invalid { field, message }) => {
            error(StatusCode::BAD_REQUEST, "invalid", Some(&field), message)
        }
        Err(e @ AcceptError::TooMany { .. }) => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            Some("records"),
            e.to_string(),
        ),
        Err(AcceptError::Unavailable(e)) => unavailable(e.as_ref()),
    }
}
