//! The console's LLN screens in a real browser (headless Chromium over
//! WebDriver) over the local stack: moto with IAM enforced, the OCSAT simulator
//! through the real connector and the SMS simulator. A candidate with missing
//! fields is refused naming each, then candidates are created (the default
//! username and an edited one); a learner changed in the SMS shows Out of sync
//! and is updated; the bulk grid pushes the one ticked candidate and leaves
//! the other flagged; a results download with an Ok and an Error row is cancelled
//! (nothing stored, the date not moved), then downloaded again and saved (the
//! assessment stored, the date advanced); a viewer sees no change button. Each
//! step asserts on the page and on what is stored; each screen is saved under
//! target/console-screenshots.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeDelta, Utc};
use domain::connection::{ConnectionSettings, SmsSettings};
use domain::lln::AssessmentId;
use domain::ports::{ConnectionStore, LlnStore, Role, SessionStore};
use domain::{Connection, ConnectionId, LearnerCode, TenantId};
use fantoccini::Locator;
use secrecy::SecretString;
use serde_json::{Value, json};
use simulators::ocsat::{OcsatSim, SimAssessment};
use simulators::sms::SmsSim;
use tests::browser::Browser;

const SMS_SECRET: &str = "whsec_console_lln_sms";
const CLIENT_SECRET: &str = "ocsat-client-secret-console-4711";
const API_KEY: &str = "ocsat-api-key-console-0815";

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn code(c: &str) -> LearnerCode {
    LearnerCode::parse(c).unwrap()
}

/// A key of `role` for `tenant`, saved as create-api-key saves it.
async fn key_with_role(
    system: &devstack::runner::LocalSystem,
    tenant: &TenantId,
    role: Role,
) -> String {
    tests::api_key_as(system, tenant, "console lln test", role)
        .await
        .0
}

