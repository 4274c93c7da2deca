//! The LLN use cases over in-memory ports (the DynamoDB store and the OCSAT
//! connector are tested against moto and the simulator in their own crates,
//! and together end to end in tests/tests/ocsat.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::testing::{MemConnections, MemQueue, MemSis};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono::{NaiveDate, TimeZone};
use domain::TenantId;
use domain::connection::{ConnectionSettings, LlnSettings};
use domain::delivery::{Attempt, Delivery, DeliveryState};
use domain::delivery::{DeliveryId, DeliveryKind};
use domain::lln::{
    ApiCall, AssessmentId, CandidateFields, DownloadStatus, LlnError, LlnProduct, RemoteCandidate,
    SavedAssessment,
};
use domain::lln::{Assessment, AssessmentPage, CandidateId, SkillResult};
use domain::ports::{
    ConnectionStore, DeliveryStore, LlnAction, LlnApi, LlnApis, LlnDownload, LlnDownloadState,
    LlnHistoryEntry, LlnInvitation, LlnStore, Retryable, SisStore, StoreError, Written,
};
use domain::sis::Learner;
use domain::{Connection, ConnectionId, LearnerCode};
use std::collections::BTreeMap;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

fn t() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn code(c: &str) -> LearnerCode {
    LearnerCode::parse(c).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, 0).unwrap()
}

fn ocsat() -> ConnectionId {
    ConnectionId::parse("ocsat").unwrap()
}

fn connection(id: &str, settings: ConnectionSettings) -> Connection {
    Connection {
        tenant: t(),
        id: ConnectionId::parse(id).unwrap(),
        name: format!("{id} connection"),
        base_url: "http://127.0.0.1:9/api".into(),
        enabled: true,
        error_email: None,
        settings,
    }
}

fn lln_settings() -> LlnSettings {
    LlnSettings {
        default_staff: Some("STAFF-7".into()),
        default_assessment_status: Some("Received".into()),
        ..LlnSettings::default()
    }
}

fn learner(c: &str, given: &str, family: &str, email: Option<&str>) -> Learner {
    Learner {
        tenant: t(),
        code: code(c),
        username: None,
        given_name: given.into(),
        middle_name: None,
        family_name: family.into(),
        email: email.map(str::to_owned),
        date_of_birth: NaiveDate::from_ymd_opt(2000, 1, 2),
        archived: false,
        email_opt_out: false,
        updated_at: at(0),
    }
}

// ---- in-memory ports ----

type LearnerKey = (TenantId, ConnectionId, LearnerCode);
type AssessmentKey = (TenantId, ConnectionId, AssessmentId);

#[derive(Default)]
struct MemLln {
    invitations: Mutex<BTreeMap<LearnerKey, LlnInvitation>>,
    cursor: Mutex<HashMap<(TenantId, ConnectionId), DateTime<Utc>>>,
    downloads: Mutex<HashMap<String, LlnDownload>>,
    saved: Mutex<BTreeMap<AssessmentKey, SavedAssessment>>,
    calls: Mutex<Vec<ApiCall>>,
    history: Mutex<Vec<LlnHistoryEntry>>,
}

