//! LLN state over DynamoDB on moto: invitations by learner and by candidate
//! id, the modified date, downloads held until saved or cancelled, saved
//! assessments written once, the expiring API call log, the history by date
//! range, and one tenant never seeing another's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{NaiveDate, TimeDelta};
use cloud::dynamo::{DynamoLlnStore, Table};
use common::{at, conn_id, tenant};
use domain::LearnerCode;
use domain::connection::LlnSettings;
use domain::lln::{
    ApiCall, Assessment, AssessmentId, CandidateFields, CandidateId, DownloadStatus,
    DownloadedAssessment, LlnCandidate, RemoteCandidate, SavedAssessment, SkillResult,
};
use domain::ports::{
    LlnAction, LlnCallLog, LlnDownload, LlnDownloadState, LlnHistoryEntry, LlnInvitation, LlnStore,
    Written,
};

async fn store() -> DynamoLlnStore {
    store_and_table().await.0
}

async fn store_and_table() -> (DynamoLlnStore, Table) {
    let (sdk, config) = common::stack().await;
    let table = Table::new(common::dynamo(&sdk), config.tables.data);
    (DynamoLlnStore::new(table.clone()), table)
}

#[derive(serde::Deserialize)]
struct RawCall {
    expires_at: i64,
}

fn code(c: &str) -> LearnerCode {
    LearnerCode::parse(c).unwrap()
}

fn fields(learner: &str) -> CandidateFields {
    CandidateFields {
        family_name: "Abbott".into(),
        given_name: Some("Greg".into()),
        other_name: None,
        learner_code: code(learner),
        date_of_birth: NaiveDate::from_ymd_opt(2001, 4, 5).unwrap(),
        email: format!("{learner}@example.com"),
        username: format!("{learner}@example.com"),
    }
}

fn invitation(t: &str, learner: &str, candidate: &str) -> LlnInvitation {
    let remote = RemoteCandidate {
        id: CandidateId::parse(candidate).unwrap(),
        fields: fields(learner),
        created_at: at(0),
        updated_at: at(0),
    };
    LlnInvitation {
        candidate: LlnCandidate::pushed(
            tenant(t),
            conn_id("ocsat"),
            &remote,
            fields(learner),
            at(1),
        ),
        staff: Some("STAFF-1".into()),
    }
}

fn assessment(id: &str, candidate: &str, modified: i64) -> Assessment {
    Assessment {
        id: AssessmentId::parse(id).unwrap(),
        candidate_id: CandidateId::parse(candidate).unwrap(),
        name: "Core skills".into(),
        skills: vec!["Reading".into(), "Numeracy".into()],
        completed_at: at(modified - 10),
        sitting_ids: vec!["S1".into()],
        results: vec![SkillResult {
            skill: "Reading".into(),
            level: Some("3".into()),
            score: Some(71.5),
            band: None,
        }],
        modified_at: at(modified),
    }
}

