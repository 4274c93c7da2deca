use super::*;
use crate::ids::{LearnerCode, OfferingId, TenantId};
use crate::sis::{EnrolmentState, OfferingStatus};
use chrono::{DateTime, Utc};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn learner_record() -> Learner {
    Learner {
        tenant: TenantId::parse("acme").unwrap(),
        code: LearnerCode::parse("L1").unwrap(),
        username: None,
        given_name: "Ana".into(),
        middle_name: None,
        family_name: "Ruiz".into(),
        email: Some("ana@example.edu".into()),
        date_of_birth: Some(day(2000, 5, 1)),
        archived: false,
        email_opt_out: false,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
    }
}

fn offering_record() -> Offering {
    Offering {
        tenant: TenantId::parse("acme").unwrap(),
        id: OfferingId::parse("OFF-1").unwrap(),
        name: "Forklift".into(),
        start_date: Some(day(2026, 2, 1)),
        end_date: Some(day(2026, 6, 30)),
        status: OfferingStatus::Active,
        auto_push: false,
        must_be_evaluated: false,
        assessables: Vec::new(),
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
    }
}

fn draft(id: &str, name: &str) -> AssessableDraft {
    AssessableDraft {
        id: id.into(),
        name: name.into(),
        kind: AssessableKind::Unit,
        expected_start_date: None,
    }
}

fn unusable(field: &str, message: &str) -> RecordError {
    RecordError::Unusable {
        field: field.into(),
        message: message.into(),
    }
}

#[test]
fn a_learner_born_today_in_the_tenants_zone_is_kept_tomorrow_is_refused() {
    let today = day(2026, 3, 10);
    let mut l = learner_record();
    l.date_of_birth = Some(today);
    assert_eq!(learner(&l, today), Ok(()));
    l.date_of_birth = today.succ_opt();
    assert_eq!(
        learner(&l, today),
        Err(unusable(
            "learners.date_of_birth",
            "the date of birth is in the future"
        ))
    );
    l.date_of_birth = Some(day(1899, 12, 31));
    assert_eq!(
        learner(&l, today),
        Err(unusable(
            "learners.date_of_birth",
            "the date of birth is before 1900-01-01"
        ))
    );
}

#[test]
fn a_learners_email_and_names_are_checked_empty_names_are_kept() {
    let today = day(2026, 3, 10);
    let mut l = learner_record();
    l.given_name = String::new();
    l.email = None;
    assert_eq!(learner(&l, today), Ok(()), "the preview blocks these");
    l.email = Some("ana at example".into());
    assert_eq!(
        learner(&l, today),
        Err(unusable(
            "learners.email",
            "not an email address (name@domain.tld, no spaces)"
        ))
    );
    l.email = None;
    l.family_name = "R".repeat(LEARNER_NAME_MAX + 1);
    let e = learner(&l, today).unwrap_err();
    assert!(matches!(&e, RecordError::Invalid { field, .. } if field == "learners.family_name"));
    l.family_name = "Ru\u{202E}iz".into();
    assert_eq!(
        learner(&l, today),
        Err(RecordError::Invalid {
            field: "learners.family_name".into(),
            message:
                "control and bidirectional formatting characters are not allowed (found U+202E)"
                    .into()
        })
    );
}

#[test]
fn an_offering_needs_a_name_and_an_end_not_before_its_start() {
    let mut o = offering_record();
    assert_eq!(offering(&o), Ok(()));
    o.name = "  ".into();
    assert_eq!(
        offering(&o),
        Err(RecordError::Invalid {
            field: "offerings.name".into(),
            message: "the name must not be empty".into()
        })
    );
    o.name = "Forklift".into();
    o.end_date = Some(day(2026, 1, 31));
    assert_eq!(
        offering(&o),
        Err(unusable(
            "offerings.end_date",
            "the end date is before the start date"
        ))
    );
    o.end_date = Some(day(2200, 1, 1));
    let e = offering(&o).unwrap_err();
    assert_eq!(e.field(), "offerings.end_date");
    assert!(matches!(e, RecordError::Unusable { .. }));
}

#[test]
fn an_assessables_expected_start_is_in_range() {
    let mut o = offering_record();
    o.assessables = assessables(vec![draft("U1", "Unit 1"), draft("U2", "Unit 2")]).unwrap();
    o.assessables[1].expected_start_date = Some(day(1800, 1, 1));
    assert_eq!(
        offering(&o).unwrap_err().field(),
        "offerings.assessables[1].expected_start_date"
    );
}

#[test]
fn assessables_are_sent_once_with_valid_ids_and_at_most_the_limit() {
    assert_eq!(
        assessables(vec![draft("U1", "a"), draft("U1", "b")]),
        Err(unusable(
            "offerings.assessables[1].id",
            "assessable U1 appears more than once"
        ))
    );
    let e = assessables(vec![draft("U 1", "a")]).unwrap_err();
    assert!(
        matches!(&e, RecordError::Invalid { field, .. } if field == "offerings.assessables[0].id")
    );
    let e = assessables(vec![draft("U1", &"n".repeat(OFFERING_NAME_MAX + 1))]).unwrap_err();
    assert_eq!(e.field(), "offerings.assessables[0].name");
    let many = (0..=ASSESSABLES_MAX)
        .map(|i| draft(&format!("U{i}"), "a"))
        .collect();
    assert_eq!(
        assessables(many),
        Err(unusable(
            "offerings.assessables",
            "at most 500 assessables are allowed"
        ))
    );
}

#[test]
fn an_enrolment_does_not_start_after_its_offering_ends() {
    let o = offering_record();
    let mut e = Enrolment {
        tenant: o.tenant.clone(),
        learner: LearnerCode::parse("L1").unwrap(),
        offering: o.id.clone(),
        state: EnrolmentState::NotCalled,
        start_date: Some(day(2026, 6, 30)),
        session_date: None,
        updated_at: DateTime::<Utc>::UNIX_EPOCH,
    };
    assert_eq!(enrolment(&o, &e), Ok(()));
    e.start_date = Some(day(2026, 7, 1));
    assert_eq!(
        enrolment(&o, &e),
        Err(unusable(
            "enrolments.start_date",
            "the enrolment starts after its offering ends"
        ))
    );
    e.start_date = None;
    e.session_date = Some(day(2200, 1, 1));
    assert_eq!(
        enrolment(&o, &e).unwrap_err().field(),
        "enrolments.session_date"
    );
}
