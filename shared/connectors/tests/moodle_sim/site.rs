//! The site: test connection, tokens and password logins.

use super::*;

// ------------------------------------------------------------------ site

#[tokio::test]
async fn test_connection_reports_the_site_and_the_missing_functions() {
    let s = site().await;
    let all = required_functions(&[
        Feature::EnrolmentPush,
        Feature::Results,
        Feature::CourseCompletion,
    ]);
    let report = s.client.test_connection(&all).await.unwrap();
    assert_eq!(report.site_name, "Moodle Acceptance Peer");
    assert_eq!(report.release, "4.3 (Build: 20231009)");
    assert_eq!(report.version, "2023100900");
    assert!(
        report.missing_functions.is_empty(),
        "{:?}",
        report.missing_functions
    );

    s.sim.add_token(
        "limitedtoken0000000000000000000a",
        &[
            "core_webservice_get_site_info",
            "core_user_get_users",
            "core_grades_get_grades",
        ],
    );
    let limited = client_with(
        &s.server.base_url,
        "limitedtoken0000000000000000000a",
        |_| {},
    );
    let push = Feature::EnrolmentPush.required_functions();
    let report = limited.test_connection(&push).await.unwrap();
    assert_eq!(
        report.missing_optional_functions,
        ["tool_mobile_get_config"]
    );
    let expected: Vec<&str> = push
        .iter()
        .copied()
        .filter(|f| {
            ![
                "core_webservice_get_site_info",
                "core_user_get_users",
                // core_grades_get_grades stands in for it.
                "gradereport_user_get_grade_items",
            ]
            .contains(f)
        })
        .collect();
    assert_eq!(report.missing_functions, expected);
    // core_grades_get_grades stands in for the grade report on old sites.
    let report = limited
        .test_connection(&Feature::Results.required_functions())
        .await
        .unwrap();
    assert!(
        !report
            .missing_functions
            .contains(&"gradereport_user_get_grade_items".to_owned())
    );
    let report = limited
        .test_connection(&Feature::CourseCompletion.required_functions())
        .await
        .unwrap();
    assert!(
        report
            .missing_functions
            .contains(&"core_completion_get_course_completion_status".to_owned())
    );
}

#[tokio::test]
async fn bad_missing_and_unauthorised_tokens() {
    let s = site().await;
    let wrong = client_with(
        &s.server.base_url,
        "0123456789abcdef0123456789abcdef",
        |_| {},
    );
    let e = wrong.site_info().await.unwrap_err();
    assert!(matches!(e, MoodleError::InvalidToken { .. }), "{e:?}");
    assert!(!e.is_retryable());
    assert_eq!(
        s.sim.call_count("core_webservice_get_site_info"),
        1,
        "a permanent error is not retried"
    );

    let empty = client_with(&s.server.base_url, "", |_| {});
    assert!(matches!(
        empty.site_info().await.unwrap_err(),
        MoodleError::InvalidToken { .. }
    ));

    s.sim.add_token(
        "readonlytoken000000000000000000b",
        &["core_webservice_get_site_info"],
    );
    let limited = client_with(
        &s.server.base_url,
        "readonlytoken000000000000000000b",
        |_| {},
    );
    let e = limited.courses(&[]).await.unwrap_err();
    assert!(
        matches!(&e, MoodleError::FunctionNotInService { function, .. } if function == "core_course_get_courses"),
        "{e:?}"
    );
    assert!(e.is_site_wide());

    // A whole batch stops at a site-wide error, every record carrying it.
    let outcome = limited.create_users(&[learner(1), learner(2)]).await;
    assert!(matches!(
        outcome.stopped_by(),
        Some(MoodleError::FunctionNotInService { .. })
    ));
    assert_eq!(outcome.failed().count(), 2);
    assert_eq!(s.sim.call_count("core_user_create_users"), 1);
}

#[tokio::test]
async fn core_grades_get_grades_is_an_unknown_function_on_moodle_4() {
    let s = site().await;
    let e = s
        .client
        .legacy_grades(MoodleCourseId(2), &[MoodleUserId(4)])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MoodleError::UnknownFunction { function, .. } if function == "core_grades_get_grades"),
        "{e:?}"
    );
}

#[tokio::test]
async fn password_login_is_exchanged_once_for_a_token() {
    let s = site().await;
    s.sim
        .add_login("wsuser", "Ws#pass123", "learnbridge", SAMPLE_TOKEN);
    let auth = MoodleAuth::Password {
        username: "wsuser".into(),
        password: SecretString::from("Ws#pass123"),
        service: "learnbridge".into(),
    };
    let client = MoodleClient::new(quick_config(&s.server.base_url), auth).unwrap();
    client.site_info().await.unwrap();
    client.courses(&[]).await.unwrap();
    assert_eq!(client.call_counts().get(LOGIN_COUNT_KEY), Some(&1));
    assert_eq!(s.sim.call_count("login/token.php"), 1);
    assert!(s.sim.calls().iter().all(|c| c.param("password").is_none()));

    let auth = MoodleAuth::Password {
        username: "wsuser".into(),
        password: SecretString::from("wrong"),
        service: "learnbridge".into(),
    };
    let client = MoodleClient::new(quick_config(&s.server.base_url), auth).unwrap();
    let e = client.site_info().await.unwrap_err();
    assert!(
        matches!(&e, MoodleError::Login { errorcode, .. } if errorcode == "invalidlogin"),
        "{e:?}"
    );
    assert!(!e.to_string().contains("wrong"));
    assert!(
        e.to_string().contains("check the connection's username"),
        "{e}"
    );

    let auth = MoodleAuth::Password {
        username: "wsuser".into(),
        password: SecretString::from("Ws#pass123"),
        service: "no_such_service".into(),
    };
    let client = MoodleClient::new(quick_config(&s.server.base_url), auth).unwrap();
    let e = client.site_info().await.unwrap_err();
    assert!(
        matches!(&e, MoodleError::Login { errorcode, .. } if errorcode == "servicenotavailable"),
        "{e:?}"
    );
    assert!(e.to_string().contains("settings.login.service"), "{e}");
}

#[tokio::test]
async fn a_password_logins_refused_token_is_fetched_again_once() {
    let s = site().await;
    s.sim
        .add_login("wsuser", "Ws#pass123", "learnbridge", SAMPLE_TOKEN);
    let auth = MoodleAuth::Password {
        username: "wsuser".into(),
        password: SecretString::from("Ws#pass123"),
        service: "learnbridge".into(),
    };
    let client = MoodleClient::new(quick_config(&s.server.base_url), auth).unwrap();
    client.site_info().await.unwrap();
    // An admin deletes the token; logging in again makes a new one.
    const NEW: &str = "5ec0d70ce0000000000000000000beef";
    s.sim.with_state(|st| {
        for t in st.tokens.iter_mut().filter(|t| t.token == SAMPLE_TOKEN) {
            t.token = NEW.to_owned();
        }
        for l in st.logins.iter_mut() {
            l.token = NEW.to_owned();
        }
    });
    client.site_info().await.unwrap();
    assert_eq!(client.call_counts().get(LOGIN_COUNT_KEY), Some(&2));
    assert_eq!(client.call_count(WsFunction::GetSiteInfo), 3);

    // A token refused right after a fresh login is not fetched a third time.
    s.sim.with_state(|st| st.tokens.clear());
    let e = client.site_info().await.unwrap_err();
    assert!(matches!(e, MoodleError::InvalidToken { .. }), "{e:?}");
    assert_eq!(client.call_counts().get(LOGIN_COUNT_KEY), Some(&3));
}
