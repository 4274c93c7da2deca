//! A push of an offering: users created, matched and enrolled, the run,
//! duplicates and re-runs, the refusals Moodle makes, and the preview.

use super::*;

#[tokio::test]
async fn push_creates_matches_enrols_logs_and_emails() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))
        .await;
    // Sam is already in Moodle (idnumber STU-001) and enrolled in course 2.
    env.learner("STU-001", "Sam", "Passer", Some("student1@example.com"))
        .await;
    let mut quiet = env
        .learner("Q1", "Quinn", "Quiet", Some("quinn@example.com"))
        .await;
    quiet.email_opt_out = true;
    env.sis.save_learner(&quiet).await.unwrap();

    let report = env
        .push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!(
        (
            report.created,
            report.linked,
            report.enrolled,
            report.already_enrolled
        ),
        (2, 1, 2, 1)
    );

    let ana = env
        .moodle_user("ana.ruiz@example.com")
        .expect("Ana was created");
    assert_eq!(
        (
            ana.idnumber.as_str(),
            ana.firstname.as_str(),
            ana.lastname.as_str()
        ),
        ("X1234567", "Ana", "Ruiz")
    );
    assert!(env.enrolled_in_course_2(ana.id));
    assert_eq!(env.account("X1234567"), Some(ana.id));
    assert_eq!(
        env.account("STU-001"),
        Some(4),
        "matched by learner code = idnumber"
    );
    for code in ["X1234567", "STU-001", "Q1"] {
        assert_eq!(
            env.transfer(code).unwrap().status,
            TransferStatus::Transferred,
            "{code}"
        );
    }
    // Enrolled with the configured role and the enrolment's start date.
    let enrol_call = env
        .sim
        .calls()
        .into_iter()
        .find(|c| c.function == "enrol_manual_enrol_users")
        .unwrap();
    assert_eq!(enrol_call.param("enrolments[0][roleid]"), Some("5"));
    let start = NaiveDate::from_ymd_opt(2027, 2, 3)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp();
    assert_eq!(
        enrol_call.param("enrolments[0][timestart]"),
        Some(start.to_string().as_str())
    );
    let create_call = env
        .sim
        .calls()
        .into_iter()
        .find(|c| c.function == "core_user_create_users")
        .unwrap();
    assert_eq!(
        create_call.param("users[0][createpassword]"),
        Some("1"),
        "Moodle makes the password by default"
    );

    let log = env.log("r1").await;
    assert!(
        log.contains(&"User Ana Ruiz (X1234567) - registered in the system".to_owned()),
        "{log:?}"
    );
    assert!(log.contains(&"User Ana Ruiz (X1234567) - enrolment in the Moodle course".to_owned()));
    assert!(log.contains(&"User Sam Passer (STU-001) - linked to Moodle user 4".to_owned()));
    assert!(
        !log.iter()
            .any(|l| l.contains("Sam Passer (STU-001) - enrolment")),
        "already enrolled: no-op"
    );
    assert!(!log.iter().any(|l| l.contains(SAMPLE_TOKEN)));

    let mails = env.mailer.0.lock().unwrap().clone();
    assert_eq!(
        mails.len(),
        1,
        "Sam was already enrolled; Quinn opted out: {mails:?}"
    );
    assert_eq!(mails[0].subject, "User registration in Moodle");
    assert_eq!(mails[0].to, "ana.ruiz@example.com");
    assert!(
        !mails[0].body.contains("Password:"),
        "Moodle mails its own password"
    );
    let status = env
        .runs
        .run(&t(), &c(), &run("r1"))
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!(status, RunStatus::FinishedSuccessfully);
}

#[tokio::test]
async fn a_push_run_finishes_when_it_ends_not_when_its_job_began() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))
        .await;
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    let stored = env.runs.run(&t(), &c(), &run("r1")).await.unwrap().unwrap();
    assert_eq!(stored.started_at, now());
    assert_eq!(stored.finished_at, Some(later()));
    assert_eq!(stored.duration(later()).num_seconds(), 42);
}