#[async_trait]
impl LlnStore for MemLln {
    async fn invitation(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        learner: &LearnerCode,
    ) -> Result<Option<LlnInvitation>, StoreError> {
        Ok(self
            .invitations
            .lock()
            .unwrap()
            .get(&(tenant.clone(), connection.clone(), learner.clone()))
            .cloned())
    }
    async fn invitation_by_candidate(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        candidate: &CandidateId,
    ) -> Result<Option<LlnInvitation>, StoreError> {
        Ok(self
            .invitations
            .lock()
            .unwrap()
            .values()
            .find(|i| {
                &i.candidate.tenant == tenant
                    && &i.candidate.connection == connection
                    && &i.candidate.candidate_id == candidate
            })
            .cloned())
    }
    async fn invitations(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<LlnInvitation>, StoreError> {
        Ok(self
            .invitations
            .lock()
            .unwrap()
            .values()
            .filter(|i| &i.candidate.tenant == tenant && &i.candidate.connection == connection)
            .cloned()
            .collect())
    }
    async fn save_invitation(&self, invitation: &LlnInvitation) -> Result<(), StoreError> {
        let c = &invitation.candidate;
        self.invitations.lock().unwrap().insert(
            (c.tenant.clone(), c.connection.clone(), c.learner.clone()),
            invitation.clone(),
        );
        Ok(())
    }
    async fn modified_since(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .cursor
            .lock()
            .unwrap()
            .get(&(tenant.clone(), connection.clone()))
            .copied())
    }
    async fn save_modified_since(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.cursor
            .lock()
            .unwrap()
            .insert((tenant.clone(), connection.clone()), at);
        Ok(())
    }
    async fn create_download(&self, download: &LlnDownload) -> Result<(), StoreError> {
        self.downloads
            .lock()
            .unwrap()
            .insert(download.id.clone(), download.clone());
        Ok(())
    }
    async fn download(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        id: &str,
    ) -> Result<Option<LlnDownload>, StoreError> {
        Ok(self
            .downloads
            .lock()
            .unwrap()
            .get(id)
            .filter(|d| &d.tenant == tenant && &d.connection == connection)
            .cloned())
    }
    async fn close_download(
        &self,
        _tenant: &TenantId,
        _connection: &ConnectionId,
        id: &str,
        state: LlnDownloadState,
        at: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        let mut all = self.downloads.lock().unwrap();
        match all.get_mut(id) {
            Some(d) if d.state == LlnDownloadState::Open => {
                d.state = state;
                d.closed_at = Some(at);
                Ok(Written::Done)
            }
            _ => Ok(Written::AlreadyDone),
        }
    }
    async fn save_assessment(&self, a: &SavedAssessment) -> Result<Written, StoreError> {
        let key = (
            a.tenant.clone(),
            a.connection.clone(),
            a.assessment.id.clone(),
        );
        let mut all = self.saved.lock().unwrap();
        if all.contains_key(&key) {
            return Ok(Written::AlreadyDone);
        }
        all.insert(key, a.clone());
        Ok(Written::Done)
    }
    async fn update_assessment(&self, a: &SavedAssessment) -> Result<(), StoreError> {
        self.saved.lock().unwrap().insert(
            (
                a.tenant.clone(),
                a.connection.clone(),
                a.assessment.id.clone(),
            ),
            a.clone(),
        );
        Ok(())
    }
    async fn assessment(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        id: &AssessmentId,
    ) -> Result<Option<SavedAssessment>, StoreError> {
        Ok(self
            .saved
            .lock()
            .unwrap()
            .get(&(tenant.clone(), connection.clone(), id.clone()))
            .cloned())
    }
    async fn assessments(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<SavedAssessment>, StoreError> {
        Ok(self
            .saved
            .lock()
            .unwrap()
            .values()
            .filter(|a| &a.tenant == tenant && &a.connection == connection)
            .cloned()
            .collect())
    }
    async fn api_calls(
        &self,
        _tenant: &TenantId,
        _connection: &ConnectionId,
    ) -> Result<Vec<ApiCall>, StoreError> {
        Ok(self.calls.lock().unwrap().clone())
    }
    async fn record_history(&self, entry: &LlnHistoryEntry) -> Result<(), StoreError> {
        self.history.lock().unwrap().push(entry.clone());
        Ok(())
    }
    async fn history(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LlnHistoryEntry>, StoreError> {
        Ok(self
            .history
            .lock()
            .unwrap()
            .iter()
            .filter(|e| {
                &e.tenant == tenant && &e.connection == connection && e.at >= from && e.at <= to
            })
            .cloned()
            .collect())
    }
}

/// An LLN tool in memory: unique usernames and emails, assessments by
/// modified date, and switches for failures.
#[derive(Default)]
struct FakeTool {
    candidates: Mutex<BTreeMap<String, RemoteCandidate>>,
    assessments: Mutex<Vec<Assessment>>,
    /// Candidate ids whose updates the tool refuses.
    refuse_update: Mutex<HashSet<String>>,
    /// The tool refuses a second candidate with the same email.
    emails_unique: AtomicBool,
    /// The next create succeeds in the tool but its answer is lost.
    lose_next_answer: AtomicBool,
    next: AtomicU32,
    updates: AtomicU32,
}

#[async_trait]
impl LlnApi for FakeTool {
    async fn test_connection(&self) -> Result<(), LlnError> {
        Ok(())
    }
    async fn create_candidate(&self, f: &CandidateFields) -> Result<RemoteCandidate, LlnError> {
        let mut all = self.candidates.lock().unwrap();
        for c in all.values() {
            if c.fields.username.eq_ignore_ascii_case(&f.username) {
                return Err(LlnError::Duplicate {
                    field: "username".into(),
                });
            }
            if self.emails_unique.load(Ordering::SeqCst)
                && c.fields.email.eq_ignore_ascii_case(&f.email)
            {
                return Err(LlnError::Duplicate {
                    field: "email".into(),
                });
            }
        }
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let remote = RemoteCandidate {
            id: CandidateId::parse(format!("C-{n}")).unwrap(),
            fields: f.clone(),
            created_at: at(n.into()),
            updated_at: at(n.into()),
        };
        all.insert(remote.id.to_string(), remote.clone());
        if self.lose_next_answer.swap(false, Ordering::SeqCst) {
            return Err(LlnError::Unavailable("the answer was lost".into()));
        }
        Ok(remote)
    }
    async fn candidate(&self, id: &CandidateId) -> Result<Option<RemoteCandidate>, LlnError> {
        Ok(self.candidates.lock().unwrap().get(id.as_str()).cloned())
    }
    async fn find_candidate(
        &self,
        username: &str,
        email: &str,
    ) -> Result<Option<RemoteCandidate>, LlnError> {
        let all = self.candidates.lock().unwrap();
        Ok(all
            .values()
            .find(|c| c.fields.username.eq_ignore_ascii_case(username))
            .or_else(|| {
                all.values()
                    .find(|c| c.fields.email.eq_ignore_ascii_case(email))
            })
            .cloned())
    }
    async fn update_candidate(
        &self,
        id: &CandidateId,
        f: &CandidateFields,
    ) -> Result<RemoteCandidate, LlnError> {
        if self.refuse_update.lock().unwrap().contains(id.as_str()) {
            return Err(LlnError::Refused {
                what: "candidate update",
                status: 422,
                message: "candidate is locked".into(),
            });
        }
        self.updates.fetch_add(1, Ordering::SeqCst);
        let mut all = self.candidates.lock().unwrap();
        let c = all.get_mut(id.as_str()).ok_or(LlnError::NotFound {
            what: "candidate",
            id: id.to_string(),
        })?;
        c.fields = f.clone();
        c.updated_at = at(9_000);
        Ok(c.clone())
    }
    async fn assessments_page(
        &self,
        modified_after: DateTime<Utc>,
        _cursor: Option<&str>,
    ) -> Result<AssessmentPage, LlnError> {
        let mut list: Vec<Assessment> = self
            .assessments
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.modified_at > modified_after)
            .cloned()
            .collect();
        list.sort_by_key(|a| a.modified_at);
        Ok(AssessmentPage {
            assessments: list,
            next_cursor: None,
        })
    }
}

struct Tools(Arc<FakeTool>);

#[async_trait]
impl LlnApis for Tools {
    async fn for_connection(&self, c: &Connection) -> Result<Arc<dyn LlnApi>, LlnError> {
        if LlnProduct::from_kind(c.kind()).is_none() {
            return Err(LlnError::NotAnLlnConnection {
                connection: c.id.to_string(),
            });
        }
        Ok(self.0.clone())
    }
}

#[derive(Default)]
struct MemDeliveries(Mutex<BTreeMap<String, Delivery>>);

#[async_trait]
impl DeliveryStore for MemDeliveries {
    async fn create(&self, d: &Delivery) -> Result<Written, StoreError> {
        let mut all = self.0.lock().unwrap();
        if all.contains_key(d.id.as_str()) {
            return Ok(Written::AlreadyDone);
        }
        all.insert(d.id.to_string(), d.clone());
        Ok(Written::Done)
    }
    async fn delivery(
        &self,
        _t: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        Ok(self.0.lock().unwrap().get(id.as_str()).cloned())
    }
    async fn due(&self, _now: DateTime<Utc>, _limit: usize) -> Result<Vec<Delivery>, StoreError> {
        Ok(Vec::new())
    }
    async fn by_state(
        &self,
        _t: &TenantId,
        _c: &ConnectionId,
        state: DeliveryState,
        _limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .values()
            .filter(|d| d.state == state)
            .cloned()
            .collect())
    }
    async fn attempts(&self, _t: &TenantId, _id: &DeliveryId) -> Result<Vec<Attempt>, StoreError> {
        Ok(Vec::new())
    }
    async fn update(&self, d: &Delivery, _a: Option<&Attempt>) -> Result<(), StoreError> {
        self.0.lock().unwrap().insert(d.id.to_string(), d.clone());
        Ok(())
    }
}

