//! The generic table against moto: conditional writes, batches, paging, indexes.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a test's setup failing is a test failure

mod common;

use cloud::dynamo::{Condition, QueryOptions, SkRange, Table};
use domain::ports::{StoreError, Written};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Thing {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    value: u32,
    #[serde(default)]
    version: u64,
}

fn thing(pk: &str, sk: &str, value: u32) -> Thing {
    Thing {
        pk: pk.to_owned(),
        sk: sk.to_owned(),
        gsi1pk: None,
        gsi1sk: None,
        value,
        version: 0,
    }
}

async fn data_table() -> Table {
    let (sdk, config) = common::stack().await;
    Table::new(common::dynamo(&sdk), config.tables.data)
}

#[tokio::test]
async fn not_exists_is_an_idempotency_key() {
    let table = data_table().await;
    let first = thing("T#a#IDEM", "k1", 1);
    assert_eq!(
        table.put(&first, Condition::NotExists).await.unwrap(),
        Written::Done
    );
    let again = thing("T#a#IDEM", "k1", 2);
    assert_eq!(
        table.put(&again, Condition::NotExists).await.unwrap(),
        Written::AlreadyDone
    );
    let stored: Thing = table.get("T#a#IDEM", "k1").await.unwrap().unwrap();
    assert_eq!(stored.value, 1, "the duplicate changed nothing");
}

#[tokio::test]
async fn versions_guard_concurrent_writers() {
    let table = data_table().await;
    table
        .put(&thing("T#a", "V", 1), Condition::NotExists)
        .await
        .unwrap();
    let read: Thing = table.get("T#a", "V").await.unwrap().unwrap();
    assert_eq!(read.version, 0);

    // Two workers read version 0; the first to write wins and bumps it to 1.
    let mine = Thing {
        value: 2,
        ..read.clone()
    };
    let theirs = Thing {
        value: 3,
        ..read.clone()
    };
    assert_eq!(
        table
            .put(&mine, Condition::VersionIs(read.version))
            .await
            .unwrap(),
        Written::Done
    );
    let err = table
        .put(&theirs, Condition::VersionIs(read.version))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(
        err.is_retryable(),
        "a conflict is resolved by reading again"
    );

    let now: Thing = table.get("T#a", "V").await.unwrap().unwrap();
    assert_eq!((now.value, now.version), (2, 1));
    let retried = Thing {
        value: 3,
        ..now.clone()
    };
    table
        .put(&retried, Condition::VersionIs(now.version))
        .await
        .unwrap();
    let last: Thing = table.get("T#a", "V").await.unwrap().unwrap();
    assert_eq!((last.value, last.version), (3, 2));
}

#[tokio::test]
async fn batch_put_writes_more_than_one_batch_and_query_pages_through_them() {
    let table = data_table().await;
    let things: Vec<Thing> = (0..57)
        .map(|i| thing("T#a#OFF#o1", &format!("ENROL#{i:03}"), i))
        .collect();
    table.batch_put(&things).await.unwrap();

    // Pages of 10 force six round trips; every item comes back, in key order.
    let all: Vec<Thing> = table
        .query(
            "T#a#OFF#o1",
            Some("ENROL#"),
            QueryOptions::default().page_size(10),
        )
        .await
        .unwrap();
    assert_eq!(all, things);

    let newest: Vec<Thing> = table
        .query(
            "T#a#OFF#o1",
            Some("ENROL#"),
            QueryOptions::default()
                .newest_first()
                .limit(12)
                .page_size(5),
        )
        .await
        .unwrap();
    let values: Vec<u32> = newest.iter().map(|t| t.value).collect();
    assert_eq!(values, (45..57).rev().collect::<Vec<_>>());

    let none: Vec<Thing> = table
        .query("T#a#OFF#o1", Some("LINK#"), QueryOptions::default())
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn query_index_selects_by_range() {
    let table = data_table().await;
    let mut things = Vec::new();
    for day in 1..=9u32 {
        let mut t = thing("T#a", &format!("X#{day}"), day);
        t.gsi1pk = Some("DUE".to_owned());
        t.gsi1sk = Some(format!("2025-01-0{day}#a#{day}"));
        things.push(t);
    }
    table.batch_put(&things).await.unwrap();

    let due: Vec<Thing> = table
        .query_index(
            "gsi1",
            "DUE",
            &SkRange::AtMost("2025-01-04#~".to_owned()),
            QueryOptions::default().page_size(2),
        )
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|t| t.value).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );

    let window: Vec<Thing> = table
        .query_index(
            "gsi1",
            "DUE",
            &SkRange::Between("2025-01-03".to_owned(), "2025-01-05#~".to_owned()),
            QueryOptions::default().newest_first(),
        )
        .await
        .unwrap();
    assert_eq!(
        window.iter().map(|t| t.value).collect::<Vec<_>>(),
        vec![5, 4, 3]
    );

    let later: Vec<Thing> = table
        .query_index(
            "gsi1",
            "DUE",
            &SkRange::AtLeast("2025-01-08".to_owned()),
            QueryOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(later.len(), 2);
}

#[tokio::test]
async fn update_increment_and_delete() {
    let table = data_table().await;
    table
        .put(&thing("T#a", "C", 1), Condition::None)
        .await
        .unwrap();

    #[derive(Serialize)]
    struct Value {
        value: u32,
    }
    assert!(table.update("T#a", "C", &Value { value: 7 }).await.unwrap());
    assert!(
        !table
            .update("T#a", "missing", &Value { value: 7 })
            .await
            .unwrap(),
        "update never creates"
    );
    assert_eq!(
        table.get::<Thing>("T#a", "C").await.unwrap().unwrap().value,
        7
    );

    #[derive(Deserialize)]
    struct Counter {
        hits: u64,
    }
    assert_eq!(
        table
            .increment::<Counter>("T#a", "C", "hits", 3)
            .await
            .unwrap()
            .unwrap()
            .hits,
        3
    );
    assert_eq!(
        table
            .increment::<Counter>("T#a", "C", "hits", 2)
            .await
            .unwrap()
            .unwrap()
            .hits,
        5
    );
    assert!(
        table
            .increment::<Counter>("T#a", "nope", "hits", 1)
            .await
            .unwrap()
            .is_none()
    );

    table.delete("T#a", "C").await.unwrap();
    assert!(table.get::<Thing>("T#a", "C").await.unwrap().is_none());
    table.delete("T#a", "C").await.unwrap();
}

#[tokio::test]
async fn errors_are_classified_at_the_source() {
    let table = data_table().await;
    table
        .put(&thing("T#a", "S", 1), Condition::None)
        .await
        .unwrap();

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Other {
        missing_field: String,
    }
    let err = table.get::<Other>("T#a", "S").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");

    let gone = Table::new(
        table.client().clone(),
        format!("{}-no-such-table", table.name()),
    );
    let err = gone.get::<Thing>("T#a", "S").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Rejected(_)),
        "a missing table is for a person to fix: {err:?}"
    );
    assert!(!err.is_retryable());

    #[derive(Serialize)]
    struct NoKeys {
        value: u32,
    }
    let err = table
        .put(&NoKeys { value: 1 }, Condition::None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_store_is_unavailable() {
    cloud::testing::moto_endpoint();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let table = Table::new(aws_sdk_dynamodb::Client::new(&sdk), "whatever");
    let err = table.get::<Thing>("T#a", "S").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.is_retryable());
}
