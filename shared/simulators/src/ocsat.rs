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

/// The body of a create or update.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateBody {
    username: Option<String>,
    email: Option<String>,
    family_name: Option<String>,
    given_name: Option<String>,
    other_name: Option<String>,
    external_id: Option<String>,
    date_of_birth: Option<String>,
}

struct Valid {
    username: String,
    email: String,
    family_name: String,
    given_name: Option<String>,
    other_name: Option<String>,
    external_id: String,
    date_of_birth: NaiveDate,
}

fn blank(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn validate(body: &CandidateBody, today: NaiveDate) -> Result<Valid, Box<Response>> {
    let mut fields = Vec::new();
    let mut required = |name: &str, value: Option<String>| {
        if value.is_none() {
            fields.push(serde_json::json!({"field": name, "message": "is required"}));
        }
        value
    };
    let family_name = required("familyName", blank(body.family_name.as_ref()));
    let external_id = required("externalId", blank(body.external_id.as_ref()));
    let dob = required("dateOfBirth", blank(body.date_of_birth.as_ref()));
    let email = required("email", blank(body.email.as_ref()));
    let username = required("username", blank(body.username.as_ref()));
    let date_of_birth = dob.and_then(|d| match NaiveDate::parse_from_str(&d, "%Y-%m-%d") {
        Ok(d) if d <= today => Some(d),
        Ok(_) => {
            fields.push(
                serde_json::json!({"field": "dateOfBirth", "message": "must not be in the future"}),
            );
            None
        }
        Err(_) => {
            fields.push(
                serde_json::json!({"field": "dateOfBirth", "message": "must be a date YYYY-MM-DD"}),
            );
            None
        }
    });
    if let Some(e) = &email
        && !e
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
    {
        fields.push(serde_json::json!({"field": "email", "message": "is not an email address"}));
    }
    if let Some(u) = &username
        && (u.chars().any(char::is_whitespace) || u.chars().count() > 100)
    {
        fields.push(serde_json::json!({"field": "username", "message": "must have no spaces and at most 100 characters"}));
    }
    match (family_name, external_id, date_of_birth, email, username) {
        (
            Some(family_name),
            Some(external_id),
            Some(date_of_birth),
            Some(email),
            Some(username),
        ) if fields.is_empty() => Ok(Valid {
            username,
            email,
            family_name,
            given_name: blank(body.given_name.as_ref()),
            other_name: blank(body.other_name.as_ref()),
            external_id,
            date_of_birth,
        }),
        _ => Err(Box::new(
            (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({
                    "error": "validation_failed",
                    "message": "the candidate is not valid",
                    "field": null,
                    "fields": fields,
                })),
            )
                .into_response(),
        )),
    }
}

/// A refusal when another candidate (not `except`) already has the username.
/// Emails may be shared: that is when the username defaults to Firstname.Surname.
fn duplicate(inner: &Inner, valid: &Valid, except: Option<&str>) -> Option<Response> {
    let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    let taken = inner
        .candidates
        .values()
        .any(|c| Some(c.id.as_str()) != except && same(&c.username, &valid.username));
    taken.then(|| {
        (
            StatusCode::CONFLICT,
            axum::Json(serde_json::json!({
                "error": "duplicate",
                "message": "another candidate has this username",
                "field": "username",
                "fields": [],
            })),
        )
            .into_response()
    })
}

fn parse_body(body: &str) -> Result<CandidateBody, Box<Response>> {
    serde_json::from_str(body).map_err(|_| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body is not a candidate",
        ))
    })
}

async fn create_candidate(
    State(sim): State<OcsatSim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(fault) = begin(&sim, &method, &uri) {
        return fault;
    }
    let now = Utc::now();
    let answer = (|| {
        if let Some(refused) = authorise(&sim, &headers, now) {
            return refused;
        }
        let valid = match parse_body(&body).and_then(|b| validate(&b, now.date_naive())) {
            Ok(v) => v,
            Err(refused) => return *refused,
        };
        let mut inner = sim.lock();
        if let Some(refused) = duplicate(&inner, &valid, None) {
            return refused;
        }
        inner.next_candidate += 1;
        let id = format!("c-{:06}", inner.next_candidate);
        let candidate = SimCandidate {
            id: id.clone(),
            username: valid.username,
            email: valid.email,
            family_name: valid.family_name,
            given_name: valid.given_name,
            other_name: valid.other_name,
            external_id: Some(valid.external_id),
            date_of_birth: Some(valid.date_of_birth),
            created_at: now,
            updated_at: now,
        };
        inner.candidates.insert(id, candidate.clone());
        (StatusCode::CREATED, axum::Json(candidate)).into_response()
    })();
    finish(&sim, answer)
}

