//! `POST /webhooks/coursekey/{tenant}/{connection}`.

use crate::Deps;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use connectors::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use domain::ports::{Retryable, Written};
use domain::{ConnectionId, ConnectionKind, Job, TenantId};
use secrecy::ExposeSecret;
use serde::Serialize;

/// Largest body accepted (CourseKey sends records in small batches).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most records in one request.
pub const MAX_RECORDS: usize = 500;
/// Longest record id accepted.
pub const MAX_RECORD_ID_LEN: usize = 128;

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

fn unavailable(e: &(dyn std::error::Error + 'static)) -> Response {
    tracing::error!(error = e, "could not accept attendance");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        None,
        "try again shortly",
    )
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Accepted {
    pub accepted: usize,
    pub duplicates: usize,
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
    // An unknown tenant or connection gets the same answer as a bad signature,
    // so the endpoint reveals nothing about which ones exist.
    let (Ok(tenant), Ok(connection)) = (TenantId::parse(tenant), ConnectionId::parse(connection))
    else {
        return unauthorized(SIGNATURE_HEADER, "the signature does not match the body");
    };
    let conn = match deps.connections.connection(&tenant, &connection).await {
        Ok(Some(c)) if c.kind() == ConnectionKind::CourseKey => c,
        Ok(_) => return unauthorized(SIGNATURE_HEADER, "the signature does not match the body"),
        Err(e) => return unavailable(&e),
    };
    let secret = match deps
        .secrets
        .secret(&conn.secret_name(&deps.secret_prefix))
        .await
    {
        Ok(secret) => secret,
        Err(e) if e.is_retryable() => return unavailable(&e),
        Err(e) => {
            tracing::error!(
                error = &e as &dyn std::error::Error,
                "the connection's signing secret is missing"
            );
            return unauthorized(SIGNATURE_HEADER, "the signature does not match the body");
        }
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // The signature covers the route: a request signed for another tenant's or
    // connection's URL is refused here even if both were given one secret.
    let route = signature::webhook_route(tenant.as_str(), connection.as_str());
    if let Err(e) = signature::verify_route(
        secret.expose_secret().as_bytes(),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &route,
        &body,
        (deps.now)(),
        signature::DEFAULT_TOLERANCE_SECS,
    ) {
        tracing::warn!(reason = %e, "refused an unsigned or badly signed request");
        return unauthorized(e.field(), e.to_string());
    }

    let records = match parse_records(&body) {
        Ok(records) => records,
        Err(response) => return response,
    };
    let now = (deps.now)();
    let mut fresh = Vec::new();
    for (id, raw) in &records {
        match deps
            .inbox
            .store_record(&tenant, &connection, id, raw, now)
            .await
        {
            Ok(Written::Done) => fresh.push(id.clone()),
            Ok(Written::AlreadyDone) => {}
            Err(e) => return unavailable(&e),
        }
    }
    let duplicates = records.len() - fresh.len();
    if !fresh.is_empty() {
        let job = Job::ProcessAttendance {
            tenant: tenant.clone(),
            connection: connection.clone(),
            record_ids: fresh.clone(),
        };
        match deps.queue.enqueue(std::slice::from_ref(&job)).await {
            Ok(failures) if failures.is_empty() => {}
            Ok(mut failures) => return unavailable(&failures.remove(0).error),
            Err(e) => return unavailable(&e),
        }
    }
    tracing::info!(
        accepted = fresh.len(),
        duplicates,
        "attendance records stored"
    );
    (
        StatusCode::ACCEPTED,
        Json(Accepted {
            accepted: fresh.len(),
            duplicates,
        }),
    )
        .into_response()
}

/// Checks the envelope `{"records": [{"id": "...", ...}, ...]}` and returns each
/// record's id with its raw JSON. The record's own fields are checked when it is
/// processed, so one odd record never loses the others.
#[allow(clippy::result_large_err)]
fn parse_records(body: &[u8]) -> Result<Vec<(String, String)>, Response> {
    let bad = |field: &str, message: String| {
        error(StatusCode::BAD_REQUEST, "invalid", Some(field), message)
    };
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| bad("body", format!("the body is not valid JSON: {e}")))?;
    let records = value
        .get("records")
        .and_then(|r| r.as_array())
        .ok_or_else(|| {
            bad(
                "records",
                "the body must be an object with a \"records\" array".to_owned(),
            )
        })?;
    if records.len() > MAX_RECORDS {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            Some("records"),
            format!(
                "{} records sent; at most {MAX_RECORDS} are accepted per request",
                records.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(records.len());
    let mut seen = std::collections::HashSet::new();
    for (i, record) in records.iter().enumerate() {
        let field = format!("records[{i}].id");
        let id = record
            .get("id")
            .and_then(|id| id.as_str())
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| bad(&field, format!("{field} must be a non-empty string")))?;
        if id.len() > MAX_RECORD_ID_LEN {
            return Err(bad(
                &field,
                format!("{field} is longer than {MAX_RECORD_ID_LEN} characters"),
            ));
        }
        if seen.insert(id.to_owned()) {
            out.push((id.to_owned(), record.to_string()));
        }
    }
    Ok(out)
}
