//! Course completions: read, reviewed, delivered, and the Smartosh unenrolment.

use super::*;

#[tokio::test]
async fn smartosh_without_review_records_attendance_and_evaluation_then_unenrols() {
    let s = MoodleSettings {
        course_completions: true,
        unenrol_after_completion: true,
        ..settings(false)
    };
    let w = world(2, s, true).await;
    w.grade(101, 1, 80.0, 3);
    w.course.grades.lock().unwrap()[0].course_total = Some(8.5);
    w.grade(102, 1, 30.0, 3);
    complete_course(&w, 101, &[4, 6]);
    w.course.completion.lock().unwrap().insert(
        101,
        vec![(
            2,
            ActivityCompletion {
                state: CompletionState::CompletePass,
                completed_at: Some(at(5)),
            },
        )],
    );
    let counts = w.fetch(at(10)).await;
    assert_eq!((counts.completions, counts.unenrolled), (1, 1));
    assert_eq!(*w.course.unenrolled.lock().unwrap(), vec![101]);
    assert_eq!(enrolment_state(&w, 0).await, EnrolmentState::Completed);
    let completion = completion_delivery(&w).unwrap();
    assert_eq!(completion.payload["attendance_date"], "2026-03-06");
    assert_eq!(completion.payload["attended"], true);
    assert_eq!(completion.payload["evaluation_grade"], 8.5);
    // The result was read and saved before the unenrolment.
    assert_eq!(w.result(0).unwrap().result, ResultType::Passed);
    assert_eq!(
        w.result(0).unwrap().start_date,
        NaiveDate::from_ymd_opt(2026, 3, 5)
    );
    let events = w.course.events.lock().unwrap().clone();
    let read = events.iter().position(|e| e == "read 101").unwrap();
    let unenrol = events.iter().position(|e| e == "unenrol 101").unwrap();
    assert!(read < unenrol, "{events:?}");
    // A completed enrolment is not completed (or unenrolled) again.
    w.grade(101, 1, 90.0, 11);
    let counts = w.fetch(at(12)).await;
    assert_eq!((counts.completions, counts.unenrolled), (0, 0));
}

#[tokio::test]
async fn with_review_a_completion_waits_and_the_learner_keeps_moodle_until_it_is_processed() {
    let s = MoodleSettings {
        course_completions: true,
        unenrol_after_completion: true,
        ..settings(true)
    };
    let w = world(2, s, true).await;
    w.grade(101, 1, 80.0, 3);
    w.course.grades.lock().unwrap()[0].course_total = Some(8.5);
    complete_course(&w, 101, &[4, 6]);
    let counts = w.fetch(at(10)).await;
    assert_eq!((counts.completions, counts.unenrolled), (1, 0));
    assert!(completion_delivery(&w).is_none(), "waits for review");
    assert!(w.course.unenrolled.lock().unwrap().is_empty());
    assert_eq!(enrolment_state(&w, 0).await, EnrolmentState::InProgress);
    let listed = w
        .results()
        .list_completions(&t(), &c(), ReviewState::Ready, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].learner.as_str(), listed[0].completed_at),
        ("L0", at(6))
    );

    // A re-run finds the same completion and changes nothing.
    let counts = w.fetch(at(11)).await;
    assert_eq!((counts.completions, counts.unenrolled), (0, 0));

    // A person moves the date, then processes all.
    let adjusted = w
        .results()
        .adjust_completion(
            &t(),
            &o(),
            &code(0),
            NaiveDate::from_ymd_opt(2026, 3, 7).unwrap(),
            at(12),
        )
        .await
        .unwrap();
    assert_eq!(adjusted.state, ReviewState::Ready);
    let done = w.results().process_all(&t(), &c(), at(12)).await.unwrap();
    assert_eq!(done.completions, 1);
    let delivery = completion_delivery(&w).unwrap();
    assert_eq!(delivery.payload["attendance_date"], "2026-03-07");
    assert_eq!(delivery.payload["evaluation_grade"], 8.5);
    assert_eq!(enrolment_state(&w, 0).await, EnrolmentState::Completed);
    assert!(
        w.course.unenrolled.lock().unwrap().is_empty(),
        "the API does not call Moodle"
    );
    assert!(matches!(
        w.results()
            .adjust_completion(
                &t(),
                &o(),
                &code(0),
                NaiveDate::from_ymd_opt(2026, 3, 8).unwrap(),
                at(12)
            )
            .await,
        Err(ResultsError::Review(ReviewError::AlreadySaved))
    ));

    // The next download reads the learner (nothing changed in Moodle), then unenrols.
    w.course.events.lock().unwrap().clear();
    let counts = w.fetch(at(13)).await;
    assert_eq!((counts.changed, counts.unenrolled), (1, 1));
    assert_eq!(
        *w.course.events.lock().unwrap(),
        vec!["read 101".to_owned(), "unenrol 101".to_owned()]
    );
    let stored = w
        .results
        .completion(&t(), &o(), &code(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.unenrolled_at, Some(at(13)));
    let counts = w.fetch(at(14)).await;
    assert_eq!((counts.changed, counts.unenrolled), (0, 0));
}

