//! The Moodle client against the Moodle simulator (`simulators::moodle`): every
//! function, every recorded error case, batch isolation, retries, timeouts and
//! `max_input_vars`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed expectation is a failed test

use connectors::egress::Egress;
use connectors::moodle::types::*;
use connectors::moodle::*;
use secrecy::SecretString;
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN, Switches};
use simulators::server::RunningServer;
use std::time::{Duration, Instant};

struct Site {
    sim: MoodleSim,
    server: RunningServer,
    client: MoodleClient,
}

fn quick_config(base_url: &str) -> MoodleConfig {
    // The simulator listens on 127.0.0.1.
    let mut config = MoodleConfig::new(base_url).with_egress(Egress::AllowInternal);
    config.timeout = Duration::from_secs(5);
    config.retry = RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(10),
    };
    config
}

fn client_with(base_url: &str, token: &str, tweak: impl FnOnce(&mut MoodleConfig)) -> MoodleClient {
    let mut config = quick_config(base_url);
    tweak(&mut config);
    MoodleClient::new(config, MoodleAuth::Token(SecretString::from(token))).unwrap()
}

async fn site() -> Site {
    site_with(|_| {}).await
}

async fn site_with(tweak: impl FnOnce(&mut MoodleConfig)) -> Site {
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let client = client_with(&server.base_url, SAMPLE_TOKEN, tweak);
    Site {
        sim,
        server,
        client,
    }
}

fn strong() -> SecretString {
    SecretString::from("Sample#1234")
}

fn learner(i: usize) -> NewUser {
    NewUser::new(
        format!("learner{i:04}"),
        "Lee",
        format!("Learner{i}"),
        format!("learner{i:04}@example.com"),
    )
    .with_idnumber(format!("LRN-{i:04}"))
    .with_auth("manual")
    .with_password(strong())
}

fn only_error<T: std::fmt::Debug>(outcome: &BatchOutcome<T>) -> &MoodleError {
    let failed: Vec<_> = outcome.failed().collect();
    assert_eq!(failed.len(), 1, "{outcome:?}");
    failed[0].1
}

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

// ------------------------------------------------------------------ categories and courses

#[tokio::test]
async fn categories_and_courses_never_include_the_site_course() {
    let s = site().await;
    let cat = s
        .client
        .category_by_idnumber("ACC-CAT-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cat.id, MoodleCategoryId(2));
    assert!(
        s.client
            .category_by_idnumber("NOPE")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.client.categories(vec![]).await.unwrap().len(), 2);

    let course = s
        .client
        .course_by_idnumber("OCC-1001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(course.id, MoodleCourseId(2));
    assert!(
        s.client
            .course_by_idnumber("DOES-NOT-EXIST")
            .await
            .unwrap()
            .is_none()
    );
    let all = s.client.courses_by_field(None).await.unwrap();
    assert!(
        !all.courses.is_empty()
            && all
                .courses
                .iter()
                .all(|c| !c.is_site() && c.id != MoodleCourseId(1))
    );
    let all = s.client.courses(&[]).await.unwrap();
    assert!(!all.is_empty() && all.iter().all(|c| c.id != MoodleCourseId(1)));
    assert_eq!(
        s.client.courses(&[MoodleCourseId(2)]).await.unwrap()[0].shortname,
        "OCC-1001"
    );
    let before = s.sim.call_count("core_course_get_courses");
    assert!(
        s.client
            .courses(&[MoodleCourseId::SITE])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.sim.call_count("core_course_get_courses"),
        before,
        "asking only for the site course sends nothing"
    );
}

#[tokio::test]
async fn contents_and_course_modules() {
    let s = site().await;
    let sections = s.client.course_contents(MoodleCourseId(2)).await.unwrap();
    let cmids: Vec<i64> = sections
        .iter()
        .flat_map(|s| &s.modules)
        .map(|m| m.id.get())
        .collect();
    assert_eq!(cmids, [1, 2, 3, 4]);
    let e = s
        .client
        .course_contents(MoodleCourseId(999999))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MoodleError::RecordNotFound { errorcode, .. } if errorcode == "invalidrecord"),
        "{e:?}"
    );
    assert!(matches!(
        s.client.course_contents(MoodleCourseId::SITE).await,
        Err(MoodleError::SiteCourse)
    ));

    let quiz = s.client.course_module(CourseModuleId(1)).await.unwrap();
    assert_eq!(quiz.cm.pass_grade(), Some(6.0));
    assert_eq!(quiz.cm.idnumber.as_deref(), Some("OCC-QUIZ-1"));
    let page = s.client.course_module(CourseModuleId(3)).await.unwrap();
    assert_eq!(page.cm.modname, "page");
    let e = s
        .client
        .course_module(CourseModuleId(999999))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MoodleError::RecordNotFound { errorcode, .. } if errorcode == "invalidrecordunknown"),
        "{e:?}"
    );
}

