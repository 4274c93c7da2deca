//! A stored record that no longer decodes (written by hand, or by an older
//! version) never breaks a tenant's API: through the HTTP API over moto, with
//! the bad items written by the real SDK.
//! - a connection's item: the list shows the readable connections and marks
//!   the bad one `{id, unreadable}` with why; reading it (or patching it)
//!   answers 409 `unreadable` naming the connection and the attribute; every
//!   other route goes on; `PUT /v1/connections/{id}` repairs it.
//! - the tenant's settings item: `GET /v1/settings` and every route that
//!   needs the tenant's time zone answer 409 `unreadable` naming `settings`
//!   (never a 500); the others answer; `PUT /v1/settings` repairs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_dynamodb::types::AttributeValue;
use cloud::testing::connection;
use domain::ConnectionKind::Moodle;
use domain::TenantId;
use serde_json::{Value, json};
use std::collections::HashMap;
use tests::{api_key, put_raw, s};

/// The routes a tenant's admin and SMS read most, over the readable
/// connection `moodle-main` and its linked offering `OCC-1001`.
const READS: &[&str] = &[
    "/v1/connections/moodle-main",
    "/v1/connections/moodle-main/runs",
    "/v1/connections/moodle-main/results",
    "/v1/connections/moodle-main/completions",
    "/v1/offerings/OCC-1001",
    "/v1/offerings/OCC-1001/links",
    "/v1/offerings/OCC-1001/enrolments",
    "/v1/offerings/OCC-1001/runs",
    "/v1/offerings/OCC-1001/transfers?connection=moodle-main",
    "/v1/offerings/OCC-1001/transfer-preview?connection=moodle-main",
    "/v1/offerings/OCC-1001/mappings/moodle-main",
    "/v1/offerings/OCC-1001/coursekey",
    "/v1/learners/X1234567",
    "/v1/learners/X1234567/enrolments",
    "/v1/api-keys",
];

