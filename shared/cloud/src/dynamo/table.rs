//! A DynamoDB table with string keys `pk` and `sk`, read and written as serde records.

use crate::error::is_transient;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, PutRequest, ReturnValue, WriteRequest,
};
use domain::ports::{StoreError, Written};
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1::to_item;
use std::collections::HashMap;
use std::time::Duration;

/// One stored item, as DynamoDB sees it.
pub type Item = HashMap<String, AttributeValue>;

/// The most items one `BatchWriteItem` call takes.
pub const BATCH_WRITE_MAX: usize = 25;
/// Calls made for one batch before the items still unprocessed are reported.
const BATCH_WRITE_ATTEMPTS: u32 = 6;
/// `BatchWriteItem` calls one [`Table::batch_put`] has in flight at once.
pub const BATCH_WRITE_CONCURRENCY: usize = 4;
/// `BatchGetItem` calls one [`Table::batch_get`] has in flight at once.
pub const BATCH_GET_CONCURRENCY: usize = 4;
/// The most keys one `BatchGetItem` call takes.
pub const BATCH_GET_MAX: usize = 100;
/// Items per query call when the caller sets no page size (see [`QueryOptions`]).
pub const QUERY_PAGE: u32 = 500;
/// Calls made for one batch of keys before the keys still unprocessed are reported.
const BATCH_GET_ATTEMPTS: u32 = 6;
const BACKOFF_BASE: Duration = Duration::from_millis(25);
const BACKOFF_CAP: Duration = Duration::from_millis(1_000);

/// The guard on a [`Table::put`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Write unconditionally (an upsert).
    None,
    /// Write only if no item has this key: an idempotency key. When one does, the
    /// put is [`Written::AlreadyDone`] and changes nothing.
    NotExists,
    /// Optimistic concurrency: write only if the stored item's `version` is this
    /// one, and store `version + 1` (whatever the record says). When someone else
    /// changed it first, the put is [`StoreError::Conflict`].
    VersionIs(u64),
}

/// Which sort keys a query returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SkRange {
    /// Every item under the partition key.
    #[default]
    Any,
    /// Sort keys that begin with this.
    Prefix(String),
    /// Sort keys from the first to the second, both included.
    Between(String, String),
    /// Sort keys up to and including this one.
    AtMost(String),
    /// Sort keys from this one on.
    AtLeast(String),
}

/// Order, size and paging of a query. The query always follows every page
/// until it has `limit` items or there are no more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueryOptions {
    /// Descending sort key order (for UUIDv7 and timestamp keys: newest first).
    pub newest_first: bool,
    /// At most this many items.
    pub limit: Option<usize>,
    /// At most this many items per DynamoDB call (the rest come in further
    /// pages); [`QUERY_PAGE`] when unset.
    pub page_size: Option<u32>,
}

impl QueryOptions {
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }
}

/// Why a table operation failed before or after DynamoDB answered; the source
/// of the [`StoreError`] the caller sees.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("a record could not be encoded as an item")]
    Encode(#[source] serde_dynamo::Error),
    /// The table's name is kept for a debugger, not said: the error reaches
    /// people (a run's log, a status), and the key in `StoreError::Corrupt`
    /// names the item.
    #[error("the item does not decode")]
    Decode {
        table: String,
        /// The decoding error, led by the path of the attribute it is about
        /// (`settings.run_history_days: invalid type ...`).
        #[source]
        source: serde_path_to_error::Error<serde_dynamo::Error>,
    },
    #[error("a record has no string `{attribute}` key attribute")]
    MissingKey { attribute: &'static str },
    #[error("{left} of {total} items were still unprocessed after {attempts} BatchWriteItem calls")]
    Unprocessed {
        left: usize,
        total: usize,
        attempts: u32,
    },
    #[error("{left} of {total} keys were still unprocessed after {attempts} BatchGetItem calls")]
    UnprocessedKeys {
        left: usize,
        total: usize,
        attempts: u32,
    },
}

/// A conditional write's answer: `true` when it wrote, `false` when its
/// condition refused it (an outcome, not an error), else the store's error.
fn conditional<T, E>(result: Result<T, SdkError<E, HttpResponse>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(err)
            if err.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(err) => Err(store_error(err)),
    }
}

