//! The client: transport, authentication, retries, concurrency and call counts,
//! and one typed method per web service function.

use super::batch::{self, BatchOutcome};
use super::error::{MoodleError, MoodleException};
use super::functions::{FALLBACKS, Idempotency, OPTIONAL_FUNCTIONS, WsFunction};
use super::ids::{CourseModuleId, MoodleCourseId, MoodleUserId};
use super::types::*;
use crate::egress::Egress;
use backon::{ExponentialBuilder, Retryable};
use secrecy::{ExposeSecret, SecretString};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Semaphore};
use url::Url;

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

    // ------------------------------------------------------------ categories and courses

    /// `core_course_get_categories`; no criteria means every category.
    pub async fn categories(&self, criteria: Vec<Criterion>) -> Result<Vec<Category>, MoodleError> {
        let request = GetCategoriesRequest {
            criteria,
            addsubcategories: None,
        };
        self.call(WsFunction::GetCategories, &request).await
    }

    /// The category with this idnumber, if any.
    pub async fn category_by_idnumber(
        &self,
        idnumber: &str,
    ) -> Result<Option<Category>, MoodleError> {
        let found = self
            .categories(vec![Criterion::new("idnumber", idnumber)])
            .await?;
        Ok(found.into_iter().next())
    }

    /// `core_course_get_courses_by_field`; `None` lists every course. The site
    /// course is removed from the answer.
    pub async fn courses_by_field(
        &self,
        search: Option<(CourseField, &str)>,
    ) -> Result<CoursesByField, MoodleError> {
        let request = match search {
            Some((field, value)) => GetCoursesByFieldRequest {
                field: Some(field.name().to_owned()),
                value: Some(value.to_owned()),
            },
            None => GetCoursesByFieldRequest::default(),
        };
        let mut answer: CoursesByField = self.call(WsFunction::GetCoursesByField, &request).await?;
        answer.courses.retain(|c| !c.is_site());
        Ok(answer)
    }

    /// The course with this idnumber (how an offering finds its linked course).
    pub async fn course_by_idnumber(
        &self,
        idnumber: &str,
    ) -> Result<Option<CourseSummary>, MoodleError> {
        let answer = self
            .courses_by_field(Some((CourseField::Idnumber, idnumber)))
            .await?;
        Ok(answer.courses.into_iter().next())
    }

    /// `core_course_get_courses`; no ids means every course. Never includes the site course.
    pub async fn courses(&self, ids: &[MoodleCourseId]) -> Result<Vec<Course>, MoodleError> {
        let request = GetCoursesRequest {
            options: GetCoursesOptions {
                ids: ids.iter().copied().filter(|c| !c.is_site()).collect(),
            },
        };
        if !ids.is_empty() && request.options.ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut courses: Vec<Course> = self.call(WsFunction::GetCourses, &request).await?;
        courses.retain(|c| !c.is_site());
        Ok(courses)
    }

    /// `core_course_get_contents`: sections and their modules.
    pub async fn course_contents(
        &self,
        course: MoodleCourseId,
    ) -> Result<Vec<CourseSection>, MoodleError> {
        refuse_site(course)?;
        self.call(
            WsFunction::GetContents,
            &GetContentsRequest {
                courseid: course,
                options: Vec::new(),
            },
        )
        .await
    }

    /// `core_course_get_course_module`: idnumber, completion and pass grade of one activity.
    pub async fn course_module(
        &self,
        cmid: CourseModuleId,
    ) -> Result<CourseModuleResponse, MoodleError> {
        self.call(
            WsFunction::GetCourseModule,
            &GetCourseModuleRequest { cmid },
        )
        .await
    }

    /// `core_course_create_courses`, chunked, bad records isolated.
    pub async fn create_courses(&self, courses: &[NewCourse]) -> BatchOutcome<CreatedCourse> {
        self.run_batch::<batch::CreateCourses>(courses).await
    }

    /// `core_course_update_courses`; per-course warnings become that course's failure.
    pub async fn update_courses(&self, updates: &[CourseUpdate]) -> BatchOutcome<()> {
        self.run_batch::<batch::UpdateCourses>(updates).await
    }

    /// `core_course_import_course`: copies the activities of `from` into `to`.
    /// Not retried unless certainly not run: a repeat would copy them twice.
    pub async fn import_course(
        &self,
        from: MoodleCourseId,
        to: MoodleCourseId,
        delete_content: bool,
    ) -> Result<(), MoodleError> {
        refuse_site(from)?;
        refuse_site(to)?;
        let request = ImportCourseRequest {
            importfrom: from,
            importto: to,
            deletecontent: delete_content,
            options: Vec::new(),
        };
        let _: IgnoredAny = self.call(WsFunction::ImportCourse, &request).await?;
        Ok(())
    }

    // ------------------------------------------------------------ users

    /// `core_user_get_users`: users matching every criterion.
    pub async fn users(&self, criteria: &[Criterion]) -> Result<UsersResponse, MoodleError> {
        self.call(
            WsFunction::GetUsers,
            &GetUsersRequest {
                criteria: criteria.to_vec(),
            },
        )
        .await
    }

    /// `core_user_get_users_by_field`, chunked by the batch size. Empty input, no call.
    pub async fn users_by_field(
        &self,
        field: UserField,
        values: &[String],
    ) -> Result<Vec<User>, MoodleError> {
        let mut users = Vec::new();
        let size = self
            .inner
            .config
            .batch_size
            .clamp(1, self.inner.config.max_input_vars.saturating_sub(4).max(1));
        // The chunks side by side: the permits bound the calls in flight.
        let requests: Vec<GetUsersByFieldRequest> = values
            .chunks(size)
            .map(|chunk| GetUsersByFieldRequest {
                field: field.name().to_owned(),
                values: chunk.to_vec(),
            })
            .collect();
        let found: Vec<Vec<User>> = futures::future::try_join_all(
            requests
                .iter()
                .map(|request| self.call(WsFunction::GetUsersByField, request)),
        )
        .await?;
        users.extend(found.into_iter().flatten());
        Ok(users)
    }

    /// `core_user_create_users`, chunked, bad records isolated.
    pub async fn create_users(&self, users: &[NewUser]) -> BatchOutcome<CreatedUser> {
        self.run_batch::<batch::CreateUsers>(users).await
    }

    /// `core_user_update_users`; per-user warnings become that user's failure.
    pub async fn update_users(&self, updates: &[UserUpdate]) -> BatchOutcome<()> {
        self.run_batch::<batch::UpdateUsers>(updates).await
    }

    // ------------------------------------------------------------ enrolments

    /// `core_enrol_get_enrolled_users`, with options such as
    /// `NameValue::new("userfields", "id,username,idnumber,email")`.
    pub async fn enrolled_users(
        &self,
        course: MoodleCourseId,
        options: &[NameValue],
    ) -> Result<Vec<EnrolledUser>, MoodleError> {
        refuse_site(course)?;
        let request = GetEnrolledUsersRequest {
            courseid: course,
            options: options.to_vec(),
        };
        self.call(WsFunction::GetEnrolledUsers, &request).await
    }

    /// `core_enrol_get_users_courses`: a user's courses with progress and completion.
    pub async fn users_courses(&self, user: MoodleUserId) -> Result<Vec<UserCourse>, MoodleError> {
        let mut courses: Vec<UserCourse> = self
            .call(
                WsFunction::GetUsersCourses,
                &GetUsersCoursesRequest {
                    userid: user,
                    returnusercount: None,
                },
            )
            .await?;
        courses.retain(|c| !c.is_site());
        Ok(courses)
    }

    /// `enrol_manual_enrol_users`, chunked, bad records isolated. Re-enrolling is a no-op.
    pub async fn enrol(&self, enrolments: &[Enrolment]) -> BatchOutcome<()> {
        self.run_batch::<batch::Enrol>(enrolments).await
    }

    /// `enrol_manual_unenrol_users`, chunked, bad records isolated. Unenrolling a
    /// non-member is a no-op. Read results and completion first.
    pub async fn unenrol(&self, unenrolments: &[Unenrolment]) -> BatchOutcome<()> {
        self.run_batch::<batch::Unenrol>(unenrolments).await
    }

    // ------------------------------------------------------------ grades and completion

    /// `gradereport_user_get_grade_items`; `user: None` asks for every graded user (`userid=0`).
    pub async fn grade_items(
        &self,
        course: MoodleCourseId,
        user: Option<MoodleUserId>,
    ) -> Result<GradeItemsResponse, MoodleError> {
        refuse_site(course)?;
        let request = GetGradeItemsRequest {
            courseid: course,
            userid: Some(user.unwrap_or(MoodleUserId(0))),
            groupid: None,
        };
        self.call(WsFunction::GetGradeItems, &request).await
    }

    /// `core_grades_get_grades`: only for old sites (gone in Moodle 4.x).
    pub async fn legacy_grades(
        &self,
        course: MoodleCourseId,
        users: &[MoodleUserId],
    ) -> Result<LegacyGradesResponse, MoodleError> {
        refuse_site(course)?;
        let request = LegacyGetGradesRequest {
            courseid: course,
            component: None,
            activityid: None,
            userids: users.to_vec(),
        };
        self.call(WsFunction::LegacyGetGrades, &request).await
    }

    /// Grades of a course (one learner, or all with `None`), from
    /// `gradereport_user_get_grade_items`, or from `core_grades_get_grades` when
    /// the site's service lacks the former (remembered for this client).
    pub async fn course_grades(
        &self,
        course: MoodleCourseId,
        user: Option<MoodleUserId>,
    ) -> Result<CourseGrades, MoodleError> {
        if !self.inner.legacy_grades.load(Ordering::Relaxed) {
            match self.grade_items(course, user).await {
                Ok(answer) => {
                    return Ok(CourseGrades {
                        learners: answer
                            .usergrades
                            .into_iter()
                            .map(LearnerGrades::from)
                            .collect(),
                        warnings: answer.warnings,
                        source: WsFunction::GetGradeItems,
                    });
                }
                Err(
                    e @ (MoodleError::FunctionNotInService { .. }
                    | MoodleError::UnknownFunction { .. }),
                ) => {
                    return self.legacy_course_grades(course, user, e).await;
                }
                Err(e) => return Err(e),
            }
        }
        let missing = MoodleError::FunctionNotInService {
            function: WsFunction::GetGradeItems.name().to_owned(),
            message: "not in the token's service".to_owned(),
            debuginfo: None,
        };
        self.legacy_course_grades(course, user, missing).await
    }

    async fn legacy_course_grades(
        &self,
        course: MoodleCourseId,
        user: Option<MoodleUserId>,
        why: MoodleError,
    ) -> Result<CourseGrades, MoodleError> {
        let users: Vec<MoodleUserId> = match user {
            Some(u) => vec![u],
            None => self
                .enrolled_users(course, &[NameValue::new("userfields", "id")])
                .await?
                .into_iter()
                .map(|u| u.id)
                .collect(),
        };
        let mut learners = Vec::new();
        for chunk in users.chunks(self.inner.config.batch_size.max(1)) {
            match self.legacy_grades(course, chunk).await {
                Ok(answer) => learners.extend(legacy_to_learners(answer)),
                // The old function is not there either: the grade report's absence is the news.
                Err(
                    MoodleError::FunctionNotInService { .. } | MoodleError::UnknownFunction { .. },
                ) => {
                    self.inner.legacy_grades.store(false, Ordering::Relaxed);
                    return Err(why);
                }
                Err(e) => return Err(e),
            }
            self.inner.legacy_grades.store(true, Ordering::Relaxed);
        }
        Ok(CourseGrades {
            learners,
            warnings: Vec::new(),
            source: WsFunction::LegacyGetGrades,
        })
    }

    /// `core_completion_get_activities_completion_status`.
    pub async fn activities_completion(
        &self,
        course: MoodleCourseId,
        user: MoodleUserId,
    ) -> Result<ActivitiesCompletion, MoodleError> {
        refuse_site(course)?;
        self.call(
            WsFunction::GetActivitiesCompletionStatus,
            &CompletionRequest {
                courseid: course,
                userid: user,
            },
        )
        .await
    }

    /// `core_completion_get_course_completion_status` (lags grades until Moodle's cron runs).
    pub async fn course_completion(
        &self,
        course: MoodleCourseId,
        user: MoodleUserId,
    ) -> Result<CourseCompletionResponse, MoodleError> {
        refuse_site(course)?;
        self.call(
            WsFunction::GetCourseCompletionStatus,
            &CompletionRequest {
                courseid: course,
                userid: user,
            },
        )
        .await
    }
}

/// A course's grades, with the function they came from and Moodle's warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct CourseGrades {
    pub learners: Vec<LearnerGrades>,
    pub warnings: Vec<MoodleWarning>,
    pub source: WsFunction,
}

fn refuse_site(course: MoodleCourseId) -> Result<(), MoodleError> {
    if course.is_site() {
        Err(MoodleError::SiteCourse)
    } else {
        Ok(())
    }
}
