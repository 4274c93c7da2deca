//! A person's review of results: list, adjust, process (one, or all).

use super::error::ResultsError;
use super::service::Results;
use chrono::{DateTime, Utc};
use domain::results::{Adjustment, ReviewState, StoredResult};
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};

/// The most results "process all" saves at once.
pub const PROCESS_ALL_LIMIT: usize = 1_000;

/// What "process all" saved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Processed {
    pub results: usize,
    pub completions: usize,
}

impl Results<'_> {
    /// A connection's results in one review state.
    pub async fn list(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: ReviewState,
        limit: usize,
    ) -> Result<Vec<StoredResult>, ResultsError> {
        Ok(self
            .results
            .results_by_state(tenant, connection, state, limit)
            .await?)
    }

    pub(super) async fn stored(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
        assessable: &AssessableId,
    ) -> Result<StoredResult, ResultsError> {
        self.results
            .result(tenant, offering, learner, assessable)
            .await?
            .ok_or_else(|| ResultsError::UnknownResult {
                offering: offering.clone(),
                learner: learner.clone(),
                assessable: assessable.clone(),
            })
    }

    /// A person's change to a result's type and dates.
    pub async fn adjust(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
        assessable: &AssessableId,
        change: &Adjustment,
        now: DateTime<Utc>,
    ) -> Result<StoredResult, ResultsError> {
        let mut result = self.stored(tenant, offering, learner, assessable).await?;
        result.adjust(change, now)?;
        self.results.save_result(&result).await?;
        Ok(result)
    }

    /// Processes one ready result: it becomes a delivery to the SMS, and done.
    pub async fn process(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
        assessable: &AssessableId,
        now: DateTime<Utc>,
    ) -> Result<StoredResult, ResultsError> {
        let sms = self
            .sms_connection(tenant)
            .await?
            .ok_or(ResultsError::NoSms)?;
        let mut result = self.stored(tenant, offering, learner, assessable).await?;
        self.save_to_sms(&mut result, &sms, now).await?;
        self.results.save_result(&result).await?;
        Ok(result)
    }

    /// Processes every ready result and every ready course completion of a
    /// connection (up to [`PROCESS_ALL_LIMIT`] of each).
    pub async fn process_all(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        now: DateTime<Utc>,
    ) -> Result<Processed, ResultsError> {
        let sms = self
            .sms_connection(tenant)
            .await?
            .ok_or(ResultsError::NoSms)?;
        let ready = self
            .results
            .results_by_state(tenant, connection, ReviewState::Ready, PROCESS_ALL_LIMIT)
            .await?;
        let mut done = Processed::default();
        for mut result in ready {
            self.save_to_sms(&mut result, &sms, now).await?;
            self.results.save_result(&result).await?;
            done.results += 1;
        }
        let ready = self
            .results
            .completions_by_state(tenant, connection, ReviewState::Ready, PROCESS_ALL_LIMIT)
            .await?;
        for mut completion in ready {
            self.approve_completion(&mut completion, &sms, now).await?;
            self.results.save_completion(&completion).await?;
            done.completions += 1;
        }
        Ok(done)
    }
}
