//! Deliveries and their attempts in the deliveries table (docs/architecture.md):
//!
//! - delivery `T#{t}#DLV#{id}` / `DLV`; gsi1 `T#{t}#CONN#{c}#DLV#{state}` /
//!   `{created_at}#{id}`; gsi2 `DUE` / `{next_attempt_at}#{t}#{id}`, only while
//!   pending (a sparse index: the retry worker reads only what is due);
//! - attempt `T#{t}#DLV#{id}` / `ATTEMPT#{n:04}`.
//!
//! Every change after creation is guarded by the `version` attribute, and an
//! attempt is written in the same transaction as the delivery's new state.

use super::keys;
use super::record::{RecordError, corrupt, parse_id};
use super::table::{Condition, QueryOptions, SkRange, Table, store_error};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use domain::delivery::{
    Attempt, AttemptOutcome, Delivery, DeliveryId, DeliveryKind, DeliveryState,
};
use domain::ports::{DeliveryStore, StoreError, Written};
use domain::{ConnectionId, TenantId};
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::to_item;

/// The sort key of a delivery item.
pub const DELIVERY_SK: &str = "DLV";
/// The gsi2 partition of pending deliveries.
pub const DUE: &str = "DUE";
const ATTEMPT_SK_PREFIX: &str = "ATTEMPT#";
/// The largest attempt number that keeps four digits.
pub const MAX_ATTEMPT: u32 = 9_999;

/// `T#{t}#DLV#{id}`: a delivery's partition.
pub fn delivery_pk(tenant: &TenantId, id: &DeliveryId) -> String {
    format!("{}#DLV#{id}", keys::tenant(tenant))
}

/// `T#{t}#CONN#{c}#DLV#{state}`: a connection's deliveries in one state (gsi1).
pub fn by_state_pk(tenant: &TenantId, connection: &ConnectionId, state: DeliveryState) -> String {
    format!(
        "{}#DLV#{}",
        keys::connection(tenant, connection),
        state.as_str()
    )
}

/// `{next_attempt_at}#{t}#{id}`: a pending delivery's place in the `DUE` index.
pub fn due_sk(at: DateTime<Utc>, tenant: &TenantId, id: &DeliveryId) -> String {
    format!("{}#{tenant}#{id}", keys::timestamp(at))
}

/// `ATTEMPT#{n:04}`.
pub fn attempt_sk(n: u32) -> String {
    format!("{ATTEMPT_SK_PREFIX}{n:04}")
}

