//! enrolment-push: consumes its SQS queue (see docs/architecture.md).

pub mod coursekey;
pub mod handler;

use async_trait::async_trait;
use connectors::moodle_gateway::MoodleGateways;
use domain::ports::{
    ConnectionStore, Email, JobQueue, LearningSystems, LinkStore, MailError, Mailer, RunStore,
    SisStore,
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
    pub mailer: Arc<dyn Mailer>,
    /// CourseKey roster pushes' adapters.
    pub coursekey: coursekey::CourseKeyDeps,
}

/// Used when `MAIL_FROM` is not set: learner emails are refused, and each
/// refusal is a warning on the run, so nobody thinks they were sent.
struct NoMailer;

#[async_trait]
impl Mailer for NoMailer {
    async fn send(&self, _email: &Email) -> Result<(), MailError> {
        Err(MailError::Rejected {
            reason: format!("{} is not set", cloud::config::MAIL_FROM),
        })
    }
}

impl Deps {
    /// The AWS adapters for the configured tables and queues, and the Moodle
    /// gateways over the connections' secrets.
    pub fn from_aws(config: &cloud::config::Config, sdk: &aws_config::SdkConfig) -> Self {
        let stores = cloud::Stores::new(config, sdk);
        let mailer: Arc<dyn Mailer> = match &config.mail_from {
            Some(from) => Arc::new(cloud::SesMailer::new(
                aws_sdk_sesv2::Client::new(sdk),
                from.clone(),
            )),
            None => Arc::new(NoMailer),
        };
        Self {
            learning: Arc::new(MoodleGateways::new(
                Arc::new(stores.secrets),
                config.secret_prefix.clone(),
            )),
            connections: Arc::new(stores.connections),
            runs: Arc::new(stores.runs),
            queue: Arc::new(stores.queue),
            sis: Arc::new(stores.sis),
            links: Arc::new(stores.links),
            mailer,
            coursekey: coursekey::CourseKeyDeps::from_aws(config, sdk),
        }
    }
}
