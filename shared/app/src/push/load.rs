//! Everything one offering's push or preview reads, and the transfer an
//! enrolment has after the push.

use super::error::PushError;
use super::service::Push;
use chrono::{DateTime, Utc};
use domain::plan::PlanEntry;
use domain::sis::{
    CourseLink, Enrolment, ExternalAccount, Learner, Offering, Transfer, TransferStatus,
};
use domain::zone::TenantZone;
use domain::{ConnectionId, LearnerCode, OfferingId, TenantId, transfer};
use std::collections::HashMap;

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

impl Push<'_> {
    /// Reads the offering, its link, pushable enrolments, their learners,
    /// transfers and accounts, and the tenant's zone.
    pub(super) async fn load(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
    ) -> Result<Loaded, PushError> {
        // Everything that does not depend on another read is read at once.
        let (off, link, enrolments, transfers, tenant_settings) = futures::try_join!(
            self.sis.offering(tenant, offering),
            self.links.link(tenant, offering, connection),
            self.sis.enrolments(tenant, offering),
            self.links.transfers(tenant, connection, offering),
            self.tenants.tenant_settings(tenant),
        )?;
        let Some(off) = off else {
            return Err(PushError::UnknownOffering {
                tenant: tenant.clone(),
                offering: offering.clone(),
            });
        };
        let enrolments: Vec<Enrolment> = enrolments
            .into_iter()
            .filter(transfer::is_pushable)
            .collect();
        let codes: Vec<LearnerCode> = enrolments.iter().map(|e| e.learner.clone()).collect();
        let (learners, accounts) = futures::try_join!(
            self.sis.learners(tenant, &codes),
            self.links.accounts(tenant, connection, &codes),
        )?;
        let learners = learners.into_iter().map(|l| (l.code.clone(), l)).collect();
        let transfers = transfers
            .into_iter()
            .map(|t| (t.learner.clone(), t))
            .collect();
        let accounts = accounts
            .into_iter()
            .map(|a| (a.learner.clone(), a))
            .collect();
        let zone = tenant_settings.zone();
        Ok(Loaded {
            offering: off,
            link,
            enrolments,
            learners,
            transfers,
            accounts,
            zone,
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
