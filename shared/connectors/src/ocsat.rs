//! OCSAT and LLN Robot, per the contract in docs/connectors/ocsat.md.
//!
//! OCSAT's API is not public: every wire detail (paths, camelCase bodies, the token
//! request, the API key header, error bodies) lives here, so the real API replaces
//! this module (the client here, the port in `api`, the factory in `apis`) and
//! nothing else. LLN Robot uses the same client with its own URLs.
//!
//! - An OAuth2 client-credentials token is kept until [`TOKEN_MARGIN`] before it
//!   expires; a token the API refuses (401) is replaced once, then the refusal is an
//!   error a person must act on.
//! - Timeouts, connection failures, 429 and 5xx are [`LlnError::Unavailable`]
//!   (retryable); nothing is retried in a loop here.
//! - With the connection's `api_logging` on, every call (the token request too) goes
//!   to the [`LlnCallLog`], obfuscated by [`domain::lln::obfuscate`].
//! - No error carries the client secret, the API key or a token.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use domain::connection::{Connection, ConnectionSettings, LlnSettings};
use domain::ids::{ConnectionId, LearnerCode, TenantId};
use domain::lln::{
    ApiCall, Assessment, AssessmentId, AssessmentPage, CandidateFields, CandidateId, FieldIssue,
    LlnError, LlnProduct, RemoteCandidate, SkillResult, obfuscate,
};
use domain::mask::mask_secret;
use domain::ports::{LlnApi, LlnApis, LlnCallLog, SecretSource};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod api;
mod apis;

pub use apis::OcsatApis;

/// The client's timeouts: below any Lambda's.
pub const TIMEOUT: Duration = Duration::from_secs(15);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A token is replaced this long before it expires.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// Assessments asked for per page (the contract's maximum).
pub const PAGE_SIZE: usize = 100;

struct CachedToken {
    value: SecretString,
    refresh_at: Instant,
}

/// Where this client's calls are logged.
struct CallLogTarget {
    tenant: TenantId,
    connection: ConnectionId,
    sink: Arc<dyn LlnCallLog>,
}

/// An OCSAT / LLN Robot client for one connection.
pub struct OcsatClient {
    http: reqwest::Client,
    api_base: String,
    auth_url: String,
    client_id: String,
    client_secret: SecretString,
    api_key: SecretString,
    token: tokio::sync::Mutex<Option<CachedToken>>,
    log: Option<CallLogTarget>,
    /// Set once the tool refused the credentials: the factory re-reads the secrets.
    refused: AtomicBool,
}

/// One request as sent (and as logged, once obfuscated).
struct Outgoing {
    method: reqwest::Method,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
}

/// One answer as received.
struct Answer {
    status: u16,
    body: String,
}