async fn api(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn lln_screens_create_update_bulk_download_edit_and_report_through_the_console() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sms_sim = SmsSim::new(SMS_SECRET);
    let sms_server = sms_sim.start().await.unwrap();
    let ocsat = OcsatSim::new("lb-console", CLIENT_SECRET, API_KEY);
    let ocsat_server = ocsat.start().await.unwrap();
    let sms = Connection {
        tenant: acme(),
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
    let base = tests::serve(system.api_router().await.unwrap()).await;
    let admin = tests::api_key(&system, &acme()).await;
    let http = reqwest::Client::new();
    let (status, body) = api(
        &http,
        &base,
        &admin,
        reqwest::Method::POST,
        "/v1/connections",
        json!({
            "id": "ocsat", "kind": "ocsat", "name": "OCSAT",
            "base_url": format!("{}/api/v1", ocsat_server.base_url),
            "settings": {
                "auth_url": format!("{}/oauth2/token", ocsat_server.base_url),
                "client_id": "lb-console",
                "default_staff": "STAFF-7",
                "default_assessment_status": "Received",
            },
            "secret": CLIENT_SECRET,
            "secrets": {"api_key": API_KEY},
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let ocsat_id = ConnectionId::parse("ocsat").unwrap();
    // Learners, through the SMS API: L3 lacks surname, date of birth and email.
    for (code, learner) in [
        (
            "L1",
            json!({"given_name": "Greg", "family_name": "Abbott", "email": "greg@example.com", "date_of_birth": "2001-05-06"}),
        ),
        (
            "L2",
            json!({"given_name": "Ana", "family_name": "Ruiz", "email": "ana@example.com", "date_of_birth": "2000-01-02"}),
        ),
        ("L3", json!({"given_name": "Kim"})),
    ] {
        let (status, body) = api(
            &http,
            &base,
            &admin,
            reqwest::Method::PUT,
            &format!("/v1/learners/{code}"),
            learner,
        )
        .await;
        assert!(status == 200 || status == 201, "{status} {body}");
    }

    let browser = Browser::start().await;
    let c = &browser.client;
    browser.sign_in(&base, &admin).await;
    c.find(Locator::LinkText("LLN"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(browser.text("#lln-connection").await.contains("OCSAT"));

    // API logging on, from the API log screen.
    c.goto(&format!("{base}/console/lln/log")).await.unwrap();
    assert!(browser.text("#logging-state").await.contains("off"));
    browser.click("#switch-logging").await;
    assert!(browser.text("#logging-state").await.contains("on"));
    c.goto(&format!("{base}/console/lln")).await.unwrap();

    // 1. A learner with missing fields: each listed by name with what to fix;
    // Create is refused naming them, and nothing is stored or pushed.
    browser.fill("#learner", "L3").await;
    browser.click("#check-learner").await;
    let missing = browser.text("#missing").await;
    for field in ["family_name", "date_of_birth", "email"] {
        assert!(missing.contains(field), "{field} named: {missing}");
    }
    assert!(
        missing.contains("Surname") && missing.contains("in the SMS"),
        "{missing}"
    );
    browser.click("#create-candidate").await;
    let refused = browser.text("#missing").await;
    for field in ["family_name", "date_of_birth", "email"] {
        assert!(refused.contains(field), "{field} named: {refused}");
    }
    assert!(
        stores
            .lln
            .invitation(&acme(), &ocsat_id, &code("L3"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(ocsat.candidates().is_empty(), "nothing pushed");
    browser.screenshot("lln-create-missing").await;

    // Created with the default username (the email), then one with an edited one.
    c.goto(&format!("{base}/console/lln/candidates/new?learner=L1"))
        .await
        .unwrap();
    assert_eq!(browser.value("#username").await, "greg@example.com");
    browser.screenshot("lln-create").await;
    browser.click("#create-candidate").await;
    assert!(browser.text("#notice").await.contains("created"));
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/console/lln/candidates/L1"
    );
    let l1 = stores
        .lln
        .invitation(&acme(), &ocsat_id, &code("L1"))
        .await
        .unwrap()
        .expect("L1's candidate stored");
    assert_eq!(l1.candidate.username, "greg@example.com");
    assert_eq!(l1.staff.as_deref(), Some("STAFF-7"));
    assert_eq!(
        browser.text("#candidate-id").await,
        l1.candidate.candidate_id.to_string()
    );
    let sim_l1 = ocsat.candidate(l1.candidate.candidate_id.as_str()).unwrap();
    assert_eq!(sim_l1.external_id.as_deref(), Some("L1"));
    c.goto(&format!("{base}/console/lln/candidates/new?learner=L2"))
        .await
        .unwrap();
    browser.fill("#username", "ana.ruiz.2000").await;
    browser.click("#create-candidate").await;
    let l2 = stores
        .lln
        .invitation(&acme(), &ocsat_id, &code("L2"))
        .await
        .unwrap()
        .expect("L2's candidate stored");
    assert_eq!(l2.candidate.username, "ana.ruiz.2000");

    // 2. A learner changed in the SMS: Out of sync, field by field; updated.
    let (status, body) = api(
        &http,
        &base,
        &admin,
        reqwest::Method::PATCH,
        "/v1/learners/L1",
        json!({"given_name": "Gregory"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    c.goto(&format!("{base}/console/lln/candidates/L1"))
        .await
        .unwrap();
    assert!(
        browser
            .text("#out-of-sync-alert")
            .await
            .contains("Out of sync")
    );
    let row = browser.text("tr[data-field=given_name]").await;
    assert!(
        row.contains("Gregory") && row.contains("Greg") && row.contains("Out of sync"),
        "{row}"
    );
    assert!(
        browser
            .text("tr[data-field=family_name]")
            .await
            .contains("Same")
    );
    browser.screenshot("lln-candidate-out-of-sync").await;
    browser.click("#update-candidate").await;
    assert!(browser.text("#notice").await.contains("updated"));
    assert!(browser.text("#in-sync").await.contains("In sync"));
    assert_eq!(
        ocsat
            .candidate(l1.candidate.candidate_id.as_str())
            .unwrap()
            .given_name
            .as_deref(),
        Some("Gregory")
    );

    // 4. The bulk update grid: both changed learners ticked; L2 unticked is left
    // out (flagged, offered again), L1 pushed.
    for (learner, patch) in [
        ("L1", json!({"family_name": "Abbott-Smith"})),
        ("L2", json!({"given_name": "Anna"})),
    ] {
        let (status, body) = api(
            &http,
            &base,
            &admin,
            reqwest::Method::PATCH,
            &format!("/v1/learners/{learner}"),
            patch,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    c.goto(&format!("{base}/console/lln/bulk")).await.unwrap();
    for learner in ["L1", "L2"] {
        assert!(
            browser
                .text(&format!("tr[data-learner={learner}]"))
                .await
                .contains("Ok")
        );
        assert!(
            c.find(Locator::Css(&format!("#use-{learner}")))
                .await
                .unwrap()
                .prop("checked")
                .await
                .unwrap()
                .as_deref()
                == Some("true"),
            "{learner} ticked"
        );
    }
    browser.screenshot("lln-bulk").await;
    browser.click("#use-L2").await;
    browser.click("#push-updates").await;
    assert_eq!(browser.text("#pushed").await, "L1");
    assert_eq!(browser.text("#excluded").await, "L2");
    // How the push ended, record by record, with the counts: it ran to its end
    // within the request, and L2 is what is still to push.
    assert_eq!(browser.text("#count-pushed").await, "1");
    assert_eq!(browser.text("#count-failed").await, "0");
    assert_eq!(browser.text("#count-excluded").await, "1");
    assert!(
        browser.text("#count-remaining").await.starts_with("1 "),
        "L2 still to push"
    );
    let l1_outcome = browser.text("tr[data-outcome=L1]").await;
    assert!(l1_outcome.contains("Pushed"), "{l1_outcome}");
    let l2_outcome = browser.text("tr[data-outcome=L2]").await;
    assert!(
        l2_outcome.contains("Left out") && l2_outcome.contains("offered again"),
        "{l2_outcome}"
    );
    assert!(
        browser
            .text("tr[data-learner=L2]")
            .await
            .contains("left out"),
        "L2 stays in the grid, flagged"
    );
    assert!(
        c.find(Locator::Css("tr[data-learner=L1]")).await.is_err(),
        "L1 pushed: no longer changed"
    );
    assert_eq!(
        ocsat
            .candidate(l1.candidate.candidate_id.as_str())
            .unwrap()
            .family_name,
        "Abbott-Smith"
    );
    assert_eq!(
        ocsat
            .candidate(l2.candidate.candidate_id.as_str())
            .unwrap()
            .given_name
            .as_deref(),
        Some("Ana")
    );
    assert!(
        stores
            .lln
            .invitation(&acme(), &ocsat_id, &code("L2"))
            .await
            .unwrap()
            .unwrap()
            .candidate
            .needs_update,
        "L2 flagged for the next bulk update"
    );
    browser.screenshot("lln-bulk-pushed").await;

    // 3. Get results: an Ok row (L1's) and an Error row (a candidate made in
    // OCSAT's own screens, the reason written out). Cancel stores nothing.
    let done = Utc::now() - TimeDelta::hours(3);
    ocsat.add_assessment(SimAssessment::core_skills(
        "a-1",
        l1.candidate.candidate_id.to_string(),
        done,
    ));
    let walk_in =
        ocsat.add_candidate_in_ui("walkin", "walk@in.example", "Walkin", None, None, done);
    ocsat.add_assessment(SimAssessment::core_skills(
        "a-3",
        walk_in,
        done + TimeDelta::minutes(2),
    ));
    c.goto(&format!("{base}/console/lln/downloads"))
        .await
        .unwrap();
    assert!(browser.text("#last-check").await.starts_with("never"));
    assert_eq!(browser.value("#modified_since").await, "");
    browser.click("button#get-results").await;
    let check_grid = || async {
        assert!(
            browser
                .text("tr[data-assessment=a-1]")
                .await
                .starts_with("Ok")
        );
        let error = browser.text("tr[data-assessment=a-3]").await;
        assert!(
            error.starts_with("Error") && error.contains("unknown to learnbridge"),
            "the reason readable without hovering: {error}"
        );
        assert!(
            browser
                .text("#counts")
                .await
                .contains("1 Ok, 1 Error, 0 Done")
        );
    };
    check_grid().await;
    browser.screenshot("lln-download").await;
    browser.click("#cancel-download").await;
    assert!(
        browser
            .text("#download-state")
            .await
            .starts_with("Cancelled")
    );
    assert!(
        c.find(Locator::Css("#save-results")).await.is_err(),
        "a cancelled download cannot be saved"
    );
    assert!(
        stores
            .lln
            .assessments(&acme(), &ocsat_id)
            .await
            .unwrap()
            .is_empty(),
        "cancel saves nothing"
    );
    assert_eq!(
        stores.lln.modified_since(&acme(), &ocsat_id).await.unwrap(),
        None,
        "cancel leaves the date"
    );

    // The same again, then saved: the Ok assessment stored, the date advanced.
    c.goto(&format!("{base}/console/lln/downloads"))
        .await
        .unwrap();
    browser.click("button#get-results").await;
    check_grid().await;
    let download_url = c.current_url().await.unwrap();
    browser.click("#save-results").await;
    assert_eq!(browser.text("#download-state").await, "Saved");
    let saved = stores.lln.assessments(&acme(), &ocsat_id).await.unwrap();
    assert_eq!(saved.len(), 1, "only the Ok row is saved");
    assert_eq!(saved[0].assessment.id, AssessmentId::parse("a-1").unwrap());
    assert_eq!(saved[0].learner, code("L1"));
    assert_eq!(saved[0].status.as_deref(), Some("Received"));
    let since = stores
        .lln
        .modified_since(&acme(), &ocsat_id)
        .await
        .unwrap()
        .expect("the date advanced");
    assert!(since >= done);
    browser.screenshot("lln-download-saved").await;
    // The next Get results defaults to the last check's day in the tenant's zone.
    let zone = {
        use domain::ports::TenantSettingsStore;
        stores
            .tenants
            .tenant_settings(&acme())
            .await
            .unwrap()
            .zone()
    };
    c.goto(&format!("{base}/console/lln/downloads"))
        .await
        .unwrap();
    assert_eq!(
        browser.value("#modified_since").await,
        zone.date_of(since).to_string()
    );
    // A day that is not one is refused naming the field, and nothing is downloaded.
    c.execute(
        "document.getElementById('modified_since').type = 'text'; document.getElementById('modified_since').value = '2026-13-01';",
        vec![],
    )
    .await
    .unwrap();
    browser.click("button#get-results").await;
    assert!(
        browser
            .text(".field-error")
            .await
            .starts_with("modified_since:")
    );

    // 5. The assessment: its defaults, then status, staff and comment edited; its report.
    c.goto(&format!("{base}/console/lln/candidates/L1"))
        .await
        .unwrap();
    browser.click("tr[data-assessment=a-1] a").await;
    assert_eq!(browser.value("#status").await, "Received");
    assert_eq!(browser.value("#staff").await, "STAFF-7");
    assert!(browser.text("#skill-results").await.contains("Reading"));
    for (css, typed) in [
        ("#status", "Reviewed"),
        ("#staff", "STAFF-9"),
        ("#follow_up_comment", "Call to discuss numeracy support"),
    ] {
        browser.fill(css, typed).await;
    }
    browser.click("#save-assessment").await;
    assert_eq!(browser.text("#notice").await, "Saved.");
    let edited = stores
        .lln
        .assessment(&acme(), &ocsat_id, &AssessmentId::parse("a-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            edited.status.as_deref(),
            edited.staff.as_deref(),
            edited.follow_up_comment.as_deref()
        ),
        (
            Some("Reviewed"),
            Some("STAFF-9"),
            Some("Call to discuss numeracy support")
        )
    );
    browser.screenshot("lln-assessment").await;
    browser.click("#report-link").await;
    assert_eq!(
        browser.text("#report-comment").await,
        "Call to discuss numeracy support"
    );
    assert!(browser.text("#report-facts").await.contains("L1"));
    browser.screenshot("lln-assessment-report").await;

    // 6. The summary (filtered, and its CSV), the history, the API log.
    c.goto(&format!("{base}/console/lln/reports/summary"))
        .await
        .unwrap();
    assert!(
        browser
            .text("tr[data-learner=L1]")
            .await
            .contains("Core Skills Profile for Adults")
    );
    assert!(browser.text("tr[data-learner=L2]").await.contains("L2"));
    browser.screenshot("lln-summary").await;
    let cookie = format!(
        "lb_console={}",
        c.get_named_cookie("lb_console").await.unwrap().value()
    );
    let csv = |query: &'static str| {
        let (http, base, cookie) = (http.clone(), base.clone(), cookie.clone());
        async move {
            let response = http
                .get(format!("{base}/console/lln/reports/summary?{query}"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/csv")
            );
            response.text().await.unwrap()
        }
    };
    let all = csv("format=csv").await;
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 3, "header, L1's assessment, L2: {all}");
    assert!(lines[0].starts_with("learner,given_name,family_name,"));
    assert!(
        lines[1].starts_with("L1,Gregory,Abbott-Smith,")
            && lines[1].contains(",a-1,Core Skills Profile for Adults,")
            && lines[1].contains(",Reviewed,STAFF-9,Call to discuss numeracy support,"),
        "{all}"
    );
    assert!(lines[2].starts_with("L2,Ana,Ruiz,"), "{all}");
    let filtered = csv("status=Reviewed&format=csv").await;
    assert_eq!(filtered.lines().count(), 2, "{filtered}");
    // The CSV link carries the filters shown.
    c.goto(&format!(
        "{base}/console/lln/reports/summary?status=Reviewed"
    ))
    .await
    .unwrap();
    assert!(c.find(Locator::Css("tr[data-learner=L2]")).await.is_err());
    let href = c
        .find(Locator::Css("#csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        href.contains("status=Reviewed") && href.contains("format=csv"),
        "{href}"
    );
    c.goto(&format!(
        "{base}/console/lln/reports/summary?from=2026-02-30"
    ))
    .await
    .unwrap();
    assert!(browser.text(".field-error").await.starts_with("from:"));
    c.goto(&format!("{base}/console/lln/reports/history"))
        .await
        .unwrap();
    let history = browser.text("#history").await;
    for wanted in [
        "API logging switched",
        "Candidate created",
        "Candidate updated",
        "Left out of a bulk update",
        "Download cancelled",
        "Assessment saved",
        "Assessment edited",
    ] {
        assert!(history.contains(wanted), "{wanted} in {history}");
    }
    browser.screenshot("lln-history").await;
    c.goto(&format!("{base}/console/lln/log")).await.unwrap();
    let calls = browser.text("#calls").await;
    assert!(
        calls.contains("POST") && calls.contains("/candidates"),
        "{calls}"
    );
    let source = c.source().await.unwrap();
    for secret in [CLIENT_SECRET, API_KEY] {
        assert!(!source.contains(secret), "a secret in the API log page");
    }
    browser.screenshot("lln-api-log").await;

    // A viewer reads the same screens without any change button.
    browser.sign_out().await;
    let viewer = key_with_role(&system, &acme(), Role::Viewer).await;
    browser.sign_in(&base, &viewer).await;
    for path in [
        "/console/lln".to_owned(),
        "/console/lln/candidates/new?learner=L2".to_owned(),
        "/console/lln/candidates/L1".to_owned(),
        "/console/lln/downloads".to_owned(),
        "/console/lln/bulk".to_owned(),
        "/console/lln/log".to_owned(),
        "/console/lln/assessments/a-1".to_owned(),
        download_url.path().to_owned(),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        assert!(
            c.find(Locator::Css("main form[method=post]"))
                .await
                .is_err(),
            "a viewer sees no change form on {path}"
        );
    }
    assert!(browser.text("#results").await.contains("a-1"));
    browser.screenshot("lln-viewer").await;
    browser.client.clone().close().await.unwrap();
}

/// Two LLN connections (OCSAT and LLN Robot): the LLN page asks which one to
/// work with instead of guessing; the choice is remembered with the session
/// and every LLN screen uses it (a candidate created goes to the chosen tool
/// only, stored under that connection); choosing again switches; a connection
/// that is not the tenant's LLN connection cannot be chosen.
#[tokio::test]
async fn with_two_lln_connections_a_person_chooses_the_one_the_lln_screens_use() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let ocsat = OcsatSim::new("lb-console", CLIENT_SECRET, API_KEY);
    let ocsat_server = ocsat.start().await.unwrap();
    let robot = OcsatSim::new("lb-robot", CLIENT_SECRET, API_KEY);
    let robot_server = robot.start().await.unwrap();
    let base = tests::serve(system.api_router().await.unwrap()).await;
    let admin = tests::api_key(&system, &acme()).await;
    let http = reqwest::Client::new();
    for (id, kind, name, server, client) in [
        ("ocsat", "ocsat", "OCSAT", &ocsat_server, "lb-console"),
        ("robot", "lln_robot", "LLN Robot", &robot_server, "lb-robot"),
    ] {
        let (status, body) = api(
            &http,
            &base,
            &admin,
            reqwest::Method::POST,
            "/v1/connections",
            json!({
                "id": id, "kind": kind, "name": name,
                "base_url": format!("{}/api/v1", server.base_url),
                "settings": {
                    "auth_url": format!("{}/oauth2/token", server.base_url),
                    "client_id": client,
                },
                "secret": CLIENT_SECRET,
                "secrets": {"api_key": API_KEY},
            }),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = api(
        &http,
        &base,
        &admin,
        reqwest::Method::PUT,
        "/v1/learners/L1",
        json!({"given_name": "Greg", "family_name": "Abbott", "email": "greg@example.com", "date_of_birth": "2001-05-06"}),
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    let (ocsat_id, robot_id) = (
        ConnectionId::parse("ocsat").unwrap(),
        ConnectionId::parse("robot").unwrap(),
    );
    let sessions = tests::browser::sessions(&system).await;

    let browser = Browser::start().await;
    let c = &browser.client;
    let session = browser.sign_in(&base, &admin).await;
    let hash = console::session::id_hash(&session);

    // Nothing chosen yet: the page names the two and asks, and shows no
    // connection's candidates.
    c.goto(&format!("{base}/console/lln")).await.unwrap();
    let asked = browser.text(".field-error").await;
    assert!(
        asked.starts_with("connection") && asked.contains("choose"),
        "{asked}"
    );
    let choices = browser.text("#connection").await;
    assert!(
        choices.contains("OCSAT (OCSAT, ocsat)")
            && choices.contains("LLN Robot (LLN Robot, robot)"),
        "{choices}"
    );
    assert!(c.find(Locator::Css("#lln-connection")).await.is_err());
    assert!(
        c.find(Locator::Css("#working-with")).await.is_err(),
        "no connection named while none is chosen"
    );
    assert_eq!(sessions.lln_choice(&hash).await.unwrap(), None);
    browser.screenshot("lln-connection-picker").await;

    // LLN Robot chosen: remembered with the session; the page works with it.
    c.find(Locator::Css("#connection"))
        .await
        .unwrap()
        .select_by_value("robot")
        .await
        .unwrap();
    browser.click("#choose").await;
    assert!(browser.text("#lln-connection").await.contains("LLN Robot"));
    assert!(
        browser
            .text("#connection option[value=robot]")
            .await
            .contains("(current)")
    );
    assert_eq!(
        sessions.lln_choice(&hash).await.unwrap(),
        Some(robot_id.clone())
    );
    browser.screenshot("lln-connection-chosen").await;

    // Another screen uses the choice: the candidate goes to LLN Robot only.
    c.goto(&format!("{base}/console/lln/candidates/new?learner=L1"))
        .await
        .unwrap();
    assert_eq!(
        browser.text("#working-with").await,
        "LLN connection: LLN Robot (LLN Robot, robot)",
        "every LLN screen names the connection it works with"
    );
    browser.click("#create-candidate").await;
    assert!(browser.text("#notice").await.contains("created"));
    assert!(
        stores
            .lln
            .invitation(&acme(), &robot_id, &code("L1"))
            .await
            .unwrap()
            .is_some(),
        "stored under the chosen connection"
    );
    assert!(
        stores
            .lln
            .invitation(&acme(), &ocsat_id, &code("L1"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(robot.candidates().len(), 1);
    assert!(ocsat.candidates().is_empty(), "nothing sent to OCSAT");

    // Choosing OCSAT switches every LLN screen to it: no candidate there yet.
    c.goto(&format!("{base}/console/lln")).await.unwrap();
    assert_eq!(
        browser.text("#candidates tr[data-learner=L1] td").await,
        "L1"
    );
    c.find(Locator::Css("#connection"))
        .await
        .unwrap()
        .select_by_value("ocsat")
        .await
        .unwrap();
    browser.click("#choose").await;
    assert!(browser.text("#lln-connection").await.contains("OCSAT"));
    assert!(c.find(Locator::Css("#candidates")).await.is_err());
    for screen in [
        "downloads",
        "bulk",
        "reports/summary",
        "reports/history",
        "log",
    ] {
        c.goto(&format!("{base}/console/lln/{screen}"))
            .await
            .unwrap();
        assert_eq!(
            browser.text("#working-with").await,
            "LLN connection: OCSAT (OCSAT, ocsat)",
            "{screen}"
        );
    }
    assert_eq!(
        sessions.lln_choice(&hash).await.unwrap(),
        Some(ocsat_id.clone())
    );

    // A connection that is not one of the tenant's LLN ones is refused, naming
    // the field, and the choice stays.
    let csrf = sessions
        .session(&hash, Utc::now())
        .await
        .unwrap()
        .unwrap()
        .csrf;
    let refused = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{base}/console/lln/connection"))
        .header("cookie", format!("lb_console={session}"))
        .header("origin", &base)
        .form(&[("csrf", csrf.as_str()), ("connection", "moodle-main")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("<strong>connection</strong>: connection moodle-main does not exist"),
        "{page}"
    );
    assert_eq!(sessions.lln_choice(&hash).await.unwrap(), Some(ocsat_id));

    // Signing out forgets the choice with the session.
    browser.sign_out().await;
    assert_eq!(sessions.lln_choice(&hash).await.unwrap(), None);
    if let Err(e) = browser.client.clone().close().await {
        eprintln!("closing the browser: {e}");
    }
}
