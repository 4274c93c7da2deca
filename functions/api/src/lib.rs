//! api: the HTTP API for the SMS and its admins.

pub mod api_keys;
pub mod config;
pub mod connections;
pub mod coursekey;
pub mod deliveries;
pub mod enrolments;
pub mod error;
pub mod handler;
pub mod json;
pub mod learners;
pub mod linking;
pub mod links;
pub mod lln;
pub mod mappings;
pub mod offerings;
pub mod openapi;
pub mod preview;
pub mod probe;
pub mod results;
pub mod router;
pub mod runs;
pub mod settings;

pub use config::Config;
pub use router::app;

use axum::extract::FromRef;
use domain::ports::{ApiKeyStore, ConnectionStore, RunStore, SecretError, SecretSource};
use secrecy::SecretString;
use std::sync::Arc;

/// Everything the routes need, built once per instance by [`AppState::from_aws`] (the
/// composition root: `main`, the local runner and the tests all call it) and handed to
/// handlers as axum `State`. Each handler takes the part it needs (`State<Deps>`,
/// `State<ResultsDeps>`, ...) through `FromRef`; only the request's tenant, which the
/// API key middleware resolves, travels as a request extension.
#[derive(Clone)]
pub struct AppState {
    pub deps: Deps,
    /// The results and mapping routes' store and grade sources.
    pub results: results::ResultsDeps,
    /// The CourseKey routes' adapters.
    pub coursekey: coursekey::CourseKeyApi,
    /// The LLN use cases.
    pub lln: lln::LlnRoutes,
}

impl AppState {
    /// The AWS adapters over the configured tables, queues and secrets, the Moodle
    /// gateways and the OCSAT / LLN Robot connector. Reads nothing and connects
    /// nowhere: the pepper is read by the first request that checks a key.
    pub fn from_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        let stores =
            cloud::Stores::build(&config.tables, &config.queues, config.run_history_days, sdk);
        let secrets = Arc::new(stores.secrets);
        let gateways = Arc::new(
            connectors::moodle_gateway::MoodleGateways::new(
                secrets.clone(),
                config.secret_prefix.clone(),
            )
            .with_egress(config.egress),
        );
        let mut deps = Deps {
            connections: Arc::new(stores.connections),
            runs: Arc::new(stores.runs),
            deliveries: Arc::new(stores.deliveries),
            tenants: Arc::new(stores.tenants),
            api_keys: Arc::new(stores.api_keys),
            pepper: Pepper::lazy(secrets.clone(), config.api_key_pepper_secret.clone()),
            sis: Arc::new(stores.sis),
            links: Arc::new(stores.links),
            queue: Arc::new(stores.queue),
            learning: gateways.clone(),
            secret_sink: secrets.clone(),
            secret_source: secrets,
            secret_prefix: config.secret_prefix.clone(),
            probe: Arc::new(probe::MoodleProbe::new(config.egress)),
            now: chrono::Utc::now,
            egress: config.egress,
        };
        let results = results::ResultsDeps {
            results: Arc::new(stores.results),
            grades: gateways,
        };
        let coursekey = coursekey::CourseKeyApi {
            connections: deps.connections.clone(),
            sis: deps.sis.clone(),
            attendance: Arc::new(stores.attendance),
            queue: deps.queue.clone(),
            tenants: deps.tenants.clone(),
            now: chrono::Utc::now,
        };
        // OCSAT / LLN Robot through the real connector; `deps.probe` then tests LLN
        // connections too.
        let lln = lln::wire(&mut deps, stores.lln);
        Self {
            deps,
            results,
            coursekey,
            lln,
        }
    }
}

impl FromRef<AppState> for Deps {
    fn from_ref(state: &AppState) -> Self {
        state.deps.clone()
    }
}

impl FromRef<AppState> for results::ResultsDeps {
    fn from_ref(state: &AppState) -> Self {
        state.results.clone()
    }
}

impl FromRef<AppState> for coursekey::CourseKeyApi {
    fn from_ref(state: &AppState) -> Self {
        state.coursekey.clone()
    }
}

impl FromRef<AppState> for lln::LlnRoutes {
    fn from_ref(state: &AppState) -> Self {
        state.lln.clone()
    }
}

/// The API key pepper. In Lambda it is read from Secrets Manager by the first request
/// that checks a key, then kept for the instance's life: init reads no secret, so a
/// cold start does not wait for Secrets Manager (and `/health` never does). A failed
/// read is not kept; the next request tries again.
#[derive(Clone)]
pub struct Pepper(Arc<PepperSource>);

