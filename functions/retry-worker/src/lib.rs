//! retry-worker: sends deliveries to the SMS (from its SQS queue) and, daily,
//! queues every delivery that is due again.

pub mod config;
pub mod handler;

pub use config::Config;

use chrono::{DateTime, Utc};
use domain::ports::{
    ConnectionStore, DeliveryStore, JobQueue, Mailer, RunStore, SecretSource, SmsClient,
    TenantSettingsStore,
};
use std::sync::Arc;

/// What the handler needs, built once per Lambda instance.
#[derive(Clone)]
pub struct Deps {
    pub deliveries: Arc<dyn DeliveryStore>,
    pub connections: Arc<dyn ConnectionStore>,
    /// Where a due delivery the daily sweep cannot read is recorded (a run of
    /// its connection), and the tenant's retention for it.
    pub runs: Arc<dyn RunStore>,
    pub tenants: Arc<dyn TenantSettingsStore>,
    pub secrets: Arc<dyn SecretSource>,
    pub sms: Arc<dyn SmsClient>,
    pub mailer: Arc<dyn Mailer>,
    /// The deliveries queue, which the daily sweep fills.
    pub queue: Arc<dyn JobQueue>,
    /// `${StackName}/connections`.
    pub secret_prefix: String,
    /// The clock, passed in so the 30-day window is testable.
    pub now: fn() -> DateTime<Utc>,
}

/// Why the dependencies could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DepsError {
    #[error("the SMS client could not be built")]
    Sms(#[source] domain::ports::SmsSendError),
}

impl Deps {
    /// The composition root: the AWS adapters for the configured tables, queue,
    /// secrets and sender, and the SMS client. `main`, the local runner (devstack)
    /// and the tests all build it here.
    pub fn from_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, DepsError> {
        let stores =
            cloud::Stores::build(&config.tables, &config.queues, config.run_history_days, sdk);
        let from = config.mail_from.clone();
        let sms = connectors::sms::HttpSmsClient::new(connectors::sms::SmsClientConfig {
            egress: config.egress,
            ..connectors::sms::SmsClientConfig::default()
        })
        .map_err(DepsError::Sms)?;
        Ok(Self {
            deliveries: Arc::new(stores.deliveries),
            connections: Arc::new(stores.connections),
            runs: Arc::new(stores.runs),
            tenants: Arc::new(stores.tenants),
            secrets: Arc::new(stores.secrets),
            sms: Arc::new(sms),
            mailer: Arc::new(cloud::SesMailer::lazy(sdk, from)),
            queue: Arc::new(stores.queue),
            secret_prefix: config.secret_prefix.clone(),
            now: Utc::now,
        })
    }
}
