//! `push_coursekey_roster`: one offering's roster to CourseKey, through the
//! roster client built from the connection's base URL and secret.

use app::push::PushError;
use app::roster::{RosterPorts, RosterPushError, push_offering};
use chrono::{DateTime, Utc};
use connectors::coursekey::CourseKeyClient;
use domain::connection::ConnectionSettings;
use domain::ports::{AttendanceStore, ConnectionStore, SecretError, SecretSource, SisStore};
use domain::{ConnectionId, OfferingId, TenantId};
use std::sync::Arc;

/// The connection's named secret sent as new CourseKey users' password.
pub const INITIAL_PASSWORD: &str = "initial_password";

/// The adapters a roster push needs besides [`crate::Deps`]'s.
#[derive(Clone)]
pub struct CourseKeyDeps {
    pub attendance: Arc<dyn AttendanceStore>,
    pub secrets: Arc<dyn SecretSource>,
    pub secret_prefix: String,
    /// Where the CourseKey client may connect (`LEARNBRIDGE_ALLOW_INTERNAL_URLS`).
    pub egress: connectors::egress::Egress,
}

/// Pushes one offering; the outcome is stored as the offering's CourseKey status.
#[allow(clippy::too_many_arguments)]
pub async fn push_roster(
    ck: &CourseKeyDeps,
    connections: &dyn ConnectionStore,
    sis: &dyn SisStore,
    tenants: &dyn domain::ports::TenantSettingsStore,
    tenant: &TenantId,
    connection: &ConnectionId,
    offering: &OfferingId,
    now: DateTime<Utc>,
) -> Result<(), PushError> {
    let unknown = || PushError::UnknownConnection {
        tenant: tenant.clone(),
        connection: connection.clone(),
    };
    let conn = connections
        .connection(tenant, connection)
        .await?
        .ok_or_else(unknown)?;
    let ConnectionSettings::CourseKey(settings) = &conn.settings else {
        return Err(unknown());
    };
    let key = ck
        .secrets
        .secret(&conn.secret_name(&ck.secret_prefix))
        .await
        .map_err(RosterPushError::from)?;
    // The initial password for users CourseKey creates: a write-only named
    // secret of the connection (CK-08); a connection without one sends none.
    let initial_password = match ck
        .secrets
        .secret(&conn.field_secret_name(&ck.secret_prefix, INITIAL_PASSWORD))
        .await
    {
        Ok(password) => Some(password),
        Err(SecretError::NotFound { .. }) => None,
        Err(e) => return Err(RosterPushError::from(e).into()),
    };
    let client = CourseKeyClient::new(&conn.base_url, key, initial_password, ck.egress)
        .map_err(RosterPushError::Client)?;
    let ports = RosterPorts {
        store: ck.attendance.as_ref(),
        sis,
        roster: &client,
        tenants,
    };
    let status = push_offering(&ports, settings, tenant, offering, now).await?;
    tracing::info!(%tenant, %offering, status = ?status, "CourseKey roster push");
    Ok(())
}
