//! Removing an enrolment: results read first, then unenrolled or suspended.

use super::*;

#[tokio::test]
async fn removing_reads_results_before_unenrolling_or_suspending() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("STU-001", "Sam", "Passer", Some("student1@example.com"))
        .await;
    // Unit U1 is the sample course's quiz (cmid 1), graded for Sam.
    let mut offering = env.sis.offering(&t(), &off()).await.unwrap().unwrap();
    offering.assessables = vec![Assessable {
        id: domain::AssessableId::parse("U1").unwrap(),
        name: "Unit 1".into(),
        kind: AssessableKind::Unit,
        expected_start_date: None,
    }];
    env.sis.save_offering(&offering).await.unwrap();
    env.results
        .save_mapping(&domain::results::Mapping {
            tenant: t(),
            offering: off(),
            connection: c(),
            assessable: domain::AssessableId::parse("U1").unwrap(),
            activities: vec![domain::results::MappedActivity {
                cmid: 1,
                modname: "quiz".into(),
            }],
            updated_at: now(),
        })
        .await
        .unwrap();
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    env.sim.clear_calls();
    let sam = LearnerCode::parse("STU-001").unwrap();
    let removal = env
        .removals()
        .remove_enrolment(&t(), &c(), &off(), &sam, now())
        .await
        .unwrap();
    let Removal::Removed {
        run: removal_run,
        read,
        suspended,
        not_enrolled: false,
    } = removal
    else {
        panic!("{removal:?}")
    };
    assert!(!suspended);
    assert_eq!(read.ready + read.errors, 1, "{read:?}");
    let result = env
        .results
        .result(
            &t(),
            &off(),
            &sam,
            &domain::AssessableId::parse("U1").unwrap(),
        )
        .await
        .unwrap()
        .expect("the result read before the removal is kept");
    assert_ne!(
        result.state,
        domain::results::ReviewState::Done,
        "for review"
    );
    let order: Vec<String> = env.sim.calls().into_iter().map(|c| c.function).collect();
    let read = order
        .iter()
        .position(|f| f == "gradereport_user_get_grade_items")
        .unwrap();
    let unenrol = order
        .iter()
        .position(|f| f == "enrol_manual_unenrol_users")
        .unwrap();
    assert!(read < unenrol, "read before destroy: {order:?}");
    assert!(!env.enrolled_in_course_2(4));
    assert_eq!(
        env.transfer("STU-001").unwrap().status,
        TransferStatus::Removed
    );
    let recorded = env
        .runs
        .run(&t(), &c(), &removal_run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.trigger, Trigger::Change);
    assert_eq!(recorded.status, RunStatus::FinishedSuccessfully);
    // It finished when the work was done, and counts what it did.
    assert_eq!(
        (recorded.started_at, recorded.finished_at),
        (now(), Some(later()))
    );
    assert_eq!(recorded.counts.get("learners_read"), Some(&1));
    assert_eq!(recorded.counts.get("unenrolled"), Some(&1));
    assert_eq!(env.transfer("STU-001").unwrap().updated_at, later());
    // A duplicate job changes nothing.
    env.sim.clear_calls();
    assert_eq!(
        env.removals()
            .remove_enrolment(&t(), &c(), &off(), &sam, now())
            .await
            .unwrap(),
        Removal::AlreadyRemoved
    );
    assert!(env.sim.calls().is_empty());

    // Suspending instead, per the connection.
    let keep = Env::new(MoodleSettings {
        unenrol_on_removal: false,
        ..MoodleSettings::default()
    })
    .await;
    keep.link().await;
    keep.learner("STU-002", "Fran", "Failer", Some("student2@example.com"))
        .await;
    keep.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    let removal = keep
        .removals()
        .remove_enrolment(
            &t(),
            &c(),
            &off(),
            &LearnerCode::parse("STU-002").unwrap(),
            now(),
        )
        .await
        .unwrap();
    assert!(matches!(
        removal,
        Removal::Removed {
            suspended: true,
            not_enrolled: false,
            ..
        }
    ));
    let s = keep.sim.snapshot();
    assert!(
        s.user_enrolments
            .iter()
            .any(|ue| ue.userid == 5 && ue.status == 1),
        "kept, suspended"
    );
}

