//! The client: transport, authentication, retries, concurrency and call counts,
//! and one typed method per web service function: the site's here, the others by
//! subject in `courses`, `users` (with enrolments) and `grades` (with completion).

use super::error::{MoodleError, MoodleException};
use super::functions::{FALLBACKS, Idempotency, OPTIONAL_FUNCTIONS, WsFunction};
use super::ids::MoodleCourseId;
use super::types::*;
use crate::egress::Egress;
use backon::{ExponentialBuilder, Retryable};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Semaphore};
use url::Url;

mod courses;
mod grades;
mod users;

pub use grades::CourseGrades;

/// How a client proves who it is.
#[derive(Clone)]
pub enum MoodleAuth {
    /// A web service token (recommended).
    Token(SecretString),
    /// A Moodle account, exchanged once through `login/token.php` for a token of
    /// the named external service (its short name), which is then cached.
    Password {
        username: String,
        password: SecretString,
        service: String,
    },
}

impl MoodleAuth {
    /// How a connection signs in ([`domain::connection::MoodleLogin`]), with
    /// the secret it signs in with (the token, or the password).
    pub fn for_login(login: &domain::connection::MoodleLogin, secret: SecretString) -> Self {
        match login {
            domain::connection::MoodleLogin::Token => MoodleAuth::Token(secret),
            domain::connection::MoodleLogin::Password { username, service } => {
                MoodleAuth::Password {
                    username: username.trim().to_owned(),
                    password: secret,
                    service: service.trim().to_owned(),
                }
            }
        }
    }
}

impl fmt::Debug for MoodleAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MoodleAuth::Token(_) => f.write_str("Token(****)"),
            MoodleAuth::Password {
                username: _,
                service,
                ..
            } => f
                .debug_struct("Password")
                .field("service", service)
                .finish_non_exhaustive(),
        }
    }
}

/// A few quick in-process retries for transient failures; anything longer is
/// the queue's job (SQS redrive, the retry worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (3: at most four attempts).
    pub max_retries: usize,
    /// The first back-off; it doubles, with full jitter, up to `max_delay`.
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first attempt,
    /// so a call stays well inside a Lambda's deadline.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }
}

/// A client's settings for one site.
#[derive(Debug, Clone)]
pub struct MoodleConfig {
    /// The site's root (`https://lms.example.edu/` or `https://example.edu/moodle/`);
    /// a full `.../webservice/rest/server.php` URL is accepted too.
    pub base_url: String,
    /// Per HTTP request, connection to last byte.
    pub timeout: Duration,
    /// Records per call (default 100).
    pub batch_size: usize,
    /// Calls in flight at once against this site.
    pub max_concurrency: usize,
    /// The site's PHP `max_input_vars` (default 5000): a call never sends more
    /// form fields than this, whatever `batch_size` says, because PHP silently
    /// drops the fields beyond it.
    pub max_input_vars: usize,
    pub retry: RetryPolicy,
    /// Where the client may connect (public https only unless the deployment
    /// allows internal URLs).
    pub egress: Egress,
}

impl MoodleConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            timeout: Duration::from_secs(20),
            batch_size: 100,
            max_concurrency: 4,
            max_input_vars: 5000,
            retry: RetryPolicy::default(),
            egress: Egress::PublicOnly,
        }
    }

    /// The same settings with `egress` as the rule for where to connect.
    pub fn with_egress(self, egress: Egress) -> Self {
        Self { egress, ..self }
    }

    /// Takes batch size and concurrency from a connection's settings.
    pub fn from_settings(
        base_url: impl Into<String>,
        settings: &domain::connection::MoodleSettings,
    ) -> Self {
        Self {
            batch_size: settings.batch_size,
            max_concurrency: settings.max_concurrency,
            ..Self::new(base_url)
        }
    }
}

/// The key under which token exchanges are counted in [`MoodleClient::call_counts`].
pub const LOGIN_COUNT_KEY: &str = "login/token.php";

/// A Moodle REST client for one site. Cheap to clone (shared state).
#[derive(Clone)]
pub struct MoodleClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoint: Url,
    login_endpoint: Url,
    auth: MoodleAuth,
    /// The token `login/token.php` gave for a password login: fetched once,
    /// fetched again when Moodle refuses it (`invalidtoken`).
    token: Mutex<Option<SecretString>>,
    config: MoodleConfig,
    permits: Semaphore,
    counts: [AtomicU64; WsFunction::ALL.len()],
    logins: AtomicU64,
    /// Set once the site is known to lack `gradereport_user_get_grade_items`.
    legacy_grades: AtomicBool,
}

