//! The results and deliveries screens in a real browser (headless Chromium over
//! WebDriver) over the local stack: moto with IAM enforced and the Moodle
//! simulator. A person downloads results (the real results-fetch job, drained
//! from the queue), sees Ready and Error rows, fixes a date, adds one and
//! processes all; then resends and cancels deliveries and sees an expired one
//! shown loudly. Each step checks the page and the stores; a viewer sees no
//! button and is refused a POST.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, NaiveDate, Utc};
use cloud::testing::connection;
use domain::ConnectionKind::{Moodle, Sms};
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::delivery::{DeliveryKind, DeliveryState};
use domain::ports::{
    ConnectionStore, DeliveryStore, LinkStore, ResultStore, Role, RunStore, SessionStore, SisStore,
};
use domain::results::{MappedActivity, Mapping, ResultType, ReviewState};
use domain::sis::*;
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use fantoccini::Locator;
use secrecy::SecretString;
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};
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

async fn sign_in(browser: &Browser, base: &str, key: &str) -> String {
    let c = &browser.client;
    c.goto(&format!("{base}/console/sign-in")).await.unwrap();
    c.find(Locator::Css("#api_key"))
        .await
        .unwrap()
        .send_keys(key)
        .await
        .unwrap();
    browser.click("form button[type=submit]").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/console/connections"
    );
    c.get_named_cookie("lb_console")
        .await
        .unwrap()
        .value()
        .to_owned()
}

