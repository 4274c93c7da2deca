//! Enrolment push end to end: the local runner over moto and the Moodle
//! simulator. The SMS's records are seeded through the stores, the nightly
//! schedule fires, the queues drain; Moodle and the run log are checked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, Utc};
use cloud::testing::connection;
use domain::ConnectionKind::Moodle;
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::ports::{RunStore, SisStore};
use domain::sis::*;
use domain::{ConnectionId, LearnerCode, RunStatus, TenantId};
use simulators::moodle::MoodleSim;

#[tokio::test]
async fn the_nightly_run_pushes_not_called_enrolments_once() {
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
    // The site is this tenant's alone: anyone in the course the SMS does not know is reported.
    conn.settings = ConnectionSettings::Moodle(MoodleSettings {
        exclusive_tenant_alerts: true,
        ..MoodleSettings::default()
    });
    let site = sim.snapshot();
    let mut strangers: Vec<i64> = site
        .user_enrolments
        .iter()
        .filter(|ue| {
            site.enrol_instances
                .iter()
                .any(|e| e.id == ue.enrolid && e.courseid == 2)
        })
        .map(|ue| ue.userid)
        .collect();
    strangers.sort_unstable();
    strangers.dedup();
    assert!(!strangers.is_empty(), "the sample course has participants");
    let o = tests::seed_moodle_offering(
        &system,
        &conn,
        "OCC-1001",
        2,
        &[
            ("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com")),
            ("X7654321", "Luis", "Gómez", Some("luis.gomez@example.com")),
            ("X0000000", "Sin", "Correo", None),
        ],
    )
    .await;
    let now = Utc::now();

    system.fire_nightly(now).await.unwrap();
    let drained = system.drain().await.unwrap();
    assert_eq!(drained.failed, 0);

    let moodle = sim.snapshot();
    for idnumber in ["X1234567", "X7654321"] {
        let user = moodle
            .users
            .iter()
            .find(|u| u.idnumber == idnumber)
            .expect(idnumber);
        let enrolled = moodle.user_enrolments.iter().any(|ue| ue.userid == user.id);
        assert!(enrolled, "{idnumber} enrolled");
    }
    assert!(
        !moodle.users.iter().any(|u| u.idnumber == "X0000000"),
        "no email: not created"
    );

    let runs = stores.runs.runs_of(&t, &c, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].status,
        RunStatus::FinishedWithWarnings,
        "one learner is blocked"
    );
    let log: Vec<String> = stores
        .runs
        .log(&t, &c, &runs[0].id)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect();
    let unknown = log
        .iter()
        .filter(|l| l.ends_with("is enrolled in course 2 but unknown to the SMS"))
        .count();
    assert_eq!(unknown, strangers.len(), "{log:?}");
    let counts = &runs[0].counts;
    assert_eq!(counts.get("users_created"), Some(&2), "{counts:?}");
    assert_eq!(counts.get("enrolled"), Some(&2));
    assert_eq!(counts.get("called"), Some(&2));
    assert_eq!(counts.get("blocked"), Some(&1));
    assert_eq!(
        counts.get("unknown_participants").copied().unwrap_or(0),
        u64::try_from(strangers.len()).unwrap()
    );
    for line in [
        "User Ana Ruiz (X1234567) - registered in the system",
        "User Ana Ruiz (X1234567) - enrolment in the Moodle course",
        "User Ana Ruiz (X1234567) - called",
        "User Luis Gómez (X7654321) - called",
    ] {
        assert!(log.contains(&line.to_owned()), "{line} in {log:?}");
    }
    assert!(log.iter().any(|l| {
        l.starts_with("User Sin Correo (X0000000) - not transferred: the learner has no email")
    }));
    let ana = stores
        .sis
        .enrolment(&t, &o, &LearnerCode::parse("X1234567").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ana.state, EnrolmentState::InProgress);

    // The next night: nothing new in Moodle, and the connection's lease was
    // given back, so the new run is not kept waiting.
    system.fire_nightly(now + Duration::days(1)).await.unwrap();
    system.drain().await.unwrap();
    let again = sim.snapshot();
    assert_eq!(again.users, moodle.users);
    assert_eq!(again.user_enrolments, moodle.user_enrolments);
    let runs = stores.runs.runs_of(&t, &c, 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter().all(|r| r.status != RunStatus::Importing),
        "{runs:?}"
    );
}

