//! The functions' configuration, read once from the environment.
//!
//! The variables are those of docs/architecture.md. A missing or bad variable is
//! an error that names it.

use domain::QueueRole;
use domain::egress::Egress;

pub const DATA_TABLE: &str = "DATA_TABLE";
pub const RUNS_TABLE: &str = "RUNS_TABLE";
pub const DELIVERIES_TABLE: &str = "DELIVERIES_TABLE";
pub const ENROLMENT_PUSH_QUEUE_URL: &str = "ENROLMENT_PUSH_QUEUE_URL";
pub const RESULTS_FETCH_QUEUE_URL: &str = "RESULTS_FETCH_QUEUE_URL";
pub const DELIVERIES_QUEUE_URL: &str = "DELIVERIES_QUEUE_URL";
pub const SECRET_PREFIX: &str = "SECRET_PREFIX";
pub const API_KEY_PEPPER_SECRET: &str = "API_KEY_PEPPER_SECRET";
pub const MAIL_FROM: &str = "MAIL_FROM";
pub const RUN_HISTORY_DAYS: &str = "RUN_HISTORY_DAYS";
pub const MOODLE_TIMEOUT_SECONDS: &str = "MOODLE_TIMEOUT_SECONDS";

/// The longest `MOODLE_TIMEOUT_SECONDS` accepted: well below the functions'
/// 300 s deadline, so a hanging Moodle call ends inside the invocation.
pub const MAX_MOODLE_TIMEOUT_SECONDS: u64 = 120;
/// `true` lets connections reach internal addresses and plain http (the local
/// stack and tests, whose simulators listen on 127.0.0.1); unset or `false` in
/// a deployment. See [`domain::egress`].
pub const ALLOW_INTERNAL_URLS: &str = "LEARNBRIDGE_ALLOW_INTERNAL_URLS";

/// How long runs are kept when `RUN_HISTORY_DAYS` is not set.
pub const DEFAULT_RUN_HISTORY_DAYS: u32 = 90;

/// A variable that is missing or cannot be used; always names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is not set")]
    Missing { name: &'static str },
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl ConfigError {
    /// The variable at fault.
    pub fn name(&self) -> &'static str {
        match self {
            ConfigError::Missing { name } | ConfigError::Invalid { name, .. } => name,
        }
    }
}

/// The three DynamoDB tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub data: String,
    pub runs: String,
    pub deliveries: String,
}

/// The queues a function sends to. Each function's environment names only the
/// queues it may send to (infra/template.yaml), so each URL is optional; a job
/// for a queue the function was not given fails, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Queues {
    pub enrolment_push: Option<String>,
    pub results_fetch: Option<String>,
    pub deliveries: Option<String>,
}

impl Queues {
    /// The URL of the queue that carries jobs of `role`, when this function has it.
    pub fn url(&self, role: QueueRole) -> Option<&str> {
        match role {
            QueueRole::EnrolmentPush => self.enrolment_push.as_deref(),
            QueueRole::ResultsFetch => self.results_fetch.as_deref(),
            QueueRole::Deliveries => self.deliveries.as_deref(),
        }
    }

    /// The environment variable that sets the URL of `role`'s queue.
    pub fn variable(role: QueueRole) -> &'static str {
        match role {
            QueueRole::EnrolmentPush => ENROLMENT_PUSH_QUEUE_URL,
            QueueRole::ResultsFetch => RESULTS_FETCH_QUEUE_URL,
            QueueRole::Deliveries => DELIVERIES_QUEUE_URL,
        }
    }

    /// Every configured role with its URL.
    pub fn iter(&self) -> impl Iterator<Item = (QueueRole, &str)> {
        QueueRole::ALL
            .into_iter()
            .filter_map(move |role| self.url(role).map(|url| (role, url)))
    }
}

/// A whole stack's variables: every table, queue and setting any function reads.
/// The local runner and the tests describe a stack with it (`provision` prints its
/// [`Config::variables`]); each function reads only its own part through its own
/// typed config (`api::Config`, `nightly_sync::Config`, ...) built on [`Vars`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub tables: Tables,
    pub queues: Queues,
    /// `${StackName}/connections`: connection secrets live under it.
    pub secret_prefix: String,
    /// Name or ARN of the API key pepper secret (the api only).
    pub api_key_pepper_secret: Option<String>,
    /// SES sender identity (functions that send email only).
    pub mail_from: Option<String>,
    /// How many days runs and their logs are kept.
    pub run_history_days: u32,
    /// Per Moodle HTTP request, connection to last byte (`MOODLE_TIMEOUT_SECONDS`,
    /// 1 to 120; the client's 20 s when unset).
    pub moodle_timeout: Option<std::time::Duration>,
    /// Where connectors may connect ([`ALLOW_INTERNAL_URLS`]): public https
    /// only unless the deployment allows internal URLs.
    pub egress: Egress,
}