async fn text(browser: &Browser, css: &str) -> String {
    browser
        .client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn click(browser: &Browser, css: &str) {
    browser.click(css).await;
}

async fn fill(browser: &Browser, css: &str, value: &str) {
    let field = browser
        .client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
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
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = server.base_url.clone();
    conn.name = "Acme Moodle".into();
    conn.settings = ConnectionSettings::Moodle(MoodleSettings {
        review_before_saving: true,
        use_enrolment_start_date: true,
        course_completions: true,
        ..MoodleSettings::default()
    });
    stores.connections.save_connection(&conn).await.unwrap();
    stores
        .connections
        .save_connection(&connection("acme", "sms", Sms, true))
        .await
        .unwrap();
    stores
        .secrets
        .put(
            &conn.secret_name(&system.config.secret_prefix),
            &SecretString::from(SAMPLE_TOKEN),
        )
        .await
        .unwrap();
    let now = Utc::now();
    stores
        .sis
        .save_offering(&Offering {
            tenant: t.clone(),
            id: o.clone(),
            name: "Accounting".into(),
            start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![Assessable {
                id: u1.clone(),
                name: "Unit 1".into(),
                kind: AssessableKind::Unit,
                expected_start_date: None,
            }],
            updated_at: now,
        })
        .await
        .unwrap();
    // Students 4, 5 and 6 of the sample site; student 5's enrolment has no start
    // date, so their result has none: it is in error until a person sets one.
    for (moodle_id, code, start) in [
        (4, "S4", NaiveDate::from_ymd_opt(2026, 2, 1)),
        (5, "S5", None),
        (6, "S6", NaiveDate::from_ymd_opt(2026, 2, 1)),
    ] {
        let code = LearnerCode::parse(code).unwrap();
        stores
            .sis
            .save_enrolment(&Enrolment {
                tenant: t.clone(),
                learner: code.clone(),
                offering: o.clone(),
                state: EnrolmentState::InProgress,
                start_date: start,
                session_date: None,
                updated_at: now,
            })
            .await
            .unwrap();
        stores
            .links
            .save_account(&ExternalAccount {
                tenant: t.clone(),
                connection: c_id.clone(),
                learner: code,
                external_id: moodle_id,
                created_by_us: false,
                linked_at: now,
            })
            .await
            .unwrap();
    }
    stores
        .links
        .save_link(&CourseLink {
            tenant: t.clone(),
            offering: o.clone(),
            connection: c_id.clone(),
            course_id: 2,
            course_idnumber: Some("OCC-1001".into()),
            course_shortname: Some("OCC-1001".into()),
            linked_at: now,
        })
        .await
        .unwrap();
    stores
        .results
        .save_mapping(&Mapping {
            tenant: t.clone(),
            offering: o.clone(),
            connection: c_id.clone(),
            assessable: u1.clone(),
            // One activity: the start date is the enrolment's (VM-18).
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
    sign_in(&browser, &base, &admin).await;

    // Download: the run is recorded Importing with a Stop button, the page refreshes.
    c.goto(&format!("{base}/console/results")).await.unwrap();
    assert!(text(&browser, "#last-run").await.contains("No run"));
    click(&browser, "#download").await;
    assert!(
        text(&browser, "#notice").await.contains("Download started"),
        "{}",
        c.source().await.unwrap()
    );
    assert_eq!(
        text(&browser, "#run-status").await,
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
        text(&browser, "#run-status").await,
        domain::RunStatus::Importing.label()
    );
    let counts = text(&browser, "#run-counts").await;
    assert!(counts.contains("learners_read"), "{counts}");
    let ready = text(&browser, "#results").await;
    assert!(
        ready.contains("S4") && ready.contains("S6") && !ready.contains("S5"),
        "{ready}"
    );
    assert!(ready.contains("ready"), "the state in words: {ready}");
    browser.screenshot("results-ready").await;

    // Error: S5 has no start date, and the reason is shown in words.
    click(&browser, "#tab-error").await;
    let row = text(&browser, "tr[data-learner=S5]").await;
    assert!(
        row.contains("error") && row.contains("no start date"),
        "{row}"
    );
    browser.screenshot("results-error").await;
    // A date that is not a day names the field and changes nothing.
    fill(
        &browser,
        "tr[data-learner=S5] input[name=start_date]",
        "2026-02-31",
    )
    .await;
    click(&browser, "tr[data-learner=S5] button.save").await;
    assert!(
        text(&browser, "#form-error")
            .await
            .starts_with("start_date:")
    );
    let s5 = LearnerCode::parse("S5").unwrap();
    let stored = stores
        .results
        .result(&t, &o, &s5, &u1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, ReviewState::Error);
    // The right date: S5 is Ready.
    fill(
        &browser,
        "tr[data-learner=S5] input[name=start_date]",
        "2026-02-03",
    )
    .await;
    click(&browser, "tr[data-learner=S5] button.save").await;
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
    assert!(
        text(&browser, "tr[data-learner=S5]")
            .await
            .contains("ready")
    );

    // Add one: S4 is processed into a delivery to the SMS.
    let s4 = LearnerCode::parse("S4").unwrap();
    click(&browser, "tr[data-learner=S4] button.process").await;
    let stored = stores
        .results
        .result(&t, &o, &s4, &u1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, ReviewState::Done);
    assert_eq!(text(&browser, "#tab-done").await, "Done");
    assert!(text(&browser, "#results").await.contains("S4"));
    let deliveries = all_deliveries(&stores, &t, &sms).await;
    assert!(
        deliveries
            .iter()
            .any(|d| d.learner == s4 && d.kind == DeliveryKind::Result),
        "{deliveries:?}"
    );

    // Process all: S5 and S6 too.
    click(&browser, "#tab-ready").await;
    click(&browser, "#process-all").await;
    assert!(
        text(&browser, "#notice")
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
    let banner = text(&browser, "#expired-banner").await;
    assert!(banner.contains("1 delivery has expired"), "{banner}");
    let pending = text(&browser, "#deliveries").await;
    assert!(
        pending.contains("S4") && pending.contains("S6"),
        "{pending}"
    );
    browser.screenshot("deliveries").await;
    click(&browser, "#state-expired").await;
    let row = text(&browser, &format!("tr[data-delivery='{}']", gone.id)).await;
    assert!(
        row.contains("Expired: given up after 30 days") && row.contains("unit U1 is closed"),
        "{row}"
    );
    browser.screenshot("deliveries-expired").await;

    // Resend the expired one: pending again, due now.
    click(
        &browser,
        &format!("tr[data-delivery='{}'] button.resend", gone.id),
    )
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
    click(
        &browser,
        &format!("tr[data-delivery='{}'] button.cancel", s6.id),
    )
    .await;
    assert!(text(&browser, "#notice").await.contains("cancelled"));
    let cancelled = stores
        .deliveries
        .delivery(&t, &s6.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.state, DeliveryState::Cancelled);

    // A viewer reads both screens with no button, and a POST is refused.
    browser.click(".who button").await;
    let viewer = key_with_role(&system, &t, Role::Viewer).await;
    let id = sign_in(&browser, &base, &viewer).await;
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
    let sessions = cloud::dynamo::DynamoSessionStore::new(cloud::dynamo::Table::new(
        aws_sdk_dynamodb::Client::new(&cloud::testing::sdk().await),
        system.config.tables.data.clone(),
    ));
    let csrf = sessions
        .session(&console::session::id_hash(&id), Utc::now())
        .await
        .unwrap()
        .unwrap()
        .csrf;
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
