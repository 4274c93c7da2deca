//! LLN (OCSAT / LLN Robot): candidates pushed from learners, assessment
//! results downloaded, saved and delivered to the SMS, the API call log and
//! the reports (the seed vettrak-ocsat-lln-integration; docs/features.md
//! LLN-*).
//!
//! The rules are pure functions in `domain::lln`; the tool is reached through
//! the `LlnApis` port (`connectors::ocsat`), state through the `LlnStore`
//! (`cloud::dynamo::DynamoLlnStore`). A download is stored and held open until a
//! person saves or cancels it: saving records the Ok assessments (once each,
//! with the connection's default status and staff), delivers each to the SMS
//! and advances the connection's modified date; cancelling records nothing and
//! leaves the date, so the next download brings the same assessments again.

use crate::deliveries::{DeliveryError, create_delivery};
use chrono::{DateTime, Utc};
use domain::connection::{ConnectionSettings, LlnSettings};
use domain::delivery::{DeliveryId, DeliveryKey, DeliveryKind};
use domain::lln::{
    self, ApiCall, AssessmentId, CandidateFields, CandidateIssues, DownloadStatus, FieldDiff,
    FieldIssue, LlnCandidate, LlnError, LlnProduct, RemoteCandidate, SavedAssessment, UsernameRule,
};
use domain::ports::{
    ConnectionStore, DeliveryStore, JobQueue, LlnAction, LlnApi, LlnApis, LlnDownload,
    LlnDownloadState, LlnHistoryEntry, LlnInvitation, LlnStore, Retryable, SisStore, StoreError,
    Written,
};
use domain::sis::Learner;
use domain::{AssessableId, Connection, ConnectionId, ConnectionKind, LearnerCode, OfferingId};
use domain::{IdError, TenantId};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Why an LLN use case failed. Messages name what to fix and hold no secret.
#[derive(Debug, thiserror::Error)]
pub enum LlnFlowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tool(#[from] LlnError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error("the tenant has no LLN connection (OCSAT or LLN Robot)")]
    NoLlnConnection,
    #[error("the tenant has several LLN connections ({connections}); name one")]
    SeveralLlnConnections { connections: String },
    #[error("connection {connection} does not exist")]
    UnknownConnection { connection: ConnectionId },
    #[error("connection {connection} is not an LLN connection (OCSAT or LLN Robot)")]
    NotLln { connection: ConnectionId },
    #[error("learner {learner} does not exist")]
    UnknownLearner { learner: LearnerCode },
    #[error("{0}")]
    Issues(CandidateIssues),
    #[error("learner {learner} already has candidate {candidate} in this connection")]
    AlreadyInvited {
        learner: LearnerCode,
        candidate: String,
    },
    #[error("learner {learner} has no candidate in this connection; create one first")]
    NoCandidate { learner: LearnerCode },
    #[error("no download {id}")]
    UnknownDownload { id: String },
    #[error("download {id} was already {state}")]
    DownloadClosed { id: String, state: &'static str },
    #[error("no saved assessment {id}")]
    UnknownAssessment { id: String },
    #[error("the tenant has no enabled SMS connection to deliver assessments to")]
    NoSms,
    #[error("assessment {id} cannot be delivered: {source}")]
    BadId {
        id: String,
        #[source]
        source: IdError,
    },
}

impl Retryable for LlnFlowError {
    fn is_retryable(&self) -> bool {
        match self {
            LlnFlowError::Store(e) => e.is_retryable(),
            LlnFlowError::Tool(e) => e.is_retryable(),
            LlnFlowError::Delivery(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// OCSAT calls a bulk update makes at once.
pub const BULK_PUSH_CONCURRENCY: usize = 8;

/// The LLN use cases over their ports.
#[derive(Clone)]
pub struct Lln {
    pub connections: Arc<dyn ConnectionStore>,
    pub sis: Arc<dyn SisStore>,
    pub store: Arc<dyn LlnStore>,
    pub apis: Arc<dyn LlnApis>,
    pub deliveries: Arc<dyn DeliveryStore>,
    pub queue: Arc<dyn JobQueue>,
    /// The tenant's zone dates an assessment's completion for the SMS.
    pub tenants: Arc<dyn domain::ports::TenantSettingsStore>,
}

/// A learner's candidate as the "edit candidate" screen shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateView {
    pub connection: ConnectionId,
    pub invitation: LlnInvitation,
    /// What would be pushed now (None when the learner has issues).
    pub current: Option<CandidateFields>,
    /// What keeps the learner from being pushed, every field at once.
    pub issues: Vec<FieldIssue>,
    /// The candidate as the tool holds it (None: the tool no longer has it).
    pub remote: Option<RemoteCandidate>,
    /// Every shared field that differs between the learner and the tool.
    pub out_of_sync: Vec<FieldDiff>,
}

/// One learner in the bulk update grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BulkRow {
    pub learner: LearnerCode,
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
    pub candidate_id: String,
    pub username: String,
    /// When the tool created the candidate, and last updated it.
    pub created_in_lln: DateTime<Utc>,
    pub updated_in_lln: DateTime<Utc>,
    pub last_pushed_at: DateTime<Utc>,
    /// `ok`, or `issues` (see `issues`).
    pub status: &'static str,
    pub issues: Vec<FieldIssue>,
    /// Left out of an earlier bulk update.
    pub flagged: bool,
    /// Ticked by default when Ok.
    pub selected: bool,
}

/// What a bulk push did, record by record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BulkReport {
    pub pushed: Vec<LearnerCode>,
    /// Left out: flagged, offered again in the next bulk update.
    pub excluded: Vec<LearnerCode>,
    pub failed: Vec<BulkFailure>,
    /// Selected, but not in the bulk update (nothing changed since the last
    /// push, or no candidate): nothing sent.
    pub unchanged: Vec<LearnerCode>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BulkFailure {
    pub learner: LearnerCode,
    pub error: String,
    /// Worth trying again later (the tool was unavailable).
    pub retryable: bool,
}

/// What saving a download did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SaveReport {
    pub download: String,
    pub saved: Vec<String>,
    pub deliveries: Vec<DeliveryId>,
    /// The connection's modified date after saving.
    pub modified_since: Option<DateTime<Utc>>,
}

/// A person's change to a saved assessment: only the fields sent change;
/// `Some(None)` clears one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssessmentEdit {
    pub status: Option<Option<String>>,
    pub staff: Option<Option<String>>,
    pub follow_up_comment: Option<Option<String>>,
}

/// Everything the "edit assessment" screen shows, for its report.
#[derive(Debug, Clone, Serialize)]
pub struct AssessmentReport {
    pub connection: ConnectionId,
    pub connection_name: String,
    pub product: &'static str,
    pub learner: LearnerCode,
    pub learner_name: Option<String>,
    pub candidate_id: String,
    pub username: Option<String>,
    pub saved: SavedAssessment,
}

/// Filters of the LLN summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SummaryFilter {
    pub learner: Option<LearnerCode>,
    /// Assessments completed from / to (both included).
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub status: Option<String>,
}

