//! Enrolments, unenrolments and what they do to grades and completion.

use super::*;

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
