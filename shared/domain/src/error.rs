//! The errors every port shares, and the one question asked of any error: can
//! trying again help? A leaf: it depends on nothing else in the crate, so the
//! types the ports speak (learning, lln) can name these without depending on
//! the ports.

/// A boxed error from an adapter, kept as a typed source (never flattened to a string).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors that know whether trying again can help. SQS handlers report only
/// retryable failures back to the queue; the rest are recorded and acknowledged.
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

/// Errors reading a secret. None of them carries the secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {name} does not exist")]
    NotFound { name: String },
    #[error("the secret store is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("the secret store refused the request")]
    Rejected(#[source] BoxError),
}

impl Retryable for SecretError {
    fn is_retryable(&self) -> bool {
        matches!(self, SecretError::Unavailable(_))
    }
}
