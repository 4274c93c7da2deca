//! What the SMS owns — learners, offerings with their assessables, enrolments —
//! and what learnbridge keeps about them per connection: course links, the
//! learner's account in the external system, and each enrolment's transfer.
//!
//! These are data; the rules that decide over them (transfer preview, matching,
//! the sync plan) live beside them as plain functions.

use crate::ids::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub mod check;

/// A person in the SMS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learner {
    pub tenant: TenantId,
    pub code: LearnerCode,
    /// The SMS's username, when it has one (VETtrak's CLIE_USERNAME).
    pub username: Option<String>,
    pub given_name: String,
    pub middle_name: Option<String>,
    pub family_name: String,
    pub email: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    /// Inactive in the SMS: the learner's Moodle user is suspended.
    pub archived: bool,
    /// "Disable email sending": no learner emails.
    pub email_opt_out: bool,
    pub updated_at: DateTime<Utc>,
}

impl Learner {
    /// "Ana Ruiz": the name used in run log lines (given and family name, as
    /// Smartosh logs it).
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name.trim(), self.family_name.trim())
            .trim()
            .to_owned()
    }
}

/// An offering's status in the SMS; it decides the linked course's visibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferingStatus {
    Planned,
    Active,
    Completed,
    Cancelled,
}

impl OfferingStatus {
    /// Whether the linked Moodle course is visible to learners.
    pub fn course_visible(self) -> bool {
        matches!(self, OfferingStatus::Active)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssessableKind {
    Unit,
    Task,
}

/// Something in an offering that gets a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessable {
    pub id: AssessableId,
    pub name: String,
    pub kind: AssessableKind,
    /// The training plan's expected start date: when set, it is the result's
    /// start date instead of the enrolment's.
    pub expected_start_date: Option<NaiveDate>,
}

/// A scheduled delivery of training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offering {
    pub tenant: TenantId,
    pub id: OfferingId,
    pub name: String,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub status: OfferingStatus,
    /// Send each new enrolment to the linked course as it arrives.
    pub auto_push: bool,
    /// Smartosh's "must be evaluated": the evaluation date and grade are recorded too.
    pub must_be_evaluated: bool,
    pub assessables: Vec<Assessable>,
    pub updated_at: DateTime<Utc>,
}

/// not-called -> in-progress -> completed / withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentState {
    NotCalled,
    InProgress,
    Completed,
    Withdrawn,
}

impl EnrolmentState {
    /// Active enrolments are the ones course completion applies to.
    pub fn is_active(self) -> bool {
        matches!(self, EnrolmentState::NotCalled | EnrolmentState::InProgress)
    }
}

/// A learner in an offering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrolment {
    pub tenant: TenantId,
    pub learner: LearnerCode,
    pub offering: OfferingId,
    pub state: EnrolmentState,
    pub start_date: Option<NaiveDate>,
    /// Set when the enrolment is called (Smartosh: the session date).
    pub session_date: Option<NaiveDate>,
    pub updated_at: DateTime<Utc>,
}

/// An offering linked to a course of a connection's learning system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseLink {
    pub tenant: TenantId,
    pub offering: OfferingId,
    pub connection: ConnectionId,
    /// The Moodle course id.
    pub course_id: i64,
    pub course_idnumber: Option<String>,
    pub course_shortname: Option<String>,
    pub linked_at: DateTime<Utc>,
}

/// A learner's account in a connection's system (the Moodle user id). A stored
/// account wins over every matching rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalAccount {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub learner: LearnerCode,
    pub external_id: i64,
    /// learnbridge created it (rather than matched an existing one).
    pub created_by_us: bool,
    pub linked_at: DateTime<Utc>,
}

/// Why an enrolment cannot be transferred: each is something a person can fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum BlockReason {
    MissingEmail,
    InvalidEmail,
    /// Another Moodle user has this email and the matching rules do not link them.
    EmailUsedByAnotherUser {
        moodle_user_id: i64,
    },
    MissingSurname,
    MissingGivenName,
    LearnerArchived,
    /// The Moodle user id stored for the learner no longer exists in Moodle.
    StoredUserMissing {
        moodle_user_id: i64,
    },
    /// More than one Moodle user matches and none can be chosen safely.
    AmbiguousMatch {
        moodle_user_ids: Vec<i64>,
    },
    OfferingNotLinked,
    EnrolmentWithdrawn,
    /// Moodle refused the record; its message, for the person who must act.
    RefusedByMoodle {
        message: String,
    },
    /// The username learnbridge would create belongs to another Moodle user.
    UsernameUsedByAnotherUser {
        username: String,
        moodle_user_id: i64,
    },
    /// The enrolment names a learner the SMS has not sent.
    LearnerNotFound,
    /// Moodle refused to create the user and said no more (its debugging is
    /// off, as in production), and no look-up found who holds the username or email.
    CreateRefusedWithoutReason {
        username: String,
    },
}

