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

use crate::connection::{ConnectionKind, LlnSettings};
use crate::error::{BoxError, Retryable, SecretError};
use crate::ids::{ConnectionId, IdError, LearnerCode, TenantId, check_id};
use crate::mask::mask_secret;
use crate::sis::Learner;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// The LLN product a connection talks to. A tenant has at most one connection per product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlnProduct {
    Ocsat,
    LlnRobot,
}

impl LlnProduct {
    /// The product of an LLN connection kind; `None` for every other kind.
    pub fn from_kind(kind: ConnectionKind) -> Option<Self> {
        match kind {
            ConnectionKind::Ocsat => Some(LlnProduct::Ocsat),
            ConnectionKind::LlnRobot => Some(LlnProduct::LlnRobot),
            ConnectionKind::Moodle | ConnectionKind::CourseKey | ConnectionKind::Sms => None,
        }
    }

    pub fn kind(self) -> ConnectionKind {
        match self {
            LlnProduct::Ocsat => ConnectionKind::Ocsat,
            LlnProduct::LlnRobot => ConnectionKind::LlnRobot,
        }
    }

    /// The product's name, as people know it.
    pub fn name(self) -> &'static str {
        match self {
            LlnProduct::Ocsat => "OCSAT",
            LlnProduct::LlnRobot => "LLN Robot",
        }
    }

    /// The API URL a new connection is prefilled with (the connection's `base_url`).
    /// To be confirmed against the real product at onboarding (docs/connectors/ocsat.md).
    pub fn default_api_url(self) -> &'static str {
        match self {
            LlnProduct::Ocsat => "https://api.ocsat.vic.gov.au/v1",
            LlnProduct::LlnRobot => "https://api.llnrobot.com.au/v1",
        }
    }

    /// The OAuth2 token endpoint a new connection is prefilled with.
    pub fn default_auth_url(self) -> &'static str {
        match self {
            LlnProduct::Ocsat => "https://auth.ocsat.vic.gov.au/oauth2/token",
            LlnProduct::LlnRobot => "https://api.llnrobot.com.au/oauth2/token",
        }
    }
}

impl fmt::Display for LlnProduct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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

/// One call to the LLN tool, for the support log. Build it, then [`obfuscate`] it
/// before it goes anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCall {
    pub at: DateTime<Utc>,
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    /// None when no answer came (timeout, connection failure).
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    /// The transport failure, when no answer came.
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// Header names whose values are always secret.
const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Whether a JSON key, form field or query parameter holds a secret.
fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('-', "_");
    n == "authorization"
        || n == "client_id"
        || n.contains("secret")
        || (n.contains("token") && n != "token_type")
        || n.contains("password")
        || n.contains("api_key")
        || n == "apikey"
        || n == "key"
}

/// Masks every secret in a call: secret headers (`Authorization`, `x-api-key`),
/// secret JSON members, form fields and query parameters (`client_id`,
/// `client_secret`, `access_token`, `api_key`, ...), `Bearer` tokens anywhere, and every value in
/// `known_secrets` (client secret, API key, current token) wherever it appears.
pub fn obfuscate(mut call: ApiCall, known_secrets: &[&str]) -> ApiCall {
    let known: Vec<&str> = known_secrets
        .iter()
        .copied()
        .filter(|s| !s.is_empty())
        .collect();
    let scrub = |text: &str| -> String {
        let mut out = mask_bearer(text);
        for secret in &known {
            out = out.replace(secret, &mask_secret(secret));
        }
        out
    };
    call.url = scrub(&mask_url_query(&call.url));
    for (name, value) in &mut call.request_headers {
        if SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) || is_secret_name(name) {
            *value = mask_header_value(value);
        } else {
            *value = scrub(value);
        }
    }
    call.request_body = call.request_body.map(|b| scrub(&mask_body(&b)));
    call.response_body = call.response_body.map(|b| scrub(&mask_body(&b)));
    call.error = call.error.map(|e| scrub(&e));
    call
}

/// Masks a secret value; one already masked stays as it is (obfuscating twice
/// changes nothing more).
fn remask(value: &str) -> String {
    if value.starts_with("****") {
        value.to_owned()
    } else {
        mask_secret(value)
    }
}

/// `Bearer abc...` -> `Bearer ****wxyz`; any other value masked whole.
fn mask_header_value(value: &str) -> String {
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            format!("{scheme} {}", remask(token.trim()))
        }
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("basic") => {
            format!("{scheme} {}", remask(token.trim()))
        }
        _ => remask(value),
    }
}