/// Why the delivery store refused a write.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryStoreError {
    #[error("attempt {n} is beyond the most a delivery keeps ({MAX_ATTEMPT})")]
    TooManyAttempts { n: u32 },
    #[error("a delivery could not be encoded")]
    Encode(#[source] serde_json::Error),
    #[error("a delivery item could not be encoded")]
    Item(#[source] serde_dynamo::Error),
    #[error("the transaction could not be built")]
    Build(#[source] aws_sdk_dynamodb::error::BuildError),
}

fn rejected(error: DeliveryStoreError) -> StoreError {
    StoreError::Rejected(Box::new(error))
}

/// A delivery as stored. The payload is kept as JSON text, so numbers come
/// back exactly as they went in.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeliveryRecord {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    tenant: String,
    id: String,
    connection: String,
    kind: DeliveryKind,
    learner: String,
    offering: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    assessable: Option<String>,
    idempotency_key: String,
    payload: String,
    state: DeliveryState,
    attempts: u32,
    #[serde(default)]
    same_day_retries: u32,
    created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_attempt_at: Option<DateTime<Utc>>,
    next_attempt_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    version: u64,
}

impl DeliveryRecord {
    fn from_delivery(d: &Delivery, version: u64) -> Result<Self, StoreError> {
        let pending = d.state == DeliveryState::Pending;
        Ok(Self {
            pk: delivery_pk(&d.tenant, &d.id),
            sk: DELIVERY_SK.to_owned(),
            gsi1pk: by_state_pk(&d.tenant, &d.connection, d.state),
            gsi1sk: format!("{}#{}", keys::timestamp(d.created_at), d.id),
            gsi2pk: pending.then(|| DUE.to_owned()),
            gsi2sk: pending.then(|| due_sk(d.next_attempt_at, &d.tenant, &d.id)),
            tenant: d.tenant.to_string(),
            id: d.id.to_string(),
            connection: d.connection.to_string(),
            kind: d.kind,
            learner: d.learner.to_string(),
            offering: d.offering.to_string(),
            assessable: d.assessable.as_ref().map(ToString::to_string),
            idempotency_key: d.idempotency_key.clone(),
            payload: serde_json::to_string(&d.payload)
                .map_err(|e| rejected(DeliveryStoreError::Encode(e)))?,
            state: d.state,
            attempts: d.attempts,
            same_day_retries: d.same_day_retries,
            created_at: d.created_at,
            first_attempt_at: d.first_attempt_at,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            last_error: d.last_error.clone(),
            version,
        })
    }
}

#[derive(Debug, thiserror::Error)]
enum PayloadError {
    #[error("the stored payload is not JSON")]
    Json(#[source] serde_json::Error),
}

impl TryFrom<DeliveryRecord> for Delivery {
    type Error = StoreError;

    fn try_from(r: DeliveryRecord) -> Result<Self, StoreError> {
        let ids = || -> Result<_, RecordError> {
            let tenant: TenantId = parse_id(r.tenant.clone())?;
            let id: DeliveryId = parse_id(r.id.clone())?;
            if r.pk != delivery_pk(&tenant, &id) || r.sk != DELIVERY_SK {
                return Err(RecordError::KeyMismatch);
            }
            Ok((
                tenant,
                id,
                parse_id(r.connection.clone())?,
                parse_id(r.learner.clone())?,
                parse_id(r.offering.clone())?,
                r.assessable.clone().map(parse_id).transpose()?,
            ))
        };
        let (tenant, id, connection, learner, offering, assessable) =
            ids().map_err(|e| corrupt("delivery", e))?;
        let payload = serde_json::from_str(&r.payload).map_err(|e| StoreError::Corrupt {
            what: "delivery payload".to_owned(),
            source: Box::new(PayloadError::Json(e)),
        })?;
        Ok(Delivery {
            tenant,
            id,
            connection,
            kind: r.kind,
            learner,
            offering,
            assessable,
            idempotency_key: r.idempotency_key,
            payload,
            state: r.state,
            attempts: r.attempts,
            same_day_retries: r.same_day_retries,
            created_at: r.created_at,
            first_attempt_at: r.first_attempt_at,
            next_attempt_at: r.next_attempt_at,
            delivered_at: r.delivered_at,
            last_error: r.last_error,
            version: r.version,
        })
    }
}

/// One attempt as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AttemptRecord {
    pk: String,
    sk: String,
    n: u32,
    at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    outcome: AttemptOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl From<AttemptRecord> for Attempt {
    fn from(r: AttemptRecord) -> Self {
        Attempt {
            n: r.n,
            at: r.at,
            status: r.status,
            outcome: r.outcome,
            message: r.message,
        }
    }
}

/// [`DeliveryStore`] over the deliveries table.
#[derive(Debug, Clone)]
pub struct DynamoDeliveryStore {
    table: Table,
}

impl DynamoDeliveryStore {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    fn to_delivery(record: DeliveryRecord) -> Result<Delivery, StoreError> {
        Delivery::try_from(record)
    }

    async fn update_with_attempt(
        &self,
        delivery: &Delivery,
        attempt: &Attempt,
    ) -> Result<(), StoreError> {
        if attempt.n > MAX_ATTEMPT {
            return Err(rejected(DeliveryStoreError::TooManyAttempts {
                n: attempt.n,
            }));
        }
        let record = DeliveryRecord::from_delivery(delivery, delivery.version.saturating_add(1))?;
        let attempt_record = AttemptRecord {
            pk: record.pk.clone(),
            sk: attempt_sk(attempt.n),
            n: attempt.n,
            at: attempt.at,
            status: attempt.status,
            outcome: attempt.outcome,
            message: attempt.message.clone(),
        };
        let item = to_item(&record).map_err(|e| rejected(DeliveryStoreError::Item(e)))?;
        let attempt_item =
            to_item(&attempt_record).map_err(|e| rejected(DeliveryStoreError::Item(e)))?;
        let put_delivery = Put::builder()
            .table_name(self.table.name())
            .set_item(Some(item))
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(
                ":version",
                AttributeValue::N(delivery.version.to_string()),
            )
            .build()
            .map_err(|e| rejected(DeliveryStoreError::Build(e)))?;
        let put_attempt = Put::builder()
            .table_name(self.table.name())
            .set_item(Some(attempt_item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| rejected(DeliveryStoreError::Build(e)))?;
        let result = self
            .table
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_delivery).build())
            .transact_items(TransactWriteItem::builder().put(put_attempt).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                let conflict = matches!(
                    err.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(c))
                        if c.cancellation_reasons()
                            .iter()
                            .any(|r| r.code() == Some("ConditionalCheckFailed"))
                );
                if conflict {
                    Err(StoreError::Conflict {
                        what: format!("delivery {}", delivery.id),
                    })
                } else {
                    Err(store_error(err))
                }
            }
        }
    }
}

