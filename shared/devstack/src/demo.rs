//! The main job on one machine: provision the stack from the SAM template on
//! moto, start the Moodle simulator, and do what a provider's SMS and admin do,
//! through the API: create and test a Moodle connection, send learners, an
//! offering and enrolments, link the offering to its course, preview the
//! transfer; then CourseKey posts signed attendance, the nightly schedule fires,
//! every queued job runs through the same handler code Lambda runs, and each
//! run is printed as the API shows it, with what Moodle now holds. Last, OCSAT:
//! candidates pushed, results downloaded, saved and delivered to the SMS.

use crate::runner::LocalSystem;
use crate::stack;
use anyhow::{Context, bail};
use chrono::Utc;
use domain::TenantId;
use domain::ports::{ApiKeyStore, ConnectionStore};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// The demo's CourseKey secret: its API key and webhook signing secret (a local test value).
const COURSEKEY_SECRET: &str = "whsec_demo_coursekey_signing_secret";
/// The secret the SMS checks learnbridge's signature with (a local test value).
const SMS_SECRET: &str = "whsec_demo_sms_webhook_secret_0001";

/// The demo OCSAT client secret and API key (local test values).
const OCSAT_SECRET: &str = "ocsat_demo_client_secret_0001";
const OCSAT_API_KEY: &str = "ocsat_demo_api_key_0002";

/// The SMS's side of the conversation: JSON over HTTP with the tenant's key.
struct Sms {
    http: reqwest::Client,
    api: String,
    key: String,
}

impl Sms {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// A call that must succeed: anything else stops the demo with the API's error.
    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, body) = self.call(method.clone(), path, body).await?;
        if !(200..300).contains(&status) {
            bail!("{method} {path} answered {status}: {body}");
        }
        Ok(body)
    }
}

