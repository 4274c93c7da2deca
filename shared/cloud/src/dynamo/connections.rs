//! Connections in the data table.

use super::keys;
use super::record::{RecordError, corrupt, innermost, parse_id, unreadable};
use super::table::{Condition, QueryOptions, SkRange, Table};
use async_trait::async_trait;
use domain::ports::{ConnectionStore, StoreError, UnreadableRecord, Written};
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

/// `T#{t}` / `KIND#{kind}`: the one connection of a kind a tenant may have
/// only one of ([`domain::ConnectionKind::one_per_tenant`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KindMarker {
    pk: String,
    sk: String,
    connection: String,
}

fn kind_marker_sk(kind: domain::ConnectionKind) -> String {
    format!("KIND#{}", kind.as_str())
}

fn to_connection(record: ConnectionRecord) -> Result<Connection, StoreError> {
    let what = format!("connection {}", record.id);
    Connection::try_from(record).map_err(|e| corrupt(&what, e))
}

/// A connection's item that did not decode, named as the connection it
/// should be (`what`: `connection {id}`), so the error says which to repair.
fn named(id: &ConnectionId, error: StoreError) -> StoreError {
    match error {
        StoreError::Corrupt { source, .. } => StoreError::Corrupt {
            what: format!("connection {id}"),
            source,
        },
        other => other,
    }
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

    /// Removes a connection, and its kind's marker when it holds it (its
    /// secret is the caller's to remove).
    pub async fn delete_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<(), StoreError> {
        if let Some(connection) = self.connection(tenant, id).await?
            && connection.kind().one_per_tenant()
        {
            self.table
                .delete_if(
                    &keys::tenant(tenant),
                    &kind_marker_sk(connection.kind()),
                    "connection",
                    id.as_str(),
                )
                .await?;
        }
        self.table
            .delete(&keys::tenant(tenant), &keys::connection_sk(id))
            .await
    }
}

#[async_trait]
impl ConnectionStore for DynamoConnectionStore {
    /// The enabled connections that are readable: one whose record does not
    /// decode is left out (logged with its key), as in [`Self::connections`];
    /// [`ConnectionStore::enabled_connections_checked`] lists it.
    async fn enabled_connections(&self) -> Result<Vec<Connection>, StoreError> {
        let (connections, unreadable) = self.enabled_connections_checked().await?;
        for record in &unreadable {
            tracing::warn!(key = %record.key, reason = %record.reason, "a connection's stored record could not be read; left out");
        }
        Ok(connections)
    }

    async fn enabled_connections_checked(
        &self,
    ) -> Result<(Vec<Connection>, Vec<UnreadableRecord>), StoreError> {
        let (records, bad) = self
            .table
            .query_index_checked::<ConnectionRecord>(
                keys::GSI1,
                keys::ENABLED,
                &SkRange::Any,
                QueryOptions::default(),
            )
            .await?;
        let mut unreadable_records: Vec<UnreadableRecord> = bad
            .iter()
            .map(|(item, error)| unreadable(item, "id", error))
            .collect();
        let mut connections = Vec::with_capacity(records.len());
        for record in records {
            let key = format!("{} / {}", record.pk, record.sk);
            let (tenant, id) = (record.tenant.clone(), record.id.clone());
            match to_connection(record) {
                Ok(c) => connections.push(c),
                Err(error) => unreadable_records.push(UnreadableRecord {
                    key,
                    tenant: TenantId::parse(tenant).ok(),
                    connection: ConnectionId::parse(id).ok(),
                    reason: crate::error::error_chain(&error),
                }),
            }
        }
        // The index is eventually consistent: a connection disabled a moment ago
        // may still be listed, so the rule is checked again on the record itself.
        connections.retain(|c| c.enabled && c.kind().is_synced_nightly());
        Ok((connections, unreadable_records))
    }

    async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError> {
        let record: Option<ConnectionRecord> = self
            .table
            .get(&keys::tenant(tenant), &keys::connection_sk(id))
            .await
            .map_err(|e| named(id, e))?;
        record.map(to_connection).transpose()
    }

    /// The tenant's readable connections: one whose record does not decode is
    /// left out (logged with its key), so it never stops the work of the
    /// others; [`ConnectionStore::connections_checked`] lists it.
    async fn connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, StoreError> {
        let (connections, unreadable) = self.connections_checked(tenant).await?;
        for record in &unreadable {
            tracing::warn!(key = %record.key, reason = %record.reason, "a connection's stored record could not be read; left out");
        }
        Ok(connections)
    }

