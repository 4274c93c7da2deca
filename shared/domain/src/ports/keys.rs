//! Tenant API keys, stored only as hashes.

use super::store::{StoreError, Written};
use crate::ids::TenantId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Tenant API keys, stored only as hashes.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// The tenant a key hash belongs to, if the key exists and is not revoked.
    async fn tenant_for(&self, key_hash: &str) -> Result<Option<TenantId>, StoreError>;
    async fn save_key(
        &self,
        key_hash: &str,
        tenant: &TenantId,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError>;
    /// Whether a key hash is live, revoked or unknown. This default cannot tell
    /// revoked from unknown; stores that keep revoked keys say which.
    async fn key_state(&self, key_hash: &str) -> Result<KeyState, StoreError> {
        Ok(KeyState::from_tenant(self.tenant_for(key_hash).await?))
    }
    /// The tenant's keys, oldest first, revoked ones included (never a key or its hash).
    async fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyInfo>, StoreError>;
    /// Revokes the tenant's key with this id; `false` when the tenant has no such key.
    /// A revoked key is refused from the next request on.
    async fn revoke_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// What may be shown of an API key: never the key, nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyInfo {
    /// A public fingerprint (the first [`API_KEY_ID_LEN`] hex digits of the keyed
    /// hash): names the key in a list and in a revoke, and cannot authenticate.
    pub id: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked: bool,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// How many hex digits of a key's hash make its id.
pub const API_KEY_ID_LEN: usize = 16;

/// A key's id from its stored hash.
pub fn api_key_id(key_hash: &str) -> String {
    key_hash.chars().take(API_KEY_ID_LEN).collect()
}

/// What an API key hash stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// A live key of this tenant.
    Active(TenantId),
    /// A key that existed and was revoked (or disabled).
    Revoked,
    /// No such key.
    Unknown,
}

impl KeyState {
    /// The state of a key as [`ApiKeyStore::tenant_for`] alone can tell it
    /// (which cannot tell a revoked key from an unknown one).
    pub fn from_tenant(tenant: Option<TenantId>) -> Self {
        tenant.map_or(KeyState::Unknown, KeyState::Active)
    }
}
