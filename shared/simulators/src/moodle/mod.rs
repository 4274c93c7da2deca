//! A Moodle 4.3 simulator: the REST web service server (`/webservice/rest/server.php`)
//! and `login/token.php`, with in-memory state, answering as a real Moodle does (see
//! `shared/connectors/tests/fixtures/moodle-samples/`), plus switches for latency,
//! failures and PHP's `max_input_vars`.
//!
//! Two recorded sites: [`MoodleSim::sample_site`] and [`MoodleSim::sample_site_sydney`].
//! Site settings: the time zone ([`MoodleSim::set_timezone`], reported by
//! `tool_mobile_get_config`), `recovergradesdefault`
//! ([`MoodleSim::set_recover_grades_default`]), debugging ([`MoodleSim::set_debug`]) and
//! a fixed clock ([`MoodleSim::set_now`]). What people do outside the web services:
//! grading ([`MoodleSim::set_grade`]), quiz attempts ([`MoodleSim::record_quiz_attempt`]),
//! completion ([`MoodleSim::set_activity_completion`], [`MoodleSim::run_completion_cron`]).
//! Services and logins: [`MoodleSim::add_service`], [`MoodleSim::set_password`],
//! [`MoodleSim::token_for`], [`MoodleSim::add_token`].
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};
//! let sim = MoodleSim::sample_site();
//! let server = sim.start().await?;
//! // POST {server.base_url}/webservice/rest/server.php with wstoken=SAMPLE_TOKEN ...
//! assert_eq!(sim.call_count("core_webservice_get_site_info"), 0);
//! # let _ = (server, SAMPLE_TOKEN); Ok(()) }
//! ```

pub mod error;
pub mod fixture;
mod functions;
mod http;
pub mod params;
mod xml;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub use error::MoodleError;
pub use fixture::{
    ActivityCompletion, Category, Course, CourseCompletion, CourseModule, CriteriaCompletion,
    CustomField, EnrolInstance, Grade, Login, MoodleFixture, QuizAttempt, RecoveredGrades, Role,
    RoleAssignment, SAMPLE_SERVICE_FUNCTIONS, SAMPLE_TOKEN, SYDNEY_ADMIN_PASSWORD,
    SYDNEY_SAMPLE_TOKEN, SYDNEY_USER_PASSWORD, Section, Service, SiteSettings, Token, User,
    UserEnrolment,
};
pub use functions::IMPLEMENTED as IMPLEMENTED_FUNCTIONS;

use crate::server::{self, RunningServer};
use http::{count_in_flight, rest, token_php};
use params::{PhpValue, build_tree, decode_pairs};

/// Fault injection and PHP limits, settable at any time.
#[derive(Debug, Clone, PartialEq)]
pub struct Switches {
    /// Added before every answer.
    pub latency: Duration,
    /// Share of calls (0..=1) answered by a transient HTTP 503 page (nothing is done).
    pub error_rate: f64,
    /// Share of calls that are carried out but whose answer hangs (see
    /// [`MoodleSim::set_hang`], 120 s by default), longer than any client timeout.
    pub timeout_rate: f64,
    /// Share of calls that are carried out but answered with truncated JSON.
    pub malformed_rate: f64,
    /// PHP's `max_input_vars`: form fields past it are silently dropped.
    pub max_input_vars: usize,
}

impl Default for Switches {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            error_rate: 0.0,
            timeout_rate: 0.0,
            malformed_rate: 0.0,
            max_input_vars: 5000,
        }
    }
}

/// One request received, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `wsfunction` (or `login/token.php`).
    pub function: String,
    /// The form fields as received (after `max_input_vars`), without `wstoken`,
    /// `wsfunction` and `moodlewsrestformat` (and without the password for token.php).
    pub params: Vec<(String, String)>,
    /// When it arrived.
    pub at: DateTime<Utc>,
}

impl Call {
    /// The value of one form field.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Inner {
    state: MoodleFixture,
    /// A fixed "now" (Unix time) for the site, or the real clock.
    clock: Option<i64>,
    switches: Switches,
    hang: Duration,
    calls: Vec<Call>,
    /// Set by [`MoodleSim::seed_faults`]: the fault switches draw from it, so a
    /// run's faults repeat for the same order of calls.
    faults_rng: Option<rand::rngs::StdRng>,
    /// Faults injected so far: HTTP 503s, hangs, truncated answers.
    faults: InjectedFaults,
}

