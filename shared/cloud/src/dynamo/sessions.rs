//! Console sessions in the data table: `SESSION#{hash of the session id}` /
//! `SESSION`, removed by DynamoDB's TTL (`expires_at`) and refused after their
//! expiry on read whether or not TTL has removed them yet (TTL runs late).
//! What a session remembers (the LLN connection chosen) is an item of its own
//! beside it, `SESSION#{hash}` / `LLN`, so remembering never rewrites (and
//! never brings back) the session itself.

use super::record::{corrupt, parse_id};
use super::table::{Condition, Table};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ConnectionId;
use domain::ports::{Role, Session, SessionStore, StoreError};
use serde::{Deserialize, Serialize};

const SESSION_SK: &str = "SESSION";
const LLN_CHOICE_SK: &str = "LLN";

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

/// The LLN connection a session chose.
#[derive(Debug, Serialize, Deserialize)]
struct LlnChoiceRecord {
    pk: String,
    sk: String,
    connection: String,
    /// DynamoDB's TTL attribute (epoch seconds): the session's expiry.
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
        let pk = session_pk(id_hash);
        self.table.delete(&pk, SESSION_SK).await?;
        self.table.delete(&pk, LLN_CHOICE_SK).await
    }

    async fn lln_choice(&self, id_hash: &str) -> Result<Option<ConnectionId>, StoreError> {
        let record: Option<LlnChoiceRecord> =
            self.table.get(&session_pk(id_hash), LLN_CHOICE_SK).await?;
        record
            .map(|r| parse_id(r.connection).map_err(|e| corrupt("session's LLN choice", e)))
            .transpose()
    }

    async fn choose_lln(
        &self,
        id_hash: &str,
        connection: &ConnectionId,
        expires: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = LlnChoiceRecord {
            pk: session_pk(id_hash),
            sk: LLN_CHOICE_SK.to_owned(),
            connection: connection.to_string(),
            expires_at: expires.timestamp(),
        };
        self.table.put(&record, Condition::None).await?;
        Ok(())
    }
}
