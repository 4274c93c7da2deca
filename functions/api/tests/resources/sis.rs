//! Learners, offerings and enrolments: upserts, field errors, If-Match, auto-push.

use super::*;

#[tokio::test]
async fn learners_are_upserted_and_a_synced_change_queues_a_sync() {
    let api = api().await;
    let (status, body) = api
        .event(include_str!("../../../../events/api/put-learner.json"))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["code"], "X1234567");
    assert_eq!(body["family_name"], "Ruiz");
    assert_eq!(body["archived"], false);

    // The same again changes nothing and queues nothing.
    let (status, again) = api
        .event(include_str!("../../../../events/api/put-learner.json"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["updated_at"], body["updated_at"]);
    assert!(
        api.jobs().await.is_empty(),
        "a new learner has no accounts to sync"
    );

    // A field Moodle does not hold: saved, no sync.
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/learners/X1234567",
            Some(json!({"date_of_birth": null})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["date_of_birth"], Value::Null);
    assert_eq!(
        body["email"], "ana.ruiz@example.com",
        "only the fields sent change"
    );
    assert!(api.jobs().await.is_empty());

    // A synced field: one sync_learner job.
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/learners/X1234567",
            Some(json!({"archived": true})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["archived"], true);
    assert_eq!(body["given_name"], "Ana");
    let jobs = api.jobs().await;
    assert_eq!(
        jobs,
        vec![Job::SyncLearner {
            tenant: TenantId::parse("acme").unwrap(),
            learner: "X1234567".parse().unwrap()
        }]
    );

    let (status, body) = api
        .call(ACME_KEY, "GET", "/v1/learners/X1234567", None)
        .await;
    assert_eq!((status, body["archived"].as_bool()), (200, Some(true)));
    let (status, body) = api.call(ACME_KEY, "GET", "/v1/learners/nobody", None).await;
    assert_error(status, &body, 404, Some("learner_code"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/learners/nobody",
            Some(json!({"archived": true})),
        )
        .await;
    assert_error(status, &body, 404, Some("learner_code"));
}

#[tokio::test]
async fn bad_learner_input_names_the_field() {
    let api = api().await;
    let (status, body) = api
        .event(include_str!(
            "../../../../events/api/put-learner-unknown-field.json"
        ))
        .await;
    assert_error(status, &body, 400, Some("learners.emial"));
    assert!(body["message"].as_str().unwrap().contains("unknown field"));

    let mut wrong_type = ana();
    wrong_type["archived"] = json!("yes");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(wrong_type))
        .await;
    assert_error(status, &body, 400, Some("learners.archived"));

    let mut long = ana();
    long["email"] = json!(format!("{}@example.com", "a".repeat(300)));
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(long))
        .await;
    assert_error(status, &body, 400, Some("learners.email"));
    assert!(
        !body.to_string().contains("aaaa@example.com"),
        "no email in errors"
    );

    let mut future = ana();
    future["date_of_birth"] = json!("2999-01-01");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(future))
        .await;
    assert_error(status, &body, 422, Some("learners.date_of_birth"));

    let mut ancient = ana();
    ancient["date_of_birth"] = json!("1850-06-01");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(ancient))
        .await;
    assert_error(status, &body, 422, Some("learners.date_of_birth"));

    for bad in [
        "ana",
        "ana@",
        "ana @example.com",
        "ana@example",
        "@example.com",
    ] {
        let mut not_email = ana();
        not_email["email"] = json!(bad);
        let (status, body) = api
            .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(not_email))
            .await;
        assert_error(status, &body, 422, Some("learners.email"));
        assert!(
            !body.to_string().contains(bad),
            "no email in errors: {body}"
        );
    }

    // A bidirectional override could make a log line read backwards ("Trojan Source").
    for (field, value) in [
        ("given_name", "Ana\u{202E}ziuR"),
        ("family_name", "Ruiz\u{2066}"),
        ("middle_name", "M\u{0007}"),
    ] {
        let mut disguised = ana();
        disguised[field] = json!(value);
        let (status, body) = api
            .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(disguised))
            .await;
        assert_error(status, &body, 400, Some(&format!("learners.{field}")));
    }
    let (status, _) = api.call(ACME_KEY, "GET", "/v1/learners/X1", None).await;
    assert_eq!(status, 404, "nothing refused was stored");

    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X%231", Some(ana()))
        .await;
    assert_error(status, &body, 400, Some("learner_code"));

    let broken = http::Request::put("/v1/learners/X1")
        .header("authorization", format!("Bearer {ACME_KEY}"))
        .header("content-type", "application/json")
        .body(lambda_http::Body::from("{\"given_name\": "))
        .unwrap();
    let (status, body) = api.send(broken).await;
    assert_error(status, &body, 400, Some("body"));

    let not_json = http::Request::put("/v1/learners/X1")
        .header("authorization", format!("Bearer {ACME_KEY}"))
        .header("content-type", "text/plain")
        .body(lambda_http::Body::from("hello"))
        .unwrap();
    let (status, body) = api.send(not_json).await;
    assert_error(status, &body, 415, Some("content-type"));

    let (status, body) = api.call(ACME_KEY, "DELETE", "/v1/learners/X1", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_a_json_413() {
    let api = api().await;
    let mut big = ana();
    big["given_name"] = json!("x".repeat(api::json::MAX_BODY_BYTES + 10));
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(big))
        .await;
    assert_error(status, &body, 413, Some("body"));
}

