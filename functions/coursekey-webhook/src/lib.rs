//! coursekey-webhook: CourseKey POSTs attendance here. Verify, store, enqueue,
//! answer 2xx fast; processing happens off the request path (results-fetch).

pub mod handler;

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
