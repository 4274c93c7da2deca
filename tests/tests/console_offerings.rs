//! The offerings screens in a real browser over the local stack (moto with IAM
//! enforced, the Moodle simulator): an offering found by its id and linked to the
//! course whose ID number it is, its transfer preview in three colours (each with
//! its word) and a blocked reason, a CourseKey status Failed with its reason
//! readable without hovering, and a viewer who sees no change button. An
//! offering's actions under the console's own role: Transfer and its run, the
//! activities and the mapping editor, Remove from Moodle (the grade read first
//! and kept), a new course in a chosen category, a blocked learner's record.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use cloud::testing::connection;
use domain::ConnectionKind::Moodle;
use domain::attendance::{CourseKeyOffering, HoursType};
use domain::ports::{AttendanceStore, ConnectionStore, LinkStore, ResultStore, Role, SisStore};
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

/// Acme's Moodle connection "moodle-main" to the simulator at `base_url`, with
/// the sample site's token as its secret.
async fn acme_moodle(system: &devstack::runner::LocalSystem, base_url: &str) -> domain::Connection {
    let stores = system.stores();
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = base_url.to_owned();
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
    conn
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
    let conn = acme_moodle(&system, &moodle.base_url).await;
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
    let csrf = tests::browser::csrf_of(&system, &id).await;
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

/// An admin, in the console alone: maps the assessable, transfers (the run
/// finishes, the learner is enrolled in the simulator), removes the learner
/// from Moodle after confirming (unenrolled there, the grade read first and
/// kept), opens the blocked learner's record (the field to fix marked; another
/// tenant's learner is not found), and creates a course in a chosen category.
/// A viewer sees none of the buttons and their POSTs are refused.
#[tokio::test]
async fn an_admin_maps_transfers_removes_creates_a_course_and_opens_a_blocked_record() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let moodle = sim.start().await.unwrap();
    let acme = TenantId::parse("acme").unwrap();
    let conn = acme_moodle(&system, &moodle.base_url).await;
    let mut occ = offering(&acme, "OCC-1001", true);
    occ.assessables = vec![domain::sis::Assessable {
        id: domain::AssessableId::parse("U1").unwrap(),
        name: "Unit 1".into(),
        kind: domain::sis::AssessableKind::Unit,
        expected_start_date: None,
    }];
    stores.sis.save_offering(&occ).await.unwrap();
    enrol(
        &stores,
        &acme,
        &occ.id,
        ("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com")),
    )
    .await;
    enrol(&stores, &acme, &occ.id, ("X0000000", "Sin", "Correo", None)).await;
    let fresh = offering(&acme, "NEW-2001", true);
    stores.sis.save_offering(&fresh).await.unwrap();
    // Another tenant's learner.
    let beta = TenantId::parse("beta").unwrap();
    let beta_offering = offering(&beta, "B-1", true);
    stores.sis.save_offering(&beta_offering).await.unwrap();
    enrol(
        &stores,
        &beta,
        &beta_offering.id,
        ("B0000001", "Bea", "Other", Some("bea@example.com")),
    )
    .await;

    let base = tests::serve(system.api_router().await.unwrap()).await;
    let admin = tests::api_key(&system, &acme).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    let admin_session = browser.sign_in(&base, &admin).await;
    c.goto(&format!("{base}/console/offerings/OCC-1001"))
        .await
        .unwrap();
    browser.click("button.find-link").await;
    assert!(
        browser
            .text("section.moodle .course")
            .await
            .starts_with("course 2")
    );

    // Activities: each with its type and whether it can be mapped; map U1 to the quiz.
    browser.click("a.activities-link").await;
    for (cmid, modname, mappable) in [(1, "quiz", "Yes"), (2, "assign", "Yes"), (3, "page", "No")] {
        let row = format!("#activities tr[data-cmid='{cmid}']");
        assert_eq!(browser.text(&format!("{row} .modname")).await, modname);
        assert_eq!(browser.text(&format!("{row} .mappable")).await, mappable);
    }
    assert!(
        c.find(Locator::Css("section[data-assessable=U1] input[value='3']"))
            .await
            .is_err(),
        "a page cannot be mapped: no box for it"
    );
    // Nothing ticked: the error names the field.
    browser
        .click("section[data-assessable=U1] button.save-mapping")
        .await;
    assert!(
        browser.text("#form-error").await.starts_with("activities"),
        "{}",
        browser.text("#form-error").await
    );
    browser
        .click("section[data-assessable=U1] input[value='1']")
        .await;
    browser
        .click("section[data-assessable=U1] button.save-mapping")
        .await;
    assert!(
        browser
            .text("section[data-assessable=U1] .mapped")
            .await
            .contains("OCC Quiz 1 (quiz, 1)"),
        "{}",
        browser.text("main").await
    );
    assert_eq!(
        browser
            .text("#activities tr[data-cmid='1'] .mapped-to")
            .await,
        "U1"
    );
    let mappings = stores
        .results
        .mappings(&acme, &occ.id, &conn.id)
        .await
        .unwrap();
    assert_eq!(mappings.len(), 1);
    assert_eq!(mappings[0].assessable.as_str(), "U1");
    assert_eq!(
        mappings[0]
            .activities
            .iter()
            .map(|a| a.cmid)
            .collect::<Vec<_>>(),
        [1]
    );
    browser.screenshot("offering-activities").await;
    // Removed, then set again.
    browser
        .click("section[data-assessable=U1] button.remove-mapping")
        .await;
    assert_eq!(
        browser.text("section[data-assessable=U1] .mapped").await,
        "not mapped"
    );
    assert!(
        stores
            .results
            .mappings(&acme, &occ.id, &conn.id)
            .await
            .unwrap()
            .is_empty()
    );
    browser
        .click("section[data-assessable=U1] input[value='1']")
        .await;
    browser
        .click("section[data-assessable=U1] button.save-mapping")
        .await;
    assert_eq!(
        stores
            .results
            .mappings(&acme, &occ.id, &conn.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // Transfer: the run is queued, then worked by the enrolment push; its counts and log.
    browser.click("#back").await;
    browser.click("section.moodle button.transfer").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/console/offerings/OCC-1001/transfers/moodle-main/")
    );
    assert_eq!(browser.text("#run-status").await, "Queued");
    assert_eq!(system.drain().await.unwrap().failed, 0);
    c.refresh().await.unwrap();
    let status = browser.text("#run-status").await;
    assert!(status.starts_with("Finished"), "{status}");
    assert!(
        browser.text("#run-counts").await.contains("Finished"),
        "{}",
        browser.text("main").await
    );
    let runs = stores.runs.runs_of(&acme, &conn.id, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_ne!(runs[0].status, RunStatus::Importing);
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with(&runs[0].id.to_string())
    );
    for (name, n) in &runs[0].counts {
        assert_eq!(
            browser
                .text(&format!("#run-counts dd[data-count='{name}']"))
                .await,
            n.to_string()
        );
    }
    browser.screenshot("offering-transfer").await;

    // A transfer queued long ago whose run was never recorded (its job never
    // started): the page says so and stops refreshing; one queued a minute
    // ago is still Queued.
    let run_queued = |ago: chrono::Duration| {
        let at = u64::try_from((Utc::now() - ago).timestamp_millis()).unwrap();
        domain::RunId::for_schedule(at, &acme, &conn.id)
    };
    let transfer_page = |run: domain::RunId| {
        format!("{base}/console/offerings/OCC-1001/transfers/moodle-main/{run}")
    };
    c.goto(&transfer_page(run_queued(chrono::Duration::minutes(45))))
        .await
        .unwrap();
    assert_eq!(browser.text("#run-status").await, "Not started");
    let said = browser.text("#not-started").await;
    assert!(
        said.contains("45 minutes after the transfer was queued"),
        "{said}"
    );
    assert!(
        c.find(Locator::Css("meta[http-equiv=refresh]"))
            .await
            .is_err(),
        "it stops refreshing"
    );
    c.goto(&transfer_page(run_queued(chrono::Duration::minutes(1))))
        .await
        .unwrap();
    assert_eq!(browser.text("#run-status").await, "Queued");
    c.goto(&transfer_page(runs[0].id.clone())).await.unwrap();
    browser.click("#run-log").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        format!("/console/connections/moodle-main/runs/{}", runs[0].id)
    );
    let ana = stores
        .links
        .transfer(
            &acme,
            &conn.id,
            &occ.id,
            &LearnerCode::parse("X1234567").unwrap(),
        )
        .await
        .unwrap()
        .expect("Ana's transfer");
    assert_eq!(ana.status, TransferStatus::Transferred);
    let ana_id = ana.external_user.expect("Ana's Moodle user");
    let enrolled = |user: i64| {
        let s = sim.snapshot();
        s.user_enrolments.iter().any(|e| {
            e.userid == user
                && s.enrol_instances
                    .iter()
                    .any(|i| i.id == e.enrolid && i.courseid == 2)
        })
    };
    assert!(enrolled(ana_id), "Ana is enrolled in course 2 in Moodle");

    // Ana is graded in Moodle; then removed from Moodle from the console.
    sim.set_grade(ana_id, 1, Some(8.0), Utc::now().timestamp());
    c.goto(&format!("{base}/console/offerings/OCC-1001"))
        .await
        .unwrap();
    assert!(
        c.find(Locator::Css("tr[data-learner=X0000000] a.remove-link"))
            .await
            .is_err(),
        "only a transferred learner can be removed"
    );
    browser
        .click("tr[data-learner=X1234567] a.remove-link")
        .await;
    let what = browser.text("#what-happens").await;
    assert!(what.contains("read from Moodle and kept"), "{what}");
    assert!(what.contains("unenrolled"), "{what}");
    assert!(enrolled(ana_id), "nothing happens before the confirmation");
    browser.screenshot("offering-removal").await;
    browser.click("#confirm-removal").await;
    assert!(
        browser.text("#removal-result").await.contains("queued"),
        "{}",
        browser.text("main").await
    );
    assert_eq!(system.drain().await.unwrap().failed, 0);
    c.refresh().await.unwrap();
    assert_eq!(browser.text("#removal-status").await, "Removed");
    let kept_row = browser.text("#kept-results tr[data-assessable=U1]").await;
    assert!(
        kept_row.contains("passed"),
        "{}",
        browser.text("main").await
    );
    browser.screenshot("offering-removed").await;
    assert!(!enrolled(ana_id), "unenrolled in Moodle");
    let kept = stores
        .results
        .result(
            &acme,
            &occ.id,
            &LearnerCode::parse("X1234567").unwrap(),
            &domain::AssessableId::parse("U1").unwrap(),
        )
        .await
        .unwrap()
        .expect("the grade read before the removal is kept");
    assert_eq!(
        kept.result,
        domain::results::ResultType::Passed,
        "read before the removal, kept for review: {kept:?}"
    );
    assert_eq!(
        stores
            .links
            .transfer(
                &acme,
                &conn.id,
                &occ.id,
                &LearnerCode::parse("X1234567").unwrap()
            )
            .await
            .unwrap()
            .unwrap()
            .status,
        TransferStatus::Removed
    );

    // The blocked learner's record: the field the reason names is marked.
    c.goto(&format!("{base}/console/offerings/OCC-1001"))
        .await
        .unwrap();
    browser
        .click("tr[data-learner=X0000000] a.learner-record")
        .await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/console/learners/X0000000"
    );
    assert!(browser.text("#block-reasons").await.contains("email"));
    let email = c.find(Locator::Css("tr[data-field=email]")).await.unwrap();
    assert_eq!(
        email.attr("class").await.unwrap().as_deref(),
        Some("to-fix")
    );
    assert!(email.text().await.unwrap().contains("Fix in the SMS"));
    let given = browser.text("tr[data-field=given_name]").await;
    assert!(
        given.contains("Sin") && !given.contains("Fix in the SMS"),
        "{given}"
    );
    browser.screenshot("learner").await;
    // Another tenant's learner is not found.
    c.goto(&format!("{base}/console/learners/B0000001"))
        .await
        .unwrap();
    assert!(browser.text("main").await.contains("no learner"));
    assert!(!browser.text("main").await.contains("Bea"));
    let answer = reqwest::Client::new()
        .get(format!("{base}/console/learners/B0000001"))
        .header("cookie", format!("lb_console={admin_session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);

    // A new course in a chosen category for NEW-2001.
    let acceptance = sim
        .snapshot()
        .categories
        .into_iter()
        .find(|k| k.name == "Acceptance Category")
        .unwrap()
        .id;
    c.goto(&format!("{base}/console/offerings/NEW-2001"))
        .await
        .unwrap();
    browser.click("a.create-link").await;
    assert!(
        browser
            .text("#category")
            .await
            .contains("Acceptance Category")
    );
    c.find(Locator::Css("#category"))
        .await
        .unwrap()
        .select_by_value(&acceptance.to_string())
        .await
        .unwrap();
    browser.fill("#shortname", " ").await;
    browser.click("#create-course").await;
    assert!(
        browser.text("#form-error").await.starts_with("shortname"),
        "{}",
        browser.text("main").await
    );
    assert!(browser.text("#shortname-error").await.contains("empty"));
    browser.screenshot("offering-course").await;
    browser.fill("#shortname", "NEW-2001").await;
    c.find(Locator::Css("#category"))
        .await
        .unwrap()
        .select_by_value(&acceptance.to_string())
        .await
        .unwrap();
    browser.click("#create-course").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/console/offerings/NEW-2001",
        "{}",
        browser.text("main").await
    );
    let link = stores
        .links
        .link(&acme, &fresh.id, &conn.id)
        .await
        .unwrap()
        .expect("the new course is linked");
    let course = sim
        .snapshot()
        .courses
        .into_iter()
        .find(|k| k.id == link.course_id)
        .expect("the course in Moodle");
    assert_eq!(
        (
            course.category,
            course.idnumber.as_str(),
            course.shortname.as_str()
        ),
        (acceptance, "NEW-2001", "NEW-2001")
    );
    assert!(
        browser
            .text("section.moodle .course")
            .await
            .starts_with(&format!("course {}", link.course_id))
    );

    // A viewer: no Transfer, Remove, create or mapping button; their POSTs are refused.
    let viewer = key_with_role(&system, &acme, Role::Viewer).await;
    c.delete_all_cookies().await.unwrap();
    let session = browser.sign_in(&base, &viewer).await;
    for page in [
        "/console/offerings/OCC-1001",
        "/console/offerings/OCC-1001/activities/moodle-main",
        "/console/offerings/NEW-2001",
    ] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        assert!(c.find(Locator::Css("main form")).await.is_err(), "{page}");
        assert!(
            c.find(Locator::Css("a.remove-link")).await.is_err(),
            "{page}"
        );
    }
    assert!(browser.text("main").await.contains("An admin can transfer"));
    let csrf = tests::browser::csrf_of(&system, &session).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, form) in [
        (
            "/console/offerings/OCC-1001/transfers",
            vec![("connection", "moodle-main")],
        ),
        (
            "/console/offerings/OCC-1001/activities/moodle-main/U1",
            vec![("activities", "2")],
        ),
        (
            "/console/offerings/OCC-1001/courses/moodle-main",
            vec![("shortname", "V"), ("fullname", "V"), ("category", "1")],
        ),
        (
            "/console/offerings/OCC-1001/removal/moodle-main/X1234567",
            vec![],
        ),
        (
            "/console/offerings/OCC-1001/activities/moodle-main/U1/remove",
            vec![],
        ),
    ] {
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend(form);
        let refused = http
            .post(format!("{base}{path}"))
            .header("cookie", format!("lb_console={session}"))
            .header("origin", &base)
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "{path}");
    }
    assert_eq!(system.drain().await.unwrap().failed, 0);
    assert_eq!(
        stores
            .runs
            .runs_of(&acme, &conn.id, 10)
            .await
            .unwrap()
            .len(),
        2,
        "the transfer and the removal; nothing the viewer asked for"
    );
    let mappings = stores
        .results
        .mappings(&acme, &occ.id, &conn.id)
        .await
        .unwrap();
    assert_eq!(mappings[0].activities.len(), 1, "the mapping is unchanged");
}
