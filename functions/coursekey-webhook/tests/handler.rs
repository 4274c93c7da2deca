#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! CourseKey's signed requests from events/ through the Router, against moto.

use chrono::{DateTime, TimeZone, Utc};
use cloud::testing::{self, connection};
use coursekey_webhook::Deps;
use domain::ConnectionKind::{CourseKey, Moodle};
use domain::Job;
use domain::ports::ConnectionStore;
use http_body_util::BodyExt;
use secrecy::SecretString;
use tower::ServiceExt;

const SIGNED: &str = include_str!("../../../events/coursekey-webhook/signed.json");
const UNSIGNED: &str = include_str!("../../../events/coursekey-webhook/unsigned.json");
const TAMPERED: &str = include_str!("../../../events/coursekey-webhook/tampered.json");
const SECRET: &str = "whsec_fixture_coursekey_acme_0001";

fn signed_at() -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_399_200, 0).unwrap()
}

struct Harness {
    deps: Deps,
    sdk: aws_config::SdkConfig,
    config: cloud::Config,
}

async fn harness(now: fn() -> DateTime<Utc>) -> Harness {
    let config = testing::fresh_stack().await;
    let sdk = testing::sdk().await;
    let stores = cloud::Stores::new(&config, &sdk);
    let ck = connection("acme", "coursekey-main", CourseKey, true);
    stores.connections.save_connection(&ck).await.unwrap();
    stores
        .connections
        .save_connection(&connection("acme", "moodle-main", Moodle, true))
        .await
        .unwrap();
    stores
        .secrets
        .put(
            &ck.secret_name(&config.secret_prefix),
            &SecretString::from(SECRET),
        )
        .await
        .unwrap();
    // Another tenant whose CourseKey connection was given the very same secret.
    let bolt = connection("bolt", "coursekey-main", CourseKey, true);
    stores.connections.save_connection(&bolt).await.unwrap();
    stores
        .secrets
        .put(
            &bolt.secret_name(&config.secret_prefix),
            &SecretString::from(SECRET),
        )
        .await
        .unwrap();
    // The webhook may do only what its role in infra/template.yaml allows.
    // Built as its main builds it, with the test's clock.
    let deps = Deps {
        now,
        ..Deps::from_aws(
            &coursekey_webhook::Config::from_stack(&config).unwrap(),
            &testing::function_sdk(&sdk, &config, "coursekey-webhook").await,
        )
    };
    Harness {
        deps,
        sdk,
        config: config.clone(),
    }
}

async fn send(deps: &Deps, request: lambda_http::Request) -> (u16, serde_json::Value) {
    let response = coursekey_webhook::app(deps.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

async fn call(deps: &Deps, fixture: &str) -> (u16, serde_json::Value) {
    send(deps, lambda_http::request::from_str(fixture).unwrap()).await
}

#[tokio::test]
async fn a_signed_request_is_stored_once_and_queued_off_the_request_path() {
    let h = harness(signed_at).await;
    let (status, body) = call(&h.deps, SIGNED).await;
    assert_eq!(
        (status, body),
        (202, serde_json::json!({"accepted": 2, "duplicates": 0}))
    );
    let jobs = testing::drain_jobs(&h.sdk, &h.config, domain::QueueRole::ResultsFetch).await;
    assert!(
        matches!(jobs.as_slice(), [Job::ProcessAttendance { record_ids, .. }] if record_ids == &["ck-att-1001", "ck-att-1002"]),
        "{jobs:?}"
    );

    // CourseKey retries the same delivery: stored once, nothing queued again.
    let (status, body) = call(&h.deps, SIGNED).await;
    assert_eq!(
        (status, body),
        (202, serde_json::json!({"accepted": 0, "duplicates": 2}))
    );
    assert!(
        testing::drain_jobs(&h.sdk, &h.config, domain::QueueRole::ResultsFetch)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn unsigned_tampered_and_replayed_requests_are_refused() {
    let h = harness(signed_at).await;
    let (status, body) = call(&h.deps, UNSIGNED).await;
    assert_eq!(status, 401);
    assert_eq!(body["field"], "x-learnbridge-timestamp");
    let (status, body) = call(&h.deps, TAMPERED).await;
    assert_eq!(status, 401);
    assert_eq!(body["field"], "x-learnbridge-signature");
    assert_eq!(body["message"], "the signature does not match the body");

    let late = harness(|| signed_at() + chrono::Duration::seconds(301)).await;
    let (status, body) = call(&late.deps, SIGNED).await;
    assert_eq!(status, 401);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("301 s away from now"),
        "{body}"
    );
    assert!(
        testing::drain_jobs(&h.sdk, &h.config, domain::QueueRole::ResultsFetch)
            .await
            .is_empty(),
        "nothing refused is queued"
    );
}

#[tokio::test]
async fn unknown_or_non_coursekey_connections_look_like_bad_signatures() {
    let h = harness(signed_at).await;
    for path in [
        "/webhooks/coursekey/acme/nope",
        "/webhooks/coursekey/acme/moodle-main",
        "/webhooks/coursekey/zed/coursekey-main",
        // Same secret, another tenant: the signature covers the route, so acme's
        // request cannot be replayed into bolt's attendance.
        "/webhooks/coursekey/bolt/coursekey-main",
    ] {
        let mut request = lambda_http::request::from_str(SIGNED).unwrap();
        *request.uri_mut() = path.parse().unwrap();
        let (status, _) = send(&h.deps, request).await;
        assert_eq!(status, 401, "{path}");
    }
}

fn signed(body: &str) -> lambda_http::Request {
    let ts = signed_at().timestamp();
    let sig = connectors::signature::sign_route(
        SECRET.as_bytes(),
        ts,
        "acme/coursekey-main",
        body.as_bytes(),
    );
    http::Request::post("/webhooks/coursekey/acme/coursekey-main")
        .header("content-type", "application/json")
        .header("x-learnbridge-timestamp", ts.to_string())
        .header("x-learnbridge-signature", sig)
        .body(lambda_http::Body::Text(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_clear_errors() {
    let h = harness(signed_at).await;
    let (status, body) = send(&h.deps, signed("{not json")).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("body")));
    let (status, body) = send(
        &h.deps,
        signed(r#"{"records":[{"id":"a"},{"student":"x"}]}"#),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("records[1].id"))
    );
    let many = serde_json::json!({"records": (0..501).map(|i| serde_json::json!({"id": format!("r{i}")})).collect::<Vec<_>>()});
    let (status, body) = send(&h.deps, signed(&many.to_string())).await;
    assert_eq!((status, body["field"].as_str()), (413, Some("records")));
    let huge = format!(
        r#"{{"records":[{{"id":"a","pad":"{}"}}]}}"#,
        "x".repeat(300 * 1024)
    );
    let (status, body) = send(&h.deps, signed(&huge)).await;
    assert_eq!(
        (status, body["error"].as_str(), body["field"].as_str()),
        (413, Some("too_large"), Some("body")),
        "every error is JSON"
    );
    // Another method or route: JSON too.
    let get = http::Request::get("/webhooks/coursekey/acme/coursekey-main")
        .body(lambda_http::Body::Empty)
        .unwrap();
    let (status, body) = send(&h.deps, get).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let elsewhere = http::Request::post("/webhooks/other")
        .body(lambda_http::Body::Empty)
        .unwrap();
    let (status, body) = send(&h.deps, elsewhere).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    assert!(
        testing::drain_jobs(&h.sdk, &h.config, domain::QueueRole::ResultsFetch)
            .await
            .is_empty()
    );
}
