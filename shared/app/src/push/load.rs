//! Everything one offering's push or preview reads, and the transfer an
//! enrolment has after the push.

use super::error::PushError;
use super::service::Push;
use chrono::{DateTime, Utc};
use domain::plan::PlanEntry;
use domain::ports::EnrolmentPage;
use domain::sis::{
    CourseLink, Enrolment, ExternalAccount, Learner, Offering, Transfer, TransferStatus,
};
use domain::zone::TenantZone;
use domain::{ConnectionId, LearnerCode, OfferingId, TenantId, transfer};
use futures::Stream;
use std::collections::HashMap;

/// Enrolments per read after a push's first page (which is one batch's worth,
/// so the first batch waits for no more than it sends).
pub(super) const ENROLMENT_PAGE: usize = 500;

/// Everything loaded for one offering's push or preview.
pub(super) struct Loaded {
    pub(super) offering: Offering,
    pub(super) link: Option<CourseLink>,
    pub(super) enrolments: Vec<Enrolment>,
    pub(super) learners: HashMap<LearnerCode, Learner>,
    pub(super) transfers: HashMap<LearnerCode, Transfer>,
    pub(super) accounts: HashMap<LearnerCode, ExternalAccount>,
    /// The tenant's zone: an enrolment's start is its local midnight.
    pub(super) zone: TenantZone,
}

impl Loaded {
    pub(super) fn entry<'a>(&'a self, e: &'a Enrolment) -> PlanEntry<'a> {
        PlanEntry {
            enrolment: e,
            learner: self.learners.get(&e.learner),
            transfer: self.transfers.get(&e.learner),
            account: self.accounts.get(&e.learner),
        }
    }
}

/// The learners of some enrolments and their accounts on the connection.
#[derive(Default)]
pub(super) struct People {
    pub(super) learners: HashMap<LearnerCode, Learner>,
    pub(super) accounts: HashMap<LearnerCode, ExternalAccount>,
}

impl People {
    /// The plan's view of an enrolment of `loaded` whose learner is one of these.
    pub(super) fn entry<'a>(&'a self, loaded: &'a Loaded, e: &'a Enrolment) -> PlanEntry<'a> {
        PlanEntry {
            enrolment: e,
            learner: self.learners.get(&e.learner),
            transfer: loaded.transfers.get(&e.learner),
            account: self.accounts.get(&e.learner),
        }
    }

    /// Adds others' learners and accounts to these.
    pub(super) fn absorb(&mut self, other: People) {
        self.learners.extend(other.learners);
        self.accounts.extend(other.accounts);
    }
}