#[tokio::test]
async fn a_failed_unenrolment_keeps_the_approved_completion_and_is_tried_next_run() {
    let s = MoodleSettings {
        course_completions: true,
        unenrol_after_completion: true,
        ..settings(false)
    };
    let w = world(1, s, true).await;
    w.grade(101, 1, 80.0, 3);
    complete_course(&w, 101, &[6]);
    w.course.failing_unenrol.store(true, Ordering::Relaxed);
    let counts = w.fetch(at(10)).await;
    assert_eq!(
        (counts.completions, counts.unenrolled, counts.failures),
        (1, 0, 1)
    );
    assert!(completion_delivery(&w).is_some(), "the completion is kept");
    let stored = w
        .results
        .completion(&t(), &o(), &code(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.state, stored.unenrolled_at),
        (ReviewState::Done, None)
    );
    w.course.failing_unenrol.store(false, Ordering::Relaxed);
    let counts = w.fetch(at(11)).await;
    assert_eq!((counts.unenrolled, counts.failures), (1, 0));
    assert_eq!(
        w.deliveries.0.lock().unwrap().len(),
        2,
        "one result, one completion"
    );
}

#[tokio::test]
async fn a_completion_without_a_grade_change_is_seen_from_the_course_access() {
    let s = MoodleSettings {
        course_completions: true,
        ..settings(false)
    };
    let w = world(3, s, true).await;
    w.grade(101, 1, 80.0, 3); // started, graded long ago
    let counts = w.fetch(at(10)).await;
    assert_eq!(counts.changed, 3);
    // L0 opens the course and completes the assignment (marked done, no
    // grade); Moodle's cron marks the course complete. No grade changed.
    w.course.completion.lock().unwrap().insert(
        101,
        vec![
            (
                1,
                ActivityCompletion {
                    state: CompletionState::Complete,
                    completed_at: Some(at(3)),
                },
            ),
            (
                2,
                ActivityCompletion {
                    state: CompletionState::CompletePass,
                    completed_at: Some(at(11)),
                },
            ),
        ],
    );
    w.course.participants.lock().unwrap()[0].last_access = Some(at(11));
    complete_course(&w, 101, &[11]);
    let before = w.course.completion_calls.load(Ordering::Relaxed);
    let counts = w.fetch(at(12)).await;
    assert_eq!(
        (counts.changed, counts.completions),
        (1, 1),
        "only the learner who accessed the course"
    );
    assert_eq!(
        w.course.completion_calls.load(Ordering::Relaxed),
        before + 1
    );
    assert_eq!(w.result(0).unwrap().result, ResultType::Passed);
    assert_eq!(enrolment_state(&w, 0).await, EnrolmentState::Completed);
}

