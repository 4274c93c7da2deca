//! Grades and completion.

use super::*;

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
