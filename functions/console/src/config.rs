//! console's configuration: the variables infra/template.yaml gives it, read once
//! at init. It reads no other variable.
//!
//! The console builds its dependencies with the api's composition root
//! ([`api::AppState::from_aws`]), so it reads what that root needs of the stack,
//! and of the queues only those its screens send to.

use cloud::config::{self as var, ConfigError, Queues, Tables, Vars};

/// What console reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub tables: Tables,
    /// The queues its screens start work on: an offering's transfer and an
    /// enrolment's removal from Moodle (`ENROLMENT_PUSH_QUEUE_URL`), a results
    /// download (`RESULTS_FETCH_QUEUE_URL`), a delivery resent now and a saved LLN
    /// assessment delivered to the SMS (`DELIVERIES_QUEUE_URL`).
    pub queues: Queues,
    /// `SECRET_PREFIX`: connection secrets live under it (the connection test reads them).
    pub secret_prefix: String,
    /// `API_KEY_PEPPER_SECRET`: the secret API keys are hashed with (sign-in checks a key).
    pub api_key_pepper_secret: String,
    /// `RUN_HISTORY_DAYS`: the deployment's run retention (the run store needs it).
    pub run_history_days: u32,
    /// `LEARNBRIDGE_ALLOW_INTERNAL_URLS`: where the connection test may connect.
    pub egress: domain::egress::Egress,
    /// `CONSOLE_SESSION_HOURS` (optional tuning, not set by the template): how long a
    /// sign-in lasts (default 8, 1 to 24).
    pub session_hours: u32,
}

/// `CONSOLE_SESSION_HOURS`.
pub const CONSOLE_SESSION_HOURS: &str = "CONSOLE_SESSION_HOURS";

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
        CONSOLE_SESSION_HOURS,
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
        let session_hours = match lookup(CONSOLE_SESSION_HOURS) {
            None => 8,
            Some(raw) => match raw.trim().parse::<u32>() {
                Ok(h @ 1..=24) => h,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: CONSOLE_SESSION_HOURS,
                        reason: format!("must be a number of hours from 1 to 24, not {raw:?}"),
                    });
                }
            },
        };
        let vars = Vars::new(Self::VARIABLES, lookup);
        Ok(Self {
            tables: vars.tables()?,
            queues: vars.queues(&[
                domain::QueueRole::EnrolmentPush,
                domain::QueueRole::ResultsFetch,
                domain::QueueRole::Deliveries,
            ])?,
            secret_prefix: vars.secret_prefix()?,
            api_key_pepper_secret: vars.required(var::API_KEY_PEPPER_SECRET)?,
            run_history_days: vars.run_history_days()?,
            egress: vars.egress()?,
            session_hours,
        })
    }

    /// The api's config for its composition root: the same tables, secrets and
    /// egress, and only the queues its screens send to.
    pub fn api(&self) -> api::Config {
        api::Config {
            tables: self.tables.clone(),
            queues: self.queues.clone(),
            secret_prefix: self.secret_prefix.clone(),
            api_key_pepper_secret: self.api_key_pepper_secret.clone(),
            run_history_days: self.run_history_days,
            egress: self.egress,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vars(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut all: Vec<(String, String)> = [
            ("DATA_TABLE", "d"),
            ("RUNS_TABLE", "r"),
            ("DELIVERIES_TABLE", "l"),
            ("ENROLMENT_PUSH_QUEUE_URL", "https://sqs/push"),
            ("RESULTS_FETCH_QUEUE_URL", "https://sqs/results"),
            ("DELIVERIES_QUEUE_URL", "https://sqs/deliveries"),
            ("SECRET_PREFIX", "s/connections"),
            ("API_KEY_PEPPER_SECRET", "s/pepper"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        move |name| all.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn reads_its_variables_and_names_a_bad_one() {
        let config = Config::from_lookup(vars(&[])).unwrap();
        assert_eq!(config.session_hours, 8);
        assert_eq!(config.api().tables.data, "d");
        assert_eq!(
            config.api().queues.deliveries.as_deref(),
            Some("https://sqs/deliveries")
        );
        assert_eq!(
            config.api().queues.enrolment_push.as_deref(),
            Some("https://sqs/push")
        );
        let config = Config::from_lookup(vars(&[("CONSOLE_SESSION_HOURS", "2")])).unwrap();
        assert_eq!(config.session_hours, 2);
        let error = Config::from_lookup(vars(&[("CONSOLE_SESSION_HOURS", "48")])).unwrap_err();
        assert!(
            error.to_string().contains("CONSOLE_SESSION_HOURS"),
            "{error}"
        );
    }
}