#[tokio::test]
async fn duplicate_deliveries_and_reruns_create_no_duplicate_users_or_enrolments() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    for i in 0..5 {
        env.learner(
            &format!("L{i}"),
            "Lea",
            &format!("Number{i}"),
            Some(&format!("lea{i}@example.com")),
        )
        .await;
    }
    let push = env.push();
    push.push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    let after_first = env.sim.snapshot();
    let log_first = env.log("r1").await;
    let creates = env.sim.call_count("core_user_create_users");
    let enrols = env.sim.call_count("enrol_manual_enrol_users");

    // SQS delivers the same job again, then a person pushes again (a new run).
    push.push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    push.push_job(&t(), &c(), &off(), &run("r2"), Trigger::Manual, now())
        .await
        .unwrap();
    // And the nightly export of the same connection.
    push.export(&t(), &c(), &run("r3"), Trigger::Nightly, None, now())
        .await
        .unwrap();

    let after = env.sim.snapshot();
    assert_eq!(after.users, after_first.users, "no user created or changed");
    assert_eq!(
        after.user_enrolments, after_first.user_enrolments,
        "no enrolment added"
    );
    assert_eq!(env.sim.call_count("core_user_create_users"), creates);
    assert_eq!(env.sim.call_count("enrol_manual_enrol_users"), enrols);
    assert_eq!(
        env.log("r1").await,
        log_first,
        "the duplicate logged nothing"
    );
    assert!(env.log("r2").await.is_empty());
    assert_eq!(env.links.accounts.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn a_record_moodle_refuses_blocks_only_its_enrolment_with_moodles_reason() {
    let mut fixture = MoodleFixture::sample_site();
    fixture.site.extendedusernamechars = false;
    let env = Env::on(MoodleSim::new(fixture), MoodleSettings::default()).await;
    env.link().await;
    env.learner("G1", "Good", "One", Some("good1@example.com"))
        .await;
    env.learner("B1", "Bad", "Plus", Some("bad+moodle@example.com"))
        .await;
    env.learner("G2", "Good", "Two", Some("good2@example.com"))
        .await;

    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();

    for code in ["G1", "G2"] {
        assert_eq!(
            env.transfer(code).unwrap().status,
            TransferStatus::Transferred
        );
    }
    let reasons = blocked(&env.transfer("B1").unwrap().status);
    let [BlockReason::RefusedByMoodle { message }] = reasons.as_slice() else {
        panic!("{reasons:?}")
    };
    assert!(
        message.contains("Allow extended characters in usernames"),
        "{message}"
    );
    assert!(env.moodle_user("bad+moodle@example.com").is_none());
    assert_eq!(env.account("B1"), None);
    let log = env.log("r1").await;
    assert!(
        log.iter()
            .any(|l| l.starts_with("User Bad Plus (B1) - not transferred: Moodle refused it")),
        "{log:?}"
    );
    let run = env.runs.run(&t(), &c(), &run("r1")).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::FinishedWithWarnings);
}

#[tokio::test]
async fn an_email_used_by_another_user_blocks_and_creates_no_duplicate() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    // A different person in the SMS with student2's email.
    env.learner("Z9", "Zoe", "Other", Some("student2@example.com"))
        .await;
    let users_before = env.sim.snapshot().users.len();
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!(
        blocked(&env.transfer("Z9").unwrap().status),
        vec![BlockReason::EmailUsedByAnotherUser { moodle_user_id: 5 }]
    );
    assert_eq!(env.sim.snapshot().users.len(), users_before);
    assert_eq!(env.sim.call_count("core_user_create_users"), 0);

    // With email among the rules, the same collision links instead.
    let rules = Env::new(MoodleSettings {
        match_fields: vec![domain::connection::MatchField::Email],
        ..MoodleSettings::default()
    })
    .await;
    rules.link().await;
    rules
        .learner("Z9", "Zoe", "Other", Some("student2@example.com"))
        .await;
    rules
        .push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!(rules.account("Z9"), Some(5));
}

