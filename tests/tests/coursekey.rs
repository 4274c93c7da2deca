#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! CourseKey attendance end to end: the CourseKey simulator posts signed
//! attendance to the coursekey-webhook router served by the local system (moto
//! stack from the SAM template); draining the queues runs results-fetch's
//! ProcessAttendance and the retry worker, so P/L/A is stored, journaled and
//! delivered to the SMS simulator; a replayed post changes nothing; an absence
//! edited in CourseKey within the follow-up days reaches the SMS as a new delivery.

use chrono::{TimeDelta, TimeZone, Utc};
use domain::attendance::{ClassSession, CourseKeyOffering, HoursType, Mark};
use domain::connection::{ConnectionSettings, CourseKeySettings, SmsSettings};
use domain::ports::{AttendanceStore, ConnectionStore, SisStore};
use domain::sis::{Enrolment, EnrolmentState};
use domain::{Connection, ConnectionId, LearnerCode, OfferingId, TenantId};
use secrecy::SecretString;
use simulators::coursekey::CourseKeySim;
use simulators::sms::SmsSim;

const CK_SECRET: &str = "whsec_e2e_coursekey_attendance";
const SMS_SECRET: &str = "whsec_e2e_coursekey_sms";

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn off() -> OfferingId {
    OfferingId::parse("OFF-CK-1").unwrap()
}

fn record(
    id: &str,
    student: &str,
    check_in: Option<&str>,
    check_out: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "id": id, "course_id": "OFF-CK-1", "class_id": "C1", "student_id": student,
        "check_in": check_in, "check_out": check_out,
    })
}