/// One function's view of its environment: [`Vars::new`] is given the names the
/// function reads (its `Config::VARIABLES`, the Environment infra/template.yaml gives
/// it plus the optional tuning ones) and answers for no other, so a function's config
/// cannot quietly come to depend on a variable it is not given. An empty value counts
/// as unset. Every error names the variable.
pub struct Vars<'a, F> {
    allowed: &'a [&'static str],
    lookup: F,
}

/// The process environment, for `from_env`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl<'a, F: Fn(&str) -> Option<String>> Vars<'a, F> {
    pub fn new(allowed: &'a [&'static str], lookup: F) -> Self {
        Self { allowed, lookup }
    }

    /// The trimmed value, `None` when unset or empty (or not this function's).
    pub fn optional(&self, name: &'static str) -> Option<String> {
        if !self.allowed.contains(&name) {
            return None;
        }
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing { name })
    }

    /// `DATA_TABLE`, `RUNS_TABLE`, `DELIVERIES_TABLE`.
    pub fn tables(&self) -> Result<Tables, ConfigError> {
        Ok(Tables {
            data: self.required(DATA_TABLE)?,
            runs: self.required(RUNS_TABLE)?,
            deliveries: self.required(DELIVERIES_TABLE)?,
        })
    }

    /// The URL of `role`'s queue when set (an http(s) URL).
    pub fn queue_url(&self, role: QueueRole) -> Result<Option<String>, ConfigError> {
        let name = Queues::variable(role);
        match self.optional(name) {
            None => Ok(None),
            Some(value) if value.starts_with("https://") || value.starts_with("http://") => {
                Ok(Some(value))
            }
            Some(_) => Err(ConfigError::Invalid {
                name,
                reason: "expected an http(s) queue URL".to_owned(),
            }),
        }
    }

    /// The queues a function sends to, each required.
    pub fn queues(&self, roles: &[QueueRole]) -> Result<Queues, ConfigError> {
        let mut queues = Queues::default();
        for role in roles {
            let url = self.queue_url(*role)?.ok_or(ConfigError::Missing {
                name: Queues::variable(*role),
            })?;
            match role {
                QueueRole::EnrolmentPush => queues.enrolment_push = Some(url),
                QueueRole::ResultsFetch => queues.results_fetch = Some(url),
                QueueRole::Deliveries => queues.deliveries = Some(url),
            }
        }
        Ok(queues)
    }

    /// `SECRET_PREFIX`, without a trailing slash.
    pub fn secret_prefix(&self) -> Result<String, ConfigError> {
        Ok(self
            .required(SECRET_PREFIX)?
            .trim_end_matches('/')
            .to_owned())
    }

    /// `RUN_HISTORY_DAYS`, at least 1; [`DEFAULT_RUN_HISTORY_DAYS`] when unset.
    pub fn run_history_days(&self) -> Result<u32, ConfigError> {
        match self.optional(RUN_HISTORY_DAYS) {
            None => Ok(DEFAULT_RUN_HISTORY_DAYS),
            Some(raw) => match raw.parse::<u32>() {
                Ok(0) => Err(ConfigError::Invalid {
                    name: RUN_HISTORY_DAYS,
                    reason: "must be at least 1 day".to_owned(),
                }),
                Ok(days) => Ok(days),
                Err(err) => Err(ConfigError::Invalid {
                    name: RUN_HISTORY_DAYS,
                    reason: format!("expected a whole number of days ({err})"),
                }),
            },
        }
    }

    /// `MOODLE_TIMEOUT_SECONDS`, 1 to [`MAX_MOODLE_TIMEOUT_SECONDS`].
    pub fn moodle_timeout(&self) -> Result<Option<std::time::Duration>, ConfigError> {
        match self.optional(MOODLE_TIMEOUT_SECONDS) {
            None => Ok(None),
            Some(raw) => match raw.parse::<u64>() {
                Ok(secs @ 1..=MAX_MOODLE_TIMEOUT_SECONDS) => {
                    Ok(Some(std::time::Duration::from_secs(secs)))
                }
                _ => Err(ConfigError::Invalid {
                    name: MOODLE_TIMEOUT_SECONDS,
                    reason: format!(
                        "expected a whole number of seconds from 1 to {MAX_MOODLE_TIMEOUT_SECONDS}"
                    ),
                }),
            },
        }
    }

    /// [`ALLOW_INTERNAL_URLS`]: public https only unless `true`.
    pub fn egress(&self) -> Result<Egress, ConfigError> {
        match self.optional(ALLOW_INTERNAL_URLS).as_deref() {
            None | Some("false") | Some("0") => Ok(Egress::PublicOnly),
            Some("true") | Some("1") => Ok(Egress::AllowInternal),
            Some(_) => Err(ConfigError::Invalid {
                name: ALLOW_INTERNAL_URLS,
                reason: "expected true or false".to_owned(),
            }),
        }
    }
}

