#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Contract tests: every recorded request in the repository's copy of the Moodle samples
//! (`shared/connectors/tests/fixtures/moodle-samples/`, and its `errors/`) is replayed
//! against the simulated site its URL names (`127.0.0.1:8081`: `MoodleSim::sample_site()`,
//! `127.0.0.1:8880`: `MoodleSim::sample_site_sydney()`), on the path it was sent to, and
//! the answer is compared with the recorded one: same JSON keys at every level and the
//! same JSON types (numbers are one type), and for errors the same exception, errorcode
//! and message (and debuginfo when recorded). Values are compared too, except for keys
//! that depend on when the recording was made.
//!
//! The numbered stories (descriptions "Unenrol sequence, step N of M", ...) are replayed
//! in order on one site: step N runs after steps 1..N, at the times the samples give
//! for the calls that record "now", with what happened on the site between steps (a
//! student's quiz attempt) done through the simulator's API.

use std::path::PathBuf;

use serde_json::Value;
use simulators::moodle::MoodleSim;

fn samples_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
    .join("../connectors/tests/fixtures/moodle-samples")
}

#[derive(Debug, Clone)]
struct Example {
    file: String,
    function: String,
    name: String,
    description: String,
    url: String,
    form: String,
    content_type: String,
    status: u64,
    response_type: String,
    body: Value,
}

fn parse_example(file: &str, function: &str, e: &Value) -> Example {
    let request = &e["request"];
    let response = &e["response"];
    Example {
        file: file.to_owned(),
        function: function.to_owned(),
        name: e["name"].as_str().unwrap().to_owned(),
        description: e["description"].as_str().unwrap_or_default().to_owned(),
        url: request["url"].as_str().unwrap().to_owned(),
        form: request["form"].as_str().unwrap().to_owned(),
        content_type: request["content_type"].as_str().unwrap().to_owned(),
        status: response["http_status"].as_u64().unwrap(),
        response_type: response["content_type"].as_str().unwrap().to_owned(),
        body: response["body"].clone(),
    }
}

fn load_examples() -> Vec<Example> {
    let dir = samples_dir();
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let function = v["function"].as_str().unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for e in v["examples"].as_array().unwrap() {
            out.push(parse_example(&file, function, e));
        }
    }
    let mut errors: Vec<PathBuf> = std::fs::read_dir(dir.join("errors"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    errors.sort();
    for path in errors {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let file = format!("errors/{}", path.file_name().unwrap().to_string_lossy());
        out.push(parse_example(&file, v["function"].as_str().unwrap(), &v));
    }
    out
}

/// Earlier recorded calls an example depends on (the samples were recorded in sequence).
fn prerequisites(function: &str, name: &str) -> Vec<(&'static str, &'static str)> {
    const COURSE3: (&str, &str) = ("core_course_create_courses", "ok");
    const USER7: (&str, &str) = ("core_user_create_users", "ok");
    const USER8: (&str, &str) = ("core_user_create_users", "extended_chars");
    match (function, name) {
        ("core_course_update_courses", _) | ("core_course_delete_courses", _) => vec![COURSE3],
        ("core_course_import_course", _) => vec![COURSE3],
        ("core_course_get_contents", "after_import") => {
            vec![COURSE3, ("core_course_import_course", "ok")]
        }
        ("core_user_update_users", "ok" | "error_duplicate_username") => vec![USER7],
        ("core_user_create_users", "extended_chars") => vec![USER7],
        ("core_user_delete_users", _) => vec![USER7, USER8],
        ("enrol_manual_enrol_users", "again") => vec![USER7, ("enrol_manual_enrol_users", "ok")],
        ("enrol_manual_enrol_users", "with_dates") => vec![USER7, USER8, COURSE3],
        ("enrol_manual_enrol_users", _) => vec![USER7],
        ("enrol_manual_unenrol_users", "ok") => vec![USER7, ("enrol_manual_enrol_users", "ok")],
        ("enrol_manual_unenrol_users", _) => vec![USER7],
        _ => vec![],
    }
}

/// Keys whose values depend on when the samples were recorded.
const TIME_DEPENDENT: &[&str] = &[
    "timecreated",
    "timemodified",
    "cacherev",
    "added",
    "lastmodified",
    "startdate",
    "userprivateaccesskey",
    // Context ids depend on how many blocks and contexts the site created before.
    "contextid",
    "fileurl",
];

/// Answers whose order the simulator does not reproduce: compared sorted by this key.
fn unordered(function: &str) -> Option<(&'static str, &'static str)> {
    match function {
        "core_grades_get_gradeitems" => Some(("gradeItems", "id")),
        _ => None,
    }
}

/// HTML the simulator only sketches (an extra function the integration does not use).
fn html_paths(function: &str, path: &str) -> bool {
    function == "gradereport_user_get_grades_table" && path.ends_with(".itemname.content")
}

fn sort_by(v: &mut Value, list: &str, key: &str) {
    if let Some(items) = v.get_mut(list).and_then(Value::as_array_mut) {
        items.sort_by_key(|i| i[key].to_string());
    }
}

/// The site an example was recorded on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Site {
    First,
    Sydney,
}

