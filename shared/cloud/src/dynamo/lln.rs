//! LLN (OCSAT / LLN Robot) state in the data table (docs/architecture.md).
//!
//! Everything of one LLN connection lives in its partition `T#{t}#LLN#{c}`:
//!
//! | item | sk | gsi1 | notes |
//! |---|---|---|---|
//! | invitation (candidate) | `CAND#{learner}` | `T#{t}#LLN#{c}#CAND` / `{candidate id}` | by learner; by the tool's candidate id |
//! | email marker | `EMAIL#{email}#{learner}` | — | the invitations pushed with an email (checked on read) |
//! | modified date | `CURSOR` | — | advanced only when a download is saved |
//! | download | `DL#{id}` | — | held open until saved or cancelled (`version` guards closing) |
//! | download item | `DLI#{id}#{n:05}` | — | one per downloaded assessment |
//! | saved assessment | `ASMT#{assessment id}` | — | written once (`attribute_not_exists`) |
//! | API call | `CALL#{at}#{uuid}` | — | `expires_at` = at + [`API_CALL_RETENTION_DAYS`] (TTL) |
//! | history entry | `HIST#{at}#{uuid}` | `T#{t}#LLN#{c}#HIST` / `{at}#{uuid}` | the audit trail, by date range |

use super::keys;
use super::table::{Condition, QueryOptions, SkRange, Table};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use domain::lln::{ApiCall, AssessmentId, CandidateId, DownloadedAssessment, SavedAssessment};
use domain::ports::{
    LlnCallLog, LlnDownload, LlnDownloadState, LlnHistoryEntry, LlnInvitation, LlnStore,
    StoreError, Written,
};
use domain::{ConnectionId, LearnerCode, TenantId};
use serde::{Deserialize, Serialize};

/// How long API call log entries are kept before DynamoDB's TTL removes them.
pub const API_CALL_RETENTION_DAYS: i64 = 7;

const CAND_PREFIX: &str = "CAND#";
const EMAIL_PREFIX: &str = "EMAIL#";
const CURSOR_SK: &str = "CURSOR";
const ASMT_PREFIX: &str = "ASMT#";
const CALL_PREFIX: &str = "CALL#";
const HIST_PREFIX: &str = "HIST#";

/// `T#{t}#LLN#{c}`: an LLN connection's partition.
pub fn partition(tenant: &TenantId, connection: &ConnectionId) -> String {
    format!("{}#LLN#{connection}", keys::tenant(tenant))
}

/// `EMAIL#{email}#`: the markers of the invitations pushed with an email.
fn email_prefix(email: &str) -> String {
    format!("{EMAIL_PREFIX}{}#", email.trim().to_lowercase())
}

fn candidates_index(tenant: &TenantId, connection: &ConnectionId) -> String {
    format!("{}#CAND", partition(tenant, connection))
}

/// `T#{t}#LLN#{c}#HIST` / `{at}#{uuid}` in gsi1: the history by date range.
fn history_index(tenant: &TenantId, connection: &ConnectionId) -> String {
    format!("{}#HIST", partition(tenant, connection))
}

fn download_sk(id: &str) -> String {
    format!("DL#{id}")
}

fn item_prefix(id: &str) -> String {
    format!("DLI#{id}#")
}

#[derive(Debug, Serialize, Deserialize)]
struct InvitationRecord {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    #[serde(flatten)]
    invitation: LlnInvitation,
}

/// A marker: this learner's candidate was pushed with this email. Markers are
/// never deleted; a stale one (the email changed since) is checked against the
/// invitation and left out.
#[derive(Debug, Serialize, Deserialize)]
struct EmailRecord {
    pk: String,
    sk: String,
    learner: LearnerCode,
}

