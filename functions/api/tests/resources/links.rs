//! Links, the transfer preview, transfers and removals.

use super::*;

#[tokio::test]
async fn links_and_transfers_of_an_offering() {
    let api = api().await;
    api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-1", Some(occ()))
        .await;
    api.link("acme", "OCC-1", "moodle-main").await;
    let (status, links) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-1/links", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(links.as_array().unwrap().len(), 1);
    assert_eq!(links[0]["connection"], "moodle-main");
    assert_eq!(links[0]["course_id"], 2);

    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1/transfers",
            Some(json!({"connection": "moodle-main"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["trigger"], "manual");
    let jobs = api.jobs().await;
    assert!(
        matches!(&jobs[..], [Job::PushOffering { trigger: Trigger::Manual, run, .. }] if run.as_str() == body["run"]),
        "{jobs:?}"
    );

    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1/transfers",
            Some(json!({"connection": "coursekey-main"})),
        )
        .await;
    assert_error(status, &body, 422, Some("transfers.connection"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1/transfers",
            Some(json!({"connection": "nope"})),
        )
        .await;
    assert_error(status, &body, 404, Some("transfers.connection"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1/transfers",
            Some(json!({"connection": "moodle-main", "all": true})),
        )
        .await;
    assert_error(status, &body, 400, Some("transfers.all"));

    let (status, list) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/offerings/OCC-1/transfers?connection=moodle-main",
            None,
        )
        .await;
    assert_eq!((status, list), (200, json!([])));
    let (status, body) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-1/transfers", None)
        .await;
    assert_error(status, &body, 400, Some("connection"));
}

#[tokio::test]
async fn the_transfer_preview_shows_ready_and_blocked_enrolments_with_reasons() {
    use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};
    let api = api().await;
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    api.call(
        ACME_KEY,
        "POST",
        "/v1/connections",
        Some(json!({"id": "sim", "kind": "moodle", "name": "Sim", "base_url": server.base_url, "secret": SAMPLE_TOKEN})),
    )
    .await;
    api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-1001", Some(occ()))
        .await;
    api.link("acme", "OCC-1001", "sim").await;
    api.call(ACME_KEY, "PUT", "/v1/learners/NEW1", Some(ana()))
        .await;
    api.call(
        ACME_KEY,
        "PUT",
        "/v1/learners/NOMAIL",
        Some(json!({"given_name": "Bo", "family_name": ""})),
    )
    .await;
    for code in ["NEW1", "NOMAIL"] {
        let (status, _) = api
            .call(
                ACME_KEY,
                "PUT",
                &format!("/v1/offerings/OCC-1001/enrolments/{code}"),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 201);
    }
    let calls_before = sim.call_count("core_user_create_users");

    let (status, rows) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/offerings/OCC-1001/transfer-preview?connection=sim",
            None,
        )
        .await;
    assert_eq!(status, 200, "{rows}");
    let row = |code: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["learner"] == code)
            .cloned()
            .unwrap()
    };
    assert_eq!(row("NEW1")["status"]["status"], "ready", "{rows}");
    let blocked = row("NOMAIL");
    assert_eq!(blocked["status"]["status"], "blocked");
    let reasons: Vec<&str> = blocked["status"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"missing_email"), "{reasons:?}");
    assert!(reasons.contains(&"missing_surname"), "{reasons:?}");
    assert_eq!(blocked["messages"].as_array().unwrap().len(), reasons.len());
    assert_eq!(
        sim.call_count("core_user_create_users"),
        calls_before,
        "a preview changes nothing in Moodle"
    );

    let (status, body) = api
        .call(
            BOLT_KEY,
            "GET",
            "/v1/offerings/OCC-1001/transfer-preview?connection=sim",
            None,
        )
        .await;
    assert_error(status, &body, 404, Some("offering_id"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/offerings/OCC-1001/transfer-preview?connection=coursekey-main",
            None,
        )
        .await;
    assert_error(status, &body, 422, Some("connection"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/offerings/OCC-1001/transfer-preview",
            None,
        )
        .await;
    assert_error(status, &body, 400, Some("connection"));
    server.shutdown().await;
}

#[tokio::test]
async fn an_offering_is_linked_by_idnumber_by_course_id_or_to_a_new_course() {
    use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};
    let api = api().await;
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let conn = json!({"id": "sim", "kind": "moodle", "name": "Sim", "base_url": server.base_url, "secret": SAMPLE_TOKEN});
    let (status, _) = api
        .call(ACME_KEY, "POST", "/v1/connections", Some(conn))
        .await;
    assert_eq!(status, 201);
    // OCC-1001 is the ID number of the sample site's course 2.
    for id in ["OCC-1001", "NEW-2001", "PICKED"] {
        let (status, body) = api
            .call(ACME_KEY, "PUT", &format!("/v1/offerings/{id}"), Some(occ()))
            .await;
        assert!(status == 200 || status == 201, "{body}");
    }

    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1001/links",
            Some(json!({"connection": "sim"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["course_id"], 2);
    assert_eq!(body["course_idnumber"], "OCC-1001");

    // No course has this offering's id yet: the error says what to do.
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/NEW-2001/links",
            Some(json!({"connection": "sim"})),
        )
        .await;
    assert_error(status, &body, 404, Some("links.course_id"));
    assert!(
        body["message"].as_str().unwrap().contains("check again"),
        "{body}"
    );

    let (status, categories) = api
        .call(ACME_KEY, "GET", "/v1/connections/sim/categories", None)
        .await;
    assert_eq!(status, 200, "{categories}");
    let acceptance = categories
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Acceptance Category")
        .unwrap();
    assert_eq!(
        acceptance["idnumber"], "ACC-CAT-1",
        "the category's ID number, as Moodle answers it"
    );
    let category = acceptance["id"].clone();
    let create = json!({"connection": "sim", "create": {"shortname": "NEW-2001", "fullname": "New offering", "category": category}});
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/NEW-2001/links",
            Some(create),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let created = body["course_id"].as_i64().unwrap();
    let course = sim
        .snapshot()
        .courses
        .into_iter()
        .find(|c| c.id == created)
        .unwrap();
    assert_eq!(
        course.idnumber, "NEW-2001",
        "the new course carries the offering's id"
    );
    assert_eq!(course.visible, 1, "an active offering's course is visible");

    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/PICKED/links",
            Some(json!({"connection": "sim", "course_id": 2})),
        )
        .await;
    assert_eq!((status, body["course_id"].as_i64()), (200, Some(2)));
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/PICKED/links",
            Some(json!({"connection": "sim", "course_id": 999})),
        )
        .await;
    assert_error(status, &body, 404, Some("links.course_id"));
    let both = json!({"connection": "sim", "course_id": 2, "create": {"shortname": "x", "fullname": "x", "category": 1}});
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/offerings/PICKED/links", Some(both))
        .await;
    assert_error(status, &body, 422, Some("links.create"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/PICKED/links",
            Some(json!({"connection": "sim", "courseid": 2})),
        )
        .await;
    assert_error(status, &body, 400, Some("links.courseid"));

    // Another tenant cannot link acme's offering or see acme's connection.
    let (status, _) = api
        .call(
            BOLT_KEY,
            "POST",
            "/v1/offerings/OCC-1001/links",
            Some(json!({"connection": "sim"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .call(BOLT_KEY, "GET", "/v1/connections/sim/categories", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_transferred_enrolment_is_removed_only_by_the_explicit_action() {
    use domain::sis::{Transfer, TransferStatus};
    let api = api().await;
    assert!(matches!(
        api.call(ACME_KEY, "PUT", "/v1/learners/X1", Some(ana()))
            .await
            .0,
        200 | 201
    ));
    assert!(matches!(
        api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-9", Some(occ()))
            .await
            .0,
        200 | 201
    ));
    let enrolment = Some(json!({"start_date": "2026-02-01"}));
    assert!(matches!(
        api.call(
            ACME_KEY,
            "PUT",
            "/v1/offerings/OCC-9/enrolments/X1",
            enrolment
        )
        .await
        .0,
        200 | 201
    ));
    testing::drain_jobs(&api.sdk, &api.config, QueueRole::EnrolmentPush).await;
    let removal = || Some(json!({"connection": "moodle-manual"}));
    let path = "/v1/offerings/OCC-9/enrolments/X1/removal";

    let (status, body) = api.call(ACME_KEY, "POST", path, removal()).await;
    assert_error(status, &body, 409, Some("removal.connection"));

    let tenant = TenantId::parse("acme").unwrap();
    api.state
        .deps
        .links
        .save_transfer(&Transfer {
            tenant: tenant.clone(),
            connection: ConnectionId::parse("moodle-manual").unwrap(),
            offering: OfferingId::parse("OCC-9").unwrap(),
            learner: domain::LearnerCode::parse("X1").unwrap(),
            status: TransferStatus::Transferred,
            external_user: Some(7),
            transferred_at: Some(Utc::now()),
            updated_at: Utc::now(),
            removal_error: None,
        })
        .await
        .unwrap();
    // Withdrawing in the SMS changes nothing in Moodle by itself (VETtrak: enrolment edits do not reach Moodle).
    let (status, _) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/offerings/OCC-9/enrolments/X1",
            Some(json!({"state": "withdrawn"})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        testing::drain_jobs(&api.sdk, &api.config, QueueRole::EnrolmentPush)
            .await
            .is_empty()
    );

    let (status, body) = api.call(ACME_KEY, "POST", path, removal()).await;
    assert_eq!(status, 202, "{body}");
    let jobs = testing::drain_jobs(&api.sdk, &api.config, QueueRole::EnrolmentPush).await;
    assert!(
        matches!(jobs.as_slice(), [Job::RemoveEnrolment { connection, learner, .. }] if connection.as_str() == "moodle-manual" && learner.as_str() == "X1"),
        "{jobs:?}"
    );
    let (status, _) = api.call(BOLT_KEY, "POST", path, removal()).await;
    assert_eq!(status, 404, "another tenant cannot remove acme's enrolment");
}

#[tokio::test]
async fn a_link_is_one_course_per_offering_and_site_named_by_course_id() {
    use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};
    let api = api().await;
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let conn = json!({"id": "sim", "kind": "moodle", "name": "Sim", "base_url": server.base_url, "secret": SAMPLE_TOKEN});
    let (status, _) = api
        .call(ACME_KEY, "POST", "/v1/connections", Some(conn))
        .await;
    assert_eq!(status, 201);
    for id in ["OCC-1001", "SOLO-1"] {
        let (status, body) = api
            .call(ACME_KEY, "PUT", &format!("/v1/offerings/{id}"), Some(occ()))
            .await;
        assert!(status == 200 || status == 201, "{body}");
    }

    // An offering that does not exist is never linked; the error names it.
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/GHOST-1/links",
            Some(json!({"connection": "sim", "course_id": 2})),
        )
        .await;
    assert_error(status, &body, 404, Some("offering_id"));

    // The link names the Moodle course by its id (SM-05).
    let link = json!({"connection": "sim", "course_id": 2});
    let (status, first) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1001/links",
            Some(link.clone()),
        )
        .await;
    assert_eq!(
        (status, first["course_id"].as_i64()),
        (200, Some(2)),
        "{first}"
    );
    // The same pair again changes nothing (the link keeps its first date).
    let (status, again) = api
        .call(ACME_KEY, "POST", "/v1/offerings/OCC-1001/links", Some(link))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first);

    // Another course for the same offering and site replaces the link: one
    // course per offering per site.
    let (_, categories) = api
        .call(ACME_KEY, "GET", "/v1/connections/sim/categories", None)
        .await;
    let category = categories[0]["id"].clone();
    let create = json!({"connection": "sim", "create": {"shortname": "SOLO-1", "fullname": "Solo", "category": category}});
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/offerings/SOLO-1/links", Some(create))
        .await;
    assert_eq!(status, 200, "{body}");
    let other = body["course_id"].as_i64().unwrap();
    assert_ne!(other, 2);
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1001/links",
            Some(json!({"connection": "sim", "course_id": other})),
        )
        .await;
    assert_eq!(
        (status, body["course_id"].as_i64()),
        (200, Some(other)),
        "{body}"
    );
    let (status, links) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-1001/links", None)
        .await;
    assert_eq!(status, 200, "{links}");
    assert_eq!(links.as_array().unwrap().len(), 1, "{links}");
    assert_eq!(
        (
            links[0]["connection"].as_str(),
            links[0]["course_id"].as_i64()
        ),
        (Some("sim"), Some(other))
    );
}
