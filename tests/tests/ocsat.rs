#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! OCSAT end to end through the local runner's API (moto stack from the SAM
//! template, the OCSAT simulator through the real connector, the SMS
//! simulator): an LLN connection (one per product), tested; candidates
//! (missing fields listed); a bulk update with an exclusion; a download with
//! an Error for a candidate made in OCSAT's own screens; cancel, then the
//! same download again; save (the modified date advances, Done next time);
//! each saved assessment delivered to the SMS once; the API log with secrets
//! obfuscated; the summary CSV and the history.

use chrono::{TimeDelta, Utc};
use domain::connection::{ConnectionSettings, SmsSettings};
use domain::ports::ConnectionStore;
use domain::{Connection, ConnectionId, TenantId};
use secrecy::SecretString;
use serde_json::{Value, json};
use simulators::ocsat::{OcsatSim, SimAssessment};
use simulators::sms::SmsSim;

const SMS_SECRET: &str = "whsec_e2e_ocsat_sms";
const CLIENT_SECRET: &str = "ocsat-client-secret-e2e-4711";
const API_KEY: &str = "ocsat-api-key-e2e-0815";

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    async fn text(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, text) = self.text(method, path, body).await;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("JSON expected from {path}, got {status}: {text}"));
        (status, value)
    }
}

fn learner(given: &str, family: &str, email: Option<&str>) -> Value {
    json!({
        "given_name": given, "family_name": family, "email": email,
        "date_of_birth": "2001-05-06",
    })
}

