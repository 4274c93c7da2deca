//! Read before a removal: a learner's results kept before Moodle deletes them.

use super::error::{ResultsError, moodle_settings};
use super::fetch::{FetchCounts, FetchCtx};
use super::service::{Results, result_delivery_key};
use chrono::{DateTime, Utc};
use domain::ports::GradeSource;
use domain::results::StoredResult;
use domain::{Connection, LearnerCode, OfferingId, RunId};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::AtomicBool;

/// What reading a learner before their removal found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovalRead {
    pub counts: FetchCounts,
    /// Whether Moodle still has an enrolment of the learner in the course
    /// (active or suspended), as its participants say; none when nothing was
    /// read (nothing mapped, no completions).
    pub enrolled: Option<bool>,
}

impl Results<'_> {
    /// Reads one learner of a linked offering before they are removed from
    /// its course (Moodle deletes a user's grades and resets their completion
    /// when it unenrols them): their grades, activity completion and course
    /// completion become results and a completion exactly as a download
    /// makes them (the same rules, review and deliveries), with the run's
    /// log lines on `run`. Unlike a download, any read that fails is the
    /// error: the caller must then not remove the learner.
    #[tracing::instrument(skip_all, fields(tenant = %connection.tenant, connection = %connection.id, offering = %offering, run = %run))]
    pub async fn read_before_removal(
        &self,
        connection: &Connection,
        source: &dyn GradeSource,
        offering: &OfferingId,
        learner: &LearnerCode,
        run: &RunId,
        now: DateTime<Utc>,
    ) -> Result<RemovalRead, ResultsError> {
        let settings = moodle_settings(connection)?;
        let tenant = &connection.tenant;
        let link = self
            .links
            .link(tenant, offering, &connection.id)
            .await?
            .ok_or_else(|| ResultsError::NotLinked {
                offering: offering.clone(),
                connection: connection.id.clone(),
            })?;
        let retries = BTreeSet::new();
        let ctx = FetchCtx {
            connection,
            settings,
            sms: self.sms_connection(tenant).await?,
            watermark: None,
            own: HashMap::new(),
            retries: &retries,
            run,
            now,
            no_criteria: std::sync::Mutex::new(BTreeSet::new()),
            criteria: std::sync::Mutex::new(HashMap::new()),
            zone: self.zone(tenant).await?,
            before_removal: true,
        };
        let mut counts = FetchCounts {
            offerings: 1,
            ..FetchCounts::default()
        };
        let mut failed = BTreeSet::new();
        let enrolled = self
            .fetch_offering(
                &ctx,
                source,
                &link,
                &mut HashMap::new(),
                &AtomicBool::new(false),
                &mut counts,
                &mut failed,
                Some(learner),
            )
            .await?;
        Ok(RemovalRead { counts, enrolled })
    }

    /// Whether a processed result's delivery reached the SMS.
    pub(super) async fn delivered(&self, result: &StoredResult) -> Result<bool, ResultsError> {
        let id = result_delivery_key(result).delivery_id();
        Ok(self
            .deliveries
            .delivery(&result.tenant, &id)
            .await?
            .is_some_and(|d| d.state == domain::delivery::DeliveryState::Delivered))
    }
}
