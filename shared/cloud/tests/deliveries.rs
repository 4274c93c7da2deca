//! The delivery store on moto: idempotent create, the sparse DUE index across
//! tenants, lists by connection and state, attempts, and version checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::TimeDelta;
use cloud::Table;
use cloud::dynamo::deliveries::DynamoDeliveryStore;
use common::{at, conn_id, tenant};
use domain::delivery::{
    Attempt, Delivery, DeliveryKey, DeliveryKind, DeliveryState, SendResult, SmsAnswer, Verdict,
    after_attempt, claim,
};
use domain::ports::{DeliveryStore, StoreError, Written};
use domain::{AssessableId, LearnerCode, OfferingId};
use serde_json::json;

async fn store() -> DynamoDeliveryStore {
    let (sdk, config) = common::stack().await;
    DynamoDeliveryStore::new(Table::new(common::dynamo(&sdk), config.tables.deliveries))
}

fn delivery(t: &str, learner: &str, secs: i64) -> Delivery {
    let key = DeliveryKey {
        tenant: tenant(t),
        learner: LearnerCode::parse(learner).unwrap(),
        offering: OfferingId::parse("OFF-1").unwrap(),
        assessable: Some(AssessableId::parse("U1").unwrap()),
        kind: DeliveryKind::Result,
    };
    Delivery::new(
        &key,
        conn_id("sms"),
        json!({"grade": 7.5, "count": 3, "passed": true}),
        at(secs),
    )
}

#[tokio::test]
async fn create_is_idempotent_and_round_trips() {
    let store = store().await;
    let d = delivery("tenant-a", "L1", 0);
    assert_eq!(store.create(&d).await.unwrap(), Written::Done);
    assert_eq!(store.create(&d).await.unwrap(), Written::AlreadyDone);
    let got = store.delivery(&d.tenant, &d.id).await.unwrap().unwrap();
    assert_eq!(got, d, "numbers in the payload come back exactly");
    assert_eq!(
        store.delivery(&tenant("tenant-b"), &d.id).await.unwrap(),
        None,
        "another tenant does not see it"
    );
}

#[tokio::test]
async fn only_pending_deliveries_are_due_across_tenants_in_time_order() {
    let store = store().await;
    let a = delivery("tenant-a", "L1", 10);
    let b = delivery("tenant-b", "L1", 5);
    let later = delivery("tenant-a", "L2", 500);
    for d in [&a, &b, &later] {
        store.create(d).await.unwrap();
    }
    let due = store.due(at(100), 100).await.unwrap();
    let ids: Vec<_> = due.iter().map(|d| d.id.clone()).collect();
    assert_eq!(
        ids,
        vec![b.id.clone(), a.id.clone()],
        "oldest first, both tenants"
    );
    assert_eq!(
        store.due(at(10), 100).await.unwrap().len(),
        2,
        "due at exactly now"
    );
    assert_eq!(store.due(at(100), 1).await.unwrap().len(), 1, "limit");

    // Delivered: gone from the DUE index (sparse), listed under its state.
    let claimed = claim(&a, at(20));
    store.update(&claimed, None).await.unwrap();
    let claimed = Delivery {
        version: claimed.version + 1,
        ..claimed
    };
    let done = after_attempt(&claimed, &Verdict::Delivered, at(21)).delivery;
    let attempt = Attempt::record(
        1,
        at(21),
        &SendResult::Answered(SmsAnswer {
            status: 200,
            ..Default::default()
        }),
        &Verdict::Delivered,
    );
    store.update(&done, Some(&attempt)).await.unwrap();
    let due = store.due(at(10_000_000), 100).await.unwrap();
    assert!(
        due.iter().all(|d| d.id != a.id),
        "a delivered delivery is never due"
    );
    let delivered = store
        .by_state(&a.tenant, &a.connection, DeliveryState::Delivered, 10)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].state, DeliveryState::Delivered);
    assert_eq!(delivered[0].version, 2);
    let pending = store
        .by_state(&a.tenant, &a.connection, DeliveryState::Pending, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "tenant-a's other delivery only");
    assert_eq!(pending[0].id, later.id);
    assert_eq!(
        store.attempts(&a.tenant, &a.id).await.unwrap(),
        vec![attempt]
    );
}

#[tokio::test]
async fn two_workers_cannot_both_record_a_send() {
    let store = store().await;
    let d = delivery("tenant-a", "L1", 0);
    store.create(&d).await.unwrap();
    // Both read version 0; both try to claim it.
    let one = claim(&d, at(1));
    let two = claim(&d, at(1) + TimeDelta::milliseconds(3));
    let (r1, r2) = tokio::join!(store.update(&one, None), store.update(&two, None));
    let wins = [&r1, &r2].iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{r1:?} {r2:?}");
    let loser = if r1.is_err() { r1 } else { r2 };
    assert!(matches!(loser, Err(StoreError::Conflict { .. })));

    // Recording with a stale version writes neither the state nor the attempt.
    let stale = after_attempt(&one, &Verdict::Delivered, at(2)).delivery;
    let attempt = Attempt::record(1, at(2), &SendResult::TimedOut, &Verdict::Delivered);
    let err = store.update(&stale, Some(&attempt)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(store.attempts(&d.tenant, &d.id).await.unwrap().is_empty());

    // With the right version, once; the same attempt number again conflicts.
    let current = store.delivery(&d.tenant, &d.id).await.unwrap().unwrap();
    let done = after_attempt(&current, &Verdict::Delivered, at(2)).delivery;
    store.update(&done, Some(&attempt)).await.unwrap();
    let again = Delivery {
        version: done.version + 1,
        ..done.clone()
    };
    let err = store.update(&again, Some(&attempt)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(store.attempts(&d.tenant, &d.id).await.unwrap().len(), 1);
}
