//! An SMS simulator: the receiving end of learnbridge's deliveries, in both
//! formats, verifying their signatures as a careful SMS would:
//!
//! - JSON (`Content-Type: application/json`): `x-learnbridge-timestamp` and
//!   `x-learnbridge-signature: v1=<hex HMAC-SHA256 of "{timestamp}.{body}">`,
//!   timestamp within 300 s of the simulator's clock;
//! - Coachview XML (`application/xml`): `X-WebHook-Signature` = hex HMAC-SHA512 of the body.
//!
//! Switches: refuse with 404 "learner not recognised" until a date of the
//! simulator's (settable) clock or for the first N calls; answer 400, 401, 403,
//! 429 (with `Retry-After`), 500 or hang, once or always. Accepted messages are
//! recorded once per `Idempotency-Key`: a repeat is answered 200 and counted as
//! a duplicate, so a test can assert that exactly one was accepted.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use simulators::sms::SmsSim;
//! let sim = SmsSim::new("whsec_sms");
//! let server = sim.start().await?;
//! // POST signed deliveries to {server.base_url}/results ...
//! assert_eq!(sim.accepted().len(), 0);
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};

use crate::server::{self, RunningServer};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;
type HmacSha512 = hmac::Hmac<sha2::Sha512>;

/// How far a JSON delivery's timestamp may be from the simulator's clock.
pub const TOLERANCE_SECS: i64 = 300;

/// Which format a message came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    CoachviewXml,
}

/// One answer the simulator can be told to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canned {
    /// This status and body (e.g. 400 "grade must be a number", 401, 403, 500).
    Status(u16, String),
    /// 429 with `Retry-After: {secs}`.
    RateLimited { retry_after_secs: u64 },
    /// Hang this long before answering 200 (longer than the client's timeout).
    Hang(Duration),
}

/// One accepted message.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub format: Format,
    pub idempotency_key: Option<String>,
    pub body: String,
    /// The simulator's clock when it was accepted.
    pub at: DateTime<Utc>,
}

/// One request received (any outcome), for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub idempotency_key: Option<String>,
    pub status: u16,
    pub at: DateTime<Utc>,
}

#[derive(Default)]
struct Inner {
    secret: String,
    clock: Option<DateTime<Utc>>,
    refuse_until: Option<DateTime<Utc>>,
    refuse_calls: u32,
    next: VecDeque<Canned>,
    always: Option<Canned>,
    accepted: Vec<Accepted>,
    duplicates: usize,
    received: Vec<Received>,
}

/// The simulator. Cheap to clone: clones share state.
#[derive(Clone)]
pub struct SmsSim {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for SmsSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsSim").finish_non_exhaustive()
    }
}