/// Masks the word after every `Bearer ` (any case) in free text.
fn mask_bearer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest_start = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find("bearer ") {
        let token_start = search + found + "bearer ".len();
        let token_end = text[token_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '}' | '&'))
            .map_or(text.len(), |i| token_start + i);
        out.push_str(&text[rest_start..token_start]);
        let token = &text[token_start..token_end];
        if token.is_empty() || token.starts_with("****") {
            out.push_str(token);
        } else {
            out.push_str(&mask_secret(token));
        }
        rest_start = token_end;
        search = token_end.max(token_start);
        if search >= text.len() {
            break;
        }
    }
    out.push_str(&text[rest_start..]);
    out
}

fn mask_url_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => format!("{base}?{}", mask_form(query)),
        None => url.to_owned(),
    }
}

/// JSON bodies: secret members masked at any depth; form bodies: secret fields masked.
fn mask_body(body: &str) -> String {
    if let Ok(mut json) = serde_json::from_str::<serde_json::Value>(body) {
        mask_json(&mut json);
        return json.to_string();
    }
    let looks_like_form = body.contains('=') && !body.chars().any(char::is_whitespace);
    if looks_like_form {
        mask_form(body)
    } else {
        body.to_owned()
    }
}

fn mask_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                if is_secret_name(key) {
                    if let serde_json::Value::String(s) = member {
                        *s = remask(s);
                    } else if !member.is_null() {
                        *member = serde_json::Value::String("****".into());
                    }
                } else {
                    mask_json(member);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

fn mask_form(form: &str) -> String {
    form.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if is_secret_name(name) => {
                format!("{name}={}", remask(value))
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
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
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn learner(given: &str, family: &str, email: Option<&str>, dob: Option<NaiveDate>) -> Learner {
        Learner {
            tenant: TenantId::parse("t1").unwrap(),
            code: LearnerCode::parse("C100").unwrap(),
            username: None,
            given_name: given.into(),
            middle_name: None,
            family_name: family.into(),
            email: email.map(str::to_owned),
            date_of_birth: dob,
            archived: false,
            email_opt_out: false,
            updated_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        }
    }

    fn dob() -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(1990, 5, 17)
    }

    #[test]
    fn products_map_from_their_kinds_only() {
        let cases = [
            (ConnectionKind::Ocsat, Some(LlnProduct::Ocsat)),
            (ConnectionKind::LlnRobot, Some(LlnProduct::LlnRobot)),
            (ConnectionKind::Moodle, None),
            (ConnectionKind::CourseKey, None),
            (ConnectionKind::Sms, None),
        ];
        for (kind, product) in cases {
            assert_eq!(LlnProduct::from_kind(kind), product, "{kind:?}");
            if let Some(p) = product {
                assert_eq!(p.kind(), kind);
                assert!(p.default_api_url().starts_with("https://"));
                assert!(p.default_auth_url().starts_with("https://"));
            }
        }
        assert_ne!(
            LlnProduct::Ocsat.default_api_url(),
            LlnProduct::LlnRobot.default_api_url()
        );
    }

    #[test]
    fn every_missing_required_field_is_listed_at_once_by_name() {
        let rule = UsernameRule::Default { email_unique: true };
        let cases: [(Learner, Vec<&str>); 6] = [
            (learner("Greg", "Abbott", Some("g@x.org"), dob()), vec![]),
            (
                learner("Greg", "", Some("g@x.org"), dob()),
                vec!["family_name"],
            ),
            (
                learner("Greg", "Abbott", Some("g@x.org"), None),
                vec!["date_of_birth"],
            ),
            (learner("Greg", "Abbott", None, dob()), vec!["email"]),
            (
                learner("Greg", "  ", Some(" "), None),
                vec!["family_name", "date_of_birth", "email"],
            ),
            (
                learner("Greg", "Abbott", Some("not-an-email"), dob()),
                vec!["email"],
            ),
        ];
        for (l, expected) in cases {
            match candidate_fields(&l, rule) {
                Ok(_) => assert!(expected.is_empty(), "{l:?} should be refused"),
                Err(e) => {
                    assert_eq!(e.fields(), expected, "{l:?}");
                    for field in expected {
                        assert!(e.to_string().contains(field), "{e}");
                    }
                }
            }
        }
    }

    #[test]
    fn given_and_other_names_are_optional() {
        let mut l = learner("", "Abbott", Some("g@x.org"), dob());
        l.middle_name = Some("  ".into());
        let f = candidate_fields(&l, UsernameRule::Default { email_unique: true }).unwrap();
        assert_eq!((f.given_name, f.other_name), (None, None));
        l.given_name = "Greg".into();
        l.middle_name = Some("Lee".into());
        let f = candidate_fields(&l, UsernameRule::Default { email_unique: true }).unwrap();
        assert_eq!(
            (f.given_name.as_deref(), f.other_name.as_deref()),
            (Some("Greg"), Some("Lee"))
        );
        assert_eq!(f.learner_code.as_str(), "C100");
    }

    #[test]
    fn the_username_is_the_given_value_else_the_email_else_firstname_surname() {
        let l = learner("Greg", "Abbott", Some(" Greg@X.org "), dob());
        let cases = [
            (UsernameRule::Given("gabbott"), "gabbott"),
            (UsernameRule::Given("  gabbott "), "gabbott"),
            (UsernameRule::Default { email_unique: true }, "Greg@X.org"),
            (
                UsernameRule::Default {
                    email_unique: false,
                },
                "Greg.Abbott",
            ),
        ];
        for (rule, expected) in cases {
            let f = candidate_fields(&l, rule).unwrap();
            assert_eq!(f.username, expected, "{rule:?}");
        }
        let cases = [
            ("Greg", "Abbott", "Greg.Abbott"),
            ("Mary Jane", "Van Dyke", "MaryJane.VanDyke"),
            ("", "Abbott", "Abbott"),
        ];
        for (given, family, expected) in cases {
            assert_eq!(name_username(given, family), expected);
        }
    }

    #[test]
    fn a_blank_or_spaced_given_username_is_refused_by_name() {
        let l = learner("Greg", "Abbott", Some("g@x.org"), dob());
        let e = candidate_fields(&l, UsernameRule::Given("  ")).unwrap_err();
        assert_eq!(e.fields(), vec!["username"]);
        let e = candidate_fields(&l, UsernameRule::Given("greg abbott")).unwrap_err();
        assert_eq!(e.fields(), vec!["username"]);
    }

    #[test]
    fn email_uniqueness_is_among_other_learners_of_the_tenant() {
        let me = learner("Greg", "Abbott", Some("g@x.org"), dob());
        let mut same_code = me.clone();
        same_code.email = Some("G@X.ORG".into());
        let mut sibling = me.clone();
        sibling.code = LearnerCode::parse("C101").unwrap();
        sibling.email = Some(" G@x.org".into());
        let mut other_tenant = sibling.clone();
        other_tenant.tenant = TenantId::parse("t2").unwrap();
        let mut different = sibling.clone();
        different.email = Some("h@x.org".into());
        let cases: [(Vec<&Learner>, bool); 5] = [
            (vec![], true),
            (vec![&same_code], true),
            (vec![&different], true),
            (vec![&other_tenant], true),
            (vec![&different, &sibling], false),
        ];
        for (others, unique) in cases {
            assert_eq!(email_is_unique(&me, others.iter().copied()), unique);
        }
    }

    fn fields() -> CandidateFields {
        candidate_fields(
            &learner("Greg", "Abbott", Some("g@x.org"), dob()),
            UsernameRule::Default { email_unique: true },
        )
        .unwrap()
    }

    #[test]
    fn out_of_sync_lists_every_differing_field() {
        let ours = fields();
        let mut theirs = ours.clone();
        assert!(out_of_sync(&ours, &theirs).is_empty());
        theirs.email = " G@X.ORG".into();
        theirs.family_name = "Abbott ".into();
        assert!(
            out_of_sync(&ours, &theirs).is_empty(),
            "case of email and spaces are not differences"
        );
        theirs.family_name = "Abott".into();
        theirs.given_name = None;
        theirs.date_of_birth = NaiveDate::from_ymd_opt(1990, 5, 18).unwrap();
        let diffs = out_of_sync(&ours, &theirs);
        assert_eq!(
            diffs.iter().map(|d| d.field).collect::<Vec<_>>(),
            vec!["family_name", "given_name", "date_of_birth"]
        );
        assert_eq!(diffs[1].ours.as_deref(), Some("Greg"));
        assert_eq!(diffs[1].theirs, None);
        assert_eq!(diffs[2].theirs.as_deref(), Some("1990-05-18"));
    }

    fn stored(pushed: CandidateFields) -> LlnCandidate {
        let at = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        LlnCandidate::pushed(
            TenantId::parse("t1").unwrap(),
            ConnectionId::parse("ocsat").unwrap(),
            &RemoteCandidate {
                id: CandidateId::parse("cand-1").unwrap(),
                fields: pushed.clone(),
                created_at: at,
                updated_at: at,
            },
            pushed,
            at,
        )
    }

    #[test]
    fn a_candidate_needs_a_push_when_changed_since_the_last_or_left_out() {
        let pushed = fields();
        let mut changed = pushed.clone();
        changed.other_name = Some("Lee".into());
        let mut flagged = stored(pushed.clone());
        flagged.needs_update = true;
        let cases = [
            (stored(pushed.clone()), pushed.clone(), false),
            (stored(pushed.clone()), changed.clone(), true),
            (flagged, pushed.clone(), true),
        ];
        for (candidate, current, expected) in cases {
            assert_eq!(candidate.needs_push(&current), expected);
        }
    }

    fn assessment(id: &str, candidate: &str, modified_day: u32) -> Assessment {
        Assessment {
            id: AssessmentId::parse(id).unwrap(),
            candidate_id: CandidateId::parse(candidate).unwrap(),
            name: "Core skills".into(),
            skills: vec!["Reading".into(), "Numeracy".into()],
            completed_at: Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 0).unwrap(),
            sitting_ids: vec!["S1".into()],
            results: vec![SkillResult {
                skill: "Reading".into(),
                level: Some("3".into()),
                score: Some(71.0),
                band: None,
            }],
            modified_at: Utc
                .with_ymd_and_hms(2026, 3, modified_day, 0, 0, 0)
                .unwrap(),
        }
    }

    #[test]
    fn a_download_is_ok_error_for_unknown_candidates_and_done_when_saved() {
        let candidates = HashMap::from([(
            CandidateId::parse("cand-1").unwrap(),
            LearnerCode::parse("C100").unwrap(),
        )]);
        let saved = HashSet::from([AssessmentId::parse("a-2").unwrap()]);
        let rows = classify_download(
            vec![
                assessment("a-1", "cand-1", 2),
                assessment("a-2", "cand-1", 3),
                assessment("a-3", "cand-ui", 4),
            ],
            &candidates,
            &saved,
        );
        assert_eq!(rows[0].status, DownloadStatus::Ok);
        assert_eq!(
            rows[0].learner.as_ref().map(LearnerCode::as_str),
            Some("C100")
        );
        assert_eq!(rows[1].status, DownloadStatus::Done);
        let DownloadStatus::Error { reason } = &rows[2].status else {
            panic!("unknown candidate must be an error")
        };
        assert!(reason.contains("cand-ui") && reason.contains("unknown"));
        assert_eq!(rows[2].learner, None);
    }

    #[test]
    fn the_modified_date_advances_to_the_latest_downloaded_never_back() {
        let rows = classify_download(
            vec![assessment("a-1", "x", 2), assessment("a-3", "x", 4)],
            &HashMap::new(),
            &HashSet::new(),
        );
        let day = |d| Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap();
        let cases = [
            (None, &rows[..], Some(day(4))),
            (Some(day(1)), &rows[..], Some(day(4))),
            (Some(day(9)), &rows[..], Some(day(9))),
            (Some(day(1)), &[][..], Some(day(1))),
            (None, &[][..], None),
        ];
        for (current, downloaded, expected) in cases {
            assert_eq!(next_modified_since(current, downloaded), expected);
        }
    }

    #[test]
    fn a_saved_assessment_takes_the_connection_defaults() {
        let settings = LlnSettings {
            default_staff: Some("STAFF-7".into()),
            default_assessment_status: Some("Received".into()),
            ..LlnSettings::default()
        };
        let now = Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).unwrap();
        let s = SavedAssessment::new(
            TenantId::parse("t1").unwrap(),
            ConnectionId::parse("ocsat").unwrap(),
            LearnerCode::parse("C100").unwrap(),
            assessment("a-1", "cand-1", 2),
            &settings,
            now,
        );
        assert_eq!(
            (s.status.as_deref(), s.staff.as_deref(), s.saved_at),
            (Some("Received"), Some("STAFF-7"), now)
        );
        assert_eq!(s.follow_up_comment, None);
    }

    fn call() -> ApiCall {
        ApiCall {
            at: Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).unwrap(),
            method: "POST".into(),
            url: "https://auth.example/token?client_secret=cs_live_0123456789&x=1".into(),
            request_headers: vec![
                (
                    "Authorization".into(),
                    "Bearer eyJhbGciOi.tokenvalue.sig123".into(),
                ),
                ("x-api-key".into(), "ak_live_abcdefghijkl".into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            request_body: Some(
                "grant_type=client_credentials&client_id=lb-client&client_secret=cs_live_0123456789"
                    .into(),
            ),
            response_status: Some(200),
            response_body: Some(
                r#"{"access_token":"eyJhbGciOi.tokenvalue.sig123","token_type":"Bearer","expires_in":3600,"nested":{"apiKey":"ak_live_abcdefghijkl"}}"#
                    .into(),
            ),
            error: Some("echo: cs_live_0123456789".into()),
            duration_ms: 12,
        }
    }

    #[test]
    fn obfuscation_masks_every_secret_wherever_it_appears() {
        let secrets = [
            "cs_live_0123456789",
            "ak_live_abcdefghijkl",
            "eyJhbGciOi.tokenvalue.sig123",
        ];
        let masked = obfuscate(call(), &secrets);
        let text = serde_json::to_string(&masked).unwrap();
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        // Without being told the values, the names alone are enough (an error
        // text that echoes a bare secret needs its value to be known).
        let unnamed = ApiCall {
            error: None,
            ..call()
        };
        let masked_by_name = serde_json::to_string(&obfuscate(unnamed, &[])).unwrap();
        for secret in secrets {
            assert!(
                !masked_by_name.contains(secret),
                "{secret} leaked: {masked_by_name}"
            );
        }
        // What is not secret stays readable for support.
        // The client id is sensitive too (the seed: "these fields are sensitive").
        assert!(!text.contains("lb-client") && text.contains("client_id=****"));
        assert!(text.contains("grant_type=client_credentials"));
        assert!(text.contains("application/json"));
        assert!(text.contains("expires_in"));
        assert!(text.contains("x=1"));
        assert!(text.contains(r#"\"token_type\":\"Bearer\""#), "{text}");
        assert_eq!(masked.request_headers[0].1, "Bearer ****g123");
        assert_eq!(obfuscate(masked.clone(), &secrets), masked, "idempotent");
        assert_eq!(obfuscate(masked.clone(), &[]), masked, "idempotent by name");
    }

    mod invariants {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Wherever a known secret lands in a call (URL, any header, either
            /// body, the error) and whatever surrounds it, it never survives
            /// obfuscation; and obfuscating twice changes nothing more.
            #[test]
            fn a_known_secret_never_survives(
                secret in "[A-Za-z0-9]{12,40}",
                before in "[ -~]{0,30}",
                after in "[ -~]{0,30}",
                place in 0usize..6,
            ) {
                let text = format!("{before}{secret}{after}");
                let mut c = ApiCall {
                    at: Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).unwrap(),
                    method: "GET".into(),
                    url: "https://api.example/v1/x".into(),
                    request_headers: vec![("x-trace".into(), "t".into())],
                    request_body: None,
                    response_status: Some(200),
                    response_body: None,
                    error: None,
                    duration_ms: 1,
                };
                match place {
                    0 => c.url = format!("https://api.example/v1/x?q={text}"),
                    1 => c.request_headers.push(("x-note".into(), text)),
                    2 => c.request_body = Some(text),
                    3 => c.response_body = Some(serde_json::json!({ "note": text }).to_string()),
                    4 => c.response_body = Some(text),
                    _ => c.error = Some(text),
                }
                let once = obfuscate(c, &[&secret]);
                let shown = serde_json::to_string(&once).unwrap();
                prop_assert!(!shown.contains(&secret), "{}", shown);
                let twice = obfuscate(once.clone(), &[&secret]);
                prop_assert_eq!(twice, once);
            }
        }
    }

    #[test]
    fn bearer_tokens_in_free_text_are_masked() {
        let cases = [
            ("Bearer abcdefghijklmnop", "Bearer ****mnop"),
            (
                "got bearer abcdefghijklmnop, refused",
                "got bearer ****mnop, refused",
            ),
            ("no token here", "no token here"),
            ("Bearer ", "Bearer "),
        ];
        for (text, expected) in cases {
            assert_eq!(mask_bearer(text), expected);
        }
    }
}
