//! LLN (language, literacy and numeracy) assessment tools: OCSAT and LLN Robot.
//!
//! learnbridge pushes learners to the tool as *candidates*, keeps what it last
//! pushed, tells a person which shared fields are out of sync, and downloads the
//! *assessments* candidates complete there. The wire contract is in
//! docs/connectors/ocsat.md; the [`crate::ports::LlnApi`] port speaks these types.
//!
//! Pure: the rules here (required fields, the username default, the out-of-sync
//! diff, a download's Ok / Error / Done, the next modified date, masking secrets
//! in the API log) are plain functions.

use crate::connection::LlnSettings;
use crate::error::{BoxError, Retryable, SecretError};
use crate::ids::{ConnectionId, IdError, LearnerCode, TenantId, check_id};
use crate::sis::Learner;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;

mod api_log;

/// An LLN connection kind's product (defined beside the kinds, in [`crate::connection`]).
pub use crate::connection::LlnProduct;
pub use api_log::{ApiCall, obfuscate};

macro_rules! lln_id {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const FIELD: &'static str = $field;

            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check_id($field, &value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

lln_id!(
    /// A candidate's id in the LLN tool (OCSAT's candidate id).
    CandidateId,
    "candidate_id"
);
lln_id!(
    /// An assessment's id in the LLN tool.
    AssessmentId,
    "assessment_id"
);

/// The shared fields of a candidate: what learnbridge pushes and what the tool holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateFields {
    pub family_name: String,
    /// Optional in the tool.
    pub given_name: Option<String>,
    /// The other (middle) name; optional.
    pub other_name: Option<String>,
    pub learner_code: LearnerCode,
    pub date_of_birth: NaiveDate,
    pub email: String,
    pub username: String,
}

/// What is wrong with one learner field for a candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum FieldProblem {
    Missing,
    Invalid { reason: String },
}

/// One learner field that keeps a candidate from being pushed, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldIssue {
    /// The learner's field name (`family_name`, `date_of_birth`, `email`, `username`).
    pub field: String,
    #[serde(flatten)]
    pub problem: FieldProblem,
}

impl FieldIssue {
    pub fn missing(field: &str) -> Self {
        Self {
            field: field.to_owned(),
            problem: FieldProblem::Missing,
        }
    }

    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            problem: FieldProblem::Invalid {
                reason: reason.into(),
            },
        }
    }
}

impl fmt::Display for FieldIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            FieldProblem::Missing => write!(f, "{} is required", self.field),
            FieldProblem::Invalid { reason } => write!(f, "{} {reason}", self.field),
        }
    }
}

/// A learner cannot be a candidate yet: EVERY issue at once, each naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("the learner cannot be pushed as a candidate: {}", join(.issues))]
pub struct CandidateIssues {
    pub issues: Vec<FieldIssue>,
}

