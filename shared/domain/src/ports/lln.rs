//! LLN assessment tools (OCSAT, LLN Robot): the tool's API, its call log, and
//! what learnbridge keeps per LLN connection.

use super::store::{StoreError, Written};
use crate::connection::Connection;
use crate::ids::{ConnectionId, TenantId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// An LLN assessment tool (OCSAT, LLN Robot) reached through one connection
/// (docs/connectors/ocsat.md). Implementations get and cache the OAuth2 token,
/// send the API key, and write every call to the connection's [`LlnCallLog`]
/// (obfuscated) when its settings ask for API logging.
#[async_trait]
pub trait LlnApi: Send + Sync {
    /// Obtains a token and makes one cheap authenticated call.
    async fn test_connection(&self) -> Result<(), crate::lln::LlnError>;
    /// Creates a candidate. A username or email the tool already has is
    /// [`crate::lln::LlnError::Duplicate`] (use [`LlnApi::find_candidate`] to
    /// recognise our own earlier create after a lost answer).
    async fn create_candidate(
        &self,
        fields: &crate::lln::CandidateFields,
    ) -> Result<crate::lln::RemoteCandidate, crate::lln::LlnError>;
    /// A candidate by its id; `None` when the tool has no such candidate.
    async fn candidate(
        &self,
        id: &crate::lln::CandidateId,
    ) -> Result<Option<crate::lln::RemoteCandidate>, crate::lln::LlnError>;
    /// The candidate with this username (or, failing that, this email), if any.
    async fn find_candidate(
        &self,
        username: &str,
        email: &str,
    ) -> Result<Option<crate::lln::RemoteCandidate>, crate::lln::LlnError>;
    /// Replaces the candidate's shared fields; pushing the same fields twice changes nothing.
    async fn update_candidate(
        &self,
        id: &crate::lln::CandidateId,
        fields: &crate::lln::CandidateFields,
    ) -> Result<crate::lln::RemoteCandidate, crate::lln::LlnError>;
    /// One page of the assessments modified strictly after `modified_after`,
    /// oldest modification first; `cursor` is the previous page's `next_cursor`.
    async fn assessments_page(
        &self,
        modified_after: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<crate::lln::AssessmentPage, crate::lln::LlnError>;
    /// Every assessment modified after `modified_after`, all pages read.
    async fn assessments_after(
        &self,
        modified_after: DateTime<Utc>,
    ) -> Result<Vec<crate::lln::Assessment>, crate::lln::LlnError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .assessments_page(modified_after, cursor.as_deref())
                .await?;
            all.extend(page.assessments);
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(all),
            }
        }
    }
}

/// The LLN tool behind a connection, built from its settings and secrets (and
/// kept per connection within an instance, so its token is reused).
#[async_trait]
pub trait LlnApis: Send + Sync {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<std::sync::Arc<dyn LlnApi>, crate::lln::LlnError>;
}

/// Where an LLN connector writes each API call while the connection's
/// `api_logging` is on. Calls arrive already obfuscated ([`crate::lln::obfuscate`]).
/// A failure to log never fails the call itself: the connector reports it and goes on.
#[async_trait]
pub trait LlnCallLog: Send + Sync {
    async fn record(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        call: &crate::lln::ApiCall,
    ) -> Result<(), StoreError>;
}

/// A learner's invitation in one LLN connection: the candidate learnbridge
/// pushed, and the staff member assigned when it was created (the connection's
/// `default_staff`, LLN-08).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LlnInvitation {
    pub candidate: crate::lln::LlnCandidate,
    pub staff: Option<String>,
}

/// Where a download of LLN assessments is: held open until a person saves or
/// cancels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlnDownloadState {
    Open,
    Saved,
    Cancelled,
}