/// Every variable any function reads.
pub const ALL_VARIABLES: &[&str] = &[
    DATA_TABLE,
    RUNS_TABLE,
    DELIVERIES_TABLE,
    ENROLMENT_PUSH_QUEUE_URL,
    RESULTS_FETCH_QUEUE_URL,
    DELIVERIES_QUEUE_URL,
    SECRET_PREFIX,
    API_KEY_PEPPER_SECRET,
    MAIL_FROM,
    RUN_HISTORY_DAYS,
    MOODLE_TIMEOUT_SECONDS,
    ALLOW_INTERNAL_URLS,
];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env)
    }

    /// Reads variables through `lookup`, so tests need not touch the process
    /// environment. An empty value counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(ALL_VARIABLES, lookup);
        let run_history_days = vars.run_history_days()?;
        let moodle_timeout = vars.moodle_timeout()?;
        let egress = vars.egress()?;
        Ok(Self {
            tables: vars.tables()?,
            queues: Queues {
                enrolment_push: vars.queue_url(QueueRole::EnrolmentPush)?,
                results_fetch: vars.queue_url(QueueRole::ResultsFetch)?,
                deliveries: vars.queue_url(QueueRole::Deliveries)?,
            },
            secret_prefix: vars.secret_prefix()?,
            api_key_pepper_secret: vars.optional(API_KEY_PEPPER_SECRET),
            mail_from: vars.optional(MAIL_FROM),
            run_history_days,
            moodle_timeout,
            egress,
        })
    }

    /// Every variable a function of this stack may read, with its value: what
    /// `learnbridge-local provision` prints, and what each function's own config
    /// reads its part of ([`Config::lookup`]).
    pub fn variables(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            (DATA_TABLE, self.tables.data.clone()),
            (RUNS_TABLE, self.tables.runs.clone()),
            (DELIVERIES_TABLE, self.tables.deliveries.clone()),
        ];
        for (role, url) in self.queues.iter() {
            vars.push((Queues::variable(role), url.to_owned()));
        }
        vars.push((SECRET_PREFIX, self.secret_prefix.clone()));
        if let Some(pepper) = &self.api_key_pepper_secret {
            vars.push((API_KEY_PEPPER_SECRET, pepper.clone()));
        }
        if let Some(from) = &self.mail_from {
            vars.push((MAIL_FROM, from.clone()));
        }
        vars.push((RUN_HISTORY_DAYS, self.run_history_days.to_string()));
        if let Some(timeout) = self.moodle_timeout {
            vars.push((MOODLE_TIMEOUT_SECONDS, timeout.as_secs().to_string()));
        }
        vars.push((
            ALLOW_INTERNAL_URLS,
            self.egress.allows_internal().to_string(),
        ));
        vars
    }

    /// [`Config::variables`] as a lookup, for a function's `Config::from_lookup`: the
    /// local runner and the tests build each function from the stack this way.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: std::collections::HashMap<&'static str, String> =
            self.variables().into_iter().collect();
        move |name| vars.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(overrides: &[(&str, &str)]) -> HashMap<String, String> {
        let mut vars: HashMap<String, String> = [
            (DATA_TABLE, "lb-data"),
            (RUNS_TABLE, "lb-runs"),
            (DELIVERIES_TABLE, "lb-deliveries"),
            (
                ENROLMENT_PUSH_QUEUE_URL,
                "http://127.0.0.1:5000/123456789012/lb-enrolment-push",
            ),
            (
                RESULTS_FETCH_QUEUE_URL,
                "http://127.0.0.1:5000/123456789012/lb-results-fetch",
            ),
            (
                DELIVERIES_QUEUE_URL,
                "https://sqs.us-east-1.amazonaws.com/123456789012/lb-deliveries",
            ),
            (SECRET_PREFIX, "lb/connections"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        vars
    }

    fn load(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn reads_every_variable_with_defaults_for_the_optional_ones() {
        let config = load(&env(&[])).unwrap();
        assert_eq!(config.tables.data, "lb-data");
        assert_eq!(config.tables.runs, "lb-runs");
        assert_eq!(config.tables.deliveries, "lb-deliveries");
        assert_eq!(
            config.queues.url(QueueRole::ResultsFetch),
            Some("http://127.0.0.1:5000/123456789012/lb-results-fetch")
        );
        assert_eq!(config.queues.iter().count(), 3);
        assert_eq!(config.secret_prefix, "lb/connections");
        assert_eq!(config.api_key_pepper_secret, None);
        assert_eq!(config.mail_from, None);
        assert_eq!(config.run_history_days, 90);
        assert_eq!(config.moodle_timeout, None);
    }

    #[test]
    fn the_moodle_timeout_is_bounded() {
        let config = load(&env(&[(MOODLE_TIMEOUT_SECONDS, "2")])).unwrap();
        assert_eq!(
            config.moodle_timeout,
            Some(std::time::Duration::from_secs(2))
        );
        for bad in ["0", "121", "-1", "1.5", "soon"] {
            let err = load(&env(&[(MOODLE_TIMEOUT_SECONDS, bad)])).unwrap_err();
            assert_eq!(err.name(), MOODLE_TIMEOUT_SECONDS, "{bad}");
        }
        assert_eq!(config.egress, Egress::PublicOnly, "internal URLs refused");
    }

    #[test]
    fn internal_urls_are_allowed_only_when_the_deployment_says_so() {
        let allowed = load(&env(&[(ALLOW_INTERNAL_URLS, "true")])).unwrap();
        assert_eq!(allowed.egress, Egress::AllowInternal);
        let refused = load(&env(&[(ALLOW_INTERNAL_URLS, "false")])).unwrap();
        assert_eq!(refused.egress, Egress::PublicOnly);
        let err = load(&env(&[(ALLOW_INTERNAL_URLS, "yes please")])).unwrap_err();
        assert_eq!(err.name(), ALLOW_INTERNAL_URLS);
    }

    #[test]
    fn reads_the_optional_variables_when_set() {
        let config = load(&env(&[
            (API_KEY_PEPPER_SECRET, "lb/api-key-pepper"),
            (MAIL_FROM, "noreply@example.com"),
            (RUN_HISTORY_DAYS, "30"),
            (SECRET_PREFIX, "lb/connections/"),
        ]))
        .unwrap();
        assert_eq!(
            config.api_key_pepper_secret.as_deref(),
            Some("lb/api-key-pepper")
        );
        assert_eq!(config.mail_from.as_deref(), Some("noreply@example.com"));
        assert_eq!(config.run_history_days, 30);
        assert_eq!(
            config.secret_prefix, "lb/connections",
            "a trailing slash is dropped"
        );
    }

    #[test]
    fn a_missing_variable_is_named() {
        let mut vars = env(&[]);
        vars.remove(RUNS_TABLE);
        let err = load(&vars).unwrap_err();
        assert_eq!(err, ConfigError::Missing { name: RUNS_TABLE });
        assert_eq!(
            err.to_string(),
            "environment variable RUNS_TABLE is not set"
        );
    }

    #[test]
    fn an_empty_variable_counts_as_missing() {
        let config = load(&env(&[(DELIVERIES_QUEUE_URL, "  ")])).unwrap();
        assert_eq!(
            config.queues.url(QueueRole::Deliveries),
            None,
            "a function without that queue"
        );
        let err = load(&env(&[(DELIVERIES_QUEUE_URL, "lb-deliveries")])).unwrap_err();
        assert_eq!(err.name(), DELIVERIES_QUEUE_URL);
        let config = load(&env(&[(MAIL_FROM, "")])).unwrap();
        assert_eq!(config.mail_from, None);
    }

    #[test]
    fn a_bad_history_retention_is_named_with_its_reason() {
        let err = load(&env(&[(RUN_HISTORY_DAYS, "ninety")])).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                name: RUN_HISTORY_DAYS,
                ..
            }
        ));
        assert!(
            err.to_string()
                .starts_with("environment variable RUN_HISTORY_DAYS is invalid"),
            "{err}"
        );
        let err = load(&env(&[(RUN_HISTORY_DAYS, "0")])).unwrap_err();
        assert_eq!(err.name(), RUN_HISTORY_DAYS);
    }

    #[test]
    fn a_queue_url_must_be_a_url() {
        let err = load(&env(&[(ENROLMENT_PUSH_QUEUE_URL, "lb-enrolment-push")])).unwrap_err();
        assert_eq!(err.name(), ENROLMENT_PUSH_QUEUE_URL);
        assert!(
            err.to_string().contains("ENROLMENT_PUSH_QUEUE_URL"),
            "{err}"
        );
    }
}
