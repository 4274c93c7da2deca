//! Runs: started and stopped, history and retention, an offering's runs, a log paged.

use super::*;

#[tokio::test]
async fn a_person_starts_a_run_or_only_a_download_and_can_stop_it() {
    let api = api().await;
    let tenant = TenantId::parse("acme").unwrap();
    let conn = ConnectionId::parse("moodle-manual").unwrap();
    assert!(matches!(
        api.call(ACME_KEY, "PUT", "/v1/offerings/OCC-7", Some(occ()))
            .await
            .0,
        200 | 201
    ));
    testing::drain_jobs(&api.sdk, &api.config, QueueRole::EnrolmentPush).await;

    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/moodle-manual/runs",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["stage"], "full");
    let run = domain::RunId::parse(body["run"].as_str().unwrap()).unwrap();
    let stored = api
        .state
        .deps
        .runs
        .run(&tenant, &conn, &run)
        .await
        .unwrap()
        .expect("the run is recorded at once");
    assert_eq!(
        (stored.trigger, stored.status),
        (Trigger::Manual, domain::RunStatus::Importing)
    );
    let jobs = testing::drain_jobs(&api.sdk, &api.config, QueueRole::EnrolmentPush).await;
    assert!(
        matches!(jobs.as_slice(), [Job::SyncConnection { run: r, trigger: Trigger::Manual, offering: None, .. }] if r == &run),
        "{jobs:?}"
    );

    let import = json!({"stage": "import", "offering": "OCC-7"});
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/moodle-manual/runs",
            Some(import),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let jobs = testing::drain_jobs(&api.sdk, &api.config, QueueRole::ResultsFetch).await;
    assert!(
        matches!(jobs.as_slice(), [Job::FetchResults { offering: Some(o), .. }] if o.as_str() == "OCC-7"),
        "{jobs:?}"
    );

    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/moodle-manual/runs",
            Some(json!({"offering": "NOPE"})),
        )
        .await;
    assert_error(status, &body, 404, Some("runs.offering"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/moodle-manual/runs",
            Some(json!({"stage": "export-ish"})),
        )
        .await;
    assert_error(status, &body, 400, Some("runs.stage"));

    let stop = format!("/v1/connections/moodle-manual/runs/{run}/stop");
    let (status, body) = api.call(ACME_KEY, "POST", &stop, None).await;
    assert_eq!(status, 202, "{body}");
    assert!(
        api.state
            .deps
            .runs
            .stop_requested(&tenant, &conn, &run)
            .await
            .unwrap()
    );
    let (status, _) = api.call(BOLT_KEY, "POST", &stop, None).await;
    assert_eq!(status, 404, "another tenant cannot stop acme's run");
    api.state
        .deps
        .runs
        .finish_run(
            &tenant,
            &conn,
            &run,
            domain::RunStatus::FinishedSuccessfully,
            Utc::now(),
        )
        .await
        .unwrap();
    let (status, body) = api.call(ACME_KEY, "POST", &stop, None).await;
    assert_error(status, &body, 409, Some("run_id"));

    // The connection's history, newest first, by date range.
    let (status, history) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-manual/runs", None)
        .await;
    assert_eq!(status, 200, "{history}");
    let history = history.as_array().unwrap().clone();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[1]["id"],
        run.to_string(),
        "the older run comes last"
    );
    assert_eq!(history[1]["status"], "Finished successfully");
    assert_eq!(history[0]["status"], "Importing");
    let future = (Utc::now() + chrono::Duration::days(1))
        .to_rfc3339()
        .replace('+', "%2B");
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            &format!("/v1/connections/moodle-manual/runs?from={future}"),
            None,
        )
        .await;
    assert_eq!((status, body.as_array().map(Vec::len)), (200, Some(0)));
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/connections/moodle-manual/runs?limit=0",
            None,
        )
        .await;
    assert_error(status, &body, 400, Some("runs.limit"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/connections/moodle-manual/runs?from=yesterday",
            None,
        )
        .await;
    assert_error(status, &body, 400, Some("runs.from"));
    // A bare date is a day of the tenant's zone: the runs started now are on
    // today's date in Sydney (whatever UTC's date is), and none is on the day before.
    let sydney = domain::zone::TenantZone::parse("Australia/Sydney").unwrap();
    api.call(
        ACME_KEY,
        "PUT",
        "/v1/settings",
        Some(json!({"time_zone": "Australia/Sydney"})),
    )
    .await;
    let today = sydney.today(Utc::now());
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            &format!("/v1/connections/moodle-manual/runs?from={today}&to={today}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body.as_array().map(Vec::len)),
        (200, Some(2)),
        "{body}"
    );
    let yesterday = today.pred_opt().unwrap();
    let (status, body) = api
        .call(
            ACME_KEY,
            "GET",
            &format!("/v1/connections/moodle-manual/runs?to={yesterday}"),
            None,
        )
        .await;
    assert_eq!(
        (status, body.as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );
    let (status, _) = api
        .call(BOLT_KEY, "GET", "/v1/connections/moodle-manual/runs", None)
        .await;
    assert_eq!(
        status, 404,
        "another tenant sees no history of acme's connection"
    );
}

#[tokio::test]
async fn a_tenant_sets_its_history_retention_and_run_error_email_and_runs_show_counts() {
    let api = api().await;
    let (status, body) = api.call(ACME_KEY, "GET", "/v1/settings", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["run_history_days"],
        Value::Null,
        "the deployment's default"
    );
    assert_eq!(body["time_zone"], "UTC", "a tenant that set none is in UTC");
    assert!(
        body["run_error_email"]["body"]
            .as_str()
            .unwrap()
            .contains("{run_path}")
    );

    // Each wrong setting is refused by name, and nothing is stored.
    for (settings, status, field) in [
        (
            json!({"run_history_days": 0}),
            422,
            "settings.run_history_days",
        ),
        (
            json!({"run_error_email": {"subject": "{learner}", "body": "x"}}),
            422,
            "settings.run_error_email.subject",
        ),
        (json!({"history_days": 9}), 400, "settings.history_days"),
        (
            json!({"time_zone": "Australia/Sidney"}),
            422,
            "settings.time_zone",
        ),
        (json!({"time_zone": "+10:00"}), 422, "settings.time_zone"),
    ] {
        let (got, body) = api
            .call(ACME_KEY, "PUT", "/v1/settings", Some(settings))
            .await;
        assert_error(got, &body, status, Some(field));
    }

    let settings = json!({
        "time_zone": "Europe/Amsterdam",
        "run_history_days": 90,
        "run_error_email": {"subject": "[{status}] {connection}", "body": "See {run_path}"}
    });
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/settings", Some(settings.clone()))
        .await;
    assert_eq!((status, &body), (200, &settings));
    let (_, body) = api.call(ACME_KEY, "GET", "/v1/settings", None).await;
    assert_eq!(body, settings);
    let (_, body) = api.call(BOLT_KEY, "GET", "/v1/settings", None).await;
    assert_eq!(
        body["run_history_days"],
        Value::Null,
        "another tenant's are its own"
    );

    // A run started now is kept 90 days; its counts and duration show in the history.
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/moodle-manual/runs",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let run = domain::RunId::parse(body["run"].as_str().unwrap()).unwrap();
    let (tenant, conn) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-manual").unwrap(),
    );
    let stored = api
        .state
        .deps
        .runs
        .run(&tenant, &conn, &run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.keep_days, Some(90));
    api.state
        .deps
        .runs
        .add_counts(
            &tenant,
            &conn,
            &run,
            &[("enrolled", 3), ("users_created", 2)],
        )
        .await
        .unwrap();
    let (_, history) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-manual/runs", None)
        .await;
    assert_eq!(history[0]["id"], run.to_string());
    assert_eq!(
        history[0]["counts"],
        json!({"enrolled": 3, "users_created": 2})
    );
    assert!(history[0]["duration_seconds"].as_i64().unwrap() >= 0);
    let (_, view) = api
        .call(ACME_KEY, "GET", history[0]["href"].as_str().unwrap(), None)
        .await;
    assert_eq!(view["counts"]["enrolled"], 3);
    assert_eq!(view["status"], "Importing");
}

