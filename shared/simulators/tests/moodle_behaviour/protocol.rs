//! The web service protocol: tokens, parameters, formats, limits, faults, the call log.

use super::*;

#[tokio::test]
async fn the_site_course_is_listed_where_moodle_lists_it() {
    let site = Site::sample().await;
    let v = site.call("core_course_get_courses", &[]).await;
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == 1 && c["format"] == "site")
    );
    let v = site.call("core_course_get_courses_by_field", &[]).await;
    assert_eq!(v["courses"][0]["format"], "site");
    let v = site
        .call("core_course_get_courses", &[("options[ids][0]", "2")])
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------- transport

#[tokio::test]
async fn fields_past_max_input_vars_are_dropped_silently() {
    let site = Site::sample().await;
    // 3 meta fields + 5 per user: 13 keeps two whole users and drops the third.
    site.sim.set_switches(Switches {
        max_input_vars: 13,
        ..Switches::default()
    });
    let mut form = new_user(0, "cut.a", "cut.a@example.com");
    form.extend(new_user(1, "cut.b", "cut.b@example.com"));
    form.extend(new_user(2, "cut.c", "cut.c@example.com"));
    let v = site.call("core_user_create_users", &refs(&form)).await;
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    assert_eq!(site.sim.calls().last().unwrap().params.len(), 10);

    // Cut inside a record: the record misses a required key and the call fails.
    site.sim.set_switches(Switches {
        max_input_vars: 10,
        ..Switches::default()
    });
    let mut form = new_user(0, "cut.d", "cut.d@example.com");
    form.extend(new_user(1, "cut.e", "cut.e@example.com"));
    let v = site.call("core_user_create_users", &refs(&form)).await;
    assert_eq!(errorcode(&v), "invalidparameter");
}

#[tokio::test]
async fn five_thousand_fields_pass_by_default() {
    let site = Site::sample().await;
    let mut form = Vec::new();
    for i in 0..100 {
        let name: &'static str = Box::leak(format!("bulk.{i}").into_boxed_str());
        let email: &'static str = Box::leak(format!("bulk.{i}@example.com").into_boxed_str());
        form.extend(new_user(i, name, email));
    }
    let v = site.call("core_user_create_users", &refs(&form)).await;
    assert_eq!(v.as_array().unwrap().len(), 100);
}

#[tokio::test]
async fn tokens_and_functions_are_checked_in_moodles_order() {
    let site = Site::sample().await;
    let v = site
        .call_with("nope", "core_webservice_get_site_info", &[])
        .await;
    assert_eq!(errorcode(&v), "invalidtoken");
    let v = site
        .call_with("", "core_webservice_get_site_info", &[])
        .await;
    assert_eq!(errorcode(&v), "invalidtoken");
    let v = site.call("core_does_not_exist", &[]).await;
    assert_eq!(errorcode(&v), "invalidrecord");
    let v = site.call("core_course_search_courses", &[]).await;
    assert_eq!(errorcode(&v), "accessexception");

    site.sim
        .add_token("limited", &["core_webservice_get_site_info"]);
    let v = site
        .call_with("limited", "core_webservice_get_site_info", &[])
        .await;
    assert_eq!(
        v["functions"],
        json!([{"name": "core_webservice_get_site_info", "version": "2023100900"}])
    );
    let v = site.call_with("limited", "core_user_get_users", &[]).await;
    assert_eq!(errorcode(&v), "accessexception");
}

#[tokio::test]
async fn core_grades_get_grades_exists_only_on_old_sites() {
    let site = Site::sample().await;
    let params = [("courseid", "2"), ("userids[0]", "4")];
    let v = site.call("core_grades_get_grades", &params).await;
    assert_eq!(
        v["message"],
        "Can't find data record in database table external_functions."
    );
    site.sim.with_state(|st| {
        st.site.old_site = true;
        st.services[0]
            .functions
            .push("core_grades_get_grades".into());
    });
    let v = site.call("core_grades_get_grades", &params).await;
    let quiz = &v["items"][0];
    assert_eq!(quiz["name"], "OCC Quiz 1");
    assert_eq!(quiz["grades"][0]["grade"], 10);
}

