//! Categories, courses, contents and course modules; create, update, import.

use super::*;

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
