//! Fuzzing (proptest, no nightly toolchain needed) of what arrives from outside:
//! the webhook signature check over arbitrary headers, bodies, clocks and
//! tolerances, and the Moodle answer parsers over arbitrary bytes and over
//! structure-aware mutations of every recorded answer in
//! `tests/fixtures/moodle-samples` (the JSON of every web service function and
//! Moodle's exception body). Nothing may panic, and every failure must be a
//! typed error: a Moodle answer is its typed response, a [`MoodleError`] mapped
//! from an exception body, or `Malformed`.
//!
//! Bounded for CI: 256 cases per property by default (a few seconds in all);
//! `FUZZ_CASES=100000 cargo test -p connectors --test fuzz` (or proptest's own
//! `PROPTEST_CASES`) runs longer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Utc};
use connectors::moodle::types::*;
use connectors::moodle::*;
use connectors::signature::{self, SignatureError};
use proptest::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default.cases);
    ProptestConfig {
        cases,
        // A found case is printed; CI keeps no files between runs.
        failure_persistence: None,
        ..default
    }
}

// ---- the webhook signature ----

fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    (DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp())
        .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

/// Timestamps as a sender might put them in the header: numbers of any size,
/// signs, spaces, exponents, garbage.
fn any_timestamp_header() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|t| t.to_string()),
        any::<i128>().prop_map(|t| t.to_string()),
        "[ +-]?[0-9]{0,40}[ ]?",
        "[0-9.eE+-]{0,12}",
        any::<String>(),
    ]
}

fn any_signature_header() -> impl Strategy<Value = String> {
    prop_oneof![
        "v1=[0-9a-f]{64}",
        "(v[0-9]=[0-9a-fA-F]{0,70} ?){0,4}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any header, body, clock and tolerance: an answer, never a panic (no
    /// overflow in the skew), and only a correctly signed, fresh request passes.
    #[test]
    fn signature_verification_is_total(
        secret in prop::collection::vec(any::<u8>(), 0..80),
        timestamp in prop::option::of(any_timestamp_header()),
        sig in prop::option::of(any_signature_header()),
        route in any::<String>(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        now in any_instant(),
        tolerance in any::<i64>(),
    ) {
        let verdict = signature::verify_route(
            &secret, timestamp.as_deref(), sig.as_deref(), &route, &body, now, tolerance,
        );
        let plain = signature::verify(
            &secret, timestamp.as_deref(), sig.as_deref(), &body, now, tolerance,
        );
        for result in [verdict, plain] {
            if let Err(e) = result {
                // Every refusal names a header and says why.
                prop_assert!(!e.field().is_empty());
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    /// A correctly signed request at any instant passes within the tolerance,
    /// and a single flipped body byte never does.
    #[test]
    fn a_signed_request_passes_and_a_changed_one_does_not(
        secret in prop::collection::vec(any::<u8>(), 1..64),
        route in "[a-z0-9-]{1,20}/[a-z0-9-]{1,20}",
        body in prop::collection::vec(any::<u8>(), 1..512),
        at in any_instant(),
        skew in -300i64..=300,
        flip in any::<prop::sample::Index>(),
    ) {
        let signed_at = at.timestamp();
        let header = signature::sign_route(&secret, signed_at, &route, &body);
        let now = DateTime::from_timestamp(signed_at.saturating_add(skew), 0).unwrap_or(at);
        let stamp = signed_at.to_string();
        prop_assert_eq!(
            signature::verify_route(&secret, Some(&stamp), Some(&header), &route, &body, now, 300),
            Ok(())
        );
        let mut changed = body.clone();
        let i = flip.index(changed.len());
        changed[i] ^= 0x01;
        prop_assert_eq!(
            signature::verify_route(&secret, Some(&stamp), Some(&header), &route, &changed, now, 300),
            Err(SignatureError::Mismatch)
        );
    }
}

// ---- Moodle's answers ----

/// Parses an answer with the typed response its function has in the client.
fn parse_typed(function: WsFunction, body: &[u8]) -> Result<(), MoodleError> {
    use WsFunction::*;
    fn p<R: serde::de::DeserializeOwned + std::fmt::Debug>(
        f: WsFunction,
        body: &[u8],
    ) -> Result<(), MoodleError> {
        // Formatting the value walks all of it, as a caller would.
        let value = parse_answer::<R>(f, body)?;
        let _ = format!("{value:?}");
        Ok(())
    }
    match function {
        GetSiteInfo => p::<SiteInfo>(function, body),
        GetCategories => p::<Vec<Category>>(function, body),
        GetCoursesByField => p::<CoursesByField>(function, body),
        GetCourses => p::<Vec<Course>>(function, body),
        GetContents => p::<Vec<CourseSection>>(function, body),
        GetCourseModule => p::<CourseModuleResponse>(function, body),
        CreateCourses => p::<Vec<CreatedCourse>>(function, body),
        UpdateCourses | UpdateUsers => p::<WarningsOnly>(function, body),
        ImportCourse | EnrolUsers | UnenrolUsers => p::<Option<Value>>(function, body),
        GetUsers => p::<UsersResponse>(function, body),
        GetUsersByField => p::<Vec<User>>(function, body),
        CreateUsers => p::<Vec<CreatedUser>>(function, body),
        GetEnrolledUsers => p::<Vec<EnrolledUser>>(function, body),
        GetUsersCourses => p::<Vec<UserCourse>>(function, body),
        GetGradeItems => p::<GradeItemsResponse>(function, body),
        GetActivitiesCompletionStatus => p::<ActivitiesCompletion>(function, body),
        GetCourseCompletionStatus => p::<CourseCompletionResponse>(function, body),
        GetMobileConfig => p::<MobileConfig>(function, body),
        LegacyGetGrades => p::<LegacyGradesResponse>(function, body),
    }
}

/// Every recorded answer body (JSON), with the function that gave it:
/// the examples of each function's file and every error sample.
fn samples() -> &'static Vec<(WsFunction, Value)> {
    static SAMPLES: OnceLock<Vec<(WsFunction, Value)>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let dir = PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
        )
        .join("tests/fixtures/moodle-samples");
        let read = |path: &Path| -> Value {
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let as_json = |body: &Value| match body {
            Value::String(s) => serde_json::from_str(s).ok(),
            other => Some(other.clone()),
        };
        let mut out = Vec::new();
        for f in WsFunction::ALL {
            let file = read(&dir.join(format!("{}.json", f.name())));
            for example in file["examples"].as_array().unwrap() {
                if let Some(body) = as_json(&example["response"]["body"]) {
                    out.push((f, body));
                }
            }
        }
        for entry in std::fs::read_dir(dir.join("errors")).unwrap() {
            let path = entry.unwrap().path();
            let sample = read(&path);
            let called = sample["request"]["params"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p[0] == "wsfunction"))
                .and_then(|p| p[1].as_str())
                .and_then(|name| WsFunction::ALL.iter().copied().find(|f| f.name() == name));
            if let (Some(f), Some(body)) = (called, as_json(&sample["response"]["body"])) {
                out.push((f, body));
            }
        }
        assert!(out.len() >= 80, "only {} samples", out.len());
        out
    })
}

/// What a failed parse may be: the typed error of an exception body, or
/// `Malformed` naming the function. Display and source chain must work.
fn assert_typed(function: WsFunction, e: &MoodleError) -> Result<(), TestCaseError> {
    let shown = e.to_string();
    prop_assert!(!shown.is_empty());
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = s.to_string();
        source = s.source();
    }
    if let MoodleError::Malformed {
        function: named, ..
    } = e
    {
        prop_assert_eq!(*named, function.name());
    }
    // Classification is total too.
    let _ = e.is_retryable();
    Ok(())
}