enum PepperSource {
    Ready(SecretString),
    Lazy {
        secrets: Arc<dyn SecretSource>,
        name: String,
        value: tokio::sync::OnceCell<SecretString>,
    },
}

impl Pepper {
    /// The pepper stored under `name`, read when first needed.
    pub fn lazy(secrets: Arc<dyn SecretSource>, name: impl Into<String>) -> Self {
        Self(Arc::new(PepperSource::Lazy {
            secrets,
            name: name.into(),
            value: tokio::sync::OnceCell::new(),
        }))
    }

    /// The pepper, read now if this is the first time.
    pub async fn get(&self) -> Result<&SecretString, SecretError> {
        match self.0.as_ref() {
            PepperSource::Ready(value) => Ok(value),
            PepperSource::Lazy {
                secrets,
                name,
                value,
            } => value.get_or_try_init(|| secrets.secret(name)).await,
        }
    }
}

/// A pepper already read (tests, the local runner).
impl From<SecretString> for Pepper {
    fn from(value: SecretString) -> Self {
        Self(Arc::new(PepperSource::Ready(value)))
    }
}

/// What the routes need, built once per Lambda instance.
#[derive(Clone)]
pub struct Deps {
    pub connections: Arc<dyn ConnectionStore>,
    pub runs: Arc<dyn RunStore>,
    pub api_keys: Arc<dyn ApiKeyStore>,
    /// The key under which API keys are hashed (read at the first request).
    pub pepper: Pepper,
    /// Learners, offerings (with assessables) and enrolments.
    pub sis: Arc<dyn domain::ports::SisStore>,
    /// Course links and transfers.
    pub links: Arc<dyn domain::ports::LinkStore>,
    /// Where sync and push jobs go.
    pub queue: Arc<dyn domain::ports::JobQueue>,
    /// Writes connection secrets (write-only).
    pub secret_sink: Arc<dyn domain::ports::SecretSink>,
    /// Reads them back only to mask them and to test a connection.
    pub secret_source: Arc<dyn domain::ports::SecretSource>,
    /// `SECRET_PREFIX`: connection secrets live under it.
    pub secret_prefix: String,
    /// Tests connections (the Moodle site probe).
    pub probe: Arc<dyn app::connections::SiteProbe>,
    /// Moodle gateways per connection, for the transfer preview's look-ups.
    pub learning: Arc<dyn domain::ports::LearningSystems>,
    pub now: fn() -> chrono::DateTime<chrono::Utc>,
    /// Deliveries to the SMS and their attempts.
    pub deliveries: Arc<dyn domain::ports::DeliveryStore>,
    /// Each tenant's own settings (run history retention, run-error email).
    pub tenants: Arc<dyn domain::ports::TenantSettingsStore>,
    /// Which base URLs a connection may have (`LEARNBRIDGE_ALLOW_INTERNAL_URLS`):
    /// checked when a connection is saved; the connectors check again at connect time.
    pub egress: domain::egress::Egress,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use secrecy::ExposeSecret;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Counts reads; the first `fail` of them fail as an unavailable store would.
    struct Counting {
        reads: AtomicU32,
        fail: u32,
    }

    #[async_trait::async_trait]
    impl SecretSource for Counting {
        async fn secret(&self, name: &str) -> Result<SecretString, SecretError> {
            let n = self.reads.fetch_add(1, Ordering::SeqCst);
            if n < self.fail {
                return Err(SecretError::Unavailable("down".into()));
            }
            Ok(SecretString::from(format!("pepper of {name}")))
        }
    }

    #[tokio::test]
    async fn the_pepper_is_read_at_first_need_once_and_a_failed_read_is_tried_again() {
        let source = Arc::new(Counting {
            reads: AtomicU32::new(0),
            fail: 1,
        });
        let pepper = Pepper::lazy(source.clone(), "s/api-key-pepper");
        let copy = pepper.clone();
        assert_eq!(
            source.reads.load(Ordering::SeqCst),
            0,
            "nothing read at init"
        );
        assert!(pepper.get().await.is_err(), "the store is down");
        assert_eq!(
            copy.get().await.unwrap().expose_secret(),
            "pepper of s/api-key-pepper"
        );
        assert_eq!(
            pepper.get().await.unwrap().expose_secret(),
            "pepper of s/api-key-pepper"
        );
        assert_eq!(
            source.reads.load(Ordering::SeqCst),
            2,
            "one failed read, one good one, then kept"
        );
    }
}
