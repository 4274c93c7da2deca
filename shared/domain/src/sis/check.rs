//! What makes a record the SMS sends valid: a learner, an offering with its
//! assessables, an enrolment. Each refusal names the field (as the API spells
//! it, `learners.email`) and says whether the value is malformed
//! ([`RecordError::Invalid`]) or well-formed but wrong ([`RecordError::Unusable`]).

use super::{Assessable, AssessableKind, Enrolment, Learner, Offering};
use crate::ids::{AssessableId, is_control_or_bidi};
use crate::limits::check_date;
use chrono::NaiveDate;
use std::collections::HashSet;

/// The longest username, given, middle or family name of a learner.
pub const LEARNER_NAME_MAX: usize = 200;
/// The longest email address (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
/// The longest name of an offering or an assessable.
pub const OFFERING_NAME_MAX: usize = 255;
/// More assessables than this in one offering is a mistake, not a course.
pub const ASSESSABLES_MAX: usize = 500;

/// No learner was born before this day: an earlier date of birth is a typing error.
pub const EARLIEST_BIRTH_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// A record refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The value is malformed (too long, a control character, empty, not an id).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The value is well-formed but cannot be (a date out of range or in the
    /// future, an end before the start, an assessable sent twice).
    #[error("{field}: {message}")]
    Unusable { field: String, message: String },
}

impl RecordError {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    fn unusable(field: &str, message: impl Into<String>) -> Self {
        Self::Unusable {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The field the refusal is about.
    pub fn field(&self) -> &str {
        match self {
            Self::Invalid { field, .. } | Self::Unusable { field, .. } => field,
        }
    }
}

/// A text field: at most `max` characters, no control or bidirectional
/// formatting characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), RecordError> {
    if value.chars().count() > max {
        return Err(RecordError::invalid(
            field,
            format!("at most {max} characters are allowed"),
        ));
    }
    if let Some(c) = value.chars().find(|c| is_control_or_bidi(*c)) {
        return Err(RecordError::invalid(
            field,
            format!(
                "control and bidirectional formatting characters are not allowed (found U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// A learner, `today` being the day in the tenant's zone: "the future" starts
/// tomorrow there, so a learner born today in Sydney is not refused while UTC
/// is still on yesterday. Empty names and a missing email are kept (the
/// transfer preview blocks such a learner with a reason).
pub fn learner(learner: &Learner, today: NaiveDate) -> Result<(), RecordError> {
    if let Some(username) = &learner.username {
        text("learners.username", username, LEARNER_NAME_MAX)?;
    }
    text("learners.given_name", &learner.given_name, LEARNER_NAME_MAX)?;
    if let Some(middle) = &learner.middle_name {
        text("learners.middle_name", middle, LEARNER_NAME_MAX)?;
    }
    text(
        "learners.family_name",
        &learner.family_name,
        LEARNER_NAME_MAX,
    )?;
    if let Some(email) = &learner.email {
        text("learners.email", email, EMAIL_MAX)?;
        if !crate::transfer::valid_email(email) {
            return Err(RecordError::unusable(
                "learners.email",
                "not an email address (name@domain.tld, no spaces)",
            ));
        }
    }
    if learner.date_of_birth.is_some_and(|d| d > today) {
        return Err(RecordError::unusable(
            "learners.date_of_birth",
            "the date of birth is in the future",
        ));
    }
    if learner
        .date_of_birth
        .is_some_and(|d| d < EARLIEST_BIRTH_DATE)
    {
        return Err(RecordError::unusable(
            "learners.date_of_birth",
            "the date of birth is before 1900-01-01",
        ));
    }
    Ok(())
}

/// An assessable as the SMS sends it, its id not yet checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AssessableDraft {
    pub id: String,
    pub name: String,
    pub kind: AssessableKind,
    pub expected_start_date: Option<NaiveDate>,
}

/// An offering's assessables: at most [`ASSESSABLES_MAX`], each id valid and
/// sent once, each name a text field.
pub fn assessables(drafts: Vec<AssessableDraft>) -> Result<Vec<Assessable>, RecordError> {
    if drafts.len() > ASSESSABLES_MAX {
        return Err(RecordError::unusable(
            "offerings.assessables",
            format!("at most {ASSESSABLES_MAX} assessables are allowed"),
        ));
    }
    let mut seen = HashSet::new();
    drafts
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let field = format!("offerings.assessables[{i}]");
            let id = AssessableId::parse(a.id)
                .map_err(|e| RecordError::invalid(&format!("{field}.id"), e.to_string()))?;
            if !seen.insert(id.clone()) {
                return Err(RecordError::unusable(
                    &format!("{field}.id"),
                    format!("assessable {id} appears more than once"),
                ));
            }
            text(&format!("{field}.name"), &a.name, OFFERING_NAME_MAX)?;
            Ok(Assessable {
                id,
                name: a.name,
                kind: a.kind,
                expected_start_date: a.expected_start_date,
            })
        })
        .collect()
}

/// An offering: a name, dates in range, an end not before the start.
pub fn offering(offering: &Offering) -> Result<(), RecordError> {
    text("offerings.name", &offering.name, OFFERING_NAME_MAX)?;
    if offering.name.trim().is_empty() {
        return Err(RecordError::invalid(
            "offerings.name",
            "the name must not be empty",
        ));
    }
    for (field, date) in [
        ("offerings.start_date", offering.start_date),
        ("offerings.end_date", offering.end_date),
    ] {
        if let Some(Err(range)) = date.map(check_date) {
            return Err(RecordError::unusable(field, range.to_string()));
        }
    }
    for (i, a) in offering.assessables.iter().enumerate() {
        if let Some(Err(range)) = a.expected_start_date.map(check_date) {
            return Err(RecordError::unusable(
                &format!("offerings.assessables[{i}].expected_start_date"),
                range.to_string(),
            ));
        }
    }
    if let (Some(start), Some(end)) = (offering.start_date, offering.end_date)
        && end < start
    {
        return Err(RecordError::unusable(
            "offerings.end_date",
            "the end date is before the start date",
        ));
    }
    Ok(())
}

/// An enrolment in `offering`: dates in range, not starting after the offering ends.
pub fn enrolment(offering: &Offering, enrolment: &Enrolment) -> Result<(), RecordError> {
    for (field, date) in [
        ("enrolments.start_date", enrolment.start_date),
        ("enrolments.session_date", enrolment.session_date),
    ] {
        if let Some(Err(range)) = date.map(check_date) {
            return Err(RecordError::unusable(field, range.to_string()));
        }
    }
    if let (Some(start), Some(end)) = (enrolment.start_date, offering.end_date)
        && start > end
    {
        return Err(RecordError::unusable(
            "enrolments.start_date",
            "the enrolment starts after its offering ends",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
