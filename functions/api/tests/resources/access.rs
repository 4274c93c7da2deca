//! The OpenAPI document, API keys, settings bounds and tenant isolation.

use super::*;

#[tokio::test]
async fn the_openapi_document_describes_every_resource() {
    let api = api().await;
    let request = http::Request::get("/openapi.json")
        .body(lambda_http::Body::Empty)
        .unwrap();
    let (status, doc) = api.send(request).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/connections",
        "/v1/connections/{id}/test",
        "/v1/connections/{id}/secret",
        "/v1/learners/{code}",
        "/v1/offerings/{id}",
        "/v1/offerings/{id}/enrolments/{code}",
        "/v1/offerings/{id}/links",
        "/v1/offerings/{id}/transfers",
        "/v1/offerings/{id}/transfer-preview",
        "/v1/offerings/{id}/enrolments/{code}/removal",
        "/v1/learners/{code}/accounts/{connection}",
        "/v1/connections/{id}/categories",
        "/v1/deliveries",
        "/v1/deliveries/{delivery}",
        "/v1/deliveries/{delivery}/resend",
        "/v1/deliveries/{delivery}/cancel",
        "/v1/offerings/{offering}/coursekey",
        "/v1/offerings/{offering}/attendance",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["paths"]["/v1/learners/{code}"]["patch"].is_object());
    assert!(doc["paths"]["/v1/offerings/{id}/links"]["post"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    for schema in [
        "ErrorBody",
        "LearnerInput",
        "OfferingView",
        "ConnectionInput",
        "LinkRequest",
        "DeliveryView",
        "CourseKeyInput",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}

#[tokio::test]
async fn a_revoked_key_is_forbidden() {
    let api = api().await;
    let (status, body) = api.call(REVOKED_KEY, "GET", "/v1/connections", None).await;
    assert_error(status, &body, 403, Some("authorization"));
    let (status, body) = api.call("lb_nope", "GET", "/v1/learners/X1", None).await;
    assert_error(status, &body, 401, Some("authorization"));
}

#[tokio::test]
async fn one_tenant_never_reads_or_changes_another_tenants_data() {
    let api = api().await;
    api.call(ACME_KEY, "PUT", "/v1/learners/X1", Some(ana()))
        .await;
    api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-1", Some(occ()))
        .await;
    api.call(
        ACME_KEY,
        "PUT",
        "/v1/offerings/OCC-1/enrolments/X1",
        Some(json!({})),
    )
    .await;
    api.link("acme", "OCC-1", "moodle-main").await;
    api.call(
        ACME_KEY,
        "PUT",
        "/v1/connections/moodle-main/secret",
        Some(json!({"secret": "acme-secret-0123456789"})),
    )
    .await;
    api.jobs().await;

    // Reads: bolt sees none of acme's records, even with the same ids.
    for path in [
        "/v1/learners/X1",
        "/v1/learners/X1/enrolments",
        "/v1/offerings/OCC-1",
        "/v1/offerings/OCC-1/enrolments",
        "/v1/offerings/OCC-1/enrolments/X1",
        "/v1/offerings/OCC-1/links",
        "/v1/offerings/OCC-1/transfers?connection=moodle-main",
        "/v1/connections/moodle-manual",
        "/v1/connections/moodle-manual/secret",
    ] {
        let (status, body) = api.call(BOLT_KEY, "GET", path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.to_string().contains("Ruiz"), "{path}");
    }
    // bolt's own moodle-main shares the id but not the secret.
    let (status, body) = api
        .call(BOLT_KEY, "GET", "/v1/connections/moodle-main/secret", None)
        .await;
    assert_eq!((status, body["secret"].clone()), (200, Value::Null));

    // Changes: refused as not found, and acme's records stay as they were.
    let writes = [
        (
            "PATCH",
            "/v1/learners/X1",
            json!({"family_name": "Changed"}),
        ),
        ("PATCH", "/v1/offerings/OCC-1", json!({"name": "Changed"})),
        (
            "PUT",
            "/v1/offerings/OCC-1/enrolments/X1",
            json!({"state": "withdrawn"}),
        ),
        (
            "PATCH",
            "/v1/offerings/OCC-1/enrolments/X1",
            json!({"state": "withdrawn"}),
        ),
        (
            "POST",
            "/v1/offerings/OCC-1/transfers",
            json!({"connection": "moodle-main"}),
        ),
        (
            "PATCH",
            "/v1/connections/moodle-manual",
            json!({"name": "Changed"}),
        ),
        (
            "PUT",
            "/v1/connections/moodle-manual/secret",
            json!({"secret": "bolt-secret-0123456789"}),
        ),
    ];
    for (method, path, body) in writes {
        let (status, answer) = api.call(BOLT_KEY, method, path, Some(body)).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    for (method, path) in [
        ("POST", "/v1/connections/moodle-manual/disable"),
        ("POST", "/v1/connections/moodle-manual/test"),
    ] {
        let (status, _) = api.call(BOLT_KEY, method, path, None).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    // A PUT by bolt creates bolt's own learner; acme's is untouched.
    let mut other = ana();
    other["family_name"] = json!("Bolt");
    let (status, _) = api
        .call(BOLT_KEY, "PUT", "/v1/learners/X1", Some(other))
        .await;
    assert_eq!(status, 201);
    let (_, acme) = api.call(ACME_KEY, "GET", "/v1/learners/X1", None).await;
    assert_eq!(acme["family_name"], "Ruiz");
    let (_, offering) = api.call(ACME_KEY, "GET", "/v1/offerings/OCC-1", None).await;
    assert_eq!(offering["name"], "Certificate III");
    let (_, enrolment) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-1/enrolments/X1", None)
        .await;
    assert_eq!(enrolment["state"], "not_called");
    let (_, connection) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-manual", None)
        .await;
    assert_eq!(
        (connection["name"].as_str(), connection["enabled"].as_bool()),
        (Some("moodle-manual (acme)"), Some(true))
    );
    let (_, secret) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-main/secret", None)
        .await;
    assert_eq!(secret["secret"], "****6789");
    assert!(api.jobs().await.is_empty(), "bolt queued nothing for acme");
    let (_, list) = api.call(BOLT_KEY, "GET", "/v1/connections", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn api_keys_are_listed_without_the_keys_and_a_revoked_one_stops_at_once() {
    let api = api().await;
    let (status, body) = api.call(ACME_KEY, "GET", "/v1/api-keys", None).await;
    assert_eq!(status, 200, "{body}");
    let keys = body["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "acme's two keys only: {body}");
    let text = body.to_string();
    for secret in [ACME_KEY, BOLT_KEY, REVOKED_KEY] {
        assert!(!text.contains(secret), "no key is ever shown");
    }
    let pepper = api
        .state
        .deps
        .pepper
        .get()
        .await
        .unwrap()
        .expose_secret()
        .as_bytes()
        .to_vec();
    let acme_hash = app::auth::hash_api_key(&pepper, ACME_KEY);
    assert!(!text.contains(&acme_hash), "nor its hash");
    let acme_id = domain::ports::api_key_id(&acme_hash);
    assert!(
        keys.iter()
            .any(|k| k["id"] == acme_id.as_str() && k["revoked"] == false)
    );
    assert!(keys.iter().any(|k| k["revoked"] == true));

    // Another tenant can neither see nor revoke it.
    let (_, body) = api.call(BOLT_KEY, "GET", "/v1/api-keys", None).await;
    assert_eq!(body["api_keys"].as_array().unwrap().len(), 1, "{body}");
    let (status, body) = api
        .call(BOLT_KEY, "DELETE", &format!("/v1/api-keys/{acme_id}"), None)
        .await;
    assert_error(status, &body, 404, Some("api_key_id"));
    let (status, body) = api
        .call(ACME_KEY, "DELETE", "/v1/api-keys/not-an-id", None)
        .await;
    assert_error(status, &body, 404, Some("api_key_id"));

    // Revoked, it is refused from the very next request.
    let response = api::app(api.state.clone())
        .oneshot(request(
            ACME_KEY,
            "DELETE",
            &format!("/v1/api-keys/{acme_id}"),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (status, body) = api.call(ACME_KEY, "GET", "/v1/connections", None).await;
    assert_error(status, &body, 403, Some("authorization"));
    let (status, _) = api.call(BOLT_KEY, "GET", "/v1/connections", None).await;
    assert_eq!(status, 200, "bolt's key still works");
}

#[tokio::test]
async fn settings_and_dates_out_of_range_are_refused_naming_the_field() {
    let api = api().await;
    // The probe's values: a billion weeks crashed every tenant's roster tick.
    for (field, value) in [
        ("weeks_before_start_to_enable", 1_000_000_000u64),
        ("weeks_after_end_to_disable", 105),
        ("follow_adjustments_days", 366),
        ("absent_after_start_minutes", 100_000),
        ("update_every_minutes", 0),
    ] {
        let create = json!({"id": "ck", "kind": "course_key", "name": "CourseKey",
                            "base_url": "https://coursekey.example",
                            "settings": {field: value}});
        let (status, body) = api
            .call(BOLT_KEY, "POST", "/v1/connections", Some(create))
            .await;
        assert_error(
            status,
            &body,
            422,
            Some(&format!("connections.settings.{field}")),
        );
    }
    let sms = json!({"id": "sms", "kind": "sms", "name": "SMS",
                     "base_url": "https://sms.example", "settings": {"retry_days": 100_000}});
    let (status, body) = api
        .call(BOLT_KEY, "POST", "/v1/connections", Some(sms))
        .await;
    assert_error(status, &body, 422, Some("connections.settings.retry_days"));

    let mut far = occ();
    far["end_date"] = json!("9999-12-31");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-FAR", Some(far))
        .await;
    assert_error(status, &body, 422, Some("offerings.end_date"));
    let mut early = occ();
    early["assessables"][1]["expected_start_date"] = json!("1066-10-14");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-FAR", Some(early))
        .await;
    assert_error(
        status,
        &body,
        422,
        Some("offerings.assessables[1].expected_start_date"),
    );
    let (status, _) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-FAR", None)
        .await;
    assert_eq!(status, 404, "nothing refused was stored");
}
