//! Creating the stack's resources: what the local runner and the tests use.
//! In AWS the SAM template creates them. Every function here is idempotent: a
//! resource that already exists is fine.

use crate::config::{Config, Queues, Tables};
use crate::dynamo::keys::{GSI1, GSI2};
use crate::error::service_code;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Projection, ProjectionType, ScalarAttributeType,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;
use domain::QueueRole;
use rand::Rng;
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The TTL attribute of every table (epoch seconds; only items that carry it expire).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// Receives before a message moves to its dead-letter queue.
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// Visibility timeout of the stack's queues: 6 x the consumers' 300 s timeout, as in
/// infra/template.yaml (a devstack test proves they match).
pub const VISIBILITY_TIMEOUT_SECS: u32 = 1800;

/// A table with string keys `pk`/`sk`; each index `{index}` has string keys
/// `{index}pk`/`{index}sk` and projects all attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub gsis: Vec<String>,
    pub ttl_attribute: Option<String>,
}

/// A dead-letter queue and how many receives send a message to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqSpec {
    pub name: String,
    pub max_receive_count: u32,
}

/// A standard queue, with its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    pub visibility_timeout_secs: u32,
    pub dlq: Option<DlqSpec>,
}

/// The URLs of a created queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub url: String,
    pub dlq_url: Option<String>,
}

/// A secret; `generate` gives it a random 256-bit hex value when it is created
/// (the API key pepper). Without it, the secret is created empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub name: String,
    pub generate: bool,
}

/// A resource could not be created; names the resource (never a secret value
/// or an email address).
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("could not create table {name}")]
    Table {
        name: String,
        #[source]
        source: BoxError,
    },
    #[error("could not create queue {name}")]
    Queue {
        name: String,
        #[source]
        source: BoxError,
    },
    #[error("could not create secret {name}")]
    Secret {
        name: String,
        #[source]
        source: BoxError,
    },
    #[error("could not create the sender email identity")]
    EmailIdentity(#[source] BoxError),
}

fn table_error(name: &str) -> impl Fn(BoxError) -> ProvisionError + '_ {
    move |source| ProvisionError::Table {
        name: name.to_owned(),
        source,
    }
}

fn queue_error(name: &str) -> impl Fn(BoxError) -> ProvisionError + '_ {
    move |source| ProvisionError::Queue {
        name: name.to_owned(),
        source,
    }
}

fn boxed<E: std::error::Error + Send + Sync + 'static>(err: E) -> BoxError {
    Box::new(err)
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, BoxError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(boxed)
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, BoxError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(boxed)
}

/// Creates an on-demand table (or finds it), waits until it is active, turns
/// on point-in-time recovery and, when asked, TTL.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    spec: &TableSpec,
) -> Result<(), ProvisionError> {
    let fail = table_error(&spec.name);
    let mut request = client
        .create_table()
        .table_name(&spec.name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash).map_err(&fail)?)
        .key_schema(key("sk", KeyType::Range).map_err(&fail)?)
        .attribute_definitions(string_attribute("pk").map_err(&fail)?)
        .attribute_definitions(string_attribute("sk").map_err(&fail)?);
    for index in &spec.gsis {
        let (pk, sk) = (format!("{index}pk"), format!("{index}sk"));
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(key(&pk, KeyType::Hash).map_err(&fail)?)
            .key_schema(key(&sk, KeyType::Range).map_err(&fail)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|e| fail(boxed(e)))?;
        request = request
            .global_secondary_indexes(gsi)
            .attribute_definitions(string_attribute(&pk).map_err(&fail)?)
            .attribute_definitions(string_attribute(&sk).map_err(&fail)?);
    }
    match request.send().await {
        Ok(_) => tracing::info!(table = %spec.name, "table created"),
        Err(err) if service_code(&err) == Some("ResourceInUseException") => {
            tracing::debug!(table = %spec.name, "table already exists");
        }
        Err(err) => return Err(fail(boxed(err))),
    }
    client
        .wait_until_table_exists()
        .table_name(&spec.name)
        .wait(Duration::from_secs(120))
        .await
        .map_err(|e| fail(boxed(e)))?;

    client
        .update_continuous_backups()
        .table_name(&spec.name)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .map_err(|e| fail(boxed(e)))?,
        )
        .send()
        .await
        .map_err(|e| fail(boxed(e)))?;

    if let Some(attribute) = &spec.ttl_attribute {
        let current = client
            .describe_time_to_live()
            .table_name(&spec.name)
            .send()
            .await
            .map_err(|e| fail(boxed(e)))?;
        let status = current
            .time_to_live_description
            .and_then(|d| d.time_to_live_status);
        if !matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) {
            client
                .update_time_to_live()
                .table_name(&spec.name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(attribute)
                        .enabled(true)
                        .build()
                        .map_err(|e| fail(boxed(e)))?,
                )
                .send()
                .await
                .map_err(|e| fail(boxed(e)))?;
        }
    }
    Ok(())
}

/// Creates a queue (or finds it) with its visibility timeout and attributes;
/// an existing queue gets the attributes set.
async fn ensure_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> Result<String, ProvisionError> {
    let fail = queue_error(name);
    let mut request = client.create_queue().queue_name(name);
    for (attribute, value) in attributes {
        request = request.attributes(attribute.clone(), value);
    }
    let created = match request.send().await {
        Ok(output) => output.queue_url,
        Err(err)
            if matches!(
                service_code(&err),
                Some("QueueAlreadyExists" | "QueueNameExists")
            ) =>
        {
            None
        }
        Err(err) => return Err(fail(boxed(err))),
    };
    if let Some(url) = created {
        return Ok(url);
    }
    let url = client
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| fail(boxed(e)))?
        .queue_url
        .ok_or_else(|| fail(boxed(MissingField("QueueUrl"))))?;
    let mut update = client.set_queue_attributes().queue_url(&url);
    for (attribute, value) in attributes {
        update = update.attributes(attribute.clone(), value);
    }
    update.send().await.map_err(|e| fail(boxed(e)))?;
    Ok(url)
}

