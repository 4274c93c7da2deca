use super::*;

#[test]
fn review_states_ready_error_done_and_adjustments() {
    let ready = StoredResult::new(
        key(),
        ProposedResult {
            result: ResultType::Passed,
            start_date: Some(date(1)),
            finish_date: Some(date(3)),
            grade: Some(80.0),
            grade_max: Some(100.0),
        },
        at(4),
    );
    assert_eq!(ready.state, ReviewState::Ready);
    let mut no_start = StoredResult::new(
        key(),
        ProposedResult {
            result: ResultType::Passed,
            start_date: None,
            finish_date: Some(date(3)),
            grade: None,
            grade_max: None,
        },
        at(4),
    );
    assert_eq!(no_start.state, ReviewState::Error);
    assert!(no_start.error.as_deref().unwrap().contains("no start date"));
    assert!(matches!(
        no_start.approve(at(5)),
        Err(ReviewError::NotReady { .. })
    ));
    // A person sets the start date: ready again.
    no_start
        .adjust(
            &Adjustment {
                start_date: Some(date(2)),
                ..Adjustment::default()
            },
            at(5),
        )
        .unwrap();
    assert_eq!(no_start.state, ReviewState::Ready);
    // A finish before the start is an error.
    no_start
        .adjust(
            &Adjustment {
                finish_date: Some(date(1)),
                ..Adjustment::default()
            },
            at(5),
        )
        .unwrap();
    assert_eq!(no_start.state, ReviewState::Error);
    // Changing the type to started drops the finish date.
    no_start
        .adjust(
            &Adjustment {
                result: Some(ResultType::Started),
                ..Adjustment::default()
            },
            at(5),
        )
        .unwrap();
    assert_eq!(
        (no_start.state, no_start.finish_date),
        (ReviewState::Ready, None)
    );
    no_start.approve(at(6)).unwrap();
    assert_eq!(no_start.state, ReviewState::Done);
    assert_eq!(no_start.approve(at(6)), Err(ReviewError::AlreadySaved));
    assert_eq!(
        no_start.adjust(&Adjustment::default(), at(6)),
        Err(ReviewError::AlreadySaved)
    );
    assert_eq!(ReviewState::parse("ready"), Some(ReviewState::Ready));
    assert_eq!(ReviewState::parse("x"), None);
    assert_eq!(ready.payload()["result"], "passed");
}

fn proposal(result: ResultType, grade: f64, finish: Option<u32>) -> ProposedResult {
    ProposedResult {
        result,
        start_date: Some(date(1)),
        finish_date: finish.map(date),
        grade: Some(grade),
        grade_max: Some(10.0),
    }
}

fn proposed(p: Progress) -> StoredResult {
    match p {
        Progress::Propose(r) => r,
        other => panic!("expected a proposal, got {other:?}"),
    }
}

#[test]
fn started_is_not_completed_a_saved_started_is_followed_by_the_pass() {
    use ResultType::*;
    let mut started = proposed(progress(
        None,
        key(),
        proposal(Started, 5.0, None),
        false,
        at(2),
    ));
    assert_eq!(
        progress(
            Some(&started),
            key(),
            proposal(Started, 6.0, None),
            true,
            at(3)
        ),
        Progress::Propose(StoredResult {
            grade: Some(6.0),
            updated_at: at(3),
            history: vec![PastResult {
                result: Started,
                start_date: Some(date(1)),
                finish_date: None,
                grade: Some(5.0),
                grade_max: Some(10.0),
                delivered: false,
                replaced_at: at(3),
            }],
            ..started.clone()
        }),
        "an unprocessed started takes the newer grade"
    );
    started.approve(at(3)).unwrap();
    assert_eq!(
        progress(
            Some(&started),
            key(),
            proposal(Started, 6.0, None),
            true,
            at(4)
        ),
        Progress::Unchanged,
        "units/tasks will not be started if they are already started"
    );
    let passed = proposed(progress(
        Some(&started),
        key(),
        proposal(Passed, 10.0, Some(5)),
        true,
        at(5),
    ));
    assert_eq!(
        (passed.result, passed.state, passed.grade),
        (Passed, ReviewState::Ready, Some(10.0))
    );
    assert_eq!(passed.history.len(), 1);
    assert!(
        passed.history[0].delivered,
        "the saved started is in the history"
    );
}

