use super::*;
use chrono::TimeZone;

fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, m, s).unwrap()
}

/// 09:00 to 12:00, thresholds 15 min each (GEGI's defaults).
fn class() -> ClassSession {
    ClassSession {
        code: "C1".into(),
        start: t(9, 0, 0),
        end: t(12, 0, 0),
    }
}

fn settings() -> CourseKeySettings {
    CourseKeySettings::default()
}

#[test]
fn every_check_in_minute_around_the_start_and_its_threshold() {
    // (check-in, expected) with the check-out on time.
    let table = [
        (t(8, 0, 0), Mark::Present),
        (t(8, 59, 0), Mark::Present),
        (t(8, 59, 59), Mark::Present),
        (t(9, 0, 0), Mark::Present),
        (t(9, 0, 1), Mark::Late),
        (t(9, 1, 0), Mark::Late),
        (t(9, 2, 0), Mark::Late),
        (t(9, 3, 0), Mark::Late),
        (t(9, 4, 0), Mark::Late),
        (t(9, 5, 0), Mark::Late),
        (t(9, 6, 0), Mark::Late),
        (t(9, 7, 0), Mark::Late),
        (t(9, 8, 0), Mark::Late),
        (t(9, 9, 0), Mark::Late),
        (t(9, 10, 0), Mark::Late),
        (t(9, 11, 0), Mark::Late),
        (t(9, 12, 0), Mark::Late),
        (t(9, 13, 0), Mark::Late),
        (t(9, 14, 0), Mark::Late),
        (t(9, 14, 59), Mark::Late),
        (t(9, 15, 0), Mark::Late),
        (t(9, 15, 1), Mark::Absent),
        (t(9, 16, 0), Mark::Absent),
        (t(11, 59, 0), Mark::Absent),
        (t(12, 0, 0), Mark::Absent),
    ];
    for (check_in, expected) in table {
        let got = convert(&class(), Some(check_in), Some(t(12, 0, 0)), &settings()).unwrap();
        assert_eq!(got.mark, expected, "check-in at {check_in}");
    }
}

#[test]
fn every_check_out_minute_around_the_end_and_its_threshold() {
    let table = [
        (t(13, 0, 0), Mark::Present),
        (t(12, 0, 1), Mark::Present),
        (t(12, 0, 0), Mark::Present),
        (t(11, 59, 59), Mark::Late),
        (t(11, 59, 0), Mark::Late),
        (t(11, 58, 0), Mark::Late),
        (t(11, 57, 0), Mark::Late),
        (t(11, 56, 0), Mark::Late),
        (t(11, 55, 0), Mark::Late),
        (t(11, 54, 0), Mark::Late),
        (t(11, 53, 0), Mark::Late),
        (t(11, 52, 0), Mark::Late),
        (t(11, 51, 0), Mark::Late),
        (t(11, 50, 0), Mark::Late),
        (t(11, 49, 0), Mark::Late),
        (t(11, 48, 0), Mark::Late),
        (t(11, 47, 0), Mark::Late),
        (t(11, 46, 0), Mark::Late),
        (t(11, 45, 1), Mark::Late),
        (t(11, 45, 0), Mark::Late),
        (t(11, 44, 59), Mark::Absent),
        (t(11, 44, 0), Mark::Absent),
        (t(9, 0, 0), Mark::Absent),
    ];
    for (check_out, expected) in table {
        let got = convert(&class(), Some(t(8, 55, 0)), Some(check_out), &settings()).unwrap();
        assert_eq!(got.mark, expected, "check-out at {check_out}");
    }
}