impl BlockReason {
    /// What a person reads in the transfer preview.
    pub fn message(&self) -> String {
        match self {
            BlockReason::MissingEmail => {
                "the learner has no email address; Moodle requires one".into()
            }
            BlockReason::InvalidEmail => "the learner's email address is not valid".into(),
            BlockReason::EmailUsedByAnotherUser { moodle_user_id } => format!(
                "the learner's email address is already used by Moodle user {moodle_user_id} (Moodle compares emails ignoring letter case); link the learner to Moodle user {moodle_user_id} (PUT /v1/learners/{{code}}/accounts/{{connection}} with {{\"moodle_user_id\": {moodle_user_id}}}) or change the email"
            ),
            BlockReason::MissingSurname => "the learner has no surname".into(),
            BlockReason::MissingGivenName => "the learner has no given name".into(),
            BlockReason::LearnerArchived => "the learner is archived in the SMS".into(),
            BlockReason::StoredUserMissing { moodle_user_id } => {
                format!(
                    "the learner's stored Moodle user {moodle_user_id} no longer exists in Moodle"
                )
            }
            BlockReason::AmbiguousMatch { moodle_user_ids } => format!(
                "{} Moodle users match the learner ({}); store the right Moodle user id on the learner",
                moodle_user_ids.len(),
                moodle_user_ids
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            BlockReason::OfferingNotLinked => {
                "the offering is not linked to a Moodle course".into()
            }
            BlockReason::EnrolmentWithdrawn => "the enrolment is withdrawn".into(),
            BlockReason::RefusedByMoodle { message } => format!("Moodle refused it: {message}"),
            BlockReason::UsernameUsedByAnotherUser {
                username,
                moodle_user_id,
            } => format!(
                "the username {username} is already used by Moodle user {moodle_user_id}; link them or change the learner's username"
            ),
            BlockReason::LearnerNotFound => {
                "the learner is not known: send the learner before the enrolment".into()
            }
            BlockReason::CreateRefusedWithoutReason { username } => format!(
                "Moodle refused to create the user and gave no reason (Moodle says why only with debugging on); check in Moodle that no user has the username {username} or the learner's email address in any letter case, and that the username and names hold only characters the site allows"
            ),
        }
    }

    /// The learner record's fields (as [`Learner`] names them) a person changes in
    /// the SMS to clear this reason; none when the fix is not in the learner's record
    /// (the offering's link, the enrolment, Moodle's side).
    pub fn learner_fields(&self) -> &'static [&'static str] {
        match self {
            BlockReason::MissingEmail
            | BlockReason::InvalidEmail
            | BlockReason::EmailUsedByAnotherUser { .. } => &["email"],
            BlockReason::MissingSurname => &["family_name"],
            BlockReason::MissingGivenName => &["given_name"],
            BlockReason::LearnerArchived => &["archived"],
            BlockReason::UsernameUsedByAnotherUser { .. } => &["username"],
            BlockReason::CreateRefusedWithoutReason { .. } => {
                &["username", "email", "given_name", "family_name"]
            }
            BlockReason::RefusedByMoodle { .. }
            | BlockReason::StoredUserMissing { .. }
            | BlockReason::AmbiguousMatch { .. }
            | BlockReason::OfferingNotLinked
            | BlockReason::EnrolmentWithdrawn
            | BlockReason::LearnerNotFound => &[],
        }
    }
}

/// The reason as a person reads it ([`BlockReason::message`]), so a failure
/// that carries one (as its source) shows it on the run.
impl std::fmt::Display for BlockReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for BlockReason {}

/// VETtrak's colours: green (ready), white (already transferred), red (blocked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TransferStatus {
    Ready,
    Transferred,
    Blocked {
        reasons: Vec<BlockReason>,
    },
    /// Unenrolled (or suspended) from the course after its results were read.
    Removed,
}

/// One enrolment's transfer to one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub offering: OfferingId,
    pub learner: LearnerCode,
    pub status: TransferStatus,
    pub external_user: Option<i64>,
    pub transferred_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Why the last removal did not happen (the learner's results could not
    /// be read, or Moodle refused): the learner is still in the course, and
    /// the removal is tried again (by the queue, and by each nightly export).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_offerings_are_visible() {
        assert!(OfferingStatus::Active.course_visible());
        for s in [
            OfferingStatus::Planned,
            OfferingStatus::Completed,
            OfferingStatus::Cancelled,
        ] {
            assert!(!s.course_visible(), "{s:?}");
        }
    }

    #[test]
    fn a_block_reason_names_the_learner_fields_to_fix() {
        assert_eq!(BlockReason::MissingEmail.learner_fields(), ["email"]);
        assert_eq!(
            BlockReason::EmailUsedByAnotherUser { moodle_user_id: 4 }.learner_fields(),
            ["email"]
        );
        assert_eq!(
            BlockReason::MissingSurname.learner_fields(),
            ["family_name"]
        );
        assert_eq!(BlockReason::LearnerArchived.learner_fields(), ["archived"]);
        assert!(BlockReason::OfferingNotLinked.learner_fields().is_empty());
        assert!(BlockReason::EnrolmentWithdrawn.learner_fields().is_empty());
    }

    #[test]
    fn block_reasons_say_what_to_fix() {
        let r = BlockReason::EmailUsedByAnotherUser { moodle_user_id: 42 };
        assert!(r.message().contains("Moodle user 42"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["reason"], "email_used_by_another_user");
        let ambiguous = BlockReason::AmbiguousMatch {
            moodle_user_ids: vec![4, 9],
        };
        assert_eq!(
            ambiguous.message(),
            "2 Moodle users match the learner (4, 9); store the right Moodle user id on the learner"
        );
    }

    #[test]
    fn display_name_is_given_and_family_name() {
        let learner = Learner {
            tenant: TenantId::parse("acme").unwrap(),
            code: LearnerCode::parse("X1234567").unwrap(),
            username: None,
            given_name: "Ana".into(),
            middle_name: Some("María".into()),
            family_name: "Ruiz".into(),
            email: None,
            date_of_birth: None,
            archived: false,
            email_opt_out: false,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        assert_eq!(learner.display_name(), "Ana Ruiz");
    }
}