#[tokio::test]
async fn a_corrupt_connection_or_settings_item_is_named_and_repaired_and_never_breaks_the_tenants_api()
 {
    let system = tests::local_system().await;
    let sdk = cloud::testing::sdk().await;
    let sim = simulators::moodle::MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let mut main = connection("acme", "moodle-main", Moodle, true);
    main.base_url = server.base_url.clone();
    tests::seed_moodle_offering(
        &system,
        &main,
        "OCC-1001",
        2,
        &[("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))],
    )
    .await;
    let data = system.config.tables.data.clone();
    // moodle-old: written by an older version, its role id a name.
    put_raw(
        &sdk,
        &data,
        HashMap::from([
            ("pk".to_owned(), s("T#acme")),
            ("sk".to_owned(), s("CONN#moodle-old")),
            ("tenant".to_owned(), s("acme")),
            ("id".to_owned(), s("moodle-old")),
            ("name".to_owned(), s("Old Moodle")),
            ("base_url".to_owned(), s(&server.base_url)),
            ("enabled".to_owned(), AttributeValue::Bool(false)),
            (
                "settings".to_owned(),
                AttributeValue::M(HashMap::from([
                    ("kind".to_owned(), s("moodle")),
                    ("role_id".to_owned(), s("student")),
                ])),
            ),
        ]),
    )
    .await;

    let key = api_key(&system, &TenantId::parse("acme").unwrap()).await;
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let request = http.get(format!("{api}{path}")).bearer_auth(&key);
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };

    // The list: moodle-main as it is, moodle-old marked with why.
    let (status, list) = get("/v1/connections").await;
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["id"], "moodle-main");
    assert_eq!(list[0]["kind"], "moodle");
    assert_eq!(list[1]["id"], "moodle-old");
    let why = list[1]["unreadable"].as_str().unwrap();
    assert!(
        why.contains("settings: invalid type: string \"student\"")
            && why.contains("PUT /v1/connections/moodle-old"),
        "{why}"
    );
    assert!(!why.contains(&data), "no table name: {why}");

    // Reading (or patching) it names it and what is wrong with it.
    let (status, refused) = get("/v1/connections/moodle-old").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"], "unreadable");
    assert_eq!(refused["field"], "connection");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("settings: invalid type"), "{message}");
    assert!(!message.contains(&data), "no internals: {message}");
    let patched = http
        .patch(format!("{api}/v1/connections/moodle-old"))
        .bearer_auth(&key)
        .json(&json!({"name": "Old"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status().as_u16(), 409);
    for path in [
        "/v1/connections/moodle-old/runs",
        "/v1/connections/moodle-old/secret",
    ] {
        let (status, body) = get(path).await;
        assert_eq!(
            (status, &body["field"]),
            (409, &json!("connection")),
            "{path}: {body}"
        );
    }
    // Everything else answers as before.
    for path in READS {
        let (status, body) = get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // A learner's change goes to the readable connections.
    let learner = http
        .patch(format!("{api}/v1/learners/X1234567"))
        .bearer_auth(&key)
        .json(&json!({"given_name": "Anna"}))
        .send()
        .await
        .unwrap();
    assert_eq!(learner.status().as_u16(), 200);

    // A PUT repairs it; a PUT cannot change a readable one's kind.
    let put_moodle = |id: &str, name: &str| {
        http.put(format!("{api}/v1/connections/{id}"))
            .bearer_auth(&key)
            .json(&json!({
                "kind": "moodle",
                "name": name,
                "base_url": server.base_url,
                "enabled": false,
                "settings": {"role_id": 5},
            }))
            .send()
    };
    let repaired = put_moodle("moodle-old", "Old Moodle").await.unwrap();
    assert_eq!(repaired.status().as_u16(), 200);
    let (status, old) = get("/v1/connections/moodle-old").await;
    assert_eq!(status, 200, "{old}");
    assert_eq!(old["settings"]["role_id"], 5);
    let (_, list) = get("/v1/connections").await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("unreadable").is_none()),
        "{list}"
    );
    let kind_change = http
        .put(format!("{api}/v1/connections/moodle-old"))
        .bearer_auth(&key)
        .json(&json!({"kind": "sms", "name": "Old", "base_url": server.base_url}))
        .send()
        .await
        .unwrap();
    assert_eq!(kind_change.status().as_u16(), 422);

    // A CourseKey connection, unreadable, repaired as a Moodle one: its hold
    // on the tenant's one CourseKey connection goes with its old kind, so the
    // tenant can then make one (and still only one).
    let ck_marker = format!("KIND#{}", domain::ConnectionKind::CourseKey.as_str());
    put_raw(
        &sdk,
        &data,
        HashMap::from([
            ("pk".to_owned(), s("T#acme")),
            ("sk".to_owned(), s("CONN#ck-old")),
            ("tenant".to_owned(), s("acme")),
            ("id".to_owned(), s("ck-old")),
            ("name".to_owned(), s("Old CourseKey")),
            ("base_url".to_owned(), s(&server.base_url)),
            ("enabled".to_owned(), s("yes")),
            (
                "settings".to_owned(),
                AttributeValue::M(HashMap::from([("kind".to_owned(), s("course_key"))])),
            ),
        ]),
    )
    .await;
    put_raw(
        &sdk,
        &data,
        HashMap::from([
            ("pk".to_owned(), s("T#acme")),
            ("sk".to_owned(), s(&ck_marker)),
            ("connection".to_owned(), s("ck-old")),
        ]),
    )
    .await;
    let (status, _) = get("/v1/connections/ck-old").await;
    assert_eq!(status, 409, "unreadable");
    let repaired = put_moodle("ck-old", "Was CourseKey").await.unwrap();
    assert_eq!(repaired.status().as_u16(), 200);
    let create_coursekey = |id: &str| {
        http.post(format!("{api}/v1/connections"))
            .bearer_auth(&key)
            .json(&json!({"id": id, "kind": "course_key", "name": "CourseKey",
                          "base_url": server.base_url}))
            .send()
    };
    let created = create_coursekey("ck-new").await.unwrap();
    let status = created.status().as_u16();
    assert_eq!(status, 201, "{}", created.text().await.unwrap());
    let second = create_coursekey("ck-2").await.unwrap();
    assert_eq!(second.status().as_u16(), 409);
    let said: Value = second.json().await.unwrap();
    assert!(
        said["message"].as_str().unwrap().contains("ck-new"),
        "{said}"
    );

    // The tenant's settings, written by hand in a shape the domain refuses.
    put_raw(
        &sdk,
        &data,
        HashMap::from([
            ("pk".to_owned(), s("T#acme")),
            ("sk".to_owned(), s("SETTINGS")),
            ("tenant".to_owned(), s("acme")),
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
    let (status, refused) = get("/v1/settings").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"], "unreadable");
    assert_eq!(refused["field"], "settings");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("settings.run_history_days") && message.contains("PUT /v1/settings"),
        "{message}"
    );
    // A route answers, or (needing the tenant's time zone) names the settings: never a 500.
    let mut named = 0;
    for path in READS.iter().chain(&["/v1/connections"]) {
        let (status, body) = get(path).await;
        match status {
            200 => {}
            409 => {
                assert_eq!(body["field"], "settings", "{path}: {body}");
                named += 1;
            }
            _ => panic!("{path}: {status} {body}"),
        }
    }
    assert!(named > 0, "the routes that need the zone say why");
    let repaired = http
        .put(format!("{api}/v1/settings"))
        .bearer_auth(&key)
        .json(&json!({"time_zone": "UTC", "run_history_days": 90}))
        .send()
        .await
        .unwrap();
    assert_eq!(repaired.status().as_u16(), 200);
    let (status, settings) = get("/v1/settings").await;
    assert_eq!((status, &settings["run_history_days"]), (200, &json!(90)));
    for path in READS {
        let (status, body) = get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}
