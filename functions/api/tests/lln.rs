#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The LLN routes through the api's Router, against moto and the OCSAT
//! simulator over real HTTP (the real connector): an LLN connection (one per
//! product, URLs prefilled, secrets masked, tested), candidates, the bulk
//! update, downloads held until saved or cancelled, saved assessments and
//! their report, the API call log, the summary CSV and the history.

use api::AppState;
use axum::body::Body;
use axum::http::Request;
use chrono::{TimeDelta, Utc};
use cloud::testing;
use domain::ports::{ApiKeyStore, ConnectionStore, SisStore};
use domain::sis::Learner;
use domain::{LearnerCode, TenantId};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use simulators::ocsat::{OcsatSim, SimAssessment};
use std::sync::Arc;
use tower::ServiceExt;

const KEY: &str = "lb_test_key_acme_lln_0123456789abcdef0123456789abcdef";
const OTHER_KEY: &str = "lb_test_key_bolt_lln_0123456789abcdef0123456789abcdef";
const CLIENT_SECRET: &str = "cs-very-secret-0987654321";
const API_KEY: &str = "ak-very-secret-1234567890";

struct Api {
    state: AppState,
    sis: Arc<dyn SisStore>,
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn learner(code: &str, given: &str, family: &str, email: Option<&str>) -> Learner {
    Learner {
        tenant: tenant(),
        code: LearnerCode::parse(code).unwrap(),
        username: None,
        given_name: given.into(),
        middle_name: None,
        family_name: family.into(),
        email: email.map(str::to_owned),
        date_of_birth: chrono::NaiveDate::from_ymd_opt(2001, 5, 6),
        archived: false,
        email_opt_out: false,
        updated_at: Utc::now() - TimeDelta::days(1),
    }
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
    for (key, t) in [(KEY, "acme"), (OTHER_KEY, "bolt")] {
        let hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), key);
        stores
            .api_keys
            .save_key(&hash, &TenantId::parse(t).unwrap(), "test", Utc::now())
            .await
            .unwrap();
    }
    stores
        .connections
        .save_connection(&testing::connection(
            "acme",
            "sms",
            domain::ConnectionKind::Sms,
            true,
        ))
        .await
        .unwrap();
    for l in [
        learner("L1", "Greg", "Abbott", Some("greg@example.com")),
        learner("L2", "Ana", "Ruiz", Some("ana@example.com")),
        learner("L3", "Kim", "", None),
    ] {
        stores.sis.save_learner(&l).await.unwrap();
    }
    // From here on the api may do only what its role in infra/template.yaml allows,
    // built as its main builds it.
    let state = AppState::from_aws(
        &api::Config::from_stack(&config).unwrap(),
        &testing::function_sdk(&sdk, &config, "api").await,
    );
    let sis = state.deps.sis.clone();
    Api { state, sis }
}

impl Api {
    async fn raw(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, String) {
        let router = api::app(self.state.clone());
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(KEY, method, path, body).await
    }

    async fn call_as(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, _, text) = self.raw(key, method, path, body).await;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("JSON expected, got {status}: {text}"));
        (status, value)
    }
}

async fn sim() -> (OcsatSim, simulators::server::RunningServer) {
    let sim = OcsatSim::new("lb-client", CLIENT_SECRET, API_KEY);
    let server = sim.start().await.unwrap();
    (sim, server)
}

fn ocsat_connection(base: &str) -> Value {
    json!({
        "id": "ocsat",
        "kind": "ocsat",
        "name": "OCSAT",
        "base_url": format!("{base}/api/v1"),
        "settings": {
            "auth_url": format!("{base}/oauth2/token"),
            "client_id": "lb-client",
            "default_staff": "STAFF-7",
            "default_assessment_status": "Received"
        },
        "secret": CLIENT_SECRET,
        "secrets": {"api_key": API_KEY}
    })
}

