//! Every adapter a function may need, built once from its configuration; and
//! the small adapters that belong to no bigger module (the attendance inbox,
//! the secret source port).

use crate::config::Config;
use crate::dynamo::{
    Condition, DynamoApiKeyStore, DynamoConnectionStore, DynamoRunStore, Table, keys,
};
use crate::secrets::{SecretError as SmError, Secrets};
use crate::sqs::SqsJobQueue;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::{AttendanceInbox, SecretError, SecretSource, StoreError, Written};
use domain::{ConnectionId, TenantId};
use serde::Serialize;

/// The adapters over one stack's tables, queues and secrets. Clients share
/// their HTTP connection pools, so building all of them costs little.
pub struct Stores {
    pub connections: DynamoConnectionStore,
    pub runs: DynamoRunStore,
    pub api_keys: DynamoApiKeyStore,
    pub inbox: DynamoAttendanceInbox,
    pub queue: SqsJobQueue,
    pub secrets: Secrets,
    pub deliveries: crate::dynamo::deliveries::DynamoDeliveryStore,
    pub sis: crate::dynamo::DynamoSisStore,
    pub links: crate::dynamo::DynamoLinkStore,
    pub results: crate::dynamo::DynamoResultStore,
    pub attendance: crate::dynamo::DynamoAttendanceStore,
    /// LLN invitations, downloads, saved assessments, API call log, history.
    pub lln: crate::dynamo::DynamoLlnStore,
    pub tenants: crate::dynamo::DynamoTenantSettingsStore,
}

impl Stores {
    /// Over a whole stack ([`Config`]): the local runner and the tests.
    pub fn new(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        Self::build(&config.tables, &config.queues, config.run_history_days, sdk)
    }

    /// Over `tables`, sending to `queues`, keeping runs `run_history_days`: what a
    /// function's own config gives. One client per service (the DynamoDB one shared
    /// by the three tables); the SQS and Secrets Manager ones are built at their first
    /// call, not at init ([`crate::sdk::LazyClient`]): not every invocation uses them.
    pub fn build(
        tables: &crate::config::Tables,
        queues: &crate::config::Queues,
        run_history_days: u32,
        sdk: &aws_config::SdkConfig,
    ) -> Self {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        let data = Table::new(dynamo.clone(), tables.data.clone());
        let runs = Table::new(dynamo.clone(), tables.runs.clone());
        let deliveries = Table::new(dynamo, tables.deliveries.clone());
        Self {
            connections: DynamoConnectionStore::new(data.clone()),
            runs: DynamoRunStore::new(runs, run_history_days),
            api_keys: DynamoApiKeyStore::new(data.clone()),
            sis: crate::dynamo::DynamoSisStore::new(data.clone()),
            links: crate::dynamo::DynamoLinkStore::new(data.clone()),
            results: crate::dynamo::DynamoResultStore::new(data.clone()),
            attendance: crate::dynamo::DynamoAttendanceStore::new(data.clone()),
            lln: crate::dynamo::DynamoLlnStore::new(data.clone()),
            tenants: crate::dynamo::DynamoTenantSettingsStore::new(data.clone()),
            inbox: DynamoAttendanceInbox::new(data),
            queue: SqsJobQueue::lazy(sdk, queues.clone()),
            secrets: Secrets::lazy(sdk),
            deliveries: crate::dynamo::deliveries::DynamoDeliveryStore::new(deliveries),
        }
    }
}

/// Raw CourseKey records, `T#{t}#CK#{c}` / `REC#{id}`, stored once by their id.
#[derive(Clone)]
pub struct DynamoAttendanceInbox {
    table: Table,
}

#[derive(Serialize)]
struct RawRecord<'a> {
    pk: String,
    sk: String,
    tenant: &'a str,
    connection: &'a str,
    record_id: &'a str,
    /// The record exactly as CourseKey sent it (JSON text).
    body: &'a str,
    received_at: DateTime<Utc>,
}

impl DynamoAttendanceInbox {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// The partition holding a CourseKey connection's raw records.
    pub fn partition(tenant: &TenantId, connection: &ConnectionId) -> String {
        format!("{}#CK#{connection}", keys::tenant(tenant))
    }
}

#[async_trait]
impl AttendanceInbox for DynamoAttendanceInbox {
    async fn store_record(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        record_id: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        let record = RawRecord {
            pk: Self::partition(tenant, connection),
            sk: format!("REC#{record_id}"),
            tenant: tenant.as_str(),
            connection: connection.as_str(),
            record_id,
            body,
            received_at: now,
        };
        self.table.put(&record, Condition::NotExists).await
    }
}

#[derive(serde::Deserialize)]
struct StoredRawRecord {
    body: String,
}

#[async_trait]
impl domain::ports::AttendanceRecords for DynamoAttendanceInbox {
    async fn raw_record(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        record_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let stored: Option<StoredRawRecord> = self
            .table
            .get(
                &Self::partition(tenant, connection),
                &format!("REC#{record_id}"),
            )
            .await?;
        Ok(stored.map(|r| r.body))
    }
}

#[async_trait]
impl SecretSource for Secrets {
    async fn secret(&self, name: &str) -> Result<secrecy::SecretString, SecretError> {
        self.get(name).await.map_err(|e| match e {
            SmError::NotFound { name } | SmError::NotText { name } => {
                SecretError::NotFound { name }
            }
            e @ SmError::Unavailable { .. } => SecretError::Unavailable(Box::new(e)),
            e @ SmError::Rejected { .. } => SecretError::Rejected(Box::new(e)),
        })
    }
}

#[async_trait]
impl domain::ports::SecretSink for Secrets {
    async fn put_secret(
        &self,
        name: &str,
        value: &secrecy::SecretString,
    ) -> Result<(), SecretError> {
        self.put(name, value).await.map_err(|e| match e {
            SmError::NotFound { name } | SmError::NotText { name } => {
                SecretError::NotFound { name }
            }
            e @ SmError::Unavailable { .. } => SecretError::Unavailable(Box::new(e)),
            e @ SmError::Rejected { .. } => SecretError::Rejected(Box::new(e)),
        })
    }
}
