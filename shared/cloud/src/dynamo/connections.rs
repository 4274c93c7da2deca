//! Connections in the data table.

use super::keys;
use super::record::{RecordError, corrupt, parse_id};
use super::table::{Condition, QueryOptions, SkRange, Table};
use async_trait::async_trait;
use domain::ports::{ConnectionStore, StoreError, Written};
use domain::{Connection, ConnectionId, ConnectionSettings, TenantId};
use serde::{Deserialize, Serialize};

/// A connection as stored: `T#{t}` / `CONN#{c}`, and in the sparse `gsi1`
/// (`ENABLED` / `T#{t}#CONN#{c}`) only while it is enabled and of a kind the
/// nightly sync runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConnectionRecord {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    tenant: String,
    id: String,
    name: String,
    base_url: String,
    enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_email: Option<String>,
    settings: ConnectionSettings,
}

impl From<&Connection> for ConnectionRecord {
    fn from(c: &Connection) -> Self {
        let nightly = c.enabled && c.kind().is_synced_nightly();
        Self {
            pk: keys::tenant(&c.tenant),
            sk: keys::connection_sk(&c.id),
            gsi1pk: nightly.then(|| keys::ENABLED.to_owned()),
            gsi1sk: nightly.then(|| keys::connection(&c.tenant, &c.id)),
            tenant: c.tenant.to_string(),
            id: c.id.to_string(),
            name: c.name.clone(),
            base_url: c.base_url.clone(),
            enabled: c.enabled,
            error_email: c.error_email.clone(),
            settings: c.settings.clone(),
        }
    }
}

impl TryFrom<ConnectionRecord> for Connection {
    type Error = RecordError;

    fn try_from(r: ConnectionRecord) -> Result<Self, RecordError> {
        let tenant: TenantId = parse_id(r.tenant)?;
        let id: ConnectionId = parse_id(r.id)?;
        if r.pk != keys::tenant(&tenant) || r.sk != keys::connection_sk(&id) {
            return Err(RecordError::KeyMismatch);
        }
        Ok(Connection {
            tenant,
            id,
            name: r.name,
            base_url: r.base_url,
            enabled: r.enabled,
            error_email: r.error_email,
            settings: r.settings,
        })
    }
}

fn to_connection(record: ConnectionRecord) -> Result<Connection, StoreError> {
    Connection::try_from(record).map_err(|e| corrupt("connection", e))
}

/// [`ConnectionStore`] over the data table.
#[derive(Debug, Clone)]
pub struct DynamoConnectionStore {
    table: Table,
}

impl DynamoConnectionStore {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// Removes a connection (its secret is the caller's to remove).
    pub async fn delete_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<(), StoreError> {
        self.table
            .delete(&keys::tenant(tenant), &keys::connection_sk(id))
            .await
    }
}

#[async_trait]
impl ConnectionStore for DynamoConnectionStore {
    async fn enabled_connections(&self) -> Result<Vec<Connection>, StoreError> {
        let records: Vec<ConnectionRecord> = self
            .table
            .query_index(
                keys::GSI1,
                keys::ENABLED,
                &SkRange::Any,
                QueryOptions::default(),
            )
            .await?;
        let connections = records
            .into_iter()
            .map(to_connection)
            .collect::<Result<Vec<_>, _>>()?;
        // The index is eventually consistent: a connection disabled a moment ago
        // may still be listed, so the rule is checked again on the record itself.
        Ok(connections
            .into_iter()
            .filter(|c| c.enabled && c.kind().is_synced_nightly())
            .collect())
    }

    async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError> {
        let record: Option<ConnectionRecord> = self
            .table
            .get(&keys::tenant(tenant), &keys::connection_sk(id))
            .await?;
        record.map(to_connection).transpose()
    }

    async fn connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, StoreError> {
        let records: Vec<ConnectionRecord> = self
            .table
            .query(
                &keys::tenant(tenant),
                Some(keys::CONNECTION_SK_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        records.into_iter().map(to_connection).collect()
    }

    async fn save_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        self.table
            .put(&ConnectionRecord::from(connection), Condition::None)
            .await?;
        Ok(())
    }

    async fn create_connection(&self, connection: &Connection) -> Result<Written, StoreError> {
        self.table
            .put(&ConnectionRecord::from(connection), Condition::NotExists)
            .await
    }
}
