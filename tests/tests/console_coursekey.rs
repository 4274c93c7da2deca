//! The full offerings list and the CourseKey screens in a real browser over the
//! local stack (moto with IAM enforced, the CourseKey simulator): every offering
//! the SMS sent, a page at a time with a filter, its course per Moodle connection
//! or "Not linked"; the CourseKey screen's statuses (Failed with its reason written
//! out and on hover); an admin marks an offering "Send to CourseKey" (Scheduled),
//! the roster push and tick run, and the page shows Synchronized; unmarking it
//! then is refused by name; the offering page's own Send to CourseKey form; a
//! viewer sees no change button and its POST is refused; another tenant never
//! sees these offerings and cannot mark them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeDelta, Utc};
use cloud::testing::connection;
use domain::ConnectionKind::Moodle;
use domain::connection::{ConnectionSettings, CourseKeySettings};
use domain::ports::{
    AttendanceStore, ConnectionStore, LinkStore, Role, SisStore, TenantSettingsStore,
};
use domain::sis::{CourseLink, Enrolment, EnrolmentState, Learner, Offering, OfferingStatus};
use domain::{Connection, ConnectionId, LearnerCode, OfferingId, TenantId};
use fantoccini::Locator;
use secrecy::SecretString;
use simulators::coursekey::CourseKeySim;
use tests::browser::Browser;

const CK_SECRET: &str = "whsec_console_coursekey";

/// An offering the SMS sent, starting `start_in_days` after `today` (a day in the tenant's zone).
fn offering(
    tenant: &TenantId,
    id: &str,
    name: &str,
    (today, start_in_days): (chrono::NaiveDate, i64),
) -> Offering {
    Offering {
        tenant: tenant.clone(),
        id: OfferingId::parse(id).unwrap(),
        name: name.into(),
        start_date: Some(today + TimeDelta::days(start_in_days)),
        end_date: Some(today + TimeDelta::days(start_in_days + 60)),
        status: OfferingStatus::Active,
        auto_push: false,
        must_be_evaluated: false,
        assessables: vec![],
        updated_at: Utc::now(),
    }
}

/// Posts the Send to CourseKey form for `offering` as the signed-in `session`
/// would (its cookie, its CSRF token, the console's own Origin), without a button.
async fn post_send(
    system: &devstack::runner::LocalSystem,
    base: &str,
    session: &str,
    offering: &str,
    send: bool,
) -> reqwest::Response {
    let send = if send { "true" } else { "false" };
    let csrf = tests::browser::csrf_of(system, session).await;
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{base}/console/coursekey/{offering}/send"))
        .header("cookie", format!("lb_console={session}"))
        .header("origin", base)
        .form(&[("csrf", csrf.as_str()), ("send_to_coursekey", send)])
        .send()
        .await
        .unwrap()
}

async fn marked(stores: &cloud::Stores, tenant: &TenantId, id: &str) -> bool {
    stores
        .attendance
        .coursekey_offering(tenant, &OfferingId::parse(id).unwrap())
        .await
        .unwrap()
        .is_some_and(|o| o.send_to_coursekey)
}