struct World {
    lln: Lln,
    connections: Arc<MemConnections>,
    sis: Arc<MemSis>,
    store: Arc<MemLln>,
    tool: Arc<FakeTool>,
    deliveries: Arc<MemDeliveries>,
    queue: Arc<MemQueue>,
}

async fn world(extra: Vec<Connection>) -> World {
    let connections = Arc::new(MemConnections::default());
    let mut all = vec![
        connection("ocsat", ConnectionSettings::Ocsat(lln_settings())),
        connection(
            "sms",
            ConnectionSettings::Sms(domain::connection::SmsSettings::default()),
        ),
    ];
    all.extend(extra);
    for c in &all {
        connections.save_connection(c).await.unwrap();
    }
    let sis = Arc::new(MemSis::default());
    for l in [
        learner("L1", "Greg", "Abbott", Some("greg@example.com")),
        learner("L2", "Ana", "Ruiz", Some("ana@example.com")),
        learner("L3", "Kim", "Lee", Some("kim@example.com")),
    ] {
        sis.save_learner(&l).await.unwrap();
    }
    let store = Arc::new(MemLln::default());
    let tool = Arc::new(FakeTool::default());
    let deliveries = Arc::new(MemDeliveries::default());
    let queue = Arc::new(MemQueue::default());
    World {
        lln: Lln {
            connections: connections.clone(),
            sis: sis.clone(),
            store: store.clone(),
            apis: Arc::new(Tools(tool.clone())),
            deliveries: deliveries.clone(),
            queue: queue.clone(),
            tenants: Arc::new(crate::testing::MemTenants::default()),
        },
        connections,
        sis,
        store,
        tool,
        deliveries,
        queue,
    }
}

