//! Reads `infra/template.yaml` so the local stack creates exactly the tables,
//! queues and secrets the SAM template declares: the template is the one source
//! of truth for names, keys, indexes, TTL, visibility timeouts and redrive.

use serde_norway::Value;
use std::collections::BTreeMap;

/// The SAM template, compiled in so the local runner and the tests cannot drift from it.
pub const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is not valid YAML")]
    Yaml(#[from] serde_norway::Error),
    #[error("the template has no Resources section")]
    NoResources,
    #[error("resource {resource}: {what}")]
    Resource { resource: String, what: String },
}

fn bad(resource: &str, what: impl Into<String>) -> TemplateError {
    TemplateError::Resource {
        resource: resource.to_owned(),
        what: what.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDecl {
    pub logical_id: String,
    pub name: String,
    /// Global secondary index names; each index's keys are `{name}pk` / `{name}sk`.
    pub indexes: Vec<String>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDecl {
    pub logical_id: String,
    pub name: String,
    pub visibility_timeout_secs: Option<u32>,
    /// The dead-letter queue's logical id and the receive count that sends a message there.
    pub dead_letter: Option<(String, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretDecl {
    pub logical_id: String,
    pub name: String,
    /// The template asks AWS to generate the value.
    pub generated: bool,
}

/// The stateful resources of the template, with names resolved for one stack.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StackResources {
    pub tables: Vec<TableDecl>,
    pub queues: Vec<QueueDecl>,
    pub secrets: Vec<SecretDecl>,
}

impl StackResources {
    pub fn table(&self, suffix: &str) -> Option<&TableDecl> {
        self.tables
            .iter()
            .find(|t| t.name.ends_with(&format!("-{suffix}")))
    }

    pub fn queue(&self, suffix: &str) -> Option<&QueueDecl> {
        self.queues
            .iter()
            .find(|q| q.name.ends_with(&format!("-{suffix}")))
    }

    pub fn queue_by_logical_id(&self, id: &str) -> Option<&QueueDecl> {
        self.queues.iter().find(|q| q.logical_id == id)
    }
}

/// Resolves `!Sub "${AWS::StackName}-x"` (short or long form) or a plain string.
fn resolve_name(resource: &str, value: &Value, stack: &str) -> Result<String, TemplateError> {
    let template = match value {
        Value::String(s) => s.clone(),
        Value::Tagged(tagged) if tagged.tag == "!Sub" => match &tagged.value {
            Value::String(s) => s.clone(),
            _ => return Err(bad(resource, "a !Sub name must be a plain string")),
        },
        Value::Mapping(m) => match m.get("Fn::Sub") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(bad(resource, "a name must be a string or a !Sub of one")),
        },
        _ => return Err(bad(resource, "a name must be a string or a !Sub of one")),
    };
    let resolved = template.replace("${AWS::StackName}", stack);
    if resolved.contains("${") {
        return Err(bad(
            resource,
            format!("name {template:?} uses a substitution other than ${{AWS::StackName}}"),
        ));
    }
    Ok(resolved)
}

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_mapping().and_then(|m| m.get(key))
}

fn as_u32(resource: &str, field: &str, value: &Value) -> Result<u32, TemplateError> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| bad(resource, format!("{field} must be a whole number")))
}

