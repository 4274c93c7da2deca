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

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        // Logged once, here, with its chain; the caller sees no internals.
        tracing::error!(error = &error as &dyn std::error::Error, "store error");
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
