//! Every recorded answer parses into the client's types, as real Moodle shapes it.

use super::*;

#[test]
fn every_client_function_has_samples() {
    for f in WsFunction::ALL {
        assert!(
            samples_dir().join(format!("{}.json", f.name())).exists(),
            "no sample for {}",
            f.name()
        );
    }
}

#[test]
fn every_sample_answer_of_a_client_function_parses_or_maps_to_an_error() {
    let mut answers = 0;
    for f in WsFunction::ALL {
        let sample = load(&samples_dir().join(format!("{}.json", f.name())));
        for example in sample["examples"].as_array().unwrap() {
            let name = example["name"].as_str().unwrap();
            let body = body_bytes(example);
            let result = parse_typed(f, &body);
            let is_error_body = example["response"]["body"].get("exception").is_some();
            match (name, &result) {
                ("default_format_xml", Err(MoodleError::Malformed { .. })) => {}
                (_, Ok(_)) if !is_error_body => {}
                (_, Err(e)) if is_error_body && !matches!(e, MoodleError::Malformed { .. }) => {}
                _ => panic!("{} / {name}: unexpected {result:?}", f.name()),
            }
            answers += 1;
        }
    }
    assert!(answers >= 60, "only {answers} answers checked");
}

#[test]
fn site_info_lists_the_service_functions() {
    let info: SiteInfo = parse_answer(
        WsFunction::GetSiteInfo,
        &example_body("core_webservice_get_site_info", "ok"),
    )
    .unwrap();
    assert_eq!(info.sitename, "Moodle Acceptance Peer");
    assert_eq!(info.release, "4.3 (Build: 20231009)");
    assert_eq!(info.version, "2023100900");
    assert_eq!(info.userid, MoodleUserId(2));
    assert!(info.has_function("gradereport_user_get_grade_items"));
    assert!(!info.has_function("core_grades_get_grades"));
    assert!(info.feature_enabled("enablecompletion"));
    assert!(
        !format!("{info:?}").contains("cd9c7e11a4afa1611bdb804af9a88eca"),
        "the private access key is never read"
    );
}

/// The recorded Sydney site: `timezone` Australia/Sydney, not forced (`99`).
#[test]
fn the_sites_time_zone_is_read_from_locationsettings() {
    let config: MobileConfig = parse_answer(
        WsFunction::GetMobileConfig,
        &example_body("tool_mobile_get_config", "locationsettings"),
    )
    .unwrap();
    assert_eq!(
        config.time_zone(),
        SiteTimeZone::Zone {
            name: "Australia/Sydney".into(),
            forced: false
        }
    );
    let forced: MobileConfig = serde_json::from_value(serde_json::json!({
        "settings": [{"name": "timezone", "value": "99"}, {"name": "forcetimezone", "value": "Europe/Madrid"}]
    }))
    .unwrap();
    assert_eq!(
        forced.time_zone(),
        SiteTimeZone::Zone {
            name: "Europe/Madrid".into(),
            forced: true
        }
    );
    let server: MobileConfig = serde_json::from_value(serde_json::json!({
        "settings": [{"name": "timezone", "value": "99"}, {"name": "forcetimezone", "value": "99"}]
    }))
    .unwrap();
    assert_eq!(server.time_zone(), SiteTimeZone::ServerDefault);
}

#[test]
fn courses_answers_include_the_site_course_which_we_can_recognise() {
    let all: Vec<Course> = parse_answer(
        WsFunction::GetCourses,
        &example_body("core_course_get_courses", "all"),
    )
    .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().filter(|c| c.is_site()).count(), 1);
    let by_field: CoursesByField = parse_answer(
        WsFunction::GetCoursesByField,
        &example_body("core_course_get_courses_by_field", "all"),
    )
    .unwrap();
    assert!(
        by_field
            .courses
            .iter()
            .any(|c| c.is_site() && c.id == MoodleCourseId(1))
    );
    let one: CoursesByField = parse_answer(
        WsFunction::GetCoursesByField,
        &example_body("core_course_get_courses_by_field", "by_idnumber"),
    )
    .unwrap();
    assert_eq!(one.courses[0].idnumber.as_deref(), Some("OCC-1001"));
    assert_eq!(one.courses[0].enablecompletion, Some(true));
    assert!(one.courses[0].visible);
}