#[test]
fn first_final_result_wins_a_later_attempt_is_recorded_never_proposed() {
    use ResultType::*;
    let mut failed = proposed(progress(
        None,
        key(),
        proposal(Failed, 3.33333, Some(3)),
        false,
        at(3),
    ));
    failed.approve(at(4)).unwrap();
    assert_eq!(
        progress(
            Some(&failed),
            key(),
            proposal(Failed, 3.33333, Some(3)),
            true,
            at(5)
        ),
        Progress::Unchanged,
        "results will not show for units/tasks already completed"
    );
    assert_eq!(
        progress(
            Some(&failed),
            key(),
            proposal(Started, 5.0, None),
            true,
            at(5)
        ),
        Progress::Unchanged
    );
    let Progress::LaterAttempt(recorded) = progress(
        Some(&failed),
        key(),
        proposal(Passed, 10.0, Some(6)),
        true,
        at(6),
    ) else {
        panic!("a later attempt")
    };
    assert_eq!(recorded.state, ReviewState::Done, "still the saved one");
    assert_eq!(
        (recorded.result, recorded.grade),
        (Failed, Some(3.33333)),
        "the SMS's value is kept"
    );
    assert_eq!(
        recorded.later,
        Some(LaterAttempt {
            result: Passed,
            finish_date: Some(date(6)),
            grade: Some(10.0),
            grade_max: Some(10.0),
            seen_at: at(6),
        })
    );
    assert_eq!(
        progress(
            Some(&recorded),
            key(),
            proposal(Passed, 10.0, Some(6)),
            true,
            at(7)
        ),
        Progress::Unchanged,
        "the same later attempt again changes nothing"
    );
    assert!(matches!(
        progress(Some(&recorded), key(), proposal(Passed, 9.0, Some(8)), true, at(8)),
        Progress::LaterAttempt(r) if r.later.as_ref().and_then(|l| l.grade) == Some(9.0)
    ));
}

#[test]
fn a_processed_final_result_not_yet_delivered_takes_the_retake() {
    use ResultType::*;
    let mut failed = proposed(progress(
        None,
        key(),
        proposal(Failed, 3.33333, Some(3)),
        false,
        at(3),
    ));
    failed.approve(at(3)).unwrap();
    let Progress::Redeliver(passed) = progress(
        Some(&failed),
        key(),
        proposal(Passed, 10.0, Some(4)),
        false,
        at(4),
    ) else {
        panic!("the waiting delivery carries the pass")
    };
    assert_eq!(
        (passed.result, passed.grade, passed.state),
        (Passed, Some(10.0), ReviewState::Done)
    );
    assert_eq!(passed.history.len(), 1);
    assert!(!passed.history[0].delivered);
    assert_eq!(passed.later, None);
}

#[test]
fn a_retake_before_anything_final_was_saved_updates_the_proposal() {
    use ResultType::*;
    // The samples: the quiz graded 3.33333 / 10 (completion state 3,
    // complete-fail), retaken to 10 / 10 (state 2) later that day.
    let first = ActivityOutcome {
        cmid: 1,
        grade: Some(3.33333),
        max_grade: Some(10.0),
        pass_grade: Some(5.0),
        graded_at: Some(at(3)),
        completion: Some(ActivityCompletion {
            state: CompletionState::CompleteFail,
            completed_at: Some(at(3)),
        }),
        ..ActivityOutcome::default()
    };
    let retake = ActivityOutcome {
        grade: Some(10.0),
        graded_at: Some(at(4)),
        completion: Some(ActivityCompletion {
            state: CompletionState::CompletePass,
            completed_at: Some(at(4)),
        }),
        ..first
    };
    let rules = ResultRules {
        record_failed_results: true,
        use_enrolment_start_date: true,
        zone: TenantZone::UTC,
    };
    let a = assessable(None);
    let failed = decide(rules, &a, Some(date(1)), PriorResult::None, &[first]).unwrap();
    assert_eq!(
        (failed.result, failed.grade, failed.grade_max),
        (Failed, Some(3.33333), Some(10.0))
    );
    let stored = proposed(progress(None, key(), failed, false, at(3)));
    assert_eq!(stored.state, ReviewState::Ready);
    let passed = decide(rules, &a, Some(date(1)), PriorResult::None, &[retake]).unwrap();
    let replaced = proposed(progress(Some(&stored), key(), passed, false, at(4)));
    assert_eq!(
        (
            replaced.result,
            replaced.grade,
            replaced.finish_date,
            replaced.state
        ),
        (Passed, Some(10.0), Some(date(4)), ReviewState::Ready),
        "the failed nobody processed is replaced by the pass"
    );
    assert_eq!(
        replaced.history,
        vec![PastResult {
            result: Failed,
            start_date: Some(date(1)),
            finish_date: Some(date(3)),
            grade: Some(3.33333),
            grade_max: Some(10.0),
            delivered: false,
            replaced_at: at(4),
        }],
        "and shown in its history"
    );
    assert_eq!(replaced.payload()["grade"], 10.0);
    assert_eq!(replaced.payload()["grade_max"], 10.0);
    // A person's start date survives the same proposal read again.
    let mut adjusted = replaced.clone();
    adjusted
        .adjust(
            &Adjustment {
                start_date: Some(date(2)),
                ..Adjustment::default()
            },
            at(5),
        )
        .unwrap();
    let again = decide(rules, &a, Some(date(1)), PriorResult::None, &[retake]).unwrap();
    assert_eq!(
        progress(Some(&adjusted), key(), again, false, at(6)),
        Progress::Unchanged
    );
}