/// Faults the switches injected since the start.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct InjectedFaults {
    pub unavailable: usize,
    pub hangs: usize,
    pub malformed: usize,
}

/// Requests being answered at once, and the most seen at once: what a site's
/// web server would show under load (a client's concurrency bound, measured
/// from the site's side).
#[derive(Debug, Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
    /// When each request arrived and was answered: the site's busy time.
    served: Mutex<Vec<BusyInterval>>,
}

/// One request as the site served it: from its arrival to its answer (or
/// its cancellation), latency included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyInterval {
    pub arrived: std::time::Instant,
    pub answered: std::time::Instant,
}

/// Counts one request from its arrival to its answer (or its cancellation).
struct InFlightGuard<'a>(&'a InFlight, std::time::Instant);

impl InFlight {
    fn enter(&self) -> InFlightGuard<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        InFlightGuard(self, std::time::Instant::now())
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
        let interval = BusyInterval {
            arrived: self.1,
            answered: std::time::Instant::now(),
        };
        self.0
            .served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(interval);
    }
}

/// The simulator. Cheap to clone: clones share the same site.
#[derive(Clone)]
pub struct MoodleSim {
    inner: Arc<Mutex<Inner>>,
    in_flight: Arc<InFlight>,
}

impl std::fmt::Debug for MoodleSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoodleSim").finish_non_exhaustive()
    }
}

const META: &[&str] = &["wstoken", "wsfunction", "moodlewsrestformat"];