#[async_trait]
impl DeliveryStore for DynamoDeliveryStore {
    async fn create(&self, delivery: &Delivery) -> Result<Written, StoreError> {
        let record = DeliveryRecord::from_delivery(delivery, delivery.version)?;
        self.table.put(&record, Condition::NotExists).await
    }

    async fn delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        let record: Option<DeliveryRecord> = self
            .table
            .get(&delivery_pk(tenant, id), DELIVERY_SK)
            .await?;
        record.map(Self::to_delivery).transpose()
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        // `{now}#~` sorts after every `{now}#{tenant}#{id}`: ids hold no `~`.
        let range = SkRange::AtMost(format!("{}#~", keys::timestamp(now)));
        let records: Vec<DeliveryRecord> = self
            .table
            .query_index(
                keys::GSI2,
                DUE,
                &range,
                QueryOptions::default().limit(limit),
            )
            .await?;
        records.into_iter().map(Self::to_delivery).collect()
    }

    async fn due_checked(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<(Vec<Delivery>, Vec<domain::ports::UnreadableRecord>), StoreError> {
        let range = SkRange::AtMost(format!("{}#~", keys::timestamp(now)));
        let (records, bad) = self
            .table
            .query_index_checked::<DeliveryRecord>(
                keys::GSI2,
                DUE,
                &range,
                QueryOptions::default().limit(limit),
            )
            .await?;
        let mut unreadable: Vec<_> = bad
            .iter()
            .map(|(item, error)| super::record::unreadable(item, "connection", error))
            .collect();
        let mut due = Vec::with_capacity(records.len());
        for record in records {
            let key = format!("{} / {}", record.pk, record.sk);
            let (tenant, connection) = (record.tenant.clone(), record.connection.clone());
            match Self::to_delivery(record) {
                Ok(d) => due.push(d),
                Err(error) => unreadable.push(domain::ports::UnreadableRecord {
                    key,
                    tenant: TenantId::parse(tenant).ok(),
                    connection: ConnectionId::parse(connection).ok(),
                    reason: crate::error::error_chain(&error),
                }),
            }
        }
        Ok((due, unreadable))
    }

    async fn by_state(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: DeliveryState,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let records: Vec<DeliveryRecord> = self
            .table
            .query_index(
                keys::GSI1,
                &by_state_pk(tenant, connection, state),
                &SkRange::Any,
                QueryOptions::default().limit(limit),
            )
            .await?;
        let deliveries = records
            .into_iter()
            .map(Self::to_delivery)
            .collect::<Result<Vec<_>, _>>()?;
        // Defence in depth: the index key names the tenant, and so must each record.
        if deliveries.iter().any(|d| &d.tenant != tenant) {
            return Err(corrupt("delivery", RecordError::KeyMismatch));
        }
        Ok(deliveries)
    }

    async fn attempts(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Vec<Attempt>, StoreError> {
        let records: Vec<AttemptRecord> = self
            .table
            .query(
                &delivery_pk(tenant, id),
                Some(ATTEMPT_SK_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        Ok(records.into_iter().map(Attempt::from).collect())
    }

    async fn update(
        &self,
        delivery: &Delivery,
        attempt: Option<&Attempt>,
    ) -> Result<(), StoreError> {
        match attempt {
            Some(attempt) => self.update_with_attempt(delivery, attempt).await,
            None => {
                let record = DeliveryRecord::from_delivery(delivery, delivery.version)?;
                self.table
                    .put(&record, Condition::VersionIs(delivery.version))
                    .await
                    .map(|_| ())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_architecture() {
        let t = TenantId::parse("acme").unwrap();
        let c = ConnectionId::parse("sms").unwrap();
        let id = DeliveryId::parse("dlv-1").unwrap();
        assert_eq!(delivery_pk(&t, &id), "T#acme#DLV#dlv-1");
        assert_eq!(
            by_state_pk(&t, &c, DeliveryState::Pending),
            "T#acme#CONN#sms#DLV#pending"
        );
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(due_sk(at, &t, &id), "2023-11-14T22:13:20.000Z#acme#dlv-1");
        assert_eq!(attempt_sk(7), "ATTEMPT#0007");
    }
}