#[tokio::test]
async fn every_offering_is_listed_and_one_marked_for_coursekey_becomes_scheduled_then_synchronized()
{
    let system = tests::local_system().await;
    let stores = system.stores();
    let acme = TenantId::parse("acme").unwrap();
    let globex = TenantId::parse("globex").unwrap();

    // "Today" is a day in the tenant's zone (the sync window counts its days).
    let zone = stores.tenants.tenant_settings(&acme).await.unwrap().zone();
    let today = zone.today(Utc::now());

    // CourseKey (the simulator) and a Moodle connection, for acme.
    let sim = CourseKeySim::new(CK_SECRET, CK_SECRET);
    let server = sim.start().await.unwrap();
    let ck = Connection {
        tenant: acme.clone(),
        id: ConnectionId::parse("coursekey-main").unwrap(),
        name: "CourseKey".into(),
        base_url: server.base_url.clone(),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::CourseKey(CourseKeySettings {
            update_every_minutes: 1,
            ..CourseKeySettings::default()
        }),
    };
    stores.connections.save_connection(&ck).await.unwrap();
    stores
        .secrets
        .put(
            &ck.secret_name(&system.config.secret_prefix),
            &SecretString::from(CK_SECRET),
        )
        .await
        .unwrap();
    let mut moodle = connection("acme", "moodle-main", Moodle, true);
    moodle.name = "Acme Moodle".into();
    stores.connections.save_connection(&moodle).await.unwrap();

    // The SMS sent 27 offerings OCC-001..OCC-027 and three CourseKey ones; OCC-002 is linked.
    for i in 1..=27 {
        stores
            .sis
            .save_offering(&offering(
                &acme,
                &format!("OCC-{i:03}"),
                &format!("First aid {i}"),
                (today, 90),
            ))
            .await
            .unwrap();
    }
    stores
        .links
        .save_link(&CourseLink {
            tenant: acme.clone(),
            offering: OfferingId::parse("OCC-002").unwrap(),
            connection: moodle.id.clone(),
            course_id: 7,
            course_idnumber: Some("OCC-002".into()),
            course_shortname: Some("FA2".into()),
            linked_at: Utc::now(),
        })
        .await
        .unwrap();
    // Starting in a week: inside the sync window (three weeks before the start).
    for (id, name) in [
        ("WELD-1", "Welding 1"),
        ("WELD-2", "Welding 2"),
        ("WELD-3", "Welding 3"),
    ] {
        stores
            .sis
            .save_offering(&offering(&acme, id, name, (today, 7)))
            .await
            .unwrap();
    }
    let learner = Learner {
        tenant: acme.clone(),
        code: LearnerCode::parse("L1").unwrap(),
        username: None,
        given_name: "Ana".into(),
        middle_name: None,
        family_name: "Ruiz".into(),
        email: Some("ana.ruiz@example.com".into()),
        date_of_birth: None,
        archived: false,
        email_opt_out: false,
        updated_at: Utc::now(),
    };
    stores.sis.save_learner(&learner).await.unwrap();
    stores
        .sis
        .save_enrolment(&Enrolment {
            tenant: acme.clone(),
            learner: learner.code.clone(),
            offering: OfferingId::parse("WELD-1").unwrap(),
            state: EnrolmentState::InProgress,
            start_date: None,
            session_date: None,
            updated_at: Utc::now(),
        })
        .await
        .unwrap();
    // Another tenant's offering, with an id acme also has.
    stores
        .sis
        .save_offering(&offering(&globex, "OCC-001", "Globex forklift", (today, 7)))
        .await
        .unwrap();

    let base = tests::serve(system.api_router().await.unwrap()).await;
    let admin = tests::api_key(&system, &acme).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The SMS sends each Welding offering's CourseKey side (instructors, classes),
    // unmarked; WELD-2 has no instructor.
    let class_start = zone.at(
        today + TimeDelta::days(7),
        chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
    );
    for (id, instructors) in [
        ("WELD-1", vec!["INS-1"]),
        ("WELD-2", vec![]),
        ("WELD-3", vec!["INS-1"]),
    ] {
        let saved = http
            .put(format!("{base}/v1/offerings/{id}/coursekey"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({
                "send_to_coursekey": false,
                "instructors": instructors,
                "classes": [{"code": "C1", "start": class_start, "end": class_start + TimeDelta::hours(3)}],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(saved.status(), 200, "{id}");
    }

    let browser = Browser::start().await;
    let c = &browser.client;
    let admin_session = browser.sign_in(&base, &admin).await;

    // The offerings list: every offering, 25 a page, in id order.
    browser.click("nav a[href='/console/offerings']").await;
    let rows = c
        .find_all(Locator::Css("#offerings tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 25);
    assert!(
        browser
            .text("tr[data-offering=OCC-001] td.link")
            .await
            .contains("Not linked")
    );
    assert_eq!(
        browser.text("tr[data-offering=OCC-002] td.link").await,
        "course 7 (FA2)"
    );
    assert!(
        browser
            .text("tr[data-offering=OCC-001]")
            .await
            .contains("First aid 1")
    );
    assert_eq!(
        browser
            .text("tr[data-offering=OCC-001] .coursekey .status")
            .await,
        "Disabled"
    );
    assert!(c.find(Locator::Css("#first-page")).await.is_err());
    browser.screenshot("offerings-list").await;
    // The next page: the last two First aid offerings and the Welding ones; no further page.
    browser.click("#next-page").await;
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for row in c
            .find_all(Locator::Css("#offerings tbody tr"))
            .await
            .unwrap()
        {
            ids.push(row.attr("data-offering").await.unwrap().unwrap());
        }
        ids
    };
    assert_eq!(ids, ["OCC-026", "OCC-027", "WELD-1", "WELD-2", "WELD-3"]);
    assert!(c.find(Locator::Css("#next-page")).await.is_err());
    assert!(c.find(Locator::Css("#first-page")).await.is_ok());
    // The filter: by name, ignoring case; never another tenant's offering.
    browser.fill("#q", "welding").await;
    browser.click("#filter").await;
    let rows = c
        .find_all(Locator::Css("#offerings tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    browser.fill("#q", "forklift").await;
    browser.click("#filter").await;
    assert!(browser.text("#no-offerings").await.contains("forklift"));
    // A bad page start names its field.
    c.goto(&format!("{base}/console/offerings?after=a%20b"))
        .await
        .unwrap();
    assert!(browser.text("#list-error").await.starts_with("after:"));

    // The CourseKey screen, from the navigation (no longer "coming").
    browser.click("nav a[href='/console/coursekey']").await;
    assert_eq!(
        browser.text("#coursekey-connection").await,
        "coursekey-main"
    );
    browser.fill("#q", "WELD").await;
    browser.click("#filter").await;
    assert_eq!(
        browser
            .text("tr[data-offering=WELD-1] .coursekey .status")
            .await,
        "Disabled"
    );
    assert_eq!(browser.text("tr[data-offering=WELD-1] .flag").await, "No");
    assert!(sim.calls().is_empty());
    // Mark WELD-1: saved, Scheduled until its roster is pushed.
    browser.click("tr[data-offering=WELD-1] button.mark").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/console/coursekey");
    assert_eq!(browser.text("tr[data-offering=WELD-1] .flag").await, "Yes");
    assert_eq!(
        browser
            .text("tr[data-offering=WELD-1] .coursekey .status")
            .await,
        "Scheduled"
    );
    let stored = stores
        .attendance
        .coursekey_offering(&acme, &OfferingId::parse("WELD-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.send_to_coursekey);
    assert_eq!(stored.instructors, ["INS-1"], "the SMS's instructors kept");
    assert_eq!(stored.classes.len(), 1, "the SMS's classes kept");
    assert!(stored.synchronized_at.is_none());

    // The roster push the marking queued, and the every-minute tick, run.
    assert_eq!(system.drain().await.unwrap().failed, 0);
    let tick = system.fire_roster_tick(Utc::now()).await.unwrap();
    assert_eq!(tick.queued, 1, "the tick queues the marked offering's push");
    assert_eq!(system.drain().await.unwrap().failed, 0);
    assert_eq!(
        sim.resource("/api/v1/courses/WELD-1").unwrap()["title"],
        "Welding 1"
    );
    assert_eq!(
        sim.resource("/api/v1/courses/WELD-1/students/L1").unwrap()["is_dropped"],
        false
    );
    assert!(
        stores
            .attendance
            .coursekey_offering(&acme, &OfferingId::parse("WELD-1").unwrap())
            .await
            .unwrap()
            .unwrap()
            .synchronized_at
            .is_some()
    );
    c.refresh().await.unwrap();
    assert_eq!(
        browser
            .text("tr[data-offering=WELD-1] .coursekey .status")
            .await,
        "Synchronized"
    );
    // A synchronized offering cannot be unmarked: no Unmark button, the page
    // says why; a POST made anyway is refused, naming the field, and it stays marked.
    assert!(
        c.find(Locator::Css("tr[data-offering=WELD-1] button.unmark"))
            .await
            .is_err()
    );
    assert_eq!(
        browser.text("tr[data-offering=WELD-1] .locked").await,
        "kept: CourseKey has it"
    );
    let refused = post_send(&system, &base, &admin_session, "WELD-1", false).await;
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("<strong>send_to_coursekey</strong>"),
        "{page}"
    );
    assert!(page.contains("WELD-1"), "{page}");
    assert!(marked(&stores, &acme, "WELD-1").await);

    // WELD-2 has no instructor: marked, it is Failed, the reason written out and on hover.
    c.goto(&format!("{base}/console/coursekey?q=WELD"))
        .await
        .unwrap();
    browser.click("tr[data-offering=WELD-2] button.mark").await;
    let status = c
        .find(Locator::Css("tr[data-offering=WELD-2] .coursekey .status"))
        .await
        .unwrap();
    assert_eq!(status.text().await.unwrap(), "Failed");
    assert_eq!(
        status.attr("title").await.unwrap().as_deref(),
        Some("the offering needs at least one instructor")
    );
    assert_eq!(
        browser
            .text("tr[data-offering=WELD-2] .coursekey .reason")
            .await,
        ": the offering needs at least one instructor"
    );
    assert!(marked(&stores, &acme, "WELD-2").await);
    c.goto(&format!("{base}/console/coursekey?q=WELD"))
        .await
        .unwrap();
    assert!(
        c.find(Locator::Css("tr[data-offering=WELD-1] .status.status-ok"))
            .await
            .is_ok(),
        "Synchronized is green as well as written"
    );
    browser.screenshot("coursekey").await;

    // Its attendance: the link leads to the offering's attendance.
    browser.click("tr[data-offering=WELD-1] a.attendance").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/console/offerings/WELD-1"
    );
    assert_eq!(browser.text("#attendance-heading").await, "Attendance");
    assert_eq!(browser.text("#coursekey-status").await, "Synchronized");
    assert!(
        browser
            .text("#send-locked")
            .await
            .contains("cannot be unmarked")
    );
    assert!(c.find(Locator::Css("#coursekey form")).await.is_err());

    // The offering page's own form: WELD-3 marked from its CourseKey section.
    c.goto(&format!("{base}/console/offerings/WELD-3"))
        .await
        .unwrap();
    assert_eq!(browser.text("#send-to-coursekey").await, "No");
    browser.click("#coursekey button.mark").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/console/offerings/WELD-3"
    );
    assert_eq!(browser.text("#send-to-coursekey").await, "Yes");
    assert_eq!(browser.text("#coursekey-status").await, "Scheduled");
    assert!(marked(&stores, &acme, "WELD-3").await);
    // And unmarked again (never pushed yet, so allowed).
    browser.click("#coursekey button.unmark").await;
    assert_eq!(browser.text("#send-to-coursekey").await, "No");
    assert_eq!(browser.text("#coursekey-status").await, "Disabled");
    assert!(!marked(&stores, &acme, "WELD-3").await);
    assert_eq!(system.drain().await.unwrap().failed, 0);
    assert!(
        sim.resource("/api/v1/courses/WELD-3").is_none(),
        "unmarked before its queued push ran: nothing sent"
    );

    // A viewer: statuses, no change button; a POST is refused and changes nothing.
    let viewer = tests::api_key_as(&system, &acme, "console viewer", Role::Viewer)
        .await
        .0;
    browser.sign_out().await;
    let session = browser.sign_in(&base, &viewer).await;
    c.goto(&format!("{base}/console/coursekey?q=WELD"))
        .await
        .unwrap();
    assert_eq!(
        browser
            .text("tr[data-offering=WELD-1] .coursekey .status")
            .await,
        "Synchronized"
    );
    assert!(
        c.find(Locator::Css("main form[method=post]"))
            .await
            .is_err()
    );
    c.goto(&format!("{base}/console/offerings/WELD-3"))
        .await
        .unwrap();
    assert!(c.find(Locator::Css("#coursekey form")).await.is_err());
    let refused = post_send(&system, &base, &session, "WELD-3", true).await;
    assert_eq!(refused.status(), 403);
    assert!(!marked(&stores, &acme, "WELD-3").await);

    // Another tenant: only its own offering, never acme's; marking acme's is refused.
    let other = tests::api_key(&system, &globex).await;
    browser.sign_out().await;
    let session = browser.sign_in(&base, &other).await;
    browser.click("nav a[href='/console/offerings']").await;
    let rows = c
        .find_all(Locator::Css("#offerings tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        browser
            .text("tr[data-offering=OCC-001]")
            .await
            .contains("Globex forklift")
    );
    assert!(c.find(Locator::Css("#next-page")).await.is_err());
    browser.click("nav a[href='/console/coursekey']").await;
    assert!(
        c.find(Locator::Css("tr[data-offering=WELD-1]"))
            .await
            .is_err()
    );
    assert!(
        browser
            .text("#no-coursekey-connection")
            .await
            .contains("no CourseKey connection")
    );
    c.goto(&format!("{base}/console/offerings/WELD-1"))
        .await
        .unwrap();
    assert!(browser.text("main").await.contains("no offering"));
    let answer = post_send(&system, &base, &session, "WELD-3", true).await;
    assert_eq!(answer.status(), 422);
    let page = answer.text().await.unwrap();
    assert!(page.contains("<strong>offering</strong>"), "{page}");
    assert!(!page.contains("Welding"), "{page}");
    assert!(!marked(&stores, &acme, "WELD-3").await);
    assert!(
        stores
            .attendance
            .coursekey_offering(&globex, &OfferingId::parse("WELD-3").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}