impl fmt::Debug for MoodleClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MoodleClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("auth", &self.inner.auth)
            .field("timeout", &self.inner.config.timeout)
            .field("batch_size", &self.inner.config.batch_size)
            .field("max_concurrency", &self.inner.config.max_concurrency)
            .finish_non_exhaustive()
    }
}

/// `{"token": ...}` or `{"error", "errorcode"}` from `login/token.php`.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    errorcode: Option<String>,
}

/// The site root with a trailing slash, whatever form the URL was given in.
fn site_root(base: &str) -> Result<Url, MoodleError> {
    let mut url = Url::parse(base.trim()).map_err(MoodleError::BaseUrl)?;
    url.set_query(None);
    url.set_fragment(None);
    let mut path = url.path().to_owned();
    for suffix in ["webservice/rest/server.php", "login/token.php"] {
        if let Some(stripped) = path.strip_suffix(suffix) {
            path = stripped.to_owned();
        }
    }
    if !path.ends_with('/') {
        path.push('/');
    }
    url.set_path(&path);
    Ok(url)
}

/// The form body: the three protocol fields, then the parameters.
pub fn form_body(token: &SecretString, function: &str, params: &str) -> String {
    let mut body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("wstoken", token.expose_secret())
        .append_pair("wsfunction", function)
        .append_pair("moodlewsrestformat", "json")
        .finish();
    if !params.is_empty() {
        body.push('&');
        body.push_str(params);
    }
    body
}

/// The parameters of a call, form-encoded the way Moodle reads them.
pub fn encode_params<P: Serialize>(
    function: WsFunction,
    params: &P,
) -> Result<String, MoodleError> {
    serde_qs::to_string(params).map_err(|source| MoodleError::Encode {
        function: function.name(),
        source,
    })
}

/// A short, sanitised excerpt of an answer that is not JSON at all (an HTML
/// page, a proxy's error), for the person reading the error; none of a JSON
/// answer (of the wrong shape), which may hold learners' details.
fn foreign_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.trim_start().starts_with(['{', '[']) {
        String::new()
    } else {
        domain::egress::excerpt(&text)
    }
}

