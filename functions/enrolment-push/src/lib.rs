//! enrolment-push: consumes its SQS queue (see docs/architecture.md).

pub mod config;
pub mod coursekey;
pub mod handler;

pub use config::Config;

use connectors::moodle_gateway::MoodleGateways;
use domain::ports::{
    ConnectionStore, DeliveryStore, GradeSources, JobQueue, LearningSystems, LinkStore, Mailer,
    ResultStore, RunStore, SisStore, TenantSettingsStore,
};
use std::sync::Arc;

/// What the handler needs, built once per Lambda instance.
#[derive(Clone)]
pub struct Deps {
    pub connections: Arc<dyn ConnectionStore>,
    pub runs: Arc<dyn RunStore>,
    pub queue: Arc<dyn JobQueue>,
    pub sis: Arc<dyn SisStore>,
    pub links: Arc<dyn LinkStore>,
    /// Moodle gateways, one per connection (settings + secret), kept for the instance.
    pub learning: Arc<dyn LearningSystems>,
    /// The same gateways as grade sources: a removal reads the learner's
    /// results first, as a download does.
    pub grades: Arc<dyn GradeSources>,
    /// Results and completions a removal's read makes, and their deliveries.
    pub results: Arc<dyn ResultStore>,
    pub deliveries: Arc<dyn DeliveryStore>,
    pub mailer: Arc<dyn Mailer>,
    /// The tenants' history retention and run-error email.
    pub tenants: Arc<dyn TenantSettingsStore>,
    /// CourseKey roster pushes' adapters.
    pub coursekey: coursekey::CourseKeyDeps,
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
        // Without MAIL_FROM learner emails are refused, and each refusal is a
        // warning on the run, so nobody thinks they were sent.
        let mailer = cloud::mail::mailer(config.mail_from.as_deref(), sdk);
        let secrets = Arc::new(stores.secrets);
        let gateways = Arc::new(
            MoodleGateways::new(secrets.clone(), config.secret_prefix.clone())
                .with_timeout(config.moodle_timeout)
                .with_egress(config.egress),
        );
        Self {
            learning: gateways.clone(),
            grades: gateways,
            results: Arc::new(stores.results),
            deliveries: Arc::new(stores.deliveries),
            connections: Arc::new(stores.connections),
            runs: Arc::new(stores.runs),
            queue: Arc::new(stores.queue),
            sis: Arc::new(stores.sis),
            links: Arc::new(stores.links),
            mailer,
            tenants: Arc::new(stores.tenants),
            coursekey: coursekey::CourseKeyDeps {
                attendance: Arc::new(stores.attendance),
                secrets,
                secret_prefix: config.secret_prefix.clone(),
                egress: config.egress,
            },
        }
    }
}
