//! Creates on moto (or any AWS endpoint) exactly the tables, queues and secrets
//! that `infra/template.yaml` declares, and returns the configuration the
//! functions would read from their environment in that stack.

use crate::template::{self, StackResources, TemplateError};
use cloud::Config;
use cloud::config::{Queues, Tables};
use cloud::provision::{self, DlqSpec, ProvisionError, QueueSpec, SecretSpec, TableSpec};
use domain::QueueRole;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error("the template declares no {what}")]
    Missing { what: String },
}

fn missing(what: impl Into<String>) -> StackError {
    StackError::Missing { what: what.into() }
}

/// What to create for every stateful resource of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSpecs {
    pub tables: Vec<TableSpec>,
    /// Queues that are not themselves dead-letter queues; each creates its own.
    pub queues: Vec<QueueSpec>,
    pub secrets: Vec<SecretSpec>,
}

/// The provisioning specs for every stateful resource of the template.
pub fn specs(resources: &StackResources) -> Result<StackSpecs, StackError> {
    let tables = resources
        .tables
        .iter()
        .map(|t| TableSpec {
            name: t.name.clone(),
            gsis: t.indexes.clone(),
            ttl_attribute: t.ttl_attribute.clone(),
        })
        .collect();
    let dead_letters: Vec<&str> = resources
        .queues
        .iter()
        .filter_map(|q| q.dead_letter.as_ref())
        .map(|(id, _)| id.as_str())
        .collect();
    let mut queues = Vec::new();
    for q in &resources.queues {
        if dead_letters.contains(&q.logical_id.as_str()) {
            continue; // created with the queue that uses it
        }
        let dlq = match &q.dead_letter {
            Some((id, count)) => {
                let dlq = resources
                    .queue_by_logical_id(id)
                    .ok_or_else(|| missing(format!("queue {id}")))?;
                Some(DlqSpec {
                    name: dlq.name.clone(),
                    max_receive_count: *count,
                })
            }
            None => None,
        };
        queues.push(QueueSpec {
            name: q.name.clone(),
            visibility_timeout_secs: q.visibility_timeout_secs.unwrap_or(30),
            dlq,
        });
    }
    let secrets = resources
        .secrets
        .iter()
        .map(|s| SecretSpec {
            name: s.name.clone(),
            generate: s.generated,
        })
        .collect();
    Ok(StackSpecs {
        tables,
        queues,
        secrets,
    })
}

/// Creates the stack `stack` as the template declares it; idempotent.
pub async fn provision(
    sdk: &aws_config::SdkConfig,
    stack: &str,
    mail_from: Option<&str>,
    run_history_days: u32,
) -> Result<Config, StackError> {
    let resources = template::parse(template::TEMPLATE, stack)?;
    let StackSpecs {
        tables,
        queues,
        secrets,
    } = specs(&resources)?;
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    for table in &tables {
        provision::create_table(&dynamo, table).await?;
    }
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut urls = HashMap::new();
    for queue in &queues {
        let created = provision::create_queue(&sqs, queue).await?;
        urls.insert(queue.name.clone(), created.url);
    }
    let secrets_client = aws_sdk_secretsmanager::Client::new(sdk);
    for secret in &secrets {
        provision::create_secret(&secrets_client, secret).await?;
    }
    if let Some(from) = mail_from {
        provision::create_email_identity(&aws_sdk_sesv2::Client::new(sdk), from).await?;
    }
    let table = |suffix: &str| {
        resources
            .table(suffix)
            .map(|t| t.name.clone())
            .ok_or_else(|| missing(format!("{suffix} table")))
    };
    let queue_url = |role: QueueRole| {
        resources
            .queue(role.name())
            .and_then(|q| urls.get(&q.name).cloned())
            .ok_or_else(|| missing(format!("{} queue", role.name())))
    };
    let pepper = resources
        .secrets
        .iter()
        .find(|s| s.name.ends_with("/api-key-pepper"))
        .map(|s| s.name.clone())
        .ok_or_else(|| missing("api-key-pepper secret"))?;
    Ok(Config {
        tables: Tables {
            data: table("data")?,
            runs: table("runs")?,
            deliveries: table("deliveries")?,
        },
        queues: Queues {
            enrolment_push: Some(queue_url(QueueRole::EnrolmentPush)?),
            results_fetch: Some(queue_url(QueueRole::ResultsFetch)?),
            deliveries: Some(queue_url(QueueRole::Deliveries)?),
        },
        secret_prefix: format!("{stack}/connections"),
        api_key_pepper_secret: Some(pepper),
        mail_from: mail_from.map(str::to_owned),
        run_history_days,
        moodle_timeout: None,
        // The local stack: its connections reach the simulators on 127.0.0.1.
        egress: domain::egress::Egress::AllowInternal,
    })
}

