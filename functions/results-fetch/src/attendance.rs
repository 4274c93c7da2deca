//! The ports `process_attendance` needs, built once with the rest of [`crate::Deps`].

use app::attendance::AttendancePorts;
use domain::ports::{
    AttendanceRecords, AttendanceStore, ConnectionStore, DeliveryStore, JobQueue, Mailer, SisStore,
    TenantSettingsStore,
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

impl AttendanceDeps {
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
