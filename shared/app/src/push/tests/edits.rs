//! Linking courses, and the SMS's edits of offerings and learners reaching
//! Moodle (or refused by it).

use super::*;

#[tokio::test]
async fn linking_finds_links_or_creates_courses_and_offering_edits_reach_the_course() {
    let env = Env::new(MoodleSettings::default()).await;
    let link = env
        .courses()
        .link(&t(), &c(), &off(), LinkChoice::FindByIdnumber, now())
        .await
        .unwrap();
    assert_eq!(link.course_id, 2);

    let other = OfferingId::parse("OCC-2002").unwrap();
    let mut offering = env.sis.offering(&t(), &off()).await.unwrap().unwrap();
    offering.id = other.clone();
    offering.status = OfferingStatus::Planned;
    env.sis.save_offering(&offering).await.unwrap();
    let err = env
        .courses()
        .link(&t(), &c(), &other, LinkChoice::FindByIdnumber, now())
        .await
        .unwrap_err();
    assert!(matches!(err, PushError::CourseNotFound { .. }), "{err}");
    let err = env
        .courses()
        .link(
            &t(),
            &c(),
            &other,
            LinkChoice::Create {
                shortname: "FA-2".into(),
                fullname: "First aid 2".into(),
                category: 77,
            },
            now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PushError::UnknownCategory { category: 77 }));
    let categories = env.courses().categories(&t(), &c()).await.unwrap();
    assert!(categories.iter().any(|c| c.id == 2));
    let create = LinkChoice::Create {
        shortname: "FA-2".into(),
        fullname: "First aid 2".into(),
        category: 2,
    };
    let made = env
        .courses()
        .link(&t(), &c(), &other, create.clone(), now())
        .await
        .unwrap();
    let course = env
        .sim
        .snapshot()
        .courses
        .into_iter()
        .find(|c| c.id == made.course_id)
        .unwrap();
    assert_eq!(
        (course.idnumber.as_str(), course.visible),
        ("OCC-2002", 0),
        "planned: hidden"
    );
    // Creating again (a retried request) finds the course instead of making another.
    let again = env
        .courses()
        .link(&t(), &c(), &other, create, now())
        .await
        .unwrap();
    assert_eq!(again.course_id, made.course_id);
    assert_eq!(env.sim.call_count("core_course_create_courses"), 1);
    let by_id = env
        .courses()
        .link(
            &t(),
            &c(),
            &other,
            LinkChoice::CourseId(made.course_id),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(by_id.course_id, made.course_id);

    // The offering becomes active with new dates: the course follows.
    offering.status = OfferingStatus::Active;
    offering.start_date = NaiveDate::from_ymd_opt(2027, 5, 3);
    offering.end_date = NaiveDate::from_ymd_opt(2027, 6, 30);
    env.sis.save_offering(&offering).await.unwrap();
    assert_eq!(
        env.courses()
            .sync_offering(&t(), &other)
            .await
            .unwrap()
            .updated,
        1
    );
    let course = env
        .sim
        .snapshot()
        .courses
        .into_iter()
        .find(|c| c.id == made.course_id)
        .unwrap();
    let day = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
    assert_eq!(course.visible, 1);
    assert_eq!(
        course.startdate,
        day(NaiveDate::from_ymd_opt(2027, 5, 3).unwrap())
    );
    // The end date is the last second of the offering's last day (the tenant
    // is in UTC): Moodle keeps the course in progress through that day.
    assert_eq!(
        course.enddate,
        day(NaiveDate::from_ymd_opt(2027, 7, 1).unwrap()) - 1
    );

    // A provider in Sydney: the course runs from Sydney's midnight of 3 May
    // (AEST, UTC+10) to the last second of 30 June there.
    env.tenants.0.lock().unwrap().insert(
        t(),
        domain::tenant::TenantSettings {
            time_zone: "Australia/Sydney".into(),
            ..Default::default()
        },
    );
    env.courses().sync_offering(&t(), &other).await.unwrap();
    let course = env
        .sim
        .snapshot()
        .courses
        .into_iter()
        .find(|c| c.id == made.course_id)
        .unwrap();
    let hours = 3600;
    assert_eq!(
        course.startdate,
        day(NaiveDate::from_ymd_opt(2027, 5, 3).unwrap()) - 10 * hours
    );
    assert_eq!(
        course.enddate,
        day(NaiveDate::from_ymd_opt(2027, 7, 1).unwrap()) - 10 * hours - 1
    );
}

#[tokio::test]
async fn learner_edits_reach_moodle_and_archiving_suspends() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    let mut ana = env
        .learner("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))
        .await;
    let mut unlinked = env
        .learner("U1", "Una", "Linked", Some("una@example.com"))
        .await;
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    env.links
        .accounts
        .lock()
        .unwrap()
        .retain(|(_, _, l), _| l.as_str() != "U1");

    ana.family_name = "Ruiz García".into();
    ana.email = Some("ana.garcia@example.com".into());
    ana.archived = true;
    env.sis.save_learner(&ana).await.unwrap();
    assert_eq!(
        env.learners()
            .sync_learner(&t(), &ana.code, now())
            .await
            .unwrap()
            .updated,
        1
    );
    let user = env
        .moodle_user("ana.garcia@example.com")
        .expect("our username follows the email");
    assert_eq!(
        (user.lastname.as_str(), user.email.as_str(), user.suspended),
        ("Ruiz García", "ana.garcia@example.com", true)
    );
    // In step now: a second sync sends nothing.
    let updates = env.sim.call_count("core_user_update_users");
    assert_eq!(
        env.learners()
            .sync_learner(&t(), &ana.code, now())
            .await
            .unwrap()
            .updated,
        0
    );
    assert_eq!(env.sim.call_count("core_user_update_users"), updates);
    // A learner without a stored account is not sent.
    unlinked.family_name = "Changed".into();
    env.sis.save_learner(&unlinked).await.unwrap();
    assert_eq!(
        env.learners()
            .sync_learner(&t(), &unlinked.code, now())
            .await
            .unwrap()
            .updated,
        0
    );
}

#[tokio::test]
async fn a_change_moodle_refuses_names_the_holder_on_the_run_and_the_transfer() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    let mut ana = env
        .learner("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))
        .await;
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    let holder = env.moodle_user("occ.student1").unwrap();
    // The SMS gives Ana an address another Moodle user holds, in other letters.
    ana.email = Some("Student1@Example.com".into());
    env.sis.save_learner(&ana).await.unwrap();
    let synced = env
        .learners()
        .sync_learner(&t(), &ana.code, later())
        .await
        .unwrap();
    assert_eq!(synced.updated, 0);
    let [failure] = synced.failures.as_slice() else {
        panic!("{:?}", synced.failures)
    };
    let text = crate::push::error_text(&failure.error);
    assert!(
        text.starts_with("Moodle refused the learner's changes: the learner's email address is already used by Moodle user"),
        "{text}"
    );
    assert!(text.contains(&holder.id.to_string()), "{text}");
    assert_eq!(
        blocked(&env.transfer("X1234567").unwrap().status),
        vec![BlockReason::EmailUsedByAnotherUser {
            moodle_user_id: holder.id
        }]
    );
    let ours = env.moodle_user("ana.ruiz@example.com").unwrap();
    assert_eq!(ours.lastname, "Ruiz", "Moodle left the user unchanged");
}
