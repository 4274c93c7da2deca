//! A CourseKey simulator, per the contract in docs/connectors/coursekey.md:
//!
//! - the roster API learnbridge pushes to (`PUT /api/v1/courses/{id}`,
//!   `/instructors/{id}`, `/students/{code}`, `/courses/{id}/students/{code}`,
//!   `/courses/{id}/classes/{code}`, and `DELETE` of a class), bearer-authenticated, every call recorded
//!   and the latest body per resource kept; a student's `initial_password` is
//!   used only when the user is created ([`CourseKeySim::initial_password`]),
//!   never kept in a call or a resource;
//! - the sending end of the attendance webhook: [`CourseKeySim::post_attendance`]
//!   signs a batch of records (`x-learnbridge-timestamp`, `x-learnbridge-signature:
//!   v1=<hex HMAC-SHA256 of "{timestamp}.{body}">`) and POSTs it to a URL.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use simulators::coursekey::CourseKeySim;
//! let sim = CourseKeySim::new("ck_api_key", "whsec_ck");
//! let server = sim.start().await?;
//! // point the connection's base_url at server.base_url, push the roster ...
//! let records = vec![serde_json::json!({"id": "att-1"})];
//! let (status, _body) = sim
//!     .post_attendance("http://127.0.0.1:3000/webhooks/coursekey/acme/ck", &records, chrono::Utc::now())
//!     .await?;
//! assert_eq!(status, 202);
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, put};
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};

use crate::server::{self, RunningServer};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// One roster call as received.
#[derive(Debug, Clone, PartialEq)]
pub struct RosterCall {
    pub method: String,
    pub path: String,
    pub body: serde_json::Value,
}

#[derive(Default)]
struct Inner {
    calls: Vec<RosterCall>,
    /// Latest body per resource path.
    resources: BTreeMap<String, serde_json::Value>,
    /// Answer every roster call with this status (None: 200).
    fail_with: Option<u16>,
    /// The password each student user was created with (first PUT only).
    created_with_password: BTreeMap<String, Option<String>>,
}

/// The simulator's state, shared by its router and the test.
#[derive(Clone)]
pub struct CourseKeySim {
    api_key: String,
    webhook_secret: String,
    inner: Arc<Mutex<Inner>>,
}

