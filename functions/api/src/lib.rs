//! api: the HTTP API for the SMS and its admins.

pub mod error;
pub mod handler;

use domain::ports::{ApiKeyStore, ConnectionStore, RunStore};
use secrecy::SecretString;
use std::sync::Arc;

/// What the routes need, built once per Lambda instance.
#[derive(Clone)]
pub struct Deps {
    pub connections: Arc<dyn ConnectionStore>,
    pub runs: Arc<dyn RunStore>,
    pub api_keys: Arc<dyn ApiKeyStore>,
    /// The key under which API keys are hashed.
    pub pepper: SecretString,
}
