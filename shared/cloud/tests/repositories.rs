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
        matches!(&err, StoreError::Corrupt { what, .. } if what == "connection x"),
        "{err:?}"
    );
    // A list leaves it out (never fails for it); the checked list names it.
    assert!(
        store
            .connections(&tenant("tenant-a"))
            .await
            .unwrap()
            .is_empty()
    );
    let (good, bad) = store
        .connections_checked(&tenant("tenant-a"))
        .await
        .unwrap();
    assert!(good.is_empty());
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].key, "T#tenant-a / CONN#x");
    assert_eq!(bad[0].tenant, Some(tenant("tenant-a")));
    assert_eq!(bad[0].connection, Some(conn_id("x")));
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

#[tokio::test]
async fn one_run_holds_a_connections_lease_until_it_lapses_or_is_released() {
    use domain::LeaseOutcome;
    let (_, runs) = tables().await;
    let store = DynamoRunStore::new(runs, 30);
    let (t, c) = (tenant("tenant-a"), conn_id("moodle"));
    let (first, second) = (
        RunId::parse("run-1").unwrap(),
        RunId::parse("run-2").unwrap(),
    );

    assert_eq!(
        store
            .acquire_lease(&t, &c, &first, at(0), at(900))
            .await
            .unwrap(),
        LeaseOutcome::Acquired {
            until: at(900),
            taken_from: None
        }
    );
    // The holder renews; another run is refused while the lease lasts.
    assert_eq!(
        store
            .acquire_lease(&t, &c, &first, at(60), at(960))
            .await
            .unwrap(),
        LeaseOutcome::Acquired {
            until: at(960),
            taken_from: None
        }
    );
    assert_eq!(
        store
            .acquire_lease(&t, &c, &second, at(120), at(1020))
            .await
            .unwrap(),
        LeaseOutcome::Busy {
            holder: first.clone(),
            until: at(960)
        }
    );
    // Another connection, or the same connection id of another tenant, is free.
    for (tenant_id, connection) in [("tenant-a", "moodle-2"), ("tenant-b", "moodle")] {
        assert!(matches!(
            store
                .acquire_lease(
                    &tenant(tenant_id),
                    &conn_id(connection),
                    &second,
                    at(120),
                    at(1020)
                )
                .await
                .unwrap(),
            LeaseOutcome::Acquired {
                taken_from: None,
                ..
            }
        ));
    }
    // Once it lapses (the holder died), the next run takes it over and is told from whom.
    assert_eq!(
        store
            .acquire_lease(&t, &c, &second, at(961), at(1861))
            .await
            .unwrap(),
        LeaseOutcome::Acquired {
            until: at(1861),
            taken_from: Some(first.clone())
        }
    );
    // The old holder can neither renew nor release it now.
    assert!(matches!(
        store.acquire_lease(&t, &c, &first, at(970), at(1870)).await.unwrap(),
        LeaseOutcome::Busy { holder, .. } if holder == second
    ));
    store.release_lease(&t, &c, &first).await.unwrap();
    assert!(matches!(
        store
            .acquire_lease(&t, &c, &first, at(971), at(1871))
            .await
            .unwrap(),
        LeaseOutcome::Busy { .. }
    ));
    // Released by its holder, it is free at once.
    store.release_lease(&t, &c, &second).await.unwrap();
    assert_eq!(
        store
            .acquire_lease(&t, &c, &first, at(972), at(1872))
            .await
            .unwrap(),
        LeaseOutcome::Acquired {
            until: at(1872),
            taken_from: None
        }
    );
}

