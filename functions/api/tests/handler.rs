#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! API Gateway v2 requests from events/ through the Router, against moto.

use api::AppState;
use chrono::Utc;
use cloud::testing::{self, connection};
use domain::ConnectionKind::{CourseKey, Moodle};
use domain::TenantId;
use domain::ports::{ApiKeyStore, ConnectionStore};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use tower::ServiceExt;

const FIXTURE_KEY: &str = "lb_fixture_key_acme_0123456789abcdef0123456789abcdef";

async fn deps() -> AppState {
    let config = testing::fresh_stack().await;
    let sdk = testing::sdk().await;
    let stores = cloud::Stores::new(&config, &sdk);
    let pepper = stores
        .secrets
        .get(config.api_key_pepper_secret.as_deref().unwrap())
        .await
        .unwrap();
    let hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), FIXTURE_KEY);
    stores
        .api_keys
        .save_key(
            &hash,
            &TenantId::parse("acme").unwrap(),
            "fixture",
            Utc::now(),
        )
        .await
        .unwrap();
    for c in [
        connection("acme", "moodle-main", Moodle, true),
        connection("acme", "coursekey-main", CourseKey, true),
        connection("bolt", "bolt-moodle", Moodle, true),
    ] {
        stores.connections.save_connection(&c).await.unwrap();
    }
    // From here on the api may do only what its role in infra/template.yaml allows,
    // built as its main builds it.
    AppState::from_aws(
        &api::Config::from_stack(&config).unwrap(),
        &testing::function_sdk(&sdk, &config, "api").await,
    )
}

async fn call(deps: &AppState, event: &str) -> (u16, serde_json::Value) {
    let request =
        lambda_http::request::from_str(event).expect("fixture is an API Gateway v2 request");
    send(deps, request).await
}

async fn send(deps: &AppState, request: lambda_http::Request) -> (u16, serde_json::Value) {
    let response = api::app(deps.clone()).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn health_needs_no_key() {
    let deps = deps().await;
    let (status, body) = call(&deps, include_str!("../../../events/api/health.json")).await;
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));
}

#[tokio::test]
async fn requests_without_a_valid_key_are_refused_with_a_json_error() {
    let deps = deps().await;
    for fixture in [
        include_str!("../../../events/api/list-connections-no-key.json"),
        include_str!("../../../events/api/list-connections-wrong-key.json"),
    ] {
        let (status, body) = call(&deps, fixture).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"], "unauthorized");
        assert_eq!(body["field"], "authorization");
        assert!(body["message"].as_str().unwrap().contains("Bearer"));
    }
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_connections() {
    let deps = deps().await;
    let (status, body) = call(
        &deps,
        include_str!("../../../events/api/list-connections.json"),
    )
    .await;
    assert_eq!(status, 200);
    let mut ids: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["coursekey-main", "moodle-main"]);
    assert!(!body.to_string().contains("bolt"));

    // Another tenant's connection by id is simply not there.
    let request = http::Request::get("/v1/connections/bolt-moodle")
        .header("authorization", format!("Bearer {FIXTURE_KEY}"))
        .body(lambda_http::Body::Empty)
        .unwrap();
    let (status, body) = send(&deps, request).await;
    assert_eq!(status, 404);
    assert_eq!(body["field"], "connection_id");
}

#[tokio::test]
async fn a_bad_id_or_route_gets_a_json_error_naming_the_field() {
    let deps = deps().await;
    let request = http::Request::get("/v1/connections/a%23b")
        .header("authorization", format!("Bearer {FIXTURE_KEY}"))
        .body(lambda_http::Body::Empty)
        .unwrap();
    let (status, body) = send(&deps, request).await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "connection_id");
    let request = http::Request::get("/nope")
        .body(lambda_http::Body::Empty)
        .unwrap();
    let (status, body) = send(&deps, request).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}
