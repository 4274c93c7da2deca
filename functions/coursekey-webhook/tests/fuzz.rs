#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Fuzzing (proptest) of the webhook's request handling through its Router:
//! arbitrary routes, headers and bodies, and bodies that are signed correctly
//! (so they reach the parser) built from arbitrary bytes, arbitrary JSON and
//! mutations of the recorded CourseKey delivery. The function never panics;
//! it answers 202 with counts that match what was stored, or a JSON error body
//! naming the field (400, 401, 404, 405, 413).
//!
//! The stores are in memory here (the same Router runs over moto in
//! `tests/handler.rs`), so thousands of requests take seconds. 256 cases per
//! property by default; `FUZZ_CASES=20000` (or `PROPTEST_CASES`) runs longer.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use coursekey_webhook::{Deps, handler};
use domain::ports::{
    AttendanceInbox, ConnectionStore, EnqueueFailure, JobQueue, QueueError, SecretError,
    SecretSource, StoreError, Written,
};
use domain::{Connection, ConnectionId, Job, TenantId};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const SECRET: &str = "whsec_fuzz_coursekey_acme_0001";
const ROUTE: &str = "acme/coursekey-main";

fn signed_at() -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_399_200, 0).unwrap()
}

struct Connections(Connection);
#[async_trait]
impl ConnectionStore for Connections {
    async fn enabled_connections(&self) -> Result<Vec<Connection>, StoreError> {
        Ok(vec![self.0.clone()])
    }
    async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError> {
        Ok((&self.0.tenant == tenant && &self.0.id == id).then(|| self.0.clone()))
    }
    async fn connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, StoreError> {
        Ok(if &self.0.tenant == tenant {
            vec![self.0.clone()]
        } else {
            vec![]
        })
    }
    async fn save_connection(&self, _: &Connection) -> Result<(), StoreError> {
        Ok(())
    }
    async fn create_connection(&self, _: &Connection) -> Result<Written, StoreError> {
        Ok(Written::Done)
    }
}

struct Secrets;
#[async_trait]
impl SecretSource for Secrets {
    async fn secret(&self, name: &str) -> Result<secrecy::SecretString, SecretError> {
        if name.ends_with("acme/coursekey-main") {
            Ok(SECRET.into())
        } else {
            Err(SecretError::NotFound {
                name: name.to_owned(),
            })
        }
    }
}

#[derive(Default)]
struct Inbox(Mutex<HashSet<String>>);
#[async_trait]
impl AttendanceInbox for Inbox {
    async fn store_record(
        &self,
        _: &TenantId,
        _: &ConnectionId,
        record_id: &str,
        _: &str,
        _: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        Ok(if self.0.lock().unwrap().insert(record_id.to_owned()) {
            Written::Done
        } else {
            Written::AlreadyDone
        })
    }
}

#[derive(Default)]
struct Queue(Mutex<Vec<Job>>);
#[async_trait]
impl JobQueue for Queue {
    async fn enqueue(&self, jobs: &[Job]) -> Result<Vec<EnqueueFailure>, QueueError> {
        self.0.lock().unwrap().extend_from_slice(jobs);
        Ok(vec![])
    }
    async fn enqueue_delayed(&self, job: &Job, _: u32) -> Result<(), QueueError> {
        self.0.lock().unwrap().push(job.clone());
        Ok(())
    }
}

fn deps() -> (Deps, Arc<Queue>) {
    let queue = Arc::new(Queue::default());
    let conn = cloud::testing::connection(
        "acme",
        "coursekey-main",
        domain::ConnectionKind::CourseKey,
        true,
    );
    (
        Deps {
            connections: Arc::new(Connections(conn)),
            secrets: Arc::new(Secrets),
            inbox: Arc::new(Inbox::default()),
            queue: queue.clone(),
            secret_prefix: "fuzz/connections".to_owned(),
            now: signed_at,
        },
        queue,
    )
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Sends a request through the Router; the status and the JSON body.
fn send(deps: &Deps, request: http::Request<axum::body::Body>) -> (u16, Value) {
    runtime().block_on(async {
        let response = handler::app(deps.clone()).oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("HTTP {status}: the body is not JSON: {bytes:?}"));
        (status, body)
    })
}

