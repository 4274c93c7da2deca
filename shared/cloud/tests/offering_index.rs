//! The tenant offering index (the console's full offerings list), over DynamoDB
//! on moto: one Query pages through a tenant's offerings in id order, with a
//! filter on id or name; another tenant's offerings never appear; offerings
//! stored before the index are found once `index_offerings` has added them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::NaiveDate;
use cloud::dynamo::{Condition, DynamoSisStore, Table};
use common::{at, tenant};
use domain::OfferingId;
use domain::ports::{OfferingPage, SisStore};
use domain::sis::{Offering, OfferingStatus};
use serde::Serialize;

async fn store() -> (Table, DynamoSisStore) {
    let (sdk, config) = common::stack().await;
    let table = Table::new(common::dynamo(&sdk), config.tables.data);
    (table.clone(), DynamoSisStore::new(table))
}

fn off(o: &str) -> OfferingId {
    OfferingId::parse(o).unwrap()
}

fn offering(t: &str, o: &str, name: &str) -> Offering {
    Offering {
        tenant: tenant(t),
        id: off(o),
        name: name.into(),
        start_date: NaiveDate::from_ymd_opt(2027, 2, 1),
        end_date: NaiveDate::from_ymd_opt(2027, 6, 30),
        status: OfferingStatus::Active,
        auto_push: false,
        must_be_evaluated: false,
        assessables: vec![],
        updated_at: at(1),
    }
}

fn ids(page: &OfferingPage) -> Vec<&str> {
    page.offerings.iter().map(|o| o.id.as_str()).collect()
}

