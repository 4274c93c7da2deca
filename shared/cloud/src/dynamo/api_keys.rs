//! Tenant API keys in the data table, stored only by the hash of the key.

use super::keys;
use super::record::{RecordError, corrupt, parse_id};
use super::table::{Condition, Table};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::TenantId;
use domain::ports::{ApiKeyStore, KeyState, StoreError, Written};
use serde::{Deserialize, Serialize};

/// An API key as stored: `KEY#{hash}` / `KEY`. The record names its tenant: the
/// key lookup is one of the three reads that cross tenants.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ApiKeyRecord {
    pk: String,
    sk: String,
    tenant: String,
    label: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    revoked: bool,
}

/// An API key's stored details (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub tenant: TenantId,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked: bool,
}

impl TryFrom<ApiKeyRecord> for ApiKey {
    type Error = RecordError;

    fn try_from(r: ApiKeyRecord) -> Result<Self, RecordError> {
        Ok(ApiKey {
            tenant: parse_id(r.tenant)?,
            label: r.label,
            created_at: r.created_at,
            revoked: r.revoked,
        })
    }
}

#[derive(Serialize)]
struct Revoke {
    revoked: bool,
}

/// [`ApiKeyStore`] over the data table.
#[derive(Debug, Clone)]
pub struct DynamoApiKeyStore {
    table: Table,
}

impl DynamoApiKeyStore {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// A key's details, revoked or not.
    pub async fn key(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let record: Option<ApiKeyRecord> = self
            .table
            .get(&keys::api_key(key_hash), keys::API_KEY_SK)
            .await?;
        record
            .map(|r| ApiKey::try_from(r).map_err(|e| corrupt("API key", e)))
            .transpose()
    }

    /// Revokes a key; `false` when there is no such key.
    pub async fn revoke(&self, key_hash: &str) -> Result<bool, StoreError> {
        self.table
            .update(
                &keys::api_key(key_hash),
                keys::API_KEY_SK,
                &Revoke { revoked: true },
            )
            .await
    }
}

#[async_trait]
impl ApiKeyStore for DynamoApiKeyStore {
    async fn tenant_for(&self, key_hash: &str) -> Result<Option<TenantId>, StoreError> {
        Ok(self
            .key(key_hash)
            .await?
            .filter(|key| !key.revoked)
            .map(|key| key.tenant))
    }

    async fn save_key(
        &self,
        key_hash: &str,
        tenant: &TenantId,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        let record = ApiKeyRecord {
            pk: keys::api_key(key_hash),
            sk: keys::API_KEY_SK.to_owned(),
            tenant: tenant.to_string(),
            label: label.to_owned(),
            created_at: now,
            revoked: false,
        };
        self.table.put(&record, Condition::NotExists).await
    }

    async fn key_state(&self, key_hash: &str) -> Result<KeyState, StoreError> {
        Ok(match self.key(key_hash).await? {
            Some(key) if key.revoked => KeyState::Revoked,
            Some(key) => KeyState::Active(key.tenant),
            None => KeyState::Unknown,
        })
    }
}
