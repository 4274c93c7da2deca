//! The results use cases' ports and what they share: the tenant's zone, its
//! SMS connection, a result's delivery key.

use domain::connection::ConnectionKind;
use domain::delivery::{DeliveryKey, DeliveryKind};
use domain::ports::{
    ConnectionStore, DeliveryStore, JobQueue, LinkStore, ResultStore, RunStore, SisStore,
    StoreError, TenantSettingsStore,
};
use domain::results::{ResultType, StoredResult};
use domain::zone::TenantZone;
use domain::{ConnectionId, TenantId};

/// The ports the results use cases need.
pub struct Results<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub sis: &'a dyn SisStore,
    pub links: &'a dyn LinkStore,
    pub results: &'a dyn ResultStore,
    pub deliveries: &'a dyn DeliveryStore,
    pub queue: &'a dyn JobQueue,
    pub runs: &'a dyn RunStore,
    /// The tenant's zone dates results and completions.
    pub tenants: &'a dyn TenantSettingsStore,
}

/// The delivery key of a result. A started result is a message of its own,
/// so the final result that follows it is still sent (first result wins only
/// among final results).
pub(super) fn result_delivery_key(result: &StoredResult) -> DeliveryKey {
    DeliveryKey {
        tenant: result.tenant.clone(),
        learner: result.learner.clone(),
        offering: result.offering.clone(),
        assessable: Some(result.assessable.clone()),
        kind: match result.result {
            ResultType::Started => DeliveryKind::Started,
            ResultType::Passed | ResultType::Failed => DeliveryKind::Result,
        },
    }
}

/// A grade as a run's log line states it: raw out of the maximum.
pub(super) fn grade_text(grade: Option<f64>, max: Option<f64>) -> String {
    match (grade, max) {
        (Some(g), Some(m)) => format!("{g}/{m}"),
        (Some(g), None) => g.to_string(),
        (None, _) => "no grade".to_owned(),
    }
}

impl Results<'_> {
    /// The tenant's time zone (UTC until it sets one).
    pub(super) async fn zone(&self, tenant: &TenantId) -> Result<TenantZone, StoreError> {
        Ok(self.tenants.tenant_settings(tenant).await?.zone())
    }

    pub(super) async fn sms_connection(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<ConnectionId>, StoreError> {
        Ok(self
            .connections
            .connections(tenant)
            .await?
            .into_iter()
            .find(|c| c.kind() == ConnectionKind::Sms && c.enabled)
            .map(|c| c.id))
    }
}
