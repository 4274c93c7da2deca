//! Learner edits reaching Moodle (removing an enrolment: [`crate::removal`]).

use crate::push::{PushError, Synced, moodle_connection};
use chrono::{DateTime, Utc};
use domain::Connection;
use domain::learning::{RecordFailure, UserLookup};
use domain::matching;
use domain::ports::{ConnectionStore, LearningSystems, LinkStore, SisStore};
use domain::sis::Learner;
use domain::sis::{BlockReason, ExternalAccount, Transfer, TransferStatus};
use domain::{ConnectionId, ConnectionKind, LearnerCode, TenantId};

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
        now: DateTime<Utc>,
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
            let result = self.sync_learner_on(tenant, &learner, &conn, now).await;
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
        now: DateTime<Utc>,
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
            Some(Err(RecordFailure::Refused(reason))) => {
                self.mark_transfers(tenant, learner, &conn.id, &reason, now)
                    .await?;
                Err(PushError::Refused {
                    what: "learner's changes",
                    reason,
                })
            }
            Some(Err(RecordFailure::Failed(e))) => Err(e.into()),
            None => Ok(false),
        }
    }

    /// "Link them": makes Moodle user `moodle_user_id` the learner's account in
    /// a Moodle connection (a person chose it, e.g. the user who holds the
    /// learner's email). The user must exist in Moodle and be no other learner's
    /// account in the connection. From then on the preview shows the learner
    /// ready and the push enrols that user. Linking again changes nothing.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, learner = %code, moodle_user = moodle_user_id))]
    pub async fn link_account(
        &self,
        tenant: &TenantId,
        code: &LearnerCode,
        connection: &ConnectionId,
        moodle_user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<ExternalAccount, PushError> {
        let (conn, _) = moodle_connection(self.connections, tenant, connection).await?;
        if self.sis.learner(tenant, code).await?.is_none() {
            return Err(PushError::UnknownLearner {
                tenant: tenant.clone(),
                learner: code.clone(),
            });
        }
        let holders = self
            .links
            .accounts_by_external_id(tenant, connection, moodle_user_id)
            .await?;
        if let Some(other) = holders.iter().find(|a| a.learner != *code) {
            return Err(PushError::AccountHeld {
                moodle_user_id,
                learner: other.learner.clone(),
            });
        }
        if let Some(ours) = holders.into_iter().next() {
            return Ok(ours);
        }
        let lms = self.learning.for_connection(&conn).await?;
        let found = lms
            .users_by(UserLookup::Id, &[moodle_user_id.to_string()])
            .await?;
        if !found.iter().any(|u| u.id == moodle_user_id) {
            return Err(PushError::UnknownMoodleUser { moodle_user_id });
        }
        let account = ExternalAccount {
            tenant: tenant.clone(),
            connection: connection.clone(),
            learner: code.clone(),
            external_id: moodle_user_id,
            created_by_us: false,
            linked_at: now,
        };
        self.links.replace_account(&account).await?;
        tracing::info!("learner linked to a Moodle user by a person");
        Ok(account)
    }

    /// Moodle refused a learner's changes: each of the learner's transfers to
    /// the connection shows why (blocked with the reason) until a push or a
    /// change that goes through replaces it.
    async fn mark_transfers(
        &self,
        tenant: &TenantId,
        learner: &Learner,
        connection: &ConnectionId,
        reason: &BlockReason,
        now: DateTime<Utc>,
    ) -> Result<(), PushError> {
        for enrolment in self.sis.learner_enrolments(tenant, &learner.code).await? {
            let Some(before) = self
                .links
                .transfer(tenant, connection, &enrolment.offering, &learner.code)
                .await?
            else {
                continue;
            };
            let status = TransferStatus::Blocked {
                reasons: vec![reason.clone()],
            };
            if before.status == status {
                continue;
            }
            self.links
                .save_transfer(&Transfer {
                    status,
                    updated_at: now,
                    ..before
                })
                .await?;
        }
        Ok(())
    }
}
