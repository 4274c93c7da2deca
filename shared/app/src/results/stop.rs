//! The download's stop check: a person stops a running download through the
//! API (`POST .../runs/{run}/stop`), which marks the run; the download reads
//! the mark before it starts and every [`STOP_POLL`] while it runs, and stops
//! between offerings once it is set (what was read so far is kept).

use super::{FetchCounts, Results, ResultsError};
use chrono::{DateTime, Utc};
use domain::ports::GradeSources;
use domain::{ConnectionId, OfferingId, RunId, TenantId};
use futures::future::Either;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often a download checks whether a person asked it to stop.
pub const STOP_POLL: Duration = Duration::from_secs(2);

impl Results<'_> {
    /// [`Results::fetch_for_run`], stopped when a person asks. `sleep` waits
    /// (the runtime's timer: the use case knows no runtime).
    #[allow(clippy::too_many_arguments)]
    pub async fn fetch_until_stopped<S, F>(
        &self,
        sources: &dyn GradeSources,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        offering: Option<&OfferingId>,
        sleep: S,
        now: DateTime<Utc>,
    ) -> Result<Option<FetchCounts>, ResultsError>
    where
        S: Fn(Duration) -> F,
        F: Future<Output = ()>,
    {
        let stop = AtomicBool::new(self.runs.stop_requested(tenant, connection, run).await?);
        let watch = async {
            while !stop.load(Ordering::Relaxed) {
                sleep(STOP_POLL).await;
                if let Ok(true) = self.runs.stop_requested(tenant, connection, run).await {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        };
        let fetch = self.fetch_for_run(sources, tenant, connection, run, offering, &stop, now);
        futures::pin_mut!(watch, fetch);
        match futures::future::select(fetch, watch).await {
            Either::Left((outcome, _)) => outcome,
            // Stop asked for: the download sees the flag between offerings.
            Either::Right(((), fetch)) => fetch.await,
        }
    }
}
