#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Behaviour of the Moodle simulator beyond the recorded samples, each as Moodle 4.3 does it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use simulators::moodle::{MoodleFixture, MoodleSim, SAMPLE_TOKEN, Switches};
use simulators::server::RunningServer;

struct Site {
    sim: MoodleSim,
    server: RunningServer,
    http: reqwest::Client,
}

impl Site {
    async fn sample() -> Self {
        Self::with(MoodleSim::sample_site()).await
    }

    async fn with(sim: MoodleSim) -> Self {
        let server = sim.start().await.unwrap();
        Self {
            sim,
            server,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self) -> String {
        format!("{}/webservice/rest/server.php", self.server.base_url)
    }

    async fn raw(&self, body: String) -> reqwest::Response {
        self.http
            .post(self.url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn call_with(&self, token: &str, function: &str, params: &[(&str, &str)]) -> Value {
        let mut form: Vec<(&str, &str)> = vec![
            ("wstoken", token),
            ("wsfunction", function),
            ("moodlewsrestformat", "json"),
        ];
        form.extend_from_slice(params);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = self.raw(body).await;
        assert_eq!(resp.status(), 200);
        serde_json::from_str(&resp.text().await.unwrap()).unwrap()
    }

    async fn call(&self, function: &str, params: &[(&str, &str)]) -> Value {
        self.call_with(SAMPLE_TOKEN, function, params).await
    }
}

fn errorcode(v: &Value) -> &str {
    v["errorcode"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {v}"))
}

fn new_user<'a>(i: usize, username: &'a str, email: &'a str) -> Vec<(String, &'a str)> {
    vec![
        (format!("users[{i}][username]"), username),
        (format!("users[{i}][password]"), "Sample#1234"),
        (format!("users[{i}][firstname]"), "New"),
        (format!("users[{i}][lastname]"), "User"),
        (format!("users[{i}][email]"), email),
    ]
}

fn refs(v: &[(String, &'static str)]) -> Vec<(&'static str, &'static str)> {
    v.iter()
        .map(|(k, val)| (&*Box::leak(k.clone().into_boxed_str()), *val))
        .collect()
}

// ---------------------------------------------------------------- batches and uniqueness

#[tokio::test]
async fn a_bad_row_fails_the_whole_batch_and_nothing_is_written() {
    let site = Site::sample().await;
    let users_before = site.sim.snapshot().users.len();
    let mut form = new_user(0, "fresh.one", "fresh.one@example.com");
    form.extend(new_user(1, "occ.student1", "other@example.com"));
    let v = site.call("core_user_create_users", &refs(&form)).await;
    assert_eq!(errorcode(&v), "invalidparameter");
    assert_eq!(site.sim.snapshot().users.len(), users_before);

    let v = site
        .call(
            "core_course_create_courses",
            &[
                ("courses[0][fullname]", "A"),
                ("courses[0][shortname]", "NEW-A"),
                ("courses[0][categoryid]", "2"),
                ("courses[1][fullname]", "B"),
                ("courses[1][shortname]", "NEW-B"),
                ("courses[1][categoryid]", "999"),
            ],
        )
        .await;
    assert_eq!(errorcode(&v), "errorcatcontextnotvalid");
    assert!(
        !site
            .sim
            .snapshot()
            .courses
            .iter()
            .any(|c| c.shortname == "NEW-A")
    );

    let v = site
        .call(
            "enrol_manual_enrol_users",
            &[
                ("enrolments[0][roleid]", "5"),
                ("enrolments[0][userid]", "2"),
                ("enrolments[0][courseid]", "2"),
                ("enrolments[1][roleid]", "5"),
                ("enrolments[1][userid]", "999"),
                ("enrolments[1][courseid]", "2"),
            ],
        )
        .await;
    assert_eq!(errorcode(&v), "codingerror");
    assert!(
        !site
            .sim
            .snapshot()
            .role_assignments
            .iter()
            .any(|ra| ra.userid == 2)
    );
}

#[tokio::test]
async fn usernames_and_emails_are_unique_user_idnumbers_are_not() {
    let site = Site::sample().await;
    site.sim.set_debug(true);
    let v = site
        .call(
            "core_user_create_users",
            &refs(&new_user(0, "occ.student1", "x@example.com")),
        )
        .await;
    assert_eq!(v["debuginfo"], "Username already exists: occ.student1");

    let v = site
        .call(
            "core_user_create_users",
            &refs(&new_user(0, "someone", "STUDENT1@example.com")),
        )
        .await;
    assert_eq!(
        v["debuginfo"],
        "Email address already exists: STUDENT1@example.com"
    );

    // Moodle does not check user idnumbers: two users may share one.
    let mut form = new_user(0, "dup.idnumber", "dup.idnumber@example.com");
    form.push(("users[0][idnumber]".into(), "STU-001"));
    let v = site.call("core_user_create_users", &refs(&form)).await;
    assert_eq!(v[0]["username"], "dup.idnumber");
    let v = site
        .call(
            "core_user_get_users_by_field",
            &[("field", "idnumber"), ("values[0]", "STU-001")],
        )
        .await;
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn same_email_is_allowed_when_the_site_allows_it() {
    let site = Site::sample().await;
    site.sim
        .with_state(|st| st.site.allowaccountssameemail = true);
    let v = site
        .call(
            "core_user_create_users",
            &refs(&new_user(0, "twin", "student1@example.com")),
        )
        .await;
    assert_eq!(v[0]["username"], "twin");
}

#[tokio::test]
async fn course_shortnames_and_idnumbers_are_unique() {
    let site = Site::sample().await;
    let v = site
        .call(
            "core_course_create_courses",
            &[
                ("courses[0][fullname]", "X"),
                ("courses[0][shortname]", "NEW-X"),
                ("courses[0][categoryid]", "2"),
                ("courses[0][idnumber]", "OCC-1001"),
            ],
        )
        .await;
    assert_eq!(errorcode(&v), "courseidnumbertaken");
    assert_eq!(
        v["message"],
        "ID number is already used for another course (OCC-1001)"
    );
}

#[tokio::test]
async fn upper_case_usernames_are_refused() {
    let site = Site::sample().await;
    site.sim.set_debug(true);
    let v = site
        .call(
            "core_user_create_users",
            &refs(&new_user(0, "Upper.Case", "upper@example.com")),
        )
        .await;
    assert_eq!(errorcode(&v), "invalidparameter");
    assert!(v["debuginfo"].as_str().unwrap().contains("username"), "{v}");
    let v = site
        .call(
            "core_user_update_users",
            &[
                ("users[0][id]", "4"),
                ("users[0][username]", "Occ.Student1"),
            ],
        )
        .await;
    assert_eq!(errorcode(&v), "invalidparameter");
}

#[tokio::test]
async fn weak_passwords_fail_with_the_policy_html_as_errorcode() {
    let site = Site::sample().await;
    let mut form = new_user(0, "weak.pw", "weak.pw@example.com");
    form[1].1 = "abcdefgh1";
    let v = site.call("core_user_create_users", &refs(&form)).await;
    assert_eq!(v["exception"], "moodle_exception");
    assert!(errorcode(&v).contains("upper case"), "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("error/<div>"));
}

// ---------------------------------------------------------------- enrolment

#[tokio::test]
async fn enrolment_needs_a_manual_enrol_instance() {
    let site = Site::sample().await;
    site.sim
        .with_state(|st| st.enrol_instances.retain(|e| e.courseid != 2));
    let v = site
        .call(
            "enrol_manual_enrol_users",
            &[
                ("enrolments[0][roleid]", "5"),
                ("enrolments[0][userid]", "2"),
                ("enrolments[0][courseid]", "2"),
            ],
        )
        .await;
    assert_eq!(errorcode(&v), "wsnoinstance");
}

#[tokio::test]
async fn re_enrolment_and_unenrolment_of_non_members_are_silent() {
    let site = Site::sample().await;
    let enrol = [
        ("enrolments[0][roleid]", "5"),
        ("enrolments[0][userid]", "4"),
        ("enrolments[0][courseid]", "2"),
    ];
    assert_eq!(
        site.call("enrol_manual_enrol_users", &enrol).await,
        Value::Null
    );
    let before = site.sim.snapshot();
    assert_eq!(
        before
            .user_enrolments
            .iter()
            .filter(|ue| ue.userid == 4)
            .count(),
        1
    );
    let unenrol = [
        ("enrolments[0][userid]", "2"),
        ("enrolments[0][courseid]", "2"),
    ];
    assert_eq!(
        site.call("enrol_manual_unenrol_users", &unenrol).await,
        Value::Null
    );
    assert_eq!(site.sim.snapshot().user_enrolments, before.user_enrolments);

    let unenrol = [
        ("enrolments[0][userid]", "6"),
        ("enrolments[0][courseid]", "2"),
    ];
    assert_eq!(
        site.call("enrol_manual_unenrol_users", &unenrol).await,
        Value::Null
    );
    let v = site
        .call("core_enrol_get_enrolled_users", &[("courseid", "2")])
        .await;
    assert!(!v.as_array().unwrap().iter().any(|u| u["id"] == 6));
}

#[tokio::test]
async fn suspended_enrolments_are_listed_but_not_active() {
    let site = Site::sample().await;
    let v = site
        .call(
            "enrol_manual_enrol_users",
            &[
                ("enrolments[0][roleid]", "5"),
                ("enrolments[0][userid]", "6"),
                ("enrolments[0][courseid]", "2"),
                ("enrolments[0][suspend]", "1"),
            ],
        )
        .await;
    assert_eq!(v, Value::Null);
    let all = site
        .call("core_enrol_get_enrolled_users", &[("courseid", "2")])
        .await;
    assert!(all.as_array().unwrap().iter().any(|u| u["id"] == 6));
    let active = site
        .call(
            "core_enrol_get_enrolled_users",
            &[
                ("courseid", "2"),
                ("options[0][name]", "onlyactive"),
                ("options[0][value]", "1"),
            ],
        )
        .await;
    assert!(!active.as_array().unwrap().iter().any(|u| u["id"] == 6));
    let courses = site
        .call("core_enrol_get_users_courses", &[("userid", "6")])
        .await;
    assert_eq!(courses, json!([]));
}

// ---------------------------------------------------------------- completion and grades

#[tokio::test]
async fn course_completion_is_refused_for_users_not_enrolled_or_suspended() {
    let site = Site::sample().await;
    // The token's own user (admin, id 2) is not enrolled: notenroled (the sample).
    let v = site
        .call(
            "core_completion_get_course_completion_status",
            &[("courseid", "2"), ("userid", "2")],
        )
        .await;
    assert_eq!(errorcode(&v), "notenroled");
    // Another user who is not a tracked student: usernotenroled (teachers are not tracked either).
    let v = site
        .call(
            "core_completion_get_course_completion_status",
            &[("courseid", "2"), ("userid", "3")],
        )
        .await;
    assert_eq!(errorcode(&v), "usernotenroled");
    assert_eq!(v["message"], "User is not enrolled in this course");
    // A suspended enrolment.
    site.call(
        "enrol_manual_enrol_users",
        &[
            ("enrolments[0][roleid]", "5"),
            ("enrolments[0][userid]", "4"),
            ("enrolments[0][courseid]", "2"),
            ("enrolments[0][suspend]", "1"),
        ],
    )
    .await;
    let v = site
        .call(
            "core_completion_get_course_completion_status",
            &[("courseid", "2"), ("userid", "4")],
        )
        .await;
    assert_eq!(errorcode(&v), "usernotenroled");
    // A suspended user account.
    let v = site
        .call(
            "core_user_update_users",
            &[("users[0][id]", "5"), ("users[0][suspended]", "1")],
        )
        .await;
    assert_eq!(v, json!({"warnings": []}));
    let v = site
        .call(
            "core_completion_get_course_completion_status",
            &[("courseid", "2"), ("userid", "5")],
        )
        .await;
    assert_eq!(errorcode(&v), "usernotenroled");
    // Activity completion is not refused in 4.3, it says the user is not tracked.
    let v = site
        .call(
            "core_completion_get_activities_completion_status",
            &[("courseid", "2"), ("userid", "5")],
        )
        .await;
    assert_eq!(v["statuses"][0]["istrackeduser"], false);
}

#[tokio::test]
async fn grade_report_for_userid_0_lists_students_by_last_name_without_pass_grade() {
    let site = Site::sample().await;
    let v = site
        .call(
            "gradereport_user_get_grade_items",
            &[("courseid", "2"), ("userid", "0")],
        )
        .await;
    let users: Vec<i64> = v["usergrades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userid"].as_i64().unwrap())
        .collect();
    assert_eq!(users, vec![5, 6, 4], "Failer, Nothing, Passer; no teacher");
    let nina = &v["usergrades"][1]["gradeitems"];
    assert!(
        nina.as_array()
            .unwrap()
            .iter()
            .all(|i| i["graderaw"].is_null())
    );
    assert!(!v.to_string().contains("gradepass"));
    let course = nina
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["itemtype"] == "course")
        .unwrap();
    assert_eq!(course["grademax"], 210);
}

#[tokio::test]
async fn course_module_has_gradepass_as_a_string() {
    let site = Site::sample().await;
    let v = site
        .call("core_course_get_course_module", &[("cmid", "1")])
        .await;
    assert_eq!(v["cm"]["gradepass"], "6.00");
    let v = site
        .call("core_course_get_course_module", &[("cmid", "2")])
        .await;
    assert_eq!(v["cm"]["gradepass"], "50.00");
}

#[tokio::test]
async fn course_completion_lags_grades_until_the_cron_runs() {
    let site = Site::sample().await;
    site.sim.set_grade(6, 1, Some(7.5), 1_800_000_000);
    site.sim.set_grade(6, 2, Some(60.0), 1_800_000_100);
    let v = site
        .call(
            "core_completion_get_activities_completion_status",
            &[("courseid", "2"), ("userid", "6")],
        )
        .await;
    assert_eq!(v["statuses"][0]["state"], 2);
    assert_eq!(v["statuses"][1]["timecompleted"], 1_800_000_100);
    let grades = site
        .call(
            "gradereport_user_get_grade_items",
            &[("courseid", "2"), ("userid", "6")],
        )
        .await;
    assert_eq!(grades["usergrades"][0]["gradeitems"][0]["graderaw"], 7.5);

    let status = [("courseid", "2"), ("userid", "6")];
    let v = site
        .call("core_completion_get_course_completion_status", &status)
        .await;
    assert_eq!(v["completionstatus"]["completed"], false);
    site.sim.run_completion_cron();
    let v = site
        .call("core_completion_get_course_completion_status", &status)
        .await;
    assert_eq!(v["completionstatus"]["completed"], true);
    assert_eq!(
        v["completionstatus"]["completions"][1]["timecompleted"],
        1_800_000_100
    );
    let v = site
        .call("core_enrol_get_users_courses", &[("userid", "6")])
        .await;
    assert_eq!(v[0]["completed"], true);

    // A failing grade completes the activity as complete-fail, which no criterion accepts.
    site.sim.set_grade(5, 1, Some(9.0), 1_800_000_200);
    site.sim.run_completion_cron();
    let v = site
        .call(
            "core_completion_get_course_completion_status",
            &[("courseid", "2"), ("userid", "5")],
        )
        .await;
    assert_eq!(
        v["completionstatus"]["completed"], false,
        "assign is still complete-fail"
    );
}

#[tokio::test]
async fn manual_activity_completion_can_be_set() {
    let site = Site::sample().await;
    site.sim.set_activity_completion(6, 3, 1, 1_800_000_000);
    let v = site
        .call(
            "core_completion_get_activities_completion_status",
            &[("courseid", "2"), ("userid", "6")],
        )
        .await;
    let page = v["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["cmid"] == 3)
        .unwrap();
    assert_eq!(page["state"], 1);
    assert_eq!(page["timecompleted"], 1_800_000_000);
}

// ---------------------------------------------------------------- warnings, site course

#[tokio::test]
async fn update_failures_are_warnings_and_other_rows_are_written() {
    let site = Site::sample().await;
    let v = site
        .call(
            "core_course_update_courses",
            &[
                ("courses[0][id]", "999"),
                ("courses[0][fullname]", "x"),
                ("courses[1][id]", "2"),
                ("courses[1][fullname]", "Renamed"),
            ],
        )
        .await;
    assert_eq!(v["warnings"][0]["warningcode"], "invalidrecord");
    assert_eq!(v["warnings"].as_array().unwrap().len(), 1);
    assert!(
        site.sim
            .snapshot()
            .courses
            .iter()
            .any(|c| c.fullname == "Renamed")
    );

    let v = site
        .call(
            "core_user_update_users",
            &[
                ("users[0][id]", "5"),
                ("users[0][username]", "occ.student1"),
                ("users[1][id]", "999"),
                ("users[2][id]", "6"),
                ("users[2][firstname]", "Nina-Updated"),
                ("users[3][id]", "6"),
                ("users[3][email]", "student1@example.com"),
            ],
        )
        .await;
    let codes: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["warningcode"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec!["dmlwriteexception", "invaliduserid", "useremailduplicate"]
    );
    assert!(
        site.sim
            .snapshot()
            .users
            .iter()
            .any(|u| u.firstname == "Nina-Updated")
    );
}

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

// ---------------------------------------------------------------- token.php, fixtures, binary

#[tokio::test]
async fn login_token_php_exchanges_credentials_for_a_token() {
    let site = Site::sample().await;
    site.sim
        .add_login("svc.user", "Secret#123", "learnbridge_ws", "tok-from-login");
    let url = format!("{}/login/token.php", site.server.base_url);
    let post = |form: Vec<(&'static str, &'static str)>| {
        let http = site.http.clone();
        let url = url.clone();
        async move {
            let resp = http.post(url).form(&form).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            serde_json::from_str::<Value>(&resp.text().await.unwrap()).unwrap()
        }
    };
    let ok = post(vec![
        ("username", "SVC.user"),
        ("password", "Secret#123"),
        ("service", "learnbridge_ws"),
    ])
    .await;
    assert_eq!(ok, json!({"token": "tok-from-login", "privatetoken": null}));
    let bad = post(vec![
        ("username", "svc.user"),
        ("password", "nope"),
        ("service", "learnbridge_ws"),
    ])
    .await;
    assert_eq!(bad["errorcode"], "invalidlogin");
    assert_eq!(bad["error"], "Invalid login, please try again");
    assert!(bad.as_object().unwrap().contains_key("stacktrace"));
    let no_service = post(vec![
        ("username", "svc.user"),
        ("password", "Secret#123"),
        ("service", "other"),
    ])
    .await;
    assert_eq!(no_service["errorcode"], "servicenotavailable");
    let missing = post(vec![("username", "svc.user"), ("password", "Secret#123")]).await;
    assert_eq!(missing["errorcode"], "missingparam");
    // The token works for the web services.
    let v = site
        .call_with(
            "tok-from-login",
            "core_course_get_course_module",
            &[("cmid", "1")],
        )
        .await;
    assert_eq!(v["cm"]["id"], 1);
    assert!(!format!("{:?}", site.sim.calls()).contains("Secret#123"));
}

#[test]
fn fixtures_round_trip_through_json() {
    let sample = MoodleFixture::sample_site();
    let json = serde_json::to_string(&sample).unwrap();
    let sim = MoodleSim::from_json(&json).unwrap();
    assert_eq!(sim.snapshot(), sample);
    let sydney = MoodleFixture::sample_site_sydney();
    let sim = MoodleSim::from_json(&serde_json::to_string(&sydney).unwrap()).unwrap();
    assert_eq!(sim.snapshot(), sydney);
    // A service given by name and functions only is enabled and open to every user.
    let sim =
        MoodleSim::from_json(r#"{"services": [{"shortname": "s", "functions": []}]}"#).unwrap();
    let service = &sim.snapshot().services[0];
    assert!(service.enabled && !service.restricted);
    // A sparse fixture gets an empty site's defaults.
    let sim = MoodleSim::from_json(r#"{"users": [{"id": 2, "username": "admin"}], "tokens": [{"token": "t", "userid": 2, "service": "s"}]}"#).unwrap();
    let snap = sim.snapshot();
    assert!(snap.courses.iter().any(|c| c.id == 1 && c.format == "site"));
    assert_eq!(snap.roles.len(), 8);
    assert!(MoodleSim::from_json("{\"users\": 3}").is_err());
}

#[tokio::test]
async fn the_binary_prints_its_url_and_serves_the_sample_site() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_simulators"))
        .args(["--moodle-port", "0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = line.strip_prefix("moodle ").unwrap();
    assert!(base.starts_with("http://127.0.0.1:"));
    let body = reqwest::Client::new()
        .post(format!("{base}/webservice/rest/server.php"))
        .form(&[
            ("wstoken", SAMPLE_TOKEN),
            ("wsfunction", "core_webservice_get_site_info"),
            ("moodlewsrestformat", "json"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Moodle Acceptance Peer"));
    child.kill().await.unwrap();
}

async fn token_php(site: &Site, form: &[(&str, &str)]) -> Value {
    let resp = site
        .http
        .post(format!("{}/login/token.php", site.server.base_url))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn login_token_php_checks_services_and_their_authorised_users() {
    use simulators::moodle::Service;
    let site = Site::with(MoodleSim::sample_site_sydney()).await;
    // A service open to every user: a user's token is issued once and given again.
    site.sim.add_service(Service::new(
        "reports",
        &["core_webservice_get_site_info", "tool_mobile_get_config"],
    ));
    assert!(site.sim.set_password("smp.update", "Other#2026pw"));
    let form = [
        ("username", "smp.update"),
        ("password", "Other#2026pw"),
        ("service", "reports"),
    ];
    let first = token_php(&site, &form).await;
    let token = first["token"].as_str().unwrap().to_owned();
    assert_eq!(first["privatetoken"], Value::Null);
    assert_eq!(token_php(&site, &form).await["token"], token.as_str());
    assert_eq!(site.sim.token_for(313, "reports"), token);
    let info = site
        .call_with(&token, "core_webservice_get_site_info", &[])
        .await;
    assert_eq!(info["userid"], 313);
    // The old password no longer works.
    let old = token_php(
        &site,
        &[
            ("username", "smp.update"),
            ("password", "Sample#2026pw"),
            ("service", "reports"),
        ],
    )
    .await;
    assert_eq!(errorcode(&old), "invalidlogin");
    // Restricted: only its authorised users; disabled: not available.
    site.sim.add_service(
        Service::new("reports", &["core_webservice_get_site_info"]).restricted_to(&[2]),
    );
    let refused = token_php(&site, &form).await;
    assert_eq!(errorcode(&refused), "usernotallowed");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("reports's allowed users")
    );
    let mut disabled = Service::new("reports", &["core_webservice_get_site_info"]);
    disabled.enabled = false;
    site.sim.add_service(disabled);
    assert_eq!(
        errorcode(&token_php(&site, &form).await),
        "servicenotavailable"
    );
}

#[tokio::test]
async fn the_site_time_zone_is_set_by_name_and_reported_by_tool_mobile_get_config() {
    let site = Site::with(MoodleSim::sample_site_sydney()).await;
    let zone = |v: &Value| v["settings"][0]["value"].as_str().unwrap().to_owned();
    let section = [("section", "locationsettings")];
    let v = site.call("tool_mobile_get_config", &section).await;
    assert_eq!(zone(&v), "Australia/Sydney");
    site.sim.set_timezone("America/Los_Angeles").unwrap();
    let v = site.call("tool_mobile_get_config", &section).await;
    assert_eq!(zone(&v), "America/Los_Angeles");
    let err = site.sim.set_timezone("Mars/Olympus_Mons").unwrap_err();
    assert!(err.to_string().contains("Mars/Olympus_Mons"));
    assert_eq!(site.sim.timezone(), "America/Los_Angeles");
    // Without a section: every public setting, the location ones included.
    let all = site.call("tool_mobile_get_config", &[]).await;
    let names: Vec<&str> = all["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"sitename") && names.contains(&"timezone"));
    // A service may leave the function out (the first recorded site's does).
    let first = Site::sample().await;
    let v = first.call("tool_mobile_get_config", &section).await;
    assert_eq!(errorcode(&v), "accessexception");
}

#[tokio::test]
async fn a_new_course_starts_at_the_next_midnight_of_the_site_time_zone() {
    let site = Site::with(MoodleSim::sample_site_sydney()).await;
    // 2026-12-01 13:10 UTC = 2026-12-02 00:10 in Sydney: the next midnight there is
    // 2026-12-03 00:00 AEDT = 2026-12-02 13:00 UTC.
    site.sim.set_now(Some(1_796_130_600));
    let v = site
        .call(
            "core_course_create_courses",
            &[
                ("courses[0][fullname]", "Tz"),
                ("courses[0][shortname]", "TZ-1"),
                ("courses[0][categoryid]", "5"),
            ],
        )
        .await;
    let id = v[0]["id"].as_i64().unwrap();
    let course = site
        .sim
        .snapshot()
        .courses
        .into_iter()
        .find(|c| c.id == id)
        .unwrap();
    assert_eq!(course.startdate, 1_796_216_400);
}

fn item(report: &Value, cmid: i64) -> &Value {
    report["usergrades"][0]["gradeitems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["cmid"] == cmid)
        .unwrap()
}

fn course_total(report: &Value) -> &Value {
    report["usergrades"][0]["gradeitems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["itemtype"] == "course")
        .unwrap()
}

fn status_of(v: &Value, cmid: i64) -> (i64, i64) {
    let s = v["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["cmid"] == cmid)
        .unwrap();
    (
        s["state"].as_i64().unwrap(),
        s["timecompleted"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn unenrolling_deletes_gradebook_grades_and_resets_completion_on_the_first_site_too() {
    let site = Site::sample().await;
    site.sim.set_now(Some(1_800_000_000));
    let user = [("courseid", "2"), ("userid", "4")];
    let before = site.call("gradereport_user_get_grade_items", &user).await;
    assert_eq!(item(&before, 1)["graderaw"], 10);
    site.call(
        "enrol_manual_unenrol_users",
        &[
            ("enrolments[0][userid]", "4"),
            ("enrolments[0][courseid]", "2"),
        ],
    )
    .await;
    let after = site.call("gradereport_user_get_grade_items", &user).await;
    for i in after["usergrades"][0]["gradeitems"].as_array().unwrap() {
        assert_eq!(i["graderaw"], Value::Null, "{i}");
    }
    let completion = site
        .call("core_completion_get_activities_completion_status", &user)
        .await;
    assert_eq!(status_of(&completion, 1), (0, 1_800_000_000));
    assert_eq!(status_of(&completion, 2), (0, 1_800_000_000));
    // Manual completion does not follow grades.
    assert_eq!(status_of(&completion, 3).0, 1);
    // The quiz and the assignment keep their own records.
    let best = site
        .call(
            "mod_quiz_get_user_best_grade",
            &[("quizid", "1"), ("userid", "4")],
        )
        .await;
    assert_eq!(best["grade"], 10);
    // Re-enrolled with recovergradesdefault off: nothing comes back.
    let enrol = [
        ("enrolments[0][roleid]", "5"),
        ("enrolments[0][userid]", "4"),
        ("enrolments[0][courseid]", "2"),
    ];
    site.call("enrol_manual_enrol_users", &enrol).await;
    let again = site.call("gradereport_user_get_grade_items", &user).await;
    assert_eq!(course_total(&again)["graderaw"], Value::Null);
}

#[tokio::test]
async fn recovergradesdefault_restores_grades_and_completion_on_re_enrolment() {
    let site = Site::sample().await;
    site.sim.set_recover_grades_default(true);
    let user = [("courseid", "2"), ("userid", "5")];
    site.sim.set_now(Some(1_800_000_000));
    site.call(
        "enrol_manual_unenrol_users",
        &[
            ("enrolments[0][userid]", "5"),
            ("enrolments[0][courseid]", "2"),
        ],
    )
    .await;
    site.sim.set_now(Some(1_800_000_100));
    site.call(
        "enrol_manual_enrol_users",
        &[
            ("enrolments[0][roleid]", "5"),
            ("enrolments[0][userid]", "5"),
            ("enrolments[0][courseid]", "2"),
        ],
    )
    .await;
    let report = site.call("gradereport_user_get_grade_items", &user).await;
    assert_eq!(item(&report, 2)["graderaw"], 30);
    assert_eq!(course_total(&report)["gradedategraded"], 1_800_000_100);
    assert!(item(&report, 2).get("weightraw").is_none());
    let completion = site
        .call("core_completion_get_activities_completion_status", &user)
        .await;
    assert_eq!(status_of(&completion, 2), (3, 1_800_000_100));
    // A new grade regrades: weights are back.
    site.sim.set_grade(5, 2, Some(60.0), 1_800_000_200);
    let report = site.call("gradereport_user_get_grade_items", &user).await;
    assert!(item(&report, 2).get("weightraw").is_some());
    let completion = site
        .call("core_completion_get_activities_completion_status", &user)
        .await;
    assert_eq!(status_of(&completion, 2), (2, 1_800_000_200));
}

#[tokio::test]
async fn quiz_attempts_keep_the_highest_grade_with_the_latest_dates() {
    let site = Site::with(MoodleSim::sample_site_sydney()).await;
    let user = [("courseid", "7"), ("userid", "312")];
    assert_eq!(
        site.sim
            .record_quiz_attempt(312, 12, 10.0, 1_796_130_300, 1_796_130_600),
        2
    );
    // A worse third attempt: the best grade stays, the dates move, completion stays.
    assert_eq!(
        site.sim
            .record_quiz_attempt(312, 12, 6.66667, 1_796_140_000, 1_796_140_600),
        3
    );
    let report = site.call("gradereport_user_get_grade_items", &user).await;
    let quiz = item(&report, 12);
    assert_eq!(quiz["graderaw"], 10);
    assert_eq!(quiz["gradedategraded"], 1_796_140_600);
    assert_eq!(quiz["gradedatesubmitted"], 1_796_140_600);
    let completion = site
        .call("core_completion_get_activities_completion_status", &user)
        .await;
    assert_eq!(status_of(&completion, 12), (2, 1_796_130_600));
    // A first attempt of another user makes the grade and completes at its finish.
    site.sim
        .record_quiz_attempt(313, 12, 7.5, 1_796_150_000, 1_796_150_300);
    let other = [("courseid", "7"), ("userid", "313")];
    let completion = site
        .call("core_completion_get_activities_completion_status", &other)
        .await;
    assert_eq!(status_of(&completion, 12), (2, 1_796_150_300));
}

#[tokio::test]
async fn emails_match_exactly_by_field_and_as_ilike_in_get_users() {
    let site = Site::with(MoodleSim::sample_site_sydney()).await;
    let by_field = |v: &'static str| {
        let site = &site;
        async move {
            site.call(
                "core_user_get_users_by_field",
                &[("field", "email"), ("values[0]", v)],
            )
            .await
        }
    };
    assert_eq!(by_field("taken@example.com").await[0]["id"], 6);
    assert_eq!(by_field("Taken@example.com").await, json!([]));
    let criteria = |v: &'static str| {
        let site = &site;
        async move {
            let r = site
                .call(
                    "core_user_get_users",
                    &[("criteria[0][key]", "email"), ("criteria[0][value]", v)],
                )
                .await;
            r["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(criteria("TAKEN@EXAMPLE.COM").await, vec![6]);
    assert_eq!(criteria("t_ken@example.com").await, vec![6]);
    assert_eq!(criteria("%@example.com").await.len(), 6);
    assert_eq!(
        criteria("smp.%@example.com").await,
        vec![310, 311, 312, 313]
    );
    assert_eq!(criteria("taken@example.co").await, Vec::<i64>::new());
    // Update to another user's address in any case: a warning, the user unchanged.
    let v = site
        .call(
            "core_user_update_users",
            &[
                ("users[0][id]", "313"),
                ("users[0][email]", "Taken@Example.COM"),
                ("users[0][firstname]", "Changed"),
            ],
        )
        .await;
    assert_eq!(v["warnings"][0]["warningcode"], "useremailduplicate");
    let user = site
        .sim
        .snapshot()
        .users
        .into_iter()
        .find(|u| u.id == 313)
        .unwrap();
    assert_eq!(
        (user.firstname.as_str(), user.email.as_str()),
        ("Uma", "smp.update@example.com")
    );
}

#[tokio::test]
async fn the_binary_serves_the_sydney_site_with_the_time_zone_and_recovery_flags() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_simulators"))
        .args([
            "--moodle-site",
            "sydney",
            "--moodle-timezone",
            "Europe/Madrid",
            "--moodle-recover-grades",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = line.strip_prefix("moodle ").unwrap();
    let v: Value = reqwest::Client::new()
        .post(format!("{base}/webservice/rest/server.php"))
        .form(&[
            ("wstoken", SAMPLE_TOKEN),
            ("wsfunction", "tool_mobile_get_config"),
            ("moodlewsrestformat", "json"),
            ("section", "locationsettings"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["settings"][0]["value"], "Europe/Madrid");
    child.kill().await.unwrap();
    // An unknown zone is refused by name.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_simulators"))
        .args(["--moodle-timezone", "Nowhere/Atlantis"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Nowhere/Atlantis"));
}
