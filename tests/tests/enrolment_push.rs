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
