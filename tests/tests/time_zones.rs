//! Time zones end to end: a provider in Sydney sets its zone through the API;
//! the Moodle simulator's site is in Sydney too (the recorded samples' site).
//! A grade Moodle records at the samples' epoch 1796130600 (00:10 on
//! 2 December in Sydney, still 1 December in UTC) becomes a result finished on
//! 2 December, and an enrolment starting today is sent with `timestart` at
//! Sydney's midnight, so it is active this morning.
//! A provider in Los Angeles gets an evening class's attendance dated by its
//! local day, though UTC is already on the next.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{NaiveDate, Utc};
use cloud::testing::connection;
use domain::ConnectionKind::{Moodle, Sms};
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::delivery::{DeliveryKind, DeliveryState};
use domain::ports::{ConnectionStore, DeliveryStore, LinkStore, ResultStore, SisStore};
use domain::results::{MappedActivity, Mapping, ResultType};
use domain::sis::*;
use domain::zone::TenantZone;
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use secrecy::SecretString;
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};

/// The recorded Sydney site's example time.
const SAMPLE_EPOCH: i64 = 1_796_130_600;

/// The tenant's zone, set as a person sets it: PUT /v1/settings (an unknown
/// name is refused by name first).
async fn set_zone(system: &devstack::runner::LocalSystem, key: &str, zone: &str) {
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let http = reqwest::Client::new();
    let refused = http
        .put(format!("{api}/v1/settings"))
        .bearer_auth(key)
        .json(&serde_json::json!({"time_zone": "Australia/Sidney"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 422);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["field"], "settings.time_zone", "{body}");
    let saved = http
        .put(format!("{api}/v1/settings"))
        .bearer_auth(key)
        .json(&serde_json::json!({"time_zone": zone}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status().as_u16(), 200);
}

#[tokio::test]
async fn a_sydney_providers_result_is_dated_by_sydneys_calendar() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    sim.set_timezone("Australia/Sydney").unwrap();
    let server = sim.start().await.unwrap();
    let key = tests::api_key(&system, &TenantId::parse("acme").unwrap()).await;
    set_zone(&system, &key, "Australia/Sydney").await;
    let (t, c, o, u1) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
        OfferingId::parse("OCC-1001").unwrap(),
        AssessableId::parse("U1").unwrap(),
    );
    tests::moodle_main(
        &system,
        &server.base_url,
        SAMPLE_TOKEN,
        MoodleSettings {
            review_before_saving: false,
            use_enrolment_start_date: true,
            ..MoodleSettings::default()
        },
    )
    .await;
    stores
        .connections
        .save_connection(&connection("acme", "sms", Sms, true))
        .await
        .unwrap();
    let now = Utc::now();
    stores
        .sis
        .save_offering(&Offering {
            tenant: t.clone(),
            id: o.clone(),
            name: "Accounting".into(),
            start_date: NaiveDate::from_ymd_opt(2026, 11, 2),
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
    // The seeded site's student 6, already transferred.
    let s6 = LearnerCode::parse("S6").unwrap();
    stores
        .sis
        .save_enrolment(&Enrolment {
            tenant: t.clone(),
            learner: s6.clone(),
            offering: o.clone(),
            state: EnrolmentState::InProgress,
            start_date: NaiveDate::from_ymd_opt(2026, 11, 2),
            session_date: None,
            updated_at: now,
        })
        .await
        .unwrap();
    stores
        .links
        .save_account(&ExternalAccount {
            tenant: t.clone(),
            connection: c.clone(),
            learner: s6.clone(),
            external_id: 6,
            created_by_us: false,
            linked_at: now,
        })
        .await
        .unwrap();
    stores
        .links
        .save_link(&CourseLink {
            tenant: t.clone(),
            offering: o.clone(),
            connection: c.clone(),
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
            connection: c.clone(),
            assessable: u1.clone(),
            activities: vec![MappedActivity {
                cmid: 1,
                modname: "quiz".into(),
            }],
            updated_at: now,
        })
        .await
        .unwrap();
    // Student 6 passes the quiz at 00:10 on 2 December, Sydney time.
    sim.set_grade(6, 1, Some(7.0), SAMPLE_EPOCH);
    sim.set_activity_completion(6, 1, 2, SAMPLE_EPOCH);

    system.fire_nightly(now).await.unwrap();
    system.drain().await.unwrap();

    let result = stores
        .results
        .result(&t, &o, &s6, &u1)
        .await
        .unwrap()
        .expect("student 6 has a result");
    assert_eq!(result.result, ResultType::Passed);
    assert_eq!(
        result.finish_date,
        NaiveDate::from_ymd_opt(2026, 12, 2),
        "Sydney's day, not UTC's 1 December"
    );
    let sms = ConnectionId::parse("sms").unwrap();
    let mut deliveries = Vec::new();
    for state in DeliveryState::ALL {
        deliveries.extend(
            stores
                .deliveries
                .by_state(&t, &sms, state, 100)
                .await
                .unwrap(),
        );
    }
    let sent = deliveries
        .iter()
        .find(|d| d.kind == DeliveryKind::Result && d.learner == s6)
        .unwrap_or_else(|| panic!("{deliveries:?}"));
    assert_eq!(
        sent.payload["finish_date"], "2026-12-02",
        "{}",
        sent.payload
    );
    assert_eq!(sent.payload["start_date"], "2026-11-02");
}

#[tokio::test]
async fn an_enrolment_starting_today_in_sydney_starts_at_sydneys_midnight() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    sim.set_timezone("Australia/Sydney").unwrap();
    let server = sim.start().await.unwrap();
    let key = tests::api_key(&system, &TenantId::parse("acme").unwrap()).await;
    set_zone(&system, &key, "Australia/Sydney").await;
    let t = TenantId::parse("acme").unwrap();
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = server.base_url.clone();
    let o = tests::seed_moodle_offering(
        &system,
        &conn,
        "OCC-1001",
        2,
        &[("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))],
    )
    .await;
    let sydney = TenantZone::parse("Australia/Sydney").unwrap();
    let now = Utc::now();
    let today = sydney.today(now);
    let ana = LearnerCode::parse("X1234567").unwrap();
    let mut enrolment = stores.sis.enrolment(&t, &o, &ana).await.unwrap().unwrap();
    enrolment.start_date = Some(today);
    stores.sis.save_enrolment(&enrolment).await.unwrap();

    system.fire_nightly(now).await.unwrap();
    let drained = system.drain().await.unwrap();
    assert_eq!(drained.failed, 0);

    let moodle = sim.snapshot();
    let user = moodle
        .users
        .iter()
        .find(|u| u.idnumber == "X1234567")
        .expect("Ana created");
    let enrolled = moodle
        .user_enrolments
        .iter()
        .find(|ue| ue.userid == user.id)
        .expect("Ana enrolled");
    let midnight = sydney.start_of_day(today);
    assert_eq!(
        enrolled.timestart,
        midnight.timestamp(),
        "today's midnight in Sydney ({midnight}), not UTC's"
    );
    assert!(
        enrolled.timestart <= now.timestamp(),
        "active now, the morning it starts"
    );
}

/// A provider in Los Angeles: an evening class at 19:30 on 17 November (PST)
/// is already 18 November in UTC; its attendance reaches the SMS dated the 17th.
#[tokio::test]
async fn an_evening_class_in_los_angeles_is_dated_by_its_local_day() {
    use domain::attendance::{ClassSession, CourseKeyOffering, HoursType};
    use domain::connection::{CourseKeySettings, SmsSettings};
    use domain::ports::AttendanceStore;
    use simulators::coursekey::CourseKeySim;
    use simulators::sms::SmsSim;
    const CK_SECRET: &str = "whsec_e2e_tz_coursekey";
    const SMS_SECRET: &str = "whsec_e2e_tz_sms";

    let system = tests::local_system().await;
    let stores = system.stores();
    let key = tests::api_key(&system, &TenantId::parse("acme").unwrap()).await;
    set_zone(&system, &key, "America/Los_Angeles").await;
    let sms_sim = SmsSim::new(SMS_SECRET);
    let sms_server = sms_sim.start().await.unwrap();
    let t = TenantId::parse("acme").unwrap();
    let o = OfferingId::parse("OFF-CK-1").unwrap();
    let ck = domain::Connection {
        tenant: t.clone(),
        id: ConnectionId::parse("coursekey-main").unwrap(),
        name: "CourseKey".into(),
        base_url: "http://127.0.0.1:9/coursekey".into(),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::CourseKey(CourseKeySettings::default()),
    };
    let sms = domain::Connection {
        id: ConnectionId::parse("sms-main").unwrap(),
        name: "SMS".into(),
        base_url: format!("{}/results", sms_server.base_url),
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
    let class_start = chrono::DateTime::parse_from_rfc3339("2026-11-18T03:30:00Z")
        .unwrap()
        .with_timezone(&Utc);
    stores
        .attendance
        .save_coursekey_offering(&CourseKeyOffering {
            tenant: t.clone(),
            offering: o.clone(),
            send_to_coursekey: true,
            hours_type: HoursType::Marks,
            instructors: vec!["INS-1".into()],
            classes: vec![ClassSession {
                code: "C1".into(),
                start: class_start,
                end: class_start + chrono::TimeDelta::hours(2),
            }],
            synchronized_at: Some(class_start - chrono::TimeDelta::days(21)),
            last_error: None,
            pushed_fingerprint: None,
            pushed_classes: vec![],
        })
        .await
        .unwrap();
    stores
        .sis
        .save_enrolment(&Enrolment {
            tenant: t.clone(),
            learner: LearnerCode::parse("L1").unwrap(),
            offering: o.clone(),
            state: EnrolmentState::InProgress,
            start_date: None,
            session_date: None,
            updated_at: class_start,
        })
        .await
        .unwrap();

    let url = format!(
        "{}/webhooks/coursekey/acme/coursekey-main",
        tests::serve(system.webhook_router()).await
    );
    let record = serde_json::json!({
        "id": "att-1", "course_id": "OFF-CK-1", "class_id": "C1", "student_id": "L1",
        "check_in": "2026-11-18T03:25:00Z", "check_out": "2026-11-18T05:30:00Z",
    });
    let (status, _) = CourseKeySim::new("unused", CK_SECRET)
        .post_attendance(&url, &[record], Utc::now())
        .await
        .unwrap();
    assert_eq!(status, 202);
    assert_eq!(system.drain().await.unwrap().failed, 0);

    let delivered: Vec<serde_json::Value> = sms_sim
        .accepted()
        .iter()
        .map(|a| serde_json::from_str(&a.body).unwrap())
        .collect();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(
        delivered[0]["data"]["date"], "2026-11-17",
        "Los Angeles' day, not UTC's 18 November: {}",
        delivered[0]
    );
    assert_eq!(delivered[0]["data"]["status"], "P");
}