#[tokio::test]
async fn a_passed_learner_is_read_again_until_moodle_marks_the_course_complete() {
    let s = MoodleSettings {
        course_completions: true,
        review_before_saving: false,
        ..settings(true)
    };
    let w = world(2, s, true).await;
    w.grade(101, 1, 80.0, 3);
    w.grade(101, 2, 60.0, 4);
    let counts = w.fetch(at(10)).await;
    assert_eq!(
        (counts.saved, counts.completions),
        (1, 0),
        "Moodle's cron has not run"
    );
    assert_eq!(w.result(0).unwrap().state, ReviewState::Done);

    // Nothing graded since: only the passed learner is read again, and the
    // completion Moodle's cron marked in between is recorded.
    w.course.course_completion.lock().unwrap().insert(
        101,
        CourseCompletionRead {
            untracked: false,
            completed: true,
            criteria: vec![CriterionStatus {
                complete: true,
                completed_at: Some(at(11)),
            }],
        },
    );
    let counts = w.fetch(at(12)).await;
    assert_eq!((counts.changed, counts.completions), (1, 1));
    let e = w
        .sis
        .enrolment(&t(), &o(), &code(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.state, EnrolmentState::Completed);

    // Completed: nobody is read again.
    let counts = w.fetch(at(13)).await;
    assert_eq!(counts.changed, 0);
}

#[tokio::test]
async fn a_course_without_completion_criteria_yields_no_completion_and_one_warning_per_run() {
    let s = MoodleSettings {
        course_completions: true,
        ..settings(false)
    };
    let w = world(3, s, true).await;
    w.course.no_criteria.store(true, Ordering::Relaxed);
    for user in [101, 102, 103] {
        w.grade(user, 1, 80.0, 3);
        w.grade(user, 2, 60.0, 4);
    }
    w.course.grades.lock().unwrap()[0].course_total = Some(8.0);
    let counts = w.fetch(at(10)).await;
    // Learned once per course and run: the first `nocriteriaset` answer stops
    // the course completion reads of the others (no call known to fail).
    assert_eq!(w.course.course_completion_calls.load(Ordering::Relaxed), 1);
    assert_eq!(w.course.completion_calls.load(Ordering::Relaxed), 3);
    assert_eq!((counts.completions, counts.failures), (0, 0));
    assert!(completion_delivery(&w).is_none(), "never a completion");
    assert!(w.results.completions.lock().unwrap().is_empty());
    // The mapped results are still read and saved: the learners did not fail.
    assert_eq!(w.result(0).unwrap().result, ResultType::Passed);
    let log = w.runs.log(&t(), &c(), &run()).await.unwrap();
    let says = "Course 77 (offering OFF-1) has no completion criteria in Moodle";
    assert_eq!(warnings(&log, says), 1, "{log:?}");
    assert_eq!(warnings(&log, "could not be read"), 0, "{log:?}");

    // The next run says it once again (once per run), still no completion.
    w.grade(101, 1, 90.0, 11);
    w.grade(102, 1, 90.0, 11);
    let before = w.course.course_completion_calls.load(Ordering::Relaxed);
    w.fetch(at(12)).await;
    assert_eq!(
        w.course.course_completion_calls.load(Ordering::Relaxed) - before,
        1,
        "learned again in the next run, once"
    );
    let log = w.runs.log(&t(), &c(), &run()).await.unwrap();
    assert_eq!(warnings(&log, says), 2, "{log:?}");
    assert!(completion_delivery(&w).is_none());

    // Criteria set up in Moodle: the completion is read as usual.
    w.course.no_criteria.store(false, Ordering::Relaxed);
    complete_course(&w, 101, &[13]);
    w.grade(101, 1, 95.0, 13);
    let counts = w.fetch(at(14)).await;
    assert_eq!(counts.completions, 1);
    assert!(completion_delivery(&w).is_some());
}

#[tokio::test]
async fn a_completion_delivery_names_the_moodle_course_and_the_users_idnumber() {
    let s = MoodleSettings {
        course_completions: true,
        ..settings(true)
    };
    let w = world(2, s, true).await;
    // Identified by the stored account; Moodle's idnumber is Coachview's externid.
    w.course.participants.lock().unwrap()[0].idnumber = " CV-9001 ".into();
    w.course.participants.lock().unwrap()[1].idnumber = String::new();
    for user in [101, 102] {
        w.grade(user, 1, 80.0, 3);
    }
    w.course.grades.lock().unwrap()[0].course_total = Some(8.5);
    complete_course(&w, 101, &[4, 6]);
    complete_course(&w, 102, &[5]);
    let counts = w.fetch(at(10)).await;
    assert_eq!(counts.completions, 2);
    // Reviewed first: the stored completion keeps the course and idnumber.
    w.results()
        .process_completion(&t(), &o(), &code(0), at(11))
        .await
        .unwrap();
    let d = completion_delivery(&w).unwrap();
    assert_eq!(d.learner, code(0));
    assert_eq!(d.payload["course_id"], 77);
    assert_eq!(d.payload["external_id"], "CV-9001");
    assert_eq!(d.payload["grade"], 8.5, "the course total (CV-01)");
    assert_eq!(
        d.payload["completed_at"], "2026-03-06T09:00:00Z",
        "the latest criterion (CV-06)"
    );
    w.results()
        .process_completion(&t(), &o(), &code(1), at(11))
        .await
        .unwrap();
    let second = w
        .deliveries
        .0
        .lock()
        .unwrap()
        .values()
        .find(|d| d.kind == DeliveryKind::Completion && d.learner == code(1))
        .cloned()
        .unwrap();
    assert_eq!(second.payload["course_id"], 77);
    assert!(
        second.payload.get("external_id").is_none(),
        "no idnumber: Coachview gets the learner code"
    );
}