#[tokio::test]
async fn create_update_and_import_courses() {
    let s = site().await;
    let mut new = NewCourse::new("Sample Created Course", "SAMPLE-C-1", MoodleCategoryId(2));
    new.idnumber = Some("SAMPLE-C-1".into());
    new.enablecompletion = Some(true);
    let dup = NewCourse::new("Dup", "OCC-1001", MoodleCategoryId(2));
    let bad_cat = NewCourse::new("Bad cat", "SAMPLE-BADCAT", MoodleCategoryId(999999));
    let outcome = s.client.create_courses(&[new, dup, bad_cat]).await;
    let created = outcome.records[0].as_ref().unwrap().clone();
    assert_eq!(created.shortname, "SAMPLE-C-1");
    assert!(
        matches!(outcome.error(1), Some(MoodleError::ShortnameTaken { .. })),
        "{:?}",
        outcome.records[1]
    );
    assert!(
        matches!(outcome.error(2), Some(MoodleError::RecordNotFound { errorcode, .. }) if errorcode == "errorcatcontextnotvalid"),
        "{:?}",
        outcome.records[2]
    );

    let mut rename = CourseUpdate::new(created.id);
    rename.fullname = Some("Sample Created Course (updated)".into());
    rename.visible = Some(false);
    let mut taken = CourseUpdate::new(created.id);
    taken.idnumber = Some("OCC-1001".into());
    let mut unknown = CourseUpdate::new(MoodleCourseId(999999));
    unknown.fullname = Some("x".into());
    let outcome = s.client.update_courses(&[rename]).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");
    let course = s.client.courses(&[created.id]).await.unwrap().remove(0);
    assert!(!course.visible);
    let outcome = s
        .client
        .update_courses(&[taken, unknown, CourseUpdate::new(MoodleCourseId::SITE)])
        .await;
    assert!(
        matches!(outcome.error(0), Some(MoodleError::Warning { warning }) if warning.warningcode == "courseidnumbertaken")
    );
    assert!(
        matches!(outcome.error(1), Some(MoodleError::Warning { warning }) if warning.warningcode == "invalidrecord")
    );
    assert!(matches!(outcome.error(2), Some(MoodleError::SiteCourse)));

    s.client
        .import_course(MoodleCourseId(2), created.id, false)
        .await
        .unwrap();
    let modules: Vec<String> = s
        .client
        .course_contents(created.id)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|s| s.modules)
        .map(|m| m.modname)
        .collect();
    assert!(
        modules.contains(&"quiz".to_owned()) && modules.contains(&"assign".to_owned()),
        "{modules:?}"
    );
    let e = s
        .client
        .import_course(MoodleCourseId(999999), created.id, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MoodleError::RecordNotFound { errorcode, .. } if errorcode == "invalidcourseid"),
        "{e:?}"
    );
    assert_eq!(s.sim.call_count("core_course_import_course"), 2);
}

