#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The CourseKey routes over DynamoDB on moto: an offering's CourseKey
//! settings and status, the send flag that cannot be unmarked once
//! synchronized, and the offering's attendance.

use api::AppState;
use api::coursekey::CourseKeyApi;
use axum::body::Body;
use axum::http::Request;
use chrono::{DateTime, TimeZone, Utc};
use domain::attendance::{Attendance, JournalEntry, Mark};
use domain::ports::{ApiKeyStore, SisStore};
use domain::sis::{Offering, OfferingStatus};
use domain::{LearnerCode, OfferingId, TenantId};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use tower::ServiceExt;

const KEY: &str = "lb_test_key_acme_ck_0123456789abcdef0123456789abcdef";

/// The api as its main builds it; its CourseKey adapters are at hand for set-up.
struct Api {
    state: AppState,
}

impl std::ops::Deref for Api {
    type Target = CourseKeyApi;
    fn deref(&self) -> &CourseKeyApi {
        &self.state.coursekey
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 20, 9, 0, 0).unwrap()
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

async fn api() -> Api {
    let config = cloud::testing::fresh_stack().await;
    let sdk = cloud::testing::sdk().await;
    let stores = cloud::Stores::new(&config, &sdk);
    stores
        .sis
        .save_offering(&Offering {
            tenant: tenant(),
            id: OfferingId::parse("OFF-1").unwrap(),
            name: "Welding 1".into(),
            start_date: Some(chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()),
            end_date: Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 30).unwrap()),
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![],
            updated_at: now(),
        })
        .await
        .unwrap();
    let pepper = stores
        .secrets
        .get(config.api_key_pepper_secret.as_deref().unwrap())
        .await
        .unwrap();
    let hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), KEY);
    stores
        .api_keys
        .save_key(&hash, &tenant(), "test", now())
        .await
        .unwrap();
    // From here on the api may do only what its role in infra/template.yaml allows,
    // built as its main builds it, with the test's clock on the CourseKey routes.
    let mut state = AppState::from_aws(
        &api::Config::from_stack(&config).unwrap(),
        &cloud::testing::function_sdk(&sdk, &config, "api").await,
    );
    state.coursekey.now = now;
    Api { state }
}

