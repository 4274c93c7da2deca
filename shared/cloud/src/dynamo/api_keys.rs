//! Tenant API keys in the data table, stored only by the hash of the key.

use super::keys;
use super::record::{RecordError, corrupt, parse_id};
use super::table::{Condition, QueryOptions, SkRange, Table};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::TenantId;
use domain::ports::{ApiKeyInfo, ApiKeyStore, KeyState, Role, StoreError, Written, api_key_id};
use serde::{Deserialize, Serialize};

/// An API key as stored: `KEY#{hash}` / `KEY`. The record names its tenant: the
/// key lookup is one of the three reads that cross tenants.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ApiKeyRecord {
    pk: String,
    sk: String,
    tenant: String,
    label: String,
    /// Absent on keys stored before keys had roles: they read as admin keys.
    #[serde(default)]
    role: Role,
    created_at: DateTime<Utc>,
    #[serde(default)]
    revoked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at: Option<DateTime<Utc>>,
    /// `T#{tenant}#KEYS` in gsi1: the tenant's keys, for listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    /// `{created_at}#{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
}

fn tenant_keys_pk(tenant: &TenantId) -> String {
    format!("{}#KEYS", keys::tenant(tenant))
}

/// An API key's stored details (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub tenant: TenantId,
    pub label: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub revoked: bool,
}

impl TryFrom<ApiKeyRecord> for ApiKey {
    type Error = RecordError;

    fn try_from(r: ApiKeyRecord) -> Result<Self, RecordError> {
        Ok(ApiKey {
            tenant: parse_id(r.tenant)?,
            label: r.label,
            role: r.role,
            created_at: r.created_at,
            revoked: r.revoked,
        })
    }
}

#[derive(Serialize)]
struct Revoke {
    revoked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<DateTime<Utc>>,
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
                &Revoke {
                    revoked: true,
                    revoked_at: None,
                },
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

    async fn save_key_as(
        &self,
        key_hash: &str,
        tenant: &TenantId,
        label: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        let record = ApiKeyRecord {
            pk: keys::api_key(key_hash),
            sk: keys::API_KEY_SK.to_owned(),
            tenant: tenant.to_string(),
            label: label.to_owned(),
            role,
            created_at: now,
            revoked: false,
            revoked_at: None,
            gsi1pk: Some(tenant_keys_pk(tenant)),
            gsi1sk: Some(format!("{}#{}", keys::timestamp(now), api_key_id(key_hash))),
        };
        self.table.put(&record, Condition::NotExists).await
    }

    async fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let records: Vec<ApiKeyRecord> = self
            .table
            .query_index(
                keys::GSI1,
                &tenant_keys_pk(tenant),
                &SkRange::Any,
                QueryOptions::default(),
            )
            .await?;
        Ok(records
            .into_iter()
            // The index is the tenant's; the record says so too.
            .filter(|r| r.tenant == tenant.as_str())
            .filter_map(|r| {
                Some(ApiKeyInfo {
                    id: api_key_id(r.pk.strip_prefix("KEY#")?),
                    label: r.label,
                    role: r.role,
                    created_at: r.created_at,
                    revoked: r.revoked,
                    revoked_at: r.revoked_at,
                })
            })
            .collect())
    }

    async fn revoke_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if key_id.len() != domain::ports::API_KEY_ID_LEN
            || !key_id.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Ok(false);
        }
        let records: Vec<ApiKeyRecord> = self
            .table
            .query_index(
                keys::GSI1,
                &tenant_keys_pk(tenant),
                &SkRange::Any,
                QueryOptions::default(),
            )
            .await?;
        let Some(record) = records.into_iter().find(|r| {
            r.tenant == tenant.as_str()
                && r.pk
                    .strip_prefix("KEY#")
                    .is_some_and(|hash| api_key_id(hash) == key_id)
        }) else {
            return Ok(false);
        };
        if record.revoked {
            return Ok(true);
        }
        // The key item itself (read strongly consistent on every request) changes.
        self.table
            .update(
                &record.pk,
                keys::API_KEY_SK,
                &Revoke {
                    revoked: true,
                    revoked_at: Some(now),
                },
            )
            .await
    }

    async fn key_state(&self, key_hash: &str) -> Result<KeyState, StoreError> {
        Ok(match self.key(key_hash).await? {
            Some(key) if key.revoked => KeyState::Revoked,
            Some(key) => KeyState::Active(key.tenant, key.role),
            None => KeyState::Unknown,
        })
    }
}