#[tokio::test]
async fn if_match_guards_against_lost_updates() {
    let api = api().await;
    let (status, headers, _) = api
        .send_full(request(ACME_KEY, "PUT", "/v1/learners/X1", Some(ana())))
        .await;
    assert_eq!(status, 201);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let mut first = request(
        ACME_KEY,
        "PATCH",
        "/v1/learners/X1",
        Some(json!({"given_name": "Anna"})),
    );
    first
        .headers_mut()
        .insert("if-match", etag.parse().unwrap());
    assert_eq!(api.send(first).await.0, 200);
    let mut stale = request(
        ACME_KEY,
        "PATCH",
        "/v1/learners/X1",
        Some(json!({"given_name": "Ann"})),
    );
    stale
        .headers_mut()
        .insert("if-match", etag.parse().unwrap());
    let (status, body) = api.send(stale).await;
    assert_error(status, &body, 409, Some("if-match"));
}

#[tokio::test]
async fn offerings_keep_their_assessables_and_a_date_change_queues_a_course_sync() {
    let api = api().await;
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-1", Some(occ()))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["assessables"].as_array().unwrap().len(), 2);
    assert_eq!(body["assessables"][1]["expected_start_date"], "2026-03-01");
    assert!(api.jobs().await.is_empty());

    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OCC-1",
            Some(json!({"name": "Cert III"})),
        )
        .await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Cert III")));
    assert!(
        api.jobs().await.is_empty(),
        "the name is not a course date or visibility"
    );

    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OCC-1",
            Some(json!({"status": "completed", "end_date": "2026-07-31"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["assessables"].as_array().unwrap().len(),
        2,
        "untouched"
    );
    assert_eq!(
        api.jobs().await,
        vec![Job::SyncOffering {
            tenant: TenantId::parse("acme").unwrap(),
            offering: OfferingId::parse("OCC-1").unwrap()
        }]
    );

    let mut backwards = occ();
    backwards["end_date"] = json!("2026-01-01");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-2", Some(backwards))
        .await;
    assert_error(status, &body, 422, Some("offerings.end_date"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OCC-1",
            Some(json!({"start_date": "2026-08-01"})),
        )
        .await;
    assert_error(status, &body, 422, Some("offerings.end_date"));

    let mut twice = occ();
    twice["assessables"][1]["id"] = json!("U1");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-2", Some(twice))
        .await;
    assert_error(status, &body, 422, Some("offerings.assessables[1].id"));

    let mut bad_kind = occ();
    bad_kind["assessables"][0]["kind"] = json!("exam");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-2", Some(bad_kind))
        .await;
    assert_error(status, &body, 400, Some("offerings.assessables[0].kind"));

    let (status, body) = api.call(ACME_KEY, "GET", "/v1/offerings/OCC-2", None).await;
    assert_error(status, &body, 404, Some("offering_id"));
}

#[tokio::test]
async fn a_new_enrolment_of_an_auto_push_offering_is_pushed_to_each_linked_connection() {
    let api = api().await;
    api.call(ACME_KEY, "PUT", "/v1/learners/X1", Some(ana()))
        .await;
    api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-1", Some(occ()))
        .await;
    // Linked through a connection that takes auto-push, one that does not, and
    // (for another offering) not at all.
    api.link("acme", "OCC-1", "moodle-main").await;
    api.link("acme", "OCC-1", "moodle-manual").await;

    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-1/enrolments/X1",
            Some(json!({"start_date": "2026-02-03"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["state"], "not_called");
    let jobs = api.jobs().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    match &jobs[0] {
        Job::PushOffering {
            tenant,
            connection,
            offering,
            trigger,
            ..
        } => {
            assert_eq!(tenant.as_str(), "acme");
            assert_eq!(connection.as_str(), "moodle-main");
            assert_eq!(offering.as_str(), "OCC-1");
            assert_eq!(*trigger, Trigger::AutoPush);
        }
        other => panic!("{other:?}"),
    }

    // Sent again (or changed): not new, nothing pushed.
    let (status, _) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-1/enrolments/X1",
            Some(json!({"start_date": "2026-02-03"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OCC-1/enrolments/X1",
            Some(json!({"state": "in_progress", "session_date": "2026-02-04"})),
        )
        .await;
    assert_eq!((status, body["state"].as_str()), (200, Some("in_progress")));
    assert_eq!(body["start_date"], "2026-02-03");
    assert!(api.jobs().await.is_empty());

    // An offering without auto-push: stored, not pushed.
    let mut manual = occ();
    manual["auto_push"] = json!(false);
    api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-2", Some(manual))
        .await;
    api.link("acme", "OCC-2", "moodle-main").await;
    let (status, _) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-2/enrolments/X1",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201);
    assert!(api.jobs().await.is_empty());

    let (status, list) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-1/enrolments", None)
        .await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));
    let (status, list) = api
        .call(ACME_KEY, "GET", "/v1/learners/X1/enrolments", None)
        .await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 2));

    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-1/enrolments/nobody",
            Some(json!({})),
        )
        .await;
    assert_error(status, &body, 404, Some("learner_code"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-9/enrolments/X1",
            Some(json!({})),
        )
        .await;
    assert_error(status, &body, 404, Some("offering_id"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-1/enrolments/X1",
            Some(json!({"state": "called"})),
        )
        .await;
    assert_error(status, &body, 400, Some("enrolments.state"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-1/enrolments/X1",
            Some(json!({"start_date": "2027-01-01"})),
        )
        .await;
    assert_error(status, &body, 422, Some("enrolments.start_date"));
}
