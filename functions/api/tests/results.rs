#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The mapping and results routes through the Router, against moto: list a
//! linked course's activities with their type and mappable flag, map an
//! assessable (a forum is refused by name), list results by review state,
//! adjust one, process one (it becomes a delivery) and all; another tenant
//! sees nothing.

use api::AppState;
use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use cloud::testing::{self, connection};
use domain::learning::LearningError;
use domain::ports::{ApiKeyStore, GradeSource, GradeSources};
use domain::results::{
    ActivityCompletion, CourseActivity, CourseCompletionRead, LearnerGrades, ProposedResult,
    ResultKey, ResultType, StoredResult,
};
use domain::sis::{Assessable, AssessableKind, CourseLink, Offering, OfferingStatus};
use domain::{AssessableId, ConnectionId, ConnectionKind, LearnerCode, OfferingId, TenantId};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const ACME_KEY: &str = "lb_fixture_key_acme_0123456789abcdef0123456789abcdef";
const BOLT_KEY: &str = "lb_test_key_bolt_0123456789abcdef0123456789abcdef";

/// A course with a quiz, an assignment and a forum.
struct Course;

#[async_trait]
impl GradeSource for Course {
    async fn course_activities(&self, _: i64) -> Result<Vec<CourseActivity>, LearningError> {
        Ok(vec![
            CourseActivity::new(1, "quiz", "Quiz"),
            CourseActivity::new(2, "assign", "Essay"),
            CourseActivity::new(3, "forum", "News"),
        ])
    }
    async fn course_grades(&self, _: i64) -> Result<Vec<LearnerGrades>, LearningError> {
        Ok(Vec::new())
    }
    async fn pass_grade(&self, _: i64) -> Result<Option<f64>, LearningError> {
        Ok(None)
    }
    async fn activities_completion(
        &self,
        _: i64,
        _: i64,
    ) -> Result<Vec<(i64, ActivityCompletion)>, LearningError> {
        Ok(Vec::new())
    }
    async fn course_completion(
        &self,
        _: i64,
        _: i64,
    ) -> Result<CourseCompletionRead, LearningError> {
        Ok(CourseCompletionRead::default())
    }
    async fn unenrol(&self, _: i64, _: i64) -> Result<(), LearningError> {
        Ok(())
    }
    async fn participants(
        &self,
        _: i64,
    ) -> Result<Vec<domain::results::Participant>, LearningError> {
        Ok(Vec::new())
    }
}

struct Courses;

#[async_trait]
impl GradeSources for Courses {
    async fn for_connection(
        &self,
        _: &domain::Connection,
    ) -> Result<Arc<dyn GradeSource>, LearningError> {
        Ok(Arc::new(Course))
    }
}

struct Api {
    state: AppState,
}

async fn api() -> Api {
    let config = testing::fresh_stack().await;
    let sdk = testing::sdk().await;
    let stores = cloud::Stores::new(&config, &sdk);
    let pepper = stores
        .secrets
        .get(config.api_key_pepper_secret.as_deref().unwrap())
        .await
        .unwrap();
    for (k, tenant) in [(ACME_KEY, "acme"), (BOLT_KEY, "bolt")] {
        let hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), k);
        stores
            .api_keys
            .save_key(&hash, &TenantId::parse(tenant).unwrap(), "test", Utc::now())
            .await
            .unwrap();
    }
    // From here on the api may do only what its role in infra/template.yaml allows,
    // built as its main builds it.
    let mut state = AppState::from_aws(
        &api::Config::from_stack(&config).unwrap(),
        &testing::function_sdk(&sdk, &config, "api").await,
    );
    // Grades come from a fake course, not a Moodle.
    state.results.grades = Arc::new(Courses);
    Api { state }
}

