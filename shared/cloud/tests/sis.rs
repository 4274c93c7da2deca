//! The SMS's records and what learnbridge keeps per connection, over DynamoDB
//! on moto: `SisStore` and `LinkStore` with the key layout of docs/architecture.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::NaiveDate;
use cloud::dynamo::{Condition, DynamoLinkStore, DynamoSisStore, Table};
use common::{at, conn_id, tenant};
use domain::ports::{LinkStore, SisStore, StoreError, Written};
use domain::sis::{
    Assessable, AssessableKind, BlockReason, CourseLink, Enrolment, EnrolmentState,
    ExternalAccount, Learner, Offering, OfferingStatus, Transfer, TransferStatus,
};
use domain::{AssessableId, LearnerCode, OfferingId, TenantId};
use serde::{Deserialize, Serialize};

async fn data_table() -> Table {
    let (sdk, config) = common::stack().await;
    Table::new(common::dynamo(&sdk), config.tables.data)
}

fn code(c: &str) -> LearnerCode {
    LearnerCode::parse(c).unwrap()
}

fn off(o: &str) -> OfferingId {
    OfferingId::parse(o).unwrap()
}

fn learner(t: &str, c: &str) -> Learner {
    Learner {
        tenant: tenant(t),
        code: code(c),
        username: Some(format!("user-{c}")),
        given_name: "Ana".into(),
        middle_name: Some("María".into()),
        family_name: format!("Ruiz {t}"),
        email: Some(format!("{c}@{t}.example")),
        date_of_birth: NaiveDate::from_ymd_opt(1990, 4, 1),
        archived: false,
        email_opt_out: false,
        updated_at: at(0),
    }
}

fn offering(t: &str, o: &str, assessables: &[&str]) -> Offering {
    Offering {
        tenant: tenant(t),
        id: off(o),
        name: format!("Offering {o}"),
        start_date: NaiveDate::from_ymd_opt(2025, 2, 1),
        end_date: NaiveDate::from_ymd_opt(2025, 6, 30),
        status: OfferingStatus::Active,
        auto_push: true,
        must_be_evaluated: false,
        assessables: assessables
            .iter()
            .map(|a| Assessable {
                id: AssessableId::parse(*a).unwrap(),
                name: format!("Unit {a}"),
                kind: AssessableKind::Unit,
                expected_start_date: None,
            })
            .collect(),
        updated_at: at(1),
    }
}

fn enrolment(t: &str, o: &str, c: &str) -> Enrolment {
    Enrolment {
        tenant: tenant(t),
        learner: code(c),
        offering: off(o),
        state: EnrolmentState::NotCalled,
        start_date: NaiveDate::from_ymd_opt(2025, 2, 3),
        session_date: None,
        updated_at: at(2),
    }
}

fn account(t: &str, c: &str, learner: &str, external_id: i64) -> ExternalAccount {
    ExternalAccount {
        tenant: tenant(t),
        connection: conn_id(c),
        learner: code(learner),
        external_id,
        created_by_us: true,
        linked_at: at(3),
    }
}

fn link(t: &str, o: &str, c: &str, course_id: i64) -> CourseLink {
    CourseLink {
        tenant: tenant(t),
        offering: off(o),
        connection: conn_id(c),
        course_id,
        course_idnumber: Some(o.to_owned()),
        course_shortname: Some(format!("{o}-short")),
        linked_at: at(4),
    }
}

fn transfer(t: &str, c: &str, o: &str, learner: &str, status: TransferStatus) -> Transfer {
    Transfer {
        tenant: tenant(t),
        connection: conn_id(c),
        offering: off(o),
        learner: code(learner),
        status,
        external_user: Some(7),
        transferred_at: None,
        updated_at: at(5),
        removal_error: None,
    }
}