#[tokio::test]
async fn candidates_results_downloaded_saved_and_delivered_once_with_the_log_and_reports() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sms_sim = SmsSim::new(SMS_SECRET);
    let sms_server = sms_sim.start().await.unwrap();
    let ocsat = OcsatSim::new("lb-e2e", CLIENT_SECRET, API_KEY);
    let ocsat_server = ocsat.start().await.unwrap();

    let sms = Connection {
        tenant: tenant(),
        id: ConnectionId::parse("sms-main").unwrap(),
        name: "SMS".into(),
        base_url: format!("{}/results", sms_server.base_url),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Sms(SmsSettings::default()),
    };
    stores.connections.save_connection(&sms).await.unwrap();
    stores
        .secrets
        .put(
            &sms.secret_name(&system.config.secret_prefix),
            &SecretString::from(SMS_SECRET),
        )
        .await
        .unwrap();
    let key = tests::api_key(&system, &tenant()).await;
    let api = Client {
        http: reqwest::Client::new(),
        base: tests::serve(system.api_router().await.unwrap()).await,
        key,
    };

    // The LLN connection: one per product; tested; API logging on.
    let connection = json!({
        "id": "ocsat", "kind": "ocsat", "name": "OCSAT",
        "base_url": format!("{}/api/v1", ocsat_server.base_url),
        "settings": {
            "auth_url": format!("{}/oauth2/token", ocsat_server.base_url),
            "client_id": "lb-e2e",
            "default_staff": "STAFF-7",
            "default_assessment_status": "Received",
        },
        "secret": CLIENT_SECRET,
        "secrets": {"api_key": API_KEY},
    });
    let (status, body) = api
        .call("POST", "/v1/connections", Some(connection.clone()))
        .await;
    assert_eq!(status, 201, "{body}");
    let mut again = connection;
    again["id"] = json!("ocsat-2");
    let (status, body) = api.call("POST", "/v1/connections", Some(again)).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (409, Some("connections.kind"))
    );
    let (status, body) = api
        .call(
            "PUT",
            "/v1/lln/connections/ocsat/logging",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!((status, body["api_logging"].as_bool()), (200, Some(true)));
    let (_, body) = api.call("POST", "/v1/connections/ocsat/test", None).await;
    assert_eq!(body["ok"], true, "{body}");

    // Learners, through the SMS API.
    for (code, l) in [
        ("L1", learner("Greg", "Abbott", Some("greg@example.com"))),
        ("L2", learner("Ana", "Ruiz", Some("ana@example.com"))),
        ("L3", json!({"given_name": "Kim"})),
    ] {
        let (status, body) = api
            .call("PUT", &format!("/v1/learners/{code}"), Some(l))
            .await;
        assert!(status == 200 || status == 201, "{status} {body}");
    }
    let (status, body) = api
        .call("POST", "/v1/lln/candidates", Some(json!({"learner": "L3"})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "learner.family_name,date_of_birth,email");
    for code in ["L1", "L2"] {
        let (status, body) = api
            .call("POST", "/v1/lln/candidates", Some(json!({"learner": code})))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let id_of = |code: &str| {
        ocsat
            .candidates()
            .into_iter()
            .find(|c| c.external_id.as_deref() == Some(code))
            .unwrap()
    };
    assert_eq!(id_of("L1").username, "greg@example.com");

    // Bulk update: both changed, L2 left out (and flagged for next time).
    for (code, patch) in [
        ("L1", json!({"given_name": "Gregory"})),
        ("L2", json!({"family_name": "Ruiz-Diaz"})),
    ] {
        let (status, body) = api
            .call("PATCH", &format!("/v1/learners/{code}"), Some(patch))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, body) = api.call("GET", "/v1/lln/bulk", None).await;
    let changed: Vec<&str> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["learner"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["L1", "L2"]);
    let (_, report) = api
        .call(
            "POST",
            "/v1/lln/bulk/push",
            Some(json!({"excluded": ["L2"]})),
        )
        .await;
    assert_eq!(report["pushed"], json!(["L1"]), "{report}");
    assert_eq!(id_of("L1").given_name.as_deref(), Some("Gregory"));
    assert_eq!(id_of("L2").family_name, "Ruiz");
    let (_, body) = api.call("GET", "/v1/lln/bulk", None).await;
    assert_eq!(body["rows"][0]["learner"], "L2");
    assert_eq!(body["rows"][0]["flagged"], true);

    // Results: L1's and L2's, and one of a candidate made in OCSAT's screens.
    let done = Utc::now() - TimeDelta::hours(3);
    ocsat.add_assessment(SimAssessment::core_skills("a-1", id_of("L1").id, done));
    ocsat.add_assessment(SimAssessment::core_skills(
        "a-2",
        id_of("L2").id,
        done + TimeDelta::minutes(1),
    ));
    let walk_in =
        ocsat.add_candidate_in_ui("walkin", "walk@in.example", "Walkin", None, None, done);
    ocsat.add_assessment(SimAssessment::core_skills(
        "a-3",
        walk_in,
        done + TimeDelta::minutes(2),
    ));
    let statuses = |d: &Value| -> Vec<(String, String)> {
        d["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["assessment"]["id"].as_str().unwrap().to_owned(),
                    i["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (status, first) = api.call("POST", "/v1/lln/downloads", None).await;
    assert_eq!(status, 201, "{first}");
    let expected = vec![
        ("a-1".to_owned(), "ok".to_owned()),
        ("a-2".to_owned(), "ok".to_owned()),
        ("a-3".to_owned(), "error".to_owned()),
    ];
    assert_eq!(statuses(&first), expected);
    let id = first["id"].as_str().unwrap();
    let (status, _) = api
        .call("POST", &format!("/v1/lln/downloads/{id}/cancel"), None)
        .await;
    assert_eq!(status, 200);
    let (_, second) = api.call("POST", "/v1/lln/downloads", None).await;
    assert_eq!(statuses(&second), expected, "cancelled: the same again");
    let id = second["id"].as_str().unwrap();
    let (status, saved) = api
        .call("POST", &format!("/v1/lln/downloads/{id}/save"), None)
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["saved"], json!(["a-1", "a-2"]));
    assert!(saved["modified_since"].is_string());

    // Each saved assessment reaches the SMS once.
    assert_eq!(system.drain().await.unwrap().failed, 0);
    let accepted: Vec<Value> = sms_sim
        .accepted()
        .iter()
        .map(|a| serde_json::from_str(&a.body).unwrap())
        .collect();
    assert_eq!(accepted.len(), 2, "{accepted:?}");
    assert!(accepted.iter().all(|d| d["kind"] == "lln_assessment"));
    let a1 = accepted.iter().find(|d| d["learner"] == "L1").unwrap();
    assert_eq!(a1["data"]["status"], "Received");
    assert_eq!(a1["data"]["staff"], "STAFF-7");
    assert_eq!(a1["data"]["name"], "Core Skills Profile for Adults");
    system.drain().await.unwrap();
    assert_eq!(sms_sim.accepted().len(), 2);

    // The modified date advanced: nothing new; overridden: Done.
    let (_, next) = api.call("POST", "/v1/lln/downloads", None).await;
    assert_eq!(next["items"].as_array().unwrap().len(), 0, "{next}");
    let (_, back) = api
        .call(
            "POST",
            "/v1/lln/downloads",
            Some(json!({"modified_after": (done - TimeDelta::days(1)).to_rfc3339()})),
        )
        .await;
    let s = statuses(&back);
    assert_eq!((s[0].1.as_str(), s[1].1.as_str()), ("done", "done"));

    // The API log: every call, no secret.
    let (_, log) = api.call("GET", "/v1/lln/connections/ocsat/log", None).await;
    let text = log.to_string();
    assert!(log.as_array().unwrap().len() >= 8, "{text}");
    for secret in [CLIENT_SECRET, API_KEY] {
        assert!(!text.contains(secret), "{secret} in the log");
    }
    let bearer = ocsat.tokens_issued();
    assert!(bearer >= 1);

    // Reports.
    let (status, csv) = api
        .text("GET", "/v1/lln/reports/summary?format=csv", None)
        .await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "header, L1's and L2's: {csv}");
    assert!(lines[1].starts_with("L1,Gregory,Abbott,"), "{csv}");
    let today = Utc::now().date_naive();
    let (_, history) = api
        .call(
            "GET",
            &format!("/v1/lln/reports/history?from={today}&to={today}"),
            None,
        )
        .await;
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for wanted in [
        "api_logging_switched",
        "candidate_created",
        "candidate_updated",
        "candidate_excluded",
        "assessments_downloaded",
        "download_cancelled",
        "assessment_saved",
        "download_saved",
    ] {
        assert!(actions.contains(&wanted), "{wanted} not in {actions:?}");
    }
}