impl Api {
    async fn call(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json");
        let request = match body {
            Some(b) => builder
                .body(lambda_http::Body::Text(b.to_string()))
                .unwrap(),
            None => builder.body(lambda_http::Body::Empty).unwrap(),
        };
        let response = api::app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

#[tokio::test]
async fn map_activities_then_review_adjust_and_process_results() {
    let api = api().await;
    let acme = TenantId::parse("acme").unwrap();
    let offering = OfferingId::parse("OFF-1").unwrap();
    api.state
        .deps
        .connections
        .save_connection(&connection("acme", "moodle", ConnectionKind::Moodle, true))
        .await
        .unwrap();
    api.state
        .deps
        .connections
        .save_connection(&connection("acme", "sms", ConnectionKind::Sms, true))
        .await
        .unwrap();
    api.state
        .deps
        .sis
        .save_offering(&Offering {
            tenant: acme.clone(),
            id: offering.clone(),
            name: "Offering".into(),
            start_date: None,
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![Assessable {
                id: AssessableId::parse("U1").unwrap(),
                name: "Unit".into(),
                kind: AssessableKind::Unit,
                expected_start_date: None,
            }],
            updated_at: Utc::now(),
        })
        .await
        .unwrap();
    api.state
        .deps
        .links
        .save_link(&CourseLink {
            tenant: acme.clone(),
            offering: offering.clone(),
            connection: ConnectionId::parse("moodle").unwrap(),
            course_id: 2,
            course_idnumber: None,
            course_shortname: None,
            linked_at: Utc::now(),
        })
        .await
        .unwrap();

    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/offerings/OFF-1/links/moodle/activities",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body[2],
        json!({"cmid": 3, "modname": "forum", "name": "News", "mappable": false})
    );
    assert_eq!(body[0]["mappable"], true);

    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OFF-1/mappings/moodle/U1",
            Some(json!({"activities": [1, 3]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "activities");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("is a forum, which cannot be mapped"),
        "{body}"
    );
    // A malformed body gets the same JSON error shape, naming the field.
    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OFF-1/mappings/moodle/U1",
            Some(json!({"activitys": [1]})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("mappings.activitys")),
        "{body}"
    );

    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OFF-1/mappings/moodle/U1",
            Some(json!({"activities": [1, 2]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["activities"][1],
        json!({"cmid": 2, "modname": "assign"})
    );
    let (_, body) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OFF-1/mappings/moodle", None)
        .await;
    assert_eq!(body.as_array().unwrap().len(), 1);
    let (_, body) = api
        .call(BOLT_KEY, "GET", "/v1/offerings/OFF-1/mappings/moodle", None)
        .await;
    assert_eq!(body, json!([]), "another tenant sees nothing");
    // Removing a mapping: another tenant cannot (the connection is not theirs);
    // the tenant can, and again changes nothing; then U1 is mapped again.
    let (status, _) = api
        .call(
            BOLT_KEY,
            "DELETE",
            "/v1/offerings/OFF-1/mappings/moodle/U1",
            None,
        )
        .await;
    assert_eq!(status, 404);
    for _ in 0..2 {
        let (status, body) = api
            .call(
                ACME_KEY,
                "DELETE",
                "/v1/offerings/OFF-1/mappings/moodle/U1",
                None,
            )
            .await;
        assert_eq!(status, 204, "{body}");
        let (_, body) = api
            .call(ACME_KEY, "GET", "/v1/offerings/OFF-1/mappings/moodle", None)
            .await;
        assert_eq!(body, json!([]), "unmapped");
    }
    let (status, _) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OFF-1/mappings/moodle/U1",
            Some(json!({"activities": [1, 2]})),
        )
        .await;
    assert_eq!(status, 200);

    // A result in error (no start date), as a download stores it.
    let result = StoredResult::new(
        ResultKey {
            tenant: acme.clone(),
            connection: ConnectionId::parse("moodle").unwrap(),
            offering: offering.clone(),
            learner: LearnerCode::parse("L1").unwrap(),
            assessable: AssessableId::parse("U1").unwrap(),
        },
        ProposedResult {
            result: ResultType::Passed,
            start_date: None,
            finish_date: NaiveDate::from_ymd_opt(2026, 3, 9),
            grade: Some(80.0),
            grade_max: Some(100.0),
        },
        Utc::now(),
    );
    api.state
        .results
        .results
        .save_result(&result)
        .await
        .unwrap();

    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/connections/moodle/results?state=error",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["learner"], "L1");
    assert!(body[0]["error"].as_str().unwrap().contains("no start date"));
    let (status, _) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OFF-1/results/L1/U1/process",
            None,
        )
        .await;
    assert_eq!(status, 409, "an error result cannot be processed");
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/connections/moodle/results?state=nope",
            None,
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("state")));

    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OFF-1/results/L1/U1",
            Some(json!({"start_date": "2026-03-01"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "ready");
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OFF-1/results/L1/U1/process",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "done");
    let (_, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/deliveries?connection=sms&state=pending",
            None,
        )
        .await;
    assert_eq!(body["deliveries"][0]["kind"], "result", "{body}");
    assert_eq!(body["deliveries"][0]["payload"]["result"], "passed");
    let (status, _) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OFF-1/results/L1/U1",
            Some(json!({"result": "failed"})),
        )
        .await;
    assert_eq!(status, 409, "a saved result cannot be changed");
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/moodle/results/process",
            None,
        )
        .await;
    assert_eq!((status, body["processed"].as_u64()), (200, Some(0)));
    let (status, _) = api
        .call(
            BOLT_KEY,
            "POST",
            "/v1/offerings/OFF-1/results/L1/U1/process",
            None,
        )
        .await;
    assert_eq!(status, 409, "bolt has no SMS connection and no such result");
}