#[tokio::test]
async fn learners_round_trip_and_are_read_in_batches_of_more_than_100() {
    let table = data_table().await;
    let store = DynamoSisStore::new(table);
    let t = tenant("acme");
    let saved: Vec<Learner> = (0..250)
        .map(|i| learner("acme", &format!("L{i:04}")))
        .collect();
    for l in &saved {
        store.save_learner(l).await.unwrap();
    }
    assert_eq!(
        store.learner(&t, &code("L0007")).await.unwrap(),
        Some(saved[7].clone()),
        "every field survives storage"
    );
    assert_eq!(store.learner(&t, &code("nobody")).await.unwrap(), None);

    // 250 present, 3 missing, one duplicate: three BatchGetItem calls' worth.
    let mut codes: Vec<LearnerCode> = saved.iter().map(|l| l.code.clone()).collect();
    codes.extend([code("missing-1"), code("missing-2"), code("missing-3")]);
    codes.push(code("L0001"));
    let got = store.learners(&t, &codes).await.unwrap();
    assert_eq!(got, saved, "all found, each once, in code order");
    assert!(store.learners(&t, &[]).await.unwrap().is_empty());

    assert_eq!(store.all_learners(&t).await.unwrap().len(), 250);
}

#[tokio::test]
async fn an_offering_keeps_its_assessables_and_drops_the_removed_ones() {
    let store = DynamoSisStore::new(data_table().await);
    let t = tenant("acme");
    let first = offering("acme", "OCC-1", &["U1", "U2", "U3"]);
    store.save_offering(&first).await.unwrap();
    assert_eq!(
        store.offering(&t, &off("OCC-1")).await.unwrap(),
        Some(first)
    );

    let mut second = offering("acme", "OCC-1", &["U3", "U4"]);
    second.status = OfferingStatus::Completed;
    second.end_date = None;
    store.save_offering(&second).await.unwrap();
    let got = store.offering(&t, &off("OCC-1")).await.unwrap().unwrap();
    assert_eq!(got, second, "U1 and U2 are gone, U4 is new");
    assert_eq!(store.offering(&t, &off("OCC-2")).await.unwrap(), None);
}

