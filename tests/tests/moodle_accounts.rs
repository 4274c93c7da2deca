#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A Moodle connection that signs in with a username and password, and
//! learners matched as Moodle matches them, end to end through the local
//! runner's API (moto stack from the SAM template, the Moodle simulator):
//! each login/token.php refusal says what to fix; a learner whose email
//! another Moodle user holds in other letters is blocked in the preview and
//! never created; "link them" links the learner to that user, the preview
//! shows ready and the transfer enrols the user; the push run records when it
//! finished.

use chrono::{DateTime, Utc};
use domain::TenantId;
use serde_json::{Value, json};
use simulators::moodle::{MoodleSim, SAMPLE_SERVICE_FUNCTIONS, Service, User};

const PASSWORD: &str = "Admin#1234";
/// A Moodle user who holds the email the SMS gives one learner, in other letters.
const HOLDER: i64 = 50;

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
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
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("JSON expected from {path}, got {status}: {text}"));
        (status, value)
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.call(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {body}"
        );
        body
    }

    async fn preview(&self) -> Vec<Value> {
        self.ok(
            "GET",
            "/v1/offerings/OCC-1001/transfer-preview?connection=moodle-pw",
            None,
        )
        .await
        .as_array()
        .unwrap()
        .clone()
    }
}

fn row<'a>(preview: &'a [Value], learner: &str) -> &'a Value {
    preview
        .iter()
        .find(|r| r["learner"] == learner)
        .unwrap_or_else(|| panic!("{learner} in {preview:?}"))
}