fn join(issues: &[FieldIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl CandidateIssues {
    /// The names of the fields to fix, in the order the learner's form shows them.
    pub fn fields(&self) -> Vec<&str> {
        self.issues.iter().map(|i| i.field.as_str()).collect()
    }
}

/// How the candidate's username is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsernameRule<'a> {
    /// A value a person set (or the username the candidate already has in the tool).
    Given(&'a str),
    /// The default: the learner's primary email, or `Firstname.Surname` when that
    /// email is not unique among the tenant's learners.
    Default { email_unique: bool },
}

/// `Firstname.Surname` (e.g. `Greg.Abbott`): the username when the email is shared.
/// Spaces inside a name are dropped (`Mary Jane` -> `MaryJane`); with no given
/// name it is the surname alone.
pub fn name_username(given_name: &str, family_name: &str) -> String {
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    let (given, family) = (squash(given_name), squash(family_name));
    if given.is_empty() {
        family
    } else {
        format!("{given}.{family}")
    }
}

/// Whether `learner`'s email is used by no other learner of the tenant
/// (compared trimmed and case-insensitively). A learner without email: true.
pub fn email_is_unique<'a>(
    learner: &Learner,
    tenant_learners: impl IntoIterator<Item = &'a Learner>,
) -> bool {
    let Some(email) = learner.email.as_deref().map(normalise_email) else {
        return true;
    };
    !tenant_learners.into_iter().any(|other| {
        other.code != learner.code
            && other.tenant == learner.tenant
            && other.email.as_deref().map(normalise_email).as_deref() == Some(email.as_str())
    })
}

fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The candidate fields of a learner, or every issue that keeps it from being pushed.
/// Required: family name, learner code (always present: it is the learner's key),
/// date of birth and email. Given and other names are optional.
pub fn candidate_fields(
    learner: &Learner,
    username: UsernameRule<'_>,
) -> Result<CandidateFields, CandidateIssues> {
    let mut issues = Vec::new();
    let family_name = non_empty(Some(&learner.family_name));
    if family_name.is_none() {
        issues.push(FieldIssue::missing("family_name"));
    }
    if learner.date_of_birth.is_none() {
        issues.push(FieldIssue::missing("date_of_birth"));
    }
    let email = non_empty(learner.email.as_deref());
    match &email {
        None => issues.push(FieldIssue::missing("email")),
        Some(e) if !looks_like_email(e) => {
            issues.push(FieldIssue::invalid("email", "is not an email address"));
        }
        Some(_) => {}
    }
    let given_name = non_empty(Some(&learner.given_name));
    let username = match username {
        UsernameRule::Given(value) => {
            let value = non_empty(Some(value));
            if value.is_none() {
                issues.push(FieldIssue::missing("username"));
            }
            value
        }
        // Made from fields already checked above: a missing one is reported there.
        UsernameRule::Default { email_unique: true } => email.clone(),
        UsernameRule::Default {
            email_unique: false,
        } => family_name
            .as_ref()
            .map(|family| name_username(&learner.given_name, family)),
    };
    if username
        .as_deref()
        .is_some_and(|u| u.chars().any(char::is_whitespace))
    {
        issues.push(FieldIssue::invalid("username", "must not contain spaces"));
    }
    match (family_name, learner.date_of_birth, email, username) {
        (Some(family_name), Some(date_of_birth), Some(email), Some(username))
            if issues.is_empty() =>
        {
            Ok(CandidateFields {
                family_name,
                given_name,
                other_name: non_empty(learner.middle_name.as_deref()),
                learner_code: learner.code.clone(),
                date_of_birth,
                email,
                username,
            })
        }
        _ => Err(CandidateIssues { issues }),
    }
}

fn looks_like_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(char::is_whitespace)
}

/// A candidate as the LLN tool holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteCandidate {
    pub id: CandidateId,
    pub fields: CandidateFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What learnbridge keeps about a learner's candidate in one LLN connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlnCandidate {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub learner: LearnerCode,
    pub candidate_id: CandidateId,
    pub username: String,
    /// The fields as last pushed (and accepted by the tool).
    pub pushed: CandidateFields,
    /// When the tool created the candidate (its own clock).
    pub created_in_lln: DateTime<Utc>,
    /// When the tool last updated the candidate (its own clock).
    pub updated_in_lln: DateTime<Utc>,
    /// When learnbridge last pushed it.
    pub last_pushed_at: DateTime<Utc>,
    /// Left out of a bulk update: it is offered again in the next one.
    #[serde(default)]
    pub needs_update: bool,
}

impl LlnCandidate {
    /// The record of a candidate the tool just created or updated from `pushed`.
    pub fn pushed(
        tenant: TenantId,
        connection: ConnectionId,
        remote: &RemoteCandidate,
        pushed: CandidateFields,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            connection,
            learner: pushed.learner_code.clone(),
            candidate_id: remote.id.clone(),
            username: remote.fields.username.clone(),
            pushed,
            created_in_lln: remote.created_at,
            updated_in_lln: remote.updated_at,
            last_pushed_at: now,
            needs_update: false,
        }
    }

    /// Whether the bulk update offers this candidate: the learner's shared fields
    /// changed since the last push, or it was left out of the previous bulk update.
    pub fn needs_push(&self, current: &CandidateFields) -> bool {
        self.needs_update || !out_of_sync(current, &self.pushed).is_empty()
    }
}

/// One shared field whose value differs between learnbridge and the tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    pub field: &'static str,
    pub ours: Option<String>,
    pub theirs: Option<String>,
}