fn site_of(e: &Example) -> Site {
    if e.url.starts_with("http://127.0.0.1:8880/") {
        Site::Sydney
    } else {
        assert!(
            e.url.starts_with("http://127.0.0.1:8081/"),
            "{} {}: unknown site {}",
            e.file,
            e.name,
            e.url
        );
        Site::First
    }
}

/// `("Unenrol", 3)` for an example described as "Unenrol sequence, step 3 of 9: ...".
fn sequence_step(e: &Example) -> Option<(String, u32)> {
    let (story, rest) = e.description.split_once(" sequence, step ")?;
    let step = rest.split(' ').next()?.parse().ok()?;
    Some((story.to_owned(), step))
}

/// When a recorded call that stamps "now" was made, as the samples state it: the
/// unenrolment of smp.unenrol ("its timecompleted is now the unenrolment time
/// (1796579337)") and the re-enrolment of smp.recover ("timecompleted = the re-enrolment
/// time (1796579356)").
fn recorded_at(story: &str, step: u32) -> Option<i64> {
    match (story, step) {
        ("Unenrol", 3) => Some(1_796_579_337),
        ("Recover", 3) => Some(1_796_579_356),
        _ => None,
    }
}

/// What happened on the recorded site before a step, outside the web services.
fn before_step(sim: &MoodleSim, story: &str, step: u32) {
    match (story, step) {
        // "recovergradesdefault=1 at re-enrolment" (a site setting, not a parameter).
        ("Recover", 1) => sim.set_recover_grades_default(true),
        // smp.retake's second attempt: 3 of 3 correct, finished 1796130600.
        ("Quiz retake", 3) => {
            sim.record_quiz_attempt(312, 12, 10.0, 1_796_130_300, 1_796_130_600);
        }
        _ => {}
    }
}

