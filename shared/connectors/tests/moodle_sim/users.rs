//! Users and enrolments, with each recorded error.

use super::*;

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