#[tokio::test]
async fn a_password_connection_blocks_an_email_held_in_other_letters_links_and_enrols() {
    let system = tests::local_system().await;
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    // The site's service for learnbridge, restricted to the admin.
    sim.add_service(Service::new("learnbridge", SAMPLE_SERVICE_FUNCTIONS).restricted_to(&[2]));
    sim.with_state(|st| {
        st.users.push(User {
            id: HOLDER,
            username: "taken".into(),
            firstname: "Tess".into(),
            lastname: "Taken".into(),
            email: "taken@example.com".into(),
            ..User::default()
        });
    });

    let key = tests::api_key(&system, &TenantId::parse("acme").unwrap()).await;
    let api = Client {
        http: reqwest::Client::new(),
        base: tests::serve(system.api_router().await.unwrap()).await,
        key,
    };

    // A connection that signs in as the admin, through a service that does not exist yet.
    let (status, body) = api
        .call(
            "POST",
            "/v1/connections",
            Some(json!({
                "id": "moodle-pw", "kind": "moodle", "name": "Campus Moodle",
                "base_url": server.base_url,
                "settings": {"login": {"method": "password", "username": "admin", "service": "lb_typo"}},
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["secrets"]["password"], Value::Null);
    // No password yet: the test names the field to set.
    let (status, body) = api
        .call("POST", "/v1/connections/moodle-pw/test", None)
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("connections.secrets.password")),
        "{body}"
    );
    let body = api
        .ok(
            "PATCH",
            "/v1/connections/moodle-pw",
            Some(json!({"secrets": {"password": PASSWORD}})),
        )
        .await;
    assert_eq!(body["secrets"]["password"], "****", "masked");
    assert!(!body.to_string().contains(PASSWORD), "write-only");

    // Each refusal of login/token.php says what to fix.
    let test = |problem: &'static str| {
        let api = &api;
        async move {
            let body = api.ok("POST", "/v1/connections/moodle-pw/test", None).await;
            assert_eq!(body["ok"], false, "{body}");
            let text = body["problem"].as_str().unwrap_or_default().to_owned();
            assert!(text.contains(problem), "{problem} in {body}");
            assert!(!body.to_string().contains(PASSWORD));
        }
    };
    test("servicenotavailable").await;
    test("settings.login.service").await;
    api.ok(
        "PATCH",
        "/v1/connections/moodle-pw",
        Some(json!({"settings": {"login": {"method": "password", "username": "occ.teacher1", "service": "learnbridge"}},
                    "secrets": {"password": "Sample#1234"}})),
    )
    .await;
    test("usernotallowed").await;
    test("Authorised users").await;
    api.ok(
        "PATCH",
        "/v1/connections/moodle-pw",
        Some(json!({"settings": {"login": {"method": "password", "username": "admin", "service": "learnbridge"}},
                    "secrets": {"password": "not-the-password"}})),
    )
    .await;
    test("invalidlogin").await;
    api.ok(
        "PATCH",
        "/v1/connections/moodle-pw",
        Some(json!({"secrets": {"password": PASSWORD}})),
    )
    .await;
    let body = api.ok("POST", "/v1/connections/moodle-pw/test", None).await;
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["site"]["account"], "admin");
    assert!(
        body["site"]["missing_functions"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The SMS's records: Ana, and Tom whose email Moodle user 50 holds in other letters.
    for (code, given, family, email) in [
        ("X1234567", "Ana", "Ruiz", "ana.ruiz@example.com"),
        ("X7654321", "Tom", "Taken", "TAKEN@Example.com"),
    ] {
        api.ok(
            "PUT",
            &format!("/v1/learners/{code}"),
            Some(json!({"given_name": given, "family_name": family, "email": email, "email_opt_out": true})),
        )
        .await;
    }
    api.ok(
        "PUT",
        "/v1/offerings/OCC-1001",
        Some(json!({"name": "Certificate III", "start_date": "2027-02-01", "end_date": "2027-06-30", "status": "active"})),
    )
    .await;
    for code in ["X1234567", "X7654321"] {
        api.ok(
            "PUT",
            &format!("/v1/offerings/OCC-1001/enrolments/{code}"),
            Some(json!({"start_date": "2027-02-01"})),
        )
        .await;
    }
    let link = api
        .ok(
            "POST",
            "/v1/offerings/OCC-1001/links",
            Some(json!({"connection": "moodle-pw"})),
        )
        .await;
    assert_eq!(link["course_id"], 2, "{link}");

    // Tom is blocked, with the reason and the way out; Ana is ready.
    let preview = api.preview().await;
    assert_eq!(row(&preview, "X1234567")["status"]["status"], "ready");
    let tom = row(&preview, "X7654321");
    assert_eq!(tom["status"]["status"], "blocked", "{tom}");
    assert_eq!(
        tom["status"]["reasons"],
        json!([{"reason": "email_used_by_another_user", "moodle_user_id": HOLDER}])
    );
    let message = tom["messages"][0].as_str().unwrap();
    assert!(
        message.contains("already used by Moodle user 50"),
        "{message}"
    );
    assert!(
        message.contains("/v1/learners/{code}/accounts/{connection}"),
        "{message}"
    );

    // The transfer: Ana created and enrolled, Tom never sent to a create call.
    let started = api
        .ok(
            "POST",
            "/v1/offerings/OCC-1001/transfers",
            Some(json!({"connection": "moodle-pw"})),
        )
        .await;
    let drained = system.drain().await.unwrap();
    assert_eq!(drained.failed, 0);
    let creates: Vec<String> = sim
        .calls()
        .into_iter()
        .filter(|c| c.function == "core_user_create_users")
        .flat_map(|c| c.params)
        .map(|(_, v)| v.to_lowercase())
        .collect();
    assert!(creates.iter().any(|v| v == "ana.ruiz@example.com"));
    assert!(
        !creates.iter().any(|v| v == "taken@example.com"),
        "Tom never reaches a create call"
    );
    assert!(sim.call_count("login/token.php") >= 1);
    let run = api
        .ok(
            "GET",
            &format!(
                "/v1/connections/moodle-pw/runs/{}",
                started["run"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(run["status"], "Finished with warnings", "{run}");
    let at = |field: &str| {
        run[field]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap()
    };
    assert!(
        at("finished_at") > at("started_at"),
        "the run finished when it ended, not when its job began: {run}"
    );
    let log = run["log"].to_string();
    assert!(
        log.contains("User Tom Taken (X7654321) - not transferred: the learner's email address is already used by Moodle user 50"),
        "{log}"
    );

    // "Link them": checked, then Tom is Moodle user 50.
    let (status, body) = api
        .call(
            "PUT",
            "/v1/learners/X7654321/accounts/moodle-pw",
            Some(json!({"moodle_user_id": 999_999})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (404, Some("accounts.moodle_user_id")),
        "{body}"
    );
    let ana = sim
        .snapshot()
        .users
        .into_iter()
        .find(|u| u.email == "ana.ruiz@example.com")
        .unwrap();
    let (status, body) = api
        .call(
            "PUT",
            "/v1/learners/X7654321/accounts/moodle-pw",
            Some(json!({"moodle_user_id": ana.id})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (409, Some("accounts.moodle_user_id")),
        "Ana's account is hers: {body}"
    );
    let linked = api
        .ok(
            "PUT",
            "/v1/learners/X7654321/accounts/moodle-pw",
            Some(json!({"moodle_user_id": HOLDER})),
        )
        .await;
    assert_eq!(
        (
            linked["moodle_user_id"].as_i64(),
            linked["created_by_us"].as_bool()
        ),
        (Some(HOLDER), Some(false))
    );
    let preview = api.preview().await;
    assert_eq!(row(&preview, "X7654321")["status"]["status"], "ready");

    api.ok(
        "POST",
        "/v1/offerings/OCC-1001/transfers",
        Some(json!({"connection": "moodle-pw"})),
    )
    .await;
    system.drain().await.unwrap();
    let moodle = sim.snapshot();
    let course_2: Vec<i64> = moodle
        .enrol_instances
        .iter()
        .filter(|e| e.courseid == 2)
        .map(|e| e.id)
        .collect();
    assert!(
        moodle
            .user_enrolments
            .iter()
            .any(|ue| ue.userid == HOLDER && course_2.contains(&ue.enrolid)),
        "the linked user is enrolled"
    );
    assert_eq!(
        moodle
            .users
            .iter()
            .filter(|u| u.email.eq_ignore_ascii_case("taken@example.com"))
            .count(),
        1,
        "no second account"
    );
    let transfers = api
        .ok(
            "GET",
            "/v1/offerings/OCC-1001/transfers?connection=moodle-pw",
            None,
        )
        .await;
    let tom = transfers
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["learner"] == "X7654321")
        .unwrap();
    assert_eq!(tom["status"]["status"], "transferred", "{tom}");
    assert_eq!(tom["external_user"], HOLDER);
}