impl SummaryFilter {
    fn filters_assessments(&self) -> bool {
        self.from.is_some() || self.to.is_some() || self.status.is_some()
    }
}

/// One row of the LLN summary: a candidate, with one of its saved assessments
/// (or none yet).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    pub learner: LearnerCode,
    pub given_name: String,
    pub family_name: String,
    pub candidate_id: String,
    pub username: String,
    pub created_in_lln: DateTime<Utc>,
    pub assessment_id: Option<String>,
    pub assessment_name: Option<String>,
    pub skills: Vec<String>,
    pub completed_at: Option<DateTime<Utc>>,
    /// `skill: level / score / band` per skill, `; `-separated.
    pub results: Option<String>,
    pub status: Option<String>,
    pub staff: Option<String>,
    pub follow_up_comment: Option<String>,
    pub saved_at: Option<DateTime<Utc>>,
}

/// A download id: time-ordered (UTC timestamp, then 32 random bits).
fn new_download_id(now: DateTime<Utc>) -> String {
    format!(
        "{}-{:08x}",
        now.format("%Y%m%dT%H%M%S%3fZ"),
        rand::random::<u32>()
    )
}

fn settings(connection: &Connection) -> Result<&LlnSettings, LlnFlowError> {
    match &connection.settings {
        ConnectionSettings::Ocsat(s) | ConnectionSettings::LlnRobot(s) => Ok(s),
        _ => Err(LlnFlowError::NotLln {
            connection: connection.id.clone(),
        }),
    }
}

fn is_lln(kind: ConnectionKind) -> bool {
    LlnProduct::from_kind(kind).is_some()
}

fn state_name(state: LlnDownloadState) -> &'static str {
    match state {
        LlnDownloadState::Open => "open",
        LlnDownloadState::Saved => "saved",
        LlnDownloadState::Cancelled => "cancelled",
    }
}

