//! results-fetch: consumes its SQS queue (see docs/architecture.md).

pub mod attendance;
pub mod config;
pub mod handler;
pub mod results;

pub use config::Config;

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
    /// The composition root: the AWS adapters for the configured tables and
    /// queues, and the Moodle gateways over the connections' secrets. `main`, the
    /// local runner (devstack) and the tests all build it here.
    pub fn from_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        let stores =
            cloud::Stores::build(&config.tables, &config.queues, config.run_history_days, sdk);
        // Without MAIL_FROM the run-error and validation emails are refused, each a
        // warning, so nobody thinks they were sent.
        let mailer = cloud::mail::mailer(config.mail_from.as_deref(), sdk);
        let deliveries: Arc<dyn domain::ports::DeliveryStore> = Arc::new(stores.deliveries);
        let sis: Arc<dyn domain::ports::SisStore> = Arc::new(stores.sis);
        Self {
            connections: Arc::new(stores.connections),
            runs: Arc::new(stores.runs),
            queue: Arc::new(stores.queue),
            mailer: mailer.clone(),
            tenants: Arc::new(stores.tenants),
            attendance: attendance::AttendanceDeps {
                records: Arc::new(stores.inbox),
                store: Arc::new(stores.attendance),
                sis: sis.clone(),
                deliveries: deliveries.clone(),
                mailer,
            },
            results: results::ResultsDeps {
                grades: Arc::new(
                    connectors::moodle_gateway::MoodleGateways::new(
                        Arc::new(stores.secrets),
                        config.secret_prefix.clone(),
                    )
                    .with_timeout(config.moodle_timeout)
                    .with_egress(config.egress),
                ),
                sis,
                links: Arc::new(stores.links),
                results: Arc::new(stores.results),
                deliveries,
            },
        }
    }
}
