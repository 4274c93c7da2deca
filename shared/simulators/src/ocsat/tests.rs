use super::*;
use chrono::TimeZone;

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

async fn connect(sim: &OcsatSim) -> (RunningServer, Client) {
    let server = sim.start().await.unwrap();
    let http = reqwest::Client::new();
    let answer: serde_json::Value = http
        .post(format!("{}/oauth2/token", server.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=cid&client_secret=csecret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(answer["expires_in"], 3600);
    let base = format!("{}/api/v1", server.base_url);
    (server, Client { http, base, token })
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("x-api-key", "akey");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or_default())
    }
}

fn greg() -> serde_json::Value {
    serde_json::json!({
        "username": "greg@example.org", "email": "greg@example.org",
        "familyName": "Abbott", "givenName": "Greg", "externalId": "C100",
        "dateOfBirth": "1990-05-17"
    })
}

#[tokio::test]
async fn the_token_endpoint_checks_the_client_and_the_grant() {
    let sim = OcsatSim::new("cid", "csecret", "akey");
    let server = sim.start().await.unwrap();
    let http = reqwest::Client::new();
    let cases = [
        (
            "grant_type=client_credentials&client_id=cid&client_secret=nope",
            401,
            "invalid_client",
        ),
        (
            "grant_type=password&client_id=cid&client_secret=csecret",
            400,
            "unsupported_grant_type",
        ),
        (
            "grant_type=client_credentials&client_id=cid&client_secret=csecret",
            200,
            "",
        ),
    ];
    for (body, status, code) in cases {
        let answer = http
            .post(format!("{}/oauth2/token", server.base_url))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), status, "{body}");
        let json: serde_json::Value = answer.json().await.unwrap();
        if status != 200 {
            assert_eq!(json["error"], code);
        }
    }
    assert_eq!(sim.tokens_issued(), 1);
    assert_eq!(sim.calls_to("/oauth2/token"), 3);
}

#[tokio::test]
async fn calls_need_a_live_token_and_the_api_key() {
    let sim = OcsatSim::new("cid", "csecret", "akey");
    let (_server, client) = connect(&sim).await;
    let (status, _) = client
        .send(reqwest::Method::GET, "/organisation", None)
        .await;
    assert_eq!(status, 200);
    let wrong_key = client
        .http
        .get(format!("{}/organisation", client.base))
        .bearer_auth(&client.token)
        .header("x-api-key", "other")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status().as_u16(), 403);
    sim.revoke_tokens();
    let (status, body) = client
        .send(reqwest::Method::GET, "/organisation", None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
}

#[tokio::test]
async fn candidates_are_validated_by_field_and_unique_by_username() {
    let sim = OcsatSim::new("cid", "csecret", "akey");
    let (_server, client) = connect(&sim).await;
    let (status, body) = client
        .send(
            reqwest::Method::POST,
            "/candidates",
            Some(serde_json::json!({"username": "x y", "email": "nope"})),
        )
        .await;
    assert_eq!(status, 400);
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "familyName",
            "externalId",
            "dateOfBirth",
            "email",
            "username"
        ]
    );
    let (status, created) = client
        .send(reqwest::Method::POST, "/candidates", Some(greg()))
        .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_owned();
    let mut same_email = greg();
    same_email["username"] = "other".into();
    same_email["email"] = "GREG@example.org".into();
    let mut same_username = greg();
    same_username["email"] = "other@example.org".into();
    let (status, answer) = client
        .send(reqwest::Method::POST, "/candidates", Some(same_username))
        .await;
    assert_eq!((status, answer["field"].as_str()), (409, Some("username")));
    let (status, _) = client
        .send(reqwest::Method::POST, "/candidates", Some(same_email))
        .await;
    assert_eq!(status, 201, "an email may be shared under another username");
    // An update that changes nothing keeps updatedAt; a change moves it.
    let (status, same) = client
        .send(
            reqwest::Method::PUT,
            &format!("/candidates/{id}"),
            Some(greg()),
        )
        .await;
    assert_eq!((status, &same["updatedAt"]), (200, &created["updatedAt"]));
    let mut renamed = greg();
    renamed["familyName"] = "Abbot".into();
    let (_, changed) = client
        .send(
            reqwest::Method::PUT,
            &format!("/candidates/{id}"),
            Some(renamed),
        )
        .await;
    assert_eq!(changed["familyName"], "Abbot");
    let (status, found) = client
        .send(
            reqwest::Method::GET,
            "/candidates?username=GREG@example.org",
            None,
        )
        .await;
    assert_eq!(
        (status, found["items"][0]["id"].as_str()),
        (200, Some(id.as_str()))
    );
    let (status, _) = client
        .send(reqwest::Method::GET, "/candidates/c-999999", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn assessments_page_strictly_after_the_modified_date_with_a_cursor() {
    let sim = OcsatSim::new("cid", "csecret", "akey");
    let (_server, client) = connect(&sim).await;
    let day = |d| Utc.with_ymd_and_hms(2026, 3, d, 9, 0, 0).unwrap();
    for d in 1..=5 {
        sim.add_assessment(SimAssessment::core_skills(format!("a-{d}"), "c-1", day(d)));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/assessments?modifiedAfter=2026-03-01T09:00:00Z&pageSize=2".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!(
                "&cursor={}",
                url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
            ));
        }
        let (status, page) = client.send(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200);
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vec!["a-2", "a-3", "a-4", "a-5"]);
    assert_eq!(pages, 2);
    for (path, field) in [
        ("/assessments", "modifiedAfter"),
        ("/assessments?modifiedAfter=yesterday", "modifiedAfter"),
        (
            "/assessments?modifiedAfter=2026-03-01T09:00:00Z&pageSize=500",
            "pageSize",
        ),
        (
            "/assessments?modifiedAfter=2026-03-01T09:00:00Z&cursor=zzz",
            "cursor",
        ),
    ] {
        let (status, body) = client.send(reqwest::Method::GET, path, None).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{path}"
        );
    }
}

#[tokio::test]
async fn faults_are_injected_and_counted() {
    let sim = OcsatSim::new("cid", "csecret", "akey");
    let (_server, client) = connect(&sim).await;
    sim.fail_next(429, 1);
    let answer = client
        .http
        .get(format!("{}/organisation", client.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 429);
    assert_eq!(answer.headers()["retry-after"], "1");
    sim.fail_with(Some(500));
    let (status, _) = client
        .send(reqwest::Method::GET, "/organisation", None)
        .await;
    assert_eq!(status, 500);
    sim.fail_with(None);
    let (status, _) = client
        .send(reqwest::Method::GET, "/organisation", None)
        .await;
    assert_eq!(status, 200);
    let statuses: Vec<u16> = sim.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![200, 429, 500, 200]);
}