async fn post(base: &str, e: &Example) -> (u16, String, String) {
    let client = reqwest::Client::new();
    let path = e
        .url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap();
    let resp = client
        .post(format!("{base}{path}"))
        .header("content-type", &e.content_type)
        .body(e.form.clone())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

fn is_error(v: &Value) -> bool {
    v.get("exception").is_some() || v.get("errorcode").is_some()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences in keys, types and (non time-dependent) values.
fn diff_in(function: &str, path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    if type_name(expected) != type_name(actual) {
        out.push(format!(
            "{path}: type {} expected, got {} ({actual})",
            type_name(expected),
            type_name(actual)
        ));
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for k in e.keys() {
                if !a.contains_key(k) {
                    out.push(format!("{path}.{k}: missing"));
                }
            }
            for k in a.keys() {
                if !e.contains_key(k) {
                    out.push(format!("{path}.{k}: unexpected key"));
                }
            }
            for (k, ev) in e {
                if let Some(av) = a.get(k) {
                    if TIME_DEPENDENT.contains(&k.as_str()) {
                        if type_name(ev) != type_name(av) {
                            out.push(format!("{path}.{k}: type differs"));
                        }
                        continue;
                    }
                    let sub = format!("{path}.{k}");
                    if html_paths(function, &sub) {
                        if type_name(ev) != type_name(av) {
                            out.push(format!("{sub}: type differs"));
                        }
                        continue;
                    }
                    diff_in(function, &sub, ev, av, out);
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!(
                    "{path}: {} items expected, got {}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff_in(function, &format!("{path}[{i}]"), ev, av, out);
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            if (e.as_f64().unwrap() - a.as_f64().unwrap()).abs() > 1e-9 {
                out.push(format!("{path}: {e} expected, got {a}"));
            }
        }
        (e, a) => {
            if e != a {
                out.push(format!("{path}: {e} expected, got {a}"));
            }
        }
    }
}

fn xml_keys(xml: &str) -> Vec<String> {
    let mut keys: Vec<String> = xml
        .split("<KEY name=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

async fn check(all: &[Example], e: &Example) -> Vec<String> {
    let sim = match site_of(e) {
        Site::First => MoodleSim::sample_site(),
        Site::Sydney => MoodleSim::sample_site_sydney(),
    };
    if e.name.contains("debuginfo") {
        sim.set_debug(true);
    }
    let server = sim.start().await.unwrap();
    for (function, name) in prerequisites(&e.function, &e.name) {
        let pre = all
            .iter()
            .find(|x| x.function == function && x.name == name)
            .unwrap_or_else(|| panic!("prerequisite {function}/{name} not in the samples"));
        let (_, _, body) = post(&server.base_url, pre).await;
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(
            !is_error(&v),
            "prerequisite {function}/{name} of {}/{} failed: {v}",
            e.function,
            e.name
        );
    }
    if let Some((story, step)) = sequence_step(e) {
        // The earlier steps of the story, in order (each once: an error example is also
        // in errors/), each answered as recorded (an error where one was recorded).
        let mut earlier: Vec<(u32, &Example)> = all
            .iter()
            .filter(|x| !x.file.starts_with("errors/"))
            .filter_map(|x| {
                sequence_step(x)
                    .filter(|(s, n)| *s == story && *n < step)
                    .map(|(_, n)| (n, x))
            })
            .collect();
        earlier.sort_by_key(|(n, _)| *n);
        for (n, pre) in earlier {
            before_step(&sim, &story, n);
            if let Some(at) = recorded_at(&story, n) {
                sim.set_now(Some(at));
            }
            let (_, _, body) = post(&server.base_url, pre).await;
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                is_error(&v),
                is_error(&pre.body),
                "{story} step {n} ({}/{}) before {}/{}: {v}",
                pre.function,
                pre.name,
                e.function,
                e.name
            );
        }
        before_step(&sim, &story, step);
        if let Some(at) = recorded_at(&story, step) {
            sim.set_now(Some(at));
        }
    }
    let (status, ct, body) = post(&server.base_url, e).await;
    let mut problems = Vec::new();
    if u64::from(status) != e.status {
        problems.push(format!("HTTP {status}, expected {}", e.status));
    }
    if !ct.starts_with(e.response_type.split(';').next().unwrap()) {
        problems.push(format!("content-type {ct}, expected {}", e.response_type));
    }
    match &e.body {
        Value::String(expected_xml) => {
            if !body.starts_with("<?xml") {
                problems.push(format!("XML expected, got {body}"));
            }
            if xml_keys(expected_xml) != xml_keys(&body) {
                problems.push(format!(
                    "XML keys differ: expected {:?}, got {:?}",
                    xml_keys(expected_xml),
                    xml_keys(&body)
                ));
            }
        }
        expected => match serde_json::from_str::<Value>(&body) {
            Ok(mut actual) => {
                let mut expected = expected.clone();
                if let Some((list, key)) = unordered(&e.function) {
                    sort_by(&mut expected, list, key);
                    sort_by(&mut actual, list, key);
                }
                diff_in(&e.function, "$", &expected, &actual, &mut problems)
            }
            Err(err) => problems.push(format!("not JSON ({err}): {body}")),
        },
    }
    server.shutdown().await;
    problems
        .into_iter()
        .map(|p| format!("{} {}: {p}", e.file, e.name))
        .collect()
}

#[tokio::test]
async fn every_sample_is_answered_like_moodle() {
    let all = load_examples();
    assert!(all.len() > 80, "only {} samples found", all.len());
    let mut problems = Vec::new();
    for e in &all {
        problems.extend(check(&all, e).await);
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_error_sample_is_covered() {
    let all = load_examples();
    let errors = all.iter().filter(|e| e.file.starts_with("errors/")).count();
    assert_eq!(errors, 36);
}
