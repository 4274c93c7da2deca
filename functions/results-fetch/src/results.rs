//! The results download's adapters, built once with the rest of [`crate::Deps`],
//! and the call the handler makes for a `fetch_results` job before the import
//! finishes the run.

use app::results::{FetchCounts, Results, ResultsError};
use domain::ports::{DeliveryStore, GradeSources, LinkStore, ResultStore, SisStore};
use domain::{ConnectionId, OfferingId, RunId, TenantId};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How often a download checks whether a person asked it to stop.
const STOP_POLL: std::time::Duration = std::time::Duration::from_secs(2);

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

/// Downloads the run's results (counts and log lines go on the run).
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
    // A person stops a download through the API (`POST .../runs/{run}/stop`),
    // which marks the run; a watcher turns that mark into the use case's flag.
    let stop = Arc::new(AtomicBool::new(
        deps.runs.stop_requested(tenant, connection, run).await?,
    ));
    let watcher = {
        let (runs, stop) = (deps.runs.clone(), stop.clone());
        let (tenant, connection, run) = (tenant.clone(), connection.clone(), run.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(STOP_POLL).await;
                if let Ok(true) = runs.stop_requested(&tenant, &connection, &run).await {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        })
    };
    let outcome = results
        .fetch_for_run(
            r.grades.as_ref(),
            tenant,
            connection,
            run,
            offering,
            &stop,
            chrono::Utc::now(),
        )
        .await;
    watcher.abort();
    outcome
}
