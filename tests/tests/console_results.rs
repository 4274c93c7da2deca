//! The results and deliveries screens in a real browser (headless Chromium over
//! WebDriver) over the local stack: moto with IAM enforced and the Moodle
//! simulator. A person downloads results (the real results-fetch job, drained
//! from the queue), sees Ready and Error rows, fixes a date, adds one and
//! processes all; then resends and cancels deliveries and sees an expired one
//! shown loudly. Each step checks the page and the stores; a viewer sees no
//! button and is refused a POST.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, NaiveDate, Utc};
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::delivery::{DeliveryKind, DeliveryState};
use domain::ports::{ConnectionStore, DeliveryStore, ResultStore, Role, RunStore, SisStore};
use domain::results::{MappedActivity, Mapping, ResultType, ReviewState};
use domain::sis::*;
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use fantoccini::Locator;
use simulators::moodle::MoodleSim;
use tests::browser::Browser;

async fn key_with_role(
    system: &devstack::runner::LocalSystem,
    tenant: &TenantId,
    role: Role,
) -> String {
    tests::api_key_as(system, tenant, "console test", role)
        .await
        .0
}

async fn all_deliveries(
    stores: &cloud::Stores,
    tenant: &TenantId,
    sms: &ConnectionId,
) -> Vec<domain::delivery::Delivery> {
    let mut all = Vec::new();
    for state in DeliveryState::ALL {
        all.extend(
            stores
                .deliveries
                .by_state(tenant, sms, state, 100)
                .await
                .unwrap(),
        );
    }
    all
}

