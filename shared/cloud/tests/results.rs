//! Mappings, results under review and the fetch watermark over DynamoDB on
//! moto: `ResultStore` with the key layout of docs/architecture.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::NaiveDate;
use cloud::dynamo::{DynamoResultStore, Table};
use common::{at, conn_id, tenant};
use domain::ports::ResultStore;
use domain::results::{
    Adjustment, MappedActivity, Mapping, OfferingProgress, ProposedResult, ResultKey, ResultType,
    RetryEntry, ReviewState, StoredCompletion, StoredResult,
};
use domain::{AssessableId, LearnerCode, OfferingId};

async fn store() -> DynamoResultStore {
    let (sdk, config) = common::stack().await;
    DynamoResultStore::new(Table::new(common::dynamo(&sdk), config.tables.data))
}

fn off(o: &str) -> OfferingId {
    OfferingId::parse(o).unwrap()
}

fn key(t: &str, c: &str, o: &str, l: &str, a: &str) -> ResultKey {
    ResultKey {
        tenant: tenant(t),
        connection: conn_id(c),
        offering: off(o),
        learner: LearnerCode::parse(l).unwrap(),
        assessable: AssessableId::parse(a).unwrap(),
    }
}

fn passed(start: Option<NaiveDate>) -> ProposedResult {
    ProposedResult {
        result: ResultType::Passed,
        start_date: start,
        finish_date: NaiveDate::from_ymd_opt(2026, 3, 9),
        grade: Some(80.0),
        grade_max: Some(100.0),
    }
}

#[tokio::test]
async fn mappings_are_per_offering_and_connection() {
    let store = store().await;
    let mapping = |c: &str, a: &str, cmids: &[i64]| Mapping {
        tenant: tenant("acme"),
        offering: off("OFF-1"),
        connection: conn_id(c),
        assessable: AssessableId::parse(a).unwrap(),
        activities: cmids
            .iter()
            .map(|c| MappedActivity {
                cmid: *c,
                modname: "quiz".into(),
            })
            .collect(),
        updated_at: at(0),
    };
    store
        .save_mapping(&mapping("moodle", "U1", &[1, 2]))
        .await
        .unwrap();
    store
        .save_mapping(&mapping("moodle", "U2", &[3]))
        .await
        .unwrap();
    store
        .save_mapping(&mapping("moodle-2", "U1", &[9]))
        .await
        .unwrap();
    // Replacing a mapping keeps one per assessable.
    store
        .save_mapping(&mapping("moodle", "U2", &[4, 5]))
        .await
        .unwrap();
    let got = store
        .mappings(&tenant("acme"), &off("OFF-1"), &conn_id("moodle"))
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], mapping("moodle", "U1", &[1, 2]));
    assert_eq!(got[1].activities.len(), 2);
    assert!(
        store
            .mappings(&tenant("other"), &off("OFF-1"), &conn_id("moodle"))
            .await
            .unwrap()
            .is_empty(),
        "another tenant sees nothing"
    );
    // Removing one leaves the others (the same assessable on another connection too).
    let u2 = AssessableId::parse("U2").unwrap();
    store
        .delete_mapping(&tenant("acme"), &off("OFF-1"), &conn_id("moodle"), &u2)
        .await
        .unwrap();
    let got = store
        .mappings(&tenant("acme"), &off("OFF-1"), &conn_id("moodle"))
        .await
        .unwrap();
    assert_eq!(got, [mapping("moodle", "U1", &[1, 2])]);
    let u1 = AssessableId::parse("U1").unwrap();
    store
        .delete_mapping(&tenant("other"), &off("OFF-1"), &conn_id("moodle-2"), &u1)
        .await
        .unwrap();
    assert_eq!(
        store
            .mappings(&tenant("acme"), &off("OFF-1"), &conn_id("moodle-2"))
            .await
            .unwrap()
            .len(),
        1,
        "another tenant's removal touches nothing of acme's"
    );
}

