//! The every-minute CourseKey roster tick, through the scheduled handler
//! (nightly-sync's "coursekey_roster") over moto, goes on for every tenant
//! when one tenant's records are poisoned, and each failure is on the
//! offering's CourseKey status where a person reads it
//! (`GET /v1/offerings/{id}/coursekey`):
//! - bolt: its settings item does not decode: its tick fails (recorded on its
//!   marked offering; its routes that need the zone name the settings) until
//!   `PUT /v1/settings`, after which the next tick pushes it;
//! - cara: one offering's SMS record does not decode: that offering's status
//!   says so, cara's other offering is pushed; `PUT /v1/offerings/{id}` repairs it;
//! - dana: its CourseKey connection's item does not decode: its marked
//!   offering's status names the connection; `PUT /v1/connections/{id}` repairs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, Utc};
use domain::attendance::{ClassSession, CourseKeyOffering, HoursType};
use domain::connection::{ConnectionSettings, CourseKeySettings};
use domain::ports::{AttendanceStore, ConnectionStore, SisStore};
use domain::sis::{Enrolment, EnrolmentState, Learner, Offering, OfferingStatus};
use domain::zone::TenantZone;
use domain::{Connection, ConnectionId, LearnerCode, OfferingId, TenantId};
use secrecy::SecretString;
use serde_json::{Value, json};
use simulators::coursekey::CourseKeySim;
use std::collections::HashMap;
use tests::{api_key, put_raw, s};

const CK_SECRET: &str = "whsec_e2e_roster_isolation";

