//! The ports `process_attendance` needs, built once with the rest of [`crate::Deps`].

use app::attendance::AttendancePorts;
use async_trait::async_trait;
use domain::ports::{
    AttendanceRecords, AttendanceStore, ConnectionStore, DeliveryStore, Email, JobQueue, MailError,
    Mailer, SisStore, TenantSettingsStore,
};
use std::sync::Arc;

/// Adapters for CourseKey attendance processing.
#[derive(Clone)]
pub struct AttendanceDeps {
    pub records: Arc<dyn AttendanceRecords>,
    pub store: Arc<dyn AttendanceStore>,
    pub sis: Arc<dyn SisStore>,
    pub deliveries: Arc<dyn DeliveryStore>,
    pub mailer: Arc<dyn Mailer>,
}

/// Refuses to send when no sender address is configured (the validation
/// errors are still logged as counts, and the job is acknowledged).
struct NoMailer;

#[async_trait]
impl Mailer for NoMailer {
    async fn send(&self, _email: &Email) -> Result<(), MailError> {
        Err(MailError::Rejected {
            reason: format!("{} is not set", cloud::config::MAIL_FROM),
        })
    }
}

impl AttendanceDeps {
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
            records: Arc::new(stores.inbox),
            store: Arc::new(stores.attendance),
            sis: Arc::new(stores.sis),
            deliveries: Arc::new(stores.deliveries),
            mailer,
        }
    }

    pub fn ports<'a>(
        &'a self,
        connections: &'a dyn ConnectionStore,
        queue: &'a dyn JobQueue,
        tenants: &'a dyn TenantSettingsStore,
    ) -> AttendancePorts<'a> {
        AttendancePorts {
            connections,
            records: self.records.as_ref(),
            store: self.store.as_ref(),
            sis: self.sis.as_ref(),
            deliveries: self.deliveries.as_ref(),
            queue,
            mailer: self.mailer.as_ref(),
            tenants,
        }
    }
}

/// A results-fetch job's failure: the pipeline's, or attendance processing's.
#[derive(Debug, thiserror::Error)]
pub enum FetchJobError {
    #[error(transparent)]
    Job(#[from] app::jobs::JobError),
    #[error("CourseKey attendance could not be processed")]
    Attendance(#[from] app::attendance::ProcessError),
    #[error(transparent)]
    Results(#[from] app::results::ResultsError),
}

impl domain::ports::Retryable for FetchJobError {
    fn is_retryable(&self) -> bool {
        match self {
            FetchJobError::Job(e) => e.is_retryable(),
            FetchJobError::Attendance(e) => e.is_retryable(),
            FetchJobError::Results(e) => e.is_retryable(),
        }
    }
}
