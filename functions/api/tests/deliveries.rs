#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The deliveries routes through the Router, against moto: list by connection
//! and state, one with every attempt, resend now, cancel; errors name the
//! field; one tenant never sees another's deliveries.

use api::AppState;
use chrono::{TimeZone, Utc};
use cloud::testing;
use domain::delivery::{
    Attempt, DeliveryKey, DeliveryKind, SendResult, SmsAnswer, Verdict, after_attempt, claim,
};
use domain::ports::ApiKeyStore;
use domain::{AssessableId, ConnectionId, Job, LearnerCode, OfferingId, QueueRole, TenantId};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::Value;
use tower::ServiceExt;

const ACME_KEY: &str = "lb_fixture_key_acme_0123456789abcdef0123456789abcdef";
const BOLT_KEY: &str = "lb_test_key_bolt_0123456789abcdef0123456789abcdef";

fn key(learner: &str) -> DeliveryKey {
    DeliveryKey {
        tenant: TenantId::parse("acme").unwrap(),
        learner: LearnerCode::parse(learner).unwrap(),
        offering: OfferingId::parse("OFF-1").unwrap(),
        assessable: Some(AssessableId::parse("U1").unwrap()),
        kind: DeliveryKind::Result,
    }
}

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
    for (k, tenant) in [(ACME_KEY, "acme"), (BOLT_KEY, "bolt")] {
        let hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), k);
        stores
            .api_keys
            .save_key(&hash, &TenantId::parse(tenant).unwrap(), "test", Utc::now())
            .await
            .unwrap();
    }
    // Each tenant's SMS connection (deliveries are listed per SMS connection).
    for tenant in ["acme", "bolt"] {
        use domain::ports::ConnectionStore;
        stores
            .connections
            .save_connection(&testing::connection(
                tenant,
                "sms",
                domain::ConnectionKind::Sms,
                true,
            ))
            .await
            .unwrap();
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
    async fn call(&self, key: &str, method: &str, path: &str) -> (u16, Value) {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .body(lambda_http::Body::Empty)
            .unwrap();
        let response = api::app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }
}

#[tokio::test]
async fn list_see_resend_and_cancel_deliveries() {
    let api = api().await;
    let store = api.state.deps.deliveries.clone();
    let sms = ConnectionId::parse("sms").unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap();
    // One refused (pending, with an attempt), one delivered.
    for learner in ["L1", "L2"] {
        let d = domain::delivery::Delivery::new(
            &key(learner),
            sms.clone(),
            serde_json::json!({"grade": "C"}),
            t0,
        );
        store.create(&d).await.unwrap();
        let claimed = claim(&d, t0);
        store.update(&claimed, None).await.unwrap();
        let claimed = domain::delivery::Delivery {
            version: 1,
            ..claimed
        };
        let (status, verdict) = if learner == "L1" {
            (404, Verdict::RetryNextDay { reason: "the SMS does not recognise the learner or course yet (HTTP 404): learner not recognised".into() })
        } else {
            (200, Verdict::Delivered)
        };
        let result = SendResult::Answered(SmsAnswer {
            status,
            ..Default::default()
        });
        let next = after_attempt(&claimed, &verdict, t0).delivery;
        store
            .update(&next, Some(&Attempt::record(1, t0, &result, &verdict)))
            .await
            .unwrap();
    }
    let l1 = key("L1").delivery_id();
    let l2 = key("L2").delivery_id();

    let (status, body) = api
        .call(ACME_KEY, "GET", "/v1/deliveries?connection=sms")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "pending", "pending by default");
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(body["deliveries"][0]["id"], l1.as_str());
    assert!(body["deliveries"][0]["next_attempt_at"].is_string());
    let (_, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/deliveries?connection=sms&state=delivered",
        )
        .await;
    assert_eq!(body["deliveries"][0]["id"], l2.as_str());
    assert!(body["deliveries"][0]["next_attempt_at"].is_null());

    let (status, body) = api
        .call(ACME_KEY, "GET", &format!("/v1/deliveries/{l1}"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["attempts"], 1);
    assert_eq!(body["attempt_log"][0]["status"], 404);
    assert_eq!(body["attempt_log"][0]["outcome"], "retry_next_day");
    assert!(
        body["last_error"]
            .as_str()
            .unwrap()
            .contains("not recognised")
    );

    // Resend now: due now and queued.
    let (status, body) = api
        .call(ACME_KEY, "POST", &format!("/v1/deliveries/{l1}/resend"))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "pending");
    let jobs = testing::drain_jobs(&api.sdk, &api.config, QueueRole::Deliveries).await;
    assert_eq!(
        jobs,
        vec![Job::Deliver {
            tenant: TenantId::parse("acme").unwrap(),
            delivery: l1.clone()
        }]
    );
    // A delivered one is neither resent nor cancelled.
    let (status, body) = api
        .call(ACME_KEY, "POST", &format!("/v1/deliveries/{l2}/resend"))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (409, Some("state")),
        "{body}"
    );
    let (status, _) = api
        .call(ACME_KEY, "POST", &format!("/v1/deliveries/{l2}/cancel"))
        .await;
    assert_eq!(status, 409);
    let (status, body) = api
        .call(ACME_KEY, "POST", &format!("/v1/deliveries/{l1}/cancel"))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("cancelled")),
        "{body}"
    );

    // Errors name the field.
    for (path, field) in [
        ("/v1/deliveries", "connection"),
        ("/v1/deliveries?connection=sms&state=done", "state"),
        ("/v1/deliveries?connection=sms&limit=0", "limit"),
        ("/v1/deliveries?connection=a%23b", "connection"),
        ("/v1/deliveries?connection=sms&colour=red", "colour"),
        ("/v1/deliveries/bad%23id", "delivery_id"),
    ] {
        let (status, body) = api.call(ACME_KEY, "GET", path).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{path}: {body}"
        );
    }
    let (status, body) = api.call(ACME_KEY, "GET", "/v1/deliveries/dlv-nope").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (404, Some("delivery_id")),
        "{body}"
    );

    // Another tenant sees none of it.
    let (status, body) = api
        .call(BOLT_KEY, "GET", &format!("/v1/deliveries/{l2}"))
        .await;
    assert_eq!(status, 404, "{body}");
    let (_, body) = api
        .call(
            BOLT_KEY,
            "GET",
            "/v1/deliveries?connection=sms&state=delivered",
        )
        .await;
    assert_eq!(body["deliveries"].as_array().unwrap().len(), 0);
    let (status, _) = api
        .call(BOLT_KEY, "POST", &format!("/v1/deliveries/{l2}/cancel"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .call("lb_wrong", "GET", "/v1/deliveries?connection=sms")
        .await;
    assert_eq!(status, 401);
}