/// Why the simulator could not post attendance.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("the records could not be encoded")]
    Encode(#[source] serde_json::Error),
    #[error("the webhook could not be reached")]
    Http(#[source] reqwest::Error),
}

impl CourseKeySim {
    pub fn new(api_key: impl Into<String>, webhook_secret: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            webhook_secret: webhook_secret.into(),
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every roster call so far, in order.
    pub fn calls(&self) -> Vec<RosterCall> {
        self.lock().calls.clone()
    }

    /// The latest body PUT at `path` (e.g. `/api/v1/courses/OFF-1`).
    pub fn resource(&self, path: &str) -> Option<serde_json::Value> {
        self.lock().resources.get(path).cloned()
    }

    /// The initial password the CourseKey user `code` was created with (None:
    /// created without one, or not created).
    pub fn initial_password(&self, code: &str) -> Option<String> {
        self.lock()
            .created_with_password
            .get(code)
            .cloned()
            .flatten()
    }

    /// Answer every roster call with `status` from now on (None: 200 again).
    pub fn fail_with(&self, status: Option<u16>) {
        self.lock().fail_with = status;
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/v1/courses/{id}", put(roster))
            .route("/api/v1/instructors/{id}", put(roster))
            .route("/api/v1/students/{id}", put(roster))
            .route("/api/v1/courses/{id}/students/{code}", put(roster))
            .route(
                "/api/v1/courses/{id}/classes/{code}",
                put(roster).merge(delete(remove)),
            )
            .with_state(self.clone())
    }

    pub async fn start(&self) -> std::io::Result<RunningServer> {
        server::serve(self.router()).await
    }

    /// The signature header value for `body` signed at `timestamp` for `route`
    /// (`"{tenant}/{connection}"`, the last two segments of the webhook URL), as
    /// docs/connectors/coursekey.md says: HMAC-SHA256 of `"{timestamp}.{route}.{body}"`.
    pub fn sign(&self, timestamp: i64, route: &str, body: &[u8]) -> String {
        let mut mac = match HmacSha256::new_from_slice(self.webhook_secret.as_bytes()) {
            Ok(mac) => mac,
            Err(_) => <HmacSha256 as KeyInit>::new(&Default::default()),
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(route.as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// The route a webhook URL names: its last two path segments, `{tenant}/{connection}`.
    pub fn route_of(url: &str) -> String {
        let path = url.split('?').next().unwrap_or(url).trim_end_matches('/');
        let mut segments = path.rsplit('/');
        let connection = segments.next().unwrap_or_default();
        let tenant = segments.next().unwrap_or_default();
        format!("{tenant}/{connection}")
    }

    /// Signs `{"records": [...]}` at `now` and POSTs it to `url`; the status and body of the answer.
    pub async fn post_attendance(
        &self,
        url: &str,
        records: &[serde_json::Value],
        now: DateTime<Utc>,
    ) -> Result<(u16, String), PostError> {
        let body = serde_json::to_vec(&serde_json::json!({ "records": records }))
            .map_err(PostError::Encode)?;
        self.post_raw(url, body, now.timestamp()).await
    }

    /// POSTs `body` exactly as given, signed at `timestamp` (replays, tampering).
    pub async fn post_raw(
        &self,
        url: &str,
        body: Vec<u8>,
        timestamp: i64,
    ) -> Result<(u16, String), PostError> {
        let signature = self.sign(timestamp, &Self::route_of(url), &body);
        let answer = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header("x-learnbridge-timestamp", timestamp.to_string())
            .header("x-learnbridge-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(PostError::Http)?;
        let status = answer.status().as_u16();
        let text = answer.text().await.map_err(PostError::Http)?;
        Ok((status, text))
    }
}

/// `DELETE` of a class: 204, or 404 when there is no such class.
async fn remove(
    State(sim): State<CourseKeySim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let expected = format!("Bearer {}", sim.api_key);
    if headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v != expected)
    {
        return (StatusCode::UNAUTHORIZED, "invalid api key").into_response();
    }
    let mut inner = sim.lock();
    let path = uri.path().to_owned();
    inner.calls.push(RosterCall {
        method: method.to_string(),
        path: path.clone(),
        body: serde_json::Value::Null,
    });
    if let Some(status) = inner.fail_with {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "refused by the simulator").into_response();
    }
    match inner.resources.remove(&path) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => (StatusCode::NOT_FOUND, "no such class").into_response(),
    }
}

async fn roster(
    State(sim): State<CourseKeySim>,
    Path(_ids): Path<BTreeMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let expected = format!("Bearer {}", sim.api_key);
    if headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v != expected)
    {
        return (StatusCode::UNAUTHORIZED, "invalid api key").into_response();
    }
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not JSON").into_response();
    };
    let mut inner = sim.lock();
    let path = uri.path().to_owned();
    // A password is write-only: CourseKey uses it to create the user, never shows it.
    let password = body
        .as_object_mut()
        .and_then(|b| b.remove("initial_password"))
        .and_then(|p| p.as_str().map(str::to_owned));
    inner.calls.push(RosterCall {
        method: method.to_string(),
        path: path.clone(),
        body: body.clone(),
    });
    if let Some(status) = inner.fail_with {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "refused by the simulator").into_response();
    }
    if let Some(code) = path.strip_prefix("/api/v1/students/") {
        inner
            .created_with_password
            .entry(code.to_owned())
            .or_insert(password);
    }
    inner.resources.insert(path, body);
    (StatusCode::OK, axum::Json(serde_json::json!({"ok": true}))).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn roster_calls_are_recorded_and_need_the_api_key() {
        let sim = CourseKeySim::new("key", "secret");
        let server = sim.start().await.unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/courses/OFF-1", server.base_url);
        let denied = client
            .put(&url)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status().as_u16(), 401);
        let ok = client
            .put(&url)
            .bearer_auth("key")
            .json(&serde_json::json!({"title": "Welding"}))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        assert_eq!(sim.calls().len(), 1);
        assert_eq!(
            sim.resource("/api/v1/courses/OFF-1").unwrap()["title"],
            "Welding"
        );
    }

    #[tokio::test]
    async fn a_students_initial_password_is_kept_from_its_creation_and_never_shown() {
        let sim = CourseKeySim::new("key", "secret");
        let server = sim.start().await.unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/students/L1", server.base_url);
        for password in ["first", "second"] {
            let ok = client
                .put(&url)
                .bearer_auth("key")
                .json(&serde_json::json!({"first_name": "A", "initial_password": password}))
                .send()
                .await
                .unwrap();
            assert_eq!(ok.status().as_u16(), 200);
        }
        assert_eq!(sim.initial_password("L1").as_deref(), Some("first"));
        assert_eq!(
            sim.resource("/api/v1/students/L1").unwrap(),
            serde_json::json!({"first_name": "A"})
        );
        assert_eq!(sim.initial_password("L2"), None);
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        let sim = CourseKeySim::new("key", "secret");
        let a = sim.sign(1_700_000_000, "acme/ck", b"{}");
        assert!(a.starts_with("v1="));
        assert_eq!(a.len(), 3 + 64);
        assert_ne!(a, sim.sign(1_700_000_001, "acme/ck", b"{}"));
    }
}
