//! results-fetch: consumes its SQS queue (see docs/architecture.md).

pub mod attendance;
pub mod handler;
pub mod results;

use domain::ports::{ConnectionStore, JobQueue, Mailer, RunStore, TenantSettingsStore};
use std::sync::Arc;

/// What the handler needs, built once per Lambda instance.
#[derive(Clone)]
pub struct Deps {
    pub connections: Arc<dyn ConnectionStore>,
    pub runs: Arc<dyn RunStore>,
    pub queue: Arc<dyn JobQueue>,
    /// Sends the run-error email.
    pub mailer: Arc<dyn Mailer>,
    /// The tenants' run-error email template.
    pub tenants: Arc<dyn TenantSettingsStore>,
    /// CourseKey attendance processing's adapters.
    pub attendance: attendance::AttendanceDeps,
    /// The results download's adapters.
    pub results: results::ResultsDeps,
}

impl Deps {
    /// The job pipeline (leases, runs, retries, the run-error email) over these stores.
    pub fn pipeline(&self) -> app::jobs::Pipeline<'_> {
        app::jobs::Pipeline {
            connections: self.connections.as_ref(),
            runs: self.runs.as_ref(),
            queue: self.queue.as_ref(),
            mailer: self.mailer.as_ref(),
            tenants: self.tenants.as_ref(),
        }
    }
}

impl Deps {
    /// The AWS adapters for the configured tables and queues.
    pub fn from_aws(config: &cloud::config::Config, sdk: &aws_config::SdkConfig) -> Self {
        let stores = cloud::Stores::new(config, sdk);
        Self {
            connections: Arc::new(stores.connections),
            runs: Arc::new(stores.runs),
            queue: Arc::new(stores.queue),
            mailer: cloud::mail::mailer(config, sdk),
            tenants: Arc::new(stores.tenants),
            attendance: attendance::AttendanceDeps::from_aws(config, sdk),
            results: results::ResultsDeps::from_aws(config, sdk),
        }
    }
}