#[tokio::test]
async fn course_completions_are_reviewed_adjusted_and_processed_per_tenant() {
    let api = api().await;
    let acme = TenantId::parse("acme").unwrap();
    let offering = OfferingId::parse("OFF-1").unwrap();
    let learner = LearnerCode::parse("L1").unwrap();
    for (id, kind) in [
        ("moodle", ConnectionKind::Moodle),
        ("sms", ConnectionKind::Sms),
    ] {
        api.state
            .deps
            .connections
            .save_connection(&connection("acme", id, kind, true))
            .await
            .unwrap();
    }
    api.state
        .deps
        .sis
        .save_enrolment(&domain::sis::Enrolment {
            tenant: acme.clone(),
            learner: learner.clone(),
            offering: offering.clone(),
            state: domain::sis::EnrolmentState::InProgress,
            start_date: None,
            session_date: None,
            updated_at: Utc::now(),
        })
        .await
        .unwrap();
    // A completion as a download with review on stores it.
    let completed_at = Utc::now() - chrono::Duration::days(3);
    api.state
        .results
        .results
        .save_completion(&domain::results::StoredCompletion::new(
            (
                acme.clone(),
                ConnectionId::parse("moodle").unwrap(),
                offering.clone(),
                learner.clone(),
            ),
            4,
            completed_at,
            Some(8.5),
            true,
            true,
            Utc::now(),
        ))
        .await
        .unwrap();

    let (status, body) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle/completions", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["learner"], "L1");
    assert_eq!(body[0]["state"], "ready");
    assert_eq!(body[0]["unenrol_after_completion"], true);
    let (status, body) = api
        .call(BOLT_KEY, "GET", "/v1/connections/moodle/completions", None)
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (404, Some("connection")),
        "another tenant has no such connection: {body}"
    );
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/connections/moodle/completions?state=nope",
            None,
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("state")));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OFF-1/completions/L1",
            Some(json!({"datum": "2026-03-01"})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("completions.datum")),
        "{body}"
    );
    let (status, _) = api
        .call(
            BOLT_KEY,
            "PATCH",
            "/v1/offerings/OFF-1/completions/L1",
            Some(json!({"date": "2026-03-01"})),
        )
        .await;
    assert_eq!(status, 404, "bolt cannot touch acme's completion");
    let date = (completed_at - chrono::Duration::days(1)).date_naive();
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OFF-1/completions/L1",
            Some(json!({ "date": date })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "ready");
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OFF-1/completions/L1/process",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "done");
    assert_eq!(body["unenrolled_at"], Value::Null, "the API never unenrols");
    let (_, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/deliveries?connection=sms&state=pending",
            None,
        )
        .await;
    assert_eq!(body["deliveries"][0]["kind"], "completion", "{body}");
    assert_eq!(
        body["deliveries"][0]["payload"]["attendance_date"],
        json!(date)
    );
    let enrolment = api
        .state
        .deps
        .sis
        .enrolment(&acme, &offering, &learner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(enrolment.state, domain::sis::EnrolmentState::Completed);
    let (status, _) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OFF-1/completions/L1/process",
            None,
        )
        .await;
    assert_eq!(status, 409, "processed once");
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/moodle/results/process",
            None,
        )
        .await;
    assert_eq!(
        (
            status,
            body["processed"].as_u64(),
            body["completions"].as_u64()
        ),
        (200, Some(0), Some(0))
    );
}

