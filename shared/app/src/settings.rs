//! The tenant's own settings (time zone, run history days, run-error email):
//! checked, the time zone stored as the tz database spells it, then saved. The
//! api's `PUT /v1/settings` and the console's settings form both call [`save`].

use domain::TenantId;
use domain::ports::{StoreError, TenantSettingsStore};
use domain::tenant::{SettingError, TenantSettings};

#[derive(Debug, thiserror::Error)]
pub enum SaveSettingsError {
    /// A setting is refused; the error names it (`time_zone`, `run_error_email.body`).
    #[error(transparent)]
    Invalid(#[from] SettingError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks and stores the tenant's settings; answers them as stored.
pub async fn save(
    tenants: &dyn TenantSettingsStore,
    tenant: &TenantId,
    mut settings: TenantSettings,
) -> Result<TenantSettings, SaveSettingsError> {
    settings.validate()?;
    // Stored as the tz database spells it (no surrounding spaces).
    settings.time_zone = settings.zone().name().to_owned();
    tenants.save_tenant_settings(tenant, &settings).await?;
    tracing::info!(%tenant, "tenant settings stored");
    Ok(settings)
}
