//! A person's review of course completions: list, adjust, process.

use super::error::ResultsError;
use super::service::Results;
use chrono::{DateTime, Utc};
use domain::results::{ReviewState, StoredCompletion};
use domain::{ConnectionId, LearnerCode, OfferingId, TenantId};

impl Results<'_> {
    /// A connection's course completions in one review state.
    pub async fn list_completions(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: ReviewState,
        limit: usize,
    ) -> Result<Vec<StoredCompletion>, ResultsError> {
        Ok(self
            .results
            .completions_by_state(tenant, connection, state, limit)
            .await?)
    }

    pub(super) async fn stored_completion(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
    ) -> Result<StoredCompletion, ResultsError> {
        self.results
            .completion(tenant, offering, learner)
            .await?
            .ok_or_else(|| ResultsError::UnknownCompletion {
                offering: offering.clone(),
                learner: learner.clone(),
            })
    }

    /// A person's change of a completion's date before it is processed.
    pub async fn adjust_completion(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
        date: chrono::NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<StoredCompletion, ResultsError> {
        let mut completion = self.stored_completion(tenant, offering, learner).await?;
        completion.adjust(date, self.zone(tenant).await?, now)?;
        self.results.save_completion(&completion).await?;
        Ok(completion)
    }

    /// Processes one ready completion: a delivery to the SMS, the enrolment
    /// completed, done. In the Smartosh mode the learner is unenrolled from
    /// the Moodle course by the next download, after their results are read.
    pub async fn process_completion(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
        now: DateTime<Utc>,
    ) -> Result<StoredCompletion, ResultsError> {
        let sms = self
            .sms_connection(tenant)
            .await?
            .ok_or(ResultsError::NoSms)?;
        let mut completion = self.stored_completion(tenant, offering, learner).await?;
        self.approve_completion(&mut completion, &sms, now).await?;
        self.results.save_completion(&completion).await?;
        Ok(completion)
    }
}
