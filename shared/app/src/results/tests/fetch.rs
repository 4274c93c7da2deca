//! The fetch: what is read, when, and what a failure keeps for the next run;
//! mapping and result levels.

use super::*;

#[tokio::test]
async fn first_run_applies_the_rules_and_a_re_run_reads_only_changed_learners() {
    let w = world(4, settings(true), true).await;
    w.grade(101, 1, 80.0, 3);
    w.grade(101, 2, 60.0, 4); // L0: passed
    w.grade(102, 1, 80.0, 3);
    w.grade(102, 2, 40.0, 4); // L1: failed
    w.grade(103, 1, 80.0, 3); // L2: started
    let counts = w.fetch(at(10)).await;
    assert_eq!((counts.learners, counts.changed, counts.ready), (4, 4, 3));
    assert_eq!(w.result(0).unwrap().result, ResultType::Passed);
    assert_eq!(
        w.result(0).unwrap().finish_date,
        NaiveDate::from_ymd_opt(2026, 3, 4)
    );
    assert_eq!(w.result(1).unwrap().result, ResultType::Failed);
    assert_eq!(w.result(2).unwrap().result, ResultType::Started);
    assert!(w.result(3).is_none(), "no grade: no result");
    assert_eq!(
        w.result(0).unwrap().state,
        ReviewState::Ready,
        "waits for review"
    );
    assert!(w.deliveries.0.lock().unwrap().is_empty());
    assert_eq!(w.course.grade_calls.load(Ordering::Relaxed), 1);
    assert_eq!(w.course.pass_calls.load(Ordering::Relaxed), 2);
    assert_eq!(w.course.completion_calls.load(Ordering::Relaxed), 4);
    assert_eq!(
        w.course.course_completion_calls.load(Ordering::Relaxed),
        0,
        "course completions off: not read"
    );

    // Re-run: one learner graded since; only they are read further.
    w.grade(104, 1, 90.0, 12);
    let counts = w.fetch(at(13)).await;
    assert_eq!((counts.learners, counts.changed), (4, 1));
    assert_eq!(w.course.grade_calls.load(Ordering::Relaxed), 2);
    assert_eq!(
        w.course.pass_calls.load(Ordering::Relaxed),
        4,
        "cached per run"
    );
    assert_eq!(w.course.completion_calls.load(Ordering::Relaxed), 5);
    assert_eq!(w.result(3).unwrap().result, ResultType::Started);
    let log = w.runs.log(&t(), &c(), &run()).await.unwrap();
    assert!(log.iter().any(|l| {
        l.message
            .starts_with("Results: 1 offerings, 4 learners, 1 read")
    }));

    // Process all: ready results become deliveries, done.
    let done = w.results().process_all(&t(), &c(), at(14)).await.unwrap();
    assert_eq!(done.results, 4);
    assert_eq!(w.deliveries.0.lock().unwrap().len(), 4);
    assert_eq!(w.result(0).unwrap().state, ReviewState::Done);

    // The SMS accepted them. A later attempt's grade never replaces a
    // delivered result (it is recorded on it); no second Started.
    for d in w.deliveries.0.lock().unwrap().values_mut() {
        d.state = domain::delivery::DeliveryState::Delivered;
    }
    w.grade(101, 2, 95.0, 15);
    w.grade(103, 1, 85.0, 15);
    w.fetch(at(16)).await;
    let first = w.result(0).unwrap();
    assert_eq!(
        (first.grade, first.grade_max),
        (Some(140.0), Some(200.0)),
        "the saved grade stays, raw out of the maximum"
    );
    let later = first.later.expect("the later attempt is recorded on it");
    assert_eq!((later.grade, later.grade_max), (Some(175.0), Some(200.0)));
    assert_eq!(w.result(2).unwrap().state, ReviewState::Done);
    assert_eq!(w.deliveries.0.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn without_review_results_are_saved_to_the_sms_at_once() {
    let w = world(2, settings(false), true).await;
    w.grade(101, 1, 80.0, 3);
    w.grade(101, 2, 60.0, 4);
    let counts = w.fetch(at(10)).await;
    assert_eq!(counts.saved, 1);
    assert_eq!(w.result(0).unwrap().state, ReviewState::Done);
    let deliveries = w.deliveries.0.lock().unwrap();
    let d = deliveries.values().next().unwrap();
    assert_eq!(
        (d.kind, d.connection.as_str()),
        (DeliveryKind::Result, "sms")
    );
    assert_eq!(d.payload["result"], "passed");
    assert_eq!(w.queue.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_missing_start_date_is_an_error_a_person_can_fix() {
    let w = world(
        1,
        MoodleSettings {
            use_enrolment_start_date: false,
            ..settings(true)
        },
        true,
    )
    .await;
    w.grade(101, 1, 80.0, 3);
    w.grade(101, 2, 60.0, 4);
    // Two activities mapped, none completed: no start date.
    w.course.completion.lock().unwrap().clear();
    let counts = w.fetch(at(10)).await;
    assert_eq!(counts.errors, 1);
    let r = w.result(0).unwrap();
    assert_eq!(r.state, ReviewState::Error);
    assert!(matches!(
        w.results()
            .process(&t(), &o(), &code(0), &u1(), at(11))
            .await,
        Err(ResultsError::Review(ReviewError::NotReady { .. }))
    ));
    let fixed = w
        .results()
        .adjust(
            &t(),
            &o(),
            &code(0),
            &u1(),
            &Adjustment {
                start_date: NaiveDate::from_ymd_opt(2026, 3, 1),
                ..Adjustment::default()
            },
            at(11),
        )
        .await
        .unwrap();
    assert_eq!(fixed.state, ReviewState::Ready);
    let done = w
        .results()
        .process(&t(), &o(), &code(0), &u1(), at(12))
        .await
        .unwrap();
    assert_eq!(done.state, ReviewState::Done);
    assert_eq!(w.deliveries.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failing_learner_is_retried_alone_while_the_watermark_moves_on() {
    let w = world(3, settings(true), true).await;
    for u in [101, 102, 103] {
        w.grade(u, 1, 80.0, 3);
        w.grade(u, 2, 80.0, 3);
    }
    *w.course.failing_user.lock().unwrap() = Some(102);
    let counts = w.fetch(at(10)).await;
    assert_eq!((counts.failures, counts.ready, counts.retries), (1, 2, 1));
    assert!(w.result(1).is_none());
    let log = w.runs.log(&t(), &c(), &run()).await.unwrap();
    let warning = log.iter().find(|l| l.level == LogLevel::Warning).unwrap();
    assert!(
        warning.message.starts_with("Learner L1 of offering OFF-1"),
        "{}",
        warning.message
    );
    assert_eq!(w.results.progress_of(&t(), &c()).0, Some(at(10)));
    let retry = RetryEntry {
        offering: o(),
        learner: Some(code(1)),
    };
    assert_eq!(w.results.progress_of(&t(), &c()).1, vec![retry.clone()]);

    // Still failing: only that learner is read again, not everyone.
    let counts = w.fetch(at(11)).await;
    assert_eq!((counts.changed, counts.failures), (1, 1));
    assert_eq!(w.results.progress_of(&t(), &c()).0, Some(at(11)));
    assert_eq!(w.results.progress_of(&t(), &c()).1, vec![retry]);

    // Moodle answers again: the learner's result comes, the retry set empties.
    *w.course.failing_user.lock().unwrap() = None;
    let counts = w.fetch(at(12)).await;
    assert_eq!((counts.failures, counts.changed, counts.ready), (0, 1, 1));
    assert_eq!(w.result(1).unwrap().result, ResultType::Passed);
    assert!(w.results.progress_of(&t(), &c()).1.is_empty());
    let counts = w.fetch(at(13)).await;
    assert_eq!(counts.changed, 0, "nothing left to read");
}

#[tokio::test]
async fn an_offering_that_could_not_be_read_is_read_whole_next_run() {
    let w = world(3, settings(true), true).await;
    w.fetch(at(10)).await;
    for u in [101, 102, 103] {
        w.grade(u, 1, 80.0, 3); // graded before the watermark
    }
    w.course.failing_grades.store(true, Ordering::Relaxed);
    let counts = w.fetch(at(11)).await;
    assert_eq!((counts.failures, counts.retries), (1, 1));
    assert_eq!(w.results.progress_of(&t(), &c()).0, Some(at(11)));
    w.course.failing_grades.store(false, Ordering::Relaxed);
    let counts = w.fetch(at(12)).await;
    assert_eq!(
        (counts.changed, counts.ready),
        (3, 3),
        "everyone of the offering, whatever the watermark"
    );
    assert!(w.results.progress_of(&t(), &c()).1.is_empty());
}

#[tokio::test]
async fn a_stopped_download_stops_and_keeps_the_watermark() {
    let w = world(3, settings(true), true).await;
    let stop = AtomicBool::new(true);
    let counts = w
        .results()
        .fetch(&w.connection, &w.course, None, &run(), &stop, at(10))
        .await
        .unwrap();
    assert!(counts.stopped);
    assert_eq!(w.course.grade_calls.load(Ordering::Relaxed), 0);
    assert_eq!(w.results.progress_of(&t(), &c()).0, None);
}

#[tokio::test]
async fn a_learner_enrolled_by_hand_is_identified_by_idnumber_or_username() {
    let w = world(1, settings(true), true).await;
    // L8: enrolled in Moodle by hand, idnumber = learner code; L9: by username.
    for (l, user, username, idnumber) in [(8, 208, "someone", "L8"), (9, 209, "hand.made", "")] {
        w.sis
            .save_enrolment(&Enrolment {
                tenant: t(),
                learner: code(l),
                offering: o(),
                state: EnrolmentState::InProgress,
                start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
                session_date: None,
                updated_at: at(1),
            })
            .await
            .unwrap();
        w.sis
            .save_learner(&Learner {
                tenant: t(),
                code: code(l),
                username: Some(if l == 9 {
                    "Hand.Made".into()
                } else {
                    "other".into()
                }),
                given_name: "A".into(),
                middle_name: None,
                family_name: "B".into(),
                email: None,
                date_of_birth: None,
                archived: false,
                email_opt_out: false,
                updated_at: at(1),
            })
            .await
            .unwrap();
        w.course.participants.lock().unwrap().push(Participant {
            user,
            username: username.into(),
            idnumber: idnumber.into(),
            last_access: None,
        });
        w.course.grades.lock().unwrap().push(LearnerGrades {
            user,
            items: Vec::new(),
            course_total: None,
            course_max: None,
        });
        w.grade(user, 1, 80.0, 3);
        w.grade(user, 2, 80.0, 3);
    }
    let counts = w.fetch(at(10)).await;
    assert_eq!((counts.learners, counts.ready), (3, 2));
    assert_eq!(w.result(8).unwrap().result, ResultType::Passed);
    assert_eq!(w.result(9).unwrap().result, ResultType::Passed);
    let accounts = w
        .links
        .accounts(&t(), &c(), &[code(8), code(9)])
        .await
        .unwrap();
    let mut ids: Vec<(String, i64, bool)> = accounts
        .iter()
        .map(|a| (a.learner.to_string(), a.external_id, a.created_by_us))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![("L8".into(), 208, false), ("L9".into(), 209, false)]
    );
    let log = w.runs.log(&t(), &c(), &run()).await.unwrap();
    assert!(
        log.iter().any(|l| l
            .message
            .contains("L9 of offering OFF-1 identified as participant 209")
            && l.message.contains("by username")),
        "{log:?}"
    );
}

#[tokio::test]
async fn mapping_refuses_types_that_cannot_be_mapped_by_name() {
    let w = world(1, settings(true), false).await;
    let err = w
        .results()
        .map(&w.course, &t(), &o(), &c(), &u1(), &[1, 3], at(2))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is a forum, which cannot be mapped"),
        "{err}"
    );
    let activities = w
        .results()
        .activities(&w.course, &t(), &o(), &c())
        .await
        .unwrap();
    assert_eq!(activities.iter().filter(|a| a.mappable).count(), 2);
    let err = w
        .results()
        .map(
            &w.course,
            &t(),
            &o(),
            &c(),
            &AssessableId::parse("NOPE").unwrap(),
            &[1],
            at(2),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ResultsError::Mapping(MappingError::UnknownAssessable { .. })
    ));
    assert!(matches!(
        w.results().process_all(&t(), &c(), at(3)).await,
        Err(ResultsError::NoSms)
    ));
}

#[tokio::test]
async fn a_mapping_is_removed_and_removing_it_again_changes_nothing() {
    use domain::ports::ResultStore as _;
    let w = world(1, settings(true), false).await;
    let mapped = w.results.mappings(&t(), &o(), &c()).await.unwrap();
    assert_eq!(mapped.len(), 1, "U1 is mapped");
    w.results().unmap(&t(), &o(), &c(), &u1()).await.unwrap();
    assert!(
        w.results
            .mappings(&t(), &o(), &c())
            .await
            .unwrap()
            .is_empty()
    );
    w.results().unmap(&t(), &o(), &c(), &u1()).await.unwrap();
    assert!(
        w.results
            .mappings(&t(), &o(), &c())
            .await
            .unwrap()
            .is_empty()
    );
    let other = domain::ConnectionId::parse("nope").unwrap();
    assert!(matches!(
        w.results().unmap(&t(), &o(), &other, &u1()).await,
        Err(ResultsError::UnknownConnection { .. })
    ));
}

#[tokio::test]
async fn one_offering_can_be_downloaded_alone_without_moving_the_watermark() {
    let w = world(2, settings(true), true).await;
    w.grade(101, 1, 80.0, 3);
    w.grade(101, 2, 60.0, 4);
    let stop = AtomicBool::new(false);
    let counts = w
        .results()
        .fetch(&w.connection, &w.course, Some(&o()), &run(), &stop, at(10))
        .await
        .unwrap();
    assert_eq!((counts.offerings, counts.ready), (1, 1));
    assert_eq!(w.result(0).unwrap().result, ResultType::Passed);
    assert_eq!(
        w.results.progress_of(&t(), &c()).0,
        None,
        "only a download of every linked offering moves the connection's watermark"
    );
    // The offering keeps its own: the same download again reads nobody.
    let own = w.results.offering_progress(&t(), &c()).await.unwrap();
    assert_eq!(
        own,
        vec![domain::results::OfferingProgress {
            offering: o(),
            at: at(10),
            retries: vec![],
        }]
    );
    let again = w
        .results()
        .fetch(&w.connection, &w.course, Some(&o()), &run(), &stop, at(20))
        .await
        .unwrap();
    assert_eq!((again.learners, again.changed), (2, 0), "{again:?}");
    let other = OfferingId::parse("OFF-2").unwrap();
    let err = w
        .results()
        .fetch(
            &w.connection,
            &w.course,
            Some(&other),
            &run(),
            &stop,
            at(10),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ResultsError::NotLinked { .. }), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_learner_linked_or_identified_after_the_watermark_has_their_earlier_grades_read() {
    let w = world(1, settings(true), true).await;
    w.fetch(at(10)).await;
    // L5 was exported after the first download; L6 was enrolled in Moodle by
    // hand and is found by idnumber now. Both were graded before the watermark.
    for (l, user, stored) in [(5, 105, true), (6, 106, false)] {
        w.sis
            .save_enrolment(&Enrolment {
                tenant: t(),
                learner: code(l),
                offering: o(),
                state: EnrolmentState::InProgress,
                start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
                session_date: None,
                updated_at: at(1),
            })
            .await
            .unwrap();
        if stored {
            w.links
                .save_account(&ExternalAccount {
                    tenant: t(),
                    connection: c(),
                    learner: code(l),
                    external_id: user,
                    created_by_us: true,
                    linked_at: at(11),
                })
                .await
                .unwrap();
        }
        w.course.participants.lock().unwrap().push(Participant {
            user,
            username: String::new(),
            idnumber: if stored {
                String::new()
            } else {
                format!("L{l}")
            },
            last_access: None,
        });
        w.course.grades.lock().unwrap().push(LearnerGrades {
            user,
            items: Vec::new(),
            course_total: None,
            course_max: None,
        });
        w.grade(user, 1, 80.0, 3);
        w.grade(user, 2, 80.0, 3);
    }
    let counts = w.fetch(at(12)).await;
    assert_eq!((counts.learners, counts.changed, counts.ready), (3, 2, 2));
    assert_eq!(w.result(5).unwrap().result, ResultType::Passed);
    assert_eq!(w.result(6).unwrap().result, ResultType::Passed);
    let counts = w.fetch(at(13)).await;
    assert_eq!(counts.changed, 0, "read once");
}

#[tokio::test]
async fn result_levels_limit_what_is_mapped_and_resulted() {
    let w = world(1, settings(false), true).await;
    let task = AssessableId::parse("T1").unwrap();
    let mut offering = w.sis.offering(&t(), &o()).await.unwrap().unwrap();
    offering.assessables.push(Assessable {
        id: task.clone(),
        name: "Task".into(),
        kind: AssessableKind::Task,
        expected_start_date: None,
    });
    w.sis.save_offering(&offering).await.unwrap();
    let set_levels = |levels: Vec<AssessableKind>| {
        let mut all = w.connections.0.lock().unwrap();
        let conn = all.iter_mut().find(|x| x.id == c()).unwrap();
        let ConnectionSettings::Moodle(m) = &mut conn.settings else {
            panic!("moodle")
        };
        m.result_levels = levels;
        conn.clone()
    };
    // Units only: the task is refused by name, the unit is mapped.
    set_levels(vec![AssessableKind::Unit]);
    let err = w
        .results()
        .map(&w.course, &t(), &o(), &c(), &task, &[1], at(2))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ResultsError::Mapping(MappingError::LevelNotAllowed { assessable, kind: "task" })
                if *assessable == task
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "assessable T1 is a task, a level this connection does not map or result (result_levels)"
    );
    assert!(w.results.mappings.lock().unwrap().len() == 1, "only U1");

    // Tasks only now: U1's existing mapping is skipped with a warning.
    let tasks_only = set_levels(vec![AssessableKind::Task]);
    w.grade(101, 1, 80.0, 3);
    w.grade(101, 2, 60.0, 4);
    let stop = AtomicBool::new(false);
    w.results()
        .fetch(&tasks_only, &w.course, None, &run(), &stop, at(10))
        .await
        .unwrap();
    assert!(w.result(0).is_none(), "a unit is not resulted");
    assert!(w.deliveries.0.lock().unwrap().is_empty());
    let log = w.runs.log(&t(), &c(), &run()).await.unwrap();
    assert_eq!(
        warnings(
            &log,
            "the mapping of assessable U1 is a unit, a level this connection does not map or result (result_levels); it is skipped"
        ),
        1,
        "{log:?}"
    );

    // Every level again (the default): the unit is resulted.
    let every = set_levels(MoodleSettings::default().result_levels);
    w.grade(101, 2, 65.0, 11);
    w.results()
        .fetch(&every, &w.course, None, &run(), &stop, at(12))
        .await
        .unwrap();
    assert_eq!(w.result(0).unwrap().result, ResultType::Passed);
}

#[tokio::test]
async fn a_disabled_connection_is_read_only_when_a_person_runs_it() {
    use domain::job::Trigger;
    let w = world(1, settings(false), true).await;
    w.connections
        .0
        .lock()
        .unwrap()
        .iter_mut()
        .filter(|x| x.id == c())
        .for_each(|x| x.enabled = false);
    let stop = AtomicBool::new(false);
    let cases = [
        ("nightly", Trigger::Nightly, false),
        ("auto", Trigger::AutoPush, false),
        ("change", Trigger::Change, false),
        ("manual", Trigger::Manual, true),
    ];
    for (id, trigger, reads) in cases {
        let run = RunId::parse(id).unwrap();
        w.runs
            .start_run(&domain::Run::start(t(), c(), run.clone(), trigger, at(10)))
            .await
            .unwrap();
        let sources = CountingSources::default();
        let counts = w
            .results()
            .fetch_for_run(&sources, &t(), &c(), &run, None, &stop, at(10))
            .await
            .unwrap();
        assert_eq!(sources.0.load(Ordering::Relaxed) == 1, reads, "{id}");
        assert_eq!(counts.is_some(), reads, "{id}");
        let log = w.runs.log(&t(), &c(), &run).await.unwrap();
        assert_eq!(
            log.iter()
                .any(|l| l.message == "Results were not read: the connection is disabled."),
            !reads,
            "{id}: {log:?}"
        );
    }
}

#[tokio::test]
async fn a_download_reads_the_stop_a_person_asked_for_and_stops() {
    use domain::job::Trigger;
    let w = world(2, settings(false), true).await;
    let run = RunId::parse("stopped").unwrap();
    w.runs
        .start_run(&domain::Run::start(
            t(),
            c(),
            run.clone(),
            Trigger::Manual,
            at(10),
        ))
        .await
        .unwrap();
    assert!(w.runs.request_stop(&t(), &c(), &run).await.unwrap());
    let sources = CountingSources::default();
    let counts = w
        .results()
        .fetch_until_stopped(&sources, &t(), &c(), &run, None, tokio::time::sleep, at(10))
        .await
        .unwrap()
        .expect("the run is importing");
    assert!(counts.stopped, "{counts:?}");
    // Not asked: the download runs to its end (the watcher never holds it).
    let run = RunId::parse("whole").unwrap();
    w.runs
        .start_run(&domain::Run::start(
            t(),
            c(),
            run.clone(),
            Trigger::Manual,
            at(11),
        ))
        .await
        .unwrap();
    let counts = w
        .results()
        .fetch_until_stopped(&sources, &t(), &c(), &run, None, tokio::time::sleep, at(11))
        .await
        .unwrap()
        .expect("the run is importing");
    assert!(!counts.stopped, "{counts:?}");
}