#[derive(Debug, Serialize, Deserialize)]
struct CursorRecord {
    pk: String,
    sk: String,
    modified_since: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DownloadRecord {
    pk: String,
    sk: String,
    tenant: TenantId,
    connection: ConnectionId,
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    learner: Option<LearnerCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    modified_after: Option<DateTime<Utc>>,
    overridden: bool,
    items: usize,
    state: LlnDownloadState,
    created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    closed_at: Option<DateTime<Utc>>,
    version: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct ItemRecord {
    pk: String,
    sk: String,
    item: DownloadedAssessment,
}

#[derive(Debug, Serialize, Deserialize)]
struct AssessmentRecord {
    pk: String,
    sk: String,
    #[serde(flatten)]
    saved: SavedAssessment,
}

#[derive(Debug, Serialize, Deserialize)]
struct CallRecord {
    pk: String,
    sk: String,
    call: ApiCall,
    expires_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct HistoryRecord {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    #[serde(flatten)]
    entry: LlnHistoryEntry,
}

/// [`LlnStore`] and [`LlnCallLog`] over the data table.
#[derive(Debug, Clone)]
pub struct DynamoLlnStore {
    table: Table,
}

impl DynamoLlnStore {
    pub fn new(table: Table) -> Self {
        Self { table }
    }
}

fn mismatch(what: &str) -> StoreError {
    StoreError::Corrupt {
        what: what.to_owned(),
        source: Box::new(super::record::RecordError::KeyMismatch),
    }
}

fn invitation_checked(
    record: InvitationRecord,
    tenant: &TenantId,
    connection: &ConnectionId,
) -> Result<LlnInvitation, StoreError> {
    let c = &record.invitation.candidate;
    if &c.tenant != tenant || &c.connection != connection {
        return Err(mismatch("LLN invitation"));
    }
    Ok(record.invitation)
}

#[async_trait]
impl LlnStore for DynamoLlnStore {
    async fn invitation(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        learner: &LearnerCode,
    ) -> Result<Option<LlnInvitation>, StoreError> {
        let record: Option<InvitationRecord> = self
            .table
            .get(
                &partition(tenant, connection),
                &format!("{CAND_PREFIX}{learner}"),
            )
            .await?;
        record
            .map(|r| invitation_checked(r, tenant, connection))
            .transpose()
    }

    async fn invitation_by_candidate(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        candidate: &CandidateId,
    ) -> Result<Option<LlnInvitation>, StoreError> {
        let found: Vec<InvitationRecord> = self
            .table
            .query_index(
                keys::GSI1,
                &candidates_index(tenant, connection),
                &SkRange::Between(candidate.to_string(), candidate.to_string()),
                QueryOptions::default().limit(1),
            )
            .await?;
        // The index is eventually consistent: read the item itself.
        match found.into_iter().next() {
            Some(r) => {
                self.invitation(tenant, connection, &r.invitation.candidate.learner)
                    .await
            }
            None => Ok(None),
        }
    }

    async fn invitations(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<LlnInvitation>, StoreError> {
        let records: Vec<InvitationRecord> = self
            .table
            .query(
                &partition(tenant, connection),
                Some(CAND_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        records
            .into_iter()
            .map(|r| invitation_checked(r, tenant, connection))
            .collect()
    }

    async fn save_invitation(&self, invitation: &LlnInvitation) -> Result<(), StoreError> {
        let c = &invitation.candidate;
        let record = InvitationRecord {
            pk: partition(&c.tenant, &c.connection),
            sk: format!("{CAND_PREFIX}{}", c.learner),
            gsi1pk: candidates_index(&c.tenant, &c.connection),
            gsi1sk: c.candidate_id.to_string(),
            invitation: invitation.clone(),
        };
        self.table.put(&record, Condition::None).await?;
        let marker = EmailRecord {
            pk: partition(&c.tenant, &c.connection),
            sk: format!("{}{}", email_prefix(&c.pushed.email), c.learner),
            learner: c.learner.clone(),
        };
        self.table.put(&marker, Condition::None).await?;
        Ok(())
    }

    async fn invitations_with_email(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        email: &str,
    ) -> Result<Vec<LlnInvitation>, StoreError> {
        let markers: Vec<EmailRecord> = self
            .table
            .query(
                &partition(tenant, connection),
                Some(&email_prefix(email)),
                QueryOptions::default(),
            )
            .await?;
        let wanted = email.trim().to_lowercase();
        let mut found = Vec::new();
        for marker in markers {
            if let Some(invitation) = self.invitation(tenant, connection, &marker.learner).await?
                && invitation.candidate.pushed.email.trim().to_lowercase() == wanted
            {
                found.push(invitation);
            }
        }
        Ok(found)
    }

    async fn modified_since(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let record: Option<CursorRecord> = self
            .table
            .get(&partition(tenant, connection), CURSOR_SK)
            .await?;
        Ok(record.map(|r| r.modified_since))
    }

    async fn save_modified_since(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = CursorRecord {
            pk: partition(tenant, connection),
            sk: CURSOR_SK.to_owned(),
            modified_since: at,
        };
        self.table.put(&record, Condition::None).await?;
        Ok(())
    }

    async fn create_download(&self, download: &LlnDownload) -> Result<(), StoreError> {
        let pk = partition(&download.tenant, &download.connection);
        let items: Vec<ItemRecord> = download
            .items
            .iter()
            .enumerate()
            .map(|(n, item)| ItemRecord {
                pk: pk.clone(),
                sk: format!("{}{n:05}", item_prefix(&download.id)),
                item: item.clone(),
            })
            .collect();
        // Items first: a header is only there once all its items are.
        self.table.batch_put(&items).await?;
        let header = DownloadRecord {
            pk,
            sk: download_sk(&download.id),
            tenant: download.tenant.clone(),
            connection: download.connection.clone(),
            id: download.id.clone(),
            learner: download.learner.clone(),
            modified_after: download.modified_after,
            overridden: download.overridden,
            items: download.items.len(),
            state: download.state,
            created_at: download.created_at,
            closed_at: download.closed_at,
            version: 0,
        };
        self.table.put(&header, Condition::NotExists).await?;
        Ok(())
    }

    async fn download(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        id: &str,
    ) -> Result<Option<LlnDownload>, StoreError> {
        let pk = partition(tenant, connection);
        let Some(header) = self
            .table
            .get::<DownloadRecord>(&pk, &download_sk(id))
            .await?
        else {
            return Ok(None);
        };
        if &header.tenant != tenant || &header.connection != connection {
            return Err(mismatch("LLN download"));
        }
        let items: Vec<ItemRecord> = self
            .table
            .query(&pk, Some(&item_prefix(id)), QueryOptions::default())
            .await?;
        if items.len() != header.items {
            return Err(StoreError::Corrupt {
                what: format!(
                    "LLN download {id}: {} of {} items",
                    items.len(),
                    header.items
                ),
                source: Box::new(super::record::RecordError::KeyMismatch),
            });
        }
        Ok(Some(LlnDownload {
            tenant: header.tenant,
            connection: header.connection,
            id: header.id,
            learner: header.learner,
            modified_after: header.modified_after,
            overridden: header.overridden,
            items: items.into_iter().map(|r| r.item).collect(),
            state: header.state,
            created_at: header.created_at,
            closed_at: header.closed_at,
        }))
    }

    async fn close_download(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        id: &str,
        state: LlnDownloadState,
        at: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        let pk = partition(tenant, connection);
        let Some(mut header) = self
            .table
            .get::<DownloadRecord>(&pk, &download_sk(id))
            .await?
        else {
            return Ok(Written::AlreadyDone);
        };
        if header.state != LlnDownloadState::Open {
            return Ok(Written::AlreadyDone);
        }
        let version = header.version;
        header.state = state;
        header.closed_at = Some(at);
        match self.table.put(&header, Condition::VersionIs(version)).await {
            Ok(w) => Ok(w),
            // Someone closed it first: whatever they chose stands.
            Err(StoreError::Conflict { .. }) => Ok(Written::AlreadyDone),
            Err(e) => Err(e),
        }
    }

    async fn save_assessment(&self, assessment: &SavedAssessment) -> Result<Written, StoreError> {
        let record = AssessmentRecord {
            pk: partition(&assessment.tenant, &assessment.connection),
            sk: format!("{ASMT_PREFIX}{}", assessment.assessment.id),
            saved: assessment.clone(),
        };
        self.table.put(&record, Condition::NotExists).await
    }

    async fn update_assessment(&self, assessment: &SavedAssessment) -> Result<(), StoreError> {
        let record = AssessmentRecord {
            pk: partition(&assessment.tenant, &assessment.connection),
            sk: format!("{ASMT_PREFIX}{}", assessment.assessment.id),
            saved: assessment.clone(),
        };
        self.table.put(&record, Condition::None).await?;
        Ok(())
    }

    async fn assessment(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        id: &AssessmentId,
    ) -> Result<Option<SavedAssessment>, StoreError> {
        let record: Option<AssessmentRecord> = self
            .table
            .get(
                &partition(tenant, connection),
                &format!("{ASMT_PREFIX}{id}"),
            )
            .await?;
        match record {
            Some(r) if &r.saved.tenant != tenant || &r.saved.connection != connection => {
                Err(mismatch("LLN assessment"))
            }
            other => Ok(other.map(|r| r.saved)),
        }
    }

    async fn assessments(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<SavedAssessment>, StoreError> {
        let records: Vec<AssessmentRecord> = self
            .table
            .query(
                &partition(tenant, connection),
                Some(ASMT_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        Ok(records
            .into_iter()
            .map(|r| r.saved)
            .filter(|s| &s.tenant == tenant && &s.connection == connection)
            .collect())
    }

    async fn api_calls(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<ApiCall>, StoreError> {
        let records: Vec<CallRecord> = self
            .table
            .query(
                &partition(tenant, connection),
                Some(CALL_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        // TTL removes expired items eventually, not at once: hide them now.
        let now = Utc::now().timestamp();
        Ok(records
            .into_iter()
            .filter(|r| r.expires_at > now)
            .map(|r| r.call)
            .collect())
    }

    async fn record_history(&self, entry: &LlnHistoryEntry) -> Result<(), StoreError> {
        let at = format!(
            "{}#{}",
            keys::timestamp(entry.at),
            uuid::Uuid::new_v4().simple()
        );
        let record = HistoryRecord {
            pk: partition(&entry.tenant, &entry.connection),
            sk: format!("{HIST_PREFIX}{at}"),
            gsi1pk: history_index(&entry.tenant, &entry.connection),
            gsi1sk: at,
            entry: entry.clone(),
        };
        self.table.put(&record, Condition::None).await?;
        Ok(())
    }

    async fn history(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LlnHistoryEntry>, StoreError> {
        // `~` sorts after every uuid character, so `to` itself is included.
        let range = SkRange::Between(keys::timestamp(from), format!("{}#~", keys::timestamp(to)));
        let records: Vec<HistoryRecord> = self
            .table
            .query_index(
                keys::GSI1,
                &history_index(tenant, connection),
                &range,
                QueryOptions::default(),
            )
            .await?;
        Ok(records
            .into_iter()
            .map(|r| r.entry)
            .filter(|e| &e.tenant == tenant && &e.connection == connection)
            .collect())
    }
}

#[async_trait]
impl LlnCallLog for DynamoLlnStore {
    async fn record(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        call: &ApiCall,
    ) -> Result<(), StoreError> {
        let record = CallRecord {
            pk: partition(tenant, connection),
            sk: format!(
                "{CALL_PREFIX}{}#{}",
                keys::timestamp(call.at),
                uuid::Uuid::new_v4().simple()
            ),
            call: call.clone(),
            expires_at: (call.at + TimeDelta::days(API_CALL_RETENTION_DAYS)).timestamp(),
        };
        self.table.put(&record, Condition::None).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_tenant_scoped() {
        let t = TenantId::parse("acme").unwrap_or_else(|_| unreachable!());
        let c = ConnectionId::parse("ocsat").unwrap_or_else(|_| unreachable!());
        assert_eq!(partition(&t, &c), "T#acme#LLN#ocsat");
        assert_eq!(candidates_index(&t, &c), "T#acme#LLN#ocsat#CAND");
        assert_eq!(item_prefix("d1"), "DLI#d1#");
    }
}
