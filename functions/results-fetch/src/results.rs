//! The results download's adapters, built once with the rest of [`crate::Deps`],
//! and the call the handler makes for a `fetch_results` job before the import
//! finishes the run.

use app::results::{FetchCounts, Results, ResultsError};
use domain::ports::{DeliveryStore, GradeSources, LinkStore, ResultStore, SisStore};
use domain::{ConnectionId, OfferingId, RunId, TenantId};
use std::sync::Arc;

/// Adapters for the results download.
#[derive(Clone)]
pub struct ResultsDeps {
    pub sis: Arc<dyn SisStore>,
    pub links: Arc<dyn LinkStore>,
    pub results: Arc<dyn ResultStore>,
    pub deliveries: Arc<dyn DeliveryStore>,
    /// Moodle grade sources per connection (settings + secret), kept for the instance.
    pub grades: Arc<dyn GradeSources>,
}

/// Downloads the run's results (counts and log lines go on the run), stopped
/// when a person asks ([`Results::fetch_until_stopped`]).
pub async fn fetch(
    deps: &crate::Deps,
    tenant: &TenantId,
    connection: &ConnectionId,
    run: &RunId,
    offering: Option<&OfferingId>,
) -> Result<Option<FetchCounts>, ResultsError> {
    let r = &deps.results;
    let results = Results {
        connections: deps.connections.as_ref(),
        sis: r.sis.as_ref(),
        links: r.links.as_ref(),
        results: r.results.as_ref(),
        deliveries: r.deliveries.as_ref(),
        queue: deps.queue.as_ref(),
        runs: deps.runs.as_ref(),
        tenants: deps.tenants.as_ref(),
    };
    results
        .fetch_until_stopped(
            r.grades.as_ref(),
            tenant,
            connection,
            run,
            offering,
            tokio::time::sleep,
            chrono::Utc::now(),
        )
        .await
}