#[test]
fn the_worse_side_wins_and_no_check_in_is_absent() {
    let s = settings();
    let late_both = convert(&class(), Some(t(9, 5, 0)), Some(t(11, 55, 0)), &s).unwrap();
    assert_eq!(late_both.mark, Mark::Late);
    let late_then_absent = convert(&class(), Some(t(9, 5, 0)), Some(t(11, 0, 0)), &s).unwrap();
    assert_eq!(late_then_absent.mark, Mark::Absent);
    let none = convert(&class(), None, None, &s).unwrap();
    assert_eq!(
        none,
        Conversion {
            mark: Mark::Absent,
            minutes_attended: 0
        }
    );
    let open = convert(&class(), Some(t(9, 10, 0)), None, &s).unwrap();
    assert_eq!(open.mark, Mark::Late);
    assert_eq!(open.minutes_attended, 170);
}

#[test]
fn a_zero_threshold_makes_any_lateness_an_absence() {
    let s = CourseKeySettings {
        absent_after_start_minutes: 0,
        absent_before_end_minutes: 0,
        ..settings()
    };
    let table = [
        (t(9, 0, 0), t(12, 0, 0), Mark::Present),
        (t(9, 0, 1), t(12, 0, 0), Mark::Absent),
        (t(9, 0, 0), t(11, 59, 59), Mark::Absent),
    ];
    for (i, o, expected) in table {
        assert_eq!(
            convert(&class(), Some(i), Some(o), &s).unwrap().mark,
            expected
        );
    }
}

#[test]
fn minutes_attended_are_clipped_to_the_class() {
    let s = settings();
    let table = [
        (t(8, 0, 0), t(13, 0, 0), 180),
        (t(9, 10, 0), t(11, 50, 0), 160),
        (t(9, 10, 30), t(11, 50, 0), 159),
        (t(11, 0, 0), t(12, 30, 0), 60),
    ];
    for (i, o, minutes) in table {
        let got = convert(&class(), Some(i), Some(o), &s).unwrap();
        assert_eq!(got.minutes_attended, minutes, "{i} to {o}");
    }
}

#[test]
fn inconsistent_times_are_validation_errors() {
    let s = settings();
    let table = [
        (
            class(),
            Some(t(10, 0, 0)),
            Some(t(9, 30, 0)),
            AttendanceError::CheckOutBeforeCheckIn,
        ),
        (
            class(),
            Some(t(12, 0, 1)),
            Some(t(12, 30, 0)),
            AttendanceError::CheckInAfterClass,
        ),
        (
            class(),
            Some(t(7, 0, 0)),
            Some(t(8, 59, 59)),
            AttendanceError::CheckOutBeforeClass,
        ),
        (
            class(),
            None,
            Some(t(12, 0, 0)),
            AttendanceError::CheckOutWithoutCheckIn,
        ),
        (
            ClassSession {
                code: "C2".into(),
                start: t(12, 0, 0),
                end: t(12, 0, 0),
            },
            Some(t(12, 0, 0)),
            None,
            AttendanceError::ClassEndsBeforeStart,
        ),
    ];
    for (class, i, o, expected) in table {
        assert_eq!(
            convert(&class, i, o, &s),
            Err(expected.clone()),
            "{expected}"
        );
    }
}

#[test]
fn absences_edited_in_coursekey_apply_within_the_follow_up_days_only() {
    let s = settings(); // 7 days
    let start = class().start;
    let table = [
        (
            Mark::Absent,
            Mark::Present,
            start + TimeDelta::days(1),
            Adjustment::Apply(Mark::Present),
        ),
        (
            Mark::Absent,
            Mark::Late,
            start + TimeDelta::days(7),
            Adjustment::Apply(Mark::Late),
        ),
        (
            Mark::Absent,
            Mark::Present,
            start + TimeDelta::days(7) + TimeDelta::hours(14) + TimeDelta::minutes(59),
            Adjustment::Apply(Mark::Present),
        ),
        (
            Mark::Absent,
            Mark::Present,
            start + TimeDelta::days(7) + TimeDelta::hours(15),
            Adjustment::TooLate {
                days_after_class: 8,
            },
        ),
        (
            Mark::Absent,
            Mark::Present,
            start + TimeDelta::days(30),
            Adjustment::TooLate {
                days_after_class: 30,
            },
        ),
        (
            Mark::Late,
            Mark::Present,
            start + TimeDelta::days(1),
            Adjustment::NotAnAbsence,
        ),
        (
            Mark::Absent,
            Mark::Absent,
            start + TimeDelta::days(1),
            Adjustment::Unchanged,
        ),
    ];
    for (current, edited, at, expected) in table {
        assert_eq!(
            decide_adjustment(current, edited, &class(), at, &s, TenantZone::UTC),
            expected,
            "{at}"
        );
    }
}