async fn call(
    api: &Api,
    method: &str,
    uri: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let router = api::app(api.state.clone());
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn an_offering_shows_its_coursekey_status_and_cannot_be_unmarked_once_synchronized() {
    let api = api().await;
    let (status, body) = call(&api, "GET", "/v1/offerings/OFF-1/coursekey", None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("disabled")));

    let input = serde_json::json!({"send_to_coursekey": true, "hours_type": "attendance_log"});
    let (status, body) = call(&api, "PUT", "/v1/offerings/OFF-1/coursekey", Some(input)).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "failed");
    assert!(body["reason"].as_str().unwrap().contains("instructor"));

    let input = serde_json::json!({
        "send_to_coursekey": true,
        "instructors": ["INS-1"],
        "classes": [{"code": "C1", "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T12:00:00Z"}],
    });
    let (status, body) = call(&api, "PUT", "/v1/offerings/OFF-1/coursekey", Some(input)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("scheduled")));

    // Once synchronized (a roster push stored it), unmarking is refused.
    let off = OfferingId::parse("OFF-1").unwrap();
    let mut ck = api
        .attendance
        .coursekey_offering(&tenant(), &off)
        .await
        .unwrap()
        .unwrap();
    ck.synchronized_at = Some(now());
    api.attendance.save_coursekey_offering(&ck).await.unwrap();
    let (_, body) = call(&api, "GET", "/v1/offerings/OFF-1/coursekey", None).await;
    assert_eq!(body["status"], "synchronized");
    let (status, body) = call(
        &api,
        "PUT",
        "/v1/offerings/OFF-1/coursekey",
        Some(serde_json::json!({"send_to_coursekey": false})),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (409, Some("send_to_coursekey"))
    );

    let (status, body) = call(
        &api,
        "PUT",
        "/v1/offerings/OFF-1/coursekey",
        Some(serde_json::json!({"send_to_coursekey": true, "classes": [{"code": "C1", "start": "2026-03-02T12:00:00Z", "end": "2026-03-02T09:00:00Z"}]})),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("classes[0]")));
    let (status, _) = call(
        &api,
        "PUT",
        "/v1/offerings/NOPE/coursekey",
        Some(serde_json::json!({"send_to_coursekey": true})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_offerings_attendance_is_listed() {
    let api = api().await;
    let off = OfferingId::parse("OFF-1").unwrap();
    let a = Attendance {
        tenant: tenant(),
        offering: off.clone(),
        class_code: "C1".into(),
        learner: LearnerCode::parse("L1").unwrap(),
        mark: Mark::Late,
        minutes_attended: Some(165),
        record_id: "att-1".into(),
        recorded_at: now(),
    };
    let entry = JournalEntry {
        tenant: tenant(),
        offering: off,
        at: now(),
        record_id: "att-1".into(),
        class_code: "C1".into(),
        learner: a.learner.clone(),
        from: None,
        to: Mark::Late,
        minutes_attended: Some(165),
        note: "converted".into(),
    };
    api.attendance.save_attendance(&a, &entry).await.unwrap();
    let (status, body) = call(&api, "GET", "/v1/offerings/OFF-1/attendance", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["attendance"][0]["mark"], "late");
    assert_eq!(body["attendance"][0]["minutes_attended"], 165);
}

#[tokio::test]
async fn refused_coursekey_records_are_listed_with_their_reason_for_the_tenants_connection_only() {
    use domain::attendance::{AttendanceError, RejectedRecord};
    use domain::{ConnectionId, ConnectionKind};
    let api = api().await;
    for (t, id, kind) in [
        ("acme", "ck", ConnectionKind::CourseKey),
        ("acme", "moodle", ConnectionKind::Moodle),
        ("bolt", "ck", ConnectionKind::CourseKey),
    ] {
        api.connections
            .save_connection(&cloud::testing::connection(t, id, kind, true))
            .await
            .unwrap();
    }
    let rejected = |t: &str, id: &str, error: AttendanceError| RejectedRecord {
        tenant: TenantId::parse(t).unwrap(),
        connection: ConnectionId::parse("ck").unwrap(),
        record_id: id.into(),
        message: error.to_string(),
        error,
        course_id: Some("OFF-1".into()),
        class_id: Some("C9".into()),
        student_id: Some("L1".into()),
        rejected_at: now(),
    };
    for r in [
        rejected("acme", "att-7", AttendanceError::UnknownClass),
        rejected("acme", "att-8", AttendanceError::CheckOutBeforeCheckIn),
        rejected("bolt", "att-9", AttendanceError::UnknownStudent),
    ] {
        api.attendance.save_rejected_record(&r).await.unwrap();
    }
    let (status, body) = call(&api, "GET", "/v1/connections/ck/coursekey/errors", None).await;
    assert_eq!(status, 200, "{body}");
    let records = body["records"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["record_id"].as_str().unwrap(),
                r["error"]["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("att-7", "unknown_class"),
            ("att-8", "check_out_before_check_in")
        ]
    );
    assert_eq!(
        records[0]["message"],
        "the class is not one of the offering's classes"
    );
    assert_eq!(records[0]["class_id"], "C9");

    // A connection of another kind is a 422 naming it; an unknown one a 404.
    let (status, body) = call(&api, "GET", "/v1/connections/moodle/coursekey/errors", None).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("connection")));
    let (status, body) = call(&api, "GET", "/v1/connections/nope/coursekey/errors", None).await;
    assert_eq!((status, body["field"].as_str()), (404, Some("connection")));
}