#[tokio::test]
async fn invitations_are_found_by_learner_and_by_candidate_id_within_their_tenant() {
    let store = store().await;
    let (acme, other, c) = (tenant("acme"), tenant("other"), conn_id("ocsat"));
    store
        .save_invitation(&invitation("acme", "L1", "C-1"))
        .await
        .unwrap();
    store
        .save_invitation(&invitation("acme", "L2", "C-2"))
        .await
        .unwrap();
    store
        .save_invitation(&invitation("other", "L1", "C-9"))
        .await
        .unwrap();

    let got = store
        .invitation(&acme, &c, &code("L1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, invitation("acme", "L1", "C-1"));
    assert_eq!(got.staff.as_deref(), Some("STAFF-1"));
    let by_id = store
        .invitation_by_candidate(&acme, &c, &CandidateId::parse("C-2").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.candidate.learner, code("L2"));
    assert_eq!(store.invitations(&acme, &c).await.unwrap().len(), 2);
    // The other tenant sees only its own.
    assert!(
        store
            .invitation_by_candidate(&other, &c, &CandidateId::parse("C-1").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let theirs = store.invitations(&other, &c).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].candidate.candidate_id.as_str(), "C-9");
}

#[tokio::test]
async fn a_download_is_held_until_saved_or_cancelled_and_closes_once() {
    let store = store().await;
    let (acme, c) = (tenant("acme"), conn_id("ocsat"));
    assert_eq!(store.modified_since(&acme, &c).await.unwrap(), None);
    let items = vec![
        DownloadedAssessment {
            assessment: assessment("A-1", "C-1", 100),
            learner: Some(code("L1")),
            status: DownloadStatus::Ok,
        },
        DownloadedAssessment {
            assessment: assessment("A-2", "C-X", 110),
            learner: None,
            status: DownloadStatus::Error {
                reason: "unknown candidate".into(),
            },
        },
    ];
    let download = LlnDownload {
        tenant: acme.clone(),
        connection: c.clone(),
        id: "0190-d1".into(),
        learner: None,
        modified_after: Some(at(50)),
        overridden: false,
        items,
        state: LlnDownloadState::Open,
        created_at: at(200),
        closed_at: None,
    };
    store.create_download(&download).await.unwrap();
    assert_eq!(
        store.download(&acme, &c, "0190-d1").await.unwrap().unwrap(),
        download
    );
    assert!(
        store
            .download(&tenant("other"), &c, "0190-d1")
            .await
            .unwrap()
            .is_none()
    );

    let closed = store
        .close_download(&acme, &c, "0190-d1", LlnDownloadState::Cancelled, at(300))
        .await
        .unwrap();
    assert_eq!(closed, Written::Done);
    let again = store
        .close_download(&acme, &c, "0190-d1", LlnDownloadState::Saved, at(301))
        .await
        .unwrap();
    assert_eq!(
        again,
        Written::AlreadyDone,
        "a closed download stays as it was closed"
    );
    let read = store.download(&acme, &c, "0190-d1").await.unwrap().unwrap();
    assert_eq!(
        (read.state, read.closed_at),
        (LlnDownloadState::Cancelled, Some(at(300)))
    );

    store.save_modified_since(&acme, &c, at(110)).await.unwrap();
    assert_eq!(
        store.modified_since(&acme, &c).await.unwrap(),
        Some(at(110))
    );
    assert_eq!(
        store.modified_since(&tenant("other"), &c).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn an_assessment_is_saved_once_and_edits_replace_it() {
    let store = store().await;
    let (acme, c) = (tenant("acme"), conn_id("ocsat"));
    let settings = LlnSettings {
        default_staff: Some("STAFF-1".into()),
        default_assessment_status: Some("Received".into()),
        ..LlnSettings::default()
    };
    let saved = SavedAssessment::new(
        acme.clone(),
        c.clone(),
        code("L1"),
        assessment("A-1", "C-1", 100),
        &settings,
        at(400),
    );
    assert_eq!(store.save_assessment(&saved).await.unwrap(), Written::Done);
    let mut twice = saved.clone();
    twice.saved_at = at(500);
    assert_eq!(
        store.save_assessment(&twice).await.unwrap(),
        Written::AlreadyDone
    );
    let id = AssessmentId::parse("A-1").unwrap();
    assert_eq!(
        store.assessment(&acme, &c, &id).await.unwrap().unwrap(),
        saved
    );

    let mut edited = saved.clone();
    edited.status = Some("Reviewed".into());
    edited.follow_up_comment = Some("Call about numeracy support".into());
    store.update_assessment(&edited).await.unwrap();
    assert_eq!(
        store.assessment(&acme, &c, &id).await.unwrap().unwrap(),
        edited
    );
    assert_eq!(store.assessments(&acme, &c).await.unwrap(), vec![edited]);
    assert!(
        store
            .assessments(&tenant("other"), &c)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .assessment(&tenant("other"), &c, &id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn api_calls_carry_a_ttl_and_history_reads_by_date_range() {
    let (store, table) = store_and_table().await;
    let (acme, c) = (tenant("acme"), conn_id("ocsat"));
    let now = chrono::Utc::now();
    let call = |at| ApiCall {
        at,
        method: "POST".into(),
        url: "http://127.0.0.1:1/oauth/token".into(),
        request_headers: vec![("x-api-key".into(), "****abcd".into())],
        request_body: Some("grant_type=client_credentials&client_secret=****".into()),
        response_status: Some(200),
        response_body: Some("{\"access_token\":\"****\"}".into()),
        error: None,
        duration_ms: 12,
    };
    store.record(&acme, &c, &call(now)).await.unwrap();
    // Older than the retention: TTL would remove it; it is not shown meanwhile.
    store
        .record(&acme, &c, &call(now - TimeDelta::days(8)))
        .await
        .unwrap();
    let calls = store.api_calls(&acme, &c).await.unwrap();
    assert_eq!(calls, vec![call(now)]);
    assert!(
        store
            .api_calls(&tenant("other"), &c)
            .await
            .unwrap()
            .is_empty()
    );

    // Each item carries the TTL attribute the table's TimeToLiveSpecification names.
    let raw: Vec<RawCall> = table
        .query(
            "T#acme#LLN#ocsat",
            Some("CALL#"),
            cloud::dynamo::QueryOptions::default(),
        )
        .await
        .unwrap();
    let mut expiries: Vec<i64> = raw.iter().map(|r| r.expires_at).collect();
    expiries.sort_unstable();
    assert_eq!(
        expiries,
        vec![
            (now - TimeDelta::days(1)).timestamp(),
            (now + TimeDelta::days(7)).timestamp()
        ]
    );

    for (secs, action) in [
        (10, LlnAction::CandidateCreated),
        (20, LlnAction::AssessmentsDownloaded),
        (30, LlnAction::DownloadSaved),
    ] {
        store
            .record_history(&LlnHistoryEntry {
                tenant: acme.clone(),
                connection: c.clone(),
                at: at(secs),
                action,
                learner: Some(code("L1")),
                detail: format!("{action:?}"),
            })
            .await
            .unwrap();
    }
    let window = store.history(&acme, &c, at(15), at(30)).await.unwrap();
    assert_eq!(
        window.iter().map(|e| e.action).collect::<Vec<_>>(),
        vec![LlnAction::AssessmentsDownloaded, LlnAction::DownloadSaved]
    );
    assert!(
        store
            .history(&tenant("other"), &c, at(0), at(100))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn invitations_are_found_by_email_and_a_changed_email_no_longer_matches() {
    let store = store().await;
    let (acme, c) = (tenant("acme"), conn_id("ocsat"));
    store
        .save_invitation(&invitation("acme", "L1", "C-1"))
        .await
        .unwrap();
    let mut shared = invitation("acme", "L2", "C-2");
    shared.candidate.pushed.email = " L1@Example.com ".into();
    store.save_invitation(&shared).await.unwrap();
    store
        .save_invitation(&invitation("other", "L3", "C-3"))
        .await
        .unwrap();
    let found = store
        .invitations_with_email(&acme, &c, "l1@example.com")
        .await
        .unwrap();
    let mut learners: Vec<&str> = found.iter().map(|i| i.candidate.learner.as_str()).collect();
    learners.sort_unstable();
    assert_eq!(learners, ["L1", "L2"]);

    // L2's email changes: its old marker stays but no longer counts.
    shared.candidate.pushed.email = "ana@example.com".into();
    store.save_invitation(&shared).await.unwrap();
    let found = store
        .invitations_with_email(&acme, &c, "L1@example.com")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].candidate.learner.as_str(), "L1");
    assert!(
        store
            .invitations_with_email(&tenant("other"), &c, "l1@example.com")
            .await
            .unwrap()
            .is_empty()
    );
}