/// The follow-up days are the tenant's calendar days: an evening class in
/// Los Angeles (19:30 PST on 17 November, already the 18th in UTC) edited
/// on the seventh local day after it is followed, and on the eighth local
/// day is not, though in UTC that morning is still the seventh day.
#[test]
fn the_follow_up_window_counts_the_tenants_days() {
    let la = TenantZone::parse("America/Los_Angeles").unwrap();
    let class = ClassSession {
        code: "EVE".into(),
        start: Utc.with_ymd_and_hms(2026, 11, 18, 3, 30, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2026, 11, 18, 6, 0, 0).unwrap(),
    };
    assert_eq!(
        la.date_of(class.start),
        NaiveDate::from_ymd_opt(2026, 11, 17).unwrap()
    );
    let s = settings(); // 7 days
    let edit = |d, h| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
    let table = [
        // 24 November 23:00 PST: the seventh day.
        (edit(25, 7), la, Adjustment::Apply(Mark::Present)),
        // 25 November 09:00 PST: the eighth day in Los Angeles...
        (
            edit(25, 17),
            la,
            Adjustment::TooLate {
                days_after_class: 8,
            },
        ),
        // ...while UTC's calendar would still call it the seventh.
        (
            edit(25, 17),
            TenantZone::UTC,
            Adjustment::Apply(Mark::Present),
        ),
    ];
    for (at, zone, want) in table {
        assert_eq!(
            decide_adjustment(Mark::Absent, Mark::Present, &class, at, &s, zone),
            want,
            "{at} in {zone}"
        );
    }
}

fn ck(send: bool) -> CourseKeyOffering {
    CourseKeyOffering {
        tenant: TenantId::parse("acme").unwrap(),
        offering: OfferingId::parse("OFF1").unwrap(),
        send_to_coursekey: send,
        hours_type: HoursType::Marks,
        instructors: vec!["INS1".into()],
        classes: vec![class()],
        synchronized_at: None,
        last_error: None,
        pushed_fingerprint: None,
        pushed_classes: vec![],
    }
}

fn d(m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, day).unwrap()
}

#[test]
fn the_sync_window_opens_three_weeks_before_and_closes_two_weeks_after() {
    let s = settings();
    let (start, end) = (Some(d(3, 22)), Some(d(4, 30)));
    let table = [
        (d(2, 28), WindowPosition::Before),
        (d(3, 1), WindowPosition::Inside),
        (d(4, 14), WindowPosition::Inside),
        (d(5, 14), WindowPosition::Inside),
        (d(5, 15), WindowPosition::After),
    ];
    for (today, expected) in table {
        assert_eq!(in_window(start, end, today, &s), expected, "{today}");
    }
    assert_eq!(in_window(None, end, d(4, 1), &s), WindowPosition::NoDates);
}

