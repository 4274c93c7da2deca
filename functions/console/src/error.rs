//! What a page answers when it cannot show what was asked: a redirect to sign-in,
//! a 403 page, a 404 page, or a "try again" page. Never a secret, never a stack.

use crate::views::{ErrorPage, render};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use domain::ports::{SecretError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: go and sign in.
    #[error("sign in first")]
    SignIn,
    /// Refused: the message says why (a viewer's change, a missing CSRF token).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the store could not be read")]
    Store(#[from] StoreError),
    #[error("a secret could not be read")]
    Secret(#[from] SecretError),
    #[error("the page could not be drawn")]
    Render(#[from] askama::Error),
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            ConsoleError::SignIn => return Redirect::to("/console/sign-in").into_response(),
            ConsoleError::Forbidden(why) => (StatusCode::FORBIDDEN, "Not allowed", why.clone()),
            ConsoleError::NotFound(what) => (StatusCode::NOT_FOUND, "Not found", what.clone()),
            ConsoleError::Store(StoreError::Unavailable(_)) | ConsoleError::Secret(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Busy",
                "The store is busy or did not answer in time; try again shortly.".to_owned(),
            ),
            ConsoleError::Store(_) | ConsoleError::Render(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The page could not be shown; try again, and tell your administrator if it keeps happening.".to_owned(),
            ),
        };
        if status.is_server_error() {
            tracing::error!(
                error = &self as &dyn std::error::Error,
                "console page failed"
            );
        }
        let page = ErrorPage {
            title,
            message: &message,
        };
        match render(&page) {
            Ok(html) => (status, html).into_response(),
            Err(_) => (status, message).into_response(),
        }
    }
}