/// A tenant with a CourseKey connection ticking every minute.
async fn coursekey_tenant(
    system: &devstack::runner::LocalSystem,
    base_url: &str,
    tenant: &TenantId,
) -> Connection {
    let stores = system.stores();
    let ck = Connection {
        tenant: tenant.clone(),
        id: ConnectionId::parse("coursekey-main").unwrap(),
        name: "CourseKey".into(),
        base_url: base_url.to_owned(),
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
    ck
}

/// An offering starting in a week (inside the CourseKey window), one learner
/// enrolled, marked "send to CourseKey".
async fn marked_offering(system: &devstack::runner::LocalSystem, tenant: &TenantId, id: &str) {
    let stores = system.stores();
    let now = Utc::now();
    // The tenants keep the default settings: their days are UTC's.
    let today = TenantZone::UTC.date_of(now);
    let offering = OfferingId::parse(id).unwrap();
    stores
        .sis
        .save_offering(&Offering {
            tenant: tenant.clone(),
            id: offering.clone(),
            name: format!("Course {id}"),
            start_date: Some(today + TimeDelta::days(7)),
            end_date: Some(today + TimeDelta::days(60)),
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![],
            updated_at: now,
        })
        .await
        .unwrap();
    let code = LearnerCode::parse("L1").unwrap();
    stores
        .sis
        .save_learner(&Learner {
            tenant: tenant.clone(),
            code: code.clone(),
            username: None,
            given_name: "Given".into(),
            middle_name: None,
            family_name: "Family".into(),
            email: Some("l1@example.com".into()),
            date_of_birth: None,
            archived: false,
            email_opt_out: false,
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
            state: EnrolmentState::InProgress,
            start_date: None,
            session_date: None,
            updated_at: now,
        })
        .await
        .unwrap();
    let class_start = (today + TimeDelta::days(7))
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc();
    stores
        .attendance
        .save_coursekey_offering(&CourseKeyOffering {
            tenant: tenant.clone(),
            offering,
            send_to_coursekey: true,
            hours_type: HoursType::default(),
            instructors: vec!["INS-1".into()],
            classes: vec![ClassSession {
                code: "C1".into(),
                start: class_start,
                end: class_start + TimeDelta::hours(3),
            }],
            synchronized_at: None,
            last_error: None,
            pushed_fingerprint: None,
            pushed_classes: vec![],
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_poisoned_tenant_never_stops_the_roster_tick_for_the_others_and_its_status_says_why() {
    let system = tests::local_system().await;
    let sdk = cloud::testing::sdk().await;
    let data = system.config.tables.data.clone();
    let sim = CourseKeySim::new(CK_SECRET, CK_SECRET);
    let server = sim.start().await.unwrap();
    let t = |id: &str| TenantId::parse(id).unwrap();
    for (tenant, offerings) in [
        ("acme", &["OFF-A"][..]),
        ("bolt", &["OFF-B"][..]),
        ("cara", &["OFF-C1", "OFF-C2"][..]),
        ("dana", &["OFF-D"][..]),
    ] {
        coursekey_tenant(&system, &server.base_url, &t(tenant)).await;
        for offering in offerings {
            marked_offering(&system, &t(tenant), offering).await;
        }
    }
    // bolt: its settings item, written by hand in a shape the domain refuses.
    put_raw(
        &sdk,
        &data,
        HashMap::from([
            ("pk".to_owned(), s("T#bolt")),
            ("sk".to_owned(), s("SETTINGS")),
            ("tenant".to_owned(), s("bolt")),
            (
                "settings".to_owned(),
                AttributeValue::M(HashMap::from([
                    ("time_zone".to_owned(), s("UTC")),
                    ("run_history_days".to_owned(), s("forever")),
                ])),
            ),
        ]),
    )
    .await;
    // cara: OFF-C2's SMS record, its start date not a date.
    put_raw(
        &sdk,
        &data,
        HashMap::from([
            ("pk".to_owned(), s("T#cara#OFF#OFF-C2")),
            ("sk".to_owned(), s("OFFERING")),
            ("tenant".to_owned(), s("cara")),
            ("id".to_owned(), s("OFF-C2")),
            ("name".to_owned(), s("Course OFF-C2")),
            ("start_date".to_owned(), s("next spring")),
        ]),
    )
    .await;
    // dana: its CourseKey connection, in the enabled index, with a setting of the wrong type.
    put_raw(
        &sdk,
        &data,
        HashMap::from([
            ("pk".to_owned(), s("T#dana")),
            ("sk".to_owned(), s("CONN#coursekey-main")),
            ("gsi1pk".to_owned(), s("ENABLED")),
            ("gsi1sk".to_owned(), s("T#dana#CONN#coursekey-main")),
            ("tenant".to_owned(), s("dana")),
            ("id".to_owned(), s("coursekey-main")),
            ("name".to_owned(), s("CourseKey")),
            ("base_url".to_owned(), s(&server.base_url)),
            ("enabled".to_owned(), AttributeValue::Bool(true)),
            (
                "settings".to_owned(),
                AttributeValue::M(HashMap::from([
                    ("kind".to_owned(), s("course_key")),
                    ("update_every_minutes".to_owned(), s("often")),
                ])),
            ),
        ]),
    )
    .await;

    // The tick: bolt's failure fails the invocation (the Scheduler retries
    // it), after every other tenant's pushes are queued.
    let t0 = Utc::now();
    let ticked = system.fire_roster_tick(t0).await;
    let error = format!("{:?}", ticked.unwrap_err());
    assert!(
        error.contains("failed: [\"bolt/coursekey-main: stored tenant settings"),
        "{error}"
    );
    assert!(
        !["acme", "cara", "dana"]
            .iter()
            .any(|t| error.contains(&format!("\"{t}/"))),
        "only bolt's tick failed: {error}"
    );
    assert_eq!(system.drain().await.unwrap().failed, 0);
    for course in ["OFF-A", "OFF-C1"] {
        assert!(
            sim.resource(&format!("/api/v1/courses/{course}")).is_some(),
            "{course} reached CourseKey"
        );
    }
    for course in ["OFF-B", "OFF-C2", "OFF-D"] {
        assert!(sim.resource(&format!("/api/v1/courses/{course}")).is_none());
    }

    let api = tests::serve(system.api_router().await.unwrap()).await;
    let http = reqwest::Client::new();
    let keys: HashMap<&str, String> = HashMap::from([
        ("acme", api_key(&system, &t("acme")).await),
        ("bolt", api_key(&system, &t("bolt")).await),
        ("cara", api_key(&system, &t("cara")).await),
        ("dana", api_key(&system, &t("dana")).await),
    ]);
    let call = |method: reqwest::Method, tenant: &str, path: &str, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{api}{path}"))
            .bearer_auth(&keys[tenant]);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let status = |tenant: &'static str, offering: &'static str| {
        call(
            reqwest::Method::GET,
            tenant,
            &format!("/v1/offerings/{offering}/coursekey"),
            None,
        )
    };
    for (tenant, offering) in [("acme", "OFF-A"), ("cara", "OFF-C1")] {
        let (code, body) = status(tenant, offering).await;
        assert_eq!(
            (code, &body["status"]),
            (200, &json!("synchronized")),
            "{body}"
        );
    }
    // cara's poisoned offering: Failed, naming its record.
    let (code, body) = status("cara", "OFF-C2").await;
    assert_eq!((code, &body["status"]), (200, &json!("failed")), "{body}");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("The SMS offering could not be read"),
        "{reason}"
    );
    assert!(!reason.contains(&data), "no table name: {reason}");
    // dana's: Failed, naming its connection and how to repair it.
    let (code, body) = status("dana", "OFF-D").await;
    assert_eq!((code, &body["status"]), (200, &json!("failed")), "{body}");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("coursekey-main") && reason.contains("PUT /v1/connections/coursekey-main"),
        "{reason}"
    );
    // bolt's: its settings are named by the API, and the tick's failure is on the offering.
    let (code, body) = status("bolt", "OFF-B").await;
    assert_eq!((code, &body["field"]), (409, &json!("settings")), "{body}");
    let stored = system
        .stores()
        .attendance
        .coursekey_offering(&t("bolt"), &OfferingId::parse("OFF-B").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("The CourseKey roster update could not run")),
        "{stored:?}"
    );

    // Each repaired through the API, the next tick pushes all of them.
    let (code, body) = call(
        reqwest::Method::PUT,
        "bolt",
        "/v1/settings",
        Some(json!({})),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = status("bolt", "OFF-B").await;
    assert_eq!((code, &body["status"]), (200, &json!("failed")), "{body}");
    let today = TenantZone::UTC.date_of(Utc::now());
    let (code, body) = call(
        reqwest::Method::PUT,
        "cara",
        "/v1/offerings/OFF-C2",
        Some(json!({
            "name": "Course OFF-C2",
            "status": "active",
            "start_date": today + TimeDelta::days(7),
            "end_date": today + TimeDelta::days(60),
        })),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = call(
        reqwest::Method::PUT,
        "dana",
        "/v1/connections/coursekey-main",
        Some(json!({
            "kind": "course_key",
            "name": "CourseKey",
            "base_url": server.base_url,
            "settings": {"update_every_minutes": 1},
        })),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    system.drain().await.unwrap();
    let repaired = system
        .fire_roster_tick(t0 + TimeDelta::minutes(1))
        .await
        .unwrap();
    assert!(repaired.queued >= 3, "{repaired:?}");
    assert_eq!(system.drain().await.unwrap().failed, 0);
    for (tenant, offering) in [("bolt", "OFF-B"), ("cara", "OFF-C2"), ("dana", "OFF-D")] {
        assert!(
            sim.resource(&format!("/api/v1/courses/{offering}"))
                .is_some(),
            "{offering} reached CourseKey"
        );
        let (code, body) = status(tenant, offering).await;
        assert_eq!(
            (code, &body["status"]),
            (200, &json!("synchronized")),
            "{tenant}: {body}"
        );
    }
}
