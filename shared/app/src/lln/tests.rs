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

// ---- candidates ----

#[tokio::test]
async fn every_missing_required_field_is_listed_at_once() {
    let w = world(vec![]).await;
    let mut bare = learner("L9", "", " ", None);
    bare.date_of_birth = None;
    w.sis.save_learner(&bare).await.unwrap();
    let err = w
        .lln
        .create_candidate(&t(), None, &code("L9"), None, at(10))
        .await
        .unwrap_err();
    let LlnFlowError::Issues(issues) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        issues.fields(),
        vec!["family_name", "date_of_birth", "email"]
    );
    assert!(
        w.tool.candidates.lock().unwrap().is_empty(),
        "nothing pushed"
    );
}

#[tokio::test]
async fn usernames_default_to_the_email_then_firstname_surname_or_are_given() {
    let w = world(vec![]).await;
    // The only LLN connection is used without being named; default staff on the invitation.
    let first = w
        .lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await
        .unwrap();
    assert_eq!(first.candidate.username, "greg@example.com");
    assert_eq!(first.staff.as_deref(), Some("STAFF-7"));
    assert_eq!(first.candidate.connection, ocsat());

    // L2 shares L1's email: Firstname.Surname.
    w.sis
        .save_learner(&learner("L2", "Ana", "Ruiz", Some("GREG@example.com")))
        .await
        .unwrap();
    let second = w
        .lln
        .create_candidate(&t(), None, &code("L2"), None, at(11))
        .await
        .unwrap();
    assert_eq!(second.candidate.username, "Ana.Ruiz");

    // A username a person sets is used as is.
    let third = w
        .lln
        .create_candidate(&t(), None, &code("L3"), Some("kim.lee.2000"), at(12))
        .await
        .unwrap();
    assert_eq!(third.candidate.username, "kim.lee.2000");

    // Creating twice is refused, naming the candidate.
    let again = w
        .lln
        .create_candidate(&t(), None, &code("L1"), None, at(13))
        .await;
    assert!(
        matches!(again, Err(LlnFlowError::AlreadyInvited { .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_username_taken_in_the_tool_falls_back_to_firstname_surname() {
    let w = world(vec![]).await;
    // Someone created in the tool's own screens uses Greg's email as a username.
    w.tool.candidates.lock().unwrap().insert(
        "X-1".into(),
        RemoteCandidate {
            id: CandidateId::parse("X-1").unwrap(),
            fields: CandidateFields {
                family_name: "Other".into(),
                given_name: None,
                other_name: None,
                learner_code: code("ZZ"),
                date_of_birth: NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
                email: "other@example.com".into(),
                username: "greg@example.com".into(),
            },
            created_at: at(0),
            updated_at: at(0),
        },
    );
    let created = w
        .lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await
        .unwrap();
    assert_eq!(created.candidate.username, "Greg.Abbott");
}

#[tokio::test]
async fn a_tool_that_refuses_a_shared_email_is_reported_by_field() {
    let w = world(vec![]).await;
    w.tool.emails_unique.store(true, Ordering::SeqCst);
    w.lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await
        .unwrap();
    w.sis
        .save_learner(&learner("L2", "Ana", "Ruiz", Some("greg@example.com")))
        .await
        .unwrap();
    let err = w
        .lln
        .create_candidate(&t(), None, &code("L2"), None, at(11))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlnFlowError::Tool(LlnError::Duplicate { field }) if field == "email"),
        "{err:?}"
    );
    assert!(
        w.store
            .invitation(&t(), &ocsat(), &code("L2"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_adopted_not_duplicated() {
    let w = world(vec![]).await;
    w.tool.lose_next_answer.store(true, Ordering::SeqCst);
    let lost = w
        .lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await;
    assert!(lost.is_err_and(|e| e.is_retryable()));
    let retried = w
        .lln
        .create_candidate(&t(), None, &code("L1"), None, at(11))
        .await
        .unwrap();
    assert_eq!(retried.candidate.candidate_id.as_str(), "C-1");
    assert_eq!(w.tool.candidates.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_connection_must_be_named_when_there_are_several() {
    let w = world(vec![connection(
        "robot",
        ConnectionSettings::LlnRobot(LlnSettings::default()),
    )])
    .await;
    let err = w
        .lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LlnFlowError::SeveralLlnConnections { .. }),
        "{err}"
    );
    let robot = ConnectionId::parse("robot").unwrap();
    let made = w
        .lln
        .create_candidate(&t(), Some(&robot), &code("L1"), None, at(10))
        .await
        .unwrap();
    assert_eq!(
        made.staff, None,
        "the robot connection has no default staff"
    );
    let sms = ConnectionId::parse("sms").unwrap();
    let err = w.lln.connection(&t(), Some(&sms)).await.unwrap_err();
    assert!(matches!(err, LlnFlowError::NotLln { .. }));
}

#[tokio::test]
async fn out_of_sync_fields_are_shown_then_pushed() {
    let w = world(vec![]).await;
    w.lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await
        .unwrap();
    let view = w.lln.candidate(&t(), None, &code("L1")).await.unwrap();
    assert!(view.out_of_sync.is_empty());
    let mut changed = learner("L1", "Gregory", "Abbott", Some("greg@example.com"));
    changed.updated_at = at(20);
    w.sis.save_learner(&changed).await.unwrap();
    let view = w.lln.candidate(&t(), None, &code("L1")).await.unwrap();
    assert_eq!(
        view.out_of_sync
            .iter()
            .map(|d| (d.field, d.ours.clone(), d.theirs.clone()))
            .collect::<Vec<_>>(),
        vec![(
            "given_name",
            Some("Gregory".to_owned()),
            Some("Greg".to_owned())
        )]
    );
    let pushed = w
        .lln
        .update_candidate(&t(), None, &code("L1"), None, at(30))
        .await
        .unwrap();
    assert_eq!(
        pushed.candidate.pushed.given_name.as_deref(),
        Some("Gregory")
    );
    assert_eq!(
        pushed.candidate.username, "greg@example.com",
        "username kept"
    );
    let view = w.lln.candidate(&t(), None, &code("L1")).await.unwrap();
    assert!(view.out_of_sync.is_empty());
}

// ---- bulk update ----

async fn three_candidates(w: &World) {
    for c in ["L1", "L2", "L3"] {
        w.lln
            .create_candidate(&t(), None, &code(c), None, at(10))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn bulk_update_finds_changes_keeps_exclusions_flagged_and_reports_errors_after() {
    let w = world(vec![]).await;
    three_candidates(&w).await;
    let (_, rows) = w.lln.bulk_changes(&t(), None).await.unwrap();
    assert!(rows.is_empty(), "nothing changed since the push");

    let mut l1 = learner("L1", "Greg", "Abbott-Smith", Some("greg@example.com"));
    l1.updated_at = at(50);
    let mut l2 = learner("L2", "Ana", "Ruiz", Some("ana.ruiz@example.com"));
    l2.updated_at = at(50);
    let mut l3 = learner("L3", "Kim", "Lee", None);
    l3.updated_at = at(50);
    for l in [&l1, &l2, &l3] {
        w.sis.save_learner(l).await.unwrap();
    }
    let (_, rows) = w.lln.bulk_changes(&t(), None).await.unwrap();
    let summary: Vec<_> = rows
        .iter()
        .map(|r| (r.learner.as_str(), r.status, r.selected))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("L1", "ok", true),
            ("L2", "ok", true),
            ("L3", "issues", false)
        ]
    );
    assert_eq!(rows[2].issues[0].field, "email");
    assert_eq!(rows[0].created_in_lln, at(1), "the tool's dates are shown");

    // L1's candidate is locked in the tool; L2 is left out.
    w.tool.refuse_update.lock().unwrap().insert("C-1".into());
    let report = w
        .lln
        .bulk_push(&t(), None, None, &[code("L2")], at(60))
        .await
        .unwrap();
    assert_eq!(report.pushed, Vec::<LearnerCode>::new());
    assert_eq!(report.excluded, vec![code("L2")]);
    let failed: Vec<_> = report.failed.iter().map(|f| f.learner.as_str()).collect();
    assert_eq!(failed, vec!["L1", "L3"], "every record tried, errors after");
    assert!(report.failed[0].error.contains("candidate is locked"));
    assert!(report.failed[1].error.contains("email"));

    // Next time: L2 flagged (though unchanged since), L1 still changed.
    w.tool.refuse_update.lock().unwrap().clear();
    let (_, rows) = w.lln.bulk_changes(&t(), None).await.unwrap();
    let l2_row = rows.iter().find(|r| r.learner == code("L2")).unwrap();
    assert!(l2_row.flagged && l2_row.selected);
    let report = w
        .lln
        .bulk_push(
            &t(),
            None,
            Some(&[code("L1"), code("L2"), code("L9")]),
            &[],
            at(70),
        )
        .await
        .unwrap();
    assert_eq!(report.pushed, vec![code("L1"), code("L2")]);
    assert_eq!(report.excluded, vec![code("L3")], "not selected: left out");
    assert_eq!(
        report.unchanged,
        vec![code("L9")],
        "selected, nothing to push"
    );
    let (_, rows) = w.lln.bulk_changes(&t(), None).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.learner.as_str()).collect::<Vec<_>>(),
        vec!["L3"],
        "pushed ones are in sync; L3 still needs its email"
    );
    let stored = w
        .store
        .invitation(&t(), &ocsat(), &code("L2"))
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.candidate.needs_update);
    assert_eq!(stored.candidate.pushed.email, "ana.ruiz@example.com");
}

// ---- downloads ----

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

#[tokio::test]
async fn cancel_saves_nothing_and_the_next_download_brings_the_same_again() {
    let w = seeded_download_world().await;
    let first = w
        .lln
        .download(&t(), None, None, None, at(200))
        .await
        .unwrap();
    let s = statuses(&first);
    assert_eq!(s.len(), 3);
    assert_eq!((s[0].0.as_str(), s[0].1.as_str()), ("A-1", "ok"));
    assert!(
        s[1].1.starts_with("error: candidate X-9 is unknown"),
        "{s:?}"
    );
    assert_eq!((s[2].0.as_str(), s[2].1.as_str()), ("A-2", "ok"));

    w.lln
        .cancel_download(&t(), None, &first.id, at(201))
        .await
        .unwrap();
    assert!(w.store.saved.lock().unwrap().is_empty());
    assert_eq!(w.store.modified_since(&t(), &ocsat()).await.unwrap(), None);
    let again = w
        .lln
        .download(&t(), None, None, None, at(202))
        .await
        .unwrap();
    assert_eq!(statuses(&again), s);
    // A closed download cannot be saved.
    let err = w
        .lln
        .save_download(&t(), None, &first.id, at(203))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        LlnFlowError::DownloadClosed {
            state: "cancelled",
            ..
        }
    ));
}

#[tokio::test]
async fn saving_records_ok_ones_with_defaults_delivers_them_and_advances_the_date() {
    let w = seeded_download_world().await;
    let d = w
        .lln
        .download(&t(), None, None, None, at(200))
        .await
        .unwrap();
    let report = w
        .lln
        .save_download(&t(), None, &d.id, at(210))
        .await
        .unwrap();
    assert_eq!(report.saved, vec!["A-1", "A-2"]);
    assert_eq!(report.modified_since, Some(at(120)));
    assert_eq!(
        w.store.modified_since(&t(), &ocsat()).await.unwrap(),
        Some(at(120))
    );
    let saved = w
        .store
        .assessment(&t(), &ocsat(), &AssessmentId::parse("A-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            saved.status.as_deref(),
            saved.staff.as_deref(),
            saved.learner.as_str()
        ),
        (Some("Received"), Some("STAFF-7"), "L1")
    );
    assert_eq!(saved.assessment.sitting_ids, vec!["S-A-1"]);

    let deliveries = w.deliveries.0.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 2);
    let one = deliveries
        .values()
        .find(|d| d.learner == code("L1"))
        .unwrap();
    assert_eq!(one.kind, DeliveryKind::LlnAssessment);
    assert_eq!(one.connection.as_str(), "sms");
    assert_eq!(one.offering.as_str(), "ocsat");
    assert_eq!(one.assessable.as_ref().unwrap().as_str(), "A-1");
    assert_eq!(one.payload["name"], "Core Skills Profile");
    assert_eq!(one.payload["staff"], "STAFF-7");
    assert_eq!(
        w.queue.sent.lock().unwrap().len(),
        2,
        "each delivery queued"
    );

    // Saving again is refused; the next download (override back to the start) shows Done.
    let err = w
        .lln
        .save_download(&t(), None, &d.id, at(211))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        LlnFlowError::DownloadClosed { state: "saved", .. }
    ));
    let nothing_new = w
        .lln
        .download(&t(), None, None, None, at(220))
        .await
        .unwrap();
    assert!(
        nothing_new.items.is_empty(),
        "after the stored date: nothing"
    );
    let again = w
        .lln
        .download(&t(), None, None, Some(at(0)), at(230))
        .await
        .unwrap();
    assert!(again.overridden);
    let s = statuses(&again);
    assert_eq!((s[0].1.as_str(), s[2].1.as_str()), ("done", "done"));
    let report = w
        .lln
        .save_download(&t(), None, &again.id, at(240))
        .await
        .unwrap();
    assert!(report.saved.is_empty(), "Done ones are not saved again");
    assert_eq!(
        w.deliveries.0.lock().unwrap().len(),
        2,
        "nor delivered again"
    );
}