#[test]
fn sync_status_from_flag_window_instructors_classes_and_last_push() {
    let s = settings();
    let (start, end) = (Some(d(3, 22)), Some(d(4, 30)));
    let inside = d(3, 10);
    assert_eq!(
        sync_status(&ck(false), start, end, inside, &s),
        SyncStatus::Disabled
    );
    assert_eq!(
        sync_status(&ck(true), start, end, d(2, 1), &s),
        SyncStatus::Scheduled
    );
    assert_eq!(
        sync_status(&ck(true), start, end, d(6, 1), &s),
        SyncStatus::Disabled
    );
    let mut no_instructor = ck(true);
    no_instructor.instructors.clear();
    assert!(matches!(
        sync_status(&no_instructor, start, end, inside, &s),
        SyncStatus::Failed { reason } if reason.contains("instructor")
    ));
    let mut no_class = ck(true);
    no_class.classes.clear();
    assert!(matches!(
        sync_status(&no_class, start, end, inside, &s),
        SyncStatus::Failed { reason } if reason.contains("class")
    ));
    assert!(matches!(
        sync_status(&ck(true), None, end, inside, &s),
        SyncStatus::Failed { .. }
    ));
    let mut synced = ck(true);
    synced.synchronized_at = Some(t(9, 0, 0));
    assert_eq!(
        sync_status(&synced, start, end, inside, &s),
        SyncStatus::Synchronized
    );
    synced.last_error = Some("CourseKey refused the course".into());
    assert_eq!(
        sync_status(&synced, start, end, inside, &s),
        SyncStatus::Failed {
            reason: "CourseKey refused the course".into()
        }
    );
}

#[test]
fn a_roster_tick_is_due_every_update_every_minutes_and_a_retried_tick_is_not() {
    let last = t(9, 0, 0);
    let table = [
        (None, t(9, 0, 0), 15, true),
        (Some(last), last, 15, false),
        (Some(last), t(9, 14, 59), 15, false),
        (Some(last), t(9, 15, 0), 15, true),
        (Some(last), t(9, 1, 0), 1, true),
        (Some(last), t(9, 0, 59), 1, false),
        (Some(last), t(8, 59, 0), 1, false),
        // 0 is refused by the API; stored anyway, it counts as every minute.
        (Some(last), t(9, 0, 30), 0, false),
        (Some(last), t(9, 1, 0), 0, true),
    ];
    for (last, now, every, due) in table {
        assert_eq!(
            roster_tick_due(last, now, every),
            due,
            "{last:?} {now} {every}"
        );
    }
}

#[test]
fn a_tick_pushes_marked_offerings_inside_their_window_only() {
    let s = settings();
    let (start, end) = (Some(d(3, 22)), Some(d(4, 30)));
    let table = [
        (true, d(2, 28), true, false),
        (true, d(3, 1), true, true),
        (true, d(5, 14), true, true),
        (true, d(5, 15), true, false),
        (false, d(3, 10), true, false),
        (true, d(3, 10), false, false),
    ];
    for (send, today, dated, expected) in table {
        let (a, b) = if dated { (start, end) } else { (None, None) };
        assert_eq!(
            roster_push_due(&ck(send), a, b, today, &s),
            expected,
            "{send} {today} {dated}"
        );
    }
}

#[test]
fn the_roster_fingerprint_changes_with_every_pushed_field_and_not_with_order() {
    let learner = |code: &str, email: &str| crate::sis::Learner {
        tenant: TenantId::parse("acme").unwrap(),
        code: LearnerCode::parse(code).unwrap(),
        username: None,
        given_name: "Ana".into(),
        middle_name: None,
        family_name: "Ruiz".into(),
        email: Some(email.into()),
        date_of_birth: None,
        archived: false,
        email_opt_out: false,
        updated_at: t(9, 0, 0),
    };
    let (l1, l2) = (learner("L1", "a@x"), learner("L2", "b@x"));
    let instructors = vec!["I1".to_owned(), "I2".to_owned()];
    let classes = vec![class()];
    let students = [(&l1, false), (&l2, true)];
    let base = Roster {
        title: "Welding",
        start: d(3, 2),
        end: d(4, 30),
        instructors: &instructors,
        students: &students,
        classes: &classes,
    };
    let fp = roster_fingerprint(&base);
    assert_eq!(fp.len(), 32);
    assert_eq!(fp, roster_fingerprint(&base));
    let swapped = [(&l2, true), (&l1, false)];
    let reordered = vec!["I2".to_owned(), "I1".to_owned()];
    assert_eq!(
        fp,
        roster_fingerprint(&Roster {
            students: &swapped,
            instructors: &reordered,
            ..base
        })
    );
    let l1_moved = learner("L1", "new@x");
    let undropped = [(&l1, false), (&l2, false)];
    let new_email = [(&l1_moved, false), (&l2, true)];
    let one_student = [(&l1, false)];
    let fewer = vec!["I1".to_owned()];
    let mut moved = class();
    moved.start += TimeDelta::hours(1);
    let moved = vec![moved];
    let changed = [
        Roster {
            title: "Welding 2",
            ..base
        },
        Roster {
            start: d(3, 3),
            ..base
        },
        Roster {
            end: d(5, 1),
            ..base
        },
        Roster {
            instructors: &fewer,
            ..base
        },
        Roster {
            students: &undropped,
            ..base
        },
        Roster {
            students: &new_email,
            ..base
        },
        Roster {
            students: &one_student,
            ..base
        },
        Roster {
            classes: &moved,
            ..base
        },
        Roster {
            classes: &[],
            ..base
        },
    ];
    for (i, roster) in changed.iter().enumerate() {
        assert_ne!(roster_fingerprint(roster), fp, "change {i}");
    }
}