/// A response lacked a field it always has.
#[derive(Debug, thiserror::Error)]
#[error("the response has no {0}")]
pub struct MissingField(&'static str);

/// Creates a standard queue and, first, its dead-letter queue, with the
/// redrive policy between them.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    spec: &QueueSpec,
) -> Result<QueueUrls, ProvisionError> {
    let mut attributes = vec![(
        QueueAttributeName::VisibilityTimeout,
        spec.visibility_timeout_secs.to_string(),
    )];
    let mut dlq_url = None;
    if let Some(dlq) = &spec.dlq {
        let fail = queue_error(&dlq.name);
        // A dead-letter queue keeps messages for the maximum, 14 days.
        let url = ensure_queue(
            client,
            &dlq.name,
            &[(
                QueueAttributeName::MessageRetentionPeriod,
                "1209600".to_owned(),
            )],
        )
        .await?;
        let arn = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| fail(boxed(e)))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| fail(boxed(MissingField("QueueArn"))))?;
        let policy = serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": dlq.max_receive_count });
        attributes.push((QueueAttributeName::RedrivePolicy, policy.to_string()));
        dlq_url = Some(url);
    }
    let url = ensure_queue(client, &spec.name, &attributes).await?;
    Ok(QueueUrls { url, dlq_url })
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// Creates a secret unless it exists (an existing secret keeps its value).
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    spec: &SecretSpec,
) -> Result<(), ProvisionError> {
    let mut request = client.create_secret().name(&spec.name);
    if spec.generate {
        request = request.secret_string(random_hex(32));
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(err) if service_code(&err) == Some("ResourceExistsException") => Ok(()),
        Err(err) => Err(ProvisionError::Secret {
            name: spec.name.clone(),
            source: boxed(err),
        }),
    }
}

/// Creates (in moto: verifies) an SES sender identity, an address or a domain.
pub async fn create_email_identity(
    client: &aws_sdk_sesv2::Client,
    identity: &str,
) -> Result<(), ProvisionError> {
    match client
        .create_email_identity()
        .email_identity(identity)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if service_code(&err) == Some("AlreadyExistsException") => Ok(()),
        Err(err) => Err(ProvisionError::EmailIdentity(boxed(err))),
    }
}

/// The three tables of docs/architecture.md for a stack.
pub fn stack_tables(stack: &str) -> [TableSpec; 3] {
    let table = |suffix: &str, gsis: &[&str]| TableSpec {
        name: format!("{stack}-{suffix}"),
        gsis: gsis.iter().map(|g| (*g).to_owned()).collect(),
        ttl_attribute: Some(TTL_ATTRIBUTE.to_owned()),
    };
    [
        table("data", &[GSI1]),
        table("runs", &[GSI1]),
        table("deliveries", &[GSI1, GSI2]),
    ]
}

/// The queue of each role for a stack, each with its dead-letter queue.
pub fn stack_queue(stack: &str, role: QueueRole) -> QueueSpec {
    QueueSpec {
        name: format!("{stack}-{}", role.name()),
        visibility_timeout_secs: VISIBILITY_TIMEOUT_SECS,
        dlq: Some(DlqSpec {
            name: format!("{stack}-{}-dlq", role.name()),
            max_receive_count: MAX_RECEIVE_COUNT,
        }),
    }
}

/// The API key pepper secret of a stack.
pub fn stack_pepper_secret(stack: &str) -> SecretSpec {
    SecretSpec {
        name: format!("{stack}/api-key-pepper"),
        generate: true,
    }
}

/// Creates a whole stack (tables, queues with dead-letter queues, the pepper
/// secret, and the sender identity when `mail_from` is given) and returns the
/// configuration its functions would read from their environment.
pub async fn create_stack(
    sdk: &SdkConfig,
    stack: &str,
    mail_from: Option<&str>,
    run_history_days: u32,
) -> Result<Config, ProvisionError> {
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let [data, runs, deliveries] = stack_tables(stack);
    for spec in [&data, &runs, &deliveries] {
        create_table(&dynamo, spec).await?;
    }
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let enrolment_push = create_queue(&sqs, &stack_queue(stack, QueueRole::EnrolmentPush))
        .await?
        .url;
    let results_fetch = create_queue(&sqs, &stack_queue(stack, QueueRole::ResultsFetch))
        .await?
        .url;
    let deliveries_url = create_queue(&sqs, &stack_queue(stack, QueueRole::Deliveries))
        .await?
        .url;
    let pepper = stack_pepper_secret(stack);
    create_secret(&aws_sdk_secretsmanager::Client::new(sdk), &pepper).await?;
    if let Some(from) = mail_from {
        create_email_identity(&aws_sdk_sesv2::Client::new(sdk), from).await?;
    }
    Ok(Config {
        tables: Tables {
            data: data.name,
            runs: runs.name,
            deliveries: deliveries.name,
        },
        queues: Queues {
            enrolment_push: Some(enrolment_push),
            results_fetch: Some(results_fetch),
            deliveries: Some(deliveries_url),
        },
        secret_prefix: format!("{stack}/connections"),
        api_key_pepper_secret: Some(pepper.name),
        mail_from: mail_from.map(str::to_owned),
        run_history_days,
        moodle_timeout: None,
        // A stack on the emulator is a local one: its connections reach the
        // simulators on 127.0.0.1.
        egress: domain::egress::Egress::AllowInternal,
    })
}