#[tokio::test]
async fn one_learner_s_download_leaves_the_connection_s_date() {
    let w = seeded_download_world().await;
    let d = w
        .lln
        .download(&t(), None, Some(&code("L2")), None, at(200))
        .await
        .unwrap();
    assert_eq!(statuses(&d), vec![("A-2".to_owned(), "ok".to_owned())]);
    w.lln
        .save_download(&t(), None, &d.id, at(201))
        .await
        .unwrap();
    assert_eq!(w.store.modified_since(&t(), &ocsat()).await.unwrap(), None);
    let err = w
        .lln
        .download(&t(), None, Some(&code("L9")), None, at(202))
        .await
        .unwrap_err();
    assert!(matches!(err, LlnFlowError::NoCandidate { .. }));
}

#[tokio::test]
async fn saving_needs_an_sms_connection_and_then_saves_nothing() {
    let w = seeded_download_world().await;
    let sms = ConnectionId::parse("sms").unwrap();
    w.connections.0.lock().unwrap().retain(|c| c.id != sms);
    let d = w
        .lln
        .download(&t(), None, None, None, at(200))
        .await
        .unwrap();
    let err = w
        .lln
        .save_download(&t(), None, &d.id, at(201))
        .await
        .unwrap_err();
    assert!(matches!(err, LlnFlowError::NoSms));
    assert!(w.store.saved.lock().unwrap().is_empty());
}