fn signed(body: Vec<u8>) -> http::Request<axum::body::Body> {
    let ts = signed_at().timestamp();
    let sig = connectors::signature::sign_route(SECRET.as_bytes(), ts, ROUTE, &body);
    http::Request::post(format!("/webhooks/coursekey/{ROUTE}"))
        .header("content-type", "application/json")
        .header("x-learnbridge-timestamp", ts.to_string())
        .header("x-learnbridge-signature", sig)
        .body(axum::body::Body::from(body))
        .unwrap()
}

fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default.cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..default
    }
}

/// The checks every answer passes: a known status, JSON, and for a refusal
/// an error code and the field a person should look at (except 404/405).
fn check_answer(
    status: u16,
    body: &Value,
    queue: &Queue,
    sent_ids: Option<usize>,
) -> Result<(), TestCaseError> {
    match status {
        202 => {
            let accepted = body["accepted"].as_u64().unwrap();
            let duplicates = body["duplicates"].as_u64().unwrap();
            if let Some(ids) = sent_ids {
                prop_assert_eq!(usize::try_from(accepted + duplicates).unwrap(), ids);
            }
            let queued: usize = queue
                .0
                .lock()
                .unwrap()
                .iter()
                .map(|j| match j {
                    Job::ProcessAttendance { record_ids, .. } => record_ids.len(),
                    _ => 0,
                })
                .sum();
            prop_assert_eq!(queued, usize::try_from(accepted).unwrap());
        }
        400 | 401 | 413 => {
            prop_assert!(body["error"].is_string(), "{}", body);
            prop_assert!(body["field"].is_string(), "{}", body);
            prop_assert!(body["message"].is_string(), "{}", body);
            prop_assert!(!body.to_string().contains(SECRET), "the secret never shows");
        }
        404 | 405 => prop_assert!(body["error"].is_string(), "{}", body),
        other => prop_assert!(false, "unexpected HTTP {}: {}", other, body),
    }
    Ok(())
}

/// Record ids as a sender might make them: the usual, empty, blank, long, odd.
fn any_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        "ck-att-[0-9]{1,6}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
        Just(Value::String(String::new())),
        Just(Value::String("   ".into())),
        "[a-z]{129,140}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn any_record() -> impl Strategy<Value = Value> {
    (
        prop::option::of(any_id()),
        prop::option::of(any::<String>()),
        prop::option::of(prop_oneof![
            Just(Value::String("2026-11-22T22:58:00Z".into())),
            any::<String>().prop_map(Value::String),
            any::<i64>().prop_map(Value::from),
            Just(Value::Null),
        ]),
        any::<bool>(),
    )
        .prop_map(|(id, student, check_in, array_instead)| {
            if array_instead {
                return Value::Array(vec![]);
            }
            let mut record = serde_json::Map::new();
            if let Some(id) = id {
                record.insert("id".into(), id);
            }
            if let Some(s) = student {
                record.insert("student_id".into(), Value::String(s));
            }
            record.insert("class_id".into(), Value::String("C-2026-11-23-0900".into()));
            if let Some(c) = check_in {
                record.insert("check_in".into(), c);
            }
            Value::Object(record)
        })
}

fn any_envelope() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop::collection::vec(any_record(), 0..12).prop_map(|r| serde_json::json!({"records": r})),
        1 => prop::collection::vec(any_record(), 0..4).prop_map(Value::Array),
        1 => any::<String>().prop_map(|s| serde_json::json!({"records": s})),
        1 => Just(serde_json::json!({"records": null})),
        1 => Just(serde_json::json!({})),
        1 => (1usize..4, any::<u64>()).prop_map(|(n, seed)| {
            // Over the per-request limit.
            let records: Vec<Value> = (0..(handler::MAX_RECORDS + n))
                .map(|i| serde_json::json!({"id": format!("r-{seed}-{i}")}))
                .collect();
            serde_json::json!({ "records": records })
        }),
    ]
}

