//! An OCSAT (and LLN Robot) simulator, per the contract in docs/connectors/ocsat.md:
//!
//! - `POST /oauth2/token`: OAuth2 client credentials (form body), tokens that expire;
//! - `/api/v1/...`: candidates (create, get, update, find by username / email;
//!   usernames unique, emails may be shared) and
//!   assessments modified after a date, in pages with an opaque cursor; every call
//!   needs a live bearer token and the API key;
//! - what tests need: candidates and assessments made "in OCSAT's own screens",
//!   edits made there, injected faults (429 with `Retry-After`, 500, ...), revoked
//!   tokens, and a count of every call.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use simulators::ocsat::OcsatSim;
//! let sim = OcsatSim::new("client-id", "client-secret", "api-key");
//! let server = sim.start().await?;
//! let api_url = format!("{}/api/v1", server.base_url);   // the connection's base_url
//! let auth_url = format!("{}/oauth2/token", server.base_url);
//! # let _ = (api_url, auth_url);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::server::{self, RunningServer};

mod assessments;
mod candidates;

use assessments::assessments;
use candidates::{create_candidate, find_candidates, get_candidate, update_candidate};

/// The largest page the API serves.
pub const MAX_PAGE_SIZE: usize = 100;
/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// A candidate as OCSAT holds it (the wire shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimCandidate {
    pub id: String,
    pub username: String,
    pub email: String,
    pub family_name: String,
    pub given_name: Option<String>,
    pub other_name: Option<String>,
    /// Absent for candidates made in OCSAT's own screens.
    pub external_id: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One skill's result (the wire shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimSkillResult {
    pub skill: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acsf_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<String>,
}

/// A completed assessment (the wire shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimAssessment {
    pub id: String,
    pub candidate_id: String,
    pub name: String,
    pub skills: Vec<String>,
    pub completed_at: DateTime<Utc>,
    pub sitting_ids: Vec<String>,
    pub results: Vec<SimSkillResult>,
    pub modified_at: DateTime<Utc>,
}

impl SimAssessment {
    /// A typical completed assessment of Reading and Numeracy for `candidate_id`.
    pub fn core_skills(
        id: impl Into<String>,
        candidate_id: impl Into<String>,
        completed_at: DateTime<Utc>,
    ) -> Self {
        let id = id.into();
        Self {
            sitting_ids: vec![format!("{id}-s1"), format!("{id}-s2")],
            id,
            candidate_id: candidate_id.into(),
            name: "Core Skills Profile for Adults".into(),
            skills: vec!["Reading".into(), "Numeracy".into()],
            completed_at,
            results: vec![
                SimSkillResult {
                    skill: "Reading".into(),
                    acsf_level: Some("3".into()),
                    score: Some(71.5),
                    band: Some("Exit 3".into()),
                },
                SimSkillResult {
                    skill: "Numeracy".into(),
                    acsf_level: Some("2".into()),
                    score: Some(55.0),
                    band: None,
                },
            ],
            modified_at: completed_at,
        }
    }
}

/// One call as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCall {
    pub method: String,
    /// The path, e.g. `/api/v1/candidates/c-000001` or `/oauth2/token`.
    pub path: String,
    pub query: Option<String>,
    /// The status the simulator answered.
    pub status: u16,
}

struct Token {
    expires_at: DateTime<Utc>,
}

struct Inner {
    calls: Vec<SimCall>,
    tokens: HashMap<String, Token>,
    token_lifetime_secs: i64,
    issued: u64,
    candidates: BTreeMap<String, SimCandidate>,
    next_candidate: u64,
    assessments: Vec<SimAssessment>,
    /// Answer every call with this status (None: normal answers).
    fail_with: Option<u16>,
    /// Answer the next calls with these statuses, one each, before normal answers.
    fail_next: VecDeque<u16>,
    organisation: String,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            calls: Vec::new(),
            tokens: HashMap::new(),
            token_lifetime_secs: 3600,
            issued: 0,
            candidates: BTreeMap::new(),
            next_candidate: 0,
            assessments: Vec::new(),
            fail_with: None,
            fail_next: VecDeque::new(),
            organisation: "Simulated RTO".into(),
        }
    }
}

/// The simulator's state, shared by its router and the test.
#[derive(Clone)]
pub struct OcsatSim {
    client_id: String,
    client_secret: String,
    api_key: String,
    inner: Arc<Mutex<Inner>>,
}

