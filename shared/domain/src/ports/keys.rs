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
    /// Saves an admin key (what every key was before keys had roles).
    async fn save_key(
        &self,
        key_hash: &str,
        tenant: &TenantId,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        self.save_key_as(key_hash, tenant, label, Role::Admin, now)
            .await
    }
    /// Saves a key that acts with `role`.
    async fn save_key_as(
        &self,
        key_hash: &str,
        tenant: &TenantId,
        label: &str,
        role: Role,
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
    /// What the key may do: `admin` (everything) or `viewer` (read only).
    pub role: Role,
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
    /// A live key of this tenant, acting with this role.
    Active(TenantId, Role),
    /// A key that existed and was revoked (or disabled).
    Revoked,
    /// No such key.
    Unknown,
}

impl KeyState {
    /// The state of a key as [`ApiKeyStore::tenant_for`] alone can tell it
    /// (which cannot tell a revoked key from an unknown one).
    pub fn from_tenant(tenant: Option<TenantId>) -> Self {
        tenant.map_or(KeyState::Unknown, |t| KeyState::Active(t, Role::Admin))
    }
}

/// What an API key (and a console session made from it) may do. A key stored
/// before keys had roles has none and reads as [`Role::Admin`], so existing keys
/// keep working.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and changes everything of its tenant.
    #[default]
    Admin,
    /// Reads only: every change (any method but GET and HEAD) is refused with 403.
    Viewer,
}

impl Role {
    /// `admin` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    /// Whether it may change anything (create, edit, start, delete).
    pub fn may_change(self) -> bool {
        self == Role::Admin
    }

    /// `admin` or `viewer`, as written.
    pub fn parse(raw: &str) -> Result<Self, UnknownRole> {
        match raw {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role that is neither `admin` nor `viewer`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be admin or viewer, not {0:?}")]
pub struct UnknownRole(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_as_written_and_only_admins_change() {
        assert_eq!(Role::parse("viewer"), Ok(Role::Viewer));
        assert_eq!(Role::parse("admin"), Ok(Role::Admin));
        assert!(Role::parse("Admin").is_err());
        assert!(Role::Admin.may_change());
        assert!(!Role::Viewer.may_change());
        assert_eq!(
            Role::default(),
            Role::Admin,
            "a key without a role is an admin key"
        );
    }
}
