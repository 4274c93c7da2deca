//! Every API error is JSON `{error, field, message}` with the fitting status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::ports::StoreError;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code.
    pub error: &'static str,
    /// The request field the error is about, when there is one.
    pub field: Option<String>,
    /// What a person should know or do.
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        error: &'static str,
        field: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody {
                error,
                field: field.map(str::to_owned),
                message: message.into(),
            },
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            Some("authorization"),
            "send a valid API key as 'Authorization: Bearer <key>'",
        )
    }

    pub fn not_found(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", Some(field), message)
    }

    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", Some(field), message)
    }
}

/// A refused SMS record: malformed is 400, well-formed but wrong is 422.
impl From<domain::sis::check::RecordError> for ApiError {
    fn from(e: domain::sis::check::RecordError) -> Self {
        use domain::sis::check::RecordError;
        match e {
            RecordError::Invalid { field, message } => ApiError::bad_request(&field, message),
            RecordError::Unusable { field, message } => ApiError::unprocessable(&field, message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        // Logged once, here, with its chain; the caller sees no internals.
        tracing::error!(error = &error as &dyn std::error::Error, "store error");
        if let StoreError::Corrupt { what, source } = &error {
            return Self::unreadable(what, source.as_ref());
        }
        if error.is_retryable() {
            Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                None,
                "the service is busy; try again shortly",
            )
        } else {
            Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                None,
                "the request could not be completed",
            )
        }
    }
}

/// Longest part of a decoding error kept in an `unreadable` answer.
const UNREADABLE_REASON_CHARS: usize = 300;

impl ApiError {
    /// 409 `unreadable`: a stored record this request needs does not decode
    /// (written by hand, or by an older version). `field` names the record
    /// (`connection`, `settings`) and `message` what is wrong with it (the
    /// attribute's path and the decoding error, no internals) and how to
    /// repair it; a list shows its readable records and marks the others.
    pub fn unreadable(what: &str, source: &(dyn std::error::Error + 'static)) -> Self {
        // The innermost cause says what is wrong (`settings.role_id: invalid type ...`).
        let mut cause = source;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let reason: String = cause
            .to_string()
            .chars()
            .filter(|c| !domain::ids::is_control_or_bidi(*c))
            .take(UNREADABLE_REASON_CHARS)
            .collect();
        let (field, message) = if let Some(id) = what.strip_prefix("connection ") {
            (Some("connection"), unreadable_connection(id, &reason))
        } else if let Some(id) = what.strip_prefix("offering ") {
            (
                Some("offering"),
                format!(
                    "the stored offering {id} cannot be read ({reason}); send it again with PUT /v1/offerings/{id}"
                ),
            )
        } else if what == cloud::dynamo::TENANT_SETTINGS {
            (
                Some("settings"),
                format!(
                    "the tenant's stored settings cannot be read ({reason}); save them again with PUT /v1/settings"
                ),
            )
        } else {
            (
                None,
                format!(
                    "a stored record this needs cannot be read ({reason}); it was written in a form this version does not read"
                ),
            )
        };
        Self::new(StatusCode::CONFLICT, "unreadable", field, message)
    }
}

/// What a person reads about a connection whose stored record cannot be
/// read: why (`reason`, the attribute's path and the decoding error) and how
/// to repair it.
pub fn unreadable_connection(id: &str, reason: &str) -> String {
    format!(
        "the stored connection {id} cannot be read ({reason}); replace it with PUT /v1/connections/{id}"
    )
}

impl From<domain::IdError> for ApiError {
    fn from(error: domain::IdError) -> Self {
        Self::bad_request(error.field(), error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Longest part of a framework's plain-text refusal kept in the JSON error.
const REFUSAL_EXCERPT_CHARS: usize = 200;

/// Every error answer is JSON: a refusal made before a handler ran (axum's own
/// extractor rejections, the body limit) is plain text; this turns it into
/// `{error, field: null, message}` with the same status and headers.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024)
        .await
        .unwrap_or_default();
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| !domain::ids::is_control_or_bidi(*c))
        .take(REFUSAL_EXCERPT_CHARS)
        .collect();
    let error = match status.as_u16() {
        400 => "invalid",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "invalid",
    };
    let message = if text.trim().is_empty() {
        status.canonical_reason().unwrap_or("refused").to_owned()
    } else {
        text
    };
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let json = ApiError::new(status, error, None, message).into_response();
    let (json_parts, json_body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}
