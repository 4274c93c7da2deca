//! Grade reports, course modules and completion.

use super::*;

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
