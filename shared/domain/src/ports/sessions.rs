//! Console sessions: a signed-in person's tenant, role and CSRF token, stored under
//! the hash of a random session id (the id itself lives only in their cookie).

use super::keys::Role;
use super::store::StoreError;
use crate::ids::{ConnectionId, TenantId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// One console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub tenant: TenantId,
    /// The role of the API key it was made from (read again from the key on each
    /// request, so a key's change reaches its sessions).
    pub role: Role,
    /// The stored hash of the API key it was made from: a revoked key ends its
    /// sessions. (The hash cannot authenticate: only the key can.)
    pub key_hash: String,
    /// The token every form of this session carries (a hidden field).
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    /// After this it is refused, whether or not the store has removed it yet.
    pub expires: DateTime<Utc>,
}

/// Where console sessions live, by the hash of their id.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn save_session(&self, id_hash: &str, session: &Session) -> Result<(), StoreError>;
    /// The session, if stored and not expired at `now`.
    async fn session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError>;
    /// Ends a session (and what it remembered); ending one that is not there is fine.
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// The LLN connection a session chose to work with on the console's LLN
    /// screens (None until its person chooses one). Read only with the session
    /// itself: a choice outliving its session opens nothing.
    async fn lln_choice(&self, id_hash: &str) -> Result<Option<ConnectionId>, StoreError>;
    /// Remembers the LLN connection a session works with, until `expires` (the
    /// session's own expiry).
    async fn choose_lln(
        &self,
        id_hash: &str,
        connection: &ConnectionId,
        expires: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}
