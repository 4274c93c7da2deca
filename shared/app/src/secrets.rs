//! Where use cases get a connection's secret: a port, so the webhook and the
//! API can be tested against Secrets Manager on moto or a fixed value.

use async_trait::async_trait;
use domain::ports::{BoxError, Retryable};
use secrecy::SecretString;

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

#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The secret's value; implementations cache it per instance.
    async fn secret(&self, name: &str) -> Result<SecretString, SecretError>;
}