#[tokio::test]
async fn signed_attendance_becomes_present_late_absent_deliveries_and_a_replay_changes_nothing() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sms_sim = SmsSim::new(SMS_SECRET);
    let sms_server = sms_sim.start().await.unwrap();

    let ck = Connection {
        tenant: tenant(),
        id: ConnectionId::parse("coursekey-main").unwrap(),
        name: "CourseKey".into(),
        base_url: "http://127.0.0.1:9/coursekey".into(),
        enabled: true,
        error_email: Some("ops@example.com".into()),
        settings: ConnectionSettings::CourseKey(CourseKeySettings::default()),
    };
    let sms = Connection {
        id: ConnectionId::parse("sms-main").unwrap(),
        name: "SMS".into(),
        base_url: format!("{}/results", sms_server.base_url),
        error_email: None,
        settings: ConnectionSettings::Sms(SmsSettings::default()),
        ..ck.clone()
    };
    for (conn, secret) in [(&ck, CK_SECRET), (&sms, SMS_SECRET)] {
        stores.connections.save_connection(conn).await.unwrap();
        stores
            .secrets
            .put(
                &conn.secret_name(&system.config.secret_prefix),
                &SecretString::from(secret),
            )
            .await
            .unwrap();
    }
    let class_start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    stores
        .attendance
        .save_coursekey_offering(&CourseKeyOffering {
            tenant: tenant(),
            offering: off(),
            send_to_coursekey: true,
            hours_type: HoursType::AttendanceLog,
            instructors: vec!["INS-1".into()],
            classes: vec![ClassSession {
                code: "C1".into(),
                start: class_start,
                end: class_start + TimeDelta::hours(3),
            }],
            synchronized_at: Some(class_start - TimeDelta::days(21)),
            last_error: None,
            pushed_fingerprint: None,
            pushed_classes: vec![],
        })
        .await
        .unwrap();
    for l in ["L1", "L2", "L3"] {
        stores
            .sis
            .save_enrolment(&Enrolment {
                tenant: tenant(),
                learner: LearnerCode::parse(l).unwrap(),
                offering: off(),
                state: EnrolmentState::InProgress,
                start_date: None,
                session_date: None,
                updated_at: class_start,
            })
            .await
            .unwrap();
    }

    let url = format!(
        "{}/webhooks/coursekey/acme/coursekey-main",
        tests::serve(system.webhook_router()).await
    );
    let sim = CourseKeySim::new("unused", CK_SECRET);
    let records = vec![
        record(
            "att-1",
            "L1",
            Some("2026-03-02T08:55:00Z"),
            Some("2026-03-02T12:00:00Z"),
        ),
        record(
            "att-2",
            "L2",
            Some("2026-03-02T09:15:00Z"),
            Some("2026-03-02T12:00:00Z"),
        ),
        record(
            "att-3",
            "L3",
            Some("2026-03-02T09:15:01Z"),
            Some("2026-03-02T12:00:00Z"),
        ),
        record("att-4", "L9", Some("2026-03-02T09:00:00Z"), None),
    ];
    let body = serde_json::to_vec(&serde_json::json!({ "records": records })).unwrap();
    let signed_at = Utc::now().timestamp();
    let (status, answer) = sim.post_raw(&url, body.clone(), signed_at).await.unwrap();
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&answer).unwrap(),
        serde_json::json!({"accepted": 4, "duplicates": 0})
    );

    let report = system.drain().await.unwrap();
    assert_eq!(report.failed, 0);

    let marks: Vec<(String, Mark, Option<i64>)> = stores
        .attendance
        .attendances(&tenant(), &off())
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.learner.to_string(), a.mark, a.minutes_attended))
        .collect();
    assert_eq!(
        marks,
        [
            ("L1".to_owned(), Mark::Present, Some(180)),
            ("L2".to_owned(), Mark::Late, Some(165)),
            ("L3".to_owned(), Mark::Absent, Some(164)),
        ]
    );
    assert_eq!(
        stores
            .attendance
            .journal(&tenant(), &off())
            .await
            .unwrap()
            .len(),
        3
    );
    let delivered: Vec<serde_json::Value> = sms_sim
        .accepted()
        .iter()
        .map(|a| serde_json::from_str(&a.body).unwrap())
        .collect();
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    let mut statuses: Vec<String> = delivered.iter().map(|d| d.to_string()).collect();
    statuses.sort();
    for letter in ["\"P\"", "\"L\"", "\"A\""] {
        assert!(
            statuses.iter().any(|s| s.contains(letter)),
            "{letter} in {statuses:?}"
        );
    }

    // The same signed post again (a replay within the tolerance): nothing new.
    let (status, answer) = sim.post_raw(&url, body.clone(), signed_at).await.unwrap();
    assert_eq!(status, 202);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&answer).unwrap(),
        serde_json::json!({"accepted": 0, "duplicates": 4})
    );
    // Captured and replayed later than the tolerance: refused.
    let (status, _) = sim.post_raw(&url, body, signed_at - 3_600).await.unwrap();
    assert_eq!(status, 401);
    system.drain().await.unwrap();
    assert_eq!(
        stores
            .attendance
            .journal(&tenant(), &off())
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(sms_sim.accepted().len(), 3);

    // An absence edited in CourseKey a day after the class: ours becomes Present
    // and the SMS gets the change as a delivery of its own.
    let mut edit = record(
        "att-5",
        "L3",
        Some("2026-03-02T09:15:01Z"),
        Some("2026-03-02T12:00:00Z"),
    );
    edit["adjusted_status"] = "present".into();
    edit["adjusted_at"] = "2026-03-03T10:00:00Z".into();
    let (status, _) = sim
        .post_attendance(&url, &[edit], Utc::now())
        .await
        .unwrap();
    assert_eq!(status, 202);
    assert_eq!(system.drain().await.unwrap().failed, 0);
    assert_eq!(
        stores
            .attendance
            .journal(&tenant(), &off())
            .await
            .unwrap()
            .len(),
        4
    );
    assert_eq!(sms_sim.accepted().len(), 4);
    assert!(sms_sim.accepted()[3].body.contains("\"P\""));

    // The API shows the offering's attendance and its CourseKey status.
    let key = tests::api_key(&system, &tenant()).await;
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let http = reqwest::Client::new();
    let list: serde_json::Value = http
        .get(format!("{api}/v1/offerings/OFF-CK-1/attendance"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let marks: Vec<&str> = list["attendance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["mark"].as_str().unwrap())
        .collect();
    assert_eq!(marks, ["present", "late", "present"]);
    let status = http
        .get(format!("{api}/v1/offerings/OFF-CK-1/coursekey"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status().as_u16(), 200);
    let unauthenticated = http
        .get(format!("{api}/v1/offerings/OFF-CK-1/attendance"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
}

#[tokio::test]
async fn marking_an_offering_through_the_api_pushes_its_roster_to_the_coursekey_simulator() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = CourseKeySim::new(CK_SECRET, CK_SECRET);
    let server = sim.start().await.unwrap();
    let ck = Connection {
        tenant: tenant(),
        id: ConnectionId::parse("coursekey-main").unwrap(),
        name: "CourseKey".into(),
        base_url: server.base_url.clone(),
        enabled: true,
        error_email: Some("ops@example.com".into()),
        settings: ConnectionSettings::CourseKey(CourseKeySettings::default()),
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
    let today = Utc::now().date_naive();
    stores
        .sis
        .save_offering(&domain::sis::Offering {
            tenant: tenant(),
            id: off(),
            name: "Welding 1".into(),
            start_date: Some(today + TimeDelta::days(7)),
            end_date: Some(today + TimeDelta::days(60)),
            status: domain::sis::OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![],
            updated_at: Utc::now(),
        })
        .await
        .unwrap();
    for (code, state) in [
        ("L1", EnrolmentState::InProgress),
        ("L2", EnrolmentState::Withdrawn),
    ] {
        stores
            .sis
            .save_learner(&domain::sis::Learner {
                tenant: tenant(),
                code: LearnerCode::parse(code).unwrap(),
                username: None,
                given_name: "Given".into(),
                middle_name: None,
                family_name: "Family".into(),
                email: Some(format!("{code}@example.com")),
                date_of_birth: None,
                archived: false,
                email_opt_out: false,
                updated_at: Utc::now(),
            })
            .await
            .unwrap();
        stores
            .sis
            .save_enrolment(&Enrolment {
                tenant: tenant(),
                learner: LearnerCode::parse(code).unwrap(),
                offering: off(),
                state,
                start_date: None,
                session_date: None,
                updated_at: Utc::now(),
            })
            .await
            .unwrap();
    }
    let key = tests::api_key(&system, &tenant()).await;
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let http = reqwest::Client::new();
    let class_start = (today + TimeDelta::days(7))
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc();
    let put = http
        .put(format!("{api}/v1/offerings/OFF-CK-1/coursekey"))
        .bearer_auth(&key)
        .json(&serde_json::json!({
            "send_to_coursekey": true,
            "instructors": ["INS-1"],
            "classes": [{"code": "C1", "start": class_start, "end": class_start + TimeDelta::hours(3)}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
    assert_eq!(system.drain().await.unwrap().failed, 0);

    assert_eq!(
        sim.resource("/api/v1/courses/OFF-CK-1").unwrap()["title"],
        "Welding 1"
    );
    assert!(sim.resource("/api/v1/instructors/INS-1").is_some());
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-CK-1/students/L1")
            .unwrap()["is_dropped"],
        false
    );
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-CK-1/students/L2")
            .unwrap()["is_dropped"],
        true
    );
    assert!(
        sim.resource("/api/v1/courses/OFF-CK-1/classes/C1")
            .is_some()
    );
    let status: serde_json::Value = http
        .get(format!("{api}/v1/offerings/OFF-CK-1/coursekey"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "synchronized");
    let unmark = http
        .put(format!("{api}/v1/offerings/OFF-CK-1/coursekey"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"send_to_coursekey": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(unmark.status().as_u16(), 409);
}

#[tokio::test]
async fn the_roster_tick_pushes_a_scheduled_offering_once_its_window_opens_and_enrolment_changes_without_an_api_save()
 {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = CourseKeySim::new(CK_SECRET, CK_SECRET);
    let server = sim.start().await.unwrap();
    let ck = Connection {
        tenant: tenant(),
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
    let today = Utc::now().date_naive();
    let offering = |start_in_days: i64| domain::sis::Offering {
        tenant: tenant(),
        id: off(),
        name: "Welding 1".into(),
        start_date: Some(today + TimeDelta::days(start_in_days)),
        end_date: Some(today + TimeDelta::days(start_in_days + 60)),
        status: domain::sis::OfferingStatus::Active,
        auto_push: false,
        must_be_evaluated: false,
        assessables: vec![],
        updated_at: Utc::now(),
    };
    // Starts in 30 days: its window opens in 9 (three weeks before), so it is Scheduled.
    stores.sis.save_offering(&offering(30)).await.unwrap();
    let enrol = |code: &str, state| {
        let learner = domain::sis::Learner {
            tenant: tenant(),
            code: LearnerCode::parse(code).unwrap(),
            username: None,
            given_name: "Given".into(),
            middle_name: None,
            family_name: "Family".into(),
            email: Some(format!("{code}@example.com")),
            date_of_birth: None,
            archived: false,
            email_opt_out: false,
            updated_at: Utc::now(),
        };
        let enrolment = Enrolment {
            tenant: tenant(),
            learner: LearnerCode::parse(code).unwrap(),
            offering: off(),
            state,
            start_date: None,
            session_date: None,
            updated_at: Utc::now(),
        };
        let sis = &stores.sis;
        async move {
            sis.save_learner(&learner).await.unwrap();
            sis.save_enrolment(&enrolment).await.unwrap();
        }
    };
    enrol("L1", EnrolmentState::InProgress).await;

    let key = tests::api_key(&system, &tenant()).await;
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let http = reqwest::Client::new();
    let patch = |body: serde_json::Value| {
        http.patch(format!("{api}/v1/connections/coursekey-main"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    // The initial password for users CourseKey creates: write-only, shown masked (CK-08).
    let answer = patch(serde_json::json!({"secrets": {"initial_password": "Welcome-2026!"}}))
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let text = answer.text().await.unwrap();
    assert!(!text.contains("Welcome-2026"), "{text}");
    // More often than every minute is refused by name (CK-09); nothing changes.
    let answer = patch(serde_json::json!({"settings": {"update_every_minutes": 0}}))
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 422);
    let refused: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        refused["field"],
        "connections.settings.update_every_minutes"
    );
    let class_start = (today + TimeDelta::days(30))
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc();
    let marked: serde_json::Value = http
        .put(format!("{api}/v1/offerings/OFF-CK-1/coursekey"))
        .bearer_auth(&key)
        .json(&serde_json::json!({
            "send_to_coursekey": true,
            "instructors": ["INS-1"],
            "classes": [{"code": "C1", "start": class_start, "end": class_start + TimeDelta::hours(3)}],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(marked["status"], "scheduled");
    assert_eq!(system.drain().await.unwrap().failed, 0);
    assert!(sim.calls().is_empty(), "nothing is sent while Scheduled");

    // A tick before the window opens: nothing queued, nothing sent.
    let t0 = Utc::now();
    let before = system.fire_roster_tick(t0).await.unwrap();
    assert_eq!(before.queued, 0);
    system.drain().await.unwrap();
    assert!(sim.calls().is_empty());

    // The SMS brings the start forward to 14 days from now: the window is open.
    // (The tick's clock is real time here; the same opening by time alone is
    // app::roster's tick test.) The next tick pushes it, with no API save.
    stores.sis.save_offering(&offering(14)).await.unwrap();
    let opened = system
        .fire_roster_tick(t0 + TimeDelta::minutes(1))
        .await
        .unwrap();
    assert_eq!(opened.queued, 1);
    assert_eq!(system.drain().await.unwrap().failed, 0);
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-CK-1").unwrap()["title"],
        "Welding 1"
    );
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-CK-1/students/L1")
            .unwrap()["is_dropped"],
        false
    );
    // The user CourseKey created got the connection's initial password (CK-08).
    assert_eq!(sim.initial_password("L1").as_deref(), Some("Welcome-2026!"));

    // A new learner enrolled and L1 withdrawn in the SMS: the next due tick sends both.
    enrol("L3", EnrolmentState::InProgress).await;
    enrol("L1", EnrolmentState::Withdrawn).await;
    let changed = system
        .fire_roster_tick(t0 + TimeDelta::minutes(2))
        .await
        .unwrap();
    assert_eq!(changed.queued, 1);
    assert_eq!(system.drain().await.unwrap().failed, 0);
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-CK-1/students/L1")
            .unwrap()["is_dropped"],
        true
    );
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-CK-1/students/L3")
            .unwrap()["is_dropped"],
        false
    );

    // Nothing changed: the tick queues the push, which makes no CourseKey call.
    let calls = sim.calls().len();
    let quiet = system
        .fire_roster_tick(t0 + TimeDelta::minutes(3))
        .await
        .unwrap();
    assert_eq!(quiet.queued, 1);
    assert_eq!(system.drain().await.unwrap().failed, 0);
    assert_eq!(
        sim.calls().len(),
        calls,
        "an unchanged roster costs no call"
    );
    // The Scheduler retrying that tick queues nothing.
    let retried = system
        .fire_roster_tick(t0 + TimeDelta::minutes(3))
        .await
        .unwrap();
    assert_eq!((retried.queued, retried.already_finished), (0, 1));

    let status: serde_json::Value = http
        .get(format!("{api}/v1/offerings/OFF-CK-1/coursekey"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "synchronized");
}