/// A learner a person already unenrolled in Moodle by hand: removing them
/// (suspend mode) enrols nobody, as Moodle would (a suspension of a user with
/// no enrolment creates one, suspended; seen on a real Moodle 4.3): nothing
/// to suspend, the removal is done. Whether Moodle still enrols them comes
/// from the participants the read had (or, when nothing is read, from the
/// enrolled users), never from the grades.
#[tokio::test]
async fn removing_a_learner_moodle_no_longer_enrols_enrols_nobody() {
    for course_completions in [true, false] {
        let env = Env::new(MoodleSettings {
            unenrol_on_removal: false,
            course_completions,
            ..MoodleSettings::default()
        })
        .await;
        env.link().await;
        env.learner("STU-002", "Fran", "Failer", Some("student2@example.com"))
            .await;
        env.push()
            .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
            .await
            .unwrap();
        assert!(env.enrolled_in_course_2(5));
        // A person unenrols Fran in Moodle by hand.
        env.sim
            .with_state(|s| s.user_enrolments.retain(|ue| ue.userid != 5));
        env.sim.clear_calls();
        let fran = LearnerCode::parse("STU-002").unwrap();
        let removal = env
            .removals()
            .remove_enrolment(&t(), &c(), &off(), &fran, now())
            .await
            .unwrap();
        let Removal::Removed {
            run: removal_run,
            suspended: false,
            not_enrolled: true,
            ..
        } = removal
        else {
            panic!("{removal:?}")
        };
        assert_eq!(env.sim.call_count("enrol_manual_enrol_users"), 0);
        assert_eq!(env.sim.call_count("enrol_manual_unenrol_users"), 0);
        assert_eq!(
            env.sim.call_count("core_enrol_get_enrolled_users"),
            1,
            "asked once (course completions {course_completions})"
        );
        assert!(
            !env.sim
                .snapshot()
                .user_enrolments
                .iter()
                .any(|ue| ue.userid == 5),
            "no enrolment made"
        );
        let transfer = env.transfer("STU-002").unwrap();
        assert_eq!(
            (transfer.status, transfer.updated_at),
            (TransferStatus::Removed, later())
        );
        let recorded = env
            .runs
            .run(&t(), &c(), &removal_run)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(recorded.status, RunStatus::FinishedSuccessfully);
        assert_eq!(recorded.counts.get("suspended"), Some(&0));
        let log = env.runs.log(&t(), &c(), &removal_run).await.unwrap();
        assert!(
            log.iter()
                .any(|l| l.message.contains("nothing to unenrol or suspend")),
            "{log:?}"
        );
    }
}

/// A read that fails removes nothing: the run and the transfer say why, and
/// the next export queues the removal again.
#[tokio::test]
async fn a_removal_whose_read_fails_removes_nothing_and_is_tried_again() {
    let env = Env::new(MoodleSettings {
        course_completions: true,
        ..MoodleSettings::default()
    })
    .await;
    env.link().await;
    env.learner("STU-001", "Sam", "Passer", Some("student1@example.com"))
        .await;
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    // The token's service no longer offers the grade report: Moodle refuses.
    env.sim.with_state(|s| {
        for service in &mut s.services {
            service
                .functions
                .retain(|f| f != "gradereport_user_get_grade_items");
        }
    });
    let sam = LearnerCode::parse("STU-001").unwrap();
    let removal = env
        .removals()
        .remove_enrolment(&t(), &c(), &off(), &sam, now())
        .await
        .unwrap();
    let Removal::NotRemoved {
        run: failed,
        reason,
    } = removal
    else {
        panic!("{removal:?}")
    };
    assert!(reason.contains("results could not be read"), "{reason}");
    assert!(env.enrolled_in_course_2(4), "nothing was unenrolled");
    let transfer = env.transfer("STU-001").unwrap();
    assert_eq!(transfer.status, TransferStatus::Transferred);
    assert_eq!(transfer.removal_error.as_deref(), Some(reason.as_str()));
    let recorded = env.runs.run(&t(), &c(), &failed).await.unwrap().unwrap();
    assert_eq!(recorded.status, RunStatus::FinishedWithError);
    let lines = env.runs.log(&t(), &c(), &failed).await.unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.level == LogLevel::Error && l.message.contains("Nothing was unenrolled")),
        "{lines:?}"
    );
    // The next export queues it again.
    env.push()
        .export(&t(), &c(), &run("r2"), Trigger::Nightly, None, now())
        .await
        .unwrap();
    let jobs = env.queue.sent.lock().unwrap().clone();
    assert!(
        jobs.iter()
            .any(|j| matches!(j, Job::RemoveEnrolment { learner, .. } if learner == &sam)),
        "{jobs:?}"
    );
}
