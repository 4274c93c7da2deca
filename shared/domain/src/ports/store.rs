//! What every store speaks: the outcome of a conditional write, the store's
//! errors, and a record a cross-tenant listing could not read.

use crate::error::{BoxError, Retryable};
use crate::ids::{ConnectionId, TenantId};

/// The outcome of a conditional write: an idempotency conflict is an outcome, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// This call wrote it.
    Done,
    /// It was already there (a duplicate message or a re-run): nothing changed.
    AlreadyDone,
}

/// Errors from a store, classified where they arise.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, timeouts, connection failures, 5xx: try again.
    #[error("the store is unavailable")]
    Unavailable(#[source] BoxError),
    /// The store refused the request (validation, permissions, missing table): a
    /// person must act; retrying will not help.
    #[error("the store refused the request")]
    Rejected(#[source] BoxError),
    /// A stored record could not be read back as what it should be.
    #[error("stored {what} could not be read")]
    Corrupt {
        what: String,
        #[source]
        source: BoxError,
    },
    /// Someone else changed the record since it was read (optimistic concurrency).
    #[error("{what} was changed by someone else; read it again")]
    Conflict { what: String },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Conflict { .. }
        )
    }
}

impl Retryable for StoreError {
    fn is_retryable(&self) -> bool {
        StoreError::is_retryable(self)
    }
}

/// A stored record that a cross-tenant listing could not read (written by
/// hand, or by an older version): left out so every other tenant is served,
/// and reported with what of it could be read, so the dispatch can record the
/// failure where that tenant's people look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRecord {
    /// The item's key, `pk / sk`.
    pub key: String,
    pub tenant: Option<TenantId>,
    pub connection: Option<ConnectionId>,
    /// Why it could not be read: the attribute at fault and the decoding error.
    pub reason: String,
}
