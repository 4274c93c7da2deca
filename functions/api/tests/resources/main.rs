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

mod access;
mod connections;
mod links;
mod runs;
mod sis;
