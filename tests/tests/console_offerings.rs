//! The offerings screens in a real browser over the local stack (moto with IAM
//! enforced, the Moodle simulator): an offering found by its id and linked to the
//! course whose ID number it is, its transfer preview in three colours (each with
//! its word) and a blocked reason (the transfer itself started through the api), a CourseKey status Failed with its reason
//! readable without hovering, and a viewer who sees no change button.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use cloud::testing::connection;
use domain::ConnectionKind::Moodle;
use domain::attendance::{CourseKeyOffering, HoursType};
use domain::ports::{AttendanceStore, ConnectionStore, LinkStore, Role, SessionStore, SisStore};
use domain::sis::{Enrolment, EnrolmentState, Learner, Offering, OfferingStatus, TransferStatus};
use domain::{LearnerCode, OfferingId, RunStatus, TenantId};
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

fn offering(tenant: &TenantId, id: &str, dated: bool) -> Offering {
    Offering {
        tenant: tenant.clone(),
        id: OfferingId::parse(id).unwrap(),
        name: "First aid".into(),
        start_date: dated.then(|| chrono::NaiveDate::from_ymd_opt(2027, 2, 1).unwrap()),
        end_date: dated.then(|| chrono::NaiveDate::from_ymd_opt(2027, 3, 31).unwrap()),
        status: OfferingStatus::Active,
        auto_push: false,
        must_be_evaluated: false,
        assessables: vec![],
        updated_at: Utc::now(),
    }
}

