#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The SMS and admin resources through the Router, against moto: learners,
//! offerings, enrolments, links and transfers, connections (secrets masked,
//! the connection test against the Moodle simulator), the OpenAPI document,
//! every error as JSON `{error, field, message}`, and tenant isolation.

use api::AppState;
use chrono::Utc;
use cloud::testing::{self, connection};
use domain::ConnectionKind::{CourseKey, Moodle};
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::egress::Egress;
use domain::ports::{ApiKeyStore, ConnectionStore};
use domain::sis::CourseLink;
use domain::{ConnectionId, Job, OfferingId, QueueRole, TenantId, Trigger};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const ACME_KEY: &str = "lb_fixture_key_acme_0123456789abcdef0123456789abcdef";
const BOLT_KEY: &str = "lb_test_key_bolt_0123456789abcdef0123456789abcdef";
const REVOKED_KEY: &str = "lb_test_key_revoked_0123456789abcdef0123456789abc";

struct Api {
    state: AppState,
    config: cloud::Config,
    sdk: aws_config::SdkConfig,
}

async fn api() -> Api {
    let config = testing::fresh_stack().await;
    let sdk = testing::sdk().await;
    let stores = cloud::Stores::new(&config, &sdk);
    let pepper = stores
        .secrets
        .get(config.api_key_pepper_secret.as_deref().unwrap())
        .await
        .unwrap();
    for (key, tenant) in [
        (ACME_KEY, "acme"),
        (BOLT_KEY, "bolt"),
        (REVOKED_KEY, "acme"),
    ] {
        let hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), key);
        stores
            .api_keys
            .save_key(&hash, &TenantId::parse(tenant).unwrap(), "test", Utc::now())
            .await
            .unwrap();
    }
    let revoked = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), REVOKED_KEY);
    assert!(stores.api_keys.revoke(&revoked).await.unwrap());
    let auto = ConnectionSettings::Moodle(MoodleSettings {
        auto_push: true,
        ..MoodleSettings::default()
    });
    for c in [
        domain::Connection {
            settings: auto.clone(),
            ..connection("acme", "moodle-main", Moodle, true)
        },
        connection("acme", "moodle-manual", Moodle, true),
        connection("acme", "coursekey-main", CourseKey, true),
        domain::Connection {
            settings: auto,
            ..connection("bolt", "moodle-main", Moodle, true)
        },
    ] {
        stores.connections.save_connection(&c).await.unwrap();
    }
    // From here on the api may do only what its role in infra/template.yaml allows,
    // built as its main builds it.
    let state = AppState::from_aws(
        &api::Config::from_stack(&config).unwrap(),
        &testing::function_sdk(&sdk, &config, "api").await,
    );
    Api { state, config, sdk }
}

impl Api {
    async fn send(&self, request: lambda_http::Request) -> (u16, Value) {
        let (status, _, body) = self.send_full(request).await;
        (status, body)
    }

    async fn send_full(&self, request: lambda_http::Request) -> (u16, http::HeaderMap, Value) {
        let response = api::app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "every answer is JSON; got {status}: {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, headers, body)
    }

    async fn call(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(request(key, method, path, body)).await
    }

    async fn event(&self, event: &str) -> (u16, Value) {
        self.send(lambda_http::request::from_str(event).unwrap())
            .await
    }

    async fn jobs(&self) -> Vec<Job> {
        testing::drain_jobs(&self.sdk, &self.config, QueueRole::EnrolmentPush).await
    }

    async fn link(&self, tenant: &str, offering: &str, connection: &str) {
        self.state
            .deps
            .links
            .save_link(&CourseLink {
                tenant: TenantId::parse(tenant).unwrap(),
                offering: OfferingId::parse(offering).unwrap(),
                connection: ConnectionId::parse(connection).unwrap(),
                course_id: 2,
                course_idnumber: Some(offering.to_owned()),
                course_shortname: None,
                linked_at: Utc::now(),
            })
            .await
            .unwrap();
    }
}

fn request(key: &str, method: &str, path: &str, body: Option<Value>) -> lambda_http::Request {
    let builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {key}"));
    match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(body.to_string()))
            .unwrap(),
        None => builder.body(lambda_http::Body::Empty).unwrap(),
    }
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_field: Option<&str>) {
    assert_eq!(status, want_status, "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(
        body["field"].as_str(),
        want_field,
        "the error names the field: {body}"
    );
}

fn ana() -> Value {
    json!({"username": "ana.ruiz", "given_name": "Ana", "family_name": "Ruiz",
           "email": "ana.ruiz@example.com", "date_of_birth": "1990-04-01"})
}

fn occ() -> Value {
    json!({"name": "Certificate III", "start_date": "2026-02-01", "end_date": "2026-06-30",
           "status": "active", "auto_push": true,
           "assessables": [{"id": "U1", "name": "Unit 1", "kind": "unit"},
                           {"id": "T1", "name": "Task 1", "kind": "task", "expected_start_date": "2026-03-01"}]})
}

#[tokio::test]
async fn the_openapi_document_describes_every_resource() {
    let api = api().await;
    let request = http::Request::get("/openapi.json")
        .body(lambda_http::Body::Empty)
        .unwrap();
    let (status, doc) = api.send(request).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/connections",
        "/v1/connections/{id}/test",
        "/v1/connections/{id}/secret",
        "/v1/learners/{code}",
        "/v1/offerings/{id}",
        "/v1/offerings/{id}/enrolments/{code}",
        "/v1/offerings/{id}/links",
        "/v1/offerings/{id}/transfers",
        "/v1/offerings/{id}/transfer-preview",
        "/v1/offerings/{id}/enrolments/{code}/removal",
        "/v1/learners/{code}/accounts/{connection}",
        "/v1/connections/{id}/categories",
        "/v1/deliveries",
        "/v1/deliveries/{delivery}",
        "/v1/deliveries/{delivery}/resend",
        "/v1/deliveries/{delivery}/cancel",
        "/v1/offerings/{offering}/coursekey",
        "/v1/offerings/{offering}/attendance",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["paths"]["/v1/learners/{code}"]["patch"].is_object());
    assert!(doc["paths"]["/v1/offerings/{id}/links"]["post"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    for schema in [
        "ErrorBody",
        "LearnerInput",
        "OfferingView",
        "ConnectionInput",
        "LinkRequest",
        "DeliveryView",
        "CourseKeyInput",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

#[tokio::test]
async fn learners_are_upserted_and_a_synced_change_queues_a_sync() {
    let api = api().await;
    let (status, body) = api
        .event(include_str!("../../../events/api/put-learner.json"))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["code"], "X1234567");
    assert_eq!(body["family_name"], "Ruiz");
    assert_eq!(body["archived"], false);

    // The same again changes nothing and queues nothing.
    let (status, again) = api
        .event(include_str!("../../../events/api/put-learner.json"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["updated_at"], body["updated_at"]);
    assert!(
        api.jobs().await.is_empty(),
        "a new learner has no accounts to sync"
    );

    // A field Moodle does not hold: saved, no sync.
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/learners/X1234567",
            Some(json!({"date_of_birth": null})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["date_of_birth"], Value::Null);
    assert_eq!(
        body["email"], "ana.ruiz@example.com",
        "only the fields sent change"
    );
    assert!(api.jobs().await.is_empty());

    // A synced field: one sync_learner job.
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/learners/X1234567",
            Some(json!({"archived": true})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["archived"], true);
    assert_eq!(body["given_name"], "Ana");
    let jobs = api.jobs().await;
    assert_eq!(
        jobs,
        vec![Job::SyncLearner {
            tenant: TenantId::parse("acme").unwrap(),
            learner: "X1234567".parse().unwrap()
        }]
    );

    let (status, body) = api
        .call(ACME_KEY, "GET", "/v1/learners/X1234567", None)
        .await;
    assert_eq!((status, body["archived"].as_bool()), (200, Some(true)));
    let (status, body) = api.call(ACME_KEY, "GET", "/v1/learners/nobody", None).await;
    assert_error(status, &body, 404, Some("learner_code"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/learners/nobody",
            Some(json!({"archived": true})),
        )
        .await;
    assert_error(status, &body, 404, Some("learner_code"));
}

#[tokio::test]
async fn bad_learner_input_names_the_field() {
    let api = api().await;
    let (status, body) = api
        .event(include_str!(
            "../../../events/api/put-learner-unknown-field.json"
        ))
        .await;
    assert_error(status, &body, 400, Some("learners.emial"));
    assert!(body["message"].as_str().unwrap().contains("unknown field"));

    let mut wrong_type = ana();
    wrong_type["archived"] = json!("yes");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(wrong_type))
        .await;
    assert_error(status, &body, 400, Some("learners.archived"));

    let mut long = ana();
    long["email"] = json!(format!("{}@example.com", "a".repeat(300)));
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(long))
        .await;
    assert_error(status, &body, 400, Some("learners.email"));
    assert!(
        !body.to_string().contains("aaaa@example.com"),
        "no email in errors"
    );

    let mut future = ana();
    future["date_of_birth"] = json!("2999-01-01");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(future))
        .await;
    assert_error(status, &body, 422, Some("learners.date_of_birth"));

    let mut ancient = ana();
    ancient["date_of_birth"] = json!("1850-06-01");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(ancient))
        .await;
    assert_error(status, &body, 422, Some("learners.date_of_birth"));

    for bad in [
        "ana",
        "ana@",
        "ana @example.com",
        "ana@example",
        "@example.com",
    ] {
        let mut not_email = ana();
        not_email["email"] = json!(bad);
        let (status, body) = api
            .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(not_email))
            .await;
        assert_error(status, &body, 422, Some("learners.email"));
        assert!(
            !body.to_string().contains(bad),
            "no email in errors: {body}"
        );
    }

    // A bidirectional override could make a log line read backwards ("Trojan Source").
    for (field, value) in [
        ("given_name", "Ana\u{202E}ziuR"),
        ("family_name", "Ruiz\u{2066}"),
        ("middle_name", "M\u{0007}"),
    ] {
        let mut disguised = ana();
        disguised[field] = json!(value);
        let (status, body) = api
            .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(disguised))
            .await;
        assert_error(status, &body, 400, Some(&format!("learners.{field}")));
    }
    let (status, _) = api.call(ACME_KEY, "GET", "/v1/learners/X1", None).await;
    assert_eq!(status, 404, "nothing refused was stored");

    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X%231", Some(ana()))
        .await;
    assert_error(status, &body, 400, Some("learner_code"));

    let broken = http::Request::put("/v1/learners/X1")
        .header("authorization", format!("Bearer {ACME_KEY}"))
        .header("content-type", "application/json")
        .body(lambda_http::Body::from("{\"given_name\": "))
        .unwrap();
    let (status, body) = api.send(broken).await;
    assert_error(status, &body, 400, Some("body"));

    let not_json = http::Request::put("/v1/learners/X1")
        .header("authorization", format!("Bearer {ACME_KEY}"))
        .header("content-type", "text/plain")
        .body(lambda_http::Body::from("hello"))
        .unwrap();
    let (status, body) = api.send(not_json).await;
    assert_error(status, &body, 415, Some("content-type"));

    let (status, body) = api.call(ACME_KEY, "DELETE", "/v1/learners/X1", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_a_json_413() {
    let api = api().await;
    let mut big = ana();
    big["given_name"] = json!("x".repeat(api::json::MAX_BODY_BYTES + 10));
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(big))
        .await;
    assert_error(status, &body, 413, Some("body"));
}

