//! Console sessions in the data table: `SESSION#{hash of the session id}` /
//! `SESSION`, removed by DynamoDB's TTL (`expires_at`) and refused after their
//! expiry on read whether or not TTL has removed them yet (TTL runs late).

use super::record::{corrupt, parse_id};
use super::table::{Condition, Table};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::{Role, Session, SessionStore, StoreError};
use serde::{Deserialize, Serialize};

const SESSION_SK: &str = "SESSION";

fn session_pk(id_hash: &str) -> String {
    format!("SESSION#{id_hash}")
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionRecord {
    pk: String,
    sk: String,
    tenant: String,
    role: Role,
    key_hash: String,
    csrf: String,
    created_at: DateTime<Utc>,
    expires: DateTime<Utc>,
    /// DynamoDB's TTL attribute (epoch seconds).
    expires_at: i64,
}

/// [`SessionStore`] over the data table.
#[derive(Debug, Clone)]
pub struct DynamoSessionStore {
    table: Table,
}

impl DynamoSessionStore {
    pub fn new(table: Table) -> Self {
        Self { table }
    }
}

#[async_trait]
impl SessionStore for DynamoSessionStore {
    async fn save_session(&self, id_hash: &str, session: &Session) -> Result<(), StoreError> {
        let record = SessionRecord {
            pk: session_pk(id_hash),
            sk: SESSION_SK.to_owned(),
            tenant: session.tenant.to_string(),
            role: session.role,
            key_hash: session.key_hash.clone(),
            csrf: session.csrf.clone(),
            created_at: session.created_at,
            expires: session.expires,
            expires_at: session.expires.timestamp(),
        };
        // A fresh 256-bit id never collides; NotExists keeps it so.
        self.table.put(&record, Condition::NotExists).await?;
        Ok(())
    }

    async fn session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let record: Option<SessionRecord> =
            self.table.get(&session_pk(id_hash), SESSION_SK).await?;
        let Some(r) = record else {
            return Ok(None);
        };
        if r.expires <= now {
            return Ok(None);
        }
        Ok(Some(Session {
            tenant: parse_id(r.tenant).map_err(|e| corrupt("session", e))?,
            role: r.role,
            key_hash: r.key_hash,
            csrf: r.csrf,
            created_at: r.created_at,
            expires: r.expires,
        }))
    }

    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.table.delete(&session_pk(id_hash), SESSION_SK).await
    }
}
