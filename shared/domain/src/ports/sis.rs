//! The SMS's records, and what learnbridge keeps per connection about them
//! (course links, external accounts, transfers).

use super::store::{StoreError, Written};
use crate::ids::{ConnectionId, TenantId};
use async_trait::async_trait;

/// The SMS's records: learners, offerings (with assessables), enrolments.
/// Every read and write is scoped by tenant.
#[async_trait]
pub trait SisStore: Send + Sync {
    async fn learner(
        &self,
        tenant: &TenantId,
        code: &crate::LearnerCode,
    ) -> Result<Option<crate::sis::Learner>, StoreError>;
    /// Many learners at once (batched reads); missing ones are left out.
    async fn learners(
        &self,
        tenant: &TenantId,
        codes: &[crate::LearnerCode],
    ) -> Result<Vec<crate::sis::Learner>, StoreError>;
    async fn save_learner(&self, learner: &crate::sis::Learner) -> Result<(), StoreError>;
    async fn offering(
        &self,
        tenant: &TenantId,
        id: &crate::OfferingId,
    ) -> Result<Option<crate::sis::Offering>, StoreError>;
    async fn save_offering(&self, offering: &crate::sis::Offering) -> Result<(), StoreError>;
    /// One page of the tenant's offerings in id order, those after `after` whose
    /// id or name contains `filter` (ignoring case; empty: all), at most `limit`
    /// of them. `next` is where the following page starts when there may be more:
    /// a page reads a bounded number of offerings, so a page can hold fewer than
    /// `limit` (even none) and still have a next one.
    async fn offering_page(
        &self,
        tenant: &TenantId,
        filter: &str,
        after: Option<&crate::OfferingId>,
        limit: usize,
    ) -> Result<OfferingPage, StoreError>;
    async fn enrolment(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        learner: &crate::LearnerCode,
    ) -> Result<Option<crate::sis::Enrolment>, StoreError>;
    /// An offering's enrolments.
    async fn enrolments(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
    ) -> Result<Vec<crate::sis::Enrolment>, StoreError>;
    /// One page of an offering's enrolments in learner code order: at most
    /// `limit` of those after `after`'s. `next` is where the following page
    /// starts when there may be more (a page can then hold fewer than
    /// `limit`, even none).
    async fn enrolment_page(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        after: Option<&crate::LearnerCode>,
        limit: usize,
    ) -> Result<EnrolmentPage, StoreError>;
    /// A learner's enrolments, across offerings.
    async fn learner_enrolments(
        &self,
        tenant: &TenantId,
        learner: &crate::LearnerCode,
    ) -> Result<Vec<crate::sis::Enrolment>, StoreError>;
    async fn save_enrolment(&self, enrolment: &crate::sis::Enrolment) -> Result<(), StoreError>;
}

/// A page of a tenant's offerings ([`SisStore::offering_page`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferingPage {
    pub offerings: Vec<crate::sis::OfferingSummary>,
    /// The id the next page starts after; `None` on the last page.
    pub next: Option<crate::OfferingId>,
}

/// A page of an offering's enrolments ([`SisStore::enrolment_page`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnrolmentPage {
    pub enrolments: Vec<crate::sis::Enrolment>,
    /// The learner the next page starts after; `None` on the last page.
    pub next: Option<crate::LearnerCode>,
}

/// What learnbridge keeps per connection: course links, learners' external
/// accounts and each enrolment's transfer.
#[async_trait]
pub trait LinkStore: Send + Sync {
    async fn link(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        connection: &ConnectionId,
    ) -> Result<Option<crate::sis::CourseLink>, StoreError>;
    /// Every offering linked through a connection.
    async fn links(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::sis::CourseLink>, StoreError>;
    async fn save_link(&self, link: &crate::sis::CourseLink) -> Result<(), StoreError>;
    async fn account(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        learner: &crate::LearnerCode,
    ) -> Result<Option<crate::sis::ExternalAccount>, StoreError>;
    /// Many accounts at once (batched reads); learners without one are left out.
    async fn accounts(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        learners: &[crate::LearnerCode],
    ) -> Result<Vec<crate::sis::ExternalAccount>, StoreError>;
    /// Stores a learner's account once: a second, different account for the same
    /// learner is refused ([`Written::AlreadyDone`]), so no learner gets two.
    async fn save_account(
        &self,
        account: &crate::sis::ExternalAccount,
    ) -> Result<Written, StoreError>;
    /// The accounts stored for one external id (a Moodle user id) in a
    /// connection: the other way round from [`LinkStore::account`].
    async fn accounts_by_external_id(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        external_id: i64,
    ) -> Result<Vec<crate::sis::ExternalAccount>, StoreError>;
    /// Replaces a learner's stored account (a person re-linked them).
    async fn replace_account(
        &self,
        account: &crate::sis::ExternalAccount,
    ) -> Result<(), StoreError>;
    async fn transfer(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &crate::OfferingId,
        learner: &crate::LearnerCode,
    ) -> Result<Option<crate::sis::Transfer>, StoreError>;
    /// An offering's transfers to a connection.
    async fn transfers(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &crate::OfferingId,
    ) -> Result<Vec<crate::sis::Transfer>, StoreError>;
    async fn save_transfer(&self, transfer: &crate::sis::Transfer) -> Result<(), StoreError>;
    /// Many transfers at once (batched writes); each as [`LinkStore::save_transfer`].
    async fn save_transfers(&self, transfers: &[crate::sis::Transfer]) -> Result<(), StoreError> {
        for transfer in transfers {
            self.save_transfer(transfer).await?;
        }
        Ok(())
    }
    /// Many accounts at once (side by side); each as [`LinkStore::save_account`],
    /// answered in the order given.
    async fn save_accounts(
        &self,
        accounts: &[crate::sis::ExternalAccount],
    ) -> Result<Vec<Written>, StoreError> {
        let mut written = Vec::with_capacity(accounts.len());
        for account in accounts {
            written.push(self.save_account(account).await?);
        }
        Ok(written)
    }
}
