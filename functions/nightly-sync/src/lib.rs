//! nightly-sync: the nightly schedule starts one run per enabled connection;
//! the CourseKey roster tick (every minute) queues the roster pushes that are due.

pub mod config;
pub mod handler;

pub use config::Config;

use domain::ports::{
    AttendanceStore, ConnectionStore, JobQueue, RunStore, SisStore, TenantSettingsStore,
};
use std::sync::Arc;

/// What the handler needs, built once per Lambda instance.
#[derive(Clone)]
pub struct Deps {
    pub connections: Arc<dyn ConnectionStore>,
    pub runs: Arc<dyn RunStore>,
    pub queue: Arc<dyn JobQueue>,
    /// The CourseKey roster tick: marked offerings and each connection's last tick.
    pub attendance: Arc<dyn AttendanceStore>,
    /// The offerings' dates, for the tick's sync window.
    pub sis: Arc<dyn SisStore>,
    /// Each tenant's run history retention.
    pub tenants: Arc<dyn TenantSettingsStore>,
}

impl Deps {
    /// The composition root: the AWS adapters over the configured tables and
    /// queue. `main`, the local runner (devstack) and the tests all build it here.
    pub fn from_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        let stores =
            cloud::Stores::build(&config.tables, &config.queues, config.run_history_days, sdk);
        Self {
            connections: Arc::new(stores.connections),
            runs: Arc::new(stores.runs),
            queue: Arc::new(stores.queue),
            attendance: Arc::new(stores.attendance),
            sis: Arc::new(stores.sis),
            tenants: Arc::new(stores.tenants),
        }
    }
}
