use super::*;

type Case = (
    &'static str,
    ResultRules,
    PriorResult,
    Vec<ActivityOutcome>,
    Result<ResultType, NoResult>,
);

/// The seed's buckets, one row per rule and edge.
#[test]
fn result_rules_table() {
    let hidden = ActivityOutcome {
        hidden: true,
        ..graded(2, 90.0, 50.0, 5)
    };
    let overridden_pass = ActivityOutcome {
        overridden: true,
        ..graded(2, 60.0, 50.0, 6)
    };
    let scale_pass = ActivityOutcome {
        scale: true,
        ..graded(2, 3.0, 2.0, 5)
    };
    let scale_fail = ActivityOutcome {
        scale: true,
        ..graded(2, 1.0, 2.0, 5)
    };
    let scale_no_pass = ActivityOutcome {
        scale: true,
        pass_grade: None,
        ..graded(2, 3.0, 0.0, 5)
    };
    let no_grade = ActivityOutcome {
        cmid: 2,
        ..ActivityOutcome::default()
    };
    let complete_fail_with_pass_grade =
        completed(graded(2, 80.0, 50.0, 5), CompletionState::CompleteFail, 5);
    let complete_fail_no_grade = completed(no_grade, CompletionState::CompleteFail, 5);
    let complete_pass_no_grade = completed(no_grade, CompletionState::CompletePass, 5);
    let no_pass_grade = ActivityOutcome {
        pass_grade: None,
        ..graded(2, 10.0, 0.0, 5)
    };
    use NoResult::*;
    use PriorResult as P;
    use ResultType::*;
    let cases: Vec<Case> = vec![
        (
            "all pass",
            RECORD,
            P::None,
            vec![graded(1, 80.0, 50.0, 3), graded(2, 50.0, 50.0, 4)],
            Ok(Passed),
        ),
        (
            "grade equal to pass grade passes",
            RECORD,
            P::None,
            vec![graded(1, 50.0, 50.0, 3)],
            Ok(Passed),
        ),
        (
            "any below fails",
            RECORD,
            P::None,
            vec![graded(1, 80.0, 50.0, 3), graded(2, 40.0, 50.0, 4)],
            Ok(Failed),
        ),
        (
            "failed is started when failures are not recorded",
            NO_FAIL,
            P::None,
            vec![graded(1, 40.0, 50.0, 3)],
            Ok(Started),
        ),
        (
            "some but not all pass",
            RECORD,
            P::None,
            vec![graded(1, 80.0, 50.0, 3), no_grade],
            Ok(Started),
        ),
        (
            "no grade at all: nothing",
            RECORD,
            P::None,
            vec![no_grade],
            Err(NothingYet),
        ),
        (
            "no activities: nothing",
            RECORD,
            P::None,
            vec![],
            Err(NothingYet),
        ),
        (
            "already completed: nothing",
            RECORD,
            P::Completed,
            vec![graded(1, 80.0, 50.0, 3)],
            Err(AlreadyCompleted),
        ),
        (
            "already started: no new started",
            RECORD,
            P::Started,
            vec![graded(1, 80.0, 50.0, 3), no_grade],
            Err(AlreadyStarted),
        ),
        (
            "already started: passed still comes",
            RECORD,
            P::Started,
            vec![graded(1, 80.0, 50.0, 3)],
            Ok(Passed),
        ),
        (
            "already started, failure not recorded: nothing",
            NO_FAIL,
            P::Started,
            vec![graded(1, 40.0, 50.0, 3)],
            Err(AlreadyStarted),
        ),
        (
            "hidden grade is no grade",
            RECORD,
            P::None,
            vec![graded(1, 80.0, 50.0, 3), hidden],
            Ok(Started),
        ),
        (
            "hidden grade alone: nothing",
            RECORD,
            P::None,
            vec![hidden],
            Err(NothingYet),
        ),
        (
            "overridden grade counts",
            RECORD,
            P::None,
            vec![overridden_pass],
            Ok(Passed),
        ),
        (
            "scale grade at or above pass",
            RECORD,
            P::None,
            vec![scale_pass],
            Ok(Passed),
        ),
        (
            "scale grade below pass",
            RECORD,
            P::None,
            vec![scale_fail],
            Ok(Failed),
        ),
        (
            "scale without pass grade waits for completion",
            RECORD,
            P::None,
            vec![scale_no_pass],
            Err(NothingYet),
        ),
        (
            "scale without pass grade, complete-pass",
            RECORD,
            P::None,
            vec![completed(scale_no_pass, CompletionState::CompletePass, 5)],
            Ok(Passed),
        ),
        (
            "complete-fail (3) fails whatever the grade",
            RECORD,
            P::None,
            vec![complete_fail_with_pass_grade],
            Ok(Failed),
        ),
        (
            "complete-fail (3) without a grade fails",
            RECORD,
            P::None,
            vec![graded(1, 80.0, 50.0, 3), complete_fail_no_grade],
            Ok(Failed),
        ),
        (
            "complete-pass without a grade passes",
            RECORD,
            P::None,
            vec![complete_pass_no_grade],
            Ok(Passed),
        ),
        (
            "no pass grade: any grade passes",
            RECORD,
            P::None,
            vec![no_pass_grade],
            Ok(Passed),
        ),
    ];
    for (name, rules, prior, outcomes, want) in cases {
        let got =
            decide(rules, &assessable(None), Some(date(1)), prior, &outcomes).map(|r| r.result);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn the_result_grade_is_raw_with_its_maximum_summed_over_the_activities() {
    let quiz = ActivityOutcome {
        cmid: 1,
        grade: Some(9.0),
        max_grade: Some(10.0),
        ..ActivityOutcome::default()
    };
    let assign = ActivityOutcome {
        cmid: 2,
        grade: Some(85.0),
        max_grade: Some(100.0),
        ..ActivityOutcome::default()
    };
    assert_eq!(
        result_grade(&[quiz]),
        (Some(9.0), Some(10.0)),
        "one activity: exactly Moodle's grade and maximum"
    );
    assert_eq!(
        result_grade(&[quiz, assign]),
        (Some(94.0), Some(110.0)),
        "points out of points, like Moodle's Natural course total"
    );
    let hidden = ActivityOutcome {
        hidden: true,
        ..assign
    };
    assert_eq!(
        result_grade(&[quiz, hidden]),
        (Some(9.0), Some(10.0)),
        "a hidden grade does not count"
    );
    let scale = ActivityOutcome {
        cmid: 3,
        grade: Some(2.0),
        max_grade: Some(4.0),
        scale: true,
        ..ActivityOutcome::default()
    };
    assert_eq!(result_grade(&[scale]), (None, None), "a scale is no points");
    let no_max = ActivityOutcome {
        cmid: 4,
        grade: Some(7.0),
        ..ActivityOutcome::default()
    };
    assert_eq!(result_grade(&[no_max]), (None, None));
    assert_eq!(result_grade(&[]), (None, None));
    // The retake sample: a quiz graded 3.33333 out of 10, nothing lost.
    let third = ActivityOutcome {
        cmid: 5,
        grade: Some(3.33333),
        max_grade: Some(10.0),
        ..ActivityOutcome::default()
    };
    assert_eq!(result_grade(&[third]), (Some(3.33333), Some(10.0)));
    let tenth = ActivityOutcome {
        cmid: 6,
        grade: Some(0.1),
        max_grade: Some(1.0),
        ..ActivityOutcome::default()
    };
    assert_eq!(
        result_grade(&[tenth, tenth, tenth]),
        (Some(0.3), Some(3.0)),
        "sums are rounded to Moodle's 5 decimals"
    );
}

#[test]
fn a_learner_changed_when_an_item_was_graded_or_submitted_since_the_watermark() {
    let g = LearnerGrades {
        user: 7,
        items: vec![
            ItemGrade {
                cmid: 1,
                grade: Some(80.0),
                graded_at: Some(at(3)),
                ..ItemGrade::default()
            },
            ItemGrade {
                cmid: 2,
                submitted_at: Some(at(6)),
                ..ItemGrade::default()
            },
        ],
        course_total: None,
        course_max: None,
    };
    assert!(g.changed_since(None), "first run: everyone");
    assert!(g.changed_since(Some(at(6))));
    assert!(!g.changed_since(Some(at(7))));
    assert!(!LearnerGrades::default().changed_since(Some(at(1))));
    let o = g.outcome(1, Some(50.0), None);
    assert_eq!(
        (o.grade, o.pass_grade, o.graded_at),
        (Some(80.0), Some(50.0), Some(at(3)))
    );
    assert_eq!(
        g.outcome(9, None, None).grade,
        None,
        "an unknown activity is pending"
    );
}

#[test]
fn finish_date_is_the_latest_graded_date() {
    let r = decide(
        RECORD,
        &assessable(None),
        Some(date(1)),
        PriorResult::None,
        &[graded(1, 80.0, 50.0, 9), graded(2, 70.0, 50.0, 4)],
    )
    .unwrap();
    assert_eq!(r.finish_date, Some(date(9)));
    assert_eq!((r.grade, r.grade_max), (Some(150.0), Some(200.0)));
    let started = decide(
        RECORD,
        &assessable(None),
        Some(date(1)),
        PriorResult::None,
        &[graded(1, 80.0, 50.0, 9), ActivityOutcome::default()],
    )
    .unwrap();
    assert_eq!(started.finish_date, None, "a started result has no finish");
}

#[test]
fn start_date_table() {
    let off = ResultRules {
        record_failed_results: true,
        use_enrolment_start_date: false,
        zone: TenantZone::UTC,
    };
    let one = vec![completed(
        graded(1, 80.0, 50.0, 9),
        CompletionState::Complete,
        8,
    )];
    let two = vec![
        completed(graded(1, 80.0, 50.0, 9), CompletionState::Complete, 7),
        completed(graded(2, 80.0, 50.0, 9), CompletionState::CompletePass, 5),
    ];
    let two_uncompleted = vec![graded(1, 80.0, 50.0, 9), graded(2, 80.0, 50.0, 9)];
    let cases = vec![
        (
            "one mapped, preference on: enrolment start",
            RECORD,
            None,
            one.clone(),
            Some(date(1)),
        ),
        (
            "one mapped, preference off: none",
            off,
            None,
            one.clone(),
            None,
        ),
        (
            "expected start date wins",
            RECORD,
            Some(date(2)),
            one.clone(),
            Some(date(2)),
        ),
        (
            "expected start date wins with many mapped",
            RECORD,
            Some(date(2)),
            two.clone(),
            Some(date(2)),
        ),
        (
            "many mapped: earliest completion",
            RECORD,
            None,
            two.clone(),
            Some(date(5)),
        ),
        (
            "many mapped, preference off: earliest completion",
            off,
            None,
            two,
            Some(date(5)),
        ),
        (
            "many mapped, none completed: enrolment start ignored",
            RECORD,
            None,
            two_uncompleted,
            None,
        ),
    ];
    for (name, rules, expected, outcomes, want) in cases {
        assert_eq!(
            start_date(rules, &assessable(expected), Some(date(1)), &outcomes),
            want,
            "{name}"
        );
    }
}

#[test]
fn course_completion_only_for_active_enrolments_dated_by_the_latest_criterion() {
    let criteria = [
        CriterionStatus {
            complete: true,
            completed_at: Some(at(3)),
        },
        CriterionStatus {
            complete: true,
            completed_at: Some(at(7)),
        },
        CriterionStatus {
            complete: false,
            completed_at: Some(at(9)),
        },
    ];
    assert_eq!(
        course_completion(EnrolmentState::InProgress, true, &criteria),
        Some(at(7))
    );
    assert_eq!(
        course_completion(EnrolmentState::NotCalled, true, &criteria),
        Some(at(7))
    );
    assert_eq!(
        course_completion(EnrolmentState::Completed, true, &criteria),
        None
    );
    assert_eq!(
        course_completion(EnrolmentState::Withdrawn, true, &criteria),
        None
    );
    assert_eq!(
        course_completion(EnrolmentState::InProgress, false, &criteria),
        None
    );
    assert_eq!(
        course_completion(EnrolmentState::InProgress, true, &[]),
        None
    );
}

/// The recorded Sydney site's time, 1796130600: 2 December in Sydney, still
/// 1 December in UTC. A result's and a completion's dates are the tenant's days.
#[test]
fn dates_are_the_tenants_days_not_utcs() {
    let sample = DateTime::<Utc>::from_timestamp(1_796_130_600, 0).unwrap();
    let sydney = TenantZone::parse("Australia/Sydney").unwrap();
    let dec = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
    let outcome = ActivityOutcome {
        cmid: 1,
        grade: Some(80.0),
        max_grade: Some(100.0),
        pass_grade: Some(50.0),
        graded_at: Some(sample),
        completion: Some(ActivityCompletion {
            state: CompletionState::CompletePass,
            completed_at: Some(sample),
        }),
        ..ActivityOutcome::default()
    };
    let two = [outcome, outcome];
    for (zone, day) in [(sydney, dec(2)), (TenantZone::UTC, dec(1))] {
        let rules = ResultRules {
            record_failed_results: true,
            use_enrolment_start_date: false,
            zone,
        };
        let unit = Assessable {
            id: AssessableId::parse("BSBWHS211").unwrap(),
            name: "Unit".into(),
            kind: crate::sis::AssessableKind::Unit,
            expected_start_date: None,
        };
        let r = decide(rules, &unit, None, PriorResult::None, &two).unwrap();
        assert_eq!(
            (r.start_date, r.finish_date),
            (Some(day), Some(day)),
            "{zone}"
        );
        let record = CompletionRecord::new(
            code("L1"),
            OfferingId::parse("S1").unwrap(),
            sample,
            None,
            true,
            true,
            zone,
        );
        assert_eq!(
            (
                record.completed_on,
                record.attendance_date,
                record.evaluation_date
            ),
            (day, Some(day), Some(day)),
            "{zone}"
        );
    }
    // A person's new date keeps the local time of day (00:10 in Sydney),
    // and "the future" is Sydney's tomorrow.
    let mut c = StoredCompletion::new(
        (
            TenantId::parse("acme").unwrap(),
            ConnectionId::parse("moodle").unwrap(),
            OfferingId::parse("S1").unwrap(),
            code("L1"),
        ),
        7,
        sample,
        None,
        true,
        false,
        sample,
    );
    c.adjust(dec(1), sydney, sample).unwrap();
    assert_eq!(c.completed_at, sample - TimeDelta::days(1));
    assert_eq!(c.record(sydney).attendance_date, Some(dec(1)));
    c.adjust(dec(2), sydney, sample).unwrap();
    assert_eq!(
        c.state,
        ReviewState::Ready,
        "today in Sydney is not the future"
    );
    c.adjust(dec(3), sydney, sample).unwrap();
    assert_eq!(c.state, ReviewState::Error, "tomorrow in Sydney is");
}