/// Counts add up across retries and offerings: the export fails part-way
/// (Moodle answers 503 to enrolments, past the client's own retries, after
/// the users were created), the job is delivered again (twice: once more
/// after it succeeded), and two offerings are pushed in the run. The run's
/// counts equal what happened in Moodle: each user created once, each
/// enrolment once, each blocked enrolment once.
#[tokio::test]
async fn a_retried_export_counts_what_happened_once() {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::middleware::Next;
    use axum::response::IntoResponse;
    use domain::Job;
    use domain::ports::JobQueue;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    // Every enrolment call fails until the client gave up once (1 + 3 retries).
    let refused = Arc::new(AtomicUsize::new(0));
    let router = {
        let refused = refused.clone();
        sim.router().layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let refused = refused.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                    let enrol = String::from_utf8_lossy(&bytes)
                        .contains("wsfunction=enrol_manual_enrol_users");
                    if enrol && refused.fetch_add(1, Ordering::SeqCst) < 4 {
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy")
                            .into_response();
                    }
                    next.run(Request::from_parts(parts, Body::from(bytes)))
                        .await
                }
            },
        ))
    };
    let base_url = tests::serve(router).await;
    let (t, c) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
    );
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = base_url;
    tests::seed_moodle_offering(
        &system,
        &conn,
        "OCC-1001",
        2,
        &[
            ("A1", "Ada", "One", Some("ada.one@example.com")),
            ("A2", "Ada", "Two", Some("ada.two@example.com")),
            ("A3", "Ada", "Three", Some("ada.three@example.com")),
            ("A0", "Ada", "Nomail", None),
        ],
    )
    .await;
    tests::seed_moodle_offering(
        &system,
        &conn,
        "OCC-2002",
        2,
        &[
            ("B1", "Bo", "One", Some("bo.one@example.com")),
            ("B2", "Bo", "Two", Some("bo.two@example.com")),
            ("B0", "Bo", "Nomail", None),
            ("B9", "Bo", "Nomail", None),
        ],
    )
    .await;
    let users_before = sim.snapshot().users.len();

    system.fire_nightly(Utc::now()).await.unwrap();
    let first = system.drain().await.unwrap();
    assert_eq!(first.failed, 1, "the export failed part-way: {first:?}");
    assert!(refused.load(Ordering::SeqCst) >= 4);
    let runs = stores.runs.runs_of(&t, &c, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    let run = runs[0].id.clone();
    let partial = &runs[0].counts;
    assert_eq!(partial.get("users_created"), Some(&3), "{partial:?}");
    assert_eq!(partial.get("enrolled"), None, "{partial:?}");

    // SQS delivers the job again (the same message body), and once more after
    // it went through.
    let job = Job::SyncConnection {
        tenant: t.clone(),
        connection: c.clone(),
        run: run.clone(),
        trigger: domain::Trigger::Nightly,
        offering: None,
    };
    for _ in 0..2 {
        assert!(
            stores
                .queue
                .enqueue(std::slice::from_ref(&job))
                .await
                .unwrap()
                .is_empty()
        );
        let again = system.drain().await.unwrap();
        assert_eq!(again.failed, 0, "{again:?}");
    }

    let moodle = sim.snapshot();
    let created = moodle.users.len() - users_before;
    let ours: Vec<i64> = moodle
        .users
        .iter()
        .filter(|u| ["A1", "A2", "A3", "B1", "B2"].contains(&u.idnumber.as_str()))
        .map(|u| u.id)
        .collect();
    assert_eq!((created, ours.len()), (5, 5), "each learner created once");
    let enrolled = moodle
        .user_enrolments
        .iter()
        .filter(|ue| ours.contains(&ue.userid))
        .count();
    assert_eq!(enrolled, 5);

    let stored = stores.runs.run(&t, &c, &run).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::FinishedWithWarnings, "{stored:?}");
    let counts = &stored.counts;
    let n = |name: &str| counts.get(name).copied().unwrap_or(0);
    assert_eq!(n("users_created"), created as u64, "{counts:?}");
    assert_eq!(n("enrolled"), enrolled as u64, "{counts:?}");
    assert_eq!(n("called"), 5, "{counts:?}");
    assert_eq!(n("blocked"), 3, "A0, B0, B9 once each: {counts:?}");
    assert_eq!(n("offerings_pushed"), 2, "{counts:?}");
    assert_eq!(n("users_matched"), 0, "{counts:?}");
    assert_eq!(n("failures"), 0, "{counts:?}");
    let log = stores.runs.log(&t, &c, &run).await.unwrap();
    let lines = |end: &str| log.iter().filter(|l| l.message.ends_with(end)).count();
    assert_eq!(lines("- registered in the system"), 5, "{log:?}");
    assert_eq!(lines("- enrolment in the Moodle course"), 5, "{log:?}");
    assert_eq!(lines("- called"), 5, "{log:?}");
    assert_eq!(
        log.iter()
            .filter(|l| l.message.contains("- not transferred:"))
            .count(),
        3,
        "{log:?}"
    );
    assert_eq!(stored.log.lines, log.len() as u64);
}