#[tokio::test]
async fn a_connection_maps_only_the_levels_it_results() {
    let api = api().await;
    let acme = TenantId::parse("acme").unwrap();
    let offering = OfferingId::parse("OFF-1").unwrap();
    api.state
        .deps
        .connections
        .save_connection(&connection("acme", "moodle", ConnectionKind::Moodle, true))
        .await
        .unwrap();
    let unit = |id: &str, kind| Assessable {
        id: AssessableId::parse(id).unwrap(),
        name: id.into(),
        kind,
        expected_start_date: None,
    };
    api.state
        .deps
        .sis
        .save_offering(&Offering {
            tenant: acme.clone(),
            id: offering.clone(),
            name: "Offering".into(),
            start_date: None,
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![
                unit("U1", AssessableKind::Unit),
                unit("T1", AssessableKind::Task),
            ],
            updated_at: Utc::now(),
        })
        .await
        .unwrap();
    api.state
        .deps
        .links
        .save_link(&CourseLink {
            tenant: acme.clone(),
            offering: offering.clone(),
            connection: ConnectionId::parse("moodle").unwrap(),
            course_id: 2,
            course_idnumber: None,
            course_shortname: None,
            linked_at: Utc::now(),
        })
        .await
        .unwrap();
    // Every level by default: a task maps.
    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OFF-1/mappings/moodle/T1",
            Some(json!({"activities": [1]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The connection chooses units only (the seed's transfer levels).
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/connections/moodle",
            Some(json!({"settings": {"result_levels": ["unit"]}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"]["result_levels"], json!(["unit"]), "{body}");
    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OFF-1/mappings/moodle/T1",
            Some(json!({"activities": [1]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        (body["error"].as_str(), body["field"].as_str()),
        (Some("level_not_allowed"), Some("assessable")),
        "{body}"
    );
    assert_eq!(
        body["message"],
        "assessable T1 is a task, a level this connection does not map or result (result_levels)"
    );
    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OFF-1/mappings/moodle/U1",
            Some(json!({"activities": [1, 2]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // A level that does not exist is refused by name.
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/connections/moodle",
            Some(json!({"settings": {"result_levels": ["module"]}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("module"),
        "{body}"
    );
}

#[tokio::test]
async fn a_connection_of_another_kind_on_a_moodle_route_is_a_422_naming_it() {
    let api = api().await;
    api.state
        .deps
        .connections
        .save_connection(&connection("acme", "sms", ConnectionKind::Sms, true))
        .await
        .unwrap();
    for path in [
        "/v1/offerings/OFF-1/links/sms/activities",
        "/v1/offerings/OFF-1/mappings/sms",
    ] {
        let (status, body) = api.call(ACME_KEY, "GET", path, None).await;
        assert_eq!(
            (status, body["error"].as_str(), body["field"].as_str()),
            (422, Some("unprocessable"), Some("connection")),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn a_bad_query_parameter_is_a_json_400_naming_it() {
    let api = api().await;
    for path in [
        "/v1/connections/moodle-main/results?limit=-1",
        "/v1/connections/moodle-main/completions?limit=lots",
    ] {
        let (status, body) = api.call(ACME_KEY, "GET", path, None).await;
        assert_eq!(
            (status, body["error"].as_str(), body["field"].as_str()),
            (400, Some("invalid"), Some("limit")),
            "{path}: {body}"
        );
    }
}