/// One download of assessments from an LLN tool, with each item's status
/// (Ok / Error with the reason / Done), held until saved or cancelled.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LlnDownload {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    /// UUIDv7 (time-ordered).
    pub id: String,
    /// Only this learner's candidate (None: every candidate of the connection).
    pub learner: Option<crate::LearnerCode>,
    /// The modified date asked for (the stored one, or a person's override).
    pub modified_after: Option<DateTime<Utc>>,
    /// Whether `modified_after` was a person's override of the stored date.
    pub overridden: bool,
    pub items: Vec<crate::lln::DownloadedAssessment>,
    pub state: LlnDownloadState,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// What happened, in the LLN history (audit trail, LLN-44).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlnAction {
    CandidateCreated,
    CandidateUpdated,
    CandidatePushFailed,
    CandidateExcluded,
    AssessmentsDownloaded,
    AssessmentSaved,
    DownloadSaved,
    DownloadCancelled,
    AssessmentEdited,
    ApiLoggingSwitched,
}

/// One LLN transaction in the history. `detail` holds ids and counts, never
/// secrets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LlnHistoryEntry {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub at: DateTime<Utc>,
    pub action: LlnAction,
    pub learner: Option<crate::LearnerCode>,
    pub detail: String,
}

/// What learnbridge keeps per LLN connection: invitations (candidates) by
/// learner and by the tool's candidate id, the stored modified date, downloads
/// held until saved or cancelled, saved assessments (once per assessment id),
/// the API call log (expiring) and the history. Every read and write is scoped
/// by tenant.
#[async_trait]
pub trait LlnStore: Send + Sync {
    async fn invitation(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        learner: &crate::LearnerCode,
    ) -> Result<Option<LlnInvitation>, StoreError>;
    async fn invitation_by_candidate(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        candidate: &crate::lln::CandidateId,
    ) -> Result<Option<LlnInvitation>, StoreError>;
    /// Every invitation of the connection, by learner code.
    async fn invitations(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<LlnInvitation>, StoreError>;
    /// Stores (replaces) the invitation of its learner.
    async fn save_invitation(&self, invitation: &LlnInvitation) -> Result<(), StoreError>;
    /// The invitations whose candidate was pushed with this email (trimmed,
    /// case-insensitive): the username rule asks whether an email is shared.
    /// Adapters should answer without reading every invitation; this default does.
    async fn invitations_with_email(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        email: &str,
    ) -> Result<Vec<LlnInvitation>, StoreError> {
        let wanted = email.trim().to_lowercase();
        Ok(self
            .invitations(tenant, connection)
            .await?
            .into_iter()
            .filter(|i| i.candidate.pushed.email.trim().to_lowercase() == wanted)
            .collect())
    }
    /// The stored modified date: downloads ask for assessments modified after it.
    async fn modified_since(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn save_modified_since(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Stores a new (open) download with its items.
    async fn create_download(&self, download: &LlnDownload) -> Result<(), StoreError>;
    async fn download(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        id: &str,
    ) -> Result<Option<LlnDownload>, StoreError>;
    /// Closes an open download as saved or cancelled. Already closed:
    /// [`Written::AlreadyDone`], nothing changed.
    async fn close_download(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        id: &str,
        state: LlnDownloadState,
        at: DateTime<Utc>,
    ) -> Result<Written, StoreError>;
    /// Saves an assessment once per assessment id: a second save is
    /// [`Written::AlreadyDone`] and changes nothing.
    async fn save_assessment(
        &self,
        assessment: &crate::lln::SavedAssessment,
    ) -> Result<Written, StoreError>;
    /// Replaces a saved assessment (a person's edit of status, staff, comment).
    async fn update_assessment(
        &self,
        assessment: &crate::lln::SavedAssessment,
    ) -> Result<(), StoreError>;
    async fn assessment(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        id: &crate::lln::AssessmentId,
    ) -> Result<Option<crate::lln::SavedAssessment>, StoreError>;
    /// Every saved assessment of the connection.
    async fn assessments(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::lln::SavedAssessment>, StoreError>;
    /// The connection's API call log (what has not expired), oldest first.
    async fn api_calls(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::lln::ApiCall>, StoreError>;
    async fn record_history(&self, entry: &LlnHistoryEntry) -> Result<(), StoreError>;
    /// History entries from `from` to `to` (both included), oldest first.
    async fn history(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LlnHistoryEntry>, StoreError>;
}
