//! What a table call is asked: the guard on a put, the sort keys of a
//! query, its order and paging.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// One stored item, as DynamoDB sees it.
pub type Item = HashMap<String, AttributeValue>;

/// Items per query call when the caller sets no page size (see [`QueryOptions`]).
pub const QUERY_PAGE: u32 = 500;

/// The guard on a [`Table::put`](super::base::Table::put).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Write unconditionally (an upsert).
    None,
    /// Write only if no item has this key: an idempotency key. When one does, the
    /// put is [`Written::AlreadyDone`](domain::ports::Written::AlreadyDone) and changes nothing.
    NotExists,
    /// Optimistic concurrency: write only if the stored item's `version` is this
    /// one, and store `version + 1` (whatever the record says). When someone else
    /// changed it first, the put is [`StoreError::Conflict`](domain::ports::StoreError::Conflict).
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