impl OcsatClient {
    /// A client for the API at `api_url` with the token endpoint `auth_url`.
    pub fn new(
        api_url: &str,
        auth_url: &str,
        client_id: &str,
        client_secret: SecretString,
        api_key: SecretString,
        egress: crate::egress::Egress,
    ) -> Result<Self, LlnError> {
        for url in [api_url, auth_url] {
            let url = url::Url::parse(url).map_err(|e| LlnError::Client(Box::new(e)))?;
            crate::egress::check_url(&url, egress).map_err(|e| LlnError::Client(Box::new(e)))?;
        }
        let http = crate::egress::client_builder(egress)
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| LlnError::Client(Box::new(e.without_url())))?;
        Ok(Self {
            http,
            api_base: api_url.trim_end_matches('/').to_owned(),
            auth_url: auth_url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            api_key,
            token: tokio::sync::Mutex::new(None),
            log: None,
            refused: AtomicBool::new(false),
        })
    }

    /// Logs every call of this client to `sink`, obfuscated.
    pub fn with_call_log(
        mut self,
        tenant: TenantId,
        connection: ConnectionId,
        sink: Arc<dyn LlnCallLog>,
    ) -> Self {
        self.log = Some(CallLogTarget {
            tenant,
            connection,
            sink,
        });
        self
    }

    /// Whether the tool refused this client's credentials.
    pub fn was_refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }

    /// Sends one request and logs it (when logging is on), whatever the outcome.
    async fn exchange(&self, out: Outgoing, token: Option<&str>) -> Result<Answer, LlnError> {
        let at = Utc::now();
        let started = Instant::now();
        let mut request = self.http.request(out.method.clone(), &out.url);
        for (name, value) in &out.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = &out.body {
            request = request.body(body.clone());
        }
        let result = async {
            let answer = request.send().await?;
            let status = answer.status().as_u16();
            let body = answer.text().await?;
            Ok::<_, reqwest::Error>(Answer { status, body })
        }
        .await
        .map_err(|e| e.without_url());
        self.record(at, started.elapsed(), &out, &result, token)
            .await;
        result.map_err(|e| match crate::egress::refusal(&e) {
            // The name resolved to an internal address: the URL must change.
            Some(refused) => LlnError::Client(Box::new(refused.clone())),
            None => LlnError::Unavailable(Box::new(e)),
        })
    }

    async fn record(
        &self,
        at: DateTime<Utc>,
        took: Duration,
        out: &Outgoing,
        result: &Result<Answer, reqwest::Error>,
        token: Option<&str>,
    ) {
        let Some(log) = &self.log else {
            return;
        };
        let (response_status, response_body, error) = match result {
            Ok(answer) => (Some(answer.status), Some(answer.body.clone()), None),
            Err(e) => (None, None, Some(e.to_string())),
        };
        let call = ApiCall {
            at,
            method: out.method.to_string(),
            url: out.url.clone(),
            request_headers: out
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect(),
            request_body: out.body.clone(),
            response_status,
            response_body,
            error,
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        };
        // The client id is masked by name (it only travels as `client_id=`): as a
        // literal it may be a common word that would blank out URLs.
        let mut known = vec![
            self.client_secret.expose_secret(),
            self.api_key.expose_secret(),
        ];
        known.extend(token);
        let mut call = obfuscate(call, &known);
        call.request_body = call.request_body.map(cap_body);
        call.response_body = call.response_body.map(cap_body);
        if let Err(e) = log.sink.record(&log.tenant, &log.connection, &call).await {
            tracing::warn!(
                tenant = %log.tenant,
                connection = %log.connection,
                error = &e as &dyn std::error::Error,
                "an LLN API call could not be written to the API log"
            );
        }
    }

    /// The cached token, or a new one.
    async fn access_token(&self) -> Result<SecretString, LlnError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", self.client_secret.expose_secret())
            .finish();
        let answer = self
            .exchange(
                Outgoing {
                    method: reqwest::Method::POST,
                    url: self.auth_url.clone(),
                    headers: vec![
                        ("content-type", "application/x-www-form-urlencoded".into()),
                        ("accept", "application/json".into()),
                    ],
                    body: Some(body),
                },
                None,
            )
            .await?;
        const WHAT: &str = "the token request";
        match answer.status {
            200..=299 => {}
            400 | 401 | 403 => {
                self.refused.store(true, Ordering::Relaxed);
                return Err(LlnError::Unauthorized {
                    what: WHAT,
                    status: answer.status,
                });
            }
            status => return Err(self.failure(WHAT, "", status, &answer.body)),
        }
        let token: TokenAnswer =
            serde_json::from_str(&answer.body).map_err(|e| LlnError::Malformed {
                what: WHAT,
                source: Box::new(e),
            })?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(0));
        let value = SecretString::from(token.access_token);
        *cached = Some(CachedToken {
            value: value.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN),
        });
        Ok(value)
    }

    /// Forgets `rejected` if it is still the cached token (another call may have
    /// replaced it already).
    async fn forget_token(&self, rejected: &SecretString) {
        let mut cached = self.token.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == rejected.expose_secret())
        {
            *cached = None;
        }
    }

    /// One authenticated API call; a 401 gets one fresh token and one more try.
    /// Answers 2xx as `Ok`, everything else as the error it stands for.
    async fn call(
        &self,
        what: &'static str,
        id: &str,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<String>,
    ) -> Result<Answer, LlnError> {
        let mut retried = false;
        loop {
            let token = self.access_token().await?;
            let mut headers = vec![
                ("authorization", format!("Bearer {}", token.expose_secret())),
                ("x-api-key", self.api_key.expose_secret().to_owned()),
                ("accept", "application/json".to_owned()),
            ];
            if body.is_some() {
                headers.push(("content-type", "application/json".to_owned()));
            }
            let answer = self
                .exchange(
                    Outgoing {
                        method: method.clone(),
                        url: format!("{}{path_and_query}", self.api_base),
                        headers,
                        body: body.clone(),
                    },
                    Some(token.expose_secret()),
                )
                .await?;
            match answer.status {
                200..=299 => return Ok(answer),
                401 if !retried => {
                    retried = true;
                    self.forget_token(&token).await;
                }
                401 | 403 => {
                    self.refused.store(true, Ordering::Relaxed);
                    return Err(LlnError::Unauthorized {
                        what,
                        status: answer.status,
                    });
                }
                status => return Err(self.failure(what, id, status, &answer.body)),
            }
        }
    }

    /// The error a non-2xx answer (other than 401/403) stands for.
    fn failure(&self, what: &'static str, id: &str, status: u16, body: &str) -> LlnError {
        if status == 429 || status >= 500 {
            return LlnError::Unavailable(
                format!("the LLN tool answered HTTP {status} to {what}").into(),
            );
        }
        let error: ErrorBody = serde_json::from_str(body).unwrap_or_default();
        match status {
            404 => LlnError::NotFound {
                what,
                id: id.to_owned(),
            },
            409 => LlnError::Duplicate {
                field: error
                    .field
                    .as_deref()
                    .map_or_else(|| "username".to_owned(), domain_field),
            },
            400 | 422 if !error.fields.is_empty() || error.field.is_some() => {
                let mut issues: Vec<FieldIssue> = error
                    .fields
                    .iter()
                    .map(|f| FieldIssue::invalid(&domain_field(&f.field), self.scrub(&f.message)))
                    .collect();
                if issues.is_empty()
                    && let Some(field) = &error.field
                {
                    issues.push(FieldIssue::invalid(
                        &domain_field(field),
                        self.scrub(&error.message),
                    ));
                }
                LlnError::Invalid { issues }
            }
            _ => LlnError::Refused {
                what,
                status,
                message: self.scrub(&error.message),
            },
        }
    }

    /// The tool's own message with any of our secrets masked (it may echo them).
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in [
            self.client_secret.expose_secret(),
            self.api_key.expose_secret(),
        ] {
            if !secret.is_empty() {
                out = out.replace(secret, &mask_secret(secret));
            }
        }
        out
    }

    async fn candidates_where(
        &self,
        field: &str,
        value: &str,
    ) -> Result<Option<RemoteCandidate>, LlnError> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(field, value)
            .finish();
        let answer = self
            .call(
                "the candidate search",
                "",
                reqwest::Method::GET,
                &format!("/candidates?{query}"),
                None,
            )
            .await?;
        let list: CandidateList = read("the candidate search", &answer.body)?;
        // A candidate learnbridge cannot read as its own (no learner code, made in
        // the tool's screens) is not one this search is looking for.
        Ok(list
            .items
            .into_iter()
            .find_map(|c| RemoteCandidate::try_from(c).ok()))
    }
}

