//! The results rules' unit tests, by subject, and the helpers they share.

use super::*;
use crate::ids::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use crate::sis::{Assessable, AssessableKind, EnrolmentState};
use crate::zone::TenantZone;
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};

mod completion;
mod identify;
mod mapping;
mod read;
mod review;
mod rules;

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 10, 0, 0).unwrap()
}

fn date(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
}

fn code(c: &str) -> LearnerCode {
    LearnerCode::parse(c).unwrap()
}

fn assessable(expected: Option<NaiveDate>) -> Assessable {
    Assessable {
        id: AssessableId::parse("BSBWHS211").unwrap(),
        name: "Unit".into(),
        kind: AssessableKind::Unit,
        expected_start_date: expected,
    }
}

fn graded(cmid: i64, grade: f64, pass: f64, day: u32) -> ActivityOutcome {
    ActivityOutcome {
        cmid,
        grade: Some(grade),
        max_grade: Some(100.0),
        pass_grade: Some(pass),
        graded_at: Some(at(day)),
        ..ActivityOutcome::default()
    }
}

fn completed(mut o: ActivityOutcome, state: CompletionState, day: u32) -> ActivityOutcome {
    o.completion = Some(ActivityCompletion {
        state,
        completed_at: Some(at(day)),
    });
    o
}

const RECORD: ResultRules = ResultRules {
    record_failed_results: true,
    use_enrolment_start_date: true,
    zone: TenantZone::UTC,
};

const NO_FAIL: ResultRules = ResultRules {
    record_failed_results: false,
    use_enrolment_start_date: true,
    zone: TenantZone::UTC,
};

fn key() -> ResultKey {
    ResultKey {
        tenant: TenantId::parse("acme").unwrap(),
        connection: ConnectionId::parse("moodle").unwrap(),
        offering: OfferingId::parse("OFF-1").unwrap(),
        learner: LearnerCode::parse("L1").unwrap(),
        assessable: AssessableId::parse("U1").unwrap(),
    }
}

fn p(user: i64, username: &str, idnumber: &str) -> Participant {
    Participant {
        user,
        username: username.into(),
        idnumber: idnumber.into(),
        last_access: None,
    }
}

fn l(c: &str, username: Option<&str>, stored: Option<i64>) -> KnownLearner {
    KnownLearner {
        code: code(c),
        username: username.map(Into::into),
        stored,
    }
}