// ------------------------------------------------------------------ users

#[tokio::test]
async fn user_lookups() {
    let s = site().await;
    let r = s
        .client
        .users(&[Criterion::new("email", "student1@example.com")])
        .await
        .unwrap();
    assert_eq!(r.users[0].id, MoodleUserId(4));
    assert!(r.warnings.is_empty());
    let r = s
        .client
        .users(&[Criterion::new("idnumber", "STU-003")])
        .await
        .unwrap();
    assert_eq!(r.users[0].username.as_deref(), Some("occ.student3"));
    assert!(
        s.client
            .users(&[Criterion::new("email", "nobody@example.com")])
            .await
            .unwrap()
            .users
            .is_empty()
    );
    let e = s.client.users(&[]).await.unwrap_err();
    assert!(
        matches!(e, MoodleError::InvalidParameter { .. }),
        "no criteria: {e:?}"
    );

    let found = s
        .client
        .users_by_field(
            UserField::Username,
            &["occ.student1".into(), "occ.student2".into()],
        )
        .await
        .unwrap();
    assert_eq!(found.iter().map(|u| u.id.get()).collect::<Vec<_>>(), [4, 5]);
    assert!(
        s.client
            .users_by_field(UserField::Username, &["nobody".into()])
            .await
            .unwrap()
            .is_empty()
    );
    let before = s.sim.call_count("core_user_get_users_by_field");
    assert!(
        s.client
            .users_by_field(UserField::Id, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.sim.call_count("core_user_get_users_by_field"),
        before,
        "an empty array cannot be sent"
    );
}

#[tokio::test]
async fn create_users_and_each_recorded_error() {
    let s = site().await;
    let ok = NewUser::new(
        "sample.created1",
        "Sample",
        "Created",
        "sample.created1@example.com",
    )
    .with_idnumber("SAMPLE-U-1")
    .with_auth("manual")
    .with_password(strong());
    let ext = NewUser::new(
        "sample+ext@example.com",
        "Ext",
        "Chars",
        "sample.ext@example.com",
    )
    .with_password(strong());
    let moodle_pw = NewUser::new("sample.mailed", "Mailed", "User", "mailed@example.com")
        .with_moodle_password();
    let outcome = s.client.create_users(&[ok, ext, moodle_pw]).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");
    let created: Vec<_> = outcome
        .succeeded()
        .map(|(_, u)| u.username.clone())
        .collect();
    assert_eq!(
        created,
        ["sample.created1", "sample+ext@example.com", "sample.mailed"]
    );
    let form = s
        .sim
        .calls()
        .into_iter()
        .find(|c| c.function == "core_user_create_users")
        .unwrap();
    assert_eq!(
        form.param("users[1][username]"),
        Some("sample+ext@example.com"),
        "`+` survives the form encoding"
    );
    assert_eq!(form.param("users[2][createpassword]"), Some("1"));

    let dup =
        NewUser::new("occ.student1", "Dup", "User", "dup@example.com").with_password(strong());
    let e = s.client.create_users(std::slice::from_ref(&dup)).await;
    assert!(
        matches!(
            only_error(&e),
            MoodleError::InvalidParameter {
                debuginfo: None,
                ..
            }
        ),
        "{e:?}"
    );
    s.sim.set_debug(true);
    let e = s.client.create_users(&[dup]).await;
    assert!(
        matches!(only_error(&e), MoodleError::UsernameTaken { username } if username == "occ.student1"),
        "{e:?}"
    );
    s.sim.set_debug(false);

    let mut upper = NewUser::new("x", "Up", "Per", "upper@example.com").with_password(strong());
    upper.username = "Sample.Upper".into();
    let e = s.client.create_users(&[upper]).await;
    assert!(
        matches!(only_error(&e), MoodleError::InvalidParameter { .. }),
        "{e:?}"
    );

    let weak = NewUser::new("sample.weak", "Weak", "Pass", "weak@example.com")
        .with_password(SecretString::from("weak"));
    let e = s.client.create_users(&[weak]).await;
    assert!(
        matches!(only_error(&e), MoodleError::PasswordPolicy { policy } if policy.contains("at least 8 characters") && !policy.contains('<')),
        "{e:?}"
    );
    assert!(
        !format!("{e:?}").contains("weak\""),
        "the password is not in the error"
    );

    let same_email =
        NewUser::new("other.user", "Other", "User", "student1@example.com").with_password(strong());
    let e = s.client.create_users(&[same_email]).await;
    assert!(
        matches!(
            only_error(&e),
            MoodleError::InvalidParameter { .. } | MoodleError::EmailTaken { .. }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn update_users_reports_warnings_per_user() {
    let s = site().await;
    let created = s
        .client
        .create_users(&[learner(1)])
        .await
        .records
        .remove(0)
        .unwrap();
    let mut rename = UserUpdate::new(created.id);
    rename.firstname = Some("Sample-Updated".into());
    rename.idnumber = Some("SAMPLE-U-1B".into());
    let outcome = s.client.update_users(&[rename]).await;
    assert!(outcome.all_succeeded(), "{outcome:?}");
    let u = s
        .client
        .users_by_field(UserField::Id, &[created.id.to_string()])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(u.idnumber.as_deref(), Some("SAMPLE-U-1B"));

    let mut unknown = UserUpdate::new(MoodleUserId(999999));
    unknown.firstname = Some("Nobody".into());
    let mut taken = UserUpdate::new(created.id);
    taken.username = Some("occ.student1".into());
    let suspend = UserUpdate {
        suspended: Some(true),
        ..UserUpdate::new(MoodleUserId(6))
    };
    let outcome = s.client.update_users(&[unknown, taken, suspend]).await;
    assert!(
        matches!(outcome.error(0), Some(MoodleError::Warning { warning }) if warning.warningcode == "invaliduserid")
    );
    assert!(
        matches!(outcome.error(1), Some(MoodleError::Warning { warning }) if warning.warningcode == "dmlwriteexception")
    );
    assert!(outcome.records[2].is_ok());
}

// ------------------------------------------------------------------ enrolments

#[tokio::test]
async fn enrolled_users_and_users_courses() {
    let s = site().await;
    let users = s
        .client
        .enrolled_users(MoodleCourseId(2), &[])
        .await
        .unwrap();
    assert_eq!(
        users.iter().map(|u| u.id.get()).collect::<Vec<_>>(),
        [3, 4, 5, 6]
    );
    let students = s
        .client
        .enrolled_users(
            MoodleCourseId(2),
            &[
                NameValue::new("withcapability", "mod/assign:submit"),
                NameValue::new("userfields", "id,username,idnumber,email,roles"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(students.len(), 3);
    assert!(
        students
            .iter()
            .all(|u| u.has_role(MoodleRoleId::STUDENT) && u.firstname.is_none())
    );
    let e = s
        .client
        .enrolled_users(MoodleCourseId(999999), &[])
        .await
        .unwrap_err();
    assert!(matches!(e, MoodleError::RecordNotFound { .. }), "{e:?}");

    let courses = s.client.users_courses(MoodleUserId(4)).await.unwrap();
    assert_eq!(courses[0].id, MoodleCourseId(2));
    assert_eq!(courses[0].completed, Some(true));
    assert!(
        s.client
            .users_courses(MoodleUserId(999999))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn enrol_and_unenrol_with_each_recorded_error() {
    let s = site().await;
    let user = s
        .client
        .create_users(&[learner(7)])
        .await
        .records
        .remove(0)
        .unwrap()
        .id;
    let course = MoodleCourseId(2);
    let enrol = Enrolment::new(user, course, MoodleRoleId::STUDENT);
    assert!(
        s.client
            .enrol(std::slice::from_ref(&enrol))
            .await
            .all_succeeded()
    );
    assert!(
        s.client
            .enrol(std::slice::from_ref(&enrol))
            .await
            .all_succeeded(),
        "re-enrolling is a silent no-op"
    );
    assert!(
        s.client
            .enrolled_users(course, &[])
            .await
            .unwrap()
            .iter()
            .any(|u| u.id == user)
    );

    let outcome = s
        .client
        .enrol(&[
            Enrolment::new(user, MoodleCourseId(999999), MoodleRoleId::STUDENT),
            Enrolment::new(MoodleUserId(999999), course, MoodleRoleId::STUDENT),
            Enrolment::new(user, course, MoodleRoleId(999)),
            Enrolment::new(user, MoodleCourseId::SITE, MoodleRoleId::STUDENT),
            Enrolment::new(MoodleUserId(6), course, MoodleRoleId::STUDENT).suspended(false),
        ])
        .await;
    assert!(
        matches!(outcome.error(0), Some(MoodleError::InvalidParameter { .. })),
        "{:?}",
        outcome.records[0]
    );
    assert!(
        matches!(outcome.error(1), Some(MoodleError::RecordNotFound { errorcode, .. }) if errorcode == "codingerror"),
        "{:?}",
        outcome.records[1]
    );
    assert!(
        matches!(outcome.error(2), Some(MoodleError::CannotAssignRole { .. })),
        "{:?}",
        outcome.records[2]
    );
    assert!(matches!(outcome.error(3), Some(MoodleError::SiteCourse)));
    assert!(
        outcome.records[4].is_ok(),
        "the good record of the batch went through: {:?}",
        outcome.records[4]
    );

    let unenrol = Unenrolment::new(user, course);
    assert!(
        s.client
            .unenrol(std::slice::from_ref(&unenrol))
            .await
            .all_succeeded()
    );
    assert!(
        s.client
            .unenrol(std::slice::from_ref(&unenrol))
            .await
            .all_succeeded(),
        "unenrolling a non-member is a no-op"
    );
    assert!(
        !s.client
            .enrolled_users(course, &[])
            .await
            .unwrap()
            .iter()
            .any(|u| u.id == user)
    );
    let outcome = s
        .client
        .unenrol(&[Unenrolment::new(user, MoodleCourseId(999999))])
        .await;
    assert!(
        matches!(only_error(&outcome), MoodleError::RecordNotFound { .. }),
        "{outcome:?}"
    );
}

// ------------------------------------------------------------------ grades and completion

#[tokio::test]
async fn grades_from_the_grade_report() {
    let s = site().await;
    let one = s
        .client
        .grade_items(MoodleCourseId(2), Some(MoodleUserId(4)))
        .await
        .unwrap();
    assert_eq!(one.usergrades.len(), 1);
    let quiz = one.usergrades[0]
        .gradeitems
        .iter()
        .find(|g| g.cmid == Some(CourseModuleId(1)))
        .unwrap();
    assert_eq!(quiz.graderaw, Some(10.0));
    let all = s
        .client
        .course_grades(MoodleCourseId(2), None)
        .await
        .unwrap();
    assert_eq!(all.source, WsFunction::GetGradeItems);
    let users: Vec<i64> = all.learners.iter().map(|l| l.user.get()).collect();
    assert!(
        users.contains(&4) && users.contains(&5) && users.contains(&6) && !users.contains(&3),
        "students, not teachers: {users:?}"
    );
    let e = s
        .client
        .grade_items(MoodleCourseId(999999), None)
        .await
        .unwrap_err();
    assert!(matches!(e, MoodleError::RecordNotFound { .. }), "{e:?}");
}

#[tokio::test]
async fn old_sites_fall_back_to_core_grades_get_grades() {
    let s = site().await;
    s.sim.with_state(|st| st.site.old_site = true);
    let old_service: Vec<&str> = Feature::Results
        .required_functions()
        .iter()
        .copied()
        .filter(|f| *f != "gradereport_user_get_grade_items")
        .chain(["core_grades_get_grades"])
        .collect();
    s.sim
        .add_token("oldsitetoken00000000000000000000", &old_service);
    let client = client_with(
        &s.server.base_url,
        "oldsitetoken00000000000000000000",
        |_| {},
    );
    let grades = client
        .course_grades(MoodleCourseId(2), Some(MoodleUserId(4)))
        .await
        .unwrap();
    assert_eq!(grades.source, WsFunction::LegacyGetGrades);
    let quiz = grades.learners[0]
        .items
        .iter()
        .find(|i| i.cmid == Some(CourseModuleId(1)))
        .unwrap();
    assert_eq!(quiz.grade, Some(10.0));
    let all = client.course_grades(MoodleCourseId(2), None).await.unwrap();
    assert!(all.learners.len() >= 3);
    assert_eq!(
        client.call_count(WsFunction::GetGradeItems),
        1,
        "the missing grade report is asked for once"
    );

    s.sim.add_token(
        "nogradestoken0000000000000000000",
        &["core_webservice_get_site_info"],
    );
    let client = client_with(
        &s.server.base_url,
        "nogradestoken0000000000000000000",
        |_| {},
    );
    let e = client
        .course_grades(MoodleCourseId(2), Some(MoodleUserId(4)))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MoodleError::FunctionNotInService { function, .. } if function == "gradereport_user_get_grade_items"),
        "{e:?}"
    );
}

#[tokio::test]
async fn completion_and_its_lag_behind_grades() {
    let s = site().await;
    let course = MoodleCourseId(2);
    let fran = s
        .client
        .activities_completion(course, MoodleUserId(5))
        .await
        .unwrap();
    assert_eq!(fran.statuses[0].state, CompletionState::CompleteFail);
    let sam = s
        .client
        .course_completion(course, MoodleUserId(4))
        .await
        .unwrap();
    assert!(sam.completionstatus.completed && sam.completionstatus.completed_at().is_some());
    let e = s
        .client
        .course_completion(course, MoodleUserId(2))
        .await
        .unwrap_err();
    assert!(matches!(e, MoodleError::NotEnrolled { .. }), "{e:?}");

    // Nina passes both activities: activity completion follows at once, course completion after the cron.
    s.sim.set_grade(6, 1, Some(8.0), 1_795_400_000);
    s.sim.set_grade(6, 2, Some(90.0), 1_795_400_000);
    let nina = s
        .client
        .activities_completion(course, MoodleUserId(6))
        .await
        .unwrap();
    assert_eq!(nina.statuses[0].state, CompletionState::CompletePass);
    assert!(
        !s.client
            .course_completion(course, MoodleUserId(6))
            .await
            .unwrap()
            .completionstatus
            .completed
    );
    s.sim.run_completion_cron();
    assert!(
        s.client
            .course_completion(course, MoodleUserId(6))
            .await
            .unwrap()
            .completionstatus
            .completed
    );
}

// ------------------------------------------------------------------ batches, retries, limits

#[tokio::test]
async fn one_bad_user_in_250_is_isolated_and_the_rest_are_created() {
    let s = site().await;
    let mut users: Vec<NewUser> = (0..250).map(learner).collect();
    users[137].username = "occ.student1".into(); // taken
    let outcome = s.client.create_users(&users).await;
    assert_eq!(outcome.succeeded().count(), 249);
    let failed: Vec<_> = outcome.failed().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, 137);
    assert!(
        matches!(failed[0].1, MoodleError::InvalidParameter { .. }),
        "{:?}",
        failed[0].1
    );
    assert!(
        failed[0]
            .1
            .to_string()
            .contains("Moodle refused a parameter")
    );
    let calls = s.sim.call_count("core_user_create_users");
    eprintln!("one bad user in 250: {calls} core_user_create_users calls");
    assert!(
        calls <= 20,
        "bisecting one bad record in 250 took {calls} calls"
    );
    assert_eq!(s.client.call_count(WsFunction::CreateUsers), calls as u64);
    let created = s
        .client
        .users_by_field(
            UserField::Username,
            &["learner0249".into(), "learner0136".into()],
        )
        .await
        .unwrap();
    assert_eq!(created.len(), 2);
}

#[tokio::test]
async fn batches_respect_max_input_vars() {
    let s = site_with(|c| c.max_input_vars = 200).await;
    s.sim.set_switches(Switches {
        max_input_vars: 200,
        ..Default::default()
    });
    let users: Vec<NewUser> = (0..60).map(learner).collect();
    let outcome = s.client.create_users(&users).await;
    assert!(outcome.all_succeeded(), "{:?}", outcome.failed().next());
    for call in s
        .sim
        .calls()
        .iter()
        .filter(|c| c.function == "core_user_create_users")
    {
        assert!(
            call.params.len() + 3 <= 200,
            "{} fields sent",
            call.params.len() + 3
        );
    }
    let last = s
        .client
        .users(&[Criterion::new("idnumber", "LRN-0059")])
        .await
        .unwrap();
    assert_eq!(
        last.users[0].email.as_deref(),
        Some("learner0059@example.com"),
        "no field was dropped"
    );
}

#[tokio::test]
async fn chunks_follow_the_batch_size() {
    let s = site_with(|c| c.batch_size = 10).await;
    let outcome = s
        .client
        .create_users(&(0..35).map(learner).collect::<Vec<_>>())
        .await;
    assert!(outcome.all_succeeded());
    assert_eq!(s.sim.call_count("core_user_create_users"), 4);
}

#[tokio::test]
async fn transient_503s_are_retried() {
    let s = site_with(|c| c.retry.max_retries = 8).await;
    s.sim.set_switches(Switches {
        error_rate: 0.3,
        ..Default::default()
    });
    for _ in 0..20 {
        s.client.site_info().await.unwrap();
    }
    assert!(s.sim.call_count("core_webservice_get_site_info") > 20);
    assert_eq!(
        s.client.call_count(WsFunction::GetSiteInfo),
        s.sim.call_count("core_webservice_get_site_info") as u64
    );

    // Always down: a few quick attempts, then a retryable error for the queue.
    s.sim.clear_calls();
    s.sim.set_switches(Switches {
        error_rate: 1.0,
        ..Default::default()
    });
    let started = Instant::now();
    let e = s.client.site_info().await.unwrap_err();
    assert!(
        matches!(e, MoodleError::Http { status: 503 }) && e.is_retryable(),
        "{e:?}"
    );
    assert_eq!(s.sim.call_count("core_webservice_get_site_info"), 9);
    assert!(started.elapsed() < Duration::from_secs(5));

    // A 503 means nothing ran: even a create is sent again.
    s.sim.clear_calls();
    let outcome = s.client.create_users(&[learner(1)]).await;
    assert!(matches!(
        only_error(&outcome),
        MoodleError::Http { status: 503 }
    ));
    assert_eq!(s.sim.call_count("core_user_create_users"), 9);
}

#[tokio::test]
async fn retries_are_bounded_in_time() {
    let s = site_with(|c| {
        c.retry = RetryPolicy {
            max_retries: 100,
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(50),
            max_elapsed: Duration::from_millis(300),
        }
    })
    .await;
    s.sim.set_switches(Switches {
        error_rate: 1.0,
        ..Default::default()
    });
    let started = Instant::now();
    assert!(s.client.site_info().await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(s.sim.call_count("core_webservice_get_site_info") < 20);
}

#[tokio::test]
async fn timeouts_are_retried_for_reads_but_not_for_creates() {
    let s = site_with(|c| {
        c.timeout = Duration::from_millis(300);
        c.retry.max_retries = 2;
    })
    .await;
    s.sim.set_hang(Duration::from_secs(3));
    s.sim.set_switches(Switches {
        timeout_rate: 1.0,
        ..Default::default()
    });
    let e = s.client.courses(&[]).await.unwrap_err();
    assert!(
        matches!(e, MoodleError::Timeout { .. }) && e.is_retryable(),
        "{e:?}"
    );
    assert_eq!(s.sim.call_count("core_course_get_courses"), 3);

    let user = learner(42);
    let outcome = s.client.create_users(std::slice::from_ref(&user)).await;
    let e = only_error(&outcome);
    assert!(
        matches!(e, MoodleError::Timeout { .. }) && e.is_retryable(),
        "{e:?}"
    );
    assert_eq!(
        s.sim.call_count("core_user_create_users"),
        1,
        "a create that may have run is not sent again"
    );

    // It did run: the caller's next attempt finds the user instead of creating it twice.
    s.sim.set_switches(Switches::default());
    let found = s
        .client
        .users_by_field(UserField::Username, std::slice::from_ref(&user.username))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn truncated_answers_are_retried() {
    let s = site().await;
    s.sim.set_switches(Switches {
        malformed_rate: 1.0,
        ..Default::default()
    });
    let e = s
        .client
        .enrolled_users(MoodleCourseId(2), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e, MoodleError::Malformed { .. }) && e.is_retryable(),
        "{e:?}"
    );
    assert_eq!(s.sim.call_count("core_enrol_get_enrolled_users"), 4);
    s.sim.set_switches(Switches {
        malformed_rate: 0.2,
        ..Default::default()
    });
    let s2 = client_with(&s.server.base_url, SAMPLE_TOKEN, |c| {
        c.retry.max_retries = 10
    });
    for _ in 0..10 {
        assert_eq!(
            s2.enrolled_users(MoodleCourseId(2), &[])
                .await
                .unwrap()
                .len(),
            4
        );
    }
}

#[tokio::test]
async fn concurrency_per_site_is_bounded() {
    let s = site_with(|c| c.max_concurrency = 2).await;
    s.sim.set_switches(Switches {
        latency: Duration::from_millis(150),
        ..Default::default()
    });
    let started = Instant::now();
    let calls = (0..6).map(|_| s.client.site_info());
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(440),
        "6 calls, 2 at a time, 150 ms each: {:?}",
        started.elapsed()
    );

    let wide = client_with(&s.server.base_url, SAMPLE_TOKEN, |c| c.max_concurrency = 6);
    let started = Instant::now();
    futures::future::join_all((0..6).map(|_| wide.site_info())).await;
    assert!(started.elapsed() < Duration::from_millis(440));
}

#[tokio::test]
async fn calls_are_counted_per_function() {
    let s = site().await;
    s.client.site_info().await.unwrap();
    s.client.site_info().await.unwrap();
    s.client.courses(&[]).await.unwrap();
    let counts = s.client.call_counts();
    assert_eq!(counts.get("core_webservice_get_site_info"), Some(&2));
    assert_eq!(counts.get("core_course_get_courses"), Some(&1));
    assert_eq!(counts.len(), 2);
}

#[tokio::test]
async fn the_token_travels_only_in_a_post_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/moodle", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&request).contains("moodlewsrestformat=json") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let body = r#"{"sitename":"S","username":"u","userid":2,"siteurl":"x","functions":[],"release":"4.3","version":"1"}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8(request).unwrap()
    });
    let client = client_with(&base, "s3cr3t-token-value", |_| {});
    client.site_info().await.unwrap();
    let request = server.await.unwrap();
    let request_line = request.lines().next().unwrap();
    assert_eq!(
        request_line,
        "POST /moodle/webservice/rest/server.php HTTP/1.1"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("content-type: application/x-www-form-urlencoded")
    );
    let body = request.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(
        body,
        "wstoken=s3cr3t-token-value&wsfunction=core_webservice_get_site_info&moodlewsrestformat=json"
    );
}
