//! Secrets Manager: connection secrets and the API key pepper.
//!
//! A value is read once per instance and cached. Errors name the secret, never
//! its value; values are shown only masked.

use crate::error::{is_transient, service_code};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use tokio::sync::RwLock;

/// Why a secret could not be read or written. Holds the secret's name (never its value).
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {name} does not exist or has no value")]
    NotFound { name: String },
    #[error("secret {name} is not a text secret")]
    NotText { name: String },
    #[error("Secrets Manager is unavailable (secret {name})")]
    Unavailable {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("Secrets Manager refused the request (secret {name})")]
    Rejected {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl SecretError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SecretError::Unavailable { .. })
    }
}

impl domain::ports::Retryable for SecretError {
    fn is_retryable(&self) -> bool {
        SecretError::is_retryable(self)
    }
}

fn classify<E>(name: &str, err: SdkError<E, HttpResponse>) -> SecretError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if service_code(&err) == Some("ResourceNotFoundException") {
        SecretError::NotFound {
            name: name.to_owned(),
        }
    } else if is_transient(&err) {
        SecretError::Unavailable {
            name: name.to_owned(),
            source: Box::new(err),
        }
    } else {
        SecretError::Rejected {
            name: name.to_owned(),
            source: Box::new(err),
        }
    }
}

/// Shows a secret the only way it is ever shown: `****abcd`.
pub fn mask(secret: &SecretString) -> String {
    domain::mask::mask_secret(secret.expose_secret())
}

/// How long a cached value is served before it is read again: a secret set or
/// rotated through the API (on one instance) reaches every other instance
/// within this time.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Secrets Manager with a per-instance cache whose values are read again after
/// [`CACHE_TTL`].
#[derive(Debug)]
pub struct Secrets {
    client: crate::sdk::LazyClient<Client>,
    ttl: std::time::Duration,
    cache: RwLock<HashMap<String, (SecretString, std::time::Instant)>>,
}

impl Secrets {
    pub fn new(client: Client) -> Self {
        Self::with_ttl(client, CACHE_TTL)
    }

    /// Over a client built at the first read or write, not now (a function's init:
    /// see [`crate::sdk::LazyClient`]).
    pub fn lazy(sdk: &aws_config::SdkConfig) -> Self {
        Self::over(crate::sdk::LazyClient::new(sdk, Client::new), CACHE_TTL)
    }

    /// A cache whose values are served for `ttl` (zero: always read).
    pub fn with_ttl(client: Client, ttl: std::time::Duration) -> Self {
        Self::over(crate::sdk::LazyClient::ready(client), ttl)
    }

    fn over(client: crate::sdk::LazyClient<Client>, ttl: std::time::Duration) -> Self {
        Self {
            client,
            ttl,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The current value of a text secret, fetched on first use and then served
    /// from this instance's cache until it is older than the cache's TTL.
    pub async fn get(&self, name: &str) -> Result<SecretString, SecretError> {
        if let Some((value, at)) = self.cache.read().await.get(name)
            && at.elapsed() < self.ttl
        {
            return Ok(value.clone());
        }
        let output = self
            .client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|err| classify(name, err))?;
        let value = match (output.secret_string, output.secret_binary) {
            (Some(text), _) => SecretString::from(text),
            (None, Some(_)) => {
                return Err(SecretError::NotText {
                    name: name.to_owned(),
                });
            }
            (None, None) => {
                return Err(SecretError::NotFound {
                    name: name.to_owned(),
                });
            }
        };
        self.cache
            .write()
            .await
            .insert(name.to_owned(), (value.clone(), std::time::Instant::now()));
        Ok(value)
    }

    /// Stores a new value, creating the secret if it does not exist yet, and
    /// caches it.
    pub async fn put(&self, name: &str, value: &SecretString) -> Result<(), SecretError> {
        let updated = self
            .client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value.expose_secret())
            .send()
            .await;
        match updated {
            Ok(_) => {}
            Err(err) if service_code(&err) == Some("ResourceNotFoundException") => {
                let created = self
                    .client
                    .create_secret()
                    .name(name)
                    .secret_string(value.expose_secret())
                    .send()
                    .await;
                match created {
                    Ok(_) => {}
                    // Someone created it in between: write our value as its new version.
                    Err(err) if service_code(&err) == Some("ResourceExistsException") => {
                        self.client
                            .put_secret_value()
                            .secret_id(name)
                            .secret_string(value.expose_secret())
                            .send()
                            .await
                            .map_err(|err| classify(name, err))?;
                    }
                    Err(err) => return Err(classify(name, err)),
                }
            }
            Err(err) => return Err(classify(name, err)),
        }
        self.cache
            .write()
            .await
            .insert(name.to_owned(), (value.clone(), std::time::Instant::now()));
        Ok(())
    }

    /// Forgets a cached value, so the next `get` reads it again (after a rotation).
    pub async fn forget(&self, name: &str) {
        self.cache.write().await.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_the_domain() {
        assert_eq!(mask(&SecretString::from("0123456789abcdef")), "****cdef");
        assert_eq!(mask(&SecretString::from("short")), "****");
    }
}