#[tokio::test]
async fn an_offering_shows_the_runs_that_covered_it() {
    let api = api().await;
    let conn = ConnectionId::parse("moodle-manual").unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    for (offering, course) in [("OCC-8", 8), ("OCC-9", 9)] {
        let (status, _) = api
            .call(
                ACME_KEY,
                "PUT",
                &format!("/v1/offerings/{offering}"),
                Some(occ()),
            )
            .await;
        assert!(matches!(status, 200 | 201));
        api.state
            .deps
            .links
            .save_link(&CourseLink {
                tenant: tenant.clone(),
                offering: OfferingId::parse(offering).unwrap(),
                connection: conn.clone(),
                course_id: course,
                course_idnumber: None,
                course_shortname: None,
                linked_at: Utc::now(),
            })
            .await
            .unwrap();
    }
    let mut started = Vec::new();
    for request in [json!({"offering": "OCC-8"}), json!({})] {
        let (status, body) = api
            .call(
                ACME_KEY,
                "POST",
                "/v1/connections/moodle-manual/runs",
                Some(request),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        started.push(body["run"].as_str().unwrap().to_owned());
    }
    let (status, runs) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-8/runs", None)
        .await;
    assert_eq!(status, 200, "{runs}");
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{runs}");
    assert!(started.iter().all(|s| ids.contains(&s.as_str())));
    let for_8 = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == started[0].as_str())
        .unwrap();
    assert_eq!(for_8["offering"], "OCC-8");
    assert_eq!(for_8["connection"], "moodle-manual");

    let (_, runs) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-9/runs", None)
        .await;
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [started[1].as_str()],
        "only the run for every offering"
    );

    let (status, body) = api
        .call(ACME_KEY, "GET", "/v1/offerings/OCC-404/runs", None)
        .await;
    assert_error(status, &body, 404, Some("offering_id"));
    let (status, body) = api
        .call(BOLT_KEY, "GET", "/v1/offerings/OCC-8/runs", None)
        .await;
    assert_eq!(status, 404, "another tenant's offering: {body}");
}

