//! Course completions: read from Moodle, reviewed like a result, and sent to
//! the SMS as a completion record dated in the tenant's time zone.

use super::review::{ReviewError, ReviewState};
use crate::ids::{ConnectionId, LearnerCode, OfferingId, TenantId};
use crate::zone::TenantZone;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// A course completion (Coachview's final grade; Smartosh's attendance and
/// evaluation) as it goes to the SMS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionRecord {
    pub learner: LearnerCode,
    pub offering: OfferingId,
    pub completed_at: DateTime<Utc>,
    /// The completion's day in the tenant's time zone (what an SMS shows as
    /// the completion date: Coachview's `CompletionDate`).
    pub completed_on: NaiveDate,
    /// The course total grade, raw (stated like a result's: [`super::result_grade`]).
    pub grade: Option<f64>,
    /// The maximum `grade` is out of (the course total's `grademax`).
    #[serde(default)]
    pub grade_max: Option<f64>,
    /// Smartosh: the attendance date (the completion's date).
    pub attendance_date: Option<NaiveDate>,
    /// Smartosh: the learner is marked attended (SM-34).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attended: bool,
    /// Smartosh, when the training must be evaluated.
    pub evaluation_date: Option<NaiveDate>,
    pub evaluation_grade: Option<f64>,
    /// The Moodle course's id: the e-learning course id Coachview's course
    /// part holds (CV-09).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_id: Option<i64>,
    /// The Moodle user's idnumber: the person number Coachview matches to its
    /// persoonsid or externid (CV-08).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl CompletionRecord {
    /// The record for a completion; `smartosh` adds the attendance date, and the
    /// evaluation when `must_be_evaluated`: the completion's day in `zone`.
    pub fn new(
        learner: LearnerCode,
        offering: OfferingId,
        completed_at: DateTime<Utc>,
        grade: Option<f64>,
        smartosh: bool,
        must_be_evaluated: bool,
        zone: TenantZone,
    ) -> Self {
        let date = zone.date_of(completed_at);
        let evaluated = smartosh && must_be_evaluated;
        Self {
            learner,
            offering,
            completed_at,
            completed_on: date,
            grade,
            grade_max: None,
            attendance_date: smartosh.then_some(date),
            attended: smartosh,
            evaluation_date: evaluated.then_some(date),
            evaluation_grade: if evaluated { grade } else { None },
            course_id: None,
            external_id: None,
        }
    }
}

/// A course completion read from Moodle, in the review queue like a result
/// (the seed's "Course completions" tab): ready until a person (or, without
/// review, the download) processes it; then it is a delivery and the enrolment
/// is completed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCompletion {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub offering: OfferingId,
    pub learner: LearnerCode,
    /// The Moodle user, for the unenrolment that follows (Smartosh).
    pub user: i64,
    /// When the latest completion criterion was met (a person may change the date).
    pub completed_at: DateTime<Utc>,
    /// The course total grade, raw.
    pub grade: Option<f64>,
    /// The maximum `grade` is out of.
    #[serde(default)]
    pub grade_max: Option<f64>,
    /// A later course total that differs from the one saved to the SMS (a
    /// retake after processing): shown, never sent (first result wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub later_grade: Option<LaterGrade>,
    /// Smartosh mode: attendance (and evaluation) recorded, then unenrolled.
    pub smartosh: bool,
    pub must_be_evaluated: bool,
    pub state: ReviewState,
    pub error: Option<String>,
    /// When the learner was unenrolled from the Moodle course (Smartosh), after approval.
    pub unenrolled_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The Moodle course the completion was read from.
    #[serde(default)]
    pub course_id: Option<i64>,
    /// The Moodle user's idnumber when the completion was read (empty: none).
    #[serde(default)]
    pub idnumber: Option<String>,
}

impl StoredCompletion {
    /// A completion as read: ready for review.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: (TenantId, ConnectionId, OfferingId, LearnerCode),
        user: i64,
        completed_at: DateTime<Utc>,
        grade: Option<f64>,
        smartosh: bool,
        must_be_evaluated: bool,
        now: DateTime<Utc>,
    ) -> Self {
        let (tenant, connection, offering, learner) = key;
        Self {
            tenant,
            connection,
            offering,
            learner,
            user,
            completed_at,
            grade,
            grade_max: None,
            later_grade: None,
            smartosh,
            must_be_evaluated,
            state: ReviewState::Ready,
            error: None,
            unenrolled_at: None,
            updated_at: now,
            course_id: None,
            idnumber: None,
        }
    }

    /// A person's change of the status date, a day in the tenant's `zone` (the
    /// local time of day is kept).
    pub fn adjust(
        &mut self,
        date: NaiveDate,
        zone: TenantZone,
        now: DateTime<Utc>,
    ) -> Result<(), ReviewError> {
        if self.state == ReviewState::Done {
            return Err(ReviewError::AlreadySaved);
        }
        self.completed_at = zone.at(date, zone.time_of(self.completed_at));
        self.error = (date > zone.today(now))
            .then(|| format!("the completion date {date} is in the future"));
        self.state = if self.error.is_some() {
            ReviewState::Error
        } else {
            ReviewState::Ready
        };
        self.updated_at = now;
        Ok(())
    }

    /// Processing: a ready completion becomes done (its delivery is created by the caller).
    pub fn approve(&mut self, now: DateTime<Utc>) -> Result<(), ReviewError> {
        match self.state {
            ReviewState::Ready => {
                self.state = ReviewState::Done;
                self.updated_at = now;
                Ok(())
            }
            ReviewState::Done => Err(ReviewError::AlreadySaved),
            ReviewState::Error => Err(ReviewError::NotReady {
                reason: self.error.clone().unwrap_or_default(),
            }),
        }
    }

    /// The course total as read again. An unprocessed completion takes it
    /// (a retake before processing updates the proposal); a processed one
    /// keeps the grade the SMS has and records a different later one, never
    /// sent (first result wins). A total that is gone (no grade) changes
    /// nothing. Whether anything changed.
    pub fn regrade(
        &mut self,
        grade: Option<f64>,
        grade_max: Option<f64>,
        now: DateTime<Utc>,
    ) -> bool {
        if grade.is_none() || (grade == self.grade && grade_max == self.grade_max) {
            return false;
        }
        if self.state != ReviewState::Done {
            self.grade = grade;
            self.grade_max = grade_max;
            self.updated_at = now;
            return true;
        }
        if self
            .later_grade
            .as_ref()
            .is_some_and(|l| l.grade == grade && l.grade_max == grade_max)
        {
            return false;
        }
        self.later_grade = Some(LaterGrade {
            grade,
            grade_max,
            seen_at: now,
        });
        self.updated_at = now;
        true
    }

    /// Approved, still enrolled in Moodle, and the mode unenrols.
    pub fn unenrol_pending(&self) -> bool {
        self.smartosh && self.state == ReviewState::Done && self.unenrolled_at.is_none()
    }

    /// What goes to the SMS, dated by the tenant's `zone`.
    pub fn record(&self, zone: TenantZone) -> CompletionRecord {
        let mut record = CompletionRecord::new(
            self.learner.clone(),
            self.offering.clone(),
            self.completed_at,
            self.grade,
            self.smartosh,
            self.must_be_evaluated,
            zone,
        );
        record.grade_max = self.grade_max;
        record.course_id = self.course_id;
        record.external_id = self
            .idnumber
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_owned);
        record
    }
}

/// A course total read after the completion was saved, that differs from the
/// saved one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaterGrade {
    pub grade: Option<f64>,
    #[serde(default)]
    pub grade_max: Option<f64>,
    pub seen_at: DateTime<Utc>,
}
