//! Runs end to end: the local runner over moto and the Moodle simulator. One
//! run per connection at a time through the lease; a run whose function died
//! is marked failed by the next one, which does its work without duplicates;
//! the error email goes out through SES.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, Utc};
use cloud::testing::connection;
use domain::ConnectionKind::Moodle;
use domain::ports::RunStore;
use domain::{
    ConnectionId, LeaseOutcome, LogLevel, Run, RunId, RunLogLine, RunStatus, TenantId, Trigger,
};
use simulators::moodle::MoodleSim;

#[tokio::test]
async fn a_run_that_died_is_failed_by_the_next_which_does_its_work_once() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let (t, c) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
    );
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = server.base_url.clone();
    conn.error_email = Some("ops@acme.example".into());
    tests::seed_moodle_offering(
        &system,
        &conn,
        "OCC-1001",
        2,
        &[("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))],
    )
    .await;
    let now = Utc::now();

    // Last night's run took the lease, wrote a line, and its function died.
    let dead = RunId::parse("run-that-died").unwrap();
    let started = now - Duration::minutes(40);
    stores
        .runs
        .start_run(&Run::start(
            t.clone(),
            c.clone(),
            dead.clone(),
            Trigger::Nightly,
            started,
        ))
        .await
        .unwrap();
    stores
        .runs
        .append_log(
            &t,
            &c,
            &dead,
            &[RunLogLine {
                at: started,
                level: LogLevel::Info,
                message: "Run started by the nightly schedule".into(),
            }],
        )
        .await
        .unwrap();
    assert!(matches!(
        stores
            .runs
            .acquire_lease(&t, &c, &dead, started, started + Duration::minutes(15))
            .await
            .unwrap(),
        LeaseOutcome::Acquired { .. }
    ));

    // Tonight's run takes the lapsed lease over, fails the dead run, does the work.
    system.fire_nightly(now).await.unwrap();
    let drained = system.drain().await.unwrap();
    assert_eq!(drained.failed, 0);
    let old = stores.runs.run(&t, &c, &dead).await.unwrap().unwrap();
    assert_eq!(old.status, RunStatus::FinishedWithError);
    let log = stores.runs.log(&t, &c, &dead).await.unwrap();
    assert!(
        !log.iter().any(|l| l.message.contains("could not be sent")),
        "the error email went out through SES: {log:?}"
    );
    let last = log.last().unwrap();
    assert_eq!(last.level, LogLevel::Error);
    assert!(
        last.message
            .starts_with("This run stopped before it finished"),
        "{log:?}"
    );
    let runs = stores.runs.runs_of(&t, &c, 10).await.unwrap();
    let tonight = runs.iter().find(|r| r.id != dead).unwrap();
    assert_eq!(tonight.status, RunStatus::FinishedSuccessfully, "{runs:?}");
    assert!(last.message.contains(tonight.id.as_str()));
    let moodle = sim.snapshot();
    let created: Vec<_> = moodle
        .users
        .iter()
        .filter(|u| u.idnumber == "X1234567")
        .collect();
    assert_eq!(created.len(), 1, "the work is done once");
    assert_eq!(sim.call_count("core_user_create_users"), 1);

    // The lease is free again: a run by hand goes straight through.
    let manual = RunId::new_v7();
    assert!(matches!(
        stores
            .runs
            .acquire_lease(&t, &c, &manual, now, now + Duration::minutes(15))
            .await
            .unwrap(),
        LeaseOutcome::Acquired {
            taken_from: None,
            ..
        }
    ));
}