fn results_text(a: &lln::Assessment) -> String {
    a.results
        .iter()
        .map(|r| {
            let parts: Vec<String> = [
                r.level.clone(),
                r.score.map(|s| s.to_string()),
                r.band.clone(),
            ]
            .into_iter()
            .flatten()
            .collect();
            format!("{}: {}", r.skill, parts.join(" / "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The delivery payload of a saved assessment: everything its edit view shows,
/// and `completed_on`, the completion's day in the tenant's `zone`.
pub fn delivery_payload(
    saved: &SavedAssessment,
    product: Option<LlnProduct>,
    zone: domain::zone::TenantZone,
) -> serde_json::Value {
    let a = &saved.assessment;
    serde_json::json!({
        "completed_on": zone.date_of(a.completed_at).to_string(),
        "product": product.map(LlnProduct::name),
        "assessment_id": a.id,
        "candidate_id": a.candidate_id,
        "name": a.name,
        "skills": a.skills,
        "completed_at": a.completed_at,
        "sitting_ids": a.sitting_ids,
        "results": a.results,
        "status": saved.status,
        "staff": saved.staff,
        "follow_up_comment": saved.follow_up_comment,
        "saved_at": saved.saved_at,
    })
}

/// Quotes a CSV field when it holds a comma, quote, CR or LF (RFC 4180), and
/// defuses a leading `=`, `+`, `-`, `@` (spreadsheet formulas) with a `'`.
pub fn csv_field(value: &str) -> String {
    let value = match value.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// The LLN summary as CSV (header, then one line per row, CRLF line ends).
pub fn summary_csv(rows: &[SummaryRow]) -> String {
    const HEADER: [&str; 15] = [
        "learner",
        "given_name",
        "family_name",
        "candidate_id",
        "username",
        "created_in_lln",
        "assessment_id",
        "assessment_name",
        "skills",
        "completed_at",
        "results",
        "status",
        "staff",
        "follow_up_comment",
        "saved_at",
    ];
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let mut out = HEADER.join(",");
    out.push_str("\r\n");
    for r in rows {
        let fields = [
            r.learner.to_string(),
            r.given_name.clone(),
            r.family_name.clone(),
            r.candidate_id.clone(),
            r.username.clone(),
            r.created_in_lln.to_rfc3339(),
            r.assessment_id.clone().unwrap_or_default(),
            r.assessment_name.clone().unwrap_or_default(),
            r.skills.join("; "),
            time(r.completed_at),
            r.results.clone().unwrap_or_default(),
            r.status.clone().unwrap_or_default(),
            r.staff.clone().unwrap_or_default(),
            r.follow_up_comment.clone().unwrap_or_default(),
            time(r.saved_at),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

impl Lln {
    /// The named LLN connection, or the tenant's only one when none is named.
    pub async fn connection(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
    ) -> Result<Connection, LlnFlowError> {
        if let Some(id) = named {
            let c = self
                .connections
                .connection(tenant, id)
                .await?
                .ok_or_else(|| LlnFlowError::UnknownConnection {
                    connection: id.clone(),
                })?;
            settings(&c)?;
            return Ok(c);
        }
        let mut lln: Vec<Connection> = self
            .connections
            .connections(tenant)
            .await?
            .into_iter()
            .filter(|c| is_lln(c.kind()))
            .collect();
        match lln.len() {
            0 => Err(LlnFlowError::NoLlnConnection),
            1 => Ok(lln.remove(0)),
            _ => Err(LlnFlowError::SeveralLlnConnections {
                connections: lln
                    .iter()
                    .map(|c| c.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    async fn history(
        &self,
        connection: &Connection,
        at: DateTime<Utc>,
        action: LlnAction,
        learner: Option<&LearnerCode>,
        detail: String,
    ) -> Result<(), StoreError> {
        self.store
            .record_history(&LlnHistoryEntry {
                tenant: connection.tenant.clone(),
                connection: connection.id.clone(),
                at,
                action,
                learner: learner.cloned(),
                detail,
            })
            .await
    }

    async fn learner(
        &self,
        tenant: &TenantId,
        code: &LearnerCode,
    ) -> Result<Learner, LlnFlowError> {
        self.sis
            .learner(tenant, code)
            .await?
            .ok_or_else(|| LlnFlowError::UnknownLearner {
                learner: code.clone(),
            })
    }

    async fn api(&self, connection: &Connection) -> Result<Arc<dyn LlnApi>, LlnFlowError> {
        Ok(self.apis.for_connection(connection).await?)
    }

    /// Tests the connection: a token and one cheap call.
    pub async fn test(&self, connection: &Connection) -> Result<(), LlnError> {
        self.apis
            .for_connection(connection)
            .await?
            .test_connection()
            .await
    }

    /// Creates the learner's candidate in the tool (LLN-15..20, LLN-08): every
    /// missing required field listed at once; the username as given, else the
    /// learner's email, else `Firstname.Surname` when another candidate of the
    /// connection has that email or the tool already has it as a username. An
    /// earlier create whose answer was lost is recognised and adopted.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, learner = %learner))]
    pub async fn create_candidate(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        learner: &LearnerCode,
        username: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<LlnInvitation, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let settings = settings(&connection)?.clone();
        let person = self.learner(tenant, learner).await?;
        if let Some(existing) = self
            .store
            .invitation(tenant, &connection.id, learner)
            .await?
        {
            return Err(LlnFlowError::AlreadyInvited {
                learner: learner.clone(),
                candidate: existing.candidate.candidate_id.to_string(),
            });
        }
        // Shared with another candidate of this connection (the tool refusing the
        // email as a username is handled after the create, below).
        let email_unique = match person.email.as_deref().map(str::trim) {
            Some(email) if !email.is_empty() => self
                .store
                .invitations_with_email(tenant, &connection.id, email)
                .await?
                .iter()
                .all(|i| i.candidate.learner == *learner),
            _ => true,
        };
        let rule = match username {
            Some(given) => UsernameRule::Given(given),
            None => UsernameRule::Default { email_unique },
        };
        let fields = lln::candidate_fields(&person, rule).map_err(LlnFlowError::Issues)?;
        let api = self.api(&connection).await?;
        let (remote, fields) = match self.create_or_adopt(api.as_ref(), &fields).await {
            Err(LlnFlowError::Tool(LlnError::Duplicate { field }))
                if field == "username"
                    && username.is_none()
                    && matches!(rule, UsernameRule::Default { email_unique: true }) =>
            {
                // The tool has the email as someone's username: Firstname.Surname.
                let fields = lln::candidate_fields(
                    &person,
                    UsernameRule::Default {
                        email_unique: false,
                    },
                )
                .map_err(LlnFlowError::Issues)?;
                (self.create_or_adopt(api.as_ref(), &fields).await?, fields)
            }
            other => (other?, fields),
        };
        let invitation = LlnInvitation {
            candidate: LlnCandidate::pushed(
                tenant.clone(),
                connection.id.clone(),
                &remote,
                fields,
                now,
            ),
            staff: settings.default_staff.clone(),
        };
        self.store.save_invitation(&invitation).await?;
        self.history(
            &connection,
            now,
            LlnAction::CandidateCreated,
            Some(learner),
            format!("candidate {} created", remote.id),
        )
        .await?;
        tracing::info!(candidate = %remote.id, "LLN candidate created");
        Ok(invitation)
    }

    async fn create_or_adopt(
        &self,
        api: &dyn LlnApi,
        fields: &CandidateFields,
    ) -> Result<RemoteCandidate, LlnFlowError> {
        match api.create_candidate(fields).await {
            Ok(remote) => Ok(remote),
            Err(LlnError::Duplicate { field }) => {
                match api.find_candidate(&fields.username, &fields.email).await? {
                    Some(found) if found.fields.learner_code == fields.learner_code => Ok(found),
                    _ => Err(LlnError::Duplicate { field }.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The learner's candidate with what is out of sync with the tool, field by
    /// field (LLN-21).
    pub async fn candidate(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        learner: &LearnerCode,
    ) -> Result<CandidateView, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let invitation = self
            .store
            .invitation(tenant, &connection.id, learner)
            .await?
            .ok_or_else(|| LlnFlowError::NoCandidate {
                learner: learner.clone(),
            })?;
        let person = self.learner(tenant, learner).await?;
        let current =
            lln::candidate_fields(&person, UsernameRule::Given(&invitation.candidate.username));
        let remote = self
            .api(&connection)
            .await?
            .candidate(&invitation.candidate.candidate_id)
            .await?;
        let out_of_sync = match (&current, &remote) {
            (Ok(ours), Some(theirs)) => lln::out_of_sync(ours, &theirs.fields),
            _ => Vec::new(),
        };
        let (current, issues) = match current {
            Ok(f) => (Some(f), Vec::new()),
            Err(e) => (None, e.issues),
        };
        Ok(CandidateView {
            connection: connection.id,
            invitation,
            current,
            issues,
            remote,
            out_of_sync,
        })
    }

    async fn push_one(
        &self,
        connection: &Connection,
        api: &dyn LlnApi,
        invitation: &LlnInvitation,
        fields: CandidateFields,
        now: DateTime<Utc>,
    ) -> Result<LlnInvitation, LlnFlowError> {
        let remote = api
            .update_candidate(&invitation.candidate.candidate_id, &fields)
            .await?;
        let updated = LlnInvitation {
            candidate: LlnCandidate::pushed(
                connection.tenant.clone(),
                connection.id.clone(),
                &remote,
                fields,
                now,
            ),
            staff: invitation.staff.clone(),
        };
        self.store.save_invitation(&updated).await?;
        self.history(
            connection,
            now,
            LlnAction::CandidateUpdated,
            Some(&updated.candidate.learner),
            format!("candidate {} updated", remote.id),
        )
        .await?;
        Ok(updated)
    }

    /// Pushes the learner's current shared fields to the tool (LLN-22); the
    /// username stays the candidate's unless a new one is given.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, learner = %learner))]
    pub async fn update_candidate(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        learner: &LearnerCode,
        username: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<LlnInvitation, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let invitation = self
            .store
            .invitation(tenant, &connection.id, learner)
            .await?
            .ok_or_else(|| LlnFlowError::NoCandidate {
                learner: learner.clone(),
            })?;
        let person = self.learner(tenant, learner).await?;
        let rule = UsernameRule::Given(username.unwrap_or(&invitation.candidate.username));
        let fields = lln::candidate_fields(&person, rule).map_err(LlnFlowError::Issues)?;
        let api = self.api(&connection).await?;
        match self
            .push_one(&connection, api.as_ref(), &invitation, fields, now)
            .await
        {
            Ok(updated) => Ok(updated),
            Err(e) => {
                self.history(
                    &connection,
                    now,
                    LlnAction::CandidatePushFailed,
                    Some(learner),
                    e.to_string(),
                )
                .await?;
                Err(e)
            }
        }
    }

    /// The bulk update grid (LLN-23..25, 27): every learner whose shared fields
    /// changed since the last push, or who was left out of the previous bulk
    /// update, each Ok (selected) or with the issues to fix. Calling it again is
    /// "find modified clients".
    pub async fn bulk_changes(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
    ) -> Result<(ConnectionId, Vec<BulkRow>), LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let rows = self.changed_rows(&connection).await?;
        Ok((
            connection.id,
            rows.into_iter().map(|(row, _, _)| row).collect(),
        ))
    }

    async fn changed_rows(
        &self,
        connection: &Connection,
    ) -> Result<Vec<(BulkRow, LlnInvitation, Option<CandidateFields>)>, LlnFlowError> {
        let invitations = self
            .store
            .invitations(&connection.tenant, &connection.id)
            .await?;
        let codes: Vec<LearnerCode> = invitations
            .iter()
            .map(|i| i.candidate.learner.clone())
            .collect();
        let learners: HashMap<LearnerCode, Learner> = self
            .sis
            .learners(&connection.tenant, &codes)
            .await?
            .into_iter()
            .map(|l| (l.code.clone(), l))
            .collect();
        let mut rows = Vec::new();
        for invitation in invitations {
            let c = &invitation.candidate;
            let Some(person) = learners.get(&c.learner) else {
                continue;
            };
            let current = lln::candidate_fields(person, UsernameRule::Given(&c.username));
            let (status, issues, fields) = match current {
                Ok(fields) if c.needs_push(&fields) => ("ok", Vec::new(), Some(fields)),
                Ok(_) => continue,
                // Issues count as a change only when the learner changed since the push.
                Err(e) if c.needs_update || person.updated_at > c.last_pushed_at => {
                    ("issues", e.issues, None)
                }
                Err(_) => continue,
            };
            rows.push((
                BulkRow {
                    learner: c.learner.clone(),
                    given_name: person.given_name.clone(),
                    family_name: person.family_name.clone(),
                    email: person.email.clone(),
                    candidate_id: c.candidate_id.to_string(),
                    username: c.username.clone(),
                    created_in_lln: c.created_in_lln,
                    updated_in_lln: c.updated_in_lln,
                    last_pushed_at: c.last_pushed_at,
                    status,
                    issues,
                    flagged: c.needs_update,
                    selected: status == "ok",
                },
                invitation,
                fields,
            ));
        }
        Ok(rows)
    }

    /// Pushes the bulk update (LLN-26, 28): the selected changed learners (all
    /// Ok ones when `selected` is None) except the excluded; the ones left out
    /// stay flagged for the next bulk update. Every record is tried; errors are
    /// reported per record afterwards.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn bulk_push(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        selected: Option<&[LearnerCode]>,
        excluded: &[LearnerCode],
        now: DateTime<Utc>,
    ) -> Result<BulkReport, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let rows = self.changed_rows(&connection).await?;
        let excluded: BTreeSet<&LearnerCode> = excluded.iter().collect();
        let selected: Option<BTreeSet<&LearnerCode>> = selected.map(|s| s.iter().collect());
        let api = self.api(&connection).await?;
        let mut report = BulkReport::default();
        let mut pushes = Vec::new();
        for (row, invitation, fields) in rows {
            let chosen = !excluded.contains(&row.learner)
                && selected.as_ref().is_none_or(|s| s.contains(&row.learner));
            if !chosen {
                if !invitation.candidate.needs_update {
                    let mut flagged = invitation.clone();
                    flagged.candidate.needs_update = true;
                    self.store.save_invitation(&flagged).await?;
                }
                self.history(
                    &connection,
                    now,
                    LlnAction::CandidateExcluded,
                    Some(&row.learner),
                    "left out of the bulk update; offered again next time".into(),
                )
                .await?;
                report.excluded.push(row.learner);
                continue;
            }
            let Some(fields) = fields else {
                let error = CandidateIssues { issues: row.issues }.to_string();
                report.failed.push(BulkFailure {
                    learner: row.learner,
                    error,
                    retryable: false,
                });
                continue;
            };
            pushes.push((row.learner, invitation, fields));
        }
        // OCSAT calls in flight at once: a bulk update of hundreds of learners
        // finishes within the API's time rather than one call after another.
        let (connection, api) = (&connection, api.as_ref());
        let outcomes: Vec<(LearnerCode, Result<_, LlnFlowError>)> =
            futures::stream::iter(pushes.into_iter().map(
                |(learner, invitation, fields)| async move {
                    let outcome = self
                        .push_one(connection, api, &invitation, fields, now)
                        .await;
                    (learner, outcome)
                },
            ))
            .buffer_unordered(BULK_PUSH_CONCURRENCY)
            .collect()
            .await;
        for (learner, outcome) in outcomes {
            match outcome {
                Ok(_) => report.pushed.push(learner),
                Err(LlnFlowError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    self.history(
                        connection,
                        now,
                        LlnAction::CandidatePushFailed,
                        Some(&learner),
                        e.to_string(),
                    )
                    .await?;
                    report.failed.push(BulkFailure {
                        learner,
                        retryable: e.is_retryable(),
                        error: e.to_string(),
                    });
                }
            }
        }
        report.pushed.sort();
        report.failed.sort_by(|a, b| a.learner.cmp(&b.learner));
        if let Some(selected) = &selected {
            let offered: BTreeSet<&LearnerCode> = report
                .pushed
                .iter()
                .chain(&report.excluded)
                .chain(report.failed.iter().map(|f| &f.learner))
                .collect();
            report.unchanged = selected
                .iter()
                .filter(|l| !offered.contains(*l) && !excluded.contains(*l))
                .map(|l| (*l).clone())
                .collect();
        }
        tracing::info!(
            pushed = report.pushed.len(),
            excluded = report.excluded.len(),
            failed = report.failed.len(),
            "LLN bulk update"
        );
        Ok(report)
    }

    /// Downloads the assessments modified after the stored modified date (or
    /// `modified_after`, a person's override), for every candidate or one
    /// learner's, classifies each Ok / Error / Done and holds the download open
    /// (LLN-29..34).
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn download(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        learner: Option<&LearnerCode>,
        modified_after: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<LlnDownload, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let only = match learner {
            Some(code) => Some(
                self.store
                    .invitation(tenant, &connection.id, code)
                    .await?
                    .ok_or_else(|| LlnFlowError::NoCandidate {
                        learner: code.clone(),
                    })?
                    .candidate
                    .candidate_id,
            ),
            None => None,
        };
        let stored = self.store.modified_since(tenant, &connection.id).await?;
        let since = modified_after.or(stored);
        let api = self.api(&connection).await?;
        let mut assessments = api
            .assessments_after(since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH))
            .await?;
        if let Some(candidate) = &only {
            assessments.retain(|a| &a.candidate_id == candidate);
        }
        let candidates: HashMap<_, _> = self
            .store
            .invitations(tenant, &connection.id)
            .await?
            .into_iter()
            .map(|i| (i.candidate.candidate_id, i.candidate.learner))
            .collect();
        let saved: HashSet<AssessmentId> = self
            .store
            .assessments(tenant, &connection.id)
            .await?
            .into_iter()
            .map(|s| s.assessment.id)
            .collect();
        let items = lln::classify_download(assessments, &candidates, &saved);
        let download = LlnDownload {
            tenant: tenant.clone(),
            connection: connection.id.clone(),
            id: new_download_id(now),
            learner: learner.cloned(),
            modified_after: since,
            overridden: modified_after.is_some(),
            items,
            state: LlnDownloadState::Open,
            created_at: now,
            closed_at: None,
        };
        self.store.create_download(&download).await?;
        let count =
            |f: fn(&DownloadStatus) -> bool| download.items.iter().filter(|i| f(&i.status)).count();
        self.history(
            &connection,
            now,
            LlnAction::AssessmentsDownloaded,
            learner,
            format!(
                "download {}: {} assessments ({} ok, {} error, {} done)",
                download.id,
                download.items.len(),
                count(|s| matches!(s, DownloadStatus::Ok)),
                count(|s| matches!(s, DownloadStatus::Error { .. })),
                count(|s| matches!(s, DownloadStatus::Done)),
            ),
        )
        .await?;
        Ok(download)
    }

    /// A download as stored.
    pub async fn get_download(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        id: &str,
    ) -> Result<LlnDownload, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        self.store
            .download(tenant, &connection.id, id)
            .await?
            .ok_or_else(|| LlnFlowError::UnknownDownload { id: id.to_owned() })
    }

    async fn sms(&self, tenant: &TenantId) -> Result<ConnectionId, LlnFlowError> {
        self.connections
            .connections(tenant)
            .await?
            .into_iter()
            .find(|c| c.kind() == ConnectionKind::Sms && c.enabled)
            .map(|c| c.id)
            .ok_or(LlnFlowError::NoSms)
    }

    /// Saves an open download (LLN-35, 37, 39, 40): each Ok assessment is recorded
    /// once with the connection's default status and staff and delivered to the
    /// SMS; the modified date advances (for a download of every candidate). A
    /// save interrupted half-way can be repeated: what was saved stays, once.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, download = %id))]
    pub async fn save_download(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<SaveReport, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let settings = settings(&connection)?.clone();
        let download = self.get_download(tenant, Some(&connection.id), id).await?;
        if download.state != LlnDownloadState::Open {
            return Err(LlnFlowError::DownloadClosed {
                id: id.to_owned(),
                state: state_name(download.state),
            });
        }
        let sms = self.sms(tenant).await?;
        let zone = self.tenants.tenant_settings(tenant).await?.zone();
        let product = LlnProduct::from_kind(connection.kind());
        let offering =
            OfferingId::parse(connection.id.as_str()).map_err(|source| LlnFlowError::BadId {
                id: connection.id.to_string(),
                source,
            })?;
        let mut report = SaveReport {
            download: download.id.clone(),
            saved: Vec::new(),
            deliveries: Vec::new(),
            modified_since: None,
        };
        for item in &download.items {
            let (DownloadStatus::Ok, Some(learner)) = (&item.status, &item.learner) else {
                continue;
            };
            let new = SavedAssessment::new(
                tenant.clone(),
                connection.id.clone(),
                learner.clone(),
                item.assessment.clone(),
                &settings,
                now,
            );
            let saved = match self.store.save_assessment(&new).await? {
                Written::Done => new,
                // Saved before (a repeated save): deliver what was stored.
                Written::AlreadyDone => self
                    .store
                    .assessment(tenant, &connection.id, &new.assessment.id)
                    .await?
                    .unwrap_or(new),
            };
            let assessable =
                AssessableId::parse(saved.assessment.id.as_str()).map_err(|source| {
                    LlnFlowError::BadId {
                        id: saved.assessment.id.to_string(),
                        source,
                    }
                })?;
            let key = DeliveryKey {
                tenant: tenant.clone(),
                learner: learner.clone(),
                offering: offering.clone(),
                assessable: Some(assessable),
                kind: DeliveryKind::LlnAssessment,
            };
            let created = create_delivery(
                self.deliveries.as_ref(),
                self.queue.as_ref(),
                &key,
                &sms,
                delivery_payload(&saved, product, zone),
                now,
            )
            .await?;
            report.deliveries.push(match created {
                crate::deliveries::Created::New(id)
                | crate::deliveries::Created::Unchanged(id)
                | crate::deliveries::Created::Replaced(id) => id,
                crate::deliveries::Created::Superseded { delivered, .. } => delivered,
            });
            self.history(
                &connection,
                now,
                LlnAction::AssessmentSaved,
                Some(learner),
                format!("assessment {} saved", saved.assessment.id),
            )
            .await?;
            report.saved.push(saved.assessment.id.to_string());
        }
        let current = self.store.modified_since(tenant, &connection.id).await?;
        report.modified_since = current;
        if download.learner.is_none()
            && let Some(next) = lln::next_modified_since(current, &download.items)
            && Some(next) != current
        {
            self.store
                .save_modified_since(tenant, &connection.id, next)
                .await?;
            report.modified_since = Some(next);
        }
        self.store
            .close_download(tenant, &connection.id, id, LlnDownloadState::Saved, now)
            .await?;
        self.history(
            &connection,
            now,
            LlnAction::DownloadSaved,
            download.learner.as_ref(),
            format!("download {id}: {} assessments saved", report.saved.len()),
        )
        .await?;
        Ok(report)
    }

    /// Cancels an open download (LLN-36): nothing is saved, the modified date
    /// stays, so the next download brings the same assessments again.
    pub async fn cancel_download(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<LlnDownload, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let download = self.get_download(tenant, Some(&connection.id), id).await?;
        if download.state != LlnDownloadState::Open {
            return Err(LlnFlowError::DownloadClosed {
                id: id.to_owned(),
                state: state_name(download.state),
            });
        }
        self.store
            .close_download(tenant, &connection.id, id, LlnDownloadState::Cancelled, now)
            .await?;
        self.history(
            &connection,
            now,
            LlnAction::DownloadCancelled,
            download.learner.as_ref(),
            format!("download {id} cancelled: nothing saved"),
        )
        .await?;
        self.get_download(tenant, Some(&connection.id), id).await
    }

    /// A saved assessment.
    pub async fn assessment(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        id: &AssessmentId,
    ) -> Result<(Connection, SavedAssessment), LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let saved = self
            .store
            .assessment(tenant, &connection.id, id)
            .await?
            .ok_or_else(|| LlnFlowError::UnknownAssessment { id: id.to_string() })?;
        Ok((connection, saved))
    }

    /// Saved assessments, of one learner or all.
    pub async fn assessments(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        learner: Option<&LearnerCode>,
    ) -> Result<Vec<SavedAssessment>, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let mut all = self.store.assessments(tenant, &connection.id).await?;
        if let Some(code) = learner {
            all.retain(|a| &a.learner == code);
        }
        all.sort_by_key(|a| a.assessment.completed_at);
        Ok(all)
    }

    /// Records a person's status, staff and follow-up comment (LLN-38).
    pub async fn edit_assessment(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        id: &AssessmentId,
        edit: AssessmentEdit,
        now: DateTime<Utc>,
    ) -> Result<SavedAssessment, LlnFlowError> {
        let (connection, mut saved) = self.assessment(tenant, named, id).await?;
        let mut changed = Vec::new();
        if let Some(v) = edit.status {
            changed.push("status");
            saved.status = v;
        }
        if let Some(v) = edit.staff {
            changed.push("staff");
            saved.staff = v;
        }
        if let Some(v) = edit.follow_up_comment {
            changed.push("follow_up_comment");
            saved.follow_up_comment = v;
        }
        if changed.is_empty() {
            return Ok(saved);
        }
        self.store.update_assessment(&saved).await?;
        self.history(
            &connection,
            now,
            LlnAction::AssessmentEdited,
            Some(&saved.learner),
            format!("assessment {id}: {} changed", changed.join(", ")),
        )
        .await?;
        Ok(saved)
    }

    /// The assessment's report: everything its edit view shows (LLN-41).
    pub async fn assessment_report(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        id: &AssessmentId,
    ) -> Result<AssessmentReport, LlnFlowError> {
        let (connection, saved) = self.assessment(tenant, named, id).await?;
        let person = self.sis.learner(tenant, &saved.learner).await?;
        let invitation = self
            .store
            .invitation(tenant, &connection.id, &saved.learner)
            .await?;
        Ok(AssessmentReport {
            product: LlnProduct::from_kind(connection.kind()).map_or("", LlnProduct::name),
            connection_name: connection.name.clone(),
            connection: connection.id,
            learner: saved.learner.clone(),
            learner_name: person.map(|p| p.display_name()),
            candidate_id: saved.assessment.candidate_id.to_string(),
            username: invitation.map(|i| i.candidate.username),
            saved,
        })
    }

    /// The LLN summary (LLN-42): every candidate with each of its saved
    /// assessments (a candidate without one shows once, when no assessment
    /// filter is set), filtered.
    pub async fn summary(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        filter: &SummaryFilter,
    ) -> Result<Vec<SummaryRow>, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let mut invitations = self.store.invitations(tenant, &connection.id).await?;
        if let Some(code) = &filter.learner {
            invitations.retain(|i| &i.candidate.learner == code);
        }
        let mut by_learner: HashMap<LearnerCode, Vec<SavedAssessment>> = HashMap::new();
        for saved in self.store.assessments(tenant, &connection.id).await? {
            let a = &saved.assessment;
            let keep = filter.from.is_none_or(|from| a.completed_at >= from)
                && filter.to.is_none_or(|to| a.completed_at <= to)
                && filter
                    .status
                    .as_ref()
                    .is_none_or(|s| saved.status.as_deref() == Some(s.as_str()));
            if keep {
                by_learner
                    .entry(saved.learner.clone())
                    .or_default()
                    .push(saved);
            }
        }
        let mut rows = Vec::new();
        for invitation in invitations {
            let c = invitation.candidate;
            let base = |saved: Option<&SavedAssessment>| SummaryRow {
                learner: c.learner.clone(),
                given_name: c.pushed.given_name.clone().unwrap_or_default(),
                family_name: c.pushed.family_name.clone(),
                candidate_id: c.candidate_id.to_string(),
                username: c.username.clone(),
                created_in_lln: c.created_in_lln,
                assessment_id: saved.map(|s| s.assessment.id.to_string()),
                assessment_name: saved.map(|s| s.assessment.name.clone()),
                skills: saved
                    .map(|s| s.assessment.skills.clone())
                    .unwrap_or_default(),
                completed_at: saved.map(|s| s.assessment.completed_at),
                results: saved.map(|s| results_text(&s.assessment)),
                status: saved.and_then(|s| s.status.clone()),
                staff: saved.and_then(|s| s.staff.clone()),
                follow_up_comment: saved.and_then(|s| s.follow_up_comment.clone()),
                saved_at: saved.map(|s| s.saved_at),
            };
            match by_learner.get_mut(&c.learner) {
                Some(list) => {
                    list.sort_by_key(|a| a.assessment.completed_at);
                    rows.extend(list.iter().map(|s| base(Some(s))));
                }
                None if !filter.filters_assessments() => rows.push(base(None)),
                None => {}
            }
        }
        Ok(rows)
    }

    /// The history (audit trail) from `from` to `to` (LLN-44).
    pub async fn history_between(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LlnHistoryEntry>, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        Ok(self.store.history(tenant, &connection.id, from, to).await?)
    }

    /// Switches API call logging for a connection (LLN-10); returns it as saved.
    pub async fn set_api_logging(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        on: bool,
        now: DateTime<Utc>,
    ) -> Result<Connection, LlnFlowError> {
        let mut connection = self.connection(tenant, Some(connection)).await?;
        match &mut connection.settings {
            ConnectionSettings::Ocsat(s) | ConnectionSettings::LlnRobot(s) => {
                if s.api_logging == on {
                    return Ok(connection);
                }
                s.api_logging = on;
            }
            _ => {
                return Err(LlnFlowError::NotLln {
                    connection: connection.id,
                });
            }
        }
        self.connections.save_connection(&connection).await?;
        self.history(
            &connection,
            now,
            LlnAction::ApiLoggingSwitched,
            None,
            format!("API logging {}", if on { "on" } else { "off" }),
        )
        .await?;
        Ok(connection)
    }

    /// The connection's API call log (LLN-12), secrets already obfuscated.
    pub async fn api_log(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<ApiCall>, LlnFlowError> {
        let connection = self.connection(tenant, Some(connection)).await?;
        Ok(self.store.api_calls(tenant, &connection.id).await?)
    }
}

/// The API log as newline-delimited JSON, one call a line (for a file).
pub fn api_log_ndjson(calls: &[ApiCall]) -> String {
    calls
        .iter()
        .filter_map(|c| serde_json::to_string(c).ok())
        .map(|line| line + "\n")
        .collect()
}

#[cfg(test)]
#[path = "lln_tests.rs"]
mod tests;
