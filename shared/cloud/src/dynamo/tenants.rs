//! A tenant's own settings in the data table: `T#{t}` / `SETTINGS`.

use super::keys;
use super::table::{Condition, Table};
use async_trait::async_trait;
use domain::TenantId;
use domain::ports::{StoreError, TenantSettingsStore};
use domain::tenant::TenantSettings;
use serde::{Deserialize, Serialize};

const SETTINGS_SK: &str = "SETTINGS";

/// What a settings item that does not decode is called in its error
/// ([`StoreError::Corrupt`]'s `what`).
pub const TENANT_SETTINGS: &str = "tenant settings";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SettingsRecord {
    pk: String,
    sk: String,
    tenant: String,
    settings: TenantSettings,
}

/// [`TenantSettingsStore`] over the data table.
#[derive(Debug, Clone)]
pub struct DynamoTenantSettingsStore {
    table: Table,
}

impl DynamoTenantSettingsStore {
    pub fn new(table: Table) -> Self {
        Self { table }
    }
}

#[async_trait]
impl TenantSettingsStore for DynamoTenantSettingsStore {
    async fn tenant_settings(&self, tenant: &TenantId) -> Result<TenantSettings, StoreError> {
        let record: Option<SettingsRecord> = self
            .table
            .get(&keys::tenant(tenant), SETTINGS_SK)
            .await
            .map_err(|error| match error {
                // Named as what it is, so the error says what to repair.
                StoreError::Corrupt { source, .. } => StoreError::Corrupt {
                    what: TENANT_SETTINGS.to_owned(),
                    source,
                },
                other => other,
            })?;
        Ok(record
            .filter(|r| r.tenant == tenant.as_str())
            .map(|r| r.settings)
            .unwrap_or_default())
    }

    async fn save_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
    ) -> Result<(), StoreError> {
        let record = SettingsRecord {
            pk: keys::tenant(tenant),
            sk: SETTINGS_SK.to_owned(),
            tenant: tenant.to_string(),
            settings: settings.clone(),
        };
        self.table.put(&record, Condition::None).await.map(|_| ())
    }
}