pub async fn run(stack_name: &str) -> anyhow::Result<()> {
    use reqwest::Method;
    let sdk = cloud::load_sdk_config().await;
    println!(
        "== learnbridge demo: stack {stack_name} on {}",
        sdk.endpoint_url().unwrap_or("AWS")
    );

    let config = stack::provision(&sdk, stack_name, Some("learnbridge@example.com"), 90).await?;
    println!(
        "   created from infra/template.yaml: tables {}, {}, {}; queues with DLQs; secrets",
        config.tables.data, config.tables.runs, config.tables.deliveries
    );
    let moodle = simulators::moodle::MoodleSim::sample_site();
    let moodle_server = moodle
        .start()
        .await
        .context("starting the Moodle simulator")?;
    let sms_sim = simulators::sms::SmsSim::new(SMS_SECRET);
    let sms_server = sms_sim
        .start()
        .await
        .context("starting the SMS simulator")?;
    let coursekey = simulators::coursekey::CourseKeySim::new(COURSEKEY_SECRET, COURSEKEY_SECRET);
    let coursekey_server = coursekey
        .start()
        .await
        .context("starting the CourseKey simulator")?;
    println!(
        "   simulators: Moodle {}, SMS {}, CourseKey {}",
        moodle_server.base_url, sms_server.base_url, coursekey_server.base_url
    );

    let system = LocalSystem::new(config.clone(), sdk.clone())?;
    let stores = system.stores();

    // The admin bootstrap: one API key for tenant acme (only its hash is stored).
    let pepper_name = config
        .api_key_pepper_secret
        .as_deref()
        .context("no pepper secret")?;
    let pepper = stores.secrets.get(pepper_name).await?;
    let key = crate::new_api_key();
    let hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), &key);
    stores
        .api_keys
        .save_key(&hash, &TenantId::parse("acme")?, "demo", Utc::now())
        .await?;
    // Another tenant with a disabled connection: the nightly run skips it.
    let bolt = domain::Connection {
        tenant: TenantId::parse("bolt")?,
        id: domain::ConnectionId::parse("moodle")?,
        name: "Bolt Moodle (disabled)".to_owned(),
        base_url: moodle_server.base_url.clone(),
        enabled: false,
        error_email: None,
        settings: domain::ConnectionSettings::Moodle(domain::connection::MoodleSettings::default()),
    };
    stores.connections.save_connection(&bolt).await?;

    // The HTTP functions, served as the local runner serves them (stopped when the demo ends).
    let api_server = simulators::server::serve(system.api_router().await?).await?;
    let webhook_server = simulators::server::serve(system.webhook_router()).await?;
    let (api, webhook) = (api_server.base_url.clone(), webhook_server.base_url.clone());
    println!(
        "   api at {api}, coursekey-webhook at {webhook}; API key for acme {}",
        domain::mask::mask_secret(&key)
    );
    println!(
        "   console at {api}/console while the demo runs (scripts/serve keeps it at http://127.0.0.1:8080/console; sign in with a key from `learnbridge-local create-api-key --tenant acme`)"
    );
    let sms = Sms {
        http: reqwest::Client::new(),
        api,
        key,
    };

    // Connections, with write-only secrets shown masked.
    let created = sms
        .ok(
            Method::POST,
            "/v1/connections",
            Some(json!({"id": "moodle-main", "kind": "moodle", "name": "Acme Moodle",
                        "base_url": moodle_server.base_url, "error_email": "integration-admin@example.com",
                        "secret": simulators::moodle::SAMPLE_TOKEN})),
        )
        .await?;
    println!(
        "-- connection moodle-main created; its token shows as {}",
        created["secret"].as_str().unwrap_or("?")
    );
    sms.ok(
        Method::POST,
        "/v1/connections",
        Some(
            json!({"id": "coursekey-main", "kind": "course_key", "name": "Acme CourseKey",
                    "base_url": coursekey_server.base_url, "secret": COURSEKEY_SECRET}),
        ),
    )
    .await?;
    sms.ok(
        Method::POST,
        "/v1/connections",
        Some(json!({"id": "sms", "kind": "sms", "name": "Acme SMS (results back)",
                    "base_url": format!("{}/learnbridge", sms_server.base_url), "secret": SMS_SECRET,
                    "settings": {"format": "json_webhook"}})),
    )
    .await?;
    let test = sms
        .ok(Method::POST, "/v1/connections/moodle-main/test", None)
        .await?;
    println!(
        "-- test connection: ok {}; {} (Moodle {}), acting as {}; missing functions: {}",
        test["ok"],
        test["site"]["site_name"].as_str().unwrap_or("?"),
        test["site"]["release"].as_str().unwrap_or("?"),
        test["site"]["account"].as_str().unwrap_or("?"),
        test["site"]["missing_functions"]
    );

    // The SMS sends its records, by its own ids.
    for (code, given, family, email) in [
        ("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com")),
        ("X7654321", "Luis", "Gómez", Some("luis.gomez@example.com")),
        ("X0000000", "Sin", "Correo", None),
    ] {
        sms.ok(
            Method::PUT,
            &format!("/v1/learners/{code}"),
            Some(json!({"given_name": given, "family_name": family, "email": email})),
        )
        .await?;
    }
    let today = Utc::now().date_naive();
    let start = today - chrono::Duration::days(7);
    let end = today + chrono::Duration::days(60);
    sms.ok(
        Method::PUT,
        "/v1/offerings/OCC-1001",
        Some(
            json!({"name": "Certificate III in Acceptance", "start_date": start, "end_date": end,
                    "status": "active",
                    "assessables": [{"id": "U1", "name": "Unit 1", "kind": "unit"}]}),
        ),
    )
    .await?;
    for code in ["X1234567", "X7654321", "X0000000"] {
        sms.ok(
            Method::PUT,
            &format!("/v1/offerings/OCC-1001/enrolments/{code}"),
            Some(json!({"start_date": start})),
        )
        .await?;
    }
    println!("-- the SMS sent 3 learners, offering OCC-1001 and 3 not-called enrolments");
    let link = sms
        .ok(
            Method::POST,
            "/v1/offerings/OCC-1001/links",
            Some(json!({"connection": "moodle-main"})),
        )
        .await?;
    println!(
        "-- OCC-1001 linked to Moodle course {} (found by its ID number {})",
        link["course_id"],
        link["course_idnumber"].as_str().unwrap_or("?")
    );
    let preview = sms
        .ok(
            Method::GET,
            "/v1/offerings/OCC-1001/transfer-preview?connection=moodle-main",
            None,
        )
        .await?;
    for row in preview.as_array().into_iter().flatten() {
        let messages: Vec<&str> = row["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "   preview {}: {}{}",
            row["learner"].as_str().unwrap_or("?"),
            row["status"]["status"].as_str().unwrap_or("?"),
            if messages.is_empty() {
                String::new()
            } else {
                format!(" ({})", messages.join("; "))
            }
        );
    }

    // CourseKey: the offering is sent with its instructor and yesterday's class.
    let class_start = (today - chrono::Duration::days(1))
        .and_hms_opt(9, 0, 0)
        .context("a class time")?
        .and_utc();
    let class_end = class_start + chrono::Duration::hours(3);
    let marked = sms
        .ok(
            Method::PUT,
            "/v1/offerings/OCC-1001/coursekey",
            Some(json!({"send_to_coursekey": true, "instructors": ["INS-1"],
                        "classes": [{"code": "C1", "start": class_start, "end": class_end}]})),
        )
        .await?;
    println!("-- OCC-1001 marked for CourseKey: {}", marked["status"]);

    // The nightly schedule: export (push) then import, for every enabled connection.
    let fired = system.fire_nightly(Utc::now()).await?;
    println!(
        "-- nightly sync fired: {} runs queued ({} already finished)",
        fired.queued, fired.already_finished
    );
    let drained = system.drain().await?;
    println!(
        "-- queues drained: {} jobs handled, {} reported for retry",
        drained.handled, drained.failed
    );
    let ck_status = sms
        .ok(Method::GET, "/v1/offerings/OCC-1001/coursekey", None)
        .await?;
    println!(
        "-- CourseKey roster: status {}; the simulator holds course {} and class C1: {}",
        ck_status["status"],
        coursekey
            .resource("/api/v1/courses/OCC-1001")
            .map(|c| c["title"].clone())
            .unwrap_or(Value::Null),
        coursekey
            .resource("/api/v1/courses/OCC-1001/classes/C1")
            .is_some()
    );

    // CourseKey posts attendance: verified, stored, queued; twice, as webhooks are.
    let records = json!({"records": [
        {"id": "ck-demo-1", "course_id": "OCC-1001", "class_id": "C1", "student_id": "X1234567",
         "check_in": class_start - chrono::Duration::minutes(2), "check_out": class_end + chrono::Duration::minutes(2),
         "adjusted_status": null, "adjusted_at": null},
        {"id": "ck-demo-2", "course_id": "OCC-1001", "class_id": "C1", "student_id": "X7654321",
         "check_in": class_start + chrono::Duration::minutes(10), "check_out": class_end,
         "adjusted_status": null, "adjusted_at": null}
    ]})
    .to_string();
    let ck_url = format!("{webhook}/webhooks/coursekey/acme/coursekey-main");
    for attempt in 1..=2 {
        let ts = Utc::now().timestamp();
        let response = sms
            .http
            .post(&ck_url)
            .header("content-type", "application/json")
            .header(connectors::signature::TIMESTAMP_HEADER, ts.to_string())
            .header(
                connectors::signature::SIGNATURE_HEADER,
                connectors::signature::sign_route(
                    COURSEKEY_SECRET.as_bytes(),
                    ts,
                    &connectors::signature::webhook_route("acme", "coursekey-main"),
                    records.as_bytes(),
                ),
            )
            .body(records.clone())
            .send()
            .await?;
        println!(
            "-- CourseKey attendance, delivery {attempt}: HTTP {} {}",
            response.status().as_u16(),
            response.text().await?
        );
    }
    let unsigned = sms.http.post(&ck_url).body(records).send().await?;
    println!(
        "-- an unsigned request: HTTP {} {}",
        unsigned.status().as_u16(),
        unsigned.text().await?
    );
    system.drain().await?;
    let attendance = sms
        .ok(Method::GET, "/v1/offerings/OCC-1001/attendance", None)
        .await?;
    println!("-- attendance as the API shows it: {attendance}");

    // Results: unit U1 is mapped to the quiz and the assignment; learners work in Moodle.
    sms.ok(
        Method::PUT,
        "/v1/offerings/OCC-1001/mappings/moodle-main/U1",
        Some(json!({"activities": [1, 2]})),
    )
    .await?;
    let transfers = sms
        .ok(
            Method::GET,
            "/v1/offerings/OCC-1001/transfers?connection=moodle-main",
            None,
        )
        .await?;
    let moodle_id = |code: &str| {
        transfers
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["learner"] == code)
            .and_then(|t| t["external_user"].as_i64())
    };
    // Graded after the first night read the course: the next run reads only what changed.
    let at = Utc::now().timestamp() + 1;
    if let (Some(ana), Some(luis)) = (moodle_id("X1234567"), moodle_id("X7654321")) {
        moodle.set_grade(ana, 1, Some(9.0), at);
        moodle.set_activity_completion(ana, 1, 2, at);
        moodle.set_grade(ana, 2, Some(85.0), at + 60);
        moodle.set_activity_completion(ana, 2, 2, at + 60);
        moodle.set_grade(luis, 1, Some(4.0), at);
        moodle.set_activity_completion(luis, 1, 3, at);
        moodle.run_completion_cron();
        println!(
            "-- in Moodle: Ana passes the quiz and the assignment (course complete); Luis fails the quiz"
        );
    }
    let fired = system
        .fire_nightly(Utc::now() + chrono::Duration::days(1))
        .await?;
    let drained = system.drain().await?;
    println!(
        "-- the next night: {} runs, {} jobs handled",
        fired.queued, drained.handled
    );
    let ready = sms
        .ok(
            Method::GET,
            "/v1/connections/moodle-main/results?state=ready",
            None,
        )
        .await?;
    for r in ready.as_array().into_iter().flatten() {
        println!("   result for review: {r}");
    }
    let processed = sms
        .ok(
            Method::POST,
            "/v1/connections/moodle-main/results/process",
            None,
        )
        .await?;
    println!("-- a person processes all: {processed}");
    system.drain().await?;
    let accepted = sms_sim.accepted();
    println!("-- the SMS accepted {} signed deliveries:", accepted.len());
    for a in &accepted {
        println!("   {}", a.body);
    }

    // Each run, as the API shows it to the tenant.
    let mut errors = 0;
    let acme = TenantId::parse("acme")?;
    for c in stores.connections.connections(&acme).await? {
        for run in stores.runs.runs_of(&acme, &c.id, 5).await? {
            let view = sms
                .ok(
                    Method::GET,
                    &format!("/v1/connections/{}/runs/{}", c.id, run.id),
                    None,
                )
                .await?;
            let status = view["status"].as_str().unwrap_or("?");
            println!("== run {} of {} ({}): {status}", run.id, c.id, c.name);
            for line in view["log"].as_array().into_iter().flatten() {
                println!(
                    "   [{}] {}",
                    line["level"].as_str().unwrap_or("?"),
                    line["message"].as_str().unwrap_or("")
                );
            }
            if status == "Finished with error" || status == "Importing" {
                errors += 1;
            }
        }
    }
    let transfers = sms
        .ok(
            Method::GET,
            "/v1/offerings/OCC-1001/transfers?connection=moodle-main",
            None,
        )
        .await?;
    for row in transfers.as_array().into_iter().flatten() {
        println!(
            "   transfer {}: {} (Moodle user {})",
            row["learner"].as_str().unwrap_or("?"),
            row["status"]["status"].as_str().unwrap_or("?"),
            row["external_user"]
        );
    }
    let snapshot = moodle.snapshot();
    let created: Vec<&str> = snapshot
        .users
        .iter()
        .filter(|u| u.idnumber.starts_with('X'))
        .map(|u| u.username.as_str())
        .collect();
    println!(
        "-- Moodle now has users {created:?}; {} Moodle calls in all",
        moodle.calls().len()
    );
    let (status, _) = sms
        .call(Method::GET, "/v1/connections/moodle", None)
        .await?;
    println!("-- acme asking for bolt's connection: HTTP {status}");

    lln(&sms, &system, &sms_sim).await?;
    moodle_server.shutdown().await;
    sms_server.shutdown().await;
    coursekey_server.shutdown().await;
    if errors > 0 {
        bail!("{errors} runs finished with an error or did not finish");
    }
    println!(
        "== demo finished: every run finished (warnings are incidents a person can fix, shown above)"
    );
    Ok(())
}