#[tokio::test]
async fn an_lln_connection_is_one_per_product_prefilled_masked_and_tested() {
    let api = api().await;
    let (sim, server) = sim().await;

    // URLs left out: the product's defaults, shown and editable.
    let (status, body) = api
        .call(
            "POST",
            "/v1/connections",
            Some(json!({"id": "robot", "kind": "lln_robot", "name": "LLN Robot", "settings": {"code": "LR-1"}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["settings"]["code"], "LR-1");
    let robot = domain::lln::LlnProduct::LlnRobot;
    assert_eq!(body["base_url"], robot.default_api_url());
    assert_eq!(body["settings"]["auth_url"], robot.default_auth_url());

    // The name is required; the code, when given, is 1 to 64 characters.
    let (status, body) = api
        .call(
            "POST",
            "/v1/connections",
            Some(json!({"id": "r2", "kind": "lln_robot", "name": " "})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("connections.name"))
    );
    let (status, body) = api
        .call(
            "PATCH",
            "/v1/connections/robot",
            Some(json!({"settings": {"code": ""}})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("connections.settings.code"))
    );

    // Created with a wrong API key: the test says so, with the reason, no secret.
    let mut wrong = ocsat_connection(&server.base_url);
    wrong["secrets"]["api_key"] = json!("wrong-key-000000");
    let (status, body) = api.call("POST", "/v1/connections", Some(wrong)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["secret"], "****4321");
    assert_eq!(body["secrets"]["api_key"], "****0000");
    assert_eq!(
        body["settings"]["client_id"], "****",
        "the client id is masked too"
    );
    assert!(!body.to_string().contains(CLIENT_SECRET));
    let (status, body) = api.call("POST", "/v1/connections/ocsat/test", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], false, "{body}");
    assert!(
        body["problem"].as_str().unwrap().contains("refused"),
        "{body}"
    );
    assert!(!body.to_string().contains("wrong-key-000000"));

    // A second OCSAT connection is refused, naming the kind.
    let mut second = ocsat_connection(&server.base_url);
    second["id"] = json!("ocsat-2");
    let (status, body) = api.call("POST", "/v1/connections", Some(second)).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (409, Some("connections.kind")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("OCSAT"));

    // With the right key the test gets a token and makes one call.
    let (status, body) = api
        .call(
            "PATCH",
            "/v1/connections/ocsat",
            Some(json!({"secrets": {"api_key": API_KEY}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["secrets"]["api_key"], "****7890");
    let (status, body) = api.call("POST", "/v1/connections/ocsat/test", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["site"]["site_name"], "OCSAT");
    assert_eq!(sim.calls_to("/api/v1/organisation"), 2);
}

async fn with_connection(api: &Api, base: &str) {
    let (status, body) = api
        .call("POST", "/v1/connections", Some(ocsat_connection(base)))
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn candidates_bulk_update_downloads_assessments_and_reports() {
    let api = api().await;
    let (sim, server) = sim().await;
    with_connection(&api, &server.base_url).await;

    // Missing fields are all named at once.
    let (status, body) = api
        .call("POST", "/v1/lln/candidates", Some(json!({"learner": "L3"})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "learner.family_name,email");
    let (status, body) = api
        .call(
            "POST",
            "/v1/lln/candidates",
            Some(json!({"learner": "NOPE"})),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (404, Some("learner")));

    for l in ["L1", "L2"] {
        let (status, body) = api
            .call("POST", "/v1/lln/candidates", Some(json!({"learner": l})))
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["staff"], "STAFF-7");
    }
    let (status, _) = api
        .call("POST", "/v1/lln/candidates", Some(json!({"learner": "L1"})))
        .await;
    assert_eq!(status, 409);
    assert_eq!(sim.candidates().len(), 2);

    // A change in the SMS shows out of sync, then the bulk list.
    let mut l1 = learner("L1", "Gregory", "Abbott", Some("greg@example.com"));
    l1.updated_at = Utc::now();
    api.sis.save_learner(&l1).await.unwrap();
    let mut l2 = learner("L2", "Ana", "Ruiz-Diaz", Some("ana@example.com"));
    l2.updated_at = Utc::now();
    api.sis.save_learner(&l2).await.unwrap();
    let (status, body) = api.call("GET", "/v1/lln/candidates/L1", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["out_of_sync"][0]["field"], "given_name");
    assert_eq!(body["out_of_sync"][0]["theirs"], "Greg");
    let (_, body) = api.call("GET", "/v1/lln/bulk", None).await;
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0]["created_in_lln"].is_string() && rows[0]["updated_in_lln"].is_string());
    let (status, body) = api
        .call(
            "POST",
            "/v1/lln/bulk/push",
            Some(json!({"excluded": ["L2"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pushed"], json!(["L1"]));
    assert_eq!(body["excluded"], json!(["L2"]));
    let (_, body) = api.call("GET", "/v1/lln/bulk", None).await;
    assert_eq!(body["rows"][0]["learner"], "L2");
    assert_eq!(
        body["rows"][0]["flagged"], true,
        "left out: flagged for the next one"
    );
    let c1 = sim
        .candidates()
        .into_iter()
        .find(|c| c.external_id.as_deref() == Some("L1"))
        .unwrap();
    assert_eq!(c1.given_name.as_deref(), Some("Gregory"));

    // Results: one for L1's candidate, one for a candidate made in OCSAT's screens.
    let done_at = Utc::now() - TimeDelta::hours(2);
    sim.add_assessment(SimAssessment::core_skills("a-1", &c1.id, done_at));
    let stranger =
        sim.add_candidate_in_ui("walkin", "walk@in.example", "Walkin", None, None, done_at);
    sim.add_assessment(SimAssessment::core_skills(
        "a-2",
        &stranger,
        done_at + TimeDelta::minutes(1),
    ));

    let (status, first) = api.call("POST", "/v1/lln/downloads", None).await;
    assert_eq!(status, 201, "{first}");
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        (items[0]["status"].as_str(), items[0]["learner"].as_str()),
        (Some("ok"), Some("L1"))
    );
    assert_eq!(items[1]["status"], "error");
    assert!(
        items[1]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown to learnbridge")
    );
    let id = first["id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .call("POST", &format!("/v1/lln/downloads/{id}/cancel"), None)
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .call("POST", &format!("/v1/lln/downloads/{id}/save"), None)
        .await;
    assert_eq!((status, body["field"].as_str()), (409, Some("download")));

    let (_, second) = api.call("POST", "/v1/lln/downloads", Some(json!({}))).await;
    assert_eq!(
        second["items"].as_array().unwrap().len(),
        2,
        "the same again"
    );
    let id = second["id"].as_str().unwrap().to_owned();
    let (status, saved) = api
        .call("POST", &format!("/v1/lln/downloads/{id}/save"), None)
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["saved"], json!(["a-1"]));
    assert_eq!(saved["deliveries"].as_array().unwrap().len(), 1);

    // Overriding the date brings it back as Done.
    let (_, third) = api
        .call(
            "POST",
            "/v1/lln/downloads",
            Some(json!({"modified_after": (done_at - TimeDelta::days(1)).to_rfc3339()})),
        )
        .await;
    assert_eq!(third["overridden"], true);
    assert_eq!(third["items"][0]["status"], "done");

    let (status, body) = api
        .call(
            "PATCH",
            "/v1/lln/assessments/a-1",
            Some(json!({"status": "Reviewed", "follow_up_comment": "Numeracy support, weekly"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["staff"].as_str()),
        (Some("Reviewed"), Some("STAFF-7"))
    );
    let (_, report) = api
        .call("GET", "/v1/lln/assessments/a-1/report", None)
        .await;
    assert_eq!(report["learner_name"], "Gregory Abbott");
    assert_eq!(
        report["saved"]["assessment"]["sitting_ids"],
        json!(["a-1-s1", "a-1-s2"])
    );
    assert_eq!(report["product"], "OCSAT");

    let (status, content_type, csv) = api
        .raw(
            KEY,
            "GET",
            "/v1/lln/reports/summary?format=csv&learner=L1",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].contains("\"Numeracy support, weekly\""), "{csv}");
    let (status, body) = api
        .call("GET", "/v1/lln/reports/summary?from=tomorrow", None)
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("from")));

    let today = Utc::now().date_naive();
    let (status, history) = api
        .call(
            "GET",
            &format!("/v1/lln/reports/history?from={today}&to={today}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{history}");
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for wanted in [
        "candidate_created",
        "candidate_updated",
        "candidate_excluded",
        "assessments_downloaded",
        "download_cancelled",
        "assessment_saved",
        "download_saved",
        "assessment_edited",
    ] {
        assert!(
            actions.contains(&wanted),
            "{wanted} missing from {actions:?}"
        );
    }

    // Another tenant sees none of it.
    let (status, body) = api
        .call_as(OTHER_KEY, "GET", "/v1/lln/assessments/a-1", None)
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("connection")),
        "{body}"
    );
}

#[tokio::test]
async fn the_api_log_is_switched_on_viewed_and_downloaded_with_secrets_obfuscated() {
    let api = api().await;
    let (_sim, server) = sim().await;
    with_connection(&api, &server.base_url).await;
    let (status, body) = api
        .call(
            "PUT",
            "/v1/lln/connections/ocsat/logging",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["api_logging"], true);
    assert!(body["message"].as_str().unwrap().contains("logging is on"));

    let (status, _) = api.call("POST", "/v1/connections/ocsat/test", None).await;
    assert_eq!(status, 200);
    let (status, log) = api.call("GET", "/v1/lln/connections/ocsat/log", None).await;
    assert_eq!(status, 200);
    let calls = log.as_array().unwrap();
    assert!(calls.len() >= 2, "token and one call: {log}");
    let text = log.to_string();
    assert!(
        !text.contains(CLIENT_SECRET) && !text.contains(API_KEY),
        "{text}"
    );
    assert!(text.contains("oauth2/token"));

    let (status, content_type, file) = api
        .raw(KEY, "GET", "/v1/lln/connections/ocsat/log/download", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/x-ndjson");
    assert_eq!(file.lines().count(), calls.len());
    assert!(!file.contains(CLIENT_SECRET));

    let (_, body) = api
        .call(
            "PUT",
            "/v1/lln/connections/ocsat/logging",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(body["api_logging"], false);
    let before = calls.len();
    api.call("POST", "/v1/connections/ocsat/test", None).await;
    let (_, log) = api.call("GET", "/v1/lln/connections/ocsat/log", None).await;
    assert_eq!(
        log.as_array().unwrap().len(),
        before,
        "off: nothing more logged"
    );
    let (status, body) = api
        .call(
            "PUT",
            "/v1/lln/connections/sms/logging",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("connection")));
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_in_json_before_the_handler_runs() {
    let api = api().await;
    let huge = serde_json::Value::String("x".repeat(2 * 1024 * 1024));
    let (status, content_type, body) = api
        .raw(KEY, "POST", "/v1/lln/candidates/X1/push", Some(huge))
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "too_large", "{body}");
}
