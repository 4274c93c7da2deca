//! api: the HTTP API for the SMS and its admins.

pub mod api_keys;
pub mod connections;
pub mod coursekey;
pub mod deliveries;
pub mod enrolments;
pub mod error;
pub mod handler;
pub mod json;
pub mod learners;
pub mod linking;
pub mod links;
pub mod lln;
pub mod mappings;
pub mod offerings;
pub mod openapi;
pub mod preview;
pub mod probe;
pub mod results;
pub mod runs;
pub mod settings;

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
    /// Learners, offerings (with assessables) and enrolments.
    pub sis: Arc<dyn domain::ports::SisStore>,
    /// Course links and transfers.
    pub links: Arc<dyn domain::ports::LinkStore>,
    /// Where sync and push jobs go.
    pub queue: Arc<dyn domain::ports::JobQueue>,
    /// Writes connection secrets (write-only).
    pub secret_sink: Arc<dyn domain::ports::SecretSink>,
    /// Reads them back only to mask them and to test a connection.
    pub secret_source: Arc<dyn domain::ports::SecretSource>,
    /// `SECRET_PREFIX`: connection secrets live under it.
    pub secret_prefix: String,
    /// Tests connections (the Moodle site probe).
    pub probe: Arc<dyn app::connections::SiteProbe>,
    /// Moodle gateways per connection, for the transfer preview's look-ups.
    pub learning: Arc<dyn domain::ports::LearningSystems>,
    pub now: fn() -> chrono::DateTime<chrono::Utc>,
    /// Deliveries to the SMS and their attempts.
    pub deliveries: Arc<dyn domain::ports::DeliveryStore>,
    /// Each tenant's own settings (run history retention, run-error email).
    pub tenants: Arc<dyn domain::ports::TenantSettingsStore>,
    /// Which base URLs a connection may have (`LEARNBRIDGE_ALLOW_INTERNAL_URLS`):
    /// checked when a connection is saved; the connectors check again at connect time.
    pub egress: domain::egress::Egress,
}
