//! retry-worker's configuration: the variables infra/template.yaml gives it (and the
//! optional ones it reads), read once at init. It reads no other variable.

use cloud::config::{self as var, ConfigError, Queues, Tables, Vars};
use domain::QueueRole;

/// What retry-worker reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub tables: Tables,
    /// The queues it sends to: DELIVERIES_QUEUE_URL.
    pub queues: Queues,
    /// `SECRET_PREFIX`: connection secrets live under it.
    pub secret_prefix: String,
    /// `MAIL_FROM`: the SES sender of the notices it sends.
    pub mail_from: String,
    /// `LEARNBRIDGE_ALLOW_INTERNAL_URLS`: where connectors may connect.
    pub egress: domain::egress::Egress,
    /// `RUN_HISTORY_DAYS`: how long the runs it records (a due delivery it
    /// cannot read) are kept, unless the tenant says otherwise.
    pub run_history_days: u32,
}

impl Config {
    /// Every variable it reads; devstack's template test checks them against the
    /// function's Environment in infra/template.yaml.
    pub const VARIABLES: &[&str] = &[
        var::DATA_TABLE,
        var::RUNS_TABLE,
        var::DELIVERIES_TABLE,
        var::DELIVERIES_QUEUE_URL,
        var::SECRET_PREFIX,
        var::MAIL_FROM,
        var::ALLOW_INTERNAL_URLS,
        var::RUN_HISTORY_DAYS,
    ];

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(var::process_env)
    }

    /// Its part of a whole stack's variables (the local runner, the tests).
    pub fn from_stack(stack: &cloud::Config) -> Result<Self, ConfigError> {
        Self::from_lookup(stack.lookup())
    }

    /// Reads [`Config::VARIABLES`] through `lookup`; a missing or bad one is named.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(Self::VARIABLES, lookup);
        Ok(Self {
            tables: vars.tables()?,
            queues: vars.queues(&[QueueRole::Deliveries])?,
            secret_prefix: vars.secret_prefix()?,
            mail_from: vars.required(var::MAIL_FROM)?,
            egress: vars.egress()?,
            run_history_days: vars.run_history_days()?,
        })
    }
}