#[tokio::test]
async fn results_move_between_review_queues() {
    let store = store().await;
    let (t, c) = (tenant("acme"), conn_id("moodle"));
    let ready = StoredResult::new(
        key("acme", "moodle", "OFF-1", "L1", "U1"),
        passed(NaiveDate::from_ymd_opt(2026, 3, 1)),
        at(0),
    );
    let mut error = StoredResult::new(
        key("acme", "moodle", "OFF-1", "L2", "U1"),
        passed(None),
        at(0),
    );
    assert_eq!(error.state, ReviewState::Error);
    store.save_result(&ready).await.unwrap();
    store.save_result(&error).await.unwrap();
    let queue = |s| store.results_by_state(&t, &c, s, 100);
    assert_eq!(
        queue(ReviewState::Ready).await.unwrap(),
        vec![ready.clone()]
    );
    assert_eq!(
        queue(ReviewState::Error).await.unwrap(),
        vec![error.clone()]
    );

    // A person fixes the error, then it is processed: it leaves the error
    // queue, passes through ready and lands in done.
    error
        .adjust(
            &Adjustment {
                start_date: NaiveDate::from_ymd_opt(2026, 3, 2),
                ..Adjustment::default()
            },
            at(5),
        )
        .unwrap();
    store.save_result(&error).await.unwrap();
    assert!(queue(ReviewState::Error).await.unwrap().is_empty());
    assert_eq!(queue(ReviewState::Ready).await.unwrap().len(), 2);
    error.approve(at(6)).unwrap();
    store.save_result(&error).await.unwrap();
    assert_eq!(queue(ReviewState::Done).await.unwrap(), vec![error.clone()]);
    assert_eq!(
        queue(ReviewState::Ready).await.unwrap(),
        vec![ready.clone()]
    );

    let one = store
        .result(&t, &off("OFF-1"), &error.learner, &error.assessable)
        .await
        .unwrap();
    assert_eq!(one, Some(error));
    assert_eq!(store.results(&t, &off("OFF-1")).await.unwrap().len(), 2);
    assert!(store.results(&t, &off("OFF-2")).await.unwrap().is_empty());
    assert_eq!(queue(ReviewState::Ready).await.unwrap().len(), 1);
    assert!(
        store
            .results_by_state(&tenant("other"), &c, ReviewState::Ready, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_watermark_is_per_connection() {
    let store = store().await;
    let t = tenant("acme");
    assert_eq!(store.watermark(&t, &conn_id("moodle")).await.unwrap(), None);
    store
        .save_watermark(&t, &conn_id("moodle"), at(100))
        .await
        .unwrap();
    store
        .save_watermark(&t, &conn_id("moodle"), at(200))
        .await
        .unwrap();
    assert_eq!(
        store.watermark(&t, &conn_id("moodle")).await.unwrap(),
        Some(at(200))
    );
    assert_eq!(
        store.watermark(&t, &conn_id("moodle-2")).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn the_retry_set_moves_with_the_watermark_in_one_write() {
    let store = store().await;
    let (t, c) = (tenant("acme"), conn_id("moodle"));
    assert!(store.retries(&t, &c).await.unwrap().is_empty());
    let retries = vec![
        RetryEntry {
            offering: off("OFF-1"),
            learner: Some(LearnerCode::parse("L1").unwrap()),
        },
        RetryEntry {
            offering: off("OFF-2"),
            learner: None,
        },
    ];
    store
        .save_progress(&t, &c, at(100), &retries)
        .await
        .unwrap();
    assert_eq!(store.watermark(&t, &c).await.unwrap(), Some(at(100)));
    assert_eq!(store.retries(&t, &c).await.unwrap(), retries);
    assert!(
        store
            .retries(&tenant("other"), &c)
            .await
            .unwrap()
            .is_empty(),
        "another tenant sees nothing"
    );
    store.save_progress(&t, &c, at(200), &[]).await.unwrap();
    assert_eq!(store.watermark(&t, &c).await.unwrap(), Some(at(200)));
    assert!(store.retries(&t, &c).await.unwrap().is_empty());
}

#[tokio::test]
async fn each_offering_keeps_its_own_progress_beside_the_connections() {
    let store = store().await;
    let (t, c) = (tenant("acme"), conn_id("moodle"));
    assert!(store.offering_progress(&t, &c).await.unwrap().is_empty());
    let one = OfferingProgress {
        offering: off("OFF-1"),
        at: at(100),
        retries: vec![RetryEntry {
            offering: off("OFF-1"),
            learner: Some(LearnerCode::parse("L1").unwrap()),
        }],
    };
    store.save_offering_progress(&t, &c, &one).await.unwrap();
    let two = OfferingProgress {
        offering: off("OFF-2"),
        at: at(150),
        retries: vec![],
    };
    store.save_offering_progress(&t, &c, &two).await.unwrap();
    // Replaced, not added to.
    let one = OfferingProgress {
        at: at(200),
        retries: vec![],
        ..one
    };
    store.save_offering_progress(&t, &c, &one).await.unwrap();
    let mut all = store.offering_progress(&t, &c).await.unwrap();
    all.sort_by(|a, b| a.offering.cmp(&b.offering));
    assert_eq!(all, vec![one, two]);
    // The connection's own watermark is another item, untouched.
    assert_eq!(store.watermark(&t, &c).await.unwrap(), None);
    store.save_progress(&t, &c, at(300), &[]).await.unwrap();
    assert_eq!(store.offering_progress(&t, &c).await.unwrap().len(), 2);
    for (other_t, other_c) in [
        (tenant("other"), c.clone()),
        (t.clone(), conn_id("moodle-2")),
    ] {
        assert!(
            store
                .offering_progress(&other_t, &other_c)
                .await
                .unwrap()
                .is_empty(),
            "another tenant or connection sees nothing"
        );
    }
}

#[tokio::test]
async fn completions_move_between_review_queues() {
    let store = store().await;
    let (t, c) = (tenant("acme"), conn_id("moodle"));
    let completion = |l: &str| {
        StoredCompletion::new(
            (
                t.clone(),
                c.clone(),
                off("OFF-1"),
                LearnerCode::parse(l).unwrap(),
            ),
            7,
            at(50),
            Some(8.5),
            true,
            false,
            at(60),
        )
    };
    let mut one = completion("L1");
    store.save_completion(&one).await.unwrap();
    store.save_completion(&completion("L2")).await.unwrap();
    let queue = |s| store.completions_by_state(&t, &c, s, 100);
    assert_eq!(queue(ReviewState::Ready).await.unwrap().len(), 2);
    one.approve(at(70)).unwrap();
    store.save_completion(&one).await.unwrap();
    assert_eq!(queue(ReviewState::Ready).await.unwrap().len(), 1);
    assert_eq!(queue(ReviewState::Done).await.unwrap(), vec![one.clone()]);
    one.unenrolled_at = Some(at(80));
    store.save_completion(&one).await.unwrap();
    assert_eq!(
        store
            .completion(&t, &off("OFF-1"), &one.learner)
            .await
            .unwrap(),
        Some(one.clone())
    );
    assert_eq!(store.completions(&t, &off("OFF-1")).await.unwrap().len(), 2);
    assert!(
        store.results(&t, &off("OFF-1")).await.unwrap().is_empty(),
        "completions are not results"
    );
    assert!(
        store
            .completions_by_state(&tenant("other"), &c, ReviewState::Ready, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A result's history and later attempt, and a completion's maximum and later
/// grade, survive the store: what was replaced or recorded after delivery is
/// never lost.
#[tokio::test]
async fn history_and_later_attempts_are_kept() {
    let store = store().await;
    let t = tenant("acme");
    let stored = |result, grade| {
        StoredResult::new(
            key("acme", "moodle", "OFF-9", "L1", "U1"),
            ProposedResult {
                result,
                start_date: NaiveDate::from_ymd_opt(2026, 3, 1),
                finish_date: NaiveDate::from_ymd_opt(2026, 3, 9),
                grade: Some(grade),
                grade_max: Some(10.0),
            },
            at(0),
        )
    };
    let failed = stored(ResultType::Failed, 3.33333);
    let domain::results::Progress::Propose(mut passed) = domain::results::progress(
        Some(&failed),
        key("acme", "moodle", "OFF-9", "L1", "U1"),
        ProposedResult {
            result: ResultType::Passed,
            start_date: NaiveDate::from_ymd_opt(2026, 3, 1),
            finish_date: NaiveDate::from_ymd_opt(2026, 3, 10),
            grade: Some(10.0),
            grade_max: Some(10.0),
        },
        false,
        at(1),
    ) else {
        panic!("replaced")
    };
    passed.approve(at(2)).unwrap();
    passed.later = Some(domain::results::LaterAttempt {
        result: ResultType::Passed,
        finish_date: NaiveDate::from_ymd_opt(2026, 3, 11),
        grade: Some(9.0),
        grade_max: Some(10.0),
        seen_at: at(3),
    });
    store.save_result(&passed).await.unwrap();
    let read = store
        .result(&t, &off("OFF-9"), &passed.learner, &passed.assessable)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, passed);
    assert_eq!(read.history.len(), 1);

    let mut completion = StoredCompletion::new(
        (
            t.clone(),
            conn_id("moodle"),
            off("OFF-9"),
            LearnerCode::parse("L1").unwrap(),
        ),
        7,
        at(50),
        Some(8.5),
        false,
        false,
        at(60),
    );
    completion.grade_max = Some(10.0);
    completion.approve(at(61)).unwrap();
    assert!(completion.regrade(Some(9.5), Some(10.0), at(62)));
    store.save_completion(&completion).await.unwrap();
    assert_eq!(
        store
            .completion(&t, &off("OFF-9"), &completion.learner)
            .await
            .unwrap(),
        Some(completion)
    );
}