#[tokio::test]
async fn racing_runs_never_both_get_the_lease() {
    let (_, runs) = tables().await;
    let store = DynamoRunStore::new(runs, 30);
    let (t, c) = (tenant("tenant-a"), conn_id("moodle"));
    let attempts = (0..8).map(|i| {
        let (store, t, c) = (store.clone(), t.clone(), c.clone());
        async move {
            let run = RunId::parse(format!("run-{i}")).unwrap();
            store.acquire_lease(&t, &c, &run, at(0), at(900)).await
        }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let granted = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(domain::LeaseOutcome::Acquired { .. })))
        .count();
    assert_eq!(granted, 1, "{outcomes:?}");
}

#[tokio::test]
async fn counts_add_up_atomically_and_retention_follows_the_run() {
    let (_, runs) = tables().await;
    let store = DynamoRunStore::new(runs.clone(), 30);
    let (t, c) = (tenant("tenant-a"), conn_id("moodle"));
    let run = Run::start(
        t.clone(),
        c.clone(),
        RunId::new_v7(),
        Trigger::Nightly,
        at(0),
    )
    .keeping(Some(7));
    store.start_run(&run).await.unwrap();
    let adds = (0..6).map(|_| {
        let (store, t, c, id) = (store.clone(), t.clone(), c.clone(), run.id.clone());
        async move {
            store
                .add_counts(
                    &t,
                    &c,
                    &id,
                    &[("enrolled", 2), ("users_created", 1), ("blocked", 0)],
                )
                .await
        }
    });
    for result in futures::future::join_all(adds).await {
        result.unwrap();
    }
    let stored = store.run(&t, &c, &run.id).await.unwrap().unwrap();
    assert_eq!(stored.counts.get("enrolled"), Some(&12));
    assert_eq!(stored.counts.get("users_created"), Some(&6));
    assert_eq!(stored.counts.get("blocked"), None, "zeros are not written");
    assert_eq!(stored.keep_days, Some(7));

    #[derive(serde::Deserialize)]
    struct Expiry {
        expires_at: i64,
    }
    let raw: Expiry = runs
        .get("T#tenant-a#CONN#moodle", &format!("RUN#{}", run.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        raw.expires_at,
        at(0).timestamp() + 7 * 86_400,
        "the tenant's 7 days, not the default 30"
    );

    let ghost = RunId::parse("ghost").unwrap();
    assert!(
        store
            .add_counts(&t, &c, &ghost, &[("enrolled", 1)])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn tenant_settings_default_until_saved_and_stay_within_their_tenant() {
    use cloud::dynamo::DynamoTenantSettingsStore;
    use domain::ports::TenantSettingsStore;
    use domain::tenant::TenantSettings;
    let (data, _) = tables().await;
    let store = DynamoTenantSettingsStore::new(data);
    let a = tenant("tenant-a");
    assert_eq!(
        store.tenant_settings(&a).await.unwrap(),
        TenantSettings::default()
    );
    let mut settings = TenantSettings {
        run_history_days: Some(90),
        ..TenantSettings::default()
    };
    settings.run_error_email.subject = "[{status}] {connection}".into();
    store.save_tenant_settings(&a, &settings).await.unwrap();
    assert_eq!(store.tenant_settings(&a).await.unwrap(), settings);
    assert_eq!(
        store.tenant_settings(&tenant("tenant-b")).await.unwrap(),
        TenantSettings::default()
    );
}

#[tokio::test]
async fn a_connection_is_created_once_and_a_second_create_changes_nothing() {
    let (data, _) = tables().await;
    let store = DynamoConnectionStore::new(data);
    let first = moodle("tenant-a", "moodle-1", true);
    let mut second = first.clone();
    second.name = "someone else's".into();
    assert_eq!(
        store.create_connection(&first).await.unwrap(),
        Written::Done
    );
    assert_eq!(
        store.create_connection(&second).await.unwrap(),
        Written::AlreadyDone
    );
    assert_eq!(
        store
            .connection(&tenant("tenant-a"), &conn_id("moodle-1"))
            .await
            .unwrap(),
        Some(first),
        "the first create stands"
    );
    // The same id in another tenant is another connection.
    let other = moodle("tenant-b", "moodle-1", true);
    assert_eq!(
        store.create_connection(&other).await.unwrap(),
        Written::Done
    );
}

#[tokio::test]
async fn a_tenant_gets_one_connection_per_lln_product_even_when_two_creates_race() {
    use domain::ConnectionKind;
    use domain::connection::{ConnectionSettings, LlnSettings};
    let (data, _) = tables().await;
    let store = DynamoConnectionStore::new(data);
    let lln = |tenant_id: &str, id: &str, kind: ConnectionKind| domain::Connection {
        settings: match kind {
            ConnectionKind::Ocsat => ConnectionSettings::Ocsat(LlnSettings::default()),
            _ => ConnectionSettings::LlnRobot(LlnSettings::default()),
        },
        ..moodle(tenant_id, id, true)
    };
    let racing = (0..4).map(|i| {
        let (store, c) = (
            store.clone(),
            lln("tenant-a", &format!("ocsat-{i}"), ConnectionKind::Ocsat),
        );
        async move { store.create_connection(&c).await.unwrap() }
    });
    let written = futures::future::join_all(racing).await;
    assert_eq!(
        written.iter().filter(|w| **w == Written::Done).count(),
        1,
        "{written:?}"
    );
    let ocsat: Vec<_> = store
        .connections(&tenant("tenant-a"))
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind() == ConnectionKind::Ocsat)
        .collect();
    assert_eq!(ocsat.len(), 1);
    // The other product, and the same product in another tenant, are free.
    let robot = lln("tenant-a", "robot", ConnectionKind::LlnRobot);
    assert_eq!(
        store.create_connection(&robot).await.unwrap(),
        Written::Done
    );
    let other = lln("tenant-b", "ocsat-0", ConnectionKind::Ocsat);
    assert_eq!(
        store.create_connection(&other).await.unwrap(),
        Written::Done
    );
    // Once it is deleted, the tenant may create another.
    store
        .delete_connection(&tenant("tenant-a"), &ocsat[0].id)
        .await
        .unwrap();
    let again = lln("tenant-a", "ocsat-new", ConnectionKind::Ocsat);
    assert_eq!(
        store.create_connection(&again).await.unwrap(),
        Written::Done
    );
}

#[tokio::test]
async fn a_log_of_uneven_items_pages_through_every_line_once() {
    let (_, runs) = tables().await;
    let store = DynamoRunStore::new(runs, 30);
    let (t, c) = (tenant("tenant-a"), conn_id("moodle"));
    let run = Run::start(
        t.clone(),
        c.clone(),
        RunId::new_v7(),
        Trigger::Nightly,
        at(0),
    );
    store.start_run(&run).await.unwrap();
    // Appends of 1, 250 (three items), 7 and 130 lines, and 2 more.
    let mut n = 0;
    for size in [1, 250, 7, 130, 1, 1] {
        let lines: Vec<RunLogLine> = (0..size)
            .map(|i| line(n + i, LogLevel::Info, &format!("line {}", n + i)))
            .collect();
        store.append_log(&t, &c, &run.id, &lines).await.unwrap();
        n += size;
    }
    let whole = store.log(&t, &c, &run.id).await.unwrap();
    assert_eq!(whole.len() as i64, n);
    for limit in [1, 7, 100, 120, 500] {
        let mut read = Vec::new();
        let mut after = 0;
        loop {
            let page = store.log_page(&t, &c, &run.id, after, limit).await.unwrap();
            assert!(page.lines.len() <= limit);
            for (number, line) in &page.lines {
                assert_eq!(*number, read.len() as u64 + 1, "limit {limit}");
                read.push(line.clone());
            }
            match page.next {
                Some(next) => after = next,
                None => break,
            }
        }
        assert_eq!(read, whole, "limit {limit}");
    }
}

#[tokio::test]
async fn log_items_stored_as_lists_before_the_packed_form_are_still_read_in_order() {
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
    store.start_run(&run).await.unwrap();
    let first: Vec<RunLogLine> = (0..3)
        .map(|i| line(i, LogLevel::Warning, &format!("old {i}")))
        .collect();
    store.append_log(&t, &c, &run.id, &first).await.unwrap();
    // The item of lines 1 to 3 written again as an earlier version stored it: its
    // lines a list of maps, no `packed` string.
    #[derive(Serialize)]
    struct OldLine<'a> {
        at: chrono::DateTime<chrono::Utc>,
        level: LogLevel,
        message: &'a str,
    }
    #[derive(Serialize)]
    struct OldItem<'a> {
        pk: String,
        sk: String,
        tenant: String,
        connection: String,
        run: String,
        seq: u64,
        lines: Vec<OldLine<'a>>,
        expires_at: i64,
    }
    let old = OldItem {
        pk: format!("T#{t}#RUN#{}", run.id),
        sk: "LOG#000001".to_owned(),
        tenant: t.to_string(),
        connection: c.to_string(),
        run: run.id.to_string(),
        seq: 1,
        lines: first
            .iter()
            .map(|l| OldLine {
                at: l.at,
                level: l.level,
                message: &l.message,
            })
            .collect(),
        expires_at: at(0).timestamp() + 86_400 * 30,
    };
    runs.put(&old, Condition::None).await.unwrap();
    let later: Vec<RunLogLine> = (3..8)
        .map(|i| line(i, LogLevel::Info, &format!("new {i}")))
        .collect();
    store.append_log(&t, &c, &run.id, &later).await.unwrap();
    let all: Vec<RunLogLine> = first.iter().chain(&later).cloned().collect();
    assert_eq!(store.log(&t, &c, &run.id).await.unwrap(), all);
    let page = store.log_page(&t, &c, &run.id, 2, 4).await.unwrap();
    let numbered: Vec<(u64, String)> = page
        .lines
        .iter()
        .map(|(n, l)| (*n, l.message.clone()))
        .collect();
    assert_eq!(
        numbered,
        [(3, "old 2"), (4, "new 3"), (5, "new 4"), (6, "new 5")].map(|(n, m)| (n, m.to_owned()))
    );
    assert_eq!(page.next, Some(6));
}

