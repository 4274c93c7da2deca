//! What a person's request about results names, checked the same way for the
//! api and the console: a result's ids, the review state of a list, its length.

use super::error::ResultsError;
use domain::results::ReviewState;
use domain::{AssessableId, LearnerCode, OfferingId};

/// Most results or completions one list shows (and the default).
pub const MAX_LIST: usize = 500;
/// How many a list shows when the request does not say.
pub const DEFAULT_LIST: usize = 100;

/// One result as a request names it: its offering, learner and assessable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRef {
    pub offering: OfferingId,
    pub learner: LearnerCode,
    pub assessable: AssessableId,
}

impl ResultRef {
    /// The ids as sent; the first that is not an id is the error (naming its field).
    pub fn parse(
        offering: impl Into<String>,
        learner: impl Into<String>,
        assessable: impl Into<String>,
    ) -> Result<Self, ResultsError> {
        Ok(Self {
            offering: OfferingId::parse(offering)?,
            learner: LearnerCode::parse(learner)?,
            assessable: AssessableId::parse(assessable)?,
        })
    }
}

/// The review state a list asks for: ready when it does not say.
pub fn review_state(raw: Option<&str>) -> Result<ReviewState, ResultsError> {
    match raw {
        None => Ok(ReviewState::Ready),
        Some(s) => ReviewState::parse(s).ok_or_else(|| ResultsError::BadState {
            state: s.to_owned(),
        }),
    }
}

/// How many a list shows: [`DEFAULT_LIST`] unless asked, at least one, at most [`MAX_LIST`].
pub fn list_limit(asked: Option<usize>) -> usize {
    asked.unwrap_or(DEFAULT_LIST).clamp(1, MAX_LIST)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_result_ref_names_the_first_field_that_is_not_an_id() {
        let ok = ResultRef::parse("OCC-1", "S4", "U1").unwrap();
        assert_eq!(ok.learner.as_str(), "S4");
        let ResultsError::BadId(e) = ResultRef::parse("OCC-1", "", "U1").unwrap_err() else {
            panic!("a bad learner is a bad id");
        };
        assert_eq!(e.field(), LearnerCode::parse("").unwrap_err().field());
        let ResultsError::BadId(e) = ResultRef::parse("OCC 1", "S4", "U1").unwrap_err() else {
            panic!("a bad offering is a bad id");
        };
        assert_eq!(e.field(), OfferingId::parse("OCC 1").unwrap_err().field());
    }

    #[test]
    fn a_list_is_ready_by_default_and_an_unknown_state_names_it() {
        assert_eq!(review_state(None).unwrap(), ReviewState::Ready);
        assert_eq!(review_state(Some("error")).unwrap(), ReviewState::Error);
        let e = review_state(Some("later")).unwrap_err();
        assert_eq!(e.field(), Some("state"));
        assert_eq!(
            e.to_string(),
            "later is not a review state: use ready, error or done"
        );
    }

    #[test]
    fn a_list_length_is_bounded() {
        assert_eq!(list_limit(None), DEFAULT_LIST);
        assert_eq!(list_limit(Some(0)), 1);
        assert_eq!(list_limit(Some(10_000)), MAX_LIST);
    }
}