/// Every page of a tenant's list, following `next` (at most 50 pages).
async fn all_pages(store: &DynamoSisStore, t: &str, filter: &str, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..50 {
        let page = store
            .offering_page(&tenant(t), filter, after.as_ref(), limit)
            .await
            .unwrap();
        assert!(page.offerings.len() <= limit);
        seen.extend(page.offerings.iter().map(|o| o.id.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => return seen,
        }
    }
    panic!("more than 50 pages");
}

#[tokio::test]
async fn a_tenants_offerings_page_in_id_order_and_another_tenants_never_appear() {
    let (_, store) = store().await;
    for i in 1..=7 {
        store
            .save_offering(&offering(
                "acme",
                &format!("OCC-{i:03}"),
                &format!("Course {i}"),
            ))
            .await
            .unwrap();
    }
    for i in 1..=3 {
        store
            .save_offering(&offering("globex", &format!("OCC-{i:03}"), "Globex course"))
            .await
            .unwrap();
    }
    let first = store
        .offering_page(&tenant("acme"), "", None, 3)
        .await
        .unwrap();
    assert_eq!(ids(&first), ["OCC-001", "OCC-002", "OCC-003"]);
    assert_eq!(first.offerings[0].name, "Course 1");
    assert_eq!(
        first.offerings[0].start_date,
        NaiveDate::from_ymd_opt(2027, 2, 1)
    );
    assert_eq!(first.next, Some(off("OCC-003")));
    let second = store
        .offering_page(&tenant("acme"), "", first.next.as_ref(), 3)
        .await
        .unwrap();
    assert_eq!(ids(&second), ["OCC-004", "OCC-005", "OCC-006"]);
    let last = store
        .offering_page(&tenant("acme"), "", second.next.as_ref(), 3)
        .await
        .unwrap();
    assert_eq!(ids(&last), ["OCC-007"]);
    assert_eq!(last.next, None, "the last page has no next");
    // Exactly a page's worth left: no empty page after it.
    let exact = store
        .offering_page(&tenant("acme"), "", Some(&off("OCC-004")), 3)
        .await
        .unwrap();
    assert_eq!(ids(&exact), ["OCC-005", "OCC-006", "OCC-007"]);
    assert_eq!(exact.next, None);

    // The other tenant sees its three, with the same ids, and none of acme's.
    let globex = all_pages(&store, "globex", "", 2).await;
    assert_eq!(globex, ["OCC-001", "OCC-002", "OCC-003"]);
    let page = store
        .offering_page(&tenant("globex"), "course", None, 10)
        .await
        .unwrap();
    assert!(page.offerings.iter().all(|o| o.name == "Globex course"));
    // A tenant with nothing has an empty list; a cursor past the end reads nothing.
    let none = store
        .offering_page(&tenant("initech"), "", None, 10)
        .await
        .unwrap();
    assert_eq!(none, OfferingPage::default());
    let past = store
        .offering_page(&tenant("acme"), "", Some(&off("ZZZ")), 10)
        .await
        .unwrap();
    assert!(past.offerings.is_empty() && past.next.is_none());
    // A cursor need not be a stored offering: the page starts after where it sorts.
    let between = store
        .offering_page(&tenant("acme"), "", Some(&off("OCC-0035")), 2)
        .await
        .unwrap();
    assert_eq!(ids(&between), ["OCC-004", "OCC-005"]);
}

#[tokio::test]
async fn the_filter_finds_id_or_name_ignoring_case_across_pages() {
    let (_, store) = store().await;
    for i in 1..=30 {
        let name = if i % 10 == 0 {
            format!("Welding level {i}")
        } else {
            format!("First aid {i}")
        };
        store
            .save_offering(&offering("acme", &format!("OCC-{i:03}"), &name))
            .await
            .unwrap();
    }
    store
        .save_offering(&offering("globex", "OCC-010", "Welding for globex"))
        .await
        .unwrap();
    let welding = all_pages(&store, "acme", "  wELDing ", 2).await;
    assert_eq!(welding, ["OCC-010", "OCC-020", "OCC-030"]);
    let by_id = all_pages(&store, "acme", "occ-02", 4).await;
    assert_eq!(by_id.len(), 10);
    assert!(
        by_id
            .iter()
            .all(|id| id.starts_with("OCC-02") || id == "OCC-002")
    );
    assert!(all_pages(&store, "acme", "no such", 5).await.is_empty());
    // A renamed offering is found by its new name only.
    store
        .save_offering(&offering("acme", "OCC-001", "Forklift"))
        .await
        .unwrap();
    assert_eq!(all_pages(&store, "acme", "forklift", 5).await, ["OCC-001"]);
    assert!(
        !all_pages(&store, "acme", "first aid 1", 50)
            .await
            .contains(&"OCC-001".to_owned())
    );
}

/// An offering as stored before the index: no gsi1 keys, no `search`.
#[derive(Serialize)]
struct OldOfferingRecord {
    pk: String,
    sk: String,
    tenant: String,
    id: String,
    name: String,
    start_date: NaiveDate,
    end_date: NaiveDate,
    status: OfferingStatus,
    auto_push: bool,
    must_be_evaluated: bool,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn old(t: &str, o: &str, name: &str) -> OldOfferingRecord {
    OldOfferingRecord {
        pk: format!("T#{t}#OFF#{o}"),
        sk: "OFFERING".into(),
        tenant: t.into(),
        id: o.into(),
        name: name.into(),
        start_date: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
        end_date: NaiveDate::from_ymd_opt(2026, 3, 5).unwrap(),
        status: OfferingStatus::Active,
        auto_push: false,
        must_be_evaluated: false,
        updated_at: at(0),
    }
}

#[tokio::test]
async fn offerings_stored_before_the_index_are_added_by_index_offerings_once() {
    let (table, store) = store().await;
    store
        .save_offering(&offering("acme", "NEW-1", "New course"))
        .await
        .unwrap();
    for (t, o) in [("acme", "OLD-1"), ("acme", "OLD-2"), ("globex", "OLD-1")] {
        table
            .put(&old(t, o, &format!("Old {o} of {t}")), Condition::None)
            .await
            .unwrap();
    }
    // A corrupt old item (an id that is no id) is reported, not fatal.
    let mut bad = old("acme", "BAD", "Broken");
    bad.id = "not an id".into();
    table.put(&bad, Condition::None).await.unwrap();
    // Still readable one by one; not yet listed.
    assert!(
        store
            .offering(&tenant("acme"), &off("OLD-1"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(all_pages(&store, "acme", "", 10).await, ["NEW-1"]);

    let report = store.index_offerings().await.unwrap();
    assert_eq!(report.added, 3, "{report:?}");
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert!(report.skipped[0].contains("T#acme#OFF#BAD"), "{report:?}");
    assert_eq!(
        all_pages(&store, "acme", "", 10).await,
        ["NEW-1", "OLD-1", "OLD-2"]
    );
    assert_eq!(all_pages(&store, "globex", "", 10).await, ["OLD-1"]);
    assert_eq!(all_pages(&store, "acme", "old old-2", 10).await, ["OLD-2"]);
    let listed = store
        .offering_page(&tenant("acme"), "", Some(&off("NEW-1")), 1)
        .await
        .unwrap();
    assert_eq!(listed.offerings[0].name, "Old OLD-1 of acme");
    assert_eq!(
        listed.offerings[0].start_date,
        NaiveDate::from_ymd_opt(2026, 1, 5)
    );
    // Run again: nothing left to add; the offering reads as before.
    let again = store.index_offerings().await.unwrap();
    assert_eq!(again.added, 0);
    let read = store
        .offering(&tenant("acme"), &off("OLD-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.name, "Old OLD-1 of acme");
}