/// Reads an answer: Moodle's error body becomes a [`MoodleError`], anything
/// else must be the function's JSON.
pub fn parse_answer<R: DeserializeOwned>(
    function: WsFunction,
    body: &[u8],
) -> Result<R, MoodleError> {
    let malformed = |source| MoodleError::Malformed {
        function: function.name(),
        excerpt: foreign_excerpt(body),
        source,
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(malformed)?;
    if let Some(object) = value.as_object()
        && object.contains_key("exception")
        && object.contains_key("errorcode")
    {
        let exception: MoodleException = serde_json::from_value(value).map_err(malformed)?;
        return Err(MoodleError::from_exception(function, exception));
    }
    serde_json::from_value(value).map_err(malformed)
}

impl MoodleClient {
    pub fn new(config: MoodleConfig, auth: MoodleAuth) -> Result<Self, MoodleError> {
        let root = site_root(&config.base_url)?;
        let endpoint = root
            .join("webservice/rest/server.php")
            .map_err(MoodleError::BaseUrl)?;
        let login_endpoint = root.join("login/token.php").map_err(MoodleError::BaseUrl)?;
        crate::egress::check_url(&root, config.egress).map_err(MoodleError::Egress)?;
        let http = crate::egress::client_builder(config.egress)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!(
                "learnbridge-connectors/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(MoodleError::Client)?;
        let permits = Semaphore::new(config.max_concurrency.max(1));
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                login_endpoint,
                auth,
                token: Mutex::new(None),
                config,
                permits,
                counts: std::array::from_fn(|_| AtomicU64::new(0)),
                logins: AtomicU64::new(0),
                legacy_grades: AtomicBool::new(false),
            }),
        })
    }

    pub fn config(&self) -> &MoodleConfig {
        &self.inner.config
    }

    /// HTTP requests sent so far, per function name (retries and batch splits
    /// each count), plus token exchanges under [`LOGIN_COUNT_KEY`]. Functions
    /// never called are left out.
    pub fn call_counts(&self) -> BTreeMap<&'static str, u64> {
        let mut counts: BTreeMap<&'static str, u64> = WsFunction::ALL
            .iter()
            .map(|f| {
                (
                    f.name(),
                    self.inner.counts[f.index()].load(Ordering::Relaxed),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        let logins = self.inner.logins.load(Ordering::Relaxed);
        if logins > 0 {
            counts.insert(LOGIN_COUNT_KEY, logins);
        }
        counts
    }

    /// Requests sent for one function.
    pub fn call_count(&self, function: WsFunction) -> u64 {
        self.inner.counts[function.index()].load(Ordering::Relaxed)
    }

    // ------------------------------------------------------------ transport

    /// The token to send: the connection's, or the one a password login
    /// gave (exchanged now if there is none yet).
    async fn token(&self) -> Result<SecretString, MoodleError> {
        match &self.inner.auth {
            MoodleAuth::Token(token) => Ok(token.clone()),
            MoodleAuth::Password {
                username,
                password,
                service,
            } => {
                let mut cached = self.inner.token.lock().await;
                if let Some(token) = cached.as_ref() {
                    return Ok(token.clone());
                }
                let token = self
                    .with_retry(Idempotency::Idempotent, || {
                        self.login(username, password, service)
                    })
                    .await?;
                *cached = Some(token.clone());
                Ok(token)
            }
        }
    }

    /// Forgets a password login's token that Moodle refused (`used`), so the
    /// next call exchanges the password again. Whether there is a login to redo.
    async fn forget_token(&self, used: &SecretString) -> bool {
        if !matches!(self.inner.auth, MoodleAuth::Password { .. }) {
            return false;
        }
        let mut cached = self.inner.token.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.expose_secret() == used.expose_secret())
        {
            *cached = None;
        }
        true
    }

    /// `login/token.php`: username, password and service in the POST body.
    async fn login(
        &self,
        username: &str,
        password: &SecretString,
        service: &str,
    ) -> Result<SecretString, MoodleError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("username", username)
            .append_pair("password", password.expose_secret())
            .append_pair("service", service)
            .finish();
        self.inner.logins.fetch_add(1, Ordering::Relaxed);
        let bytes = self.post(self.inner.login_endpoint.clone(), body).await?;
        let answer: TokenAnswer =
            serde_json::from_slice(&bytes).map_err(|source| MoodleError::Malformed {
                function: LOGIN_COUNT_KEY,
                excerpt: foreign_excerpt(&bytes),
                source,
            })?;
        match answer {
            TokenAnswer {
                token: Some(token), ..
            } if !token.is_empty() => Ok(SecretString::from(token)),
            TokenAnswer {
                error, errorcode, ..
            } => Err(MoodleError::Login {
                errorcode: errorcode.unwrap_or_else(|| "unknown".to_owned()),
                message: error.unwrap_or_else(|| "no token in Moodle's answer".to_owned()),
                service: service.to_owned(),
            }),
        }
    }

    /// One POST, holding a concurrency permit for its duration.
    async fn post(&self, url: Url, body: String) -> Result<bytes::Bytes, MoodleError> {
        let _permit = self.inner.permits.acquire().await.ok();
        let timeout = self.inner.config.timeout;
        let to_error = |e: reqwest::Error| {
            if let Some(refused) = crate::egress::refusal(&e) {
                MoodleError::Egress(refused.clone())
            } else if e.is_timeout() {
                MoodleError::Timeout {
                    after: timeout,
                    source: e,
                }
            } else {
                MoodleError::Transport {
                    connect: e.is_connect(),
                    source: e,
                }
            }
        };
        let response = self
            .inner
            .http
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(to_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(MoodleError::Http {
                status: status.as_u16(),
            });
        }
        response.bytes().await.map_err(to_error)
    }

    /// Runs `op` with the retry policy: transient errors only; for calls that
    /// are not idempotent, only when Moodle certainly did not run the call.
    ///
    /// Why creates are not retried after a timeout, a reset connection, a 500
    /// or a garbled answer: Moodle may have created the users or courses before
    /// the answer was lost, and a second `core_user_create_users` would then
    /// fail the whole batch with "username already exists" (or, for courses,
    /// "shortname taken"; for an import, copy the activities twice). Such an
    /// error goes back to the caller as retryable; the caller's next attempt
    /// (SQS redelivery) looks the records up by username/idnumber first and
    /// creates only those still missing. A refused connection, 429 and 503 mean
    /// the request never ran, so those are retried even for creates.
    async fn with_retry<T, F, Fut>(&self, idempotency: Idempotency, op: F) -> Result<T, MoodleError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, MoodleError>>,
    {
        let policy = self.inner.config.retry;
        if policy.max_retries == 0 {
            let mut op = op;
            return op().await;
        }
        let started = Instant::now();
        let backoff = ExponentialBuilder::default()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_retries)
            .with_total_delay(Some(policy.max_elapsed))
            .with_jitter();
        op.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e: &MoodleError| {
                e.is_retryable()
                    && (idempotency == Idempotency::Idempotent || e.certainly_not_executed())
                    && started.elapsed() < policy.max_elapsed
            })
            .notify(|e: &MoodleError, delay: Duration| {
                tracing::warn!(error = %e, ?delay, "transient Moodle failure; retrying");
            })
            .await
    }

    /// Calls a function with already-encoded parameters.
    pub(crate) async fn call_encoded<R: DeserializeOwned>(
        &self,
        function: WsFunction,
        params: &str,
    ) -> Result<R, MoodleError> {
        let started = Instant::now();
        let token = self.token().await?;
        let mut result = self.send_call(function, &token, params).await;
        // A password login's token was revoked or expired: exchange the
        // password again, once, and repeat the call (it never ran).
        if matches!(result, Err(MoodleError::InvalidToken { .. }))
            && self.forget_token(&token).await
        {
            let token = self.token().await?;
            result = self.send_call(function, &token, params).await;
        }
        match &result {
            Ok(_) => tracing::debug!(
                function = function.name(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "moodle call"
            ),
            Err(e) => {
                tracing::debug!(function = function.name(), retryable = e.is_retryable(), error = %e, "moodle call failed")
            }
        }
        result
    }

    async fn send_call<R: DeserializeOwned>(
        &self,
        function: WsFunction,
        token: &SecretString,
        params: &str,
    ) -> Result<R, MoodleError> {
        let body = form_body(token, function.name(), params);
        self.with_retry(function.idempotency(), || async {
            self.inner.counts[function.index()].fetch_add(1, Ordering::Relaxed);
            let bytes = self.post(self.inner.endpoint.clone(), body.clone()).await?;
            parse_answer::<R>(function, &bytes)
        })
        .await
    }

    /// Calls a function: parameters form-encoded, answer parsed or mapped to an error.
    pub async fn call<P: Serialize, R: DeserializeOwned>(
        &self,
        function: WsFunction,
        params: &P,
    ) -> Result<R, MoodleError> {
        let params = encode_params(function, params)?;
        self.call_encoded(function, &params).await
    }

    // ------------------------------------------------------------ site

    /// `core_webservice_get_site_info`.
    pub async fn site_info(&self) -> Result<SiteInfo, MoodleError> {
        self.call(WsFunction::GetSiteInfo, &NoParams {}).await
    }

    /// Test connection: the site's name, release and version, and which of the
    /// `required` functions (and of the [`OPTIONAL_FUNCTIONS`]) the token's
    /// service lacks, by name.
    /// `gradereport_user_get_grade_items` counts as present when the service
    /// has `core_grades_get_grades` instead (old sites).
    pub async fn test_connection(
        &self,
        required: &[&str],
    ) -> Result<ConnectionReport, MoodleError> {
        let info = self.site_info().await?;
        let missing_functions = required
            .iter()
            .filter(|name| {
                !info.has_function(name)
                    && !FALLBACKS
                        .iter()
                        .any(|(needed, instead)| needed == *name && info.has_function(instead))
            })
            .map(|name| (*name).to_owned())
            .collect();
        let missing_optional_functions = OPTIONAL_FUNCTIONS
            .iter()
            .filter(|(name, _)| !info.has_function(name))
            .map(|(name, _)| (*name).to_owned())
            .collect();
        let time_zone = if info.has_function(WsFunction::GetMobileConfig.name()) {
            match self.mobile_config("locationsettings").await {
                Ok(config) => config.time_zone(),
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => SiteTimeZone::Unreadable {
                    reason: e.to_string(),
                },
            }
        } else {
            SiteTimeZone::NotAllowed
        };
        Ok(ConnectionReport {
            site_name: info.sitename,
            site_url: info.siteurl,
            release: info.release,
            version: info.version,
            username: info.username,
            missing_functions,
            missing_optional_functions,
            time_zone,
        })
    }

    /// `tool_mobile_get_config` for one `section` (`locationsettings`: the
    /// site's `timezone` and `forcetimezone`).
    pub async fn mobile_config(&self, section: &str) -> Result<MobileConfig, MoodleError> {
        #[derive(Serialize)]
        struct Params<'a> {
            section: &'a str,
        }
        self.call(WsFunction::GetMobileConfig, &Params { section })
            .await
    }
}

/// Refuses the site course (id 1): no course call may touch it.
fn refuse_site(course: MoodleCourseId) -> Result<(), MoodleError> {
    if course.is_site() {
        Err(MoodleError::SiteCourse)
    } else {
        Ok(())
    }
}
