//! Creates and updates: a bad row fails the batch, uniqueness, Moodle's refusals.

use super::*;

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
