//! An offering's CourseKey status as every screen shows it (the CourseKey screen,
//! the offerings list, an offering's page): read through `app::roster::status`
//! with the tenant's CourseKey connection and settings, and its status cell.

use crate::ConsoleState;
use crate::error::ConsoleError;
use askama::Template;
use chrono::NaiveDate;
use domain::attendance::SyncStatus;
use domain::connection::CourseKeySettings;
use domain::zone::TenantZone;
use domain::{ConnectionId, OfferingId, TenantId};

/// A CourseKey status as shown: its word, its CSS class and the reason of a
/// failure. A list's cell renders it (`{{ status|safe }}`: the template escapes
/// the reason): the word in its colour, the reason on hover and written after it.
#[derive(Template)]
#[template(path = "coursekey_status.html")]
pub struct CourseKeyStatus {
    pub label: &'static str,
    pub class: &'static str,
    pub reason: String,
}

impl CourseKeyStatus {
    pub fn of(status: &SyncStatus) -> Self {
        let (label, class, reason) = match status {
            SyncStatus::Disabled => ("Disabled", "status-none", String::new()),
            SyncStatus::Scheduled => ("Scheduled", "status-importing", String::new()),
            SyncStatus::Failed { reason } => ("Failed", "status-error", reason.clone()),
            SyncStatus::Synchronized => ("Synchronized", "status-ok", String::new()),
        };
        Self {
            label,
            class,
            reason,
        }
    }
}

/// The tenant's CourseKey side read once for a page: its connection (if any),
/// its settings (the defaults without one) and today in the tenant's zone.
pub struct CourseKeyContext {
    pub connection: Option<ConnectionId>,
    pub settings: CourseKeySettings,
    pub today: NaiveDate,
}

impl CourseKeyContext {
    pub async fn load(
        state: &ConsoleState,
        tenant: &TenantId,
        zone: TenantZone,
    ) -> Result<Self, ConsoleError> {
        let ck = &state.api.coursekey;
        let found = app::marking::coursekey_connection(ck.connections.as_ref(), tenant).await?;
        let (connection, settings) = match found {
            Some((id, settings)) => (Some(id), settings),
            None => (None, CourseKeySettings::default()),
        };
        Ok(Self {
            connection,
            settings,
            today: zone.today((ck.now)()),
        })
    }

    /// An offering's status and send flag, as the api's
    /// `GET /v1/offerings/{id}/coursekey` computes them (`app::roster::status`),
    /// and whether the flag may still be taken off.
    pub async fn status(
        &self,
        state: &ConsoleState,
        tenant: &TenantId,
        offering: &OfferingId,
    ) -> Result<(CourseKeyStatus, SendFlag), ConsoleError> {
        let ck = &state.api.coursekey;
        let found = app::roster::status(
            ck.attendance.as_ref(),
            ck.sis.as_ref(),
            &self.settings,
            tenant,
            offering,
            self.today,
        )
        .await?;
        Ok(match found {
            Some((o, status)) => (
                CourseKeyStatus::of(&status),
                SendFlag {
                    send: o.send_to_coursekey,
                    // Once synchronized, CourseKey keeps the offering
                    // (`CourseKeyOffering::set_send` refuses the unmark).
                    may_unmark: o.synchronized_at.is_none(),
                },
            ),
            None => (
                CourseKeyStatus::of(&SyncStatus::Disabled),
                SendFlag {
                    send: false,
                    may_unmark: true,
                },
            ),
        })
    }
}

/// An offering's "Send to CourseKey", as a page shows it: whether it is set,
/// and whether it may be taken off (not once CourseKey has the offering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendFlag {
    pub send: bool,
    pub may_unmark: bool,
}

/// One offering's status and send flag (the offering page's CourseKey section).
pub async fn coursekey_status(
    state: &ConsoleState,
    tenant: &TenantId,
    offering: &OfferingId,
    zone: TenantZone,
) -> Result<(CourseKeyStatus, SendFlag), ConsoleError> {
    CourseKeyContext::load(state, tenant, zone)
        .await?
        .status(state, tenant, offering)
        .await
}
