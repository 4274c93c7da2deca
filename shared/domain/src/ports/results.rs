//! Mappings, results and completions under review, and the download's progress.

use super::store::StoreError;
use crate::ids::{ConnectionId, TenantId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Mappings, results under review, and each connection's fetch watermark.
#[async_trait]
pub trait ResultStore: Send + Sync {
    /// Stores (replaces) an assessable's mapping.
    async fn save_mapping(&self, mapping: &crate::results::Mapping) -> Result<(), StoreError>;
    /// Removes an assessable's mapping to a connection's activities (none:
    /// nothing changes).
    async fn delete_mapping(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        connection: &ConnectionId,
        assessable: &crate::AssessableId,
    ) -> Result<(), StoreError>;
    /// An offering's mappings to a connection.
    async fn mappings(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::results::Mapping>, StoreError>;
    async fn save_result(&self, result: &crate::results::StoredResult) -> Result<(), StoreError>;
    async fn result(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        learner: &crate::LearnerCode,
        assessable: &crate::AssessableId,
    ) -> Result<Option<crate::results::StoredResult>, StoreError>;
    /// Every result of an offering.
    async fn results(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
    ) -> Result<Vec<crate::results::StoredResult>, StoreError>;
    /// A connection's results in one review state.
    async fn results_by_state(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: crate::results::ReviewState,
        limit: usize,
    ) -> Result<Vec<crate::results::StoredResult>, StoreError>;
    /// When the connection's last complete download started (none: never).
    async fn watermark(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn save_watermark(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The learners (or offerings) whose reads failed in the connection's last
    /// complete download: read again next run whatever changed.
    async fn retries(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::results::RetryEntry>, StoreError>;
    /// Moves the watermark and replaces the retry set, in one write.
    async fn save_progress(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        at: DateTime<Utc>,
        retries: &[crate::results::RetryEntry],
    ) -> Result<(), StoreError>;
    /// The connection's offerings downloaded on their own, each with its own
    /// watermark and retry set (see [`crate::results::OfferingProgress`]).
    async fn offering_progress(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::results::OfferingProgress>, StoreError>;
    /// Replaces one offering's own watermark and retry set, in one write.
    async fn save_offering_progress(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        progress: &crate::results::OfferingProgress,
    ) -> Result<(), StoreError>;
    /// Stores a course completion under review (or done).
    async fn save_completion(
        &self,
        completion: &crate::results::StoredCompletion,
    ) -> Result<(), StoreError>;
    async fn completion(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        learner: &crate::LearnerCode,
    ) -> Result<Option<crate::results::StoredCompletion>, StoreError>;
    /// Every completion of an offering.
    async fn completions(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
    ) -> Result<Vec<crate::results::StoredCompletion>, StoreError>;
    /// A connection's completions in one review state.
    async fn completions_by_state(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: crate::results::ReviewState,
        limit: usize,
    ) -> Result<Vec<crate::results::StoredCompletion>, StoreError>;
}