#[test]
fn a_new_programme_offering_inherits_the_course_flag_or_the_new_courses_setting() {
    let pc = ProgrammeCourse::parse("NURSING", "ANAT-101").unwrap();
    let on = CourseKeySettings {
        send_new_program_courses: true,
        ..settings()
    };
    let off = settings();
    let table = [
        // (in a programme, the course's flag, the setting on, expected)
        (false, None, false, false),
        (false, None, true, false),
        (false, Some(true), true, false),
        (true, Some(true), false, true),
        (true, Some(false), true, false),
        (true, Some(true), true, true),
        (true, None, false, false),
        (true, None, true, true),
    ];
    for (in_programme, flag, setting, expected) in table {
        let s = if setting { &on } else { &off };
        assert_eq!(
            programme_send_default(in_programme.then_some(&pc), flag, s),
            expected,
            "{in_programme} {flag:?} {setting}"
        );
    }
    assert_eq!(
        ProgrammeCourse::parse("P#1", "C").unwrap_err().field(),
        "programme"
    );
    assert_eq!(
        ProgrammeCourse::parse("P", "").unwrap_err().field(),
        "course"
    );
}

mod invariants {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arriving later or leaving earlier never gives a better mark, and the
        /// minutes attended never exceed the class.
        #[test]
        fn later_in_or_earlier_out_is_never_better(
            a in -3_600i64..14_400, b in -3_600i64..14_400,
            out in 0i64..14_400, threshold in 0u32..60,
        ) {
            let s = CourseKeySettings {
                absent_after_start_minutes: threshold,
                absent_before_end_minutes: threshold,
                ..CourseKeySettings::default()
            };
            let (early, late) = (a.min(b), a.max(b));
            let at = |secs: i64| class().start + TimeDelta::seconds(secs);
            let out = at(out.max(late));
            if let (Ok(x), Ok(y)) = (
                convert(&class(), Some(at(early)), Some(out), &s),
                convert(&class(), Some(at(late)), Some(out), &s),
            ) {
                prop_assert!(x.mark <= y.mark);
                prop_assert!(x.minutes_attended >= y.minutes_attended);
                prop_assert!(x.minutes_attended <= 180);
            }
        }
    }
}

#[test]
fn send_to_coursekey_cannot_be_unmarked_once_synchronized() {
    let mut never = ck(true);
    assert_eq!(never.set_send(false), Ok(()));
    assert!(!never.send_to_coursekey);
    let mut synced = ck(true);
    synced.synchronized_at = Some(t(9, 0, 0));
    assert_eq!(
        synced.set_send(false),
        Err(SendFlagError::AlreadySynchronized)
    );
    assert!(synced.send_to_coursekey);
    assert_eq!(synced.set_send(true), Ok(()));
}