#[tokio::test]
async fn a_stored_user_that_no_longer_exists_blocks() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("X1", "Ana", "Ruiz", Some("ana@example.com"))
        .await;
    env.links
        .save_account(&ExternalAccount {
            tenant: t(),
            connection: c(),
            learner: LearnerCode::parse("X1").unwrap(),
            external_id: 999,
            created_by_us: false,
            linked_at: now(),
        })
        .await
        .unwrap();
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!(
        blocked(&env.transfer("X1").unwrap().status),
        vec![BlockReason::StoredUserMissing {
            moodle_user_id: 999
        }]
    );
    assert_eq!(
        env.sim.call_count("core_user_create_users"),
        0,
        "a stored account prevents creating a user"
    );
}

#[tokio::test]
async fn a_create_moodle_refuses_without_a_reason_is_isolated_and_explained() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    // Two learners with one address in other letters: Moodle takes the first
    // and refuses the whole batch for the second, saying only invalidparameter.
    for (code, family, email) in [
        ("D1", "One", "dee@example.com"),
        ("D2", "Two", "DEE@Example.com"),
    ] {
        let mut l = env.learner(code, "Dee", family, Some(email)).await;
        l.username = Some(format!("dee.{}", family.to_lowercase()));
        env.sis.save_learner(&l).await.unwrap();
    }
    env.learner("G1", "Good", "One", Some("good1@example.com"))
        .await;
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    let first = env.moodle_user("dee.one").expect("D1 created");
    for code in ["D1", "G1"] {
        assert_eq!(
            env.transfer(code).unwrap().status,
            TransferStatus::Transferred,
            "{code}"
        );
    }
    assert_eq!(
        blocked(&env.transfer("D2").unwrap().status),
        vec![BlockReason::EmailUsedByAnotherUser {
            moodle_user_id: first.id
        }]
    );
    let log = env.log("r1").await;
    assert!(
        log.iter().any(|l| l.starts_with(&format!(
            "User Dee Two (D2) - not transferred: the learner's email address is already used by Moodle user {}",
            first.id
        ))),
        "{log:?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("Invalid parameter")),
        "{log:?}"
    );
}

