//! Provisioning is idempotent and wires dead-letter queues.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a test's setup failing is a test failure

mod common;

use aws_sdk_sqs::types::QueueAttributeName;
use cloud::provision::{self, DlqSpec, QueueSpec, SecretSpec, TableSpec};

#[tokio::test]
async fn creating_twice_is_fine_and_the_queue_redrives_to_its_dlq() {
    let sdk = cloud::testing::sdk().await;
    let name = cloud::testing::unique_stack_name();
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = TableSpec {
        name: format!("{name}-t"),
        gsis: vec!["gsi1".into(), "gsi2".into()],
        ttl_attribute: Some("expires_at".into()),
    };
    provision::create_table(&dynamo, &table).await.unwrap();
    provision::create_table(&dynamo, &table).await.unwrap();
    let described = dynamo
        .describe_table()
        .table_name(&table.name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let indexes: Vec<String> = described
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name().map(str::to_owned))
        .collect();
    assert_eq!(indexes.len(), 2);
    let ttl = dynamo
        .describe_time_to_live()
        .table_name(&table.name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description
            .unwrap()
            .attribute_name
            .as_deref(),
        Some("expires_at")
    );

    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let spec = QueueSpec {
        name: format!("{name}-q"),
        visibility_timeout_secs: 45,
        dlq: Some(DlqSpec {
            name: format!("{name}-q-dlq"),
            max_receive_count: 5,
        }),
    };
    let first = provision::create_queue(&sqs, &spec).await.unwrap();
    let second = provision::create_queue(
        &sqs,
        &QueueSpec {
            visibility_timeout_secs: 60,
            ..spec.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(first, second);
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&first.url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(
        attributes[&QueueAttributeName::VisibilityTimeout],
        "60",
        "an existing queue gets the new settings"
    );
    let policy: serde_json::Value =
        serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert!(
        policy["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{name}-q-dlq"))
    );
    assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), "5");

    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = SecretSpec {
        name: format!("{name}/api-key-pepper"),
        generate: true,
    };
    provision::create_secret(&secrets, &secret).await.unwrap();
    let value = secrets
        .get_secret_value()
        .secret_id(&secret.name)
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap();
    provision::create_secret(&secrets, &secret).await.unwrap();
    let again = secrets
        .get_secret_value()
        .secret_id(&secret.name)
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap();
    assert_eq!(value, again, "an existing secret keeps its value");
}