/// OCSAT (LLN): an LLN connection, candidates pushed from learners, a download of
/// results held open, saved, and delivered to the SMS; the API log and the summary.
async fn lln(
    sms: &Sms,
    system: &LocalSystem,
    sms_sim: &simulators::sms::SmsSim,
) -> anyhow::Result<()> {
    use reqwest::Method;
    let ocsat = simulators::ocsat::OcsatSim::new("acme-lln", OCSAT_SECRET, OCSAT_API_KEY);
    let server = ocsat
        .start()
        .await
        .context("starting the OCSAT simulator")?;
    let created = sms
        .ok(
            Method::POST,
            "/v1/connections",
            Some(json!({"id": "ocsat", "kind": "ocsat", "name": "Acme OCSAT",
                        "base_url": format!("{}/api/v1", server.base_url),
                        "settings": {"auth_url": format!("{}/oauth2/token", server.base_url),
                                     "client_id": "acme-lln", "code": "OCSAT-1",
                                     "default_staff": "STAFF-7", "default_assessment_status": "Received",
                                     "api_logging": true},
                        "secret": OCSAT_SECRET, "secrets": {"api_key": OCSAT_API_KEY}})),
        )
        .await?;
    println!(
        "== OCSAT (LLN) at {}: client secret {}, API key {}",
        server.base_url,
        created["secret"].as_str().unwrap_or("?"),
        created["secrets"]["api_key"].as_str().unwrap_or("?")
    );
    let test = sms
        .ok(Method::POST, "/v1/connections/ocsat/test", None)
        .await?;
    println!("-- test connection: ok {}", test["ok"]);
    for code in ["X1234567", "X7654321"] {
        sms.ok(
            Method::PATCH,
            &format!("/v1/learners/{code}"),
            Some(json!({"date_of_birth": "2001-05-06"})),
        )
        .await?;
    }
    for code in ["X1234567", "X7654321", "X0000000"] {
        let (status, body) = sms
            .call(
                Method::POST,
                "/v1/lln/candidates",
                Some(json!({"learner": code})),
            )
            .await?;
        if status == 201 {
            println!(
                "-- candidate {} created for {code}, username {}, staff {}",
                body["candidate"]["candidate_id"].as_str().unwrap_or("?"),
                body["candidate"]["username"].as_str().unwrap_or("?"),
                body["staff"].as_str().unwrap_or("-")
            );
        } else {
            println!(
                "-- {code} cannot be a candidate yet (HTTP {status}): {}",
                body["message"].as_str().unwrap_or("?")
            );
        }
    }
    let done = Utc::now() - chrono::Duration::hours(2);
    for c in ocsat.candidates() {
        ocsat.add_assessment(simulators::ocsat::SimAssessment::core_skills(
            format!("asmt-{}", c.id),
            c.id,
            done,
        ));
    }
    let walk_in =
        ocsat.add_candidate_in_ui("walkin", "walk.in@example.com", "Walkin", None, None, done);
    ocsat.add_assessment(simulators::ocsat::SimAssessment::core_skills(
        "asmt-walkin",
        walk_in,
        done,
    ));
    let download = sms.ok(Method::POST, "/v1/lln/downloads", None).await?;
    println!("-- results downloaded (held until saved or cancelled):");
    for item in download["items"].as_array().into_iter().flatten() {
        println!(
            "   {} {}: {} {}",
            item["assessment"]["id"].as_str().unwrap_or("?"),
            item["learner"].as_str().unwrap_or("(no learner)"),
            item["status"].as_str().unwrap_or("?"),
            item["reason"].as_str().unwrap_or("")
        );
    }
    let id = download["id"].as_str().context("a download id")?;
    let saved = sms
        .ok(Method::POST, &format!("/v1/lln/downloads/{id}/save"), None)
        .await?;
    println!(
        "-- saved {}; modified date now {}",
        saved["saved"],
        saved["modified_since"].as_str().unwrap_or("?")
    );
    let before = sms_sim.accepted().len();
    system.drain().await?;
    let lln_deliveries = sms_sim
        .accepted()
        .iter()
        .skip(before)
        .filter(|a| a.body.contains("lln_assessment"))
        .count();
    println!("-- the SMS accepted {lln_deliveries} LLN assessment deliveries");
    let log = sms
        .ok(Method::GET, "/v1/lln/connections/ocsat/log", None)
        .await?;
    println!(
        "-- {} OCSAT API calls logged (secrets obfuscated); {} calls made",
        log.as_array().map_or(0, Vec::len),
        ocsat.calls().len()
    );
    let csv = sms
        .http
        .get(format!("{}/v1/lln/reports/summary?format=csv", sms.api))
        .bearer_auth(&sms.key)
        .send()
        .await?
        .text()
        .await?;
    println!("-- LLN summary (CSV):");
    for line in csv.lines() {
        println!("   {line}");
    }
    server.shutdown().await;
    Ok(())
}