impl SmsSim {
    /// A simulator that verifies signatures with `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                secret: secret.into(),
                ..Inner::default()
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the simulator's clock (a test's injected day); `None` = the real clock.
    pub fn set_clock(&self, now: Option<DateTime<Utc>>) {
        self.lock().clock = now;
    }

    /// Refuses every delivery with 404 "learner not recognised" while the
    /// simulator's clock is before `until`.
    pub fn refuse_until(&self, until: Option<DateTime<Utc>>) {
        self.lock().refuse_until = until;
    }

    /// Refuses the next `n` calls with 404 "learner not recognised".
    pub fn refuse_calls(&self, n: u32) {
        self.lock().refuse_calls = n;
    }

    /// Gives `answer` to the next call (queued after earlier ones).
    pub fn answer_next(&self, answer: Canned) {
        self.lock().next.push_back(answer);
    }

    /// Gives `answer` to every call until cleared with `None`.
    pub fn answer_always(&self, answer: Option<Canned>) {
        self.lock().always = answer;
    }

    /// Messages accepted, once per idempotency key.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.lock().accepted.clone()
    }

    /// Accepted repeats of an idempotency key (answered 200, not recorded again).
    pub fn duplicates(&self) -> usize {
        self.lock().duplicates
    }

    /// Every request received, in order.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// The Router: `POST` to any path receives a delivery; `GET /_sim/received`
    /// shows what was accepted (a person can check "the SMS receives") and
    /// `POST /_sim/switches` sets the refusal switches of a running simulator.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/_sim/received", axum::routing::get(show_received))
            .route("/_sim/switches", post(set_switches))
            .route("/", post(receive))
            .route("/{*path}", post(receive))
            .with_state(self.clone())
    }

    /// Applies `switches`: `clear` first, then what is given (what is left out
    /// stays as it is).
    pub fn apply(&self, switches: &SmsSwitches) {
        let mut inner = self.lock();
        if switches.clear == Some(true) {
            inner.refuse_calls = 0;
            inner.refuse_until = None;
            inner.always = None;
            inner.next.clear();
        }
        if let Some(n) = switches.refuse_calls {
            inner.refuse_calls = n;
        }
        if let Some(until) = switches.refuse_until {
            inner.refuse_until = Some(until);
        }
        if let Some(status) = switches.answer_always {
            inner.always = (status != 200).then(|| {
                Canned::Status(
                    status,
                    format!("the SMS simulator answers {status} (switch)"),
                )
            });
        }
    }

    /// Serves it on a free loopback port.
    pub async fn start(&self) -> std::io::Result<RunningServer> {
        server::serve(self.router()).await
    }
}

/// Refusal switches, from the command line or `POST /_sim/switches` (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSwitches {
    /// Refuse the next N deliveries with 404 "learner not recognised".
    pub refuse_calls: Option<u32>,
    /// Refuse every delivery with 404 until this instant (RFC 3339).
    pub refuse_until: Option<DateTime<Utc>>,
    /// Answer every delivery with this status (200 clears it).
    pub answer_always: Option<u16>,
    /// Clear every switch first.
    pub clear: Option<bool>,
}

async fn set_switches(
    State(sim): State<SmsSim>,
    body: Result<axum::Json<SmsSwitches>, axum::extract::rejection::JsonRejection>,
) -> Response {
    match body {
        Ok(axum::Json(switches)) => {
            sim.apply(&switches);
            show_received(State(sim)).await
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": "invalid", "message": e.body_text()})),
        )
            .into_response(),
    }
}