/// Arbitrary JSON: what a broken proxy, plugin or future Moodle might send.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            any::<String>(),
            "-?[0-9]{1,30}(\\.[0-9]{0,10})?",
            Just(String::new()),
            Just("exception".to_owned()),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,12}",
                    Just("exception".to_owned()),
                    Just("errorcode".to_owned()),
                    Just("message".to_owned()),
                    Just("debuginfo".to_owned()),
                    Just("warnings".to_owned()),
                    Just("id".to_owned()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One change to a recorded answer, at the node `at` (an index into its nodes
/// in document order, taken modulo their number).
#[derive(Debug, Clone)]
enum Mutation {
    Replace {
        at: usize,
        with: Value,
    },
    Remove {
        at: usize,
    },
    Duplicate {
        at: usize,
    },
    WrapInArray {
        at: usize,
    },
    /// A number as a string, a string that looks like a number as a number.
    FlipNumberString {
        at: usize,
    },
    /// Turns the answer into Moodle's error body shape around this node.
    Exception {
        with: Value,
    },
}

fn any_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any_json()).prop_map(|(at, with)| Mutation::Replace { at, with }),
        2 => any::<usize>().prop_map(|at| Mutation::Remove { at }),
        1 => any::<usize>().prop_map(|at| Mutation::Duplicate { at }),
        1 => any::<usize>().prop_map(|at| Mutation::WrapInArray { at }),
        2 => any::<usize>().prop_map(|at| Mutation::FlipNumberString { at }),
        1 => any_json().prop_map(|with| Mutation::Exception { with }),
    ]
}

/// JSON pointers of every node, in document order (the root first).
fn pointers(value: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{here}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(v, format!("{here}/{k}"), out);
            }
        }
        _ => {}
    }
}

