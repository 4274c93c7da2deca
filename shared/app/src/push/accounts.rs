//! Learners' Moodle accounts stored as a push finds or creates them.

use super::error::PushError;
use super::service::Push;
use chrono::{DateTime, Utc};
use domain::ports::Written;
use domain::sis::{ExternalAccount, Learner};
use domain::{ConnectionId, TenantId};

impl Push<'_> {
    /// Stores the learners' accounts once each (side by side); where another
    /// was stored meanwhile, that one wins. Per learner, in order: the id that
    /// stands and whether this call stored it.
    pub(super) async fn store_accounts(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        wanted: &[(&Learner, i64, bool)],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, bool)>, PushError> {
        let accounts: Vec<ExternalAccount> = wanted
            .iter()
            .map(|(learner, id, created_by_us)| ExternalAccount {
                tenant: tenant.clone(),
                connection: connection.clone(),
                learner: learner.code.clone(),
                external_id: *id,
                created_by_us: *created_by_us,
                linked_at: now,
            })
            .collect();
        let written = self.links.save_accounts(&accounts).await?;
        let mut ids = Vec::with_capacity(accounts.len());
        for (account, written) in accounts.iter().zip(written) {
            ids.push(match written {
                Written::Done => (account.external_id, true),
                Written::AlreadyDone => (
                    self.links
                        .account(tenant, connection, &account.learner)
                        .await?
                        .map_or(account.external_id, |a| a.external_id),
                    false,
                ),
            });
        }
        Ok(ids)
    }
}