#[tokio::test]
async fn parameters_are_validated_like_moodle() {
    let site = Site::sample().await;
    site.sim.set_debug(true);
    let v = site
        .call(
            "core_enrol_get_users_courses",
            &[("userid", "4"), ("returnusercount", "true")],
        )
        .await;
    assert_eq!(errorcode(&v), "invalidparameter");
    let v = site
        .call(
            "core_course_get_contents",
            &[("courseid", "2"), ("colour", "red")],
        )
        .await;
    assert_eq!(errorcode(&v), "invalidparameter");
    assert!(v["debuginfo"].as_str().unwrap().contains("colour"));
    let v = site
        .call("core_course_get_contents", &[("courseid", "two")])
        .await;
    assert_eq!(errorcode(&v), "invalidparameter");
    // Sparse and named indices are fine.
    let v = site
        .call(
            "core_user_get_users_by_field",
            &[("field", "id"), ("values[7]", "4"), ("values[42]", "5")],
        )
        .await;
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn xml_without_json_format_and_json_bodies_are_not_read() {
    let site = Site::sample().await;
    let resp = site
        .raw(format!(
            "wstoken={SAMPLE_TOKEN}&wsfunction=core_course_get_course_module&cmid=1"
        ))
        .await;
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("<KEY name=\"gradepass\"><VALUE>6.00</VALUE>"),
        "{body}"
    );

    let resp = site
        .http
        .post(site.url())
        .json(&json!({"wstoken": SAMPLE_TOKEN, "wsfunction": "core_webservice_get_site_info", "moodlewsrestformat": "json"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("<EXCEPTION class=\"moodle_exception\">"),
        "{body}"
    );
    assert!(body.contains("<ERRORCODE>invalidtoken</ERRORCODE>"));
}

#[tokio::test]
async fn functions_without_a_result_answer_null() {
    let site = Site::sample().await;
    let resp = site
        .raw(format!(
            "wstoken={SAMPLE_TOKEN}&wsfunction=enrol_manual_unenrol_users&moodlewsrestformat=json&enrolments[0][userid]=6&enrolments[0][courseid]=2"
        ))
        .await;
    assert_eq!(resp.text().await.unwrap(), "null");
}

// ---------------------------------------------------------------- switches and the call log

#[tokio::test]
async fn latency_errors_timeouts_and_malformed_answers() {
    let site = Site::sample().await;
    site.sim.set_switches(Switches {
        latency: Duration::from_millis(150),
        ..Switches::default()
    });
    let started = Instant::now();
    site.call("core_webservice_get_site_info", &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(150));

    site.sim.set_switches(Switches {
        error_rate: 1.0,
        ..Switches::default()
    });
    let resp = site
        .raw(format!("wstoken={SAMPLE_TOKEN}&wsfunction=core_webservice_get_site_info&moodlewsrestformat=json"))
        .await;
    assert_eq!(resp.status(), 503);

    site.sim.set_switches(Switches {
        malformed_rate: 1.0,
        ..Switches::default()
    });
    let resp = site
        .raw(format!("wstoken={SAMPLE_TOKEN}&wsfunction=core_webservice_get_site_info&moodlewsrestformat=json"))
        .await;
    let body = resp.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&body).is_err());

    // A hanging answer: the work is done, the answer never arrives in time.
    site.sim.set_switches(Switches {
        timeout_rate: 1.0,
        ..Switches::default()
    });
    site.sim.set_hang(Duration::from_secs(5));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client
        .post(site.url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "wstoken={SAMPLE_TOKEN}&wsfunction=enrol_manual_unenrol_users&moodlewsrestformat=json&enrolments[0][userid]=6&enrolments[0][courseid]=2"
        ))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(
        !site
            .sim
            .snapshot()
            .role_assignments
            .iter()
            .any(|ra| ra.userid == 6)
    );
}

#[tokio::test]
async fn the_call_log_records_function_params_and_time_without_the_token() {
    let site = Site::sample().await;
    let before = chrono::Utc::now();
    site.call("core_course_get_contents", &[("courseid", "2")])
        .await;
    site.call("core_course_get_contents", &[("courseid", "999")])
        .await;
    assert_eq!(site.sim.call_count("core_course_get_contents"), 2);
    let calls = site.sim.calls();
    assert_eq!(calls[0].function, "core_course_get_contents");
    assert_eq!(
        calls[0].params,
        vec![("courseid".to_owned(), "2".to_owned())]
    );
    assert_eq!(calls[1].param("courseid"), Some("999"));
    assert!(calls[0].at >= before);
    assert!(!format!("{calls:?}").contains(SAMPLE_TOKEN));
    site.sim.clear_calls();
    assert!(site.sim.calls().is_empty());
}
