//! api's configuration: the variables infra/template.yaml gives it (and the
//! optional ones it reads), read once at init. It reads no other variable.

use cloud::config::{self as var, ConfigError, Queues, Tables, Vars};
use domain::QueueRole;

/// What api reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub tables: Tables,
    /// The queues it sends to: ENROLMENT_PUSH_QUEUE_URL, RESULTS_FETCH_QUEUE_URL, DELIVERIES_QUEUE_URL.
    pub queues: Queues,
    /// `SECRET_PREFIX`: connection secrets live under it.
    pub secret_prefix: String,
    /// `API_KEY_PEPPER_SECRET`: the secret API keys are hashed with.
    pub api_key_pepper_secret: String,
    /// `RUN_HISTORY_DAYS`: how long the runs it starts are kept.
    pub run_history_days: u32,
    /// `LEARNBRIDGE_ALLOW_INTERNAL_URLS`: where connectors may connect.
    pub egress: domain::egress::Egress,
}

impl Config {
    /// Every variable it reads; devstack's template test checks them against the
    /// function's Environment in infra/template.yaml.
    pub const VARIABLES: &[&str] = &[
        var::DATA_TABLE,
        var::RUNS_TABLE,
        var::DELIVERIES_TABLE,
        var::ENROLMENT_PUSH_QUEUE_URL,
        var::RESULTS_FETCH_QUEUE_URL,
        var::DELIVERIES_QUEUE_URL,
        var::SECRET_PREFIX,
        var::API_KEY_PEPPER_SECRET,
        var::RUN_HISTORY_DAYS,
        var::ALLOW_INTERNAL_URLS,
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
            queues: vars.queues(&[
                QueueRole::EnrolmentPush,
                QueueRole::ResultsFetch,
                QueueRole::Deliveries,
            ])?,
            secret_prefix: vars.secret_prefix()?,
            api_key_pepper_secret: vars.required(var::API_KEY_PEPPER_SECRET)?,
            run_history_days: vars.run_history_days()?,
            egress: vars.egress()?,
        })
    }
}