fn assessment(id: &str, candidate: &str, modified: i64) -> Assessment {
    Assessment {
        id: AssessmentId::parse(id).unwrap(),
        candidate_id: CandidateId::parse(candidate).unwrap(),
        name: "Core Skills Profile".into(),
        skills: vec!["Reading".into(), "Numeracy".into()],
        completed_at: at(modified - 60),
        sitting_ids: vec![format!("S-{id}")],
        results: vec![SkillResult {
            skill: "Reading".into(),
            level: Some("3".into()),
            score: Some(72.0),
            band: Some("B".into()),
        }],
        modified_at: at(modified),
    }
}

async fn three_candidates(w: &World) {
    for c in ["L1", "L2", "L3"] {
        w.lln
            .create_candidate(&t(), None, &code(c), None, at(10))
            .await
            .unwrap();
    }
}

async fn seeded_download_world() -> World {
    let w = world(vec![]).await;
    three_candidates(&w).await;
    w.tool.assessments.lock().unwrap().extend([
        assessment("A-1", "C-1", 100),
        assessment("A-2", "C-2", 120),
        assessment("A-3", "X-9", 110),
    ]);
    w
}

fn statuses(d: &LlnDownload) -> Vec<(String, String)> {
    d.items
        .iter()
        .map(|i| {
            let s = match &i.status {
                DownloadStatus::Ok => "ok".to_owned(),
                DownloadStatus::Error { reason } => format!("error: {reason}"),
                DownloadStatus::Done => "done".to_owned(),
            };
            (i.assessment.id.to_string(), s)
        })
        .collect()
}

mod candidates;
mod downloads;
mod reports;