impl MoodleSim {
    pub fn new(fixture: MoodleFixture) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                state: fixture,
                clock: None,
                switches: Switches::default(),
                hang: Duration::from_secs(120),
                calls: Vec::new(),
                faults_rng: None,
                faults: InjectedFaults::default(),
            })),
            in_flight: Arc::new(InFlight::default()),
        }
    }

    /// The site recorded in `shared/moodle-samples/` (course 2 OCC-1001, users 3..6, the samples' token).
    pub fn sample_site() -> Self {
        Self::new(MoodleFixture::sample_site())
    }

    /// The second recorded site (samples on `127.0.0.1:8880`): time zone
    /// Australia/Sydney, course 7 `SMP-4001`, users 6 and 310..=313, a `learnbridge`
    /// service restricted to the admin (see [`MoodleFixture::sample_site_sydney`]).
    pub fn sample_site_sydney() -> Self {
        Self::new(MoodleFixture::sample_site_sydney())
    }

    /// A site from a JSON fixture (missing fields take an empty site's defaults).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        Ok(Self::new(serde_json::from_str(json)?))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `POST /webservice/rest/server.php` and `POST /login/token.php`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/webservice/rest/server.php", any(rest))
            .route("/login/token.php", post(token_php).get(token_php))
            .with_state(self.clone())
            .layer(middleware::from_fn_with_state(
                self.clone(),
                count_in_flight,
            ))
    }

    /// Serves the simulator on a free port of 127.0.0.1.
    pub async fn start(&self) -> std::io::Result<RunningServer> {
        server::serve(self.router()).await
    }

    pub fn set_switches(&self, s: Switches) {
        self.lock().switches = s;
    }

    pub fn switches(&self) -> Switches {
        self.lock().switches.clone()
    }

    /// How long a "timed out" answer hangs (120 s by default).
    pub fn set_hang(&self, hang: Duration) {
        self.lock().hang = hang;
    }

    /// Draws the fault switches from a generator seeded with `seed` instead of
    /// the thread's random source: the same calls in the same order meet the
    /// same faults.
    pub fn seed_faults(&self, seed: u64) {
        use rand::SeedableRng;
        self.lock().faults_rng = Some(rand::rngs::StdRng::seed_from_u64(seed));
    }

    /// The faults injected so far.
    pub fn injected_faults(&self) -> InjectedFaults {
        self.lock().faults
    }

    /// Whether a fault of `kind` (at `rate`) hits this call; counted when it does.
    fn fault(&self, rate: f64, kind: Fault) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let mut inner = self.lock();
        let roll = match inner.faults_rng.as_mut() {
            Some(rng) => rand::Rng::random::<f64>(rng),
            None => rand::random::<f64>(),
        };
        let hit = roll < rate;
        if hit {
            let f = &mut inner.faults;
            match kind {
                Fault::Unavailable => f.unavailable += 1,
                Fault::Hang => f.hangs += 1,
                Fault::Malformed => f.malformed += 1,
            }
        }
        hit
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Requests received for a function (including failed and fault-injected ones).
    pub fn call_count(&self, function: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.function == function)
            .count()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// HTTP requests being answered right now (latency included).
    pub fn in_flight(&self) -> usize {
        self.in_flight.now.load(Ordering::SeqCst)
    }

    /// The most HTTP requests answered at once since the start (or the last
    /// [`MoodleSim::reset_max_in_flight`]).
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.max.load(Ordering::SeqCst)
    }

    /// Every request answered since the start (or the last
    /// [`MoodleSim::clear_busy`]), from arrival to answer, in the order answered.
    pub fn busy_intervals(&self) -> Vec<BusyInterval> {
        self.in_flight
            .served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets the requests answered so far (see [`MoodleSim::busy_intervals`]).
    pub fn clear_busy(&self) {
        self.in_flight
            .served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Starts a new measurement of [`MoodleSim::max_in_flight`] from the requests in flight now.
    pub fn reset_max_in_flight(&self) {
        self.in_flight
            .max
            .store(self.in_flight.now.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// A token (of the admin user) for a new service with these functions.
    pub fn add_token(&self, token: &str, functions: &[&str]) {
        let mut inner = self.lock();
        let st = &mut inner.state;
        let shortname = format!("sim_service_{}", st.services.len() + 1);
        st.services.push(Service::new(&shortname, functions));
        st.tokens.retain(|t| t.token != token);
        st.tokens.push(Token {
            token: token.to_owned(),
            userid: 2,
            service: shortname,
        });
    }

    /// Lets `login/token.php` exchange username/password for `token` of `service`. If the
    /// token is new it belongs to that service (created with every implemented function
    /// if it does not exist).
    pub fn add_login(&self, username: &str, password: &str, service: &str, token: &str) {
        let mut inner = self.lock();
        let st = &mut inner.state;
        st.logins.push(Login {
            username: username.to_owned(),
            password: password.to_owned(),
            service: service.to_owned(),
            token: token.to_owned(),
        });
        if !st.services.iter().any(|s| s.shortname == service) {
            st.services
                .push(Service::new(service, functions::IMPLEMENTED));
        }
        if !st.tokens.iter().any(|t| t.token == token) {
            let userid = st
                .users
                .iter()
                .find(|u| u.username == username && !u.deleted)
                .map_or(2, |u| u.id);
            st.tokens.push(Token {
                token: token.to_owned(),
                userid,
                service: service.to_owned(),
            });
        }
    }

    /// Adds (or replaces, by short name) an external service: its functions, whether it
    /// is enabled and restricted to authorised users. `login/token.php` issues tokens
    /// for it.
    ///
    /// ```
    /// use simulators::moodle::{MoodleSim, Service};
    /// let sim = MoodleSim::sample_site_sydney();
    /// sim.add_service(Service::new("reports", &["core_webservice_get_site_info"]).restricted_to(&[2]));
    /// ```
    pub fn add_service(&self, service: Service) {
        let mut inner = self.lock();
        let services = &mut inner.state.services;
        services.retain(|s| s.shortname != service.shortname);
        services.push(service);
    }

    /// Sets a user's password (the one `login/token.php` checks). False when no such
    /// (undeleted) user.
    pub fn set_password(&self, username: &str, password: &str) -> bool {
        let mut inner = self.lock();
        match inner
            .state
            .users
            .iter_mut()
            .find(|u| !u.deleted && u.username == username)
        {
            Some(u) => {
                u.password = password.to_owned();
                true
            }
            None => false,
        }
    }

    /// A user's token for a service, issuing one as `login/token.php` would when there is
    /// none yet (no checks of password or service).
    pub fn token_for(&self, userid: i64, service: &str) -> String {
        let mut inner = self.lock();
        issue_token(&mut inner.state, userid, service)
    }

    /// The site's time zone (`$CFG->timezone`, what `tool_mobile_get_config` reports).
    pub fn timezone(&self) -> String {
        self.lock().state.site.timezone.clone()
    }

    /// Sets the site's time zone: an IANA name (`Australia/Sydney`), refused when unknown.
    pub fn set_timezone(&self, zone: &str) -> Result<(), UnknownTimeZone> {
        let zone = check_timezone(zone)?;
        self.lock().state.site.timezone = zone;
        Ok(())
    }

    /// `$CFG->recovergradesdefault`: whether re-enrolling restores the grades deleted at
    /// the last unenrolment (off by default, as in Moodle).
    pub fn set_recover_grades_default(&self, on: bool) {
        self.lock().state.site.recovergradesdefault = on;
    }

    /// Fixes the site's clock at a Unix time (what it records as "now": unenrolment,
    /// enrolment and recovery times), or back to the real clock with `None`.
    pub fn set_now(&self, now: Option<i64>) {
        self.lock().clock = now;
    }

    /// The site's "now" (Unix time).
    pub fn now(&self) -> i64 {
        self.lock().now()
    }

    /// A user finishes an attempt at a quiz (by cmid) with this grade (on the quiz's
    /// scale), as a student would. With grading method highest (Moodle's default) the
    /// gradebook shows the best attempt's grade with the latest attempt's submission and
    /// grading dates, and grade-based completion follows at `timefinish` (3 complete-fail
    /// -> 2 complete-pass moves `timecompleted`). Returns the attempt number.
    pub fn record_quiz_attempt(
        &self,
        userid: i64,
        cmid: i64,
        grade: f64,
        timestart: i64,
        timefinish: i64,
    ) -> i64 {
        let mut inner = self.lock();
        functions::record_quiz_attempt(
            &mut inner.state,
            QuizAttempt {
                cmid,
                userid,
                attempt: 0,
                grade,
                timestart,
                timefinish,
            },
        )
    }

    /// Grades a user in an activity (None: no grade) as a teacher would; grade-based
    /// activity completion follows at once, course completion only with the cron.
    pub fn set_grade(&self, userid: i64, cmid: i64, grade: Option<f64>, at: i64) {
        let mut inner = self.lock();
        let st = &mut inner.state;
        functions::regraded(st, userid, cmid);
        match st
            .grades
            .iter_mut()
            .find(|g| g.cmid == cmid && g.userid == userid)
        {
            Some(g) => {
                g.grade = grade;
                g.timegraded = at;
            }
            None => st.grades.push(Grade {
                cmid,
                userid,
                grade,
                feedback: String::new(),
                timegraded: at,
                timesubmitted: None,
            }),
        }
        functions::update_completion_from_grade(st, userid, cmid, at);
    }

    /// Sets a user's completion state of an activity (0..=3).
    pub fn set_activity_completion(&self, userid: i64, cmid: i64, state: u8, at: i64) {
        let mut inner = self.lock();
        match inner
            .state
            .activity_completions
            .iter_mut()
            .find(|a| a.cmid == cmid && a.userid == userid)
        {
            Some(a) => {
                a.state = state;
                a.timemodified = at;
            }
            None => inner.state.activity_completions.push(ActivityCompletion {
                cmid,
                userid,
                state,
                timemodified: at,
            }),
        }
    }

    /// The user opens the course (or an activity in it) at `at`: Moodle's
    /// `user_lastaccess`, which `core_enrol_get_enrolled_users` returns as
    /// `lastcourseaccess`.
    pub fn access_course(&self, userid: i64, courseid: i64, at: i64) {
        let mut inner = self.lock();
        let all = &mut inner.state.user_lastaccess;
        match all
            .iter_mut()
            .find(|a| a.userid == userid && a.courseid == courseid)
        {
            Some(a) => a.timeaccess = a.timeaccess.max(at),
            None => all.push(fixture::CourseAccess {
                userid,
                courseid,
                timeaccess: at,
            }),
        }
    }

    /// Moodle's completion cron: aggregates activity completion into course completion.
    pub fn run_completion_cron(&self) {
        let mut inner = self.lock();
        let now = inner.now();
        functions::run_completion_cron(&mut inner.state, now);
    }

    /// The current state.
    pub fn snapshot(&self) -> MoodleFixture {
        self.lock().state.clone()
    }

    /// Changes the state directly (suspend a user, drop an enrol instance, change settings, ...).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut MoodleFixture) -> R) -> R {
        f(&mut self.lock().state)
    }

    /// Turns `$CFG->debug` on or off (errors then carry `debuginfo`).
    pub fn set_debug(&self, on: bool) {
        self.lock().state.site.debug = on;
    }

    /// Runs one web service call in-process, as the REST server would after parsing the
    /// form (no switches, no call log).
    pub fn execute(
        &self,
        token: &str,
        function: &str,
        form: &[(String, String)],
    ) -> Result<Value, MoodleError> {
        let tree: Vec<(String, PhpValue)> = build_tree(form)
            .into_iter()
            .filter(|(k, _)| !META.contains(&k.as_str()))
            .collect();
        self.run(token, function, &tree)
    }

    fn run(
        &self,
        token: &str,
        function: &str,
        params: &[(String, PhpValue)],
    ) -> Result<Value, MoodleError> {
        let mut inner = self.lock();
        let now = inner.now();
        let st = &inner.state;
        let tok = st
            .tokens
            .iter()
            .find(|t| !token.is_empty() && t.token == token)
            .cloned()
            .ok_or_else(MoodleError::invalid_token)?;
        if !functions::exists(function, st.site.old_site) {
            return Err(MoodleError::missing_record("external_functions"));
        }
        let service_functions = st
            .services
            .iter()
            .find(|s| s.shortname == tok.service)
            .map(|s| s.functions.clone())
            .unwrap_or_default();
        if !service_functions.iter().any(|f| f == function) {
            return Err(MoodleError::access_exception());
        }
        let (desc, handler) = functions::lookup(function).ok_or_else(|| {
            MoodleError::moodle(
                "notimplemented",
                format!("The Moodle simulator does not implement {function}"),
            )
        })?;
        let validated = params::validate_single(&desc(), params, st.site.extendedusernamechars)?;
        let mut draft = inner.state.clone();
        let mut ctx = functions::Ctx {
            st: &mut draft,
            me: tok.userid,
            service_functions,
            now,
        };
        let out = handler(&mut ctx, &validated)?;
        inner.state = draft;
        Ok(out)
    }

    fn log(&self, function: &str, params: Vec<(String, String)>) {
        self.lock().calls.push(Call {
            function: function.to_owned(),
            params,
            at: Utc::now(),
        });
    }

    /// `login/token.php`: the user's token for the service, or Moodle's errorcode and message.
    fn login(
        &self,
        username: &str,
        password: &str,
        service: &str,
    ) -> Result<String, (&'static str, String)> {
        let invalid = || ("invalidlogin", "Invalid login, please try again".to_owned());
        let no_service = || {
            (
                "servicenotavailable",
                "Web service is not available. (It doesn't exist or might be disabled.)".to_owned(),
            )
        };
        let mut inner = self.lock();
        let st = &mut inner.state;
        // Logins added with `add_login` map straight to their token.
        let logins: Vec<&Login> = st
            .logins
            .iter()
            .filter(|l| l.username.to_lowercase() == username && l.password == password)
            .collect();
        if let Some(l) = logins.iter().find(|l| l.service == service) {
            return Ok(l.token.clone());
        }
        if !logins.is_empty() {
            return Err(no_service());
        }
        let user = st
            .users
            .iter()
            .find(|u| {
                !u.deleted
                    && u.username == username
                    && !u.password.is_empty()
                    && u.password == password
            })
            .ok_or_else(invalid)?;
        if user.suspended || user.auth == "nologin" {
            return Err(invalid());
        }
        let userid = user.id;
        let svc = st
            .services
            .iter()
            .find(|s| s.shortname == service && s.enabled)
            .ok_or_else(no_service)?;
        if svc.restricted && !svc.authorised_users.contains(&userid) {
            return Err((
                "usernotallowed",
                format!(
                    "The user is not allowed for this service. First you need to allow this user on the {service}'s allowed users administration page."
                ),
            ));
        }
        Ok(issue_token(st, userid, service))
    }
}

/// The user's permanent token for the service, made when there is none.
fn issue_token(st: &mut MoodleFixture, userid: i64, service: &str) -> String {
    if let Some(t) = st
        .tokens
        .iter()
        .find(|t| t.userid == userid && t.service == service)
    {
        return t.token.clone();
    }
    let token = format!("{:032x}", rand::random::<u128>());
    st.tokens.push(Token {
        token: token.clone(),
        userid,
        service: service.to_owned(),
    });
    token
}

impl Inner {
    fn now(&self) -> i64 {
        self.clock.unwrap_or_else(|| Utc::now().timestamp())
    }
}

/// A time zone name that is not in the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}: give an IANA name such as Australia/Sydney")]
pub struct UnknownTimeZone(pub String);

/// The zone's canonical IANA name, or the error naming what was given.
pub fn check_timezone(zone: &str) -> Result<String, UnknownTimeZone> {
    zone.parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| UnknownTimeZone(zone.to_owned()))
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Unavailable,
    Hang,
    Malformed,
}

#[cfg(test)]
mod in_flight_tests;