impl OcsatSim {
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        api_key: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            api_key: api_key.into(),
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/oauth2/token", post(token))
            .route("/api/v1/organisation", get(organisation))
            .route(
                "/api/v1/candidates",
                get(find_candidates).post(create_candidate),
            )
            .route(
                "/api/v1/candidates/{id}",
                get(get_candidate).put(update_candidate),
            )
            .route("/api/v1/assessments", get(assessments))
            .with_state(self.clone())
    }

    pub async fn start(&self) -> std::io::Result<RunningServer> {
        server::serve(self.router()).await
    }

    /// Every call so far, in order (token requests included).
    pub fn calls(&self) -> Vec<SimCall> {
        self.lock().calls.clone()
    }

    /// How many calls reached `path` (e.g. `/oauth2/token`).
    pub fn calls_to(&self, path: &str) -> usize {
        self.lock().calls.iter().filter(|c| c.path == path).count()
    }

    /// How many tokens were issued.
    pub fn tokens_issued(&self) -> u64 {
        self.lock().issued
    }

    /// New tokens live this many seconds (`expires_in`).
    pub fn set_token_lifetime(&self, secs: i64) {
        self.lock().token_lifetime_secs = secs;
    }

    /// Every token issued so far stops working (as if it expired early or was revoked).
    pub fn revoke_tokens(&self) {
        self.lock().tokens.clear();
    }

    /// Answer every call (token requests included) with `status` from now on (None: normal).
    pub fn fail_with(&self, status: Option<u16>) {
        self.lock().fail_with = status;
    }

    /// Answer the next `times` calls with `status`, then normally again.
    pub fn fail_next(&self, status: u16, times: usize) {
        let mut inner = self.lock();
        for _ in 0..times {
            inner.fail_next.push_back(status);
        }
    }

    /// A candidate as OCSAT holds it.
    pub fn candidate(&self, id: &str) -> Option<SimCandidate> {
        self.lock().candidates.get(id).cloned()
    }

    /// Every candidate, by id.
    pub fn candidates(&self) -> Vec<SimCandidate> {
        self.lock().candidates.values().cloned().collect()
    }

    /// A candidate made in OCSAT's own screens (no learner code unless given); its id.
    pub fn add_candidate_in_ui(
        &self,
        username: &str,
        email: &str,
        family_name: &str,
        given_name: Option<&str>,
        external_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> String {
        let mut inner = self.lock();
        inner.next_candidate += 1;
        let id = format!("c-{:06}", inner.next_candidate);
        inner.candidates.insert(
            id.clone(),
            SimCandidate {
                id: id.clone(),
                username: username.into(),
                email: email.into(),
                family_name: family_name.into(),
                given_name: given_name.map(str::to_owned),
                other_name: None,
                external_id: external_id.map(str::to_owned),
                date_of_birth: None,
                created_at: now,
                updated_at: now,
            },
        );
        id
    }

    /// Edits a candidate in OCSAT's own screens (its `updatedAt` becomes `now`).
    /// False when there is no such candidate.
    pub fn edit_candidate_in_ui(
        &self,
        id: &str,
        now: DateTime<Utc>,
        edit: impl FnOnce(&mut SimCandidate),
    ) -> bool {
        let mut inner = self.lock();
        let Some(candidate) = inner.candidates.get_mut(id) else {
            return false;
        };
        edit(candidate);
        candidate.updated_at = now;
        true
    }

    /// A candidate completes (or OCSAT re-scores) an assessment: stored by id, replacing
    /// an earlier version.
    pub fn add_assessment(&self, assessment: SimAssessment) {
        let mut inner = self.lock();
        inner.assessments.retain(|a| a.id != assessment.id);
        inner.assessments.push(assessment);
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({
            "error": code,
            "message": message,
            "field": null,
            "fields": [],
        })),
    )
        .into_response()
}

/// Records the call and answers an injected fault, if any.
fn begin(sim: &OcsatSim, method: &Method, uri: &Uri) -> Option<Response> {
    let mut inner = sim.lock();
    let fault = inner.fail_next.pop_front().or(inner.fail_with);
    inner.calls.push(SimCall {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        status: fault.unwrap_or(0),
    });
    let status = fault?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::TOO_MANY_REQUESTS {
        let mut answer = error(status, "rate_limited", "too many requests");
        answer
            .headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        return Some(answer);
    }
    Some(error(
        status,
        "simulated_fault",
        "fault injected by the simulator",
    ))
}

/// Sets the status of the last recorded call.
fn finish(sim: &OcsatSim, answer: Response) -> Response {
    if let Some(call) = sim.lock().calls.last_mut()
        && call.status == 0
    {
        call.status = answer.status().as_u16();
    }
    answer
}

/// Checks the bearer token and the API key.
fn authorise(sim: &OcsatSim, headers: &HeaderMap, now: DateTime<Utc>) -> Option<Response> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let token = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
    let live = token.is_some_and(|t| {
        sim.lock()
            .tokens
            .get(t)
            .is_some_and(|token| token.expires_at > now)
    });
    if !live {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is missing, expired or unknown",
        ));
    }
    if header("x-api-key") != Some(sim.api_key.as_str()) {
        return Some(error(
            StatusCode::FORBIDDEN,
            "invalid_api_key",
            "the API key is missing or wrong",
        ));
    }
    None
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn token(State(sim): State<OcsatSim>, method: Method, uri: Uri, body: String) -> Response {
    if let Some(fault) = begin(&sim, &method, &uri) {
        return fault;
    }
    let answer = (|| {
        let oauth = |status: StatusCode, code: &str, description: &str| {
            (
                status,
                axum::Json(serde_json::json!({"error": code, "error_description": description})),
            )
                .into_response()
        };
        let Ok(form) = serde_qs::from_str::<TokenForm>(&body) else {
            return oauth(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body is not a form",
            );
        };
        if form.grant_type.as_deref() != Some("client_credentials") {
            return oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be client_credentials",
            );
        }
        if form.client_id.as_deref() != Some(sim.client_id.as_str())
            || form.client_secret.as_deref() != Some(sim.client_secret.as_str())
        {
            return oauth(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            );
        }
        let mut inner = sim.lock();
        inner.issued += 1;
        let value = format!(
            "ocsat-token-{}-{:016x}",
            inner.issued,
            rand::random::<u64>()
        );
        let lifetime = inner.token_lifetime_secs;
        inner.tokens.insert(
            value.clone(),
            Token {
                expires_at: Utc::now() + chrono::TimeDelta::seconds(lifetime),
            },
        );
        (
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "access_token": value,
                "token_type": "Bearer",
                "expires_in": lifetime,
            })),
        )
            .into_response()
    })();
    finish(&sim, answer)
}

async fn organisation(
    State(sim): State<OcsatSim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(fault) = begin(&sim, &method, &uri) {
        return fault;
    }
    let answer = match authorise(&sim, &headers, Utc::now()) {
        Some(refused) => refused,
        None => axum::Json(serde_json::json!({
            "id": "org-1",
            "name": sim.lock().organisation,
        }))
        .into_response(),
    };
    finish(&sim, answer)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