// ---- assessments and reports ----

#[tokio::test]
async fn edits_reports_summary_and_history() {
    let w = seeded_download_world().await;
    let d = w
        .lln
        .download(&t(), None, None, None, at(200))
        .await
        .unwrap();
    w.lln
        .save_download(&t(), None, &d.id, at(210))
        .await
        .unwrap();
    let a1 = AssessmentId::parse("A-1").unwrap();
    let edited = w
        .lln
        .edit_assessment(
            &t(),
            None,
            &a1,
            AssessmentEdit {
                status: Some(Some("Reviewed".into())),
                staff: None,
                follow_up_comment: Some(Some("Numeracy support, \"weekly\"".into())),
            },
            at(220),
        )
        .await
        .unwrap();
    assert_eq!(edited.status.as_deref(), Some("Reviewed"));
    assert_eq!(edited.staff.as_deref(), Some("STAFF-7"), "unchanged");

    let report = w.lln.assessment_report(&t(), None, &a1).await.unwrap();
    assert_eq!(report.learner_name.as_deref(), Some("Greg Abbott"));
    assert_eq!(report.product, "OCSAT");
    assert_eq!(report.username.as_deref(), Some("greg@example.com"));
    assert_eq!(report.saved.assessment.skills, vec!["Reading", "Numeracy"]);

    let all = w
        .lln
        .summary(&t(), None, &SummaryFilter::default())
        .await
        .unwrap();
    assert_eq!(
        all.iter()
            .map(|r| (r.learner.as_str(), r.assessment_id.as_deref()))
            .collect::<Vec<_>>(),
        vec![("L1", Some("A-1")), ("L2", Some("A-2")), ("L3", None)]
    );
    let cases = [
        (
            SummaryFilter {
                status: Some("Reviewed".into()),
                ..SummaryFilter::default()
            },
            vec!["L1"],
        ),
        (
            SummaryFilter {
                learner: Some(code("L3")),
                ..SummaryFilter::default()
            },
            vec!["L3"],
        ),
        (
            SummaryFilter {
                // A-1 completed at 40, A-2 at 60.
                from: Some(at(50)),
                to: Some(at(100)),
                ..SummaryFilter::default()
            },
            vec!["L2"],
        ),
    ];
    for (filter, expected) in cases {
        let rows = w.lln.summary(&t(), None, &filter).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| r.learner.as_str()).collect::<Vec<_>>(),
            expected,
            "{filter:?}"
        );
    }
    let csv = summary_csv(&all);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert!(lines[0].starts_with("learner,given_name,family_name,candidate_id"));
    assert!(
        lines[1].contains(",\"Numeracy support, \"\"weekly\"\"\","),
        "{}",
        lines[1]
    );
    assert_eq!(lines.len(), 5, "header, three rows, and the final line end");

    let history = w
        .lln
        .history_between(&t(), None, at(200), at(220))
        .await
        .unwrap();
    let actions: Vec<LlnAction> = history.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![
            LlnAction::AssessmentsDownloaded,
            LlnAction::AssessmentSaved,
            LlnAction::AssessmentSaved,
            LlnAction::DownloadSaved,
            LlnAction::AssessmentEdited,
        ]
    );
}