#[tokio::test]
async fn preview_shows_ready_transferred_and_every_reason() {
    let env = Env::new(MoodleSettings::default()).await;
    env.learner("R1", "Ready", "One", Some("ready1@example.com"))
        .await;
    let preview = env.push().preview(&t(), &c(), &off()).await.unwrap();
    assert_eq!(
        blocked(&preview[0].status),
        vec![BlockReason::OfferingNotLinked]
    );

    env.link().await;
    let mut archived = env
        .learner("A1", "Arch", "", Some("student3@example.com"))
        .await;
    archived.archived = true;
    env.sis.save_learner(&archived).await.unwrap();
    env.learner("N1", "No", "Mail", None).await;
    env.learner("I1", "Bad", "Mail", Some("bad@")).await;
    let rows: Vec<PreviewRow> = env.push().preview(&t(), &c(), &off()).await.unwrap();
    let by = |code: &str| {
        rows.iter()
            .find(|r| r.learner.as_str() == code)
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(by("R1"), TransferStatus::Ready);
    assert_eq!(
        blocked(&by("A1")),
        vec![
            BlockReason::LearnerArchived,
            BlockReason::MissingSurname,
            BlockReason::EmailUsedByAnotherUser { moodle_user_id: 6 }
        ]
    );
    assert_eq!(blocked(&by("N1")), vec![BlockReason::MissingEmail]);
    assert_eq!(blocked(&by("I1")), vec![BlockReason::InvalidEmail]);
    assert_eq!(
        env.sim.call_count("core_user_create_users"),
        0,
        "a preview changes nothing"
    );

    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    let rows = env.push().preview(&t(), &c(), &off()).await.unwrap();
    assert_eq!(
        rows.iter()
            .find(|r| r.learner.as_str() == "R1")
            .unwrap()
            .status,
        TransferStatus::Transferred
    );
}

#[tokio::test]
async fn the_preview_mailer_previews_and_emails_no_one() {
    use crate::push::PreviewMailer;
    use domain::ports::{Email, MailError, Mailer};
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("R1", "Ready", "One", Some("ready1@example.com"))
        .await;
    let push = Push {
        mailer: &PreviewMailer,
        ..env.push()
    };
    let rows = push.preview(&t(), &c(), &off()).await.unwrap();
    assert_eq!(rows[0].status, TransferStatus::Ready);
    let refused = PreviewMailer
        .send(&Email {
            to: "ready1@example.com".into(),
            subject: "Welcome".into(),
            body: "Your Moodle account".into(),
        })
        .await;
    assert!(
        matches!(refused, Err(MailError::Rejected { ref reason }) if reason.contains("preview")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_offering_read_a_page_at_a_time_pushes_the_new_and_leaves_the_transferred() {
    // Batches of 2: the push reads its first page of 2 enrolments, then the
    // rest; the transferred of the first push come back as "others" on the
    // second, on every page, and are neither sent again nor lost.
    let env = Env::new(MoodleSettings {
        batch_size: 2,
        ..MoodleSettings::default()
    })
    .await;
    env.link().await;
    for i in 1..=5 {
        env.learner(
            &format!("P{i}"),
            "Page",
            &format!("One{i}"),
            Some(&format!("p{i}@example.com")),
        )
        .await;
    }
    let first = env
        .push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!((first.created, first.enrolled, first.blocked), (5, 5, 0));

    // Two new learners sorting before, between and after the transferred,
    // and an enrolment whose learner the SMS has no record of.
    env.learner("A0", "Page", "Two0", Some("a0@example.com"))
        .await;
    env.learner("P3B", "Page", "Two3", Some("p3b@example.com"))
        .await;
    env.enrol("Z9").await;
    env.sim.clear_calls();
    let second = env
        .push()
        .push_job(&t(), &c(), &off(), &run("r2"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!(
        (second.created, second.enrolled, second.blocked),
        (2, 2, 1),
        "only the new go; the unknown learner is blocked"
    );
    assert_eq!(env.sim.call_count("core_user_create_users"), 1);
    assert_eq!(env.sim.call_count("enrol_manual_enrol_users"), 1);
    for code in ["A0", "P1", "P2", "P3", "P3B", "P4", "P5"] {
        assert_eq!(
            env.transfer(code).unwrap().status,
            TransferStatus::Transferred,
            "{code}"
        );
    }
    assert!(!blocked(&env.transfer("Z9").unwrap().status).is_empty());
    // A third push finds nothing new and changes nothing.
    env.sim.clear_calls();
    let third = env
        .push()
        .push_job(&t(), &c(), &off(), &run("r3"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!((third.created, third.enrolled), (0, 0));
    assert_eq!(env.sim.call_count("core_user_create_users"), 0);
}

#[tokio::test]
async fn a_username_another_moodle_user_holds_blocks_before_any_create_naming_them() {
    // The default match order looks learners up by idnumber and email only;
    // the username a new user would get is looked up too, so a clash is
    // blocked with its holder (in the preview first), not left to a create
    // Moodle refuses without a reason.
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    let holder = env
        .moodle_user("occ.student2")
        .expect("the sample site's occ.student2");
    let mut taken = env
        .learner("U1", "Una", "Taken", Some("una.taken@example.com"))
        .await;
    taken.username = Some("OCC.Student2".into());
    env.sis.save_learner(&taken).await.unwrap();
    env.learner("U2", "Uma", "Free", Some("uma.free@example.com"))
        .await;

    let preview = env.push().preview(&t(), &c(), &off()).await.unwrap();
    let row = |code: &str| {
        preview
            .iter()
            .find(|r| r.learner.as_str() == code)
            .unwrap()
            .status
            .clone()
    };
    let expected = vec![BlockReason::UsernameUsedByAnotherUser {
        username: "occ.student2".into(),
        moodle_user_id: holder.id,
    }];
    assert_eq!(blocked(&row("U1")), expected);
    assert_eq!(row("U2"), TransferStatus::Ready);

    env.sim.clear_calls();
    let report = env
        .push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!((report.created, report.blocked), (1, 1));
    assert_eq!(blocked(&env.transfer("U1").unwrap().status), expected);
    assert_eq!(
        env.transfer("U2").unwrap().status,
        TransferStatus::Transferred
    );
    // One create, of U2 alone: nothing Moodle had to refuse.
    assert_eq!(env.sim.call_count("core_user_create_users"), 1);
    let log = env.log("r1").await;
    assert!(
        log.iter()
            .any(|l| l.contains("Una Taken (U1)") && l.contains("occ.student2")),
        "{log:?}"
    );
}