/// Every shared field that differs, field by field, in the form's order.
/// Names are compared trimmed; email and username also without case.
pub fn out_of_sync(ours: &CandidateFields, theirs: &CandidateFields) -> Vec<FieldDiff> {
    let exact = |a: Option<&str>, b: Option<&str>| {
        a.map(str::trim).filter(|s| !s.is_empty()) == b.map(str::trim).filter(|s| !s.is_empty())
    };
    let caseless = |a: &str, b: &str| a.trim().to_lowercase() == b.trim().to_lowercase();
    let mut diffs = Vec::new();
    let mut push = |field, same: bool, ours: Option<String>, theirs: Option<String>| {
        if !same {
            diffs.push(FieldDiff {
                field,
                ours,
                theirs,
            });
        }
    };
    push(
        "family_name",
        exact(Some(&ours.family_name), Some(&theirs.family_name)),
        Some(ours.family_name.clone()),
        Some(theirs.family_name.clone()),
    );
    push(
        "given_name",
        exact(ours.given_name.as_deref(), theirs.given_name.as_deref()),
        ours.given_name.clone(),
        theirs.given_name.clone(),
    );
    push(
        "other_name",
        exact(ours.other_name.as_deref(), theirs.other_name.as_deref()),
        ours.other_name.clone(),
        theirs.other_name.clone(),
    );
    push(
        "learner_code",
        ours.learner_code == theirs.learner_code,
        Some(ours.learner_code.to_string()),
        Some(theirs.learner_code.to_string()),
    );
    push(
        "date_of_birth",
        ours.date_of_birth == theirs.date_of_birth,
        Some(ours.date_of_birth.to_string()),
        Some(theirs.date_of_birth.to_string()),
    );
    push(
        "email",
        caseless(&ours.email, &theirs.email),
        Some(ours.email.clone()),
        Some(theirs.email.clone()),
    );
    push(
        "username",
        caseless(&ours.username, &theirs.username),
        Some(ours.username.clone()),
        Some(theirs.username.clone()),
    );
    diffs
}

/// One skill's result in an assessment. OCSAT reports an ACSF level per skill;
/// score and band are kept when the tool sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkillResult {
    /// The skill assessed (e.g. `Reading`, `Numeracy`).
    pub skill: String,
    /// The level reached (ACSF level, e.g. `3`, or `Pre-level 1`).
    pub level: Option<String>,
    pub score: Option<f64>,
    /// The tool's band or descriptor for the result.
    pub band: Option<String>,
}

/// An assessment a candidate completed, as downloaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub id: AssessmentId,
    pub candidate_id: CandidateId,
    pub name: String,
    pub skills: Vec<String>,
    pub completed_at: DateTime<Utc>,
    pub sitting_ids: Vec<String>,
    pub results: Vec<SkillResult>,
    /// When the tool last modified it: downloads ask for assessments modified after a date.
    pub modified_at: DateTime<Utc>,
}

/// A downloaded assessment's state in the download's grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum DownloadStatus {
    /// Ready to save against the learner.
    Ok,
    /// Cannot be saved: why, in words a person can act on.
    Error { reason: String },
    /// Already saved: nothing to do.
    Done,
}

/// A downloaded assessment with the learner it belongs to (when known) and its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadedAssessment {
    pub assessment: Assessment,
    pub learner: Option<LearnerCode>,
    #[serde(flatten)]
    pub status: DownloadStatus,
}

/// Classifies a download: Done when already saved, Error when the candidate is not
/// one learnbridge pushed (created in the tool's own screens) or when `only_candidate`
/// restricts the download to one learner's candidate and this is another's, else Ok.
/// `candidates` maps the connection's candidate ids to learner codes.
pub fn classify_download(
    assessments: Vec<Assessment>,
    candidates: &HashMap<CandidateId, LearnerCode>,
    saved: &HashSet<AssessmentId>,
) -> Vec<DownloadedAssessment> {
    assessments
        .into_iter()
        .map(|assessment| {
            let learner = candidates.get(&assessment.candidate_id).cloned();
            let status = if saved.contains(&assessment.id) {
                DownloadStatus::Done
            } else if learner.is_none() {
                DownloadStatus::Error {
                    reason: format!(
                        "candidate {} is unknown to learnbridge (created in the LLN tool's own screens, not pushed from a learner)",
                        assessment.candidate_id
                    ),
                }
            } else {
                DownloadStatus::Ok
            };
            DownloadedAssessment {
                assessment,
                learner,
                status,
            }
        })
        .collect()
}

