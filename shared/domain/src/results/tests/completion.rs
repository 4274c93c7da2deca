use super::*;

#[test]
fn a_completion_record_names_the_moodle_course_and_idnumber() {
    let mut c = StoredCompletion::new(
        (
            TenantId::parse("acme").unwrap(),
            ConnectionId::parse("moodle").unwrap(),
            OfferingId::parse("OPL-7").unwrap(),
            LearnerCode::parse("1001").unwrap(),
        ),
        42,
        at(7),
        Some(7.5),
        false,
        false,
        at(8),
    );
    let plain = serde_json::to_value(c.record(TenantZone::UTC)).unwrap();
    assert!(plain.get("course_id").is_none() && plain.get("external_id").is_none());
    c.course_id = Some(31);
    c.idnumber = Some(" CV-1001 ".to_owned());
    let r = serde_json::to_value(c.record(TenantZone::UTC)).unwrap();
    assert_eq!(
        (r["course_id"].clone(), r["external_id"].clone()),
        (serde_json::json!(31), serde_json::json!("CV-1001"))
    );
    c.idnumber = Some("  ".to_owned());
    assert_eq!(
        c.record(TenantZone::UTC).external_id,
        None,
        "an empty idnumber names nobody"
    );
    // Stored before the fields existed: read back without them.
    let mut old = serde_json::to_value(&c).unwrap();
    old.as_object_mut()
        .unwrap()
        .retain(|k, _| k != "course_id" && k != "idnumber");
    let back: StoredCompletion = serde_json::from_value(old).unwrap();
    assert_eq!((back.course_id, back.idnumber), (None, None));
}

#[test]
fn a_completion_grade_updates_until_processed_then_first_wins() {
    let mut c = StoredCompletion::new(
        (
            TenantId::parse("acme").unwrap(),
            ConnectionId::parse("moodle").unwrap(),
            OfferingId::parse("S1").unwrap(),
            LearnerCode::parse("L1").unwrap(),
        ),
        7,
        at(3),
        Some(3.33333),
        false,
        false,
        at(3),
    );
    c.grade_max = Some(10.0);
    assert!(!c.regrade(Some(3.33333), Some(10.0), at(4)), "same total");
    assert!(!c.regrade(None, None, at(4)), "a total that is gone");
    assert!(c.regrade(Some(10.0), Some(10.0), at(4)), "a retake");
    assert_eq!((c.grade, c.later_grade.as_ref()), (Some(10.0), None));
    c.approve(at(5)).unwrap();
    let record = serde_json::to_value(c.record(TenantZone::UTC)).unwrap();
    assert_eq!(
        (&record["grade"], &record["grade_max"]),
        (&serde_json::json!(10.0), &serde_json::json!(10.0)),
        "a completion's grade is stated like a result's"
    );
    assert!(c.regrade(Some(8.0), Some(10.0), at(6)));
    assert_eq!(c.grade, Some(10.0), "the SMS's grade is kept");
    assert_eq!(
        c.later_grade,
        Some(LaterGrade {
            grade: Some(8.0),
            grade_max: Some(10.0),
            seen_at: at(6)
        })
    );
    assert!(!c.regrade(Some(8.0), Some(10.0), at(7)), "seen already");
    assert_eq!(c.record(TenantZone::UTC).grade, Some(10.0), "never sent");
}

#[test]
fn completion_record_smartosh_adds_attendance_and_evaluation() {
    let l = LearnerCode::parse("L1").unwrap();
    let o = OfferingId::parse("S1").unwrap();
    let plain = CompletionRecord::new(
        l.clone(),
        o.clone(),
        at(7),
        Some(8.0),
        false,
        true,
        TenantZone::UTC,
    );
    assert_eq!((plain.attendance_date, plain.evaluation_date), (None, None));
    assert!(!plain.attended);
    assert!(
        serde_json::to_value(&plain)
            .unwrap()
            .get("attended")
            .is_none(),
        "only Smartosh's records say attended"
    );
    let sm = CompletionRecord::new(
        l.clone(),
        o.clone(),
        at(7),
        Some(8.0),
        true,
        false,
        TenantZone::UTC,
    );
    assert_eq!(
        (sm.attendance_date, sm.evaluation_date),
        (Some(date(7)), None)
    );
    assert!(sm.attended, "the learner is marked attended");
    assert_eq!(serde_json::to_value(&sm).unwrap()["attended"], true);
    let ev = CompletionRecord::new(l, o, at(7), Some(8.0), true, true, TenantZone::UTC);
    assert_eq!(
        (ev.evaluation_date, ev.evaluation_grade),
        (Some(date(7)), Some(8.0))
    );
}

#[test]
fn a_completion_is_reviewed_adjusted_approved_then_unenrolled() {
    let mut c = StoredCompletion::new(
        (
            TenantId::parse("acme").unwrap(),
            ConnectionId::parse("moodle").unwrap(),
            OfferingId::parse("S1").unwrap(),
            code("L1"),
        ),
        7,
        at(6),
        Some(8.0),
        true,
        true,
        at(8),
    );
    assert_eq!(c.state, ReviewState::Ready);
    assert!(!c.unenrol_pending(), "not before approval");
    c.adjust(
        NaiveDate::from_ymd_opt(2026, 3, 20).unwrap(),
        TenantZone::UTC,
        at(8),
    )
    .unwrap();
    assert_eq!(c.state, ReviewState::Error, "a future date");
    c.adjust(
        NaiveDate::from_ymd_opt(2026, 3, 5).unwrap(),
        TenantZone::UTC,
        at(8),
    )
    .unwrap();
    assert_eq!((c.state, c.completed_at), (ReviewState::Ready, at(5)));
    let record = c.record(TenantZone::UTC);
    assert_eq!(
        (record.attendance_date, record.evaluation_grade),
        (NaiveDate::from_ymd_opt(2026, 3, 5), Some(8.0))
    );
    c.approve(at(9)).unwrap();
    assert!(c.unenrol_pending());
    assert_eq!(c.approve(at(9)), Err(ReviewError::AlreadySaved));
    assert_eq!(
        c.adjust(
            NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(),
            TenantZone::UTC,
            at(9)
        ),
        Err(ReviewError::AlreadySaved)
    );
    c.unenrolled_at = Some(at(10));
    assert!(!c.unenrol_pending());
}