#[tokio::test]
async fn a_new_programme_offering_inherits_its_course_flag_or_the_new_courses_setting() {
    use domain::connection::{ConnectionSettings, CourseKeySettings};
    let api = api().await;
    for id in ["OFF-2", "OFF-3", "OFF-4"] {
        api.sis
            .save_offering(&Offering {
                tenant: tenant(),
                id: OfferingId::parse(id).unwrap(),
                name: id.into(),
                start_date: Some(chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()),
                end_date: Some(chrono::NaiveDate::from_ymd_opt(2026, 4, 30).unwrap()),
                status: OfferingStatus::Active,
                auto_push: false,
                must_be_evaluated: false,
                assessables: vec![],
                updated_at: now(),
            })
            .await
            .unwrap();
    }
    let set_new_courses = |on: bool| {
        let mut c =
            cloud::testing::connection("acme", "ck", domain::ConnectionKind::CourseKey, true);
        c.settings = ConnectionSettings::CourseKey(CourseKeySettings {
            send_new_program_courses: on,
            ..CourseKeySettings::default()
        });
        let connections = api.connections.clone();
        async move { connections.save_connection(&c).await.unwrap() }
    };
    let offering_in = |course: &str| {
        serde_json::json!({
            "programme": {"programme": "NURSING", "course": course},
            "instructors": ["INS-1"],
            "classes": [{"code": "C1", "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T12:00:00Z"}],
        })
    };
    let anat = "/v1/programmes/NURSING/courses/ANAT-101/coursekey";

    // Never set, and the setting off: new offerings of the course are not marked.
    let (status, body) = call(&api, "GET", anat, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["send_to_coursekey"], &body["new_offerings_marked"]),
        (&serde_json::Value::Null, &serde_json::json!(false))
    );

    // "Send new programme courses" on: a course never set is marked by default (CK-14).
    set_new_courses(true).await;
    let (_, body) = call(&api, "GET", anat, None).await;
    assert_eq!(body["new_offerings_marked"], true);
    let (status, body) = call(
        &api,
        "PUT",
        "/v1/offerings/OFF-2/coursekey",
        Some(offering_in("PHYS-101")),
    )
    .await;
    assert_eq!(
        (status, &body["send_to_coursekey"]),
        (200, &serde_json::json!(true))
    );

    // The course unmarked in the programme's list: its new offerings inherit that (CK-13),
    // whatever the setting says.
    let (status, body) = call(
        &api,
        "PUT",
        anat,
        Some(serde_json::json!({"send_to_coursekey": false})),
    )
    .await;
    assert_eq!(
        (status, &body["new_offerings_marked"]),
        (200, &serde_json::json!(false))
    );
    let (_, body) = call(
        &api,
        "PUT",
        "/v1/offerings/OFF-3/coursekey",
        Some(offering_in("ANAT-101")),
    )
    .await;
    assert_eq!(body["send_to_coursekey"], false);

    // Marked in the list, the setting off: inherited as marked.
    set_new_courses(false).await;
    call(
        &api,
        "PUT",
        anat,
        Some(serde_json::json!({"send_to_coursekey": true})),
    )
    .await;
    let (_, body) = call(
        &api,
        "PUT",
        "/v1/offerings/OFF-4/coursekey",
        Some(offering_in("ANAT-101")),
    )
    .await;
    assert_eq!(body["send_to_coursekey"], true);
    // A known offering saved again without the flag keeps its own.
    let (_, body) = call(
        &api,
        "PUT",
        "/v1/offerings/OFF-3/coursekey",
        Some(offering_in("ANAT-101")),
    )
    .await;
    assert_eq!(body["send_to_coursekey"], false);
    // Outside any programme, a new offering starts unmarked.
    let (_, body) = call(
        &api,
        "PUT",
        "/v1/offerings/OFF-1/coursekey",
        Some(serde_json::json!({"instructors": ["INS-1"]})),
    )
    .await;
    assert_eq!(body["send_to_coursekey"], false);

    let (status, body) = call(
        &api,
        "PUT",
        "/v1/offerings/OFF-2/coursekey",
        Some(serde_json::json!({"programme": {"programme": "", "course": "X"}})),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("programme")));
    let (status, body) = call(&api, "PUT", anat, Some(serde_json::json!({"send": true}))).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("send_to_coursekey"))
    );
}

#[tokio::test]
async fn dot_only_ids_and_codes_are_refused_naming_the_field_before_anything_is_stored() {
    let api = api().await;
    // An offering id of dots in the path would name another CourseKey path.
    for path_id in ["..", "."] {
        let (status, body) = call(
            &api,
            "PUT",
            &format!("/v1/offerings/{path_id}/coursekey"),
            Some(serde_json::json!({"send_to_coursekey": true})),
        )
        .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("offering_id")),
            "{path_id}: {body}"
        );
    }
    let class = |code: &str| {
        serde_json::json!({
            "send_to_coursekey": true,
            "instructors": ["INS-1"],
            "classes": [
                {"code": "C1", "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T12:00:00Z"},
                {"code": code, "start": "2026-03-03T09:00:00Z", "end": "2026-03-03T12:00:00Z"}
            ],
        })
    };
    for code in ["..", ".", " .. ", "C1\u{202E}", "C\n1"] {
        let (status, body) = call(
            &api,
            "PUT",
            "/v1/offerings/OFF-1/coursekey",
            Some(class(code)),
        )
        .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("classes[1].code")),
            "{code:?}: {body}"
        );
    }
    let (status, body) = call(
        &api,
        "PUT",
        "/v1/offerings/OFF-1/coursekey",
        Some(serde_json::json!({"send_to_coursekey": true, "instructors": ["INS-1", ".."]})),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("instructors[1]")),
        "{body}"
    );
    // Nothing was stored by the refused requests.
    let (_, body) = call(&api, "GET", "/v1/offerings/OFF-1/coursekey", None).await;
    assert_eq!(body["status"], "disabled", "{body}");
    // A code with slashes and spaces is fine: the connector encodes it as one segment.
    let (status, body) = call(
        &api,
        "PUT",
        "/v1/offerings/OFF-1/coursekey",
        Some(class("Week 1 / Tue")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
