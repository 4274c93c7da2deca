//! The domain's store ports over DynamoDB on moto.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a test's setup failing is a test failure

mod common;

use cloud::dynamo::{Condition, DynamoApiKeyStore, DynamoConnectionStore, DynamoRunStore, Table};
use common::{at, conn_id, moodle, sms, tenant};
use domain::ports::{ApiKeyStore, ConnectionStore, RunStore, StoreError, Written};
use domain::{LogLevel, Run, RunId, RunLogLine, RunStatus, Trigger};
use serde::Serialize;
use std::collections::BTreeSet;

async fn tables() -> (Table, Table) {
    let (sdk, config) = common::stack().await;
    let client = common::dynamo(&sdk);
    (
        Table::new(client.clone(), config.tables.data),
        Table::new(client, config.tables.runs),
    )
}

#[tokio::test]
async fn connections_round_trip_and_stay_within_their_tenant() {
    let (data, _) = tables().await;
    let store = DynamoConnectionStore::new(data);
    let a1 = moodle("tenant-a", "moodle-1", true);
    let a2 = sms("tenant-a", "sms");
    let b1 = moodle("tenant-b", "moodle-1", true);
    for c in [&a1, &a2, &b1] {
        store.save_connection(c).await.unwrap();
    }

    let got = store
        .connection(&tenant("tenant-a"), &conn_id("moodle-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, a1, "settings, email and all survive storage");
    assert_eq!(
        store
            .connection(&tenant("tenant-c"), &conn_id("moodle-1"))
            .await
            .unwrap(),
        None
    );

    let mut of_a = store.connections(&tenant("tenant-a")).await.unwrap();
    of_a.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(of_a, vec![a1.clone(), a2]);
    let of_b = store.connections(&tenant("tenant-b")).await.unwrap();
    assert_eq!(
        of_b,
        vec![b1],
        "tenant A's query never returns B's items, and B's never A's"
    );

    store
        .delete_connection(&tenant("tenant-a"), &conn_id("moodle-1"))
        .await
        .unwrap();
    assert_eq!(
        store
            .connection(&tenant("tenant-a"), &conn_id("moodle-1"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn only_enabled_nightly_connections_are_in_the_sparse_index() {
    let (data, _) = tables().await;
    let store = DynamoConnectionStore::new(data);
    let on = moodle("tenant-a", "on", true);
    let off = moodle("tenant-a", "off", false);
    let target = sms("tenant-a", "sms");
    let other = moodle("tenant-b", "on", true);
    for c in [&on, &off, &target, &other] {
        store.save_connection(c).await.unwrap();
    }
    let ids = |list: Vec<domain::Connection>| {
        list.into_iter()
            .map(|c| format!("{}/{}", c.tenant, c.id))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        ids(store.enabled_connections().await.unwrap()),
        BTreeSet::from(["tenant-a/on".to_owned(), "tenant-b/on".to_owned()])
    );

    // Disabling takes it out of the index; enabling puts it back.
    store
        .save_connection(&moodle("tenant-a", "on", false))
        .await
        .unwrap();
    store
        .save_connection(&moodle("tenant-a", "off", true))
        .await
        .unwrap();
    assert_eq!(
        ids(store.enabled_connections().await.unwrap()),
        BTreeSet::from(["tenant-a/off".to_owned(), "tenant-b/on".to_owned()])
    );
}

#[tokio::test]
async fn a_stored_connection_with_a_bad_tenant_is_corrupt() {
    let (data, _) = tables().await;
    #[derive(Serialize)]
    struct Forged {
        pk: String,
        sk: String,
        tenant: String,
        id: String,
        name: String,
        base_url: String,
        enabled: bool,
        settings: domain::ConnectionSettings,
    }
    let forged = Forged {
        pk: "T#tenant-a".to_owned(),
        sk: "CONN#x".to_owned(),
        tenant: "tenant-a#b".to_owned(),
        id: "x".to_owned(),
        name: "x".to_owned(),
        base_url: "http://127.0.0.1:9".to_owned(),
        enabled: true,
        settings: domain::ConnectionSettings::Sms(Default::default()),
    };
    data.put(&forged, Condition::None).await.unwrap();
    let store = DynamoConnectionStore::new(data);
    let err = store
        .connection(&tenant("tenant-a"), &conn_id("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { what, .. } if what == "connection"),
        "{err:?}"
    );
    assert!(store.connections(&tenant("tenant-a")).await.is_err());
}

fn line(n: i64, level: LogLevel, message: &str) -> RunLogLine {
    RunLogLine {
        at: at(n),
        level,
        message: message.to_owned(),
    }
}

#[tokio::test]
async fn runs_start_once_log_in_order_and_finish() {
    let (_, runs) = tables().await;
    let store = DynamoRunStore::new(runs.clone(), 30);
    let (t, c) = (tenant("tenant-a"), conn_id("moodle"));
    let run = Run::start(
        t.clone(),
        c.clone(),
        RunId::new_v7(),
        Trigger::Nightly,
        at(0),
    );

    assert_eq!(store.start_run(&run).await.unwrap(), Written::Done);
    assert_eq!(store.start_run(&run).await.unwrap(), Written::AlreadyDone);
    assert_eq!(store.run(&t, &c, &run.id).await.unwrap().unwrap(), run);

    store
        .append_log(
            &t,
            &c,
            &run.id,
            &[line(1, LogLevel::Info, "export started")],
        )
        .await
        .unwrap();
    let many: Vec<RunLogLine> = (0..30)
        .map(|i| line(2 + i, LogLevel::Info, &format!("user {i} created")))
        .collect();
    store.append_log(&t, &c, &run.id, &many).await.unwrap();
    store
        .append_log(
            &t,
            &c,
            &run.id,
            &[line(40, LogLevel::Warning, "course missing")],
        )
        .await
        .unwrap();
    store.append_log(&t, &c, &run.id, &[]).await.unwrap();

    let log = store.log(&t, &c, &run.id).await.unwrap();
    assert_eq!(log.len(), 32, "no append overwrote an earlier line");
    assert_eq!(log[0].message, "export started");
    assert_eq!(log[1..31], many[..]);
    assert_eq!(log[31].message, "course missing");
    assert!(
        store
            .log(&tenant("tenant-b"), &c, &run.id)
            .await
            .unwrap()
            .is_empty(),
        "another tenant sees no log"
    );

    store
        .finish_run(&t, &c, &run.id, RunStatus::from_log(&log), at(50))
        .await
        .unwrap();
    let done = store.run(&t, &c, &run.id).await.unwrap().unwrap();
    assert_eq!(done.status, RunStatus::FinishedWithWarnings);
    assert_eq!(done.finished_at, Some(at(50)));

    #[derive(serde::Deserialize)]
    struct Expiry {
        expires_at: i64,
    }
    let pk = "T#tenant-a#CONN#moodle";
    let stored: Expiry = runs
        .get(pk, &format!("RUN#{}", run.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.expires_at, at(0).timestamp() + 30 * 86_400);
    let first_line: Expiry = runs
        .get(&format!("T#tenant-a#RUN#{}", run.id), "LOG#000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first_line.expires_at, stored.expires_at,
        "log lines expire with their run"
    );
}

#[tokio::test]
async fn concurrent_appenders_never_collide() {
    let (_, runs) = tables().await;
    let store = DynamoRunStore::new(runs, 90);
    let (t, c) = (tenant("tenant-a"), conn_id("moodle"));
    let run = Run::start(
        t.clone(),
        c.clone(),
        RunId::new_v7(),
        Trigger::Manual,
        at(0),
    );
    store.start_run(&run).await.unwrap();

    let writers = (0..8).map(|w| {
        let (store, t, c, id) = (store.clone(), t.clone(), c.clone(), run.id.clone());
        tokio::spawn(async move {
            let lines: Vec<RunLogLine> = (0..3)
                .map(|i| line(i, LogLevel::Info, &format!("w{w} l{i}")))
                .collect();
            store.append_log(&t, &c, &id, &lines).await.unwrap();
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.unwrap();
    }
    let log = store.log(&t, &c, &run.id).await.unwrap();
    assert_eq!(log.len(), 24);
    let distinct: BTreeSet<&str> = log.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(distinct.len(), 24, "every line of every writer survived");
    for w in 0..8 {
        let mine: Vec<&str> = log
            .iter()
            .map(|l| l.message.as_str())
            .filter(|m| m.starts_with(&format!("w{w} ")))
            .collect();
        assert_eq!(
            mine,
            vec![format!("w{w} l0"), format!("w{w} l1"), format!("w{w} l2")],
            "a writer's lines stay in order"
        );
    }
}

#[tokio::test]
async fn logging_to_or_finishing_an_unknown_run_is_refused() {
    let (_, runs) = tables().await;
    let store = DynamoRunStore::new(runs.clone(), 90);
    let (t, c, id) = (tenant("tenant-a"), conn_id("moodle"), RunId::new_v7());
    let err = store
        .append_log(&t, &c, &id, &[line(0, LogLevel::Info, "x")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err:?}");
    let err = store
        .finish_run(&t, &c, &id, RunStatus::FinishedSuccessfully, at(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err:?}");
    assert!(
        store.run(&t, &c, &id).await.unwrap().is_none(),
        "nothing half-made was left behind"
    );
}

#[tokio::test]
async fn run_history_newest_first_and_by_date() {
    let (_, runs) = tables().await;
    let store = DynamoRunStore::new(runs, 90);
    let t = tenant("tenant-a");
    let mut started = Vec::new();
    for i in 0..5 {
        let connection = conn_id(if i % 2 == 0 { "moodle" } else { "ocsat" });
        let run = Run::start(
            t.clone(),
            connection,
            RunId::new_v7(),
            Trigger::Nightly,
            at(i * 3600),
        );
        store.start_run(&run).await.unwrap();
        started.push(run);
    }
    let other = Run::start(
        tenant("tenant-b"),
        conn_id("moodle"),
        RunId::new_v7(),
        Trigger::Nightly,
        at(0),
    );
    store.start_run(&other).await.unwrap();

    let moodle = store.runs_of(&t, &conn_id("moodle"), 2).await.unwrap();
    assert_eq!(moodle, vec![started[4].clone(), started[2].clone()]);

    let window = store
        .tenant_runs(&t, at(3600), at(3 * 3600), 10)
        .await
        .unwrap();
    assert_eq!(
        window,
        vec![started[3].clone(), started[2].clone(), started[1].clone()]
    );
    let all = store
        .tenant_runs(&t, at(-10), at(10 * 3600), 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 5, "tenant B's run is not in tenant A's history");
}

#[tokio::test]
async fn api_keys_are_found_by_hash_until_revoked() {
    let (data, _) = tables().await;
    let store = DynamoApiKeyStore::new(data.clone());
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    assert_eq!(store.tenant_for(hash).await.unwrap(), None);
    assert_eq!(
        store
            .save_key(hash, &tenant("tenant-a"), "SMS sync", at(0))
            .await
            .unwrap(),
        Written::Done
    );
    assert_eq!(
        store
            .save_key(hash, &tenant("tenant-b"), "other", at(1))
            .await
            .unwrap(),
        Written::AlreadyDone,
        "a key hash is never reassigned"
    );
    assert_eq!(
        store.tenant_for(hash).await.unwrap(),
        Some(tenant("tenant-a"))
    );
    let key = store.key(hash).await.unwrap().unwrap();
    assert_eq!(
        (key.label.as_str(), key.created_at, key.revoked),
        ("SMS sync", at(0), false)
    );

    assert!(store.revoke(hash).await.unwrap());
    assert_eq!(
        store.tenant_for(hash).await.unwrap(),
        None,
        "a revoked key authenticates nothing"
    );
    assert!(!store.revoke("0000").await.unwrap());

    #[derive(Serialize)]
    struct Forged {
        pk: String,
        sk: String,
        tenant: String,
        label: String,
        created_at: chrono::DateTime<chrono::Utc>,
    }
    let forged = Forged {
        pk: "KEY#bad".to_owned(),
        sk: "KEY".to_owned(),
        tenant: "".to_owned(),
        label: "x".to_owned(),
        created_at: at(0),
    };
    data.put(&forged, Condition::None).await.unwrap();
    assert!(matches!(
        store.tenant_for("bad").await.unwrap_err(),
        StoreError::Corrupt { .. }
    ));
}
