//! The whole system on one machine: the stack as the SAM template declares it on
//! moto, the HTTP functions served, the queues polled into the SQS functions,
//! the schedule fired; asserting on stored state and on what crossed the wire.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use cloud::testing::connection;
use domain::ConnectionKind::{CourseKey, Moodle, Sms};
use domain::ports::{ConnectionStore, RunStore};
use domain::{QueueRole, RunStatus, TenantId};
use secrecy::SecretString;

const CK_SECRET: &str = "whsec_e2e_coursekey_secret_0001";

#[tokio::test]
async fn a_nightly_sync_runs_every_enabled_connection_through_export_and_import_once() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = simulators::moodle::MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    for c in [
        connection("acme", "moodle-main", Moodle, true),
        connection("acme", "coursekey-main", CourseKey, true),
        connection("acme", "sms", Sms, true),
        connection("bolt", "moodle", Moodle, true),
        connection("bolt", "old-moodle", Moodle, false),
    ] {
        save_reachable(&system, c, &server.base_url).await;
    }

    let scheduled = Utc::now();
    let fired = system.fire_nightly(scheduled).await.unwrap();
    assert_eq!(
        fired.queued, 3,
        "two Moodle connections and one CourseKey; not the SMS, not the disabled one"
    );
    let drained = system.drain().await.unwrap();
    assert_eq!(
        (drained.handled, drained.failed),
        (6, 0),
        "3 exports, then 3 imports"
    );

    for (tenant, id) in [
        ("acme", "moodle-main"),
        ("acme", "coursekey-main"),
        ("bolt", "moodle"),
    ] {
        let tenant = TenantId::parse(tenant).unwrap();
        let runs = stores
            .runs
            .runs_of(&tenant, &domain::ConnectionId::parse(id).unwrap(), 10)
            .await
            .unwrap();
        assert_eq!(runs.len(), 1, "{id}");
        assert_eq!(runs[0].status, RunStatus::FinishedSuccessfully, "{id}");
        let log = stores
            .runs
            .log(&tenant, &runs[0].connection, &runs[0].id)
            .await
            .unwrap();
        // Nothing is linked through the Moodle connections: each still asks
        // Moodle whether it answers (a refused token would be an error).
        let check = "No offering is linked through this connection: nothing to push or read.";
        let messages: Vec<&str> = log
            .iter()
            .map(|l| l.message.as_str())
            .filter(|m| !m.starts_with(check))
            .collect();
        assert_eq!(
            messages,
            [
                "Run started by the nightly schedule, for all linked offerings; export done, import queued.",
                "Import done."
            ]
        );
        assert_eq!(
            log.len() - messages.len(),
            usize::from(id != "coursekey-main"),
            "{log:?}"
        );
    }

    // The Scheduler retries the same invocation: nothing new happens.
    let again = system.fire_nightly(scheduled).await.unwrap();
    assert_eq!((again.queued, again.already_finished), (0, 3));
    assert_eq!(system.drain().await.unwrap().handled, 0);
}

#[tokio::test]
async fn coursekey_attendance_is_verified_stored_once_and_queued_over_http() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let ck = connection("acme", "coursekey-main", CourseKey, true);
    stores.connections.save_connection(&ck).await.unwrap();
    stores
        .secrets
        .put(
            &ck.secret_name(&system.config.secret_prefix),
            &SecretString::from(CK_SECRET),
        )
        .await
        .unwrap();
    let url = format!(
        "{}/webhooks/coursekey/acme/coursekey-main",
        tests::serve(system.webhook_router()).await
    );
    let body = r#"{"records":[{"id":"r1","student_id":"S1"},{"id":"r2","student_id":"S2"}]}"#;
    let http = reqwest::Client::new();
    let post = |signature: Option<String>, ts: i64| {
        let mut request = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request
                .header(connectors::signature::TIMESTAMP_HEADER, ts.to_string())
                .header(connectors::signature::SIGNATURE_HEADER, signature);
        }
        request.send()
    };
    let ts = Utc::now().timestamp();
    let route = connectors::signature::webhook_route("acme", "coursekey-main");
    let good = connectors::signature::sign_route(CK_SECRET.as_bytes(), ts, &route, body.as_bytes());
    let first = post(Some(good.clone()), ts).await.unwrap();
    assert_eq!(first.status().as_u16(), 202);
    assert_eq!(
        first.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"accepted": 2, "duplicates": 0})
    );
    let retry = post(Some(good), ts).await.unwrap();
    assert_eq!(
        retry.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"accepted": 0, "duplicates": 2})
    );
    let wrong_secret =
        connectors::signature::sign_route(b"not the secret", ts, &route, body.as_bytes());
    assert_eq!(
        post(Some(wrong_secret), ts)
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(post(None, ts).await.unwrap().status().as_u16(), 401);

    let sdk = cloud::testing::sdk().await;
    let jobs = cloud::testing::drain_jobs(&sdk, &system.config, QueueRole::ResultsFetch).await;
    assert_eq!(
        jobs.len(),
        1,
        "one job for the first delivery, none for the retry or the refused ones"
    );
}

#[tokio::test]
async fn the_api_serves_each_tenant_only_its_own_runs() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = simulators::moodle::MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    for c in [
        connection("acme", "moodle-main", Moodle, true),
        connection("bolt", "moodle-main", Moodle, true),
    ] {
        save_reachable(&system, c, &server.base_url).await;
    }
    let key = tests::api_key(&system, &TenantId::parse("acme").unwrap()).await;
    system.fire_nightly(Utc::now()).await.unwrap();
    system.drain().await.unwrap();
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let http = reqwest::Client::new();

    let bolt = TenantId::parse("bolt").unwrap();
    let bolt_run = stores
        .runs
        .runs_of(
            &bolt,
            &domain::ConnectionId::parse("moodle-main").unwrap(),
            1,
        )
        .await
        .unwrap()
        .remove(0);
    let acme = TenantId::parse("acme").unwrap();
    let acme_run = stores
        .runs
        .runs_of(
            &acme,
            &domain::ConnectionId::parse("moodle-main").unwrap(),
            1,
        )
        .await
        .unwrap()
        .remove(0);

    let mine = http
        .get(format!(
            "{api}/v1/connections/moodle-main/runs/{}",
            acme_run.id
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status().as_u16(), 200);
    let view: serde_json::Value = mine.json().await.unwrap();
    assert_eq!(view["status"], "Finished successfully");
    assert_eq!(
        view["log"].as_array().unwrap().len(),
        3,
        "the unlinked connection's check, the export, the import"
    );

    // Same connection id, other tenant's run id: not found, and nothing leaks.
    let theirs = http
        .get(format!(
            "{api}/v1/connections/moodle-main/runs/{}",
            bolt_run.id
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status().as_u16(), 404);
    let unauthenticated = http
        .get(format!("{api}/v1/connections"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
}

/// Saves a connection; a Moodle one points at the simulator with its token, so
/// the nightly check of a connection nothing is linked through passes.
async fn save_reachable(
    system: &devstack::runner::LocalSystem,
    mut c: domain::Connection,
    url: &str,
) {
    let stores = system.stores();
    if c.kind() == Moodle {
        c.base_url = url.to_owned();
        stores
            .secrets
            .put(
                &c.secret_name(&system.config.secret_prefix),
                &SecretString::from(simulators::moodle::SAMPLE_TOKEN),
            )
            .await
            .unwrap();
    }
    stores.connections.save_connection(&c).await.unwrap();
}
