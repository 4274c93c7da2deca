//! retry-worker: sends deliveries to the SMS (from its SQS queue) and, daily,
//! queues every delivery that is due again.

pub mod config;
pub mod handler;

pub use config::Config;

use chrono::{DateTime, Utc};
use domain::ports::{ConnectionStore, DeliveryStore, JobQueue, Mailer, SecretSource, SmsClient};
use std::sync::Arc;

/// What the handler needs, built once per Lambda instance.
#[derive(Clone)]
pub struct Deps {
    pub deliveries: Arc<dyn DeliveryStore>,
    pub connections: Arc<dyn ConnectionStore>,
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
        // retry-worker starts no run: the retention is the default, unused.
        let stores = cloud::Stores::build(
            &config.tables,
            &config.queues,
            cloud::config::DEFAULT_RUN_HISTORY_DAYS,
            sdk,
        );
        let from = config.mail_from.clone();
        let sms = connectors::sms::HttpSmsClient::new(connectors::sms::SmsClientConfig {
            egress: config.egress,
            ..connectors::sms::SmsClientConfig::default()
        })
        .map_err(DepsError::Sms)?;
        Ok(Self {
            deliveries: Arc::new(stores.deliveries),
            connections: Arc::new(stores.connections),
            secrets: Arc::new(stores.secrets),
            sms: Arc::new(sms),
            mailer: Arc::new(cloud::SesMailer::new(aws_sdk_sesv2::Client::new(sdk), from)),
            queue: Arc::new(stores.queue),
            secret_prefix: config.secret_prefix.clone(),
            now: Utc::now,
        })
    }
}