#[test]
fn csv_fields_are_quoted_and_formulas_defused() {
    for (value, expected) in [
        ("plain", "plain"),
        ("a,b", "\"a,b\""),
        ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ("two\nlines", "\"two\nlines\""),
        ("=SUM(A1)", "'=SUM(A1)"),
        ("-1,2", "\"'-1,2\""),
        ("", ""),
    ] {
        assert_eq!(csv_field(value), expected, "{value:?}");
    }
}

#[tokio::test]
async fn api_logging_is_switched_per_connection_and_recorded() {
    let w = world(vec![]).await;
    let on = w
        .lln
        .set_api_logging(&t(), &ocsat(), true, at(5))
        .await
        .unwrap();
    let ConnectionSettings::Ocsat(s) = &on.settings else {
        panic!("kind changed")
    };
    assert!(s.api_logging);
    let stored = w
        .connections
        .connection(&t(), &ocsat())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, on);
    // Switching it on again changes nothing and records nothing more.
    w.lln
        .set_api_logging(&t(), &ocsat(), true, at(6))
        .await
        .unwrap();
    let history = w.store.history.lock().unwrap().clone();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].action, LlnAction::ApiLoggingSwitched);
    let sms = ConnectionId::parse("sms").unwrap();
    assert!(
        w.lln
            .set_api_logging(&t(), &sms, true, at(7))
            .await
            .is_err()
    );
}

#[test]
fn the_api_log_downloads_as_one_json_object_a_line() {
    let call = ApiCall {
        at: at(0),
        method: "GET".into(),
        url: "http://127.0.0.1:1/candidates/C-1".into(),
        request_headers: vec![("authorization".into(), "Bearer ****".into())],
        request_body: None,
        response_status: Some(200),
        response_body: Some("{}".into()),
        error: None,
        duration_ms: 3,
    };
    let text = api_log_ndjson(&[call.clone(), call]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let back: ApiCall = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(back.url, "http://127.0.0.1:1/candidates/C-1");
}