impl Push<'_> {
    /// Reads the offering, its link, pushable enrolments, their learners,
    /// transfers and accounts, and the tenant's zone.
    pub(super) async fn load(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
    ) -> Result<Loaded, PushError> {
        let mut loaded = self.load_records(tenant, connection, offering).await?;
        let codes: Vec<LearnerCode> = loaded
            .enrolments
            .iter()
            .map(|e| e.learner.clone())
            .collect();
        let people = self.load_people(tenant, connection, &codes).await?;
        loaded.learners = people.learners;
        loaded.accounts = people.accounts;
        Ok(loaded)
    }

    /// Reads the offering, its link, pushable enrolments, their transfers and
    /// the tenant's zone, side by side; not the learners nor their accounts
    /// (left empty: a push reads them a batch at a time, [`Push::load_people`]).
    #[tracing::instrument(level = "debug", skip_all)]
    pub(super) async fn load_records(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
    ) -> Result<Loaded, PushError> {
        let (loaded, enrolments) =
            futures::try_join!(self.load_base(tenant, connection, offering), async {
                Ok::<_, PushError>(self.sis.enrolments(tenant, offering).await?)
            },)?;
        Ok(Loaded {
            enrolments: enrolments
                .into_iter()
                .filter(transfer::is_pushable)
                .collect(),
            ..loaded
        })
    }

    /// Reads the offering, its link, its transfers and the tenant's zone, side
    /// by side; not its enrolments (left empty: a push reads them a page at a
    /// time, [`Push::enrolment_pages`]), nor the learners and their accounts.
    #[tracing::instrument(level = "debug", skip_all)]
    pub(super) async fn load_base(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
    ) -> Result<Loaded, PushError> {
        // Everything that does not depend on another read is read at once.
        let (off, link, transfers, tenant_settings) = futures::try_join!(
            self.sis.offering(tenant, offering),
            self.links.link(tenant, offering, connection),
            self.links.transfers(tenant, connection, offering),
            self.tenants.tenant_settings(tenant),
        )?;
        let Some(off) = off else {
            return Err(PushError::UnknownOffering {
                tenant: tenant.clone(),
                offering: offering.clone(),
            });
        };
        let transfers = transfers
            .into_iter()
            .map(|t| (t.learner.clone(), t))
            .collect();
        let zone = tenant_settings.zone();
        Ok(Loaded {
            offering: off,
            link,
            enrolments: Vec::new(),
            learners: HashMap::new(),
            transfers,
            accounts: HashMap::new(),
            zone,
        })
    }

    /// An offering's pushable enrolments, a page at a time: `first` (read
    /// already), then pages of [`ENROLMENT_PAGE`], each read when the one
    /// before has been taken. A failed read ends the pages with its error.
    pub(super) fn enrolment_pages<'s>(
        &'s self,
        tenant: &'s TenantId,
        offering: &'s OfferingId,
        first: EnrolmentPage,
    ) -> impl Stream<Item = Result<Vec<Enrolment>, PushError>> + 's {
        enum Next {
            Page(EnrolmentPage),
            After(LearnerCode),
            Done,
        }
        futures::stream::unfold(Next::Page(first), move |next| async move {
            let page = match next {
                Next::Done => return None,
                Next::Page(page) => page,
                Next::After(after) => {
                    let read = self
                        .sis
                        .enrolment_page(tenant, offering, Some(&after), ENROLMENT_PAGE)
                        .await;
                    match read {
                        Ok(page) => page,
                        Err(e) => return Some((Err(e.into()), Next::Done)),
                    }
                }
            };
            let next = page.next.map_or(Next::Done, Next::After);
            let pushable = page
                .enrolments
                .into_iter()
                .filter(transfer::is_pushable)
                .collect();
            Some((Ok(pushable), next))
        })
    }

    /// The learners with these codes and their accounts on the connection,
    /// read side by side.
    #[tracing::instrument(level = "debug", skip_all, fields(learners = codes.len()))]
    pub(super) async fn load_people(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        codes: &[LearnerCode],
    ) -> Result<People, PushError> {
        if codes.is_empty() {
            return Ok(People::default());
        }
        let (learners, accounts) = futures::try_join!(
            self.sis.learners(tenant, codes),
            self.links.accounts(tenant, connection, codes),
        )?;
        Ok(People {
            learners: learners.into_iter().map(|l| (l.code.clone(), l)).collect(),
            accounts: accounts
                .into_iter()
                .map(|a| (a.learner.clone(), a))
                .collect(),
        })
    }
}

/// The transfer an enrolment has after this push: `status`, with what the
/// earlier record knew (its Moodle user, when it was transferred, why a
/// removal failed) kept.
pub(super) fn transfer_record(
    tenant: &TenantId,
    connection: &ConnectionId,
    loaded: &Loaded,
    e: &Enrolment,
    status: TransferStatus,
    user: Option<i64>,
    now: DateTime<Utc>,
) -> Transfer {
    let before = loaded.transfers.get(&e.learner);
    let transferred = status == TransferStatus::Transferred;
    Transfer {
        tenant: tenant.clone(),
        connection: connection.clone(),
        offering: e.offering.clone(),
        learner: e.learner.clone(),
        status,
        external_user: user.or_else(|| before.and_then(|t| t.external_user)),
        transferred_at: if transferred {
            Some(now)
        } else {
            before.and_then(|t| t.transferred_at)
        },
        updated_at: now,
        removal_error: before.and_then(|t| t.removal_error.clone()),
    }
}
