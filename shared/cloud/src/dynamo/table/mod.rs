//! A DynamoDB table with string keys `pk` and `sk`, read and written as serde records.
//!
//! `base` (the `Table` and how items are encoded and decoded), `options`
//! (conditions, sort key ranges, query options), `items` (one item put, read,
//! deleted), `query`, `batch` (batch writes and reads), `update` (updates,
//! counters, claims, maps), `error`.

mod base;
mod batch;
mod error;
mod items;
mod options;
mod query;
mod update;

pub use base::Table;
pub use batch::{BATCH_GET_MAX, BATCH_WRITE_MAX};
pub use error::TableError;
pub(crate) use error::store_error;
pub use options::{Condition, Item, QueryOptions, SkRange};

#[cfg(test)]
mod tests;
