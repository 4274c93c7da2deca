#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Behaviour of the Moodle simulator beyond the recorded samples, each as Moodle 4.3 does it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use simulators::moodle::{MoodleFixture, MoodleSim, SAMPLE_TOKEN, Switches};
use simulators::server::RunningServer;

struct Site {
    sim: MoodleSim,
    server: RunningServer,
    http: reqwest::Client,
}

impl Site {
    async fn sample() -> Self {
        Self::with(MoodleSim::sample_site()).await
    }

    async fn with(sim: MoodleSim) -> Self {
        let server = sim.start().await.unwrap();
        Self {
            sim,
            server,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self) -> String {
        format!("{}/webservice/rest/server.php", self.server.base_url)
    }

    async fn raw(&self, body: String) -> reqwest::Response {
        self.http
            .post(self.url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn call_with(&self, token: &str, function: &str, params: &[(&str, &str)]) -> Value {
        let mut form: Vec<(&str, &str)> = vec![
            ("wstoken", token),
            ("wsfunction", function),
            ("moodlewsrestformat", "json"),
        ];
        form.extend_from_slice(params);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = self.raw(body).await;
        assert_eq!(resp.status(), 200);
        serde_json::from_str(&resp.text().await.unwrap()).unwrap()
    }

    async fn call(&self, function: &str, params: &[(&str, &str)]) -> Value {
        self.call_with(SAMPLE_TOKEN, function, params).await
    }
}

fn errorcode(v: &Value) -> &str {
    v["errorcode"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {v}"))
}

fn new_user<'a>(i: usize, username: &'a str, email: &'a str) -> Vec<(String, &'a str)> {
    vec![
        (format!("users[{i}][username]"), username),
        (format!("users[{i}][password]"), "Sample#1234"),
        (format!("users[{i}][firstname]"), "New"),
        (format!("users[{i}][lastname]"), "User"),
        (format!("users[{i}][email]"), email),
    ]
}

fn refs(v: &[(String, &'static str)]) -> Vec<(&'static str, &'static str)> {
    v.iter()
        .map(|(k, val)| (&*Box::leak(k.clone().into_boxed_str()), *val))
        .collect()
}

async fn token_php(site: &Site, form: &[(&str, &str)]) -> Value {
    let resp = site
        .http
        .post(format!("{}/login/token.php", site.server.base_url))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

fn item(report: &Value, cmid: i64) -> &Value {
    report["usergrades"][0]["gradeitems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["cmid"] == cmid)
        .unwrap()
}

fn course_total(report: &Value) -> &Value {
    report["usergrades"][0]["gradeitems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["itemtype"] == "course")
        .unwrap()
}

fn status_of(v: &Value, cmid: i64) -> (i64, i64) {
    let s = v["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["cmid"] == cmid)
        .unwrap();
    (
        s["state"].as_i64().unwrap(),
        s["timecompleted"].as_i64().unwrap(),
    )
}

mod enrolments;
mod grades;
mod protocol;
mod site;
mod writes;