/// Maps an SDK error to the store's classification, keeping it as the source.
pub(crate) fn store_error<E>(err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_transient(&err) {
        StoreError::Unavailable(Box::new(err))
    } else {
        StoreError::Rejected(Box::new(err))
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn encode<T: Serialize>(record: &T) -> Result<Item, StoreError> {
    to_item(record).map_err(|e| StoreError::Rejected(Box::new(TableError::Encode(e))))
}

fn key_of(item: &Item, attribute: &'static str) -> Result<String, StoreError> {
    match item.get(attribute) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        _ => Err(StoreError::Rejected(Box::new(TableError::MissingKey {
            attribute,
        }))),
    }
}

/// A full-jitter exponential backoff delay for the given (0-based) retry.
fn backoff(retry: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(retry))
        .min(BACKOFF_CAP);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// A DynamoDB table whose items have string keys `pk` and `sk`, and whose
/// indexes `{index}` have string keys `{index}pk` and `{index}sk`.
#[derive(Debug, Clone)]
pub struct Table {
    client: Client,
    name: String,
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn decode<T: DeserializeOwned>(&self, item: Item, pk: &str, sk: &str) -> Result<T, StoreError> {
        // As `from_item`, with the path of the attribute that does not decode
        // kept in the error, so a person can tell which one to repair.
        let item: serde_dynamo::Item = item.into();
        let deserializer = serde_dynamo::Deserializer::from_attribute_value(
            serde_dynamo::AttributeValue::M(item.into()),
        );
        serde_path_to_error::deserialize(deserializer).map_err(|source| StoreError::Corrupt {
            what: format!("item {pk} / {sk}"),
            source: Box::new(TableError::Decode {
                table: self.name.clone(),
                source,
            }),
        })
    }

    fn decode_any<T: DeserializeOwned>(&self, item: Item) -> Result<T, StoreError> {
        let pk = item
            .get("pk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let sk = item
            .get("sk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        self.decode(item, &pk, &sk)
    }

    /// Writes one record (which must serialise with string `pk` and `sk`) under `condition`.
    pub async fn put<T: Serialize>(
        &self,
        record: &T,
        condition: Condition,
    ) -> Result<Written, StoreError> {
        let mut item = encode(record)?;
        let pk = key_of(&item, "pk")?;
        let sk = key_of(&item, "sk")?;
        let mut request = self.client.put_item().table_name(&self.name);
        match condition {
            Condition::None => {}
            Condition::NotExists => {
                request = request.condition_expression("attribute_not_exists(pk)")
            }
            Condition::VersionIs(version) => {
                item.insert("version".to_owned(), n(version.saturating_add(1)));
                request = request
                    .condition_expression("#version = :version")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(":version", n(version));
            }
        }
        match request.set_item(Some(item)).send().await {
            Ok(_) => Ok(Written::Done),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                match condition {
                    Condition::NotExists => Ok(Written::AlreadyDone),
                    _ => Err(StoreError::Conflict {
                        what: format!("item {pk} / {sk}"),
                    }),
                }
            }
            Err(err) => Err(store_error(err)),
        }
    }

    /// Reads one item (strongly consistent).
    pub async fn get<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        output
            .item
            .map(|item| self.decode(item, pk, sk))
            .transpose()
    }

    /// Every item under `pk` whose sort key begins with `sk_prefix` (all of them
    /// when `None`), strongly consistent, following every page.
    pub async fn query<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk_prefix: Option<&str>,
        options: QueryOptions,
    ) -> Result<Vec<T>, StoreError> {
        let range = sk_prefix.map_or(SkRange::Any, |prefix| SkRange::Prefix(prefix.to_owned()));
        self.query_items(None, pk, &range, options).await
    }

    /// Items under `pk` whose sort keys are in `sk` (strongly consistent),
    /// following every page until `options.limit`.
    pub async fn query_range<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &SkRange,
        options: QueryOptions,
    ) -> Result<Vec<T>, StoreError> {
        self.query_items(None, pk, sk, options).await
    }

    /// Items of a global secondary index (eventually consistent), following every page.
    pub async fn query_index<T: DeserializeOwned>(
        &self,
        index: &str,
        pk: &str,
        sk: &SkRange,
        options: QueryOptions,
    ) -> Result<Vec<T>, StoreError> {
        self.query_items(Some(index), pk, sk, options).await
    }

    /// Items of a global secondary index as [`Table::query_index`], each item
    /// decoded on its own: those that do not decode are returned apart (raw,
    /// with why), so one bad item does not hide the others.
    #[allow(clippy::type_complexity)]
    pub async fn query_index_checked<T: DeserializeOwned>(
        &self,
        index: &str,
        pk: &str,
        sk: &SkRange,
        options: QueryOptions,
    ) -> Result<(Vec<T>, Vec<(Item, StoreError)>), StoreError> {
        let items = self.query_raw(Some(index), pk, sk, options).await?;
        let mut good = Vec::with_capacity(items.len());
        let mut bad = Vec::new();
        for item in items {
            match self.decode_any(item.clone()) {
                Ok(value) => good.push(value),
                Err(error) => bad.push((item, error)),
            }
        }
        Ok((good, bad))
    }

    /// Items under `pk` as [`Table::query`], each decoded on its own: those
    /// that do not decode are returned apart (raw, with why), so one bad item
    /// does not hide the others.
    #[allow(clippy::type_complexity)]
    pub async fn query_checked<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk_prefix: Option<&str>,
        options: QueryOptions,
    ) -> Result<(Vec<T>, Vec<(Item, StoreError)>), StoreError> {
        let range = sk_prefix.map_or(SkRange::Any, |prefix| SkRange::Prefix(prefix.to_owned()));
        let items = self.query_raw(None, pk, &range, options).await?;
        let mut good = Vec::with_capacity(items.len());
        let mut bad = Vec::new();
        for item in items {
            match self.decode_any(item.clone()) {
                Ok(value) => good.push(value),
                Err(error) => bad.push((item, error)),
            }
        }
        Ok((good, bad))
    }

    async fn query_items<T: DeserializeOwned>(
        &self,
        index: Option<&str>,
        pk: &str,
        range: &SkRange,
        options: QueryOptions,
    ) -> Result<Vec<T>, StoreError> {
        self.query_raw(index, pk, range, options)
            .await?
            .into_iter()
            .map(|item| self.decode_any(item))
            .collect()
    }

    async fn query_raw(
        &self,
        index: Option<&str>,
        pk: &str,
        range: &SkRange,
        options: QueryOptions,
    ) -> Result<Vec<Item>, StoreError> {
        let (pk_name, sk_name) = match index {
            Some(index) => (format!("{index}pk"), format!("{index}sk")),
            None => ("pk".to_owned(), "sk".to_owned()),
        };
        let sk_condition = match range {
            SkRange::Any => None,
            SkRange::Prefix(_) => Some("begins_with(#sk, :sk)"),
            SkRange::Between(_, _) => Some("#sk BETWEEN :sk AND :sk2"),
            SkRange::AtMost(_) => Some("#sk <= :sk"),
            SkRange::AtLeast(_) => Some("#sk >= :sk"),
        };
        let key_condition = match sk_condition {
            Some(condition) => format!("#pk = :pk AND {condition}"),
            None => "#pk = :pk".to_owned(),
        };

        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let remaining = options.limit.map(|limit| limit.saturating_sub(found.len()));
            if remaining == Some(0) {
                break;
            }
            // A page is at most QUERY_PAGE items unless asked otherwise: a
            // partition of thousands (an offering's enrolments) comes in
            // several short calls, each well within the SDK's attempt timeout
            // even on a slow store, instead of one long one.
            let page = options.page_size.unwrap_or(QUERY_PAGE);
            let page_limit = Some(match remaining {
                Some(rest) => page.min(u32::try_from(rest).unwrap_or(u32::MAX)),
                None => page,
            });
            let mut request = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression(&key_condition)
                .expression_attribute_names("#pk", &pk_name)
                .expression_attribute_values(":pk", s(pk))
                .scan_index_forward(!options.newest_first)
                .set_index_name(index.map(str::to_owned))
                .set_consistent_read(index.is_none().then_some(true))
                .set_limit(page_limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
                .set_exclusive_start_key(start.take());
            match range {
                SkRange::Any => {}
                SkRange::Prefix(value) | SkRange::AtMost(value) | SkRange::AtLeast(value) => {
                    request = request
                        .expression_attribute_names("#sk", &sk_name)
                        .expression_attribute_values(":sk", s(value));
                }
                SkRange::Between(from, to) => {
                    request = request
                        .expression_attribute_names("#sk", &sk_name)
                        .expression_attribute_values(":sk", s(from))
                        .expression_attribute_values(":sk2", s(to));
                }
            }
            let output = request.send().await.map_err(store_error)?;
            found.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        if let Some(limit) = options.limit {
            found.truncate(limit);
        }
        Ok(found)
    }

    /// Writes records unconditionally, 25 per call and up to
    /// [`BATCH_WRITE_CONCURRENCY`] calls at once, retrying what DynamoDB leaves
    /// unprocessed with jittered backoff. Puts are idempotent, so after an error
    /// the whole call can be repeated. Keys must be unique within one call.
    pub async fn batch_put<T: Serialize>(&self, records: &[T]) -> Result<(), StoreError> {
        use futures::{StreamExt, TryStreamExt};
        let items = records.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        let chunks: Vec<Vec<Item>> = items
            .chunks(BATCH_WRITE_MAX)
            .map(<[Item]>::to_vec)
            .collect();
        futures::stream::iter(chunks)
            .map(|chunk: Vec<Item>| async move { self.write_batch(&chunk).await })
            .buffer_unordered(BATCH_WRITE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn write_batch(&self, items: &[Item]) -> Result<(), StoreError> {
        let mut pending = items
            .iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
                    .map_err(|e| StoreError::Rejected(Box::new(e)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for attempt in 0..BATCH_WRITE_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt - 1)).await;
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.name, pending)
                .send()
                .await
                .map_err(store_error)?;
            pending = output
                .unprocessed_items
                .and_then(|mut left| left.remove(&self.name))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
            tracing::debug!(table = %self.name, left = pending.len(), attempt, "batch write left items unprocessed");
        }
        Err(StoreError::Unavailable(Box::new(TableError::Unprocessed {
            left: pending.len(),
            total: items.len(),
            attempts: BATCH_WRITE_ATTEMPTS,
        })))
    }

    /// Reads the items with these `(pk, sk)` keys (strongly consistent), 100 keys
    /// per `BatchGetItem` call, retrying the keys DynamoDB leaves unprocessed with
    /// jittered backoff. Missing items are left out; duplicate keys are read once.
    /// The order of the answer is not the order of the keys.
    pub async fn batch_get<T: DeserializeOwned>(
        &self,
        keys: &[(String, String)],
    ) -> Result<Vec<T>, StoreError> {
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        let unique: Vec<&(String, String)> = keys.iter().filter(|k| seen.insert(*k)).collect();
        use futures::{StreamExt, TryStreamExt};
        let chunks: Vec<Vec<Item>> = unique
            .chunks(BATCH_GET_MAX)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|(pk, sk)| {
                        HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
                    })
                    .collect()
            })
            .collect();
        let batches: Vec<Vec<Item>> = futures::stream::iter(chunks)
            .map(|chunk_keys: Vec<Item>| self.get_batch(chunk_keys))
            .buffer_unordered(BATCH_GET_CONCURRENCY)
            .try_collect()
            .await?;
        let mut found = Vec::with_capacity(unique.len());
        for item in batches.into_iter().flatten() {
            found.push(self.decode_any(item)?);
        }
        Ok(found)
    }

    async fn get_batch(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let total = keys.len();
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Rejected(Box::new(e)))?;
        let mut items = Vec::with_capacity(total);
        for attempt in 0..BATCH_GET_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt - 1)).await;
            }
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.name, pending)
                .send()
                .await
                .map_err(store_error)?;
            items.extend(
                output
                    .responses
                    .and_then(|mut by_table| by_table.remove(&self.name))
                    .unwrap_or_default(),
            );
            match output
                .unprocessed_keys
                .and_then(|mut left| left.remove(&self.name))
            {
                Some(left) if !left.keys().is_empty() => {
                    tracing::debug!(table = %self.name, left = left.keys().len(), attempt, "batch get left keys unprocessed");
                    pending = left;
                }
                _ => return Ok(items),
            }
        }
        Err(StoreError::Unavailable(Box::new(
            TableError::UnprocessedKeys {
                left: pending.keys().len(),
                total,
                attempts: BATCH_GET_ATTEMPTS,
            },
        )))
    }

    /// Sets the fields of `fields` (a serde record) on an existing item.
    /// Returns `false`, changing nothing, when there is no such item.
    pub async fn update<T: Serialize>(
        &self,
        pk: &str,
        sk: &str,
        fields: &T,
    ) -> Result<bool, StoreError> {
        let fields = encode(fields)?;
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("attribute_exists(pk)");
        let mut sets = Vec::with_capacity(fields.len());
        for (i, (name, value)) in fields.into_iter().enumerate() {
            if name == "pk" || name == "sk" {
                continue;
            }
            sets.push(format!("#f{i} = :f{i}"));
            request = request
                .expression_attribute_names(format!("#f{i}"), name)
                .expression_attribute_values(format!(":f{i}"), value);
        }
        if sets.is_empty() {
            let output = self
                .client
                .get_item()
                .table_name(&self.name)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .projection_expression("pk")
                .consistent_read(true)
                .send()
                .await
                .map_err(store_error)?;
            return Ok(output.item.is_some());
        }
        conditional(
            request
                .update_expression(format!("SET {}", sets.join(", ")))
                .send()
                .await,
        )
    }

    /// Atomically adds `by` to the number `attribute` of an existing item (a
    /// missing attribute counts as 0) and returns the item as it is afterwards.
    /// Returns `None`, changing nothing, when there is no such item.
    pub async fn increment<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
        attribute: &str,
        by: u64,
    ) -> Result<Option<T>, StoreError> {
        self.add_numbers(pk, sk, &[(attribute, by)]).await
    }

    /// Atomically adds each number to its attribute of an existing item
    /// (missing attributes count as 0) and returns the item as it is afterwards;
    /// `None`, changing nothing, when there is no such item.
    pub async fn add_numbers<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
        adds: &[(&str, u64)],
    ) -> Result<Option<T>, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew);
        let mut parts = Vec::with_capacity(adds.len());
        for (i, (name, by)) in adds.iter().enumerate() {
            parts.push(format!("#a{i} :a{i}"));
            request = request
                .expression_attribute_names(format!("#a{i}"), *name)
                .expression_attribute_values(format!(":a{i}"), n(*by));
        }
        let result = request
            .update_expression(format!("ADD {}", parts.join(", ")))
            .send()
            .await;
        match result {
            Ok(output) => output
                .attributes
                .map(|item| self.decode(item, pk, sk))
                .transpose(),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(store_error(err)),
        }
    }

    /// Adds `key` to the string set `set` of an existing item and, in the same
    /// atomic update, each number to its key in the map attribute `map` (which
    /// must exist) — only when `key` is not in the set yet. False, changing
    /// nothing, when it was (or there is no such item).
    pub async fn add_once(
        &self,
        pk: &str,
        sk: &str,
        set: &str,
        key: &str,
        map: &str,
        adds: &[(&str, u64)],
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(#set) OR NOT contains(#set, :key))",
            )
            .expression_attribute_names("#set", set)
            .expression_attribute_values(":key", s(key))
            .expression_attribute_values(":keys", AttributeValue::Ss(vec![key.to_owned()]));
        let mut parts = vec!["#set :keys".to_owned()];
        for (i, (name, by)) in adds.iter().enumerate() {
            if i == 0 {
                request = request.expression_attribute_names("#map", map);
            }
            parts.push(format!("#map.#k{i} :v{i}"));
            request = request
                .expression_attribute_names(format!("#k{i}"), *name)
                .expression_attribute_values(format!(":v{i}"), n(*by));
        }
        conditional(
            request
                .update_expression(format!("ADD {}", parts.join(", ")))
                .send()
                .await,
        )
    }

    /// A lease: writes `record` (with string `pk`/`sk`, a string `holder` and a
    /// number `expires_at`) only when no item has its key, the stored holder is
    /// this `holder`, or the stored `expires_at` is before `now`. Returns the item
    /// it replaced (`Ok(Ok(old))`), or the item that holds it (`Ok(Err(current))`).
    pub async fn claim<T: Serialize, O: DeserializeOwned>(
        &self,
        record: &T,
        holder: &str,
        now: i64,
    ) -> Result<Result<Option<O>, Option<O>>, StoreError> {
        let item = encode(record)?;
        let pk = key_of(&item, "pk")?;
        let sk = key_of(&item, "sk")?;
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR #holder = :holder OR #expires < :now",
            )
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_names("#expires", "expires_at")
            .expression_attribute_values(":holder", s(holder))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Ok(output
                .attributes
                .filter(|item| !item.is_empty())
                .map(|item| self.decode(item, &pk, &sk))
                .transpose()?)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Err(self.get(&pk, &sk).await?))
            }
            Err(err) => Err(store_error(err)),
        }
    }

    /// Deletes one item only when its string `attribute` is `value`.
    pub async fn delete_if(
        &self,
        pk: &str,
        sk: &str,
        attribute: &str,
        value: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("#a = :v")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", s(value))
            .send()
            .await;
        conditional(result)
    }

    /// Atomically adds each number to its key in the map attribute `map` of an
    /// existing item (missing keys count as 0; the map must exist). Returns
    /// false, changing nothing, when there is no such item.
    pub async fn add_to_map(
        &self,
        pk: &str,
        sk: &str,
        map: &str,
        adds: &[(&str, u64)],
    ) -> Result<bool, StoreError> {
        if adds.is_empty() {
            return Ok(true);
        }
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#map", map);
        let mut parts = Vec::with_capacity(adds.len());
        for (i, (key, by)) in adds.iter().enumerate() {
            parts.push(format!("#map.#k{i} :v{i}"));
            request = request
                .expression_attribute_names(format!("#k{i}"), *key)
                .expression_attribute_values(format!(":v{i}"), n(*by));
        }
        let result = request
            .update_expression(format!("ADD {}", parts.join(", ")))
            .send()
            .await;
        conditional(result)
    }

    /// Sets `key` of the map attribute `map` of an existing item to `value`
    /// (a serde value), creating the map first when the item has none. False,
    /// changing nothing, when there is no such item.
    pub async fn set_in_map<V: Serialize>(
        &self,
        pk: &str,
        sk: &str,
        map: &str,
        key: &str,
        value: &V,
    ) -> Result<bool, StoreError> {
        let value: AttributeValue = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(value)
            .map_err(|e| StoreError::Rejected(Box::new(TableError::Encode(e))))?;
        let set = || {
            self.client
                .update_item()
                .table_name(&self.name)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .condition_expression("attribute_exists(pk) AND attribute_exists(#map)")
                .update_expression("SET #map.#key = :value")
                .expression_attribute_names("#map", map)
                .expression_attribute_names("#key", key)
                .expression_attribute_values(":value", value.clone())
                .send()
        };
        if conditional(set().await)? {
            return Ok(true);
        }
        // No item, or an item written before it had the map: make the map.
        let made = conditional(
            self.client
                .update_item()
                .table_name(&self.name)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .condition_expression("attribute_exists(pk)")
                .update_expression("SET #map = if_not_exists(#map, :empty)")
                .expression_attribute_names("#map", map)
                .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
                .send()
                .await,
        )?;
        if !made {
            return Ok(false);
        }
        conditional(set().await)
    }

    /// Deletes one item; deleting an item that is not there is fine.
    pub async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_cap() {
        for retry in 0..40 {
            assert!(backoff(retry) <= BACKOFF_CAP);
        }
    }

    #[test]
    fn query_options_build_up() {
        let options = QueryOptions::default().newest_first().limit(3).page_size(2);
        assert_eq!(
            options,
            QueryOptions {
                newest_first: true,
                limit: Some(3),
                page_size: Some(2)
            }
        );
    }
}