async fn get_candidate(
    State(sim): State<OcsatSim>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(fault) = begin(&sim, &method, &uri) {
        return fault;
    }
    let answer = match authorise(&sim, &headers, Utc::now()) {
        Some(refused) => refused,
        None => match sim.candidate(&id) {
            Some(c) => axum::Json(c).into_response(),
            None => error(StatusCode::NOT_FOUND, "not_found", "no such candidate"),
        },
    };
    finish(&sim, answer)
}

async fn update_candidate(
    State(sim): State<OcsatSim>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(fault) = begin(&sim, &method, &uri) {
        return fault;
    }
    let now = Utc::now();
    let answer = (|| {
        if let Some(refused) = authorise(&sim, &headers, now) {
            return refused;
        }
        let valid = match parse_body(&body).and_then(|b| validate(&b, now.date_naive())) {
            Ok(v) => v,
            Err(refused) => return *refused,
        };
        let mut inner = sim.lock();
        if !inner.candidates.contains_key(&id) {
            return error(StatusCode::NOT_FOUND, "not_found", "no such candidate");
        }
        if let Some(refused) = duplicate(&inner, &valid, Some(&id)) {
            return refused;
        }
        let Some(candidate) = inner.candidates.get_mut(&id) else {
            return error(StatusCode::NOT_FOUND, "not_found", "no such candidate");
        };
        let updated = SimCandidate {
            id: candidate.id.clone(),
            username: valid.username,
            email: valid.email,
            family_name: valid.family_name,
            given_name: valid.given_name,
            other_name: valid.other_name,
            external_id: Some(valid.external_id),
            date_of_birth: Some(valid.date_of_birth),
            created_at: candidate.created_at,
            updated_at: candidate.updated_at,
        };
        if updated != *candidate {
            *candidate = SimCandidate {
                updated_at: now,
                ..updated
            };
        }
        axum::Json(candidate.clone()).into_response()
    })();
    finish(&sim, answer)
}

#[derive(Deserialize)]
struct FindQuery {
    username: Option<String>,
    email: Option<String>,
}

async fn find_candidates(
    State(sim): State<OcsatSim>,
    Query(query): Query<FindQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(fault) = begin(&sim, &method, &uri) {
        return fault;
    }
    let answer = (|| {
        if let Some(refused) = authorise(&sim, &headers, Utc::now()) {
            return refused;
        }
        let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        let items: Vec<SimCandidate> = match (&query.username, &query.email) {
            (Some(u), None) => sim
                .candidates()
                .into_iter()
                .filter(|c| same(&c.username, u))
                .collect(),
            (None, Some(e)) => sim
                .candidates()
                .into_iter()
                .filter(|c| same(&c.email, e))
                .collect(),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "validation_failed",
                    "give exactly one of username or email",
                );
            }
        };
        axum::Json(serde_json::json!({ "items": items })).into_response()
    })();
    finish(&sim, answer)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssessmentQuery {
    modified_after: Option<String>,
    page_size: Option<String>,
    cursor: Option<String>,
}

fn field_error(field: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({
            "error": "validation_failed",
            "message": format!("{field} {message}"),
            "field": field,
            "fields": [{"field": field, "message": message}],
        })),
    )
        .into_response()
}

/// The cursor is `{modifiedAt as RFC 3339}|{id}` of the last item served, url-safe
/// (opaque to clients).
fn encode_cursor(a: &SimAssessment) -> String {
    format!("{}|{}", a.modified_at.to_rfc3339(), a.id)
}

fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, String)> {
    let (at, id) = cursor.split_once('|')?;
    let at = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
    Some((at, id.to_owned()))
}