#[tokio::test]
async fn enrolments_are_listed_by_offering_and_by_learner() {
    let store = DynamoSisStore::new(data_table().await);
    let t = tenant("acme");
    for (o, c) in [("OCC-1", "A"), ("OCC-1", "B"), ("OCC-2", "A")] {
        store
            .save_enrolment(&enrolment("acme", o, c))
            .await
            .unwrap();
    }
    let mut called = enrolment("acme", "OCC-1", "A");
    called.state = EnrolmentState::InProgress;
    called.session_date = NaiveDate::from_ymd_opt(2025, 2, 4);
    store.save_enrolment(&called).await.unwrap();

    assert_eq!(
        store
            .enrolment(&t, &off("OCC-1"), &code("A"))
            .await
            .unwrap(),
        Some(called.clone())
    );
    let of_offering = store.enrolments(&t, &off("OCC-1")).await.unwrap();
    assert_eq!(of_offering, vec![called, enrolment("acme", "OCC-1", "B")]);
    let mut of_learner: Vec<String> = store
        .learner_enrolments(&t, &code("A"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.offering.to_string())
        .collect();
    of_learner.sort();
    assert_eq!(of_learner, ["OCC-1", "OCC-2"]);
    assert_eq!(
        store.enrolments(&t, &off("OCC-9")).await.unwrap(),
        Vec::new()
    );
}

#[tokio::test]
async fn an_offerings_enrolments_are_read_a_page_at_a_time_in_learner_order() {
    let store = DynamoSisStore::new(data_table().await);
    let t = tenant("acme");
    // Saved out of order, beside the offering itself, another offering's
    // enrolment and another tenant's enrolment in an offering of the same id.
    for c in ["E", "A", "D", "B", "C"] {
        store
            .save_enrolment(&enrolment("acme", "OCC-1", c))
            .await
            .unwrap();
    }
    store
        .save_offering(&offering("acme", "OCC-1", &["U1"]))
        .await
        .unwrap();
    store
        .save_enrolment(&enrolment("acme", "OCC-2", "A"))
        .await
        .unwrap();
    store
        .save_enrolment(&enrolment("globex", "OCC-1", "Z"))
        .await
        .unwrap();

    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut after: Option<LearnerCode> = None;
    for _ in 0..10 {
        let page = store
            .enrolment_page(&t, &off("OCC-1"), after.as_ref(), 2)
            .await
            .unwrap();
        assert!(page.enrolments.len() <= 2);
        assert!(
            page.enrolments
                .iter()
                .all(|e| e.tenant == t && e.offering == off("OCC-1"))
        );
        pages.push(
            page.enrolments
                .iter()
                .map(|e| e.learner.to_string())
                .collect(),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    // Every enrolment once, in learner order; DynamoDB may end the last full
    // page with a key to go on from, which then reads an empty page.
    let read: Vec<String> = pages.iter().flatten().cloned().collect();
    assert_eq!(read, ["A", "B", "C", "D", "E"]);
    assert_eq!(pages[..3], [vec!["A", "B"], vec!["C", "D"], vec!["E"]]);
    // The same as the whole list.
    let whole: Vec<String> = store
        .enrolments(&t, &off("OCC-1"))
        .await
        .unwrap()
        .iter()
        .map(|e| e.learner.to_string())
        .collect();
    assert_eq!(read, whole);
    // A page after the last learner, and of an offering without enrolments.
    let past = store
        .enrolment_page(&t, &off("OCC-1"), Some(&code("E")), 2)
        .await
        .unwrap();
    assert_eq!((past.enrolments.len(), past.next), (0, None));
    let none = store
        .enrolment_page(&t, &off("OCC-9"), None, 2)
        .await
        .unwrap();
    assert_eq!((none.enrolments.len(), none.next), (0, None));
}

#[tokio::test]
async fn a_learner_never_gets_two_accounts_unless_a_person_relinks_them() {
    let store = DynamoLinkStore::new(data_table().await);
    let (t, c) = (tenant("acme"), conn_id("moodle"));
    let first = account("acme", "moodle", "A", 41);
    assert_eq!(store.save_account(&first).await.unwrap(), Written::Done);
    assert_eq!(
        store.save_account(&first).await.unwrap(),
        Written::AlreadyDone,
        "a duplicate message changes nothing"
    );
    let other = account("acme", "moodle", "A", 99);
    assert_eq!(
        store.save_account(&other).await.unwrap(),
        Written::AlreadyDone,
        "a second, different account is refused"
    );
    assert_eq!(
        store.account(&t, &c, &code("A")).await.unwrap(),
        Some(first.clone())
    );

    store.replace_account(&other).await.unwrap();
    assert_eq!(
        store.account(&t, &c, &code("A")).await.unwrap(),
        Some(other.clone())
    );
    assert_eq!(
        store.accounts_by_external_id(&t, &c, 99).await.unwrap(),
        vec![other]
    );
    assert!(
        store
            .accounts_by_external_id(&t, &c, 41)
            .await
            .unwrap()
            .is_empty(),
        "the replaced id no longer points at the learner"
    );
    // Another connection of the same tenant is another account space.
    assert_eq!(
        store
            .account(&t, &conn_id("moodle-2"), &code("A"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn accounts_are_read_in_batches() {
    let store = DynamoLinkStore::new(data_table().await);
    let (t, c) = (tenant("acme"), conn_id("moodle"));
    let saved: Vec<ExternalAccount> = (0..130)
        .map(|i| account("acme", "moodle", &format!("L{i:04}"), 1000 + i))
        .collect();
    for a in &saved {
        store.save_account(a).await.unwrap();
    }
    let mut codes: Vec<LearnerCode> = (0..140).map(|i| code(&format!("L{i:04}"))).collect();
    codes.push(code("L0000"));
    let got = store.accounts(&t, &c, &codes).await.unwrap();
    assert_eq!(got, saved, "learners without an account are left out");
}

#[tokio::test]
async fn links_are_found_by_offering_and_by_connection() {
    let store = DynamoLinkStore::new(data_table().await);
    let t = tenant("acme");
    for l in [
        link("acme", "OCC-1", "moodle", 11),
        link("acme", "OCC-2", "moodle", 12),
        link("acme", "OCC-1", "coursekey", 13),
    ] {
        store.save_link(&l).await.unwrap();
    }
    assert_eq!(
        store
            .link(&t, &off("OCC-1"), &conn_id("moodle"))
            .await
            .unwrap(),
        Some(link("acme", "OCC-1", "moodle", 11))
    );
    let mut by_connection: Vec<i64> = store
        .links(&t, &conn_id("moodle"))
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.course_id)
        .collect();
    by_connection.sort_unstable();
    assert_eq!(by_connection, [11, 12]);
    let by_offering = store.offering_links(&t, &off("OCC-1")).await.unwrap();
    assert_eq!(
        by_offering,
        vec![
            link("acme", "OCC-1", "coursekey", 13),
            link("acme", "OCC-1", "moodle", 11)
        ]
    );
    store
        .delete_link(&t, &off("OCC-1"), &conn_id("coursekey"))
        .await
        .unwrap();
    assert_eq!(
        store.offering_links(&t, &off("OCC-1")).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn transfers_are_kept_per_connection_offering_and_learner() {
    let table = data_table().await;
    let links = DynamoLinkStore::new(table.clone());
    let sis = DynamoSisStore::new(table);
    let t = tenant("acme");
    let blocked = TransferStatus::Blocked {
        reasons: vec![
            BlockReason::MissingEmail,
            BlockReason::EmailUsedByAnotherUser { moodle_user_id: 4 },
        ],
    };
    let a = transfer("acme", "moodle", "OCC-1", "A", TransferStatus::Transferred);
    let b = transfer("acme", "moodle", "OCC-1", "B", blocked);
    let other_connection = transfer("acme", "moodle-2", "OCC-1", "A", TransferStatus::Ready);
    for x in [&a, &b, &other_connection] {
        links.save_transfer(x).await.unwrap();
    }
    sis.save_enrolment(&enrolment("acme", "OCC-1", "A"))
        .await
        .unwrap();

    assert_eq!(
        links
            .transfer(&t, &conn_id("moodle"), &off("OCC-1"), &code("B"))
            .await
            .unwrap(),
        Some(b.clone()),
        "block reasons survive storage"
    );
    assert_eq!(
        links
            .transfers(&t, &conn_id("moodle"), &off("OCC-1"))
            .await
            .unwrap(),
        vec![a, b],
        "only this connection's, never moodle-2's"
    );
    assert_eq!(
        sis.enrolments(&t, &off("OCC-1")).await.unwrap().len(),
        1,
        "transfers are not enrolments"
    );
}

#[tokio::test]
async fn tenant_b_never_reads_tenant_a_records_even_with_the_same_codes() {
    let table = data_table().await;
    let sis = DynamoSisStore::new(table.clone());
    let links = DynamoLinkStore::new(table);
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    sis.save_learner(&learner("tenant-a", "X1")).await.unwrap();
    sis.save_offering(&offering("tenant-a", "OCC-1", &["U1"]))
        .await
        .unwrap();
    sis.save_enrolment(&enrolment("tenant-a", "OCC-1", "X1"))
        .await
        .unwrap();
    links
        .save_link(&link("tenant-a", "OCC-1", "moodle", 5))
        .await
        .unwrap();
    links
        .save_account(&account("tenant-a", "moodle", "X1", 77))
        .await
        .unwrap();
    links
        .save_transfer(&transfer(
            "tenant-a",
            "moodle",
            "OCC-1",
            "X1",
            TransferStatus::Transferred,
        ))
        .await
        .unwrap();

    let (x1, occ, moodle) = (code("X1"), off("OCC-1"), conn_id("moodle"));
    assert_eq!(sis.learner(&b, &x1).await.unwrap(), None);
    assert!(
        sis.learners(&b, std::slice::from_ref(&x1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(sis.all_learners(&b).await.unwrap().is_empty());
    assert_eq!(sis.offering(&b, &occ).await.unwrap(), None);
    assert_eq!(sis.enrolment(&b, &occ, &x1).await.unwrap(), None);
    assert!(sis.enrolments(&b, &occ).await.unwrap().is_empty());
    assert!(sis.learner_enrolments(&b, &x1).await.unwrap().is_empty());
    assert_eq!(links.link(&b, &occ, &moodle).await.unwrap(), None);
    assert!(links.links(&b, &moodle).await.unwrap().is_empty());
    assert!(links.offering_links(&b, &occ).await.unwrap().is_empty());
    assert_eq!(links.account(&b, &moodle, &x1).await.unwrap(), None);
    assert!(
        links
            .accounts(&b, &moodle, std::slice::from_ref(&x1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        links
            .accounts_by_external_id(&b, &moodle, 77)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(links.transfer(&b, &moodle, &occ, &x1).await.unwrap(), None);
    assert!(links.transfers(&b, &moodle, &occ).await.unwrap().is_empty());

    // B writing the same codes creates B's records and leaves A's alone.
    let b_account = account("tenant-b", "moodle", "X1", 12);
    assert_eq!(
        links.save_account(&b_account).await.unwrap(),
        Written::Done,
        "A's account does not block B's"
    );
    sis.save_learner(&Learner {
        given_name: "Other".into(),
        ..learner("tenant-b", "X1")
    })
    .await
    .unwrap();
    assert_eq!(
        sis.learner(&a, &x1).await.unwrap(),
        Some(learner("tenant-a", "X1"))
    );
    assert_eq!(
        links
            .account(&a, &moodle, &x1)
            .await
            .unwrap()
            .unwrap()
            .external_id,
        77
    );
}

/// A raw item with the layout of a learner but an id that is not an id.
#[derive(Serialize, Deserialize)]
struct RawLearner {
    pk: String,
    sk: String,
    tenant: String,
    code: String,
    given_name: String,
    family_name: String,
    archived: bool,
    email_opt_out: bool,
    updated_at: chrono::DateTime<chrono::Utc>,
}

#[tokio::test]
async fn a_stored_record_with_a_bad_id_is_reported_corrupt() {
    let table = data_table().await;
    let store = DynamoSisStore::new(table.clone());
    let raw = RawLearner {
        pk: "T#acme".into(),
        sk: "LEARNER#X1".into(),
        tenant: "acme".into(),
        code: "X 1".into(),
        given_name: "A".into(),
        family_name: "R".into(),
        archived: false,
        email_opt_out: false,
        updated_at: at(0),
    };
    table.put(&raw, Condition::None).await.unwrap();
    let t = TenantId::parse("acme").unwrap();
    let err = store.learner(&t, &code("X1")).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let err = store.learners(&t, &[code("X1")]).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Thing {
    pk: String,
    sk: String,
    n: u32,
}

#[tokio::test]
async fn batch_get_reads_many_keys_each_once_and_leaves_out_missing_ones() {
    let table = data_table().await;
    let things: Vec<Thing> = (0..230)
        .map(|n| Thing {
            pk: format!("P#{}", n % 7),
            sk: format!("S#{n:04}"),
            n,
        })
        .collect();
    table.batch_put(&things).await.unwrap();
    let mut keys: Vec<(String, String)> = things
        .iter()
        .map(|t| (t.pk.clone(), t.sk.clone()))
        .collect();
    keys.push(("P#0".into(), "S#0000".into()));
    keys.push(("P#nope".into(), "S#nope".into()));
    let mut got: Vec<Thing> = table.batch_get(&keys).await.unwrap();
    got.sort_by_key(|t| t.n);
    assert_eq!(got, things);
    let none: Vec<Thing> = table.batch_get(&[]).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(cloud::dynamo::BATCH_GET_MAX, 100);
}