    async fn connections_checked(
        &self,
        tenant: &TenantId,
    ) -> Result<(Vec<Connection>, Vec<UnreadableRecord>), StoreError> {
        let (records, bad) = self
            .table
            .query_checked::<ConnectionRecord>(
                &keys::tenant(tenant),
                Some(keys::CONNECTION_SK_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        let mut unreadable_records: Vec<UnreadableRecord> = bad
            .iter()
            .map(|(item, error)| {
                let mut record = unreadable(item, "id", error);
                // The id is in the key whatever the attributes say.
                let from_key = item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.strip_prefix(keys::CONNECTION_SK_PREFIX))
                    .and_then(|id| ConnectionId::parse(id).ok());
                record.connection = from_key.or(record.connection);
                record
            })
            .collect();
        let mut connections = Vec::with_capacity(records.len());
        for record in records {
            let key = format!("{} / {}", record.pk, record.sk);
            let id = record.id.clone();
            match to_connection(record) {
                Ok(c) => connections.push(c),
                Err(error) => unreadable_records.push(UnreadableRecord {
                    key,
                    tenant: Some(tenant.clone()),
                    connection: ConnectionId::parse(id).ok(),
                    reason: innermost(&error),
                }),
            }
        }
        // An item of another tenant's key space never reaches here (the
        // query is by this tenant's key), whatever its `tenant` attribute says.
        for record in &mut unreadable_records {
            record.tenant = Some(tenant.clone());
        }
        Ok((connections, unreadable_records))
    }

    async fn save_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        self.table
            .put(&ConnectionRecord::from(connection), Condition::None)
            .await?;
        Ok(())
    }

    async fn repair_connection(&self, connection: &Connection) -> Result<Written, StoreError> {
        let pk = keys::tenant(&connection.tenant);
        let id = connection.id.as_str();
        if connection.kind().one_per_tenant() {
            // Its kind's marker: taken, or already this connection's.
            let taken = self
                .table
                .put_unless_held(
                    &KindMarker {
                        pk: pk.clone(),
                        sk: kind_marker_sk(connection.kind()),
                        connection: id.to_owned(),
                    },
                    "connection",
                    id,
                )
                .await?;
            if taken == Written::AlreadyDone {
                return Ok(Written::AlreadyDone);
            }
        }
        // The markers of the kinds it was written as before, let go.
        for kind in domain::ConnectionKind::ALL {
            if kind.one_per_tenant() && kind != connection.kind() {
                self.table
                    .delete_if(&pk, &kind_marker_sk(kind), "connection", id)
                    .await?;
            }
        }
        self.save_connection(connection).await?;
        Ok(Written::Done)
    }

    async fn create_connection(&self, connection: &Connection) -> Result<Written, StoreError> {
        let record = ConnectionRecord::from(connection);
        if !connection.kind().one_per_tenant() {
            return self.table.put(&record, Condition::NotExists).await;
        }
        // The record and its kind's marker, both only if absent, in one
        // transaction: two creates of the kind racing never both succeed.
        let marker = KindMarker {
            pk: keys::tenant(&connection.tenant),
            sk: kind_marker_sk(connection.kind()),
            connection: connection.id.to_string(),
        };
        let put = |item| {
            aws_sdk_dynamodb::types::Put::builder()
                .table_name(self.table.name())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::Rejected(Box::new(e)))
        };
        let items = [
            serde_dynamo::aws_sdk_dynamodb_1::to_item(&record),
            serde_dynamo::aws_sdk_dynamodb_1::to_item(&marker),
        ];
        let mut request = self.table.client().transact_write_items();
        for item in items {
            let item = item.map_err(|e| StoreError::Rejected(Box::new(e)))?;
            request = request.transact_items(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .put(put(item)?)
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => Ok(Written::Done),
            Err(err) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                let refused = matches!(
                    err.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(c))
                        if c.cancellation_reasons()
                            .iter()
                            .any(|r| r.code() == Some("ConditionalCheckFailed"))
                );
                if refused {
                    Ok(Written::AlreadyDone)
                } else {
                    Err(super::table::store_error(err))
                }
            }
        }
    }
}