async fn assessments(
    State(sim): State<OcsatSim>,
    Query(query): Query<AssessmentQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(fault) = begin(&sim, &method, &uri) {
        return fault;
    }
    let answer = (|| {
        if let Some(refused) = authorise(&sim, &headers, Utc::now()) {
            return refused;
        }
        let Some(after) = query.modified_after.as_deref() else {
            return field_error("modifiedAfter", "is required");
        };
        let Ok(after) = DateTime::parse_from_rfc3339(after) else {
            return field_error("modifiedAfter", "must be an RFC 3339 date and time");
        };
        let after = after.with_timezone(&Utc);
        let page_size = match query.page_size.as_deref().map(str::parse::<usize>) {
            None => DEFAULT_PAGE_SIZE,
            Some(Ok(n)) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            Some(_) => return field_error("pageSize", "must be between 1 and 100"),
        };
        let from = match query.cursor.as_deref().map(decode_cursor) {
            None => None,
            Some(Some(position)) => Some(position),
            Some(None) => return field_error("cursor", "is not a cursor this API gave"),
        };
        let mut items: Vec<SimAssessment> = sim
            .lock()
            .assessments
            .iter()
            .filter(|a| a.modified_at > after)
            .filter(|a| {
                from.as_ref()
                    .is_none_or(|(at, id)| (a.modified_at, &a.id) > (*at, id))
            })
            .cloned()
            .collect();
        items.sort_by(|a, b| (a.modified_at, &a.id).cmp(&(b.modified_at, &b.id)));
        let more = items.len() > page_size;
        items.truncate(page_size);
        let next = if more {
            items.last().map(encode_cursor)
        } else {
            None
        };
        axum::Json(serde_json::json!({ "items": items, "nextCursor": next })).into_response()
    })();
    finish(&sim, answer)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    struct Client {
        http: reqwest::Client,
        base: String,
        token: String,
    }

    async fn connect(sim: &OcsatSim) -> (RunningServer, Client) {
        let server = sim.start().await.unwrap();
        let http = reqwest::Client::new();
        let answer: serde_json::Value = http
            .post(format!("{}/oauth2/token", server.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=cid&client_secret=csecret")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["access_token"].as_str().unwrap().to_owned();
        assert_eq!(answer["expires_in"], 3600);
        let base = format!("{}/api/v1", server.base_url);
        (server, Client { http, base, token })
    }

    impl Client {
        async fn send(
            &self,
            method: reqwest::Method,
            path: &str,
            body: Option<serde_json::Value>,
        ) -> (u16, serde_json::Value) {
            let mut request = self
                .http
                .request(method, format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .header("x-api-key", "akey");
            if let Some(body) = body {
                request = request.json(&body);
            }
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json().await.unwrap_or_default())
        }
    }

    fn greg() -> serde_json::Value {
        serde_json::json!({
            "username": "greg@example.org", "email": "greg@example.org",
            "familyName": "Abbott", "givenName": "Greg", "externalId": "C100",
            "dateOfBirth": "1990-05-17"
        })
    }

    #[tokio::test]
    async fn the_token_endpoint_checks_the_client_and_the_grant() {
        let sim = OcsatSim::new("cid", "csecret", "akey");
        let server = sim.start().await.unwrap();
        let http = reqwest::Client::new();
        let cases = [
            (
                "grant_type=client_credentials&client_id=cid&client_secret=nope",
                401,
                "invalid_client",
            ),
            (
                "grant_type=password&client_id=cid&client_secret=csecret",
                400,
                "unsupported_grant_type",
            ),
            (
                "grant_type=client_credentials&client_id=cid&client_secret=csecret",
                200,
                "",
            ),
        ];
        for (body, status, code) in cases {
            let answer = http
                .post(format!("{}/oauth2/token", server.base_url))
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status().as_u16(), status, "{body}");
            let json: serde_json::Value = answer.json().await.unwrap();
            if status != 200 {
                assert_eq!(json["error"], code);
            }
        }
        assert_eq!(sim.tokens_issued(), 1);
        assert_eq!(sim.calls_to("/oauth2/token"), 3);
    }

    #[tokio::test]
    async fn calls_need_a_live_token_and_the_api_key() {
        let sim = OcsatSim::new("cid", "csecret", "akey");
        let (_server, client) = connect(&sim).await;
        let (status, _) = client
            .send(reqwest::Method::GET, "/organisation", None)
            .await;
        assert_eq!(status, 200);
        let wrong_key = client
            .http
            .get(format!("{}/organisation", client.base))
            .bearer_auth(&client.token)
            .header("x-api-key", "other")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong_key.status().as_u16(), 403);
        sim.revoke_tokens();
        let (status, body) = client
            .send(reqwest::Method::GET, "/organisation", None)
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token"))
        );
    }

    #[tokio::test]
    async fn candidates_are_validated_by_field_and_unique_by_username() {
        let sim = OcsatSim::new("cid", "csecret", "akey");
        let (_server, client) = connect(&sim).await;
        let (status, body) = client
            .send(
                reqwest::Method::POST,
                "/candidates",
                Some(serde_json::json!({"username": "x y", "email": "nope"})),
            )
            .await;
        assert_eq!(status, 400);
        let fields: Vec<&str> = body["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            vec![
                "familyName",
                "externalId",
                "dateOfBirth",
                "email",
                "username"
            ]
        );
        let (status, created) = client
            .send(reqwest::Method::POST, "/candidates", Some(greg()))
            .await;
        assert_eq!(status, 201);
        let id = created["id"].as_str().unwrap().to_owned();
        let mut same_email = greg();
        same_email["username"] = "other".into();
        same_email["email"] = "GREG@example.org".into();
        let mut same_username = greg();
        same_username["email"] = "other@example.org".into();
        let (status, answer) = client
            .send(reqwest::Method::POST, "/candidates", Some(same_username))
            .await;
        assert_eq!((status, answer["field"].as_str()), (409, Some("username")));
        let (status, _) = client
            .send(reqwest::Method::POST, "/candidates", Some(same_email))
            .await;
        assert_eq!(status, 201, "an email may be shared under another username");
        // An update that changes nothing keeps updatedAt; a change moves it.
        let (status, same) = client
            .send(
                reqwest::Method::PUT,
                &format!("/candidates/{id}"),
                Some(greg()),
            )
            .await;
        assert_eq!((status, &same["updatedAt"]), (200, &created["updatedAt"]));
        let mut renamed = greg();
        renamed["familyName"] = "Abbot".into();
        let (_, changed) = client
            .send(
                reqwest::Method::PUT,
                &format!("/candidates/{id}"),
                Some(renamed),
            )
            .await;
        assert_eq!(changed["familyName"], "Abbot");
        let (status, found) = client
            .send(
                reqwest::Method::GET,
                "/candidates?username=GREG@example.org",
                None,
            )
            .await;
        assert_eq!(
            (status, found["items"][0]["id"].as_str()),
            (200, Some(id.as_str()))
        );
        let (status, _) = client
            .send(reqwest::Method::GET, "/candidates/c-999999", None)
            .await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn assessments_page_strictly_after_the_modified_date_with_a_cursor() {
        let sim = OcsatSim::new("cid", "csecret", "akey");
        let (_server, client) = connect(&sim).await;
        let day = |d| Utc.with_ymd_and_hms(2026, 3, d, 9, 0, 0).unwrap();
        for d in 1..=5 {
            sim.add_assessment(SimAssessment::core_skills(format!("a-{d}"), "c-1", day(d)));
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = "/assessments?modifiedAfter=2026-03-01T09:00:00Z&pageSize=2".to_owned();
            if let Some(c) = &cursor {
                path.push_str(&format!(
                    "&cursor={}",
                    url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
                ));
            }
            let (status, page) = client.send(reqwest::Method::GET, &path, None).await;
            assert_eq!(status, 200);
            pages += 1;
            for item in page["items"].as_array().unwrap() {
                seen.push(item["id"].as_str().unwrap().to_owned());
            }
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, vec!["a-2", "a-3", "a-4", "a-5"]);
        assert_eq!(pages, 2);
        for (path, field) in [
            ("/assessments", "modifiedAfter"),
            ("/assessments?modifiedAfter=yesterday", "modifiedAfter"),
            (
                "/assessments?modifiedAfter=2026-03-01T09:00:00Z&pageSize=500",
                "pageSize",
            ),
            (
                "/assessments?modifiedAfter=2026-03-01T09:00:00Z&cursor=zzz",
                "cursor",
            ),
        ] {
            let (status, body) = client.send(reqwest::Method::GET, path, None).await;
            assert_eq!(
                (status, body["field"].as_str()),
                (400, Some(field)),
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn faults_are_injected_and_counted() {
        let sim = OcsatSim::new("cid", "csecret", "akey");
        let (_server, client) = connect(&sim).await;
        sim.fail_next(429, 1);
        let answer = client
            .http
            .get(format!("{}/organisation", client.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 429);
        assert_eq!(answer.headers()["retry-after"], "1");
        sim.fail_with(Some(500));
        let (status, _) = client
            .send(reqwest::Method::GET, "/organisation", None)
            .await;
        assert_eq!(status, 500);
        sim.fail_with(None);
        let (status, _) = client
            .send(reqwest::Method::GET, "/organisation", None)
            .await;
        assert_eq!(status, 200);
        let statuses: Vec<u16> = sim.calls().iter().map(|c| c.status).collect();
        assert_eq!(statuses, vec![200, 429, 500, 200]);
    }
}