/// A learner and their enrolment in `offering`, as the SMS sends them.
async fn enrol(
    stores: &cloud::Stores,
    tenant: &TenantId,
    offering: &OfferingId,
    (code, given, family, email): (&str, &str, &str, Option<&str>),
) {
    let code = LearnerCode::parse(code).unwrap();
    let now = Utc::now();
    stores
        .sis
        .save_learner(&Learner {
            tenant: tenant.clone(),
            code: code.clone(),
            username: None,
            given_name: given.into(),
            middle_name: None,
            family_name: family.into(),
            email: email.map(str::to_owned),
            date_of_birth: None,
            archived: false,
            email_opt_out: true,
            updated_at: now,
        })
        .await
        .unwrap();
    stores
        .sis
        .save_enrolment(&Enrolment {
            tenant: tenant.clone(),
            learner: code,
            offering: offering.clone(),
            state: EnrolmentState::NotCalled,
            start_date: chrono::NaiveDate::from_ymd_opt(2027, 2, 1),
            session_date: None,
            updated_at: now,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn an_offering_is_linked_by_id_number_previewed_transferred_and_its_coursekey_status_read() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let moodle = sim.start().await.unwrap();
    let acme = TenantId::parse("acme").unwrap();
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = moodle.base_url.clone();
    conn.name = "Acme Moodle".into();
    stores.connections.save_connection(&conn).await.unwrap();
    stores
        .secrets
        .put(
            &conn.secret_name(&system.config.secret_prefix),
            &secrecy::SecretString::from(simulators::moodle::SAMPLE_TOKEN),
        )
        .await
        .unwrap();
    // OCC-1001 is in the SMS, not linked; the sample site's course 2 has its id as ID number.
    let occ = offering(&acme, "OCC-1001", true);
    stores.sis.save_offering(&occ).await.unwrap();
    enrol(
        &stores,
        &acme,
        &occ.id,
        ("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com")),
    )
    .await;
    enrol(&stores, &acme, &occ.id, ("X0000000", "Sin", "Correo", None)).await;
    // OCC-3001 is marked for CourseKey but has no dates: Failed, with the reason.
    let undated = offering(&acme, "OCC-3001", false);
    stores.sis.save_offering(&undated).await.unwrap();
    stores
        .attendance
        .save_coursekey_offering(&CourseKeyOffering {
            tenant: acme.clone(),
            offering: undated.id.clone(),
            send_to_coursekey: true,
            hours_type: HoursType::default(),
            instructors: vec!["INS-1".into()],
            classes: vec![],
            synchronized_at: None,
            last_error: None,
            pushed_fingerprint: None,
            pushed_classes: vec![],
        })
        .await
        .unwrap();

    let base = tests::serve(system.api_router().await.unwrap()).await;
    let admin = tests::api_key(&system, &acme).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    browser.sign_in(&base, &admin).await;

    // The list: every offering the SMS sent; OCC-3001 Failed with its reason in words.
    browser.click("nav a[href='/console/offerings']").await;
    let row = browser.text("tr[data-offering=OCC-3001]").await;
    assert!(row.contains("Not linked"), "{row}");
    assert!(
        row.contains("Failed: the offering has no start or end date"),
        "{row}"
    );
    let title = c
        .find(Locator::Css(
            "tr[data-offering=OCC-3001] .coursekey .status",
        ))
        .await
        .unwrap()
        .attr("title")
        .await
        .unwrap();
    assert_eq!(
        title.as_deref(),
        Some("the offering has no start or end date")
    );
    assert!(
        browser
            .text("tr[data-offering=OCC-1001] td.link")
            .await
            .contains("Not linked")
    );
    // An unknown id names the field.
    c.goto(&format!("{base}/console/offerings?open=OCC-9999"))
        .await
        .unwrap();
    assert!(
        browser.text(".field-error").await.starts_with("open:"),
        "{}",
        c.source().await.unwrap()
    );
    browser.screenshot("offerings").await;

    // Open OCC-1001 by its id: not linked; find the course by ID number.
    c.goto(&format!("{base}/console/offerings?open=OCC-1001"))
        .await
        .unwrap();
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/console/offerings/OCC-1001"
    );
    assert!(browser.text(".not-linked").await.contains("OCC-1001"));
    browser.click("button.find-link").await;
    if c.find(Locator::Css("section.moodle .course"))
        .await
        .is_err()
    {
        panic!("not linked: {}", browser.text("main").await);
    }
    assert!(
        browser
            .text("section.moodle .course")
            .await
            .starts_with("course 2"),
        "{}",
        c.source().await.unwrap()
    );
    let link = stores
        .links
        .link(&acme, &occ.id, &conn.id)
        .await
        .unwrap()
        .expect("linked");
    assert_eq!(link.course_id, 2);
    assert_eq!(link.course_idnumber.as_deref(), Some("OCC-1001"));

    // The preview: Ana ready, the learner without an email blocked with the fix.
    let ready = c
        .find(Locator::Css("tr[data-learner=X1234567]"))
        .await
        .unwrap();
    assert_eq!(
        ready.attr("class").await.unwrap().as_deref(),
        Some("transfer-ready")
    );
    assert!(ready.text().await.unwrap().contains("Ready"));
    let blocked = browser.text("tr[data-learner=X0000000]").await;
    assert!(blocked.contains("Blocked"), "{blocked}");
    assert!(blocked.to_lowercase().contains("email"), "{blocked}");

    // Transfer (through the api: the console's button is not built yet), worked by the queues.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let started = http
        .post(format!("{base}/v1/offerings/OCC-1001/transfers"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"connection": "moodle-main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    assert_eq!(system.drain().await.unwrap().failed, 0);
    let runs = stores.runs.runs_of(&acme, &conn.id, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_ne!(runs[0].status, RunStatus::Importing);
    let transfers = stores
        .links
        .transfers(&acme, &conn.id, &occ.id)
        .await
        .unwrap();
    let ana = transfers
        .iter()
        .find(|t| t.learner.as_str() == "X1234567")
        .unwrap();
    assert_eq!(ana.status, TransferStatus::Transferred);

    // A new enrolment: the preview in its three colours, each with its word.
    enrol(
        &stores,
        &acme,
        &occ.id,
        ("X7654321", "Luis", "Gómez", Some("luis.gomez@example.com")),
    )
    .await;
    c.goto(&format!("{base}/console/offerings/OCC-1001"))
        .await
        .unwrap();
    for (learner, class, word) in [
        ("X1234567", "transfer-done", "Transferred"),
        ("X7654321", "transfer-ready", "Ready"),
        ("X0000000", "transfer-blocked", "Blocked"),
    ] {
        let row = c
            .find(Locator::Css(&format!("tr[data-learner={learner}]")))
            .await
            .unwrap();
        assert_eq!(row.attr("class").await.unwrap().as_deref(), Some(class));
        assert!(row.text().await.unwrap().contains(word), "{learner}");
    }
    assert_eq!(browser.text("#coursekey-status").await, "Disabled");
    browser.screenshot("offering").await;

    // The list now shows OCC-1001's course.
    c.goto(&format!("{base}/console/offerings")).await.unwrap();
    assert!(
        browser
            .text("tr[data-offering=OCC-1001] td.link")
            .await
            .starts_with("course 2")
    );

    // A viewer: no change button; a POST is refused.
    let viewer = key_with_role(&system, &acme, Role::Viewer).await;
    c.delete_all_cookies().await.unwrap();
    let id = browser.sign_in(&base, &viewer).await;
    c.goto(&format!("{base}/console/offerings/OCC-1001"))
        .await
        .unwrap();
    assert!(c.find(Locator::Css("main form")).await.is_err());
    let sdk = cloud::testing::sdk().await;
    let sessions = cloud::dynamo::DynamoSessionStore::new(cloud::dynamo::Table::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        system.config.tables.data.clone(),
    ));
    let csrf = sessions
        .session(&console::session::id_hash(&id), Utc::now())
        .await
        .unwrap()
        .unwrap()
        .csrf;
    let refused = http
        .post(format!("{base}/console/offerings/OCC-1001/link"))
        .header("cookie", format!("lb_console={id}"))
        .header("origin", &base)
        .form(&[("csrf", csrf.as_str()), ("connection", "moodle-main")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        stores
            .runs
            .runs_of(&acme, &conn.id, 10)
            .await
            .unwrap()
            .len(),
        1,
        "no run started by the viewer"
    );
}
