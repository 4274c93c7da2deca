//! Dispatches that serve every tenant go on for the others when one tenant's
//! record is poisoned, and the failure is where a person sees it: through the
//! nightly schedule's handler (a tenant whose stored settings the domain
//! refuses, a connection whose secret is missing: each gets its run finished
//! with an error saying why, readable at GET /v1/connections/{id}/runs/{run})
//! and through the daily retry's handler (a delivery record that cannot be read
//! is left out, its connection's error address told and a run of that
//! connection finished with the reason, readable through the API; the others
//! delivered).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, Utc};
use cloud::testing::connection;
use domain::ConnectionKind::{Moodle, Sms};
use domain::delivery::{DeliveryKey, DeliveryKind, DeliveryState};
use domain::ports::{ConnectionStore, DeliveryStore, Email, MailError, Mailer, RunStore};
use domain::{ConnectionId, LearnerCode, OfferingId, QueueRole, RunId, RunStatus, TenantId};
use secrecy::SecretString;
use simulators::moodle::MoodleSim;
use simulators::sms::SmsSim;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tests::{api_key, put_raw, s};

#[tokio::test]
async fn the_nightly_serves_every_tenant_when_one_is_poisoned_and_says_why_on_its_run() {
    let system = tests::local_system().await;
    let sdk = cloud::testing::sdk().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    // acme: a healthy connection with one learner to push.
    let mut acme = connection("acme", "moodle-main", Moodle, true);
    acme.base_url = server.base_url.clone();
    tests::seed_moodle_offering(
        &system,
        &acme,
        "OCC-1001",
        2,
        &[("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))],
    )
    .await;
    // bolt: its tenant settings item was written by hand in a shape the domain refuses.
    let mut bolt = connection("bolt", "moodle-main", Moodle, true);
    bolt.base_url = server.base_url.clone();
    stores.connections.save_connection(&bolt).await.unwrap();
    put_raw(
        &sdk,
        &system.config.tables.data,
        HashMap::from([
            ("pk".to_owned(), s("T#bolt")),
            ("sk".to_owned(), s("SETTINGS")),
            ("tenant".to_owned(), s("bolt")),
            (
                "settings".to_owned(),
                AttributeValue::M(HashMap::from([
                    ("time_zone".to_owned(), s("UTC")),
                    ("run_history_days".to_owned(), s("forever")),
                ])),
            ),
        ]),
    )
    .await;
    // cara: a linked offering, but the connection's secret is missing.
    let mut cara = connection("cara", "moodle-main", Moodle, true);
    cara.base_url = server.base_url.clone();
    tests::seed_moodle_offering(
        &system,
        &cara,
        "OCC-2001",
        2,
        &[("C0000001", "Cy", "Ra", Some("cy.ra@example.com"))],
    )
    .await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .delete_secret()
        .secret_id(cara.secret_name(&system.config.secret_prefix))
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();

    let now = Utc::now();
    let fired = system.fire_nightly(now).await.unwrap();
    assert_eq!(fired.queued, 2, "acme's and cara's runs are queued");
    system.drain().await.unwrap();

    let c = ConnectionId::parse("moodle-main").unwrap();
    let run_of = |tenant: &str| {
        RunId::for_schedule(
            u64::try_from(now.timestamp_millis()).unwrap(),
            &TenantId::parse(tenant).unwrap(),
            &c,
        )
    };
    let acme_run = stores
        .runs
        .run(&TenantId::parse("acme").unwrap(), &c, &run_of("acme"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(acme_run.status, RunStatus::FinishedSuccessfully);
    assert!(
        sim.snapshot()
            .users
            .iter()
            .any(|u| u.idnumber == "X1234567"),
        "acme's learner reached Moodle"
    );

    // Each failure is in its tenant's history, through the API.
    let api = tests::serve(system.api_router().await.unwrap()).await;
    for (tenant, expected) in [
        ("bolt", "The tenant's settings could not be read"),
        ("cara", "secret"),
    ] {
        let key = api_key(&system, &TenantId::parse(tenant).unwrap()).await;
        let run: serde_json::Value = reqwest::Client::new()
            .get(format!(
                "{api}/v1/connections/moodle-main/runs/{}",
                run_of(tenant)
            ))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(run["status"], "Finished with error", "{tenant}: {run}");
        let log = run["log"].as_array().unwrap();
        assert!(
            log.iter().any(|l| l["level"] == "error"
                && l["message"].as_str().unwrap().contains(expected)),
            "{tenant}: {run}"
        );
    }
}

/// The emails the worker sends (SES on moto keeps none to read back).
#[derive(Default)]
struct Outbox(Mutex<Vec<Email>>);
#[async_trait::async_trait]
impl Mailer for Outbox {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.0.lock().unwrap().push(email.clone());
        Ok(())
    }
}

#[tokio::test]
async fn the_daily_retry_delivers_every_tenants_due_deliveries_past_a_poisoned_one() {
    let system = tests::local_system().await;
    let sdk = cloud::testing::sdk().await;
    let stores = system.stores();
    let sms = SmsSim::new("sms-secret");
    let server = sms.start().await.unwrap();
    for tenant in ["acme", "bolt"] {
        let mut conn = connection(tenant, "sms", Sms, true);
        conn.base_url = format!("{}/results", server.base_url);
        conn.error_email = Some(format!("ops@{tenant}.example"));
        stores.connections.save_connection(&conn).await.unwrap();
        stores
            .secrets
            .put(
                &conn.secret_name(&system.config.secret_prefix),
                &SecretString::from("sms-secret"),
            )
            .await
            .unwrap();
    }
    let created = Utc::now() - TimeDelta::hours(2);
    let sms_id = ConnectionId::parse("sms").unwrap();
    for tenant in ["acme", "bolt"] {
        app::deliveries::create_delivery(
            &stores.deliveries,
            &stores.queue,
            &DeliveryKey {
                tenant: TenantId::parse(tenant).unwrap(),
                learner: LearnerCode::parse("1001").unwrap(),
                offering: OfferingId::parse("OPL-7").unwrap(),
                assessable: None,
                kind: DeliveryKind::Completion,
            },
            &sms_id,
            serde_json::json!({"completed_on": "2026-11-20", "passed": true}),
            created,
        )
        .await
        .unwrap();
    }
    // The first send never happened (its job was lost): both are due.
    cloud::testing::drain_jobs(&sdk, &system.config, QueueRole::Deliveries).await;
    // bolt's record is then overwritten by hand in a shape the domain refuses.
    let bolt = TenantId::parse("bolt").unwrap();
    let bolt_delivery = stores
        .deliveries
        .by_state(&bolt, &sms_id, DeliveryState::Pending, 10)
        .await
        .unwrap()
        .remove(0);
    let pk = cloud::dynamo::deliveries::delivery_pk(&bolt, &bolt_delivery.id);
    put_raw(
        &sdk,
        &system.config.tables.deliveries,
        HashMap::from([
            ("pk".to_owned(), s(&pk)),
            ("sk".to_owned(), s(cloud::dynamo::deliveries::DELIVERY_SK)),
            ("gsi1pk".to_owned(), s("poisoned")),
            ("gsi1sk".to_owned(), s("poisoned")),
            ("gsi2pk".to_owned(), s(cloud::dynamo::deliveries::DUE)),
            (
                "gsi2sk".to_owned(),
                s(&cloud::dynamo::deliveries::due_sk(
                    created,
                    &bolt,
                    &bolt_delivery.id,
                )),
            ),
            ("tenant".to_owned(), s("bolt")),
            ("connection".to_owned(), s("sms")),
            ("id".to_owned(), s(bolt_delivery.id.as_str())),
            ("state".to_owned(), s("lost-in-the-mail")),
        ]),
    )
    .await;

    // The daily schedule fires retry-worker's handler (with only its role's
    // permissions); its jobs run from the queue.
    let outbox = Arc::new(Outbox::default());
    let deps = retry_worker::Deps {
        mailer: outbox.clone(),
        ..retry_worker::Deps::from_aws(
            &retry_worker::Config::from_stack(&system.config).unwrap(),
            &system.function_sdks().retry_worker,
        )
        .unwrap()
    };
    let scheduled = Utc::now();
    let swept = retry_worker::handler::handle(
        &deps,
        retry_worker::handler::Invocation::Schedule(retry_worker::handler::ScheduledInvocation {
            schedule: "daily-retry".into(),
            scheduled_time: Some(scheduled),
        }),
    )
    .await
    .unwrap();
    assert!(
        matches!(
            swept,
            retry_worker::handler::Response::Schedule { due: 1, queued: 1 }
        ),
        "{swept:?}"
    );
    system.drain().await.unwrap();

    let acme = TenantId::parse("acme").unwrap();
    let delivered = stores
        .deliveries
        .by_state(&acme, &sms_id, DeliveryState::Delivered, 10)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 1, "acme's delivery went out");
    assert_eq!(sms.accepted().len(), 1);
    let told = outbox.0.lock().unwrap().clone();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].to, "ops@bolt.example");
    assert!(told[0].body.contains(&pk), "{}", told[0].body);

    // And it is in bolt's history, through the API: a run of the SMS
    // connection finished with an error naming the item and why.
    let run = RunId::for_schedule(
        u64::try_from(scheduled.timestamp_millis()).unwrap(),
        &bolt,
        &sms_id,
    );
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let key = api_key(&system, &TenantId::parse("bolt").unwrap()).await;
    let http = reqwest::Client::new();
    let history: serde_json::Value = http
        .get(format!("{api}/v1/connections/sms/runs"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(history.to_string().contains(run.as_str()), "{history}");
    let seen: serde_json::Value = http
        .get(format!("{api}/v1/connections/sms/runs/{run}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["status"], "Finished with error", "{seen}");
    assert_eq!(seen["counts"]["failures"], 1, "{seen}");
    let line = seen["log"][0]["message"].as_str().unwrap();
    assert!(
        line.contains("could not read a stored delivery") && line.contains(&pk),
        "{line}"
    );
    // acme's history has no such run.
    let acme_key = api_key(&system, &TenantId::parse("acme").unwrap()).await;
    let acme_history: serde_json::Value = http
        .get(format!("{api}/v1/connections/sms/runs"))
        .bearer_auth(&acme_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !acme_history.to_string().contains(run.as_str()),
        "{acme_history}"
    );

    // The Scheduler retrying the invocation records nothing twice.
    retry_worker::handler::handle(
        &deps,
        retry_worker::handler::Invocation::Schedule(retry_worker::handler::ScheduledInvocation {
            schedule: "daily-retry".into(),
            scheduled_time: Some(scheduled),
        }),
    )
    .await
    .unwrap();
    let again = stores.runs.log(&bolt, &sms_id, &run).await.unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
}