/// What was accepted (each body as JSON when it is JSON), the duplicates, every
/// request's status, and the switches in force.
async fn show_received(State(sim): State<SmsSim>) -> Response {
    let inner = sim.lock();
    let accepted: Vec<serde_json::Value> = inner
        .accepted
        .iter()
        .map(|a| {
            let body = serde_json::from_str::<serde_json::Value>(&a.body)
                .unwrap_or_else(|_| serde_json::Value::String(a.body.clone()));
            serde_json::json!({
                "format": match a.format { Format::Json => "json", Format::CoachviewXml => "coachview_xml" },
                "idempotency_key": a.idempotency_key,
                "at": a.at,
                "body": body,
            })
        })
        .collect();
    let received: Vec<serde_json::Value> = inner
        .received
        .iter()
        .map(|r| serde_json::json!({"idempotency_key": r.idempotency_key, "status": r.status, "at": r.at}))
        .collect();
    let always = match &inner.always {
        Some(Canned::Status(status, _)) => Some(*status),
        Some(Canned::RateLimited { .. }) => Some(429),
        Some(Canned::Hang(_)) | None => None,
    };
    axum::Json(serde_json::json!({
        "accepted": accepted,
        "duplicates": inner.duplicates,
        "received": received,
        "switches": {
            "refuse_calls": inner.refuse_calls,
            "refuse_until": inner.refuse_until,
            "answer_always": always,
        },
    }))
    .into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn verify_json(secret: &[u8], headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> bool {
    let (Some(ts), Some(sig)) = (
        header(headers, "x-learnbridge-timestamp"),
        header(headers, "x-learnbridge-signature"),
    ) else {
        return false;
    };
    let Ok(sent) = ts.trim().parse::<i64>() else {
        return false;
    };
    if (now.timestamp() - sent).abs() > TOLERANCE_SECS {
        return false;
    }
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return false;
    };
    mac.update(ts.trim().as_bytes());
    mac.update(b".");
    mac.update(body);
    sig.split_whitespace()
        .filter_map(|s| s.strip_prefix("v1="))
        .filter_map(|h| hex::decode(h).ok())
        .any(|bytes| mac.clone().verify_slice(&bytes).is_ok())
}

fn verify_xml(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(sig) = header(headers, "x-webhook-signature") else {
        return false;
    };
    let Ok(bytes) = hex::decode(sig.trim()) else {
        return false;
    };
    let Ok(mut mac) = HmacSha512::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

fn plain(status: u16, body: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, body.into()).into_response()
}

async fn receive(State(sim): State<SmsSim>, headers: HeaderMap, body: Bytes) -> Response {
    let key = header(&headers, "idempotency-key").map(str::to_owned);
    let content_type = header(&headers, "content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let (response, hang) = {
        let mut inner = sim.lock();
        let now = inner.clock.unwrap_or_else(Utc::now);
        let (status, response, hang) =
            decide(&mut inner, &headers, &content_type, &body, now, &key);
        inner.received.push(Received {
            idempotency_key: key.clone(),
            status,
            at: now,
        });
        (response, hang)
    };
    if let Some(hang) = hang {
        tokio::time::sleep(hang).await;
    }
    response
}

fn decide(
    inner: &mut Inner,
    headers: &HeaderMap,
    content_type: &str,
    body: &[u8],
    now: DateTime<Utc>,
    key: &Option<String>,
) -> (u16, Response, Option<Duration>) {
    let format = if content_type.starts_with("application/json") {
        Format::Json
    } else if content_type.starts_with("application/xml") || content_type.starts_with("text/xml") {
        Format::CoachviewXml
    } else {
        return (415, plain(415, "unsupported content type"), None);
    };
    let verified = match format {
        Format::Json => verify_json(inner.secret.as_bytes(), headers, body, now),
        Format::CoachviewXml => verify_xml(inner.secret.as_bytes(), headers, body),
    };
    if !verified {
        return (401, plain(401, "signature verification failed"), None);
    }
    let canned = inner.next.pop_front().or_else(|| inner.always.clone());
    let mut hang = None;
    match canned {
        Some(Canned::Status(status, text)) => return (status, plain(status, text), None),
        Some(Canned::RateLimited { retry_after_secs }) => {
            let response = (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after_secs.to_string())],
                "slow down",
            )
                .into_response();
            return (429, response, None);
        }
        Some(Canned::Hang(d)) => hang = Some(d),
        None => {}
    }
    if inner.refuse_calls > 0 {
        inner.refuse_calls -= 1;
        return (404, plain(404, "learner not recognised"), None);
    }
    if inner.refuse_until.is_some_and(|until| now < until) {
        return (404, plain(404, "learner not recognised"), None);
    }
    let duplicate = key.is_some()
        && inner
            .accepted
            .iter()
            .any(|a| a.idempotency_key.as_ref() == key.as_ref());
    if duplicate {
        inner.duplicates += 1;
    } else {
        inner.accepted.push(Accepted {
            format,
            idempotency_key: key.clone(),
            body: String::from_utf8_lossy(body).into_owned(),
            at: now,
        });
    }
    (200, plain(200, "{\"status\":\"accepted\"}"), hang)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sign_json(secret: &[u8], ts: i64, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret).unwrap();
        mac.update(ts.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn sign_xml(secret: &[u8], body: &[u8]) -> String {
        let mut mac = HmacSha512::new_from_slice(secret).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[tokio::test]
    async fn a_person_drives_the_switches_and_reads_what_was_received_over_http() {
        let sim = SmsSim::new("s3cret");
        let server = sim.start().await.unwrap();
        let http = reqwest::Client::new();
        let base = server.base_url.clone();
        let switches = |body: serde_json::Value| {
            http.post(format!("{base}/_sim/switches"))
                .json(&body)
                .send()
        };
        let r = switches(serde_json::json!({"refuse_calls": 1, "answer_always": 500}))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let shown: serde_json::Value = r.json().await.unwrap();
        assert_eq!(shown["switches"]["refuse_calls"], 1);
        assert_eq!(shown["switches"]["answer_always"], 500);
        let bad = switches(serde_json::json!({"refuse": true})).await.unwrap();
        assert_eq!(bad.status(), 400);

        let now = Utc::now();
        let body = br#"{"kind":"result","learner":"X1"}"#;
        let send = || {
            http.post(format!("{base}/results"))
                .header("content-type", "application/json")
                .header("x-learnbridge-timestamp", now.timestamp().to_string())
                .header(
                    "x-learnbridge-signature",
                    sign_json(b"s3cret", now.timestamp(), body),
                )
                .header("idempotency-key", "d1")
                .body(body.to_vec())
                .send()
        };
        assert_eq!(send().await.unwrap().status(), 500);
        switches(serde_json::json!({"clear": true, "refuse_calls": 1}))
            .await
            .unwrap();
        assert_eq!(send().await.unwrap().status(), 404);
        assert_eq!(send().await.unwrap().status(), 200);
        let shown: serde_json::Value = http
            .get(format!("{base}/_sim/received"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(shown["accepted"][0]["body"]["learner"], "X1", "{shown}");
        assert_eq!(shown["accepted"][0]["format"], "json");
        let statuses: Vec<u64> = shown["received"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_u64().unwrap())
            .collect();
        assert_eq!(statuses, [500, 404, 200]);
    }

    #[tokio::test]
    async fn verifies_both_formats_dedupes_and_follows_switches() {
        let sim = SmsSim::new("s3cret");
        let server = sim.start().await.unwrap();
        let http = reqwest::Client::new();
        let url = format!("{}/results", server.base_url);
        let now = Utc::now();
        let json = br#"{"x":1}"#;
        let send_json = |key: &'static str, sig: String| {
            http.post(&url)
                .header("content-type", "application/json")
                .header("x-learnbridge-timestamp", now.timestamp().to_string())
                .header("x-learnbridge-signature", sig)
                .header("idempotency-key", key)
                .body(json.to_vec())
                .send()
        };
        let good = sign_json(b"s3cret", now.timestamp(), json);
        assert_eq!(send_json("k1", "v1=00".into()).await.unwrap().status(), 401);
        sim.refuse_calls(1);
        let r = send_json("k1", good.clone()).await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.text().await.unwrap(), "learner not recognised");
        sim.answer_next(Canned::RateLimited {
            retry_after_secs: 60,
        });
        let r = send_json("k1", good.clone()).await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "60");
        assert_eq!(send_json("k1", good.clone()).await.unwrap().status(), 200);
        assert_eq!(send_json("k1", good.clone()).await.unwrap().status(), 200);
        assert_eq!(sim.accepted().len(), 1);
        assert_eq!(sim.duplicates(), 1);

        let xml = b"<ResultMessage/>";
        let r = http
            .post(&url)
            .header("content-type", "application/xml")
            .header("x-webhook-signature", sign_xml(b"s3cret", xml))
            .header("idempotency-key", "k2")
            .body(xml.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(sim.accepted()[1].format, Format::CoachviewXml);

        sim.set_clock(Some(now));
        sim.refuse_until(Some(now + chrono::TimeDelta::days(3)));
        assert_eq!(send_json("k3", good.clone()).await.unwrap().status(), 404);
        sim.set_clock(Some(now + chrono::TimeDelta::days(3)));
        assert_eq!(
            send_json("k3", good).await.unwrap().status(),
            401,
            "the timestamp is now 3 days off the simulator's clock"
        );
        assert_eq!(sim.received().len(), 8);
    }
}