#[tokio::test]
async fn if_match_guards_against_lost_updates() {
    let api = api().await;
    let (status, headers, _) = api
        .send_full(request(ACME_KEY, "PUT", "/v1/learners/X1", Some(ana())))
        .await;
    assert_eq!(status, 201);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let mut first = request(
        ACME_KEY,
        "PATCH",
        "/v1/learners/X1",
        Some(json!({"given_name": "Anna"})),
    );
    first
        .headers_mut()
        .insert("if-match", etag.parse().unwrap());
    assert_eq!(api.send(first).await.0, 200);
    let mut stale = request(
        ACME_KEY,
        "PATCH",
        "/v1/learners/X1",
        Some(json!({"given_name": "Ann"})),
    );
    stale
        .headers_mut()
        .insert("if-match", etag.parse().unwrap());
    let (status, body) = api.send(stale).await;
    assert_error(status, &body, 409, Some("if-match"));
}

#[tokio::test]
async fn offerings_keep_their_assessables_and_a_date_change_queues_a_course_sync() {
    let api = api().await;
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-1", Some(occ()))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["assessables"].as_array().unwrap().len(), 2);
    assert_eq!(body["assessables"][1]["expected_start_date"], "2026-03-01");
    assert!(api.jobs().await.is_empty());

    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OCC-1",
            Some(json!({"name": "Cert III"})),
        )
        .await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Cert III")));
    assert!(
        api.jobs().await.is_empty(),
        "the name is not a course date or visibility"
    );

    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OCC-1",
            Some(json!({"status": "completed", "end_date": "2026-07-31"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["assessables"].as_array().unwrap().len(),
        2,
        "untouched"
    );
    assert_eq!(
        api.jobs().await,
        vec![Job::SyncOffering {
            tenant: TenantId::parse("acme").unwrap(),
            offering: OfferingId::parse("OCC-1").unwrap()
        }]
    );

    let mut backwards = occ();
    backwards["end_date"] = json!("2026-01-01");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-2", Some(backwards))
        .await;
    assert_error(status, &body, 422, Some("offerings.end_date"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OCC-1",
            Some(json!({"start_date": "2026-08-01"})),
        )
        .await;
    assert_error(status, &body, 422, Some("offerings.end_date"));

    let mut twice = occ();
    twice["assessables"][1]["id"] = json!("U1");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-2", Some(twice))
        .await;
    assert_error(status, &body, 422, Some("offerings.assessables[1].id"));

    let mut bad_kind = occ();
    bad_kind["assessables"][0]["kind"] = json!("exam");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-2", Some(bad_kind))
        .await;
    assert_error(status, &body, 400, Some("offerings.assessables[0].kind"));

    let (status, body) = api.call(ACME_KEY, "GET", "/v1/offerings/OCC-2", None).await;
    assert_error(status, &body, 404, Some("offering_id"));
}

#[tokio::test]
async fn a_new_enrolment_of_an_auto_push_offering_is_pushed_to_each_linked_connection() {
    let api = api().await;
    api.call(ACME_KEY, "PUT", "/v1/learners/X1", Some(ana()))
        .await;
    api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-1", Some(occ()))
        .await;
    // Linked through a connection that takes auto-push, one that does not, and
    // (for another offering) not at all.
    api.link("acme", "OCC-1", "moodle-main").await;
    api.link("acme", "OCC-1", "moodle-manual").await;

    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-1/enrolments/X1",
            Some(json!({"start_date": "2026-02-03"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["state"], "not_called");
    let jobs = api.jobs().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    match &jobs[0] {
        Job::PushOffering {
            tenant,
            connection,
            offering,
            trigger,
            ..
        } => {
            assert_eq!(tenant.as_str(), "acme");
            assert_eq!(connection.as_str(), "moodle-main");
            assert_eq!(offering.as_str(), "OCC-1");
            assert_eq!(*trigger, Trigger::AutoPush);
        }
        other => panic!("{other:?}"),
    }

    // Sent again (or changed): not new, nothing pushed.
    let (status, _) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-1/enrolments/X1",
            Some(json!({"start_date": "2026-02-03"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OCC-1/enrolments/X1",
            Some(json!({"state": "in_progress", "session_date": "2026-02-04"})),
        )
        .await;
    assert_eq!((status, body["state"].as_str()), (200, Some("in_progress")));
    assert_eq!(body["start_date"], "2026-02-03");
    assert!(api.jobs().await.is_empty());

    // An offering without auto-push: stored, not pushed.
    let mut manual = occ();
    manual["auto_push"] = json!(false);
    api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-2", Some(manual))
        .await;
    api.link("acme", "OCC-2", "moodle-main").await;
    let (status, _) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-2/enrolments/X1",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201);
    assert!(api.jobs().await.is_empty());

    let (status, list) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-1/enrolments", None)
        .await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));
    let (status, list) = api
        .call(ACME_KEY, "GET", "/v1/learners/X1/enrolments", None)
        .await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 2));

    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-1/enrolments/nobody",
            Some(json!({})),
        )
        .await;
    assert_error(status, &body, 404, Some("learner_code"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-9/enrolments/X1",
            Some(json!({})),
        )
        .await;
    assert_error(status, &body, 404, Some("offering_id"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-1/enrolments/X1",
            Some(json!({"state": "called"})),
        )
        .await;
    assert_error(status, &body, 400, Some("enrolments.state"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-1/enrolments/X1",
            Some(json!({"start_date": "2027-01-01"})),
        )
        .await;
    assert_error(status, &body, 422, Some("enrolments.start_date"));
}

#[tokio::test]
async fn links_and_transfers_of_an_offering() {
    let api = api().await;
    api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-1", Some(occ()))
        .await;
    api.link("acme", "OCC-1", "moodle-main").await;
    let (status, links) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-1/links", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(links.as_array().unwrap().len(), 1);
    assert_eq!(links[0]["connection"], "moodle-main");
    assert_eq!(links[0]["course_id"], 2);

    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1/transfers",
            Some(json!({"connection": "moodle-main"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["trigger"], "manual");
    let jobs = api.jobs().await;
    assert!(
        matches!(&jobs[..], [Job::PushOffering { trigger: Trigger::Manual, run, .. }] if run.as_str() == body["run"]),
        "{jobs:?}"
    );

    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1/transfers",
            Some(json!({"connection": "coursekey-main"})),
        )
        .await;
    assert_error(status, &body, 422, Some("transfers.connection"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1/transfers",
            Some(json!({"connection": "nope"})),
        )
        .await;
    assert_error(status, &body, 404, Some("transfers.connection"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1/transfers",
            Some(json!({"connection": "moodle-main", "all": true})),
        )
        .await;
    assert_error(status, &body, 400, Some("transfers.all"));

    let (status, list) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/offerings/OCC-1/transfers?connection=moodle-main",
            None,
        )
        .await;
    assert_eq!((status, list), (200, json!([])));
    let (status, body) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-1/transfers", None)
        .await;
    assert_error(status, &body, 400, Some("connection"));
}

#[tokio::test]
async fn a_connections_further_secrets_are_write_only_masked_and_named_by_kind() {
    let api = api().await;
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/connections/coursekey-main",
            Some(json!({"secrets": {"initial_password": "Welcome-2026-pass"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["secrets"]["initial_password"], "****pass");
    assert!(!body.to_string().contains("Welcome-2026"), "never returned");
    let stored = cloud::Secrets::new(aws_sdk_secretsmanager::Client::new(&api.sdk))
        .get(&format!(
            "{}/acme/coursekey-main/initial_password",
            api.config.secret_prefix
        ))
        .await
        .unwrap();
    assert_eq!(stored.expose_secret(), "Welcome-2026-pass");
    let (_, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/connections/coursekey-main/secret",
            None,
        )
        .await;
    assert_eq!(body["secrets"]["initial_password"], "****pass", "{body}");
    assert!(!body.to_string().contains("Welcome-2026"), "{body}");

    // A Moodle connection's one further secret is the password of a username
    // login: unknown names are refused by name, and nothing is stored.
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/connections/moodle-main",
            Some(json!({"secrets": {"api_key": "k-0123456789"}, "name": "renamed"})),
        )
        .await;
    assert_error(status, &body, 400, Some("connections.secrets.api_key"));
    let (_, body) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-main", None)
        .await;
    assert_ne!(body["name"], "renamed", "a refused patch changes nothing");
    let (_, body) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-main/secret", None)
        .await;
    assert_eq!(body["secrets"], json!({"password": null}));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/connections/coursekey-main",
            Some(json!({"secrets": {"initial_password": "  "}})),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        Some("connections.secrets.initial_password"),
    );
}

#[tokio::test]
async fn connections_are_created_with_a_masked_secret_and_merged_settings() {
    let api = api().await;
    let (status, body) = api
        .event(include_str!("../../../events/api/create-connection.json"))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], "moodle-2");
    assert_eq!(body["kind"], "moodle");
    assert_eq!(body["enabled"], true);
    assert_eq!(body["secret"], "****abcd");
    assert_eq!(body["settings"]["role_id"], 5);
    assert_eq!(body["settings"]["auto_push"], true);
    assert_eq!(
        body["settings"]["new_user_auth"]["method"],
        "generated_password"
    );
    assert_eq!(
        body["settings"]["review_before_saving"], true,
        "defaults fill the rest"
    );
    let stored = cloud::Secrets::new(aws_sdk_secretsmanager::Client::new(&api.sdk))
        .get(&format!("{}/acme/moodle-2", api.config.secret_prefix))
        .await
        .unwrap();
    assert_eq!(stored.expose_secret(), "fixture-token-0123456789abcd");

    let (status, body) = api
        .event(include_str!("../../../events/api/create-connection.json"))
        .await;
    assert_error(status, &body, 409, Some("connections.id"));

    let (status, body) = api
        .call(ACME_KEY, "PATCH", "/v1/connections/moodle-2", Some(json!({"settings": {"role_id": 9, "default_organisation": "ACME"}, "error_email": "ops@acme.example"})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"]["role_id"], 9);
    assert_eq!(body["settings"]["auto_push"], true, "merged, not replaced");
    assert_eq!(body["settings"]["default_organisation"], "ACME");
    assert_eq!(body["error_email"], "ops@acme.example");

    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/moodle-2/disable", None)
        .await;
    assert_eq!((status, body["enabled"].as_bool()), (200, Some(false)));
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/moodle-2/enable", None)
        .await;
    assert_eq!((status, body["enabled"].as_bool()), (200, Some(true)));

    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/connections/moodle-2/secret",
            Some(json!({"secret": "rotated-token-0123456789wxyz"})),
        )
        .await;
    assert_eq!((status, body["secret"].as_str()), (200, Some("****wxyz")));
    let (status, body) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-2/secret", None)
        .await;
    assert_eq!((status, body["secret"].as_str()), (200, Some("****wxyz")));
    let (_, body) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-2", None)
        .await;
    assert!(
        !body.to_string().contains("rotated-token"),
        "never returned"
    );

    // Errors, each naming its field.
    let cases = [
        (
            json!({"settings": {"roleid": 9}}),
            400,
            "connections.settings.roleid",
        ),
        (
            json!({"settings": {"role_id": 0}}),
            422,
            "connections.settings.role_id",
        ),
        (
            json!({"settings": {"kind": "ocsat"}}),
            422,
            "connections.settings.kind",
        ),
        (
            json!({"settings": {"new_user_auth": {"method": "plugin", "auth": " "}}}),
            422,
            "connections.settings.new_user_auth.auth",
        ),
        (json!({"base_url": "ftp://x"}), 400, "connections.base_url"),
        (
            json!({"error_email": "nobody"}),
            400,
            "connections.error_email",
        ),
        (json!({"secret": ""}), 400, "connections.secret"),
        (json!({"token": "x"}), 400, "connections.token"),
    ];
    for (patch, want_status, want_field) in cases {
        let (status, body) = api
            .call(
                ACME_KEY,
                "PATCH",
                "/v1/connections/moodle-2",
                Some(patch.clone()),
            )
            .await;
        assert_error(status, &body, want_status, Some(want_field));
    }
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections", Some(json!({"id": "x", "kind": "blackboard", "name": "x", "base_url": "https://x.example"})))
        .await;
    assert_error(status, &body, 400, Some("connections.kind"));
}

#[tokio::test]
async fn testing_a_moodle_connection_reports_the_site_and_missing_functions() {
    use simulators::moodle::MoodleSim;
    let api = api().await;
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    sim.set_timezone("Australia/Sydney").unwrap();
    // The full token's service also lets it read the site's zone (optional).
    let mut with_zone = simulators::moodle::fixture::SAMPLE_SERVICE_FUNCTIONS.to_vec();
    with_zone.push("tool_mobile_get_config");
    sim.add_token("zone-token-000000000000001", &with_zone);
    sim.add_token(
        "limited-token-0000000000001",
        &["core_webservice_get_site_info", "core_user_get_users"],
    );
    let create = |id: &str, secret: Option<&str>| {
        let mut body =
            json!({"id": id, "kind": "moodle", "name": "Sim", "base_url": server.base_url});
        if let Some(secret) = secret {
            body["secret"] = json!(secret);
        }
        body
    };
    api.call(
        ACME_KEY,
        "POST",
        "/v1/connections",
        Some(create("full", Some("zone-token-000000000000001"))),
    )
    .await;
    api.call(
        ACME_KEY,
        "POST",
        "/v1/connections",
        Some(create("limited", Some("limited-token-0000000000001"))),
    )
    .await;
    api.call(
        ACME_KEY,
        "POST",
        "/v1/connections",
        Some(create("no-secret", None)),
    )
    .await;
    api.call(
        ACME_KEY,
        "POST",
        "/v1/connections",
        Some(create("bad-token", Some("not-a-token-0000000000000"))),
    )
    .await;

    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/full/test", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["site"]["site_name"].is_string());
    assert!(
        body["site"]["release"].as_str().unwrap().contains('4'),
        "{body}"
    );
    assert!(body["site"]["version"].is_string());
    // The site's zone (tool_mobile_get_config) beside the tenant's (UTC, not
    // set): a note, not a failure.
    assert_eq!(body["site"]["time_zone"], "Australia/Sydney", "{body}");
    assert_eq!(body["tenant_time_zone"], "UTC");
    assert_eq!(body["ok"], true, "{body}");
    let note = body["notes"][0].as_str().unwrap();
    assert!(
        note.contains("Australia/Sydney") && note.contains("UTC"),
        "{note}"
    );
    let (status, _) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/settings",
            Some(json!({"time_zone": "Australia/Sydney"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/full/test", None)
        .await;
    assert_eq!(body["tenant_time_zone"], "Australia/Sydney");
    assert_eq!(body["notes"], json!([]), "the same zone: nothing to say");

    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/limited/test", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["ok"], false);
    assert_eq!(body["site"]["time_zone"], Value::Null);
    assert!(
        body["notes"][0]
            .as_str()
            .unwrap()
            .contains("tool_mobile_get_config"),
        "the zone could not be read, and says why: {body}"
    );
    let missing: Vec<&str> = body["site"]["missing_functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    // Exactly the functions the enabled features' calls make, less the two allowed.
    let required = connectors::moodle::required_functions(
        &connectors::moodle::Feature::enabled_by(&MoodleSettings::default()),
    );
    let expected: Vec<&str> = required
        .into_iter()
        .filter(|f| !["core_webservice_get_site_info", "core_user_get_users"].contains(f))
        .collect();
    assert_eq!(missing, expected);
    assert!(
        missing.contains(&"core_user_get_users_by_field"),
        "{missing:?}"
    );
    assert_eq!(
        body["site"]["missing_optional_functions"],
        json!(["tool_mobile_get_config"]),
        "optional: named, and the test is still judged by the required ones"
    );

    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/bad-token/test", None)
        .await;
    assert_eq!((status, body["ok"].as_bool()), (200, Some(false)));
    assert!(
        body["problem"].as_str().unwrap().contains("token"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("not-a-token"),
        "the secret is never echoed"
    );

    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/no-secret/test", None)
        .await;
    assert_error(status, &body, 422, Some("connections.secret"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/coursekey-main/test",
            None,
        )
        .await;
    assert_error(status, &body, 422, Some("connection_id"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_revoked_key_is_forbidden() {
    let api = api().await;
    let (status, body) = api.call(REVOKED_KEY, "GET", "/v1/connections", None).await;
    assert_error(status, &body, 403, Some("authorization"));
    let (status, body) = api.call("lb_nope", "GET", "/v1/learners/X1", None).await;
    assert_error(status, &body, 401, Some("authorization"));
}

#[tokio::test]
async fn one_tenant_never_reads_or_changes_another_tenants_data() {
    let api = api().await;
    api.call(ACME_KEY, "PUT", "/v1/learners/X1", Some(ana()))
        .await;
    api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-1", Some(occ()))
        .await;
    api.call(
        ACME_KEY,
        "PUT",
        "/v1/offerings/OCC-1/enrolments/X1",
        Some(json!({})),
    )
    .await;
    api.link("acme", "OCC-1", "moodle-main").await;
    api.call(
        ACME_KEY,
        "PUT",
        "/v1/connections/moodle-main/secret",
        Some(json!({"secret": "acme-secret-0123456789"})),
    )
    .await;
    api.jobs().await;

    // Reads: bolt sees none of acme's records, even with the same ids.
    for path in [
        "/v1/learners/X1",
        "/v1/learners/X1/enrolments",
        "/v1/offerings/OCC-1",
        "/v1/offerings/OCC-1/enrolments",
        "/v1/offerings/OCC-1/enrolments/X1",
        "/v1/offerings/OCC-1/links",
        "/v1/offerings/OCC-1/transfers?connection=moodle-main",
        "/v1/connections/moodle-manual",
        "/v1/connections/moodle-manual/secret",
    ] {
        let (status, body) = api.call(BOLT_KEY, "GET", path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.to_string().contains("Ruiz"), "{path}");
    }
    // bolt's own moodle-main shares the id but not the secret.
    let (status, body) = api
        .call(BOLT_KEY, "GET", "/v1/connections/moodle-main/secret", None)
        .await;
    assert_eq!((status, body["secret"].clone()), (200, Value::Null));

    // Changes: refused as not found, and acme's records stay as they were.
    let writes = [
        (
            "PATCH",
            "/v1/learners/X1",
            json!({"family_name": "Changed"}),
        ),
        ("PATCH", "/v1/offerings/OCC-1", json!({"name": "Changed"})),
        (
            "PUT",
            "/v1/offerings/OCC-1/enrolments/X1",
            json!({"state": "withdrawn"}),
        ),
        (
            "PATCH",
            "/v1/offerings/OCC-1/enrolments/X1",
            json!({"state": "withdrawn"}),
        ),
        (
            "POST",
            "/v1/offerings/OCC-1/transfers",
            json!({"connection": "moodle-main"}),
        ),
        (
            "PATCH",
            "/v1/connections/moodle-manual",
            json!({"name": "Changed"}),
        ),
        (
            "PUT",
            "/v1/connections/moodle-manual/secret",
            json!({"secret": "bolt-secret-0123456789"}),
        ),
    ];
    for (method, path, body) in writes {
        let (status, answer) = api.call(BOLT_KEY, method, path, Some(body)).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    for (method, path) in [
        ("POST", "/v1/connections/moodle-manual/disable"),
        ("POST", "/v1/connections/moodle-manual/test"),
    ] {
        let (status, _) = api.call(BOLT_KEY, method, path, None).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    // A PUT by bolt creates bolt's own learner; acme's is untouched.
    let mut other = ana();
    other["family_name"] = json!("Bolt");
    let (status, _) = api
        .call(BOLT_KEY, "PUT", "/v1/learners/X1", Some(other))
        .await;
    assert_eq!(status, 201);
    let (_, acme) = api.call(ACME_KEY, "GET", "/v1/learners/X1", None).await;
    assert_eq!(acme["family_name"], "Ruiz");
    let (_, offering) = api.call(ACME_KEY, "GET", "/v1/offerings/OCC-1", None).await;
    assert_eq!(offering["name"], "Certificate III");
    let (_, enrolment) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-1/enrolments/X1", None)
        .await;
    assert_eq!(enrolment["state"], "not_called");
    let (_, connection) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-manual", None)
        .await;
    assert_eq!(
        (connection["name"].as_str(), connection["enabled"].as_bool()),
        (Some("moodle-manual (acme)"), Some(true))
    );
    let (_, secret) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-main/secret", None)
        .await;
    assert_eq!(secret["secret"], "****6789");
    assert!(api.jobs().await.is_empty(), "bolt queued nothing for acme");
    let (_, list) = api.call(BOLT_KEY, "GET", "/v1/connections", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_transfer_preview_shows_ready_and_blocked_enrolments_with_reasons() {
    use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};
    let api = api().await;
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    api.call(
        ACME_KEY,
        "POST",
        "/v1/connections",
        Some(json!({"id": "sim", "kind": "moodle", "name": "Sim", "base_url": server.base_url, "secret": SAMPLE_TOKEN})),
    )
    .await;
    api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-1001", Some(occ()))
        .await;
    api.link("acme", "OCC-1001", "sim").await;
    api.call(ACME_KEY, "PUT", "/v1/learners/NEW1", Some(ana()))
        .await;
    api.call(
        ACME_KEY,
        "PUT",
        "/v1/learners/NOMAIL",
        Some(json!({"given_name": "Bo", "family_name": ""})),
    )
    .await;
    for code in ["NEW1", "NOMAIL"] {
        let (status, _) = api
            .call(
                ACME_KEY,
                "PUT",
                &format!("/v1/offerings/OCC-1001/enrolments/{code}"),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 201);
    }
    let calls_before = sim.call_count("core_user_create_users");

    let (status, rows) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/offerings/OCC-1001/transfer-preview?connection=sim",
            None,
        )
        .await;
    assert_eq!(status, 200, "{rows}");
    let row = |code: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["learner"] == code)
            .cloned()
            .unwrap()
    };
    assert_eq!(row("NEW1")["status"]["status"], "ready", "{rows}");
    let blocked = row("NOMAIL");
    assert_eq!(blocked["status"]["status"], "blocked");
    let reasons: Vec<&str> = blocked["status"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"missing_email"), "{reasons:?}");
    assert!(reasons.contains(&"missing_surname"), "{reasons:?}");
    assert_eq!(blocked["messages"].as_array().unwrap().len(), reasons.len());
    assert_eq!(
        sim.call_count("core_user_create_users"),
        calls_before,
        "a preview changes nothing in Moodle"
    );

    let (status, body) = api
        .call(
            BOLT_KEY,
            "GET",
            "/v1/offerings/OCC-1001/transfer-preview?connection=sim",
            None,
        )
        .await;
    assert_error(status, &body, 404, Some("offering_id"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/offerings/OCC-1001/transfer-preview?connection=coursekey-main",
            None,
        )
        .await;
    assert_error(status, &body, 422, Some("connection"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/offerings/OCC-1001/transfer-preview",
            None,
        )
        .await;
    assert_error(status, &body, 400, Some("connection"));
    server.shutdown().await;
}

#[tokio::test]
async fn an_offering_is_linked_by_idnumber_by_course_id_or_to_a_new_course() {
    use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};
    let api = api().await;
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let conn = json!({"id": "sim", "kind": "moodle", "name": "Sim", "base_url": server.base_url, "secret": SAMPLE_TOKEN});
    let (status, _) = api
        .call(ACME_KEY, "POST", "/v1/connections", Some(conn))
        .await;
    assert_eq!(status, 201);
    // OCC-1001 is the ID number of the sample site's course 2.
    for id in ["OCC-1001", "NEW-2001", "PICKED"] {
        let (status, body) = api
            .call(ACME_KEY, "PUT", &format!("/v1/offerings/{id}"), Some(occ()))
            .await;
        assert!(status == 200 || status == 201, "{body}");
    }

    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1001/links",
            Some(json!({"connection": "sim"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["course_id"], 2);
    assert_eq!(body["course_idnumber"], "OCC-1001");

    // No course has this offering's id yet: the error says what to do.
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/NEW-2001/links",
            Some(json!({"connection": "sim"})),
        )
        .await;
    assert_error(status, &body, 404, Some("links.course_id"));
    assert!(
        body["message"].as_str().unwrap().contains("check again"),
        "{body}"
    );

    let (status, categories) = api
        .call(ACME_KEY, "GET", "/v1/connections/sim/categories", None)
        .await;
    assert_eq!(status, 200, "{categories}");
    let acceptance = categories
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Acceptance Category")
        .unwrap();
    assert_eq!(
        acceptance["idnumber"], "ACC-CAT-1",
        "the category's ID number, as Moodle answers it"
    );
    let category = acceptance["id"].clone();
    let create = json!({"connection": "sim", "create": {"shortname": "NEW-2001", "fullname": "New offering", "category": category}});
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/NEW-2001/links",
            Some(create),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let created = body["course_id"].as_i64().unwrap();
    let course = sim
        .snapshot()
        .courses
        .into_iter()
        .find(|c| c.id == created)
        .unwrap();
    assert_eq!(
        course.idnumber, "NEW-2001",
        "the new course carries the offering's id"
    );
    assert_eq!(course.visible, 1, "an active offering's course is visible");

    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/PICKED/links",
            Some(json!({"connection": "sim", "course_id": 2})),
        )
        .await;
    assert_eq!((status, body["course_id"].as_i64()), (200, Some(2)));
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/PICKED/links",
            Some(json!({"connection": "sim", "course_id": 999})),
        )
        .await;
    assert_error(status, &body, 404, Some("links.course_id"));
    let both = json!({"connection": "sim", "course_id": 2, "create": {"shortname": "x", "fullname": "x", "category": 1}});
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/offerings/PICKED/links", Some(both))
        .await;
    assert_error(status, &body, 422, Some("links.create"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/PICKED/links",
            Some(json!({"connection": "sim", "courseid": 2})),
        )
        .await;
    assert_error(status, &body, 400, Some("links.courseid"));

    // Another tenant cannot link acme's offering or see acme's connection.
    let (status, _) = api
        .call(
            BOLT_KEY,
            "POST",
            "/v1/offerings/OCC-1001/links",
            Some(json!({"connection": "sim"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .call(BOLT_KEY, "GET", "/v1/connections/sim/categories", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_transferred_enrolment_is_removed_only_by_the_explicit_action() {
    use domain::sis::{Transfer, TransferStatus};
    let api = api().await;
    assert!(matches!(
        api.call(ACME_KEY, "PUT", "/v1/learners/X1", Some(ana()))
            .await
            .0,
        200 | 201
    ));
    assert!(matches!(
        api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-9", Some(occ()))
            .await
            .0,
        200 | 201
    ));
    let enrolment = Some(json!({"start_date": "2026-02-01"}));
    assert!(matches!(
        api.call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-9/enrolments/X1",
            enrolment
        )
        .await
        .0,
        200 | 201
    ));
    testing::drain_jobs(&api.sdk, &api.config, QueueRole::EnrolmentPush).await;
    let removal = || Some(json!({"connection": "moodle-manual"}));
    let path = "/v1/offerings/OCC-9/enrolments/X1/removal";

    let (status, body) = api.call(ACME_KEY, "POST", path, removal()).await;
    assert_error(status, &body, 409, Some("removal.connection"));

    let tenant = TenantId::parse("acme").unwrap();
    api.state
        .deps
        .links
        .save_transfer(&Transfer {
            tenant: tenant.clone(),
            connection: ConnectionId::parse("moodle-manual").unwrap(),
            offering: OfferingId::parse("OCC-9").unwrap(),
            learner: domain::LearnerCode::parse("X1").unwrap(),
            status: TransferStatus::Transferred,
            external_user: Some(7),
            transferred_at: Some(Utc::now()),
            updated_at: Utc::now(),
            removal_error: None,
        })
        .await
        .unwrap();
    // Withdrawing in the SMS changes nothing in Moodle by itself (VETtrak: enrolment edits do not reach Moodle).
    let (status, _) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OCC-9/enrolments/X1",
            Some(json!({"state": "withdrawn"})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        testing::drain_jobs(&api.sdk, &api.config, QueueRole::EnrolmentPush)
            .await
            .is_empty()
    );

    let (status, body) = api.call(ACME_KEY, "POST", path, removal()).await;
    assert_eq!(status, 202, "{body}");
    let jobs = testing::drain_jobs(&api.sdk, &api.config, QueueRole::EnrolmentPush).await;
    assert!(
        matches!(jobs.as_slice(), [Job::RemoveEnrolment { connection, learner, .. }] if connection.as_str() == "moodle-manual" && learner.as_str() == "X1"),
        "{jobs:?}"
    );
    let (status, _) = api.call(BOLT_KEY, "POST", path, removal()).await;
    assert_eq!(status, 404, "another tenant cannot remove acme's enrolment");
}

#[tokio::test]
async fn a_person_starts_a_run_or_only_a_download_and_can_stop_it() {
    let api = api().await;
    let tenant = TenantId::parse("acme").unwrap();
    let conn = ConnectionId::parse("moodle-manual").unwrap();
    assert!(matches!(
        api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-7", Some(occ()))
            .await
            .0,
        200 | 201
    ));
    testing::drain_jobs(&api.sdk, &api.config, QueueRole::EnrolmentPush).await;

    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/moodle-manual/runs",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["stage"], "full");
    let run = domain::RunId::parse(body["run"].as_str().unwrap()).unwrap();
    let stored = api
        .state
        .deps
        .runs
        .run(&tenant, &conn, &run)
        .await
        .unwrap()
        .expect("the run is recorded at once");
    assert_eq!(
        (stored.trigger, stored.status),
        (Trigger::Manual, domain::RunStatus::Importing)
    );
    let jobs = testing::drain_jobs(&api.sdk, &api.config, QueueRole::EnrolmentPush).await;
    assert!(
        matches!(jobs.as_slice(), [Job::SyncConnection { run: r, trigger: Trigger::Manual, offering: None, .. }] if r == &run),
        "{jobs:?}"
    );

    let import = json!({"stage": "import", "offering": "OCC-7"});
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/moodle-manual/runs",
            Some(import),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let jobs = testing::drain_jobs(&api.sdk, &api.config, QueueRole::ResultsFetch).await;
    assert!(
        matches!(jobs.as_slice(), [Job::FetchResults { offering: Some(o), .. }] if o.as_str() == "OCC-7"),
        "{jobs:?}"
    );

    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/moodle-manual/runs",
            Some(json!({"offering": "NOPE"})),
        )
        .await;
    assert_error(status, &body, 404, Some("runs.offering"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/moodle-manual/runs",
            Some(json!({"stage": "export-ish"})),
        )
        .await;
    assert_error(status, &body, 400, Some("runs.stage"));

    let stop = format!("/v1/connections/moodle-manual/runs/{run}/stop");
    let (status, body) = api.call(ACME_KEY, "POST", &stop, None).await;
    assert_eq!(status, 202, "{body}");
    assert!(
        api.state
            .deps
            .runs
            .stop_requested(&tenant, &conn, &run)
            .await
            .unwrap()
    );
    let (status, _) = api.call(BOLT_KEY, "POST", &stop, None).await;
    assert_eq!(status, 404, "another tenant cannot stop acme's run");
    api.state
        .deps
        .runs
        .finish_run(
            &tenant,
            &conn,
            &run,
            domain::RunStatus::FinishedSuccessfully,
            Utc::now(),
        )
        .await
        .unwrap();
    let (status, body) = api.call(ACME_KEY, "POST", &stop, None).await;
    assert_error(status, &body, 409, Some("run_id"));

    // The connection's history, newest first, by date range.
    let (status, history) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-manual/runs", None)
        .await;
    assert_eq!(status, 200, "{history}");
    let history = history.as_array().unwrap().clone();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[1]["id"],
        run.to_string(),
        "the older run comes last"
    );
    assert_eq!(history[1]["status"], "Finished successfully");
    assert_eq!(history[0]["status"], "Importing");
    let future = (Utc::now() + chrono::Duration::days(1))
        .to_rfc3339()
        .replace('+', "%2B");
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            &format!("/v1/connections/moodle-manual/runs?from={future}"),
            None,
        )
        .await;
    assert_eq!((status, body.as_array().map(Vec::len)), (200, Some(0)));
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/connections/moodle-manual/runs?limit=0",
            None,
        )
        .await;
    assert_error(status, &body, 400, Some("runs.limit"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/connections/moodle-manual/runs?from=yesterday",
            None,
        )
        .await;
    assert_error(status, &body, 400, Some("runs.from"));
    // A bare date is a day of the tenant's zone: the runs started now are on
    // today's date in Sydney (whatever UTC's date is), and none is on the day before.
    let sydney = domain::zone::TenantZone::parse("Australia/Sydney").unwrap();
    api.call(
        ACME_KEY,
        "PUT",
        "/v1/settings",
        Some(json!({"time_zone": "Australia/Sydney"})),
    )
    .await;
    let today = sydney.today(Utc::now());
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            &format!("/v1/connections/moodle-manual/runs?from={today}&to={today}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body.as_array().map(Vec::len)),
        (200, Some(2)),
        "{body}"
    );
    let yesterday = today.pred_opt().unwrap();
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            &format!("/v1/connections/moodle-manual/runs?to={yesterday}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body.as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );
    let (status, _) = api
        .call(BOLT_KEY, "GET", "/v1/connections/moodle-manual/runs", None)
        .await;
    assert_eq!(
        status, 404,
        "another tenant sees no history of acme's connection"
    );
}

#[tokio::test]
async fn a_tenant_sets_its_history_retention_and_run_error_email_and_runs_show_counts() {
    let api = api().await;
    let (status, body) = api.call(ACME_KEY, "GET", "/v1/settings", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["run_history_days"],
        Value::Null,
        "the deployment's default"
    );
    assert_eq!(body["time_zone"], "UTC", "a tenant that set none is in UTC");
    assert!(
        body["run_error_email"]["body"]
            .as_str()
            .unwrap()
            .contains("{run_path}")
    );

    // Each wrong setting is refused by name, and nothing is stored.
    for (settings, status, field) in [
        (
            json!({"run_history_days": 0}),
            422,
            "settings.run_history_days",
        ),
        (
            json!({"run_error_email": {"subject": "{learner}", "body": "x"}}),
            422,
            "settings.run_error_email.subject",
        ),
        (json!({"history_days": 9}), 400, "settings.history_days"),
        (
            json!({"time_zone": "Australia/Sidney"}),
            422,
            "settings.time_zone",
        ),
        (json!({"time_zone": "+10:00"}), 422, "settings.time_zone"),
    ] {
        let (got, body) = api
            .call(ACME_KEY, "PUT", "/v1/settings", Some(settings))
            .await;
        assert_error(got, &body, status, Some(field));
    }

    let settings = json!({
        "time_zone": "Europe/Amsterdam",
        "run_history_days": 90,
        "run_error_email": {"subject": "[{status}] {connection}", "body": "See {run_path}"}
    });
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/settings", Some(settings.clone()))
        .await;
    assert_eq!((status, &body), (200, &settings));
    let (_, body) = api.call(ACME_KEY, "GET", "/v1/settings", None).await;
    assert_eq!(body, settings);
    let (_, body) = api.call(BOLT_KEY, "GET", "/v1/settings", None).await;
    assert_eq!(
        body["run_history_days"],
        Value::Null,
        "another tenant's are its own"
    );

    // A run started now is kept 90 days; its counts and duration show in the history.
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/moodle-manual/runs",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let run = domain::RunId::parse(body["run"].as_str().unwrap()).unwrap();
    let (tenant, conn) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-manual").unwrap(),
    );
    let stored = api
        .state
        .deps
        .runs
        .run(&tenant, &conn, &run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.keep_days, Some(90));
    api.state
        .deps
        .runs
        .add_counts(
            &tenant,
            &conn,
            &run,
            &[("enrolled", 3), ("users_created", 2)],
        )
        .await
        .unwrap();
    let (_, history) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-manual/runs", None)
        .await;
    assert_eq!(history[0]["id"], run.to_string());
    assert_eq!(
        history[0]["counts"],
        json!({"enrolled": 3, "users_created": 2})
    );
    assert!(history[0]["duration_seconds"].as_i64().unwrap() >= 0);
    let (_, view) = api
        .call(ACME_KEY, "GET", history[0]["href"].as_str().unwrap(), None)
        .await;
    assert_eq!(view["counts"]["enrolled"], 3);
    assert_eq!(view["status"], "Importing");
}

#[tokio::test]
async fn an_offering_shows_the_runs_that_covered_it() {
    let api = api().await;
    let conn = ConnectionId::parse("moodle-manual").unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    for (offering, course) in [("OCC-8", 8), ("OCC-9", 9)] {
        let (status, _) = api
            .call(
                ACME_KEY,
                "PUT",
                &format!("/v1/offerings/{offering}"),
                Some(occ()),
            )
            .await;
        assert!(matches!(status, 200 | 201));
        api.state
            .deps
            .links
            .save_link(&CourseLink {
                tenant: tenant.clone(),
                offering: OfferingId::parse(offering).unwrap(),
                connection: conn.clone(),
                course_id: course,
                course_idnumber: None,
                course_shortname: None,
                linked_at: Utc::now(),
            })
            .await
            .unwrap();
    }
    let mut started = Vec::new();
    for request in [json!({"offering": "OCC-8"}), json!({})] {
        let (status, body) = api
            .call(
                ACME_KEY,
                "POST",
                "/v1/connections/moodle-manual/runs",
                Some(request),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        started.push(body["run"].as_str().unwrap().to_owned());
    }
    let (status, runs) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-8/runs", None)
        .await;
    assert_eq!(status, 200, "{runs}");
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{runs}");
    assert!(started.iter().all(|s| ids.contains(&s.as_str())));
    let for_8 = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == started[0].as_str())
        .unwrap();
    assert_eq!(for_8["offering"], "OCC-8");
    assert_eq!(for_8["connection"], "moodle-manual");

    let (_, runs) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-9/runs", None)
        .await;
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [started[1].as_str()],
        "only the run for every offering"
    );

    let (status, body) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-404/runs", None)
        .await;
    assert_error(status, &body, 404, Some("offering_id"));
    let (status, body) = api
        .call(BOLT_KEY, "GET", "/v1/offerings/OCC-8/runs", None)
        .await;
    assert_eq!(status, 404, "another tenant's offering: {body}");
}

#[tokio::test]
async fn a_link_is_one_course_per_offering_and_site_named_by_course_id() {
    use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};
    let api = api().await;
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let conn = json!({"id": "sim", "kind": "moodle", "name": "Sim", "base_url": server.base_url, "secret": SAMPLE_TOKEN});
    let (status, _) = api
        .call(ACME_KEY, "POST", "/v1/connections", Some(conn))
        .await;
    assert_eq!(status, 201);
    for id in ["OCC-1001", "SOLO-1"] {
        let (status, body) = api
            .call(ACME_KEY, "PUT", &format!("/v1/offerings/{id}"), Some(occ()))
            .await;
        assert!(status == 200 || status == 201, "{body}");
    }

    // An offering that does not exist is never linked; the error names it.
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/GHOST-1/links",
            Some(json!({"connection": "sim", "course_id": 2})),
        )
        .await;
    assert_error(status, &body, 404, Some("offering_id"));

    // The link names the Moodle course by its id (SM-05).
    let link = json!({"connection": "sim", "course_id": 2});
    let (status, first) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1001/links",
            Some(link.clone()),
        )
        .await;
    assert_eq!(
        (status, first["course_id"].as_i64()),
        (200, Some(2)),
        "{first}"
    );
    // The same pair again changes nothing (the link keeps its first date).
    let (status, again) = api
        .call(ACME_KEY, "POST", "/v1/offerings/OCC-1001/links", Some(link))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first);

    // Another course for the same offering and site replaces the link: one
    // course per offering per site.
    let (_, categories) = api
        .call(ACME_KEY, "GET", "/v1/connections/sim/categories", None)
        .await;
    let category = categories[0]["id"].clone();
    let create = json!({"connection": "sim", "create": {"shortname": "SOLO-1", "fullname": "Solo", "category": category}});
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/offerings/SOLO-1/links", Some(create))
        .await;
    assert_eq!(status, 200, "{body}");
    let other = body["course_id"].as_i64().unwrap();
    assert_ne!(other, 2);
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1001/links",
            Some(json!({"connection": "sim", "course_id": other})),
        )
        .await;
    assert_eq!(
        (status, body["course_id"].as_i64()),
        (200, Some(other)),
        "{body}"
    );
    let (status, links) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-1001/links", None)
        .await;
    assert_eq!(status, 200, "{links}");
    assert_eq!(links.as_array().unwrap().len(), 1, "{links}");
    assert_eq!(
        (
            links[0]["connection"].as_str(),
            links[0]["course_id"].as_i64()
        ),
        (Some("sim"), Some(other))
    );
}

#[tokio::test]
async fn a_tenant_has_one_coursekey_connection() {
    let api = api().await;
    // acme already has coursekey-main.
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections",
            Some(
                json!({"id": "coursekey-2", "kind": "course_key", "name": "Second",
                        "base_url": "https://coursekey.example"}),
            ),
        )
        .await;
    assert_error(status, &body, 409, Some("connections.kind"));
    assert!(
        body["message"].as_str().unwrap().contains("coursekey-main"),
        "{body}"
    );
    // bolt has none: its first is created, its second refused.
    let first = json!({"id": "ck", "kind": "course_key", "name": "CourseKey",
                       "base_url": "https://coursekey.example"});
    let (status, body) = api
        .call(BOLT_KEY, "POST", "/v1/connections", Some(first))
        .await;
    assert_eq!(status, 201, "{body}");
    let second = json!({"id": "ck-2", "kind": "course_key", "name": "CourseKey",
                        "base_url": "https://coursekey.example"});
    let (status, body) = api
        .call(BOLT_KEY, "POST", "/v1/connections", Some(second))
        .await;
    assert_error(status, &body, 409, Some("connections.kind"));
}

#[tokio::test]
async fn api_keys_are_listed_without_the_keys_and_a_revoked_one_stops_at_once() {
    let api = api().await;
    let (status, body) = api.call(ACME_KEY, "GET", "/v1/api-keys", None).await;
    assert_eq!(status, 200, "{body}");
    let keys = body["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "acme's two keys only: {body}");
    let text = body.to_string();
    for secret in [ACME_KEY, BOLT_KEY, REVOKED_KEY] {
        assert!(!text.contains(secret), "no key is ever shown");
    }
    let pepper = api
        .state
        .deps
        .pepper
        .get()
        .await
        .unwrap()
        .expose_secret()
        .as_bytes()
        .to_vec();
    let acme_hash = app::auth::hash_api_key(&pepper, ACME_KEY);
    assert!(!text.contains(&acme_hash), "nor its hash");
    let acme_id = domain::ports::api_key_id(&acme_hash);
    assert!(
        keys.iter()
            .any(|k| k["id"] == acme_id.as_str() && k["revoked"] == false)
    );
    assert!(keys.iter().any(|k| k["revoked"] == true));

    // Another tenant can neither see nor revoke it.
    let (_, body) = api.call(BOLT_KEY, "GET", "/v1/api-keys", None).await;
    assert_eq!(body["api_keys"].as_array().unwrap().len(), 1, "{body}");
    let (status, body) = api
        .call(BOLT_KEY, "DELETE", &format!("/v1/api-keys/{acme_id}"), None)
        .await;
    assert_error(status, &body, 404, Some("api_key_id"));
    let (status, body) = api
        .call(ACME_KEY, "DELETE", "/v1/api-keys/not-an-id", None)
        .await;
    assert_error(status, &body, 404, Some("api_key_id"));

    // Revoked, it is refused from the very next request.
    let response = api::app(api.state.clone())
        .oneshot(request(
            ACME_KEY,
            "DELETE",
            &format!("/v1/api-keys/{acme_id}"),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (status, body) = api.call(ACME_KEY, "GET", "/v1/connections", None).await;
    assert_error(status, &body, 403, Some("authorization"));
    let (status, _) = api.call(BOLT_KEY, "GET", "/v1/connections", None).await;
    assert_eq!(status, 200, "bolt's key still works");
}

#[tokio::test]
async fn settings_and_dates_out_of_range_are_refused_naming_the_field() {
    let api = api().await;
    // The probe's values: a billion weeks crashed every tenant's roster tick.
    for (field, value) in [
        ("weeks_before_start_to_enable", 1_000_000_000u64),
        ("weeks_after_end_to_disable", 105),
        ("follow_adjustments_days", 366),
        ("absent_after_start_minutes", 100_000),
        ("update_every_minutes", 0),
    ] {
        let create = json!({"id": "ck", "kind": "course_key", "name": "CourseKey",
                            "base_url": "https://coursekey.example",
                            "settings": {field: value}});
        let (status, body) = api
            .call(BOLT_KEY, "POST", "/v1/connections", Some(create))
            .await;
        assert_error(
            status,
            &body,
            422,
            Some(&format!("connections.settings.{field}")),
        );
    }
    let sms = json!({"id": "sms", "kind": "sms", "name": "SMS",
                     "base_url": "https://sms.example", "settings": {"retry_days": 100_000}});
    let (status, body) = api
        .call(BOLT_KEY, "POST", "/v1/connections", Some(sms))
        .await;
    assert_error(status, &body, 422, Some("connections.settings.retry_days"));

    let mut far = occ();
    far["end_date"] = json!("9999-12-31");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-FAR", Some(far))
        .await;
    assert_error(status, &body, 422, Some("offerings.end_date"));
    let mut early = occ();
    early["assessables"][1]["expected_start_date"] = json!("1066-10-14");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-FAR", Some(early))
        .await;
    assert_error(
        status,
        &body,
        422,
        Some("offerings.assessables[1].expected_start_date"),
    );
    let (status, _) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-FAR", None)
        .await;
    assert_eq!(status, 404, "nothing refused was stored");
}

#[tokio::test]
async fn a_connection_of_another_kind_on_a_moodle_route_is_a_422_naming_it() {
    let api = api().await;
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-1", Some(occ()))
        .await;
    assert!(status == 200 || status == 201, "{body}");
    for path in [
        "/v1/offerings/OCC-1/transfer-preview?connection=coursekey-main",
        "/v1/offerings/OCC-1/transfers?connection=coursekey-main",
    ] {
        let (status, body) = api.call(ACME_KEY, "GET", path, None).await;
        assert_error(status, &body, 422, Some("connection"));
    }
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1/enrolments/X1/removal",
            Some(json!({"connection": "coursekey-main"})),
        )
        .await;
    assert_error(status, &body, 422, Some("removal.connection"));
}

#[tokio::test]
async fn a_runs_log_is_read_a_page_at_a_time_and_every_line_is_reached() {
    use domain::ports::RunStore;
    use domain::{LogLevel, Run, RunId, RunLogLine};
    let api = api().await;
    let stores = cloud::Stores::new(&api.config, &api.sdk);
    let (t, c) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-manual").unwrap(),
    );
    let run = RunId::new_v7();
    stores
        .runs
        .start_run(&Run::start(
            t.clone(),
            c.clone(),
            run.clone(),
            Trigger::Manual,
            Utc::now(),
        ))
        .await
        .unwrap();
    let line = |i: usize, level| RunLogLine {
        at: Utc::now(),
        level,
        message: format!("line {i}"),
    };
    // Two appends: 250 lines (three stored items) and one warning.
    let first: Vec<RunLogLine> = (1..=250).map(|i| line(i, LogLevel::Info)).collect();
    stores.runs.append_log(&t, &c, &run, &first).await.unwrap();
    stores
        .runs
        .append_log(&t, &c, &run, &[line(251, LogLevel::Warning)])
        .await
        .unwrap();
    stores
        .runs
        .set_offering_counts(&t, &c, &run, "OCC-1", &[("blocked", 2)])
        .await
        .unwrap();
    stores
        .runs
        .set_offering_counts(&t, &c, &run, "OCC-1", &[("blocked", 3)])
        .await
        .unwrap();
    stores
        .runs
        .set_offering_counts(&t, &c, &run, "OCC-2", &[("blocked", 1)])
        .await
        .unwrap();

    let path = format!("/v1/connections/moodle-manual/runs/{run}");
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let (status, body) = api
            .call(
                ACME_KEY,
                "GET",
                &format!("{path}?after={after}&limit=120"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["log_lines"], 251);
        let lines = body["log"].as_array().unwrap();
        assert!(lines.len() <= 120);
        seen.extend(
            lines
                .iter()
                .map(|l| l["message"].as_str().unwrap().to_owned()),
        );
        match body["log_next"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let every: Vec<String> = (1..=251).map(|i| format!("line {i}")).collect();
    assert_eq!(seen, every, "each line once, in order");

    let (status, body) = api.call(ACME_KEY, "GET", &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["log"].as_array().unwrap().len(),
        251,
        "default page 500"
    );
    assert!(body["log_next"].is_null());
    // Set per offering: the second figure for OCC-1 replaced the first.
    assert_eq!(body["counts"]["blocked"], 4, "{body}");
    assert_eq!(body["counts"]["offerings_pushed"], 2, "{body}");
    let stored = stores.runs.run(&t, &c, &run).await.unwrap().unwrap();
    assert_eq!(
        (stored.log.lines, stored.log.warnings, stored.log.errors),
        (251, 1, 0)
    );
    assert_eq!(
        stored.log.status(),
        domain::RunStatus::FinishedWithWarnings,
        "the ending comes from the tally, not from reading the log"
    );

    for bad in ["limit=0", "limit=1001", "after=-1"] {
        let (status, body) = api
            .call(ACME_KEY, "GET", &format!("{path}?{bad}"), None)
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = api.call(BOLT_KEY, "GET", &path, None).await;
    assert_eq!(status, 404, "another tenant cannot read it");
}

/// A deployment refuses a base URL that is plain http or reaches an internal
/// address (literally or once resolved), with a 422 naming the field; one that
/// allows internal URLs (`LEARNBRIDGE_ALLOW_INTERNAL_URLS=true`) accepts them.
#[tokio::test]
async fn internal_and_plain_http_base_urls_are_refused_unless_the_deployment_allows_them() {
    let mut api = api().await;
    api.state.deps.egress = Egress::PublicOnly;
    let refused = [
        "https://127.0.0.1:8443/moodle",
        "https://169.254.169.254/latest/meta-data/",
        "http://moodle.example.edu/",
        "https://[::1]/",
        "https://[::ffff:169.254.169.254]/",
        "https://10.0.0.5/",
        "https://100.64.0.1/",
        "https://2130706433/",
        // A host name that resolves to 127.0.0.1.
        "https://localhost:8443/",
    ];
    for (i, url) in refused.iter().enumerate() {
        let id = format!("ssrf-{i}");
        let body = json!({"id": id, "kind": "moodle", "name": "Site", "base_url": url, "secret": "t0ken-0000000000"});
        let (status, body) = api
            .call(ACME_KEY, "POST", "/v1/connections", Some(body))
            .await;
        assert_error(status, &body, 422, Some("connections.base_url"));
        let (status, body) = api
            .call(
                ACME_KEY,
                "PATCH",
                "/v1/connections/moodle-main",
                Some(json!({"base_url": url})),
            )
            .await;
        assert_error(status, &body, 422, Some("connections.base_url"));
    }
    let (_, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections",
            Some(json!({"id": "md", "kind": "moodle", "name": "S", "base_url": "https://169.254.169.254/"})),
        )
        .await;
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("link-local"), "{message}");
    // An OCSAT token endpoint is a URL learnbridge calls too.
    let ocsat = json!({"id": "lln", "kind": "ocsat", "name": "LLN", "base_url": "https://api.ocsat.example/v1",
        "settings": {"auth_url": "https://192.168.0.10/oauth/token", "client_id": "c"}});
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections", Some(ocsat))
        .await;
    assert_error(status, &body, 422, Some("connections.settings.auth_url"));
    // A public https URL is fine (its name need not resolve here).
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections",
            Some(json!({"id": "public", "kind": "moodle", "name": "S", "base_url": "https://moodle.example.edu/"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    api.state.deps.egress = Egress::AllowInternal;
    for (i, url) in refused.iter().enumerate() {
        let id = format!("ssrf-{i}");
        let body = json!({"id": id, "kind": "moodle", "name": "Site", "base_url": url});
        let (status, body) = api
            .call(ACME_KEY, "POST", "/v1/connections", Some(body))
            .await;
        assert_eq!(status, 201, "{url} with internal URLs allowed: {body}");
    }
}

/// The check at connect time: a stored connection whose host name resolves to
/// 127.0.0.1 (saved before the rule, or by a name that rebinds) is refused by
/// the client's resolver before any connection is made, and the test says why.
#[tokio::test]
async fn a_name_that_resolves_to_an_internal_address_is_refused_at_connect_time() {
    let mut api = api().await;
    api.state.deps.egress = Egress::PublicOnly;
    api.state.deps.probe = Arc::new(api::probe::MoodleProbe::new(Egress::PublicOnly));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let stored = domain::Connection {
        base_url: format!("https://localhost:{port}/"),
        ..connection("acme", "rebound", Moodle, true)
    };
    api.state
        .deps
        .connections
        .save_connection(&stored)
        .await
        .unwrap();
    api.state
        .deps
        .secret_sink
        .put_secret(
            &stored.secret_name(&api.state.deps.secret_prefix),
            &secrecy::SecretString::from("t0ken-0000000000"),
        )
        .await
        .unwrap();
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/rebound/test", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], false, "{body}");
    let problem = body["problem"].as_str().unwrap();
    assert!(
        problem.contains("loopback") && problem.contains("internal"),
        "{problem}"
    );
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no connection was made"
    );
}

/// A server that is not Moodle answers a long HTML page full of secrets: the
/// connection test shows a short, sanitised excerpt of it, never the page.
#[tokio::test]
async fn a_non_moodle_answer_is_reflected_only_as_a_short_sanitised_excerpt() {
    let api = api().await;
    let secrets_page = format!(
        "<!DOCTYPE html><html><head><title>Router admin</title><style>body{{}}</style></head><body>\r\n<h1>Welcome\u{1b}[31m</h1>\u{202e}<p>{}</p><p>AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</p></body></html>",
        "internal-db-password=hunter2; ".repeat(200)
    );
    let app = axum::Router::new().fallback(move || {
        let page = secrets_page.clone();
        async move {
            (
                [
                    ("content-type", "text/html"),
                    ("x-internal-token", "hdr-secret-0001"),
                ],
                page,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections",
            Some(json!({"id": "not-moodle", "kind": "moodle", "name": "S", "base_url": base_url, "secret": "t0ken-0000000000"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/not-moodle/test", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], false, "{body}");
    let problem = body["problem"].as_str().unwrap();
    let whole = body.to_string();
    assert!(
        problem.contains("Router admin"),
        "an excerpt helps: {problem}"
    );
    assert!(problem.chars().count() < 300, "{problem}");
    for leaked in [
        "<",
        "\u{1b}",
        "\u{202e}",
        "\r",
        "hdr-secret",
        "x-internal-token",
        "AWS_SECRET",
    ] {
        assert!(!whole.contains(leaked), "{leaked:?} in {whole}");
    }
    assert!(
        whole.matches("hunter2").count() <= 8,
        "only an excerpt of the page: {whole}"
    );
}

/// Every route that works with one kind of connection refuses another kind with
/// a 422 naming the field (never a 200 over nothing, a 404 or a 502).
#[tokio::test]
async fn a_connection_of_the_wrong_kind_is_a_422_naming_the_field_on_every_route() {
    let api = api().await;
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-1", Some(occ()))
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(ana()))
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let cases: &[(&str, &str, Option<Value>, &str)] = &[
        // Moodle-only routes, given the CourseKey connection.
        (
            "GET",
            "/v1/connections/coursekey-main/results",
            None,
            "connection",
        ),
        (
            "GET",
            "/v1/connections/coursekey-main/completions",
            None,
            "connection",
        ),
        (
            "POST",
            "/v1/connections/coursekey-main/results/process",
            None,
            "connection",
        ),
        (
            "GET",
            "/v1/connections/coursekey-main/categories",
            None,
            "links.connection",
        ),
        (
            "GET",
            "/v1/offerings/OCC-1/links/coursekey-main/activities",
            None,
            "connection",
        ),
        (
            "GET",
            "/v1/offerings/OCC-1/mappings/coursekey-main",
            None,
            "connection",
        ),
        (
            "PUT",
            "/v1/learners/X1/accounts/coursekey-main",
            Some(json!({"moodle_user_id": 5})),
            "connection_id",
        ),
        (
            "POST",
            "/v1/offerings/OCC-1/links",
            Some(json!({"connection": "coursekey-main", "course_id": 2})),
            "links.connection",
        ),
        (
            "GET",
            "/v1/offerings/OCC-1/transfer-preview?connection=coursekey-main",
            None,
            "connection",
        ),
        // CourseKey-only, given a Moodle connection.
        (
            "GET",
            "/v1/connections/moodle-main/coursekey/errors",
            None,
            "connection",
        ),
        // SMS-only.
        (
            "GET",
            "/v1/deliveries?connection=moodle-main",
            None,
            "connection",
        ),
        // LLN-only.
        (
            "GET",
            "/v1/lln/connections/moodle-main/log",
            None,
            "connection",
        ),
        (
            "PUT",
            "/v1/lln/connections/moodle-main/logging",
            Some(json!({"enabled": true})),
            "connection",
        ),
        (
            "GET",
            "/v1/lln/assessments?connection=moodle-main",
            None,
            "connection",
        ),
        (
            "POST",
            "/v1/lln/downloads",
            Some(json!({"connection": "moodle-main"})),
            "connection",
        ),
    ];
    // Every route, wired as the api's main wires them.
    let app = api::app(api.state.clone());
    let call = |method: &str, path: &str, body: Option<Value>| {
        let app = app.clone();
        let request = request(ACME_KEY, method, path, body);
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    for (method, path, body, field) in cases {
        let (status, answer) = call(method, path, body.clone()).await;
        assert_eq!(status, 422, "{method} {path}: {answer}");
        assert_error(status, &answer, 422, Some(field));
    }
    // An unknown connection is a 404 naming it.
    for path in [
        "/v1/connections/nope/results",
        "/v1/deliveries?connection=nope",
    ] {
        let (status, body) = call("GET", path, None).await;
        assert_error(status, &body, 404, Some("connection"));
    }
}
