//! Batch writes and reads, a few calls in flight, what DynamoDB leaves
//! unprocessed retried with backoff.

use super::base::{Table, encode, s};
use super::error::{TableError, store_error};
use super::options::Item;
use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use domain::ports::StoreError;
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::time::Duration;

/// The most items one `BatchWriteItem` call takes.
pub const BATCH_WRITE_MAX: usize = 25;
/// Calls made for one batch before the items still unprocessed are reported.
pub(super) const BATCH_WRITE_ATTEMPTS: u32 = 6;
/// `BatchWriteItem` calls one [`Table::batch_put`] has in flight at once.
pub const BATCH_WRITE_CONCURRENCY: usize = 4;
/// `BatchGetItem` calls one [`Table::batch_get`] has in flight at once.
pub const BATCH_GET_CONCURRENCY: usize = 4;
/// The most keys one `BatchGetItem` call takes.
pub const BATCH_GET_MAX: usize = 100;

/// Calls made for one batch of keys before the keys still unprocessed are reported.
pub(super) const BATCH_GET_ATTEMPTS: u32 = 6;
pub(super) const BACKOFF_BASE: Duration = Duration::from_millis(25);
pub(super) const BACKOFF_CAP: Duration = Duration::from_millis(1_000);

/// A full-jitter exponential backoff delay for the given (0-based) retry.
pub(super) fn backoff(retry: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(retry))
        .min(BACKOFF_CAP);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

impl Table {
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
}