/// The modified date to store once a download is saved: the latest `modified_at`
/// among the downloaded assessments (whatever their status), never earlier than
/// the current one. Nothing downloaded: unchanged.
pub fn next_modified_since(
    current: Option<DateTime<Utc>>,
    downloaded: &[DownloadedAssessment],
) -> Option<DateTime<Utc>> {
    downloaded
        .iter()
        .map(|d| d.assessment.modified_at)
        .chain(current)
        .max()
}

/// An assessment saved against a learner, with what a person records on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedAssessment {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub learner: LearnerCode,
    pub assessment: Assessment,
    /// Defaults to the connection's `default_assessment_status`.
    pub status: Option<String>,
    /// Defaults to the connection's `default_staff`.
    pub staff: Option<String>,
    pub follow_up_comment: Option<String>,
    pub saved_at: DateTime<Utc>,
}

impl SavedAssessment {
    /// A downloaded assessment saved now, with the connection's default status and staff.
    pub fn new(
        tenant: TenantId,
        connection: ConnectionId,
        learner: LearnerCode,
        assessment: Assessment,
        settings: &LlnSettings,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant,
            connection,
            learner,
            assessment,
            status: settings.default_assessment_status.clone(),
            staff: settings.default_staff.clone(),
            follow_up_comment: None,
            saved_at: now,
        }
    }
}

/// Why a call to the LLN tool failed. None of these carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum LlnError {
    /// Timeouts, connection failures, HTTP 429 / 5xx: try again later.
    #[error("the LLN tool is unavailable")]
    Unavailable(#[source] BoxError),
    /// The token endpoint refused the client id / secret, or the API refused the
    /// token or API key (after one fresh token): a person must fix the connection.
    #[error("the LLN tool refused the connection's credentials ({what}: HTTP {status})")]
    Unauthorized { what: &'static str, status: u16 },
    /// The tool refused the candidate's fields, naming them.
    #[error("the LLN tool refused the candidate: {}", join(.issues))]
    Invalid { issues: Vec<FieldIssue> },
    /// Another candidate already has this username or email.
    #[error("the LLN tool already has a candidate with this {field}")]
    Duplicate { field: String },
    /// No such candidate (or assessment) in the tool.
    #[error("the LLN tool has no {what} {id}")]
    NotFound { what: &'static str, id: String },
    /// Any other refusal (other 4xx), with the tool's message.
    #[error("the LLN tool refused {what}: HTTP {status}: {message}")]
    Refused {
        what: &'static str,
        status: u16,
        message: String,
    },
    /// The tool answered something this client cannot read.
    #[error("the LLN tool's answer to {what} could not be read")]
    Malformed {
        what: &'static str,
        #[source]
        source: BoxError,
    },
    /// The connection's client secret or API key could not be read.
    #[error("the connection's secret could not be read")]
    Secret(#[source] SecretError),
    /// The request could not be prepared (bad URL, client).
    #[error("the LLN request could not be prepared")]
    Client(#[source] BoxError),
    /// The connection is not an OCSAT / LLN Robot connection.
    #[error("connection {connection} is not an LLN connection")]
    NotAnLlnConnection { connection: String },
}

impl Retryable for LlnError {
    fn is_retryable(&self) -> bool {
        match self {
            LlnError::Unavailable(_) => true,
            LlnError::Secret(e) => e.is_retryable(),
            LlnError::Unauthorized { .. }
            | LlnError::Invalid { .. }
            | LlnError::Duplicate { .. }
            | LlnError::NotFound { .. }
            | LlnError::Refused { .. }
            | LlnError::Malformed { .. }
            | LlnError::Client(_)
            | LlnError::NotAnLlnConnection { .. } => false,
        }
    }
}

/// One page of assessments modified after a date, oldest modification first.
#[derive(Debug, Clone, PartialEq)]
pub struct AssessmentPage {
    pub assessments: Vec<Assessment>,
    /// Pass to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