/// Every variable the functions read, with its value in the stack `config`
/// describes: what `learnbridge-local provision` prints, one `NAME=value` a line,
/// for `cargo lambda watch` (which runs every function in one environment).
pub fn environment(config: &Config) -> Vec<(&'static str, String)> {
    config.variables()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specs cloud's own tests provision with (`cloud::provision::stack_*`)
    /// are the template's, so adapter tests run against the deployed shapes.
    #[test]
    fn cloud_test_stacks_match_the_template() {
        let resources = template::parse(template::TEMPLATE, "s").unwrap();
        let StackSpecs {
            tables,
            queues,
            secrets,
        } = specs(&resources).unwrap();
        let mut ours = tables.clone();
        ours.sort_by(|a, b| a.name.cmp(&b.name));
        let mut cloud_tables = provision::stack_tables("s").to_vec();
        cloud_tables.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(ours, cloud_tables);
        for role in QueueRole::ALL {
            let expected = provision::stack_queue("s", role);
            let declared = queues
                .iter()
                .find(|q| q.name == expected.name)
                .expect("queue declared");
            assert_eq!(declared.dlq, expected.dlq, "{}", expected.name);
            assert_eq!(
                declared.visibility_timeout_secs, expected.visibility_timeout_secs,
                "{}",
                expected.name
            );
        }
        assert!(secrets.contains(&provision::stack_pepper_secret("s")));
    }

    #[test]
    fn dead_letter_queues_are_created_with_their_queue() {
        let resources = template::parse(template::TEMPLATE, "s").unwrap();
        let queues = specs(&resources).unwrap().queues;
        assert!(
            queues
                .iter()
                .all(|q| !q.name.ends_with("-dlq") || q.dlq.is_none())
        );
        assert!(
            queues
                .iter()
                .any(|q| q.name == "s-enrolment-push" && q.dlq.is_some())
        );
    }

    /// `provision` prints every variable any function of the template is given, so
    /// each function starts under cargo-lambda with what it has in AWS (retry-worker
    /// stops at init without MAIL_FROM).
    #[test]
    fn the_printed_environment_has_every_variable_of_every_function() {
        let config = Config {
            tables: Tables {
                data: "s-data".into(),
                runs: "s-runs".into(),
                deliveries: "s-deliveries".into(),
            },
            queues: Queues {
                enrolment_push: Some("http://q/e".into()),
                results_fetch: Some("http://q/r".into()),
                deliveries: Some("http://q/d".into()),
            },
            secret_prefix: "s/connections".into(),
            api_key_pepper_secret: Some("s/api-key-pepper".into()),
            mail_from: Some("learnbridge@example.com".into()),
            run_history_days: 90,
            moodle_timeout: None,
            egress: domain::egress::Egress::AllowInternal,
        };
        let printed: Vec<&str> = environment(&config).iter().map(|(n, _)| *n).collect();
        let functions = template::function_environments(template::TEMPLATE).unwrap();
        assert_eq!(functions.len(), 7, "{functions:?}");
        for (function, names) in &functions {
            assert!(!names.is_empty(), "{function}");
            for name in names {
                assert!(
                    printed.contains(&name.as_str()),
                    "{function} is given {name} in the template; provision does not print it"
                );
            }
        }
        // And what the printed environment describes is what the functions read.
        let vars: HashMap<_, _> = environment(&config).into_iter().collect();
        let read = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
        assert_eq!(read, config);
    }
}