/// Reads the template's tables, queues and secrets for the stack `stack`.
pub fn parse(yaml: &str, stack: &str) -> Result<StackResources, TemplateError> {
    let doc: Value = serde_norway::from_str(yaml)?;
    let resources = get(&doc, "Resources")
        .and_then(Value::as_mapping)
        .ok_or(TemplateError::NoResources)?;
    let mut out = StackResources::default();
    for (id, resource) in resources {
        let Some(id) = id.as_str() else { continue };
        let kind = get(resource, "Type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let props = get(resource, "Properties").cloned().unwrap_or(Value::Null);
        match kind {
            "AWS::DynamoDB::Table" => {
                let name = resolve_name(
                    id,
                    get(&props, "TableName").ok_or_else(|| bad(id, "TableName is missing"))?,
                    stack,
                )?;
                let indexes = get(&props, "GlobalSecondaryIndexes")
                    .and_then(Value::as_sequence)
                    .map(|gsis| {
                        gsis.iter()
                            .filter_map(|g| {
                                get(g, "IndexName")
                                    .and_then(Value::as_str)
                                    .map(str::to_owned)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let ttl_attribute = get(&props, "TimeToLiveSpecification")
                    .filter(|t| get(t, "Enabled").and_then(Value::as_bool).unwrap_or(false))
                    .and_then(|t| get(t, "AttributeName"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                out.tables.push(TableDecl {
                    logical_id: id.to_owned(),
                    name,
                    indexes,
                    ttl_attribute,
                });
            }
            "AWS::SQS::Queue" => {
                let name = resolve_name(
                    id,
                    get(&props, "QueueName").ok_or_else(|| bad(id, "QueueName is missing"))?,
                    stack,
                )?;
                let visibility_timeout_secs = get(&props, "VisibilityTimeout")
                    .map(|v| as_u32(id, "VisibilityTimeout", v))
                    .transpose()?;
                let dead_letter = match get(&props, "RedrivePolicy") {
                    None => None,
                    Some(policy) => {
                        let target = get(policy, "deadLetterTargetArn")
                            .ok_or_else(|| bad(id, "RedrivePolicy has no deadLetterTargetArn"))?;
                        let dlq = match target {
                            Value::Tagged(t) if t.tag == "!GetAtt" => t
                                .value
                                .as_str()
                                .and_then(|s| s.strip_suffix(".Arn"))
                                .map(str::to_owned),
                            Value::Mapping(m) => m
                                .get("Fn::GetAtt")
                                .and_then(Value::as_sequence)
                                .and_then(|s| s.first())
                                .and_then(Value::as_str)
                                .map(str::to_owned),
                            _ => None,
                        }
                        .ok_or_else(|| {
                            bad(id, "deadLetterTargetArn must be !GetAtt <Queue>.Arn")
                        })?;
                        let count = get(policy, "maxReceiveCount")
                            .ok_or_else(|| bad(id, "RedrivePolicy has no maxReceiveCount"))?;
                        Some((dlq, as_u32(id, "maxReceiveCount", count)?))
                    }
                };
                out.queues.push(QueueDecl {
                    logical_id: id.to_owned(),
                    name,
                    visibility_timeout_secs,
                    dead_letter,
                });
            }
            "AWS::SecretsManager::Secret" => {
                let name = resolve_name(
                    id,
                    get(&props, "Name").ok_or_else(|| bad(id, "Name is missing"))?,
                    stack,
                )?;
                let generated = get(&props, "GenerateSecretString").is_some();
                out.secrets.push(SecretDecl {
                    logical_id: id.to_owned(),
                    name,
                    generated,
                });
            }
            _ => {}
        }
    }
    for queue in &out.queues {
        if let Some((dlq, _)) = &queue.dead_letter
            && out.queue_by_logical_id(dlq).is_none()
        {
            return Err(bad(
                &queue.logical_id,
                format!("its dead-letter queue {dlq} is not a queue in the template"),
            ));
        }
    }
    Ok(out)
}

/// Each function's binary name with the environment variable names the template gives it.
pub fn function_environments(yaml: &str) -> Result<BTreeMap<String, Vec<String>>, TemplateError> {
    let doc: Value = serde_norway::from_str(yaml)?;
    let resources = get(&doc, "Resources")
        .and_then(Value::as_mapping)
        .ok_or(TemplateError::NoResources)?;
    let mut out = BTreeMap::new();
    for (id, resource) in resources {
        let Some(id) = id.as_str() else { continue };
        if get(resource, "Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = get(resource, "Metadata")
            .and_then(|m| get(m, "BuildProperties"))
            .and_then(|b| get(b, "Binary"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad(id, "Metadata.BuildProperties.Binary is missing"))?;
        let vars = get(resource, "Properties")
            .and_then(|p| get(p, "Environment"))
            .and_then(|e| get(e, "Variables"))
            .and_then(Value::as_mapping)
            .map(|m| {
                m.keys()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        out.insert(binary.to_owned(), vars);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> StackResources {
        parse(TEMPLATE, "lbtest").expect("the SAM template parses")
    }

    #[test]
    fn the_template_declares_the_three_tables_of_the_architecture() {
        let s = stack();
        let names: Vec<&str> = s.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        for suffix in ["data", "runs", "deliveries"] {
            let t = s
                .table(suffix)
                .unwrap_or_else(|| panic!("no {suffix} table"));
            assert_eq!(t.name, format!("lbtest-{suffix}"));
            assert_eq!(t.ttl_attribute.as_deref(), Some("expires_at"));
            assert!(t.indexes.contains(&"gsi1".to_owned()));
        }
        assert!(
            s.table("deliveries")
                .unwrap()
                .indexes
                .contains(&"gsi2".to_owned())
        );
    }

    #[test]
    fn every_work_queue_has_a_dead_letter_queue() {
        let s = stack();
        for role in domain::QueueRole::ALL {
            let q = s
                .queue(role.name())
                .unwrap_or_else(|| panic!("no {} queue", role.name()));
            let (dlq, count) = q.dead_letter.clone().expect("a redrive policy");
            // The batch driver records a job's reason on its run at this receive.
            assert_eq!(count, cloud::sqs::MAX_RECEIVE_COUNT);
            let dlq = s.queue_by_logical_id(&dlq).unwrap();
            assert_eq!(dlq.name, format!("{}-dlq", q.name));
            assert!(q.visibility_timeout_secs.unwrap_or(0) >= 30);
        }
    }

    #[test]
    fn the_pepper_secret_is_declared() {
        let s = stack();
        let pepper = s
            .secrets
            .iter()
            .find(|x| x.name == "lbtest/api-key-pepper")
            .expect("pepper secret");
        assert!(pepper.generated);
    }

    /// A value for each variable the template gives `function`, as the stack would.
    fn template_lookup(vars: &[String]) -> impl Fn(&str) -> Option<String> + '_ {
        |name: &str| {
            vars.iter().any(|v| v == name).then(|| {
                if name.ends_with("_URL") {
                    format!("https://sqs.example/{name}")
                } else if name == "MAIL_FROM" {
                    "learnbridge@example.com".to_owned()
                } else {
                    "90".to_owned()
                }
            })
        }
    }

    /// Every function starts with the environment the template gives it (its own
    /// typed config reads it), and can send to each queue its jobs go to.
    #[test]
    fn each_function_s_environment_satisfies_its_config() {
        use domain::QueueRole::*;
        let envs = function_environments(TEMPLATE).unwrap();
        assert_eq!(envs.len(), 7, "{:?}", envs.keys());
        let vars = |function: &str| {
            envs.get(function)
                .unwrap_or_else(|| panic!("{function} is not in the template"))
        };
        let nightly = nightly_sync::Config::from_lookup(template_lookup(vars("nightly-sync")))
            .unwrap_or_else(|e| panic!("nightly-sync: {e}"));
        assert!(nightly.queues.url(EnrolmentPush).is_some());
        let push = enrolment_push::Config::from_lookup(template_lookup(vars("enrolment-push")))
            .unwrap_or_else(|e| panic!("enrolment-push: {e}"));
        assert!(push.queues.url(ResultsFetch).is_some());
        assert!(
            push.mail_from.is_some(),
            "enrolment-push sends learner emails"
        );
        let fetch = results_fetch::Config::from_lookup(template_lookup(vars("results-fetch")))
            .unwrap_or_else(|e| panic!("results-fetch: {e}"));
        assert!(fetch.queues.url(Deliveries).is_some());
        assert!(
            fetch.mail_from.is_some(),
            "results-fetch sends run-error emails"
        );
        let webhook =
            coursekey_webhook::Config::from_lookup(template_lookup(vars("coursekey-webhook")))
                .unwrap_or_else(|e| panic!("coursekey-webhook: {e}"));
        assert!(webhook.queues.url(ResultsFetch).is_some());
        let retry = retry_worker::Config::from_lookup(template_lookup(vars("retry-worker")))
            .unwrap_or_else(|e| panic!("retry-worker: {e}"));
        assert!(retry.queues.url(Deliveries).is_some());
        let api = api::Config::from_lookup(template_lookup(vars("api")))
            .unwrap_or_else(|e| panic!("api: {e}"));
        for role in domain::QueueRole::ALL {
            assert!(
                api.queues.url(role).is_some(),
                "api sends to {}",
                role.name()
            );
        }
        assert_eq!(api.run_history_days, 90, "RUN_HISTORY_DAYS reaches the api");
        let console = console::Config::from_lookup(template_lookup(vars("console")))
            .unwrap_or_else(|e| panic!("console: {e}"));
        assert_eq!(console.session_hours, 8, "the default sign-in length");
    }

    /// Each function reads exactly what the template gives it: nothing it is given
    /// goes unread, and nothing it reads is missing from the template but the
    /// optional tuning variables (their defaults are a deployment's).
    #[test]
    fn each_function_reads_only_its_own_variables() {
        use cloud::config::{ALLOW_INTERNAL_URLS, MOODLE_TIMEOUT_SECONDS};
        let tuning = [
            MOODLE_TIMEOUT_SECONDS,
            ALLOW_INTERNAL_URLS,
            console::config::CONSOLE_SESSION_HOURS,
        ];
        let envs = function_environments(TEMPLATE).unwrap();
        let reads: &[(&str, &[&str])] = &[
            ("nightly-sync", nightly_sync::Config::VARIABLES),
            ("enrolment-push", enrolment_push::Config::VARIABLES),
            ("results-fetch", results_fetch::Config::VARIABLES),
            ("coursekey-webhook", coursekey_webhook::Config::VARIABLES),
            ("retry-worker", retry_worker::Config::VARIABLES),
            ("api", api::Config::VARIABLES),
            ("console", console::Config::VARIABLES),
        ];
        assert_eq!(envs.len(), reads.len());
        for (function, reads) in reads {
            let given = &envs[*function];
            for name in given {
                assert!(
                    reads.contains(&name.as_str()),
                    "{function} is given {name} in the template but never reads it"
                );
            }
            for name in *reads {
                assert!(
                    given.iter().any(|g| g == name) || tuning.contains(name),
                    "{function} reads {name}, which the template does not give it"
                );
            }
        }
    }

    /// A function's config answers only for its own variables: one it does not
    /// read stays unread even when the environment holds it.
    #[test]
    fn a_function_config_ignores_variables_that_are_not_its_own() {
        let all = |name: &str| {
            Some(match name {
                n if n.ends_with("_URL") => format!("https://sqs.example/{n}"),
                "MAIL_FROM" => "learnbridge@example.com".to_owned(),
                _ => "90".to_owned(),
            })
        };
        let webhook = coursekey_webhook::Config::from_lookup(all).unwrap();
        assert_eq!(
            webhook.queues.iter().count(),
            1,
            "only RESULTS_FETCH_QUEUE_URL: {:?}",
            webhook.queues
        );
        let nightly = nightly_sync::Config::from_lookup(all).unwrap();
        assert_eq!(nightly.queues.iter().count(), 1, "{:?}", nightly.queues);
        let without = |name: &str| {
            (name != "API_KEY_PEPPER_SECRET")
                .then(|| all(name))
                .flatten()
        };
        let err = api::Config::from_lookup(without).unwrap_err();
        assert_eq!(err.name(), "API_KEY_PEPPER_SECRET");
    }

    #[test]
    fn other_substitutions_are_refused_by_resource() {
        let yaml = "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      TableName: !Sub \"${Env}-data\"\n";
        let err = parse(yaml, "x").unwrap_err();
        assert!(err.to_string().starts_with("resource T: name"), "{err}");
    }
}