#[tokio::test]
async fn a_session_remembers_its_lln_connection_until_it_ends() {
    use cloud::dynamo::DynamoSessionStore;
    use domain::ports::{Role, Session, SessionStore};
    let (data, _) = tables().await;
    let store = DynamoSessionStore::new(data);
    let now = at(10);
    let session = Session {
        tenant: tenant("tenant-a"),
        role: Role::Viewer,
        key_hash: "key-hash".into(),
        csrf: "csrf".into(),
        created_at: now,
        expires: now + chrono::TimeDelta::hours(8),
    };
    store.save_session("hash-1", &session).await.unwrap();
    store.save_session("hash-2", &session).await.unwrap();
    assert_eq!(store.lln_choice("hash-1").await.unwrap(), None);

    store
        .choose_lln("hash-1", &conn_id("robot"), session.expires)
        .await
        .unwrap();
    store
        .choose_lln("hash-1", &conn_id("ocsat"), session.expires)
        .await
        .unwrap();
    assert_eq!(
        store.lln_choice("hash-1").await.unwrap(),
        Some(conn_id("ocsat")),
        "the last choice wins"
    );
    assert_eq!(
        store.session("hash-1", now).await.unwrap(),
        Some(session.clone()),
        "remembering leaves the session as it was"
    );
    assert_eq!(
        store.lln_choice("hash-2").await.unwrap(),
        None,
        "another session's choice is its own"
    );

    store.delete_session("hash-1").await.unwrap();
    assert_eq!(store.lln_choice("hash-1").await.unwrap(), None);
    assert_eq!(store.session("hash-1", now).await.unwrap(), None);
}