fn apply(value: &mut Value, mutation: &Mutation) {
    let mut all = Vec::new();
    pointers(value, String::new(), &mut all);
    let pick = |at: usize| all[at % all.len()].clone();
    match mutation {
        Mutation::Replace { at, with } => {
            if let Some(node) = value.pointer_mut(&pick(*at)) {
                *node = with.clone();
            }
        }
        Mutation::Remove { at } | Mutation::Duplicate { at } => {
            let target = pick(*at);
            let Some((parent, last)) = target.rsplit_once('/') else {
                // The root: removing it leaves an empty body.
                if matches!(mutation, Mutation::Remove { .. }) {
                    *value = Value::Null;
                }
                return;
            };
            let last = last.replace("~1", "/").replace("~0", "~");
            match value.pointer_mut(parent) {
                Some(Value::Array(items)) => {
                    if let Ok(i) = last.parse::<usize>()
                        && i < items.len()
                    {
                        if matches!(mutation, Mutation::Remove { .. }) {
                            items.remove(i);
                        } else {
                            let copy = items[i].clone();
                            items.insert(i, copy);
                        }
                    }
                }
                Some(Value::Object(map)) => {
                    if matches!(mutation, Mutation::Remove { .. }) {
                        map.remove(&last);
                    } else if let Some(v) = map.get(&last).cloned() {
                        map.insert(format!("{last}_copy"), v);
                    }
                }
                _ => {}
            }
        }
        Mutation::WrapInArray { at } => {
            if let Some(node) = value.pointer_mut(&pick(*at)) {
                *node = Value::Array(vec![node.take()]);
            }
        }
        Mutation::FlipNumberString { at } => {
            if let Some(node) = value.pointer_mut(&pick(*at)) {
                *node = match node.take() {
                    Value::Number(n) => Value::String(n.to_string()),
                    Value::String(s) => s
                        .parse::<i64>()
                        .map(Value::from)
                        .or_else(|_| s.parse::<f64>().map(Value::from))
                        .unwrap_or(Value::String(s)),
                    other => other,
                };
            }
        }
        Mutation::Exception { with } => {
            let mut map = serde_json::Map::new();
            map.insert("exception".into(), with.clone());
            map.insert("errorcode".into(), value.take());
            map.insert("message".into(), Value::String("fuzzed".into()));
            *value = Value::Object(map);
        }
    }
}

fn any_function() -> impl Strategy<Value = WsFunction> {
    prop::sample::select(WsFunction::ALL.to_vec())
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes as the answer of any function.
    #[test]
    fn any_bytes_as_an_answer_give_a_typed_outcome(
        function in any_function(),
        body in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        if let Err(e) = parse_typed(function, &body) {
            assert_typed(function, &e)?;
        }
    }

    /// Arbitrary JSON as the answer of any function (deeper than random bytes get).
    #[test]
    fn any_json_as_an_answer_gives_a_typed_outcome(function in any_function(), body in any_json()) {
        let bytes = serde_json::to_vec(&body).unwrap();
        if let Err(e) = parse_typed(function, &bytes) {
            assert_typed(function, &e)?;
        }
    }

    /// Every recorded answer (results and exception bodies), changed a few
    /// times at random places, read as its function's answer.
    #[test]
    fn mutated_recorded_answers_give_a_typed_outcome(
        sample in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(any_mutation(), 1..5),
        truncate in prop::option::weighted(0.2, any::<prop::sample::Index>()),
    ) {
        let all = samples();
        let (function, body) = &all[sample.index(all.len())];
        let mut body = body.clone();
        for m in &mutations {
            apply(&mut body, m);
        }
        let mut bytes = serde_json::to_vec(&body).unwrap();
        if let Some(cut) = truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        if let Err(e) = parse_typed(*function, &bytes) {
            assert_typed(*function, &e)?;
        }
    }

    /// Moodle's exception body with any values (any errorcode, any message,
    /// debuginfo of any type) maps to a typed error for any function name.
    #[test]
    fn any_exception_body_maps_to_a_typed_error(
        function in any_function(),
        called in prop_oneof![any::<String>(), any_function().prop_map(|f| f.name().to_owned())],
        exception in prop_oneof![any::<String>(), Just("moodle_exception".to_owned()), Just("invalid_parameter_exception".to_owned())],
        errorcode in prop_oneof![
            any::<String>(),
            prop::sample::select(vec![
                "invalidtoken", "accessexception", "invalidrecord", "invalidparameter",
                "nopermissions", "usernotenroled", "notenroled", "servicenotavailable",
                "invalidrecordunknown", "errorcoursecontextnotvalid", "wsusercannotassign",
            ]).prop_map(str::to_owned),
        ],
        message in any::<String>(),
        debuginfo in prop::option::of(prop_oneof![any::<String>(), "Username already exists: [a-z.]{0,10}".prop_map(String::from)]),
    ) {
        let e = MoodleException { exception, errorcode, message, debuginfo };
        let mapped = MoodleError::from_exception_named(&called, e.clone());
        prop_assert!(!mapped.to_string().is_empty());
        let _ = mapped.is_retryable();
        let mapped = MoodleError::from_exception(function, e.clone());
        let typed = !matches!(mapped, MoodleError::Malformed { .. });
        prop_assert!(typed, "{:?}", mapped);
        // The same body through the client's parser.
        let mut body = serde_json::json!({
            "exception": e.exception, "errorcode": e.errorcode, "message": e.message,
        });
        if let Some(d) = e.debuginfo {
            body["debuginfo"] = Value::String(d);
        }
        let parsed = parse_typed(function, &serde_json::to_vec(&body).unwrap());
        let typed = matches!(&parsed, Err(e) if !matches!(e, MoodleError::Malformed { .. }));
        prop_assert!(typed, "{:?}", parsed);
    }
}