#[tokio::test]
async fn a_runs_log_is_read_a_page_at_a_time_and_every_line_is_reached() {
    use domain::ports::RunStore;
    use domain::{LogLevel, Run, RunId, RunLogLine};
    let api = api().await;
    let stores = cloud::Stores::new(&api.config, &api.sdk);
    let (t, c) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-manual").unwrap(),
    );
    let run = RunId::new_v7();
    stores
        .runs
        .start_run(&Run::start(
            t.clone(),
            c.clone(),
            run.clone(),
            Trigger::Manual,
            Utc::now(),
        ))
        .await
        .unwrap();
    let line = |i: usize, level| RunLogLine {
        at: Utc::now(),
        level,
        message: format!("line {i}"),
    };
    // Two appends: 250 lines (three stored items) and one warning.
    let first: Vec<RunLogLine> = (1..=250).map(|i| line(i, LogLevel::Info)).collect();
    stores.runs.append_log(&t, &c, &run, &first).await.unwrap();
    stores
        .runs
        .append_log(&t, &c, &run, &[line(251, LogLevel::Warning)])
        .await
        .unwrap();
    stores
        .runs
        .set_offering_counts(&t, &c, &run, "OCC-1", &[("blocked", 2)])
        .await
        .unwrap();
    stores
        .runs
        .set_offering_counts(&t, &c, &run, "OCC-1", &[("blocked", 3)])
        .await
        .unwrap();
    stores
        .runs
        .set_offering_counts(&t, &c, &run, "OCC-2", &[("blocked", 1)])
        .await
        .unwrap();

    let path = format!("/v1/connections/moodle-manual/runs/{run}");
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let (status, body) = api
            .call(
                ACME_KEY,
                "GET",
                &format!("{path}?after={after}&limit=120"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["log_lines"], 251);
        let lines = body["log"].as_array().unwrap();
        assert!(lines.len() <= 120);
        seen.extend(
            lines
                .iter()
                .map(|l| l["message"].as_str().unwrap().to_owned()),
        );
        match body["log_next"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let every: Vec<String> = (1..=251).map(|i| format!("line {i}")).collect();
    assert_eq!(seen, every, "each line once, in order");

    let (status, body) = api.call(ACME_KEY, "GET", &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["log"].as_array().unwrap().len(),
        251,
        "default page 500"
    );
    assert!(body["log_next"].is_null());
    // Set per offering: the second figure for OCC-1 replaced the first.
    assert_eq!(body["counts"]["blocked"], 4, "{body}");
    assert_eq!(body["counts"]["offerings_pushed"], 2, "{body}");
    let stored = stores.runs.run(&t, &c, &run).await.unwrap().unwrap();
    assert_eq!(
        (stored.log.lines, stored.log.warnings, stored.log.errors),
        (251, 1, 0)
    );
    assert_eq!(
        stored.log.status(),
        domain::RunStatus::FinishedWithWarnings,
        "the ending comes from the tally, not from reading the log"
    );

    for bad in ["limit=0", "limit=1001", "after=-1"] {
        let (status, body) = api
            .call(ACME_KEY, "GET", &format!("{path}?{bad}"), None)
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = api.call(BOLT_KEY, "GET", &path, None).await;
    assert_eq!(status, 404, "another tenant cannot read it");
}