/// The most of a body an API log entry keeps (a stored item must stay well
/// under DynamoDB's 400 KB).
pub const LOGGED_BODY_MAX: usize = 64 * 1024;

/// A body cut to [`LOGGED_BODY_MAX`] bytes (at a character boundary), saying how
/// much was left out. Cut after obfuscation, so no half secret survives.
fn cap_body(body: String) -> String {
    if body.len() <= LOGGED_BODY_MAX {
        return body;
    }
    let mut end = LOGGED_BODY_MAX;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}... [{} more bytes not logged]",
        &body[..end],
        body.len() - end
    )
}

fn read<T: for<'de> Deserialize<'de>>(what: &'static str, body: &str) -> Result<T, LlnError> {
    serde_json::from_str(body).map_err(|e| LlnError::Malformed {
        what,
        source: Box::new(e),
    })
}

/// The learner's field a wire field stands for (unknown ones pass through).
fn domain_field(wire: &str) -> String {
    match wire {
        "familyName" => "family_name",
        "givenName" => "given_name",
        "otherName" => "other_name",
        "externalId" => "learner_code",
        "dateOfBirth" => "date_of_birth",
        other => other,
    }
    .to_owned()
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorBody {
    message: String,
    field: Option<String>,
    fields: Vec<ErrorField>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorField {
    field: String,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CandidateOut<'a> {
    username: &'a str,
    email: &'a str,
    family_name: &'a str,
    given_name: Option<&'a str>,
    other_name: Option<&'a str>,
    external_id: &'a str,
    date_of_birth: NaiveDate,
}

impl<'a> From<&'a CandidateFields> for CandidateOut<'a> {
    fn from(f: &'a CandidateFields) -> Self {
        Self {
            username: &f.username,
            email: &f.email,
            family_name: &f.family_name,
            given_name: f.given_name.as_deref(),
            other_name: f.other_name.as_deref(),
            external_id: f.learner_code.as_str(),
            date_of_birth: f.date_of_birth,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateIn {
    id: String,
    username: String,
    email: String,
    family_name: String,
    given_name: Option<String>,
    other_name: Option<String>,
    external_id: Option<String>,
    date_of_birth: Option<NaiveDate>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Why a candidate the tool holds is not one learnbridge can read as its own.
#[derive(Debug, thiserror::Error)]
enum Unreadable {
    #[error("the candidate has no {0}")]
    Missing(&'static str),
    #[error(transparent)]
    Id(#[from] domain::IdError),
}

impl TryFrom<CandidateIn> for RemoteCandidate {
    type Error = Unreadable;

    fn try_from(c: CandidateIn) -> Result<Self, Unreadable> {
        let external_id = c.external_id.ok_or(Unreadable::Missing("externalId"))?;
        Ok(Self {
            id: CandidateId::parse(c.id)?,
            fields: CandidateFields {
                family_name: c.family_name,
                given_name: c.given_name,
                other_name: c.other_name,
                learner_code: LearnerCode::parse(external_id)?,
                date_of_birth: c.date_of_birth.ok_or(Unreadable::Missing("dateOfBirth"))?,
                email: c.email,
                username: c.username,
            },
            created_at: c.created_at,
            updated_at: c.updated_at,
        })
    }
}

#[derive(Deserialize)]
struct CandidateList {
    items: Vec<CandidateIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SkillIn {
    skill: String,
    acsf_level: Option<String>,
    score: Option<f64>,
    band: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssessmentIn {
    id: String,
    candidate_id: String,
    name: String,
    #[serde(default)]
    skills: Vec<String>,
    completed_at: DateTime<Utc>,
    #[serde(default)]
    sitting_ids: Vec<String>,
    #[serde(default)]
    results: Vec<SkillIn>,
    modified_at: DateTime<Utc>,
}

impl TryFrom<AssessmentIn> for Assessment {
    type Error = domain::IdError;

    fn try_from(a: AssessmentIn) -> Result<Self, domain::IdError> {
        Ok(Self {
            id: AssessmentId::parse(a.id)?,
            candidate_id: CandidateId::parse(a.candidate_id)?,
            name: a.name,
            skills: a.skills,
            completed_at: a.completed_at,
            sitting_ids: a.sitting_ids,
            results: a
                .results
                .into_iter()
                .map(|r| SkillResult {
                    skill: r.skill,
                    level: r.acsf_level,
                    score: r.score,
                    band: r.band,
                })
                .collect(),
            modified_at: a.modified_at,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssessmentPageIn {
    items: Vec<AssessmentIn>,
    next_cursor: Option<String>,
}

fn candidate_from(what: &'static str, body: &str) -> Result<RemoteCandidate, LlnError> {
    let candidate: CandidateIn = read(what, body)?;
    RemoteCandidate::try_from(candidate).map_err(|e| LlnError::Malformed {
        what,
        source: Box::new(e),
    })
}

fn json_body(fields: &CandidateFields) -> Result<String, LlnError> {
    serde_json::to_string(&CandidateOut::from(fields)).map_err(|e| LlnError::Client(Box::new(e)))
}

/// Candidate ids are the tool's, restricted to `[A-Za-z0-9._-]`: safe in a path.
fn candidate_path(id: &CandidateId) -> String {
    format!("/candidates/{}", id.as_str())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