#[tokio::test]
async fn a_person_downloads_reviews_and_processes_results_and_manages_deliveries() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let (t, c_id, o, u1) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
        OfferingId::parse("OCC-1001").unwrap(),
        AssessableId::parse("U1").unwrap(),
    );
    let sms = ConnectionId::parse("sms").unwrap();
    // The results tests' graded course, reviewed before saving ...
    let (_sms_sim, _sms_server) = tests::graded_course(&system, &server.base_url, true).await;
    // ... with course completions read, under a name a person reads,
    let mut conn = stores
        .connections
        .connection(&t, &c_id)
        .await
        .unwrap()
        .unwrap();
    conn.name = "Acme Moodle".into();
    conn.settings = ConnectionSettings::Moodle(MoodleSettings {
        review_before_saving: true,
        use_enrolment_start_date: true,
        course_completions: true,
        ..MoodleSettings::default()
    });
    stores.connections.save_connection(&conn).await.unwrap();
    let now = Utc::now();
    // ... student 5's enrolment with no start date, so their result has none: it
    // is in error until a person sets one,
    stores
        .sis
        .save_enrolment(&Enrolment {
            tenant: t.clone(),
            learner: LearnerCode::parse("S5").unwrap(),
            offering: o.clone(),
            state: EnrolmentState::InProgress,
            start_date: None,
            session_date: None,
            updated_at: now,
        })
        .await
        .unwrap();
    // ... and U1 mapped to one activity: the start date is the enrolment's (VM-18).
    stores
        .results
        .save_mapping(&Mapping {
            tenant: t.clone(),
            offering: o.clone(),
            connection: c_id.clone(),
            assessable: u1.clone(),
            activities: vec![MappedActivity {
                cmid: 1,
                modname: "quiz".into(),
            }],
            updated_at: now,
        })
        .await
        .unwrap();
    let graded = (now - Duration::hours(1)).timestamp();
    sim.set_grade(6, 1, Some(7.0), graded);
    sim.set_activity_completion(6, 1, 2, graded);

    let base = tests::serve(system.api_router().await.unwrap()).await;
    let admin = key_with_role(&system, &t, Role::Admin).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    browser.sign_in(&base, &admin).await;

    // Download: the run is recorded Importing with a Stop button, the page refreshes.
    c.goto(&format!("{base}/console/results")).await.unwrap();
    assert!(browser.text("#last-run").await.contains("No run"));
    browser.click("#download").await;
    assert!(
        browser.text("#notice").await.contains("Download started"),
        "{}",
        c.source().await.unwrap()
    );
    assert_eq!(
        browser.text("#run-status").await,
        domain::RunStatus::Importing.label()
    );
    assert!(c.find(Locator::Css("#stop-download")).await.is_ok());
    assert!(
        c.source().await.unwrap().contains("http-equiv=\"refresh\""),
        "refreshes while importing"
    );
    assert!(c.find(Locator::Css("#download")).await.is_err());
    let runs = stores.runs.history(&t, &c_id, None, None, 5).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, domain::RunStatus::Importing);
    browser.screenshot("results-importing").await;

    // The queued download runs (results-fetch over the simulator).
    assert_eq!(system.drain().await.unwrap().failed, 0);
    c.goto(&format!("{base}/console/results?connection=moodle-main"))
        .await
        .unwrap();
    assert_ne!(
        browser.text("#run-status").await,
        domain::RunStatus::Importing.label()
    );
    let counts = browser.text("#run-counts").await;
    assert!(counts.contains("learners_read"), "{counts}");
    let ready = browser.text("#results").await;
    assert!(
        ready.contains("S4") && ready.contains("S6") && !ready.contains("S5"),
        "{ready}"
    );
    assert!(ready.contains("ready"), "the state in words: {ready}");
    browser.screenshot("results-ready").await;
    // The whole review page (the README shows it).
    browser.screenshot_page("results-review").await;

    // Error: S5 has no start date, and the reason is shown in words.
    browser.click("#tab-error").await;
    let row = browser.text("tr[data-learner=S5]").await;
    assert!(
        row.contains("error") && row.contains("no start date"),
        "{row}"
    );
    browser.screenshot("results-error").await;
    // A date that is not a day names the field and changes nothing.
    browser
        .fill("tr[data-learner=S5] input[name=start_date]", "2026-02-31")
        .await;
    browser.click("tr[data-learner=S5] button.save").await;
    assert!(browser.text("#form-error").await.starts_with("start_date:"));
    let s5 = LearnerCode::parse("S5").unwrap();
    let stored = stores
        .results
        .result(&t, &o, &s5, &u1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, ReviewState::Error);
    // The right date: S5 is Ready.
    browser
        .fill("tr[data-learner=S5] input[name=start_date]", "2026-02-03")
        .await;
    browser.click("tr[data-learner=S5] button.save").await;
    let stored = stores
        .results
        .result(&t, &o, &s5, &u1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.state, stored.start_date),
        (ReviewState::Ready, NaiveDate::from_ymd_opt(2026, 2, 3))
    );
    assert!(browser.text("tr[data-learner=S5]").await.contains("ready"));

    // Add one: S4 is processed into a delivery to the SMS.
    let s4 = LearnerCode::parse("S4").unwrap();
    browser.click("tr[data-learner=S4] button.process").await;
    let stored = stores
        .results
        .result(&t, &o, &s4, &u1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, ReviewState::Done);
    assert_eq!(browser.text("#tab-done").await, "Done");
    assert!(browser.text("#results").await.contains("S4"));
    let deliveries = all_deliveries(&stores, &t, &sms).await;
    assert!(
        deliveries
            .iter()
            .any(|d| d.learner == s4 && d.kind == DeliveryKind::Result),
        "{deliveries:?}"
    );

    // Process all: S5 and S6 too.
    browser.click("#tab-ready").await;
    browser.click("#process-all").await;
    assert!(
        browser
            .text("#notice")
            .await
            .contains("Processed 2 results")
    );
    for code in ["S4", "S5", "S6"] {
        let code = LearnerCode::parse(code).unwrap();
        let r = stores
            .results
            .result(&t, &o, &code, &u1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.state, ReviewState::Done, "{code}");
    }
    let s5_result = stores
        .results
        .result(&t, &o, &s5, &u1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s5_result.result, ResultType::Failed);
    let deliveries = all_deliveries(&stores, &t, &sms).await;
    for code in ["S4", "S5", "S6"] {
        assert!(
            deliveries.iter().any(|d| d.learner.as_str() == code),
            "{code}: {deliveries:?}"
        );
    }
    browser.screenshot("results-done").await;
    c.goto(&format!(
        "{base}/console/results?connection=moodle-main&tab=completions"
    ))
    .await
    .unwrap();
    assert!(c.find(Locator::Css("#tab-completions")).await.is_ok());
    browser.screenshot("results-completions").await;

    // Deliveries: one given up (expired) is shown loudly, in words.
    let mut gone = deliveries.iter().find(|d| d.learner == s5).unwrap().clone();
    gone.state = DeliveryState::Expired;
    gone.last_error = Some("the SMS refused it: unit U1 is closed".into());
    stores.deliveries.update(&gone, None).await.unwrap();
    c.goto(&format!("{base}/console/deliveries")).await.unwrap();
    let banner = browser.text("#expired-banner").await;
    assert!(banner.contains("1 delivery has expired"), "{banner}");
    let pending = browser.text("#deliveries").await;
    assert!(
        pending.contains("S4") && pending.contains("S6"),
        "{pending}"
    );
    browser.screenshot("deliveries").await;
    browser.click("#state-expired").await;
    let row = browser
        .text(&format!("tr[data-delivery='{}']", gone.id))
        .await;
    assert!(
        row.contains("Expired: given up after 30 days") && row.contains("unit U1 is closed"),
        "{row}"
    );
    browser.screenshot("deliveries-expired").await;

    // Resend the expired one: pending again, due now.
    browser
        .click(&format!("tr[data-delivery='{}'] button.resend", gone.id))
        .await;
    let again = stores
        .deliveries
        .delivery(&t, &gone.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.state, DeliveryState::Pending);
    assert!(again.next_attempt_at <= Utc::now());
    assert!(c.find(Locator::Css("#expired-banner")).await.is_err());

    // Cancel S6's: never tried again.
    let s6 = deliveries
        .iter()
        .find(|d| d.learner.as_str() == "S6")
        .unwrap();
    c.goto(&format!("{base}/console/deliveries?state=pending"))
        .await
        .unwrap();
    browser
        .click(&format!("tr[data-delivery='{}'] button.cancel", s6.id))
        .await;
    assert!(browser.text("#notice").await.contains("cancelled"));
    let cancelled = stores
        .deliveries
        .delivery(&t, &s6.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.state, DeliveryState::Cancelled);

    // A viewer reads both screens with no button, and a POST is refused.
    browser.sign_out().await;
    let viewer = key_with_role(&system, &t, Role::Viewer).await;
    let id = browser.sign_in(&base, &viewer).await;
    for page in [
        "results?tab=done",
        "results?tab=ready",
        "deliveries?state=pending",
    ] {
        c.goto(&format!("{base}/console/{page}")).await.unwrap();
        assert!(
            c.find(Locator::Css("main form[method=post]"))
                .await
                .is_err(),
            "{page}"
        );
    }
    browser.screenshot("deliveries-viewer").await;
    let csrf = tests::browser::csrf_of(&system, &id).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let refused = http
        .post(format!("{base}/console/deliveries/{}/cancel", gone.id))
        .header("cookie", format!("lb_console={id}"))
        .header("origin", &base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let still = stores
        .deliveries
        .delivery(&t, &gone.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        still.state,
        DeliveryState::Pending,
        "the viewer changed nothing"
    );
    // Ending the WebDriver session is teardown, not a check of the console.
    if let Err(e) = browser.client.clone().close().await {
        eprintln!("closing the browser: {e}");
    }
}