#[test]
fn course_module_pass_grade_is_read_from_a_string() {
    let quiz: CourseModuleResponse = parse_answer(
        WsFunction::GetCourseModule,
        &example_body("core_course_get_course_module", "quiz"),
    )
    .unwrap();
    assert_eq!(quiz.cm.gradepass.as_deref(), Some("6.00"));
    assert_eq!(quiz.cm.pass_grade(), Some(6.0));
    assert_eq!(quiz.cm.grade, Some(10.0));
    assert_eq!(quiz.cm.idnumber.as_deref(), Some("OCC-QUIZ-1"));
    let page: CourseModuleResponse = parse_answer(
        WsFunction::GetCourseModule,
        &example_body("core_course_get_course_module", "page"),
    )
    .unwrap();
    assert_eq!(page.cm.pass_grade(), None);
}

#[test]
fn contents_modules_have_no_idnumber_but_have_completion() {
    let sections: Vec<CourseSection> = parse_answer(
        WsFunction::GetContents,
        &example_body("core_course_get_contents", "ok"),
    )
    .unwrap();
    let modules: Vec<_> = sections.iter().flat_map(|s| &s.modules).collect();
    assert_eq!(
        modules.iter().map(|m| m.id.get()).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(modules[0].modname, "quiz");
    assert_eq!(modules[0].completion, Some(2));
}

#[test]
fn update_warnings_are_surfaced() {
    let w: WarningsOnly = parse_answer(
        WsFunction::UpdateCourses,
        &example_body("core_course_update_courses", "duplicate_idnumber"),
    )
    .unwrap();
    assert_eq!(w.warnings[0].warningcode, "courseidnumbertaken");
    assert_eq!(w.warnings[0].itemid, Some(3));
    let w: WarningsOnly = parse_answer(
        WsFunction::UpdateUsers,
        &example_body("core_user_update_users", "unknown_id"),
    )
    .unwrap();
    assert_eq!(w.warnings[0].warningcode, "invaliduserid");
    let w: WarningsOnly = parse_answer(
        WsFunction::UpdateUsers,
        &example_body("core_user_update_users", "error_duplicate_username"),
    )
    .unwrap();
    assert_eq!(w.warnings[0].warningcode, "dmlwriteexception");
}

#[test]
fn users_shapes_differ_by_function() {
    let r: UsersResponse = parse_answer(
        WsFunction::GetUsers,
        &example_body("core_user_get_users", "by_email"),
    )
    .unwrap();
    assert_eq!(r.users[0].id, MoodleUserId(4));
    assert_eq!(r.users[0].suspended, Some(false));
    let bare: Vec<User> = parse_answer(
        WsFunction::GetUsersByField,
        &example_body("core_user_get_users_by_field", "by_username"),
    )
    .unwrap();
    assert_eq!(bare.len(), 2);
    let none: Vec<User> = parse_answer(
        WsFunction::GetUsersByField,
        &example_body("core_user_get_users_by_field", "no_match"),
    )
    .unwrap();
    assert!(none.is_empty());
    let created: Vec<CreatedUser> = parse_answer(
        WsFunction::CreateUsers,
        &example_body("core_user_create_users", "extended_chars"),
    )
    .unwrap();
    assert_eq!(created[0].username, "sample+ext@example.com");
}

#[test]
fn enrolment_answers() {
    let users: Vec<EnrolledUser> = parse_answer(
        WsFunction::GetEnrolledUsers,
        &example_body("core_enrol_get_enrolled_users", "students_only_fields"),
    )
    .unwrap();
    assert_eq!(users.len(), 3);
    assert!(
        users
            .iter()
            .all(|u| u.has_role(MoodleRoleId::STUDENT) && u.firstname.is_none())
    );
    let courses: Vec<UserCourse> = parse_answer(
        WsFunction::GetUsersCourses,
        &example_body("core_enrol_get_users_courses", "student1"),
    )
    .unwrap();
    assert_eq!(courses[0].completed, Some(true));
    assert_eq!(courses[0].progress, Some(100.0));
    assert_eq!(courses[0].showgrades, Some(true));
    let null: Option<Value> = parse_answer(
        WsFunction::EnrolUsers,
        &example_body("enrol_manual_enrol_users", "again"),
    )
    .unwrap();
    assert!(null.is_none());
}

#[test]
fn grade_items_have_no_pass_grade_and_null_when_ungraded() {
    let r: GradeItemsResponse = parse_answer(
        WsFunction::GetGradeItems,
        &example_body("gradereport_user_get_grade_items", "all_users_userid0"),
    )
    .unwrap();
    assert!(r.usergrades.len() >= 2);
    let learners: Vec<LearnerGrades> = r.usergrades.into_iter().map(Into::into).collect();
    let fran = learners.iter().find(|l| l.user == MoodleUserId(5)).unwrap();
    let quiz = fran
        .items
        .iter()
        .find(|i| i.cmid == Some(CourseModuleId(1)))
        .unwrap();
    assert_eq!(quiz.grade, Some(3.33333));
    assert_eq!(quiz.grade_max, Some(10.0));
    assert!(quiz.graded_at.is_some());
    assert!(
        fran.items
            .iter()
            .any(|i| i.course_total && i.cmid.is_none())
    );
    let nina = learners.iter().find(|l| l.user == MoodleUserId(6)).unwrap();
    assert!(
        nina.items
            .iter()
            .all(|i| i.grade.is_none() && i.graded_at.is_none())
    );
}

#[test]
fn completion_states_and_course_completion_time() {
    let r: ActivitiesCompletion = parse_answer(
        WsFunction::GetActivitiesCompletionStatus,
        &example_body(
            "core_completion_get_activities_completion_status",
            "student2",
        ),
    )
    .unwrap();
    assert_eq!(r.statuses[0].state, CompletionState::CompleteFail);
    assert!(
        r.statuses[0].completed_at().is_some(),
        "complete-fail still has a time"
    );
    assert_eq!(r.statuses[2].state, CompletionState::Incomplete);
    assert!(r.statuses[2].completed_at().is_none());
    let done: CourseCompletionResponse = parse_answer(
        WsFunction::GetCourseCompletionStatus,
        &example_body("core_completion_get_course_completion_status", "student1"),
    )
    .unwrap();
    assert!(done.completionstatus.completed);
    assert_eq!(
        done.completionstatus.completed_at().map(|t| t.timestamp()),
        Some(1795393646)
    );
    let not: CourseCompletionResponse = parse_answer(
        WsFunction::GetCourseCompletionStatus,
        &example_body("core_completion_get_course_completion_status", "student2"),
    )
    .unwrap();
    assert_eq!(not.completionstatus.completed_at(), None);
}

#[test]
fn truncated_answers_are_transient_and_wrong_shapes_are_not() {
    let full = example_body("core_user_get_users", "by_email");
    let cut = &full[..full.len() / 2];
    let e = parse_answer::<UsersResponse>(WsFunction::GetUsers, cut).unwrap_err();
    assert!(
        matches!(e, MoodleError::Malformed { .. }) && e.is_retryable(),
        "{e:?}"
    );
    let e = parse_answer::<Vec<User>>(WsFunction::GetUsersByField, &full).unwrap_err();
    assert!(
        matches!(e, MoodleError::Malformed { .. }) && !e.is_retryable(),
        "{e:?}"
    );
}
