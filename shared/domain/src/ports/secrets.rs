//! Connection secrets: read (cached, as `SecretString`) and written (write-only).

use crate::error::SecretError;
use async_trait::async_trait;

/// Where use cases get a connection's secret (token, signing key); held as a
/// `SecretString` so it never reaches a log by accident.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The secret's value; implementations cache it per instance.
    async fn secret(&self, name: &str) -> Result<secrecy::SecretString, SecretError>;
}

/// Where the api writes a connection's secret. Write-only: nothing reads a
/// value back through this port, and no error carries the value.
#[async_trait]
pub trait SecretSink: Send + Sync {
    /// Stores `value` under `name`, creating the secret when it does not exist.
    async fn put_secret(
        &self,
        name: &str,
        value: &secrecy::SecretString,
    ) -> Result<(), SecretError>;
}
