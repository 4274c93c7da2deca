//! coursekey-webhook: CourseKey POSTs attendance here. Verify, store, enqueue,
//! answer 2xx fast; processing happens off the request path (results-fetch).

pub mod config;
pub mod handler;

pub use config::Config;
pub use handler::app;

use domain::ports::SecretSource;
use domain::ports::{AttendanceInbox, ConnectionStore, JobQueue};
use std::sync::Arc;

/// What the route needs, built once per Lambda instance.
#[derive(Clone)]
pub struct Deps {
    pub connections: Arc<dyn ConnectionStore>,
    pub secrets: Arc<dyn SecretSource>,
    pub inbox: Arc<dyn AttendanceInbox>,
    pub queue: Arc<dyn JobQueue>,
    /// `${StackName}/connections`: where connection secrets live.
    pub secret_prefix: String,
    /// The clock, passed in so signature tolerance is testable.
    pub now: fn() -> chrono::DateTime<chrono::Utc>,
}

impl Deps {
    /// The composition root: the AWS adapters over the configured table, queue and
    /// secrets. `main`, the local runner (devstack) and the tests all build it here
    /// and serve [`app`] over it.
    pub fn from_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        // The webhook starts no run: the retention is the default, unused.
        let stores = cloud::Stores::build(
            &config.tables,
            &config.queues,
            cloud::config::DEFAULT_RUN_HISTORY_DAYS,
            sdk,
        );
        Self {
            connections: Arc::new(stores.connections),
            secrets: Arc::new(stores.secrets),
            inbox: Arc::new(stores.inbox),
            queue: Arc::new(stores.queue),
            secret_prefix: config.secret_prefix.clone(),
            now: chrono::Utc::now,
        }
    }
}
