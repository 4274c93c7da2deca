//! Learner edits reaching Moodle (removing an enrolment: [`crate::removal`]).

use crate::push::{PushError, Synced, moodle_connection};
use domain::Connection;
use domain::learning::{RecordFailure, UserLookup};
use domain::matching;
use domain::ports::{ConnectionStore, LearningSystems, LinkStore, SisStore};
use domain::sis::Learner;
use domain::{ConnectionKind, LearnerCode, TenantId};

/// The ports these use cases use.
pub struct Learners<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub sis: &'a dyn SisStore,
    pub links: &'a dyn LinkStore,
    pub learning: &'a dyn LearningSystems,
}

impl Learners<'_> {
    /// Brings the learner's Moodle user in step in every Moodle connection where
    /// they have an account (idnumber, username, names, email, archived ->
    /// suspended). Learners without an account are not sent. Returns the users
    /// updated and the connections that refused the change.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, learner = %code))]
    pub async fn sync_learner(
        &self,
        tenant: &TenantId,
        code: &LearnerCode,
    ) -> Result<Synced, PushError> {
        let Some(learner) = self.sis.learner(tenant, code).await? else {
            tracing::info!("learner no longer exists; nothing to sync");
            return Ok(Synced::default());
        };
        let mut synced = Synced::default();
        for conn in self.connections.connections(tenant).await? {
            if conn.kind() != ConnectionKind::Moodle {
                continue;
            }
            let result = self.sync_learner_on(tenant, &learner, &conn).await;
            synced.add(&conn.id, result)?;
        }
        Ok(synced)
    }

    /// One connection's part of [`Self::sync_learner`]: whether it updated a user.
    async fn sync_learner_on(
        &self,
        tenant: &TenantId,
        learner: &Learner,
        conn: &Connection,
    ) -> Result<bool, PushError> {
        let Some(account) = self.links.account(tenant, &conn.id, &learner.code).await? else {
            return Ok(false);
        };
        let (_, settings) = moodle_connection(self.connections, tenant, &conn.id).await?;
        let lms = self.learning.for_connection(conn).await?;
        let found = lms
            .users_by(UserLookup::Id, &[account.external_id.to_string()])
            .await?;
        let Some(current) = found.into_iter().find(|u| u.id == account.external_id) else {
            tracing::warn!(connection = %conn.id, "the learner's Moodle user no longer exists");
            return Ok(false);
        };
        let changes = matching::user_changes(learner, &settings, &current, account.created_by_us);
        if changes.is_empty() {
            return Ok(false);
        }
        tracing::info!(connection = %conn.id, fields = ?changes.field_names(), "updating Moodle user");
        match lms.update_users(std::slice::from_ref(&changes)).await.pop() {
            Some(Ok(())) => Ok(true),
            Some(Err(RecordFailure::Refused(reason))) => Err(PushError::Refused {
                what: "learner's changes",
                reason,
            }),
            Some(Err(RecordFailure::Failed(e))) => Err(e.into()),
            None => Ok(false),
        }
    }
}