fn distinct_valid_ids(body: &Value) -> Option<usize> {
    let records = body.get("records")?.as_array()?;
    let mut ids = HashSet::new();
    for r in records {
        let id = r.get("id")?.as_str()?;
        if id.trim().is_empty() || id.len() > handler::MAX_RECORD_ID_LEN {
            return None;
        }
        ids.insert(id.to_owned());
    }
    Some(ids.len())
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes, correctly signed, reach the parser: 202 or a typed refusal.
    #[test]
    fn any_signed_bytes_get_an_answer(body in prop::collection::vec(any::<u8>(), 0..4096)) {
        let (deps, queue) = deps();
        let (status, answer) = send(&deps, signed(body));
        check_answer(status, &answer, &queue, None)?;
    }

    /// Structured envelopes, correctly signed: the counts add up to the
    /// distinct ids sent, each new one queued once; bad ids name their field.
    #[test]
    fn signed_envelopes_are_stored_or_refused_by_field(body in any_envelope(), twice in any::<bool>()) {
        let (deps, queue) = deps();
        let bytes = serde_json::to_vec(&body).unwrap();
        let (status, answer) = send(&deps, signed(bytes.clone()));
        let expected = distinct_valid_ids(&body).filter(|n| *n <= handler::MAX_RECORDS);
        check_answer(status, &answer, &queue, expected)?;
        prop_assert_eq!(status == 202, expected.is_some(), "{}", answer);
        if status == 400 {
            let field = answer["field"].as_str().unwrap();
            prop_assert!(field == "body" || field == "records" || field.starts_with("records["), "{}", field);
        }
        if twice && status == 202 {
            // CourseKey's retry of the same delivery: all duplicates, nothing queued again.
            let before = queue.0.lock().unwrap().len();
            let (status, again) = send(&deps, signed(bytes));
            prop_assert_eq!(status, 202);
            prop_assert_eq!(again["accepted"].as_u64(), Some(0));
            prop_assert_eq!(queue.0.lock().unwrap().len(), before);
        }
    }

    /// Arbitrary routes, headers and bodies, unsigned or badly signed: refused
    /// (401 naming the header, 404, 405), never stored.
    #[test]
    fn unsigned_requests_are_refused_without_a_panic(
        tenant in prop_oneof!["[a-z0-9-]{1,10}", any::<String>()],
        connection in prop_oneof![Just("coursekey-main".to_owned()), any::<String>()],
        timestamp in prop::option::of(prop_oneof![any::<i64>().prop_map(|t| t.to_string()), any::<String>()]),
        signature in prop::option::of(prop_oneof!["v1=[0-9a-f]{64}", any::<String>()]),
        method in prop::sample::select(vec!["POST", "GET", "PUT"]),
        body in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        let (deps, queue) = deps();
        let enc = |s: &str| percent_encode(s);
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("/webhooks/coursekey/{}/{}", enc(&tenant), enc(&connection)));
        if let Some(t) = timestamp.as_deref().and_then(|t| http::HeaderValue::from_str(t).ok()) {
            request = request.header("x-learnbridge-timestamp", t);
        }
        if let Some(s) = signature.as_deref().and_then(|s| http::HeaderValue::from_str(s).ok()) {
            request = request.header("x-learnbridge-signature", s);
        }
        let (status, answer) = send(&deps, request.body(axum::body::Body::from(body)).unwrap());
        check_answer(status, &answer, &queue, None)?;
        prop_assert_ne!(status, 202, "{}", answer);
        prop_assert!(queue.0.lock().unwrap().is_empty());
    }
}

/// Every byte outside the unreserved set, percent-encoded (a path segment).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
