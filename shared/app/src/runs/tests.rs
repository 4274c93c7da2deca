#![allow(clippy::unwrap_used)]

use super::*;
use crate::testing::{MemConnections, MemQueue, MemRuns, MemSis, MemTenants};
use domain::Connection;
use domain::connection::{ConnectionSettings, MoodleSettings, SmsSettings};

#[derive(Default)]
struct World {
    connections: MemConnections,
    runs: MemRuns,
    sis: MemSis,
    tenants: MemTenants,
    queue: MemQueue,
}

impl World {
    fn with(settings: Vec<(&str, ConnectionSettings)>) -> Self {
        let world = World::default();
        for (id, settings) in settings {
            world.connections.0.lock().unwrap().push(Connection {
                tenant: tenant(),
                id: ConnectionId::parse(id).unwrap(),
                name: id.into(),
                base_url: "https://x.example".into(),
                enabled: false,
                error_email: None,
                settings,
            });
        }
        world
    }
    fn runs(&self) -> Runs<'_> {
        Runs {
            connections: &self.connections,
            runs: &self.runs,
            sis: &self.sis,
            tenants: &self.tenants,
            queue: &self.queue,
        }
    }
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn id(s: &str) -> ConnectionId {
    ConnectionId::parse(s).unwrap()
}

#[tokio::test]
async fn a_started_run_is_recorded_before_its_job_and_can_be_stopped_once() {
    let world = World::with(vec![(
        "lms",
        ConnectionSettings::Moodle(MoodleSettings::default()),
    )]);
    let (run, _) = world
        .runs()
        .start(&tenant(), &id("lms"), Stage::Import, None, Utc::now())
        .await
        .unwrap();
    let stored = world.runs.run(&tenant(), &id("lms"), &run).await.unwrap();
    let stored = stored.unwrap();
    assert_eq!(stored.status, RunStatus::Importing);
    assert_eq!(stored.trigger, Trigger::Manual);
    let sent = world.queue.sent.lock().unwrap().clone();
    assert!(
        matches!(&sent[..], [Job::FetchResults { run: r, offering: None, .. }] if *r == run),
        "{sent:?}"
    );
    world
        .runs()
        .stop(&tenant(), &id("lms"), &run)
        .await
        .unwrap();
    world
        .runs
        .finish_run(
            &tenant(),
            &id("lms"),
            &run,
            RunStatus::FinishedSuccessfully,
            Utc::now(),
        )
        .await
        .unwrap();
    let e = world
        .runs()
        .stop(&tenant(), &id("lms"), &run)
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::Finished { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("has finished (Finished successfully)"),
        "{e}"
    );
    let unknown = RunId::new_v7();
    let e = world
        .runs()
        .stop(&tenant(), &id("lms"), &unknown)
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::NoRun { .. }), "{e:?}");
}

#[tokio::test]
async fn the_sms_an_unknown_connection_or_offering_start_nothing() {
    let world = World::with(vec![(
        "sms",
        ConnectionSettings::Sms(SmsSettings::default()),
    )]);
    let e = world
        .runs()
        .start(&tenant(), &id("sms"), Stage::Full, None, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::NotSynced { .. }), "{e:?}");
    let e = world
        .runs()
        .start(&tenant(), &id("nope"), Stage::Full, None, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::NoConnection { .. }), "{e:?}");
    let world = World::with(vec![(
        "lms",
        ConnectionSettings::Moodle(MoodleSettings::default()),
    )]);
    let e = world
        .runs()
        .start(
            &tenant(),
            &id("lms"),
            Stage::Full,
            Some("OFF-1".to_owned()),
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::NoOffering { .. }), "{e:?}");
    let e = world
        .runs()
        .start(
            &tenant(),
            &id("lms"),
            Stage::Full,
            Some(" ".to_owned()),
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::BadOffering(_)), "{e:?}");
    assert!(world.queue.sent.lock().unwrap().is_empty());
    assert!(world.runs.runs.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_transfer_goes_to_a_moodle_connection_for_a_known_offering() {
    let world = World::with(vec![
        ("lms", ConnectionSettings::Moodle(MoodleSettings::default())),
        ("sms", ConnectionSettings::Sms(SmsSettings::default())),
    ]);
    let offering = OfferingId::parse("OFF-1").unwrap();
    let e = world
        .runs()
        .transfer(&tenant(), &offering, "lms".to_owned())
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::NoOffering { .. }), "{e:?}");
    world.sis.offerings.lock().unwrap().insert(
        (tenant(), offering.clone()),
        domain::sis::Offering {
            tenant: tenant(),
            id: offering.clone(),
            name: "Offering".into(),
            start_date: None,
            end_date: None,
            status: domain::sis::OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: Vec::new(),
            updated_at: Utc::now(),
        },
    );
    let e = world
        .runs()
        .transfer(&tenant(), &offering, "sms".to_owned())
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::NotMoodle { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("enrolments are transferred to Moodle")
    );
    let e = world
        .runs()
        .transfer(&tenant(), &offering, "nope".to_owned())
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::NoConnection { .. }), "{e:?}");
    assert!(world.queue.sent.lock().unwrap().is_empty());
    let (run, connection) = world
        .runs()
        .transfer(&tenant(), &offering, "lms".to_owned())
        .await
        .unwrap();
    assert_eq!(connection, id("lms"));
    let sent = world.queue.sent.lock().unwrap().clone();
    assert!(
        matches!(&sent[..], [Job::PushOffering { run: r, trigger: Trigger::Manual, .. }] if *r == run),
        "{sent:?}"
    );
}
