//! CourseKey attendance over DynamoDB on moto: the CourseKey offering,
//! attendance stored once per record, the journal, and raw records read back
//! from the inbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::TimeDelta;
use cloud::DynamoAttendanceInbox;
use cloud::dynamo::{DynamoAttendanceStore, Table};
use common::{at, conn_id, tenant};
use domain::attendance::{
    Attendance, AttendanceError, ClassSession, CourseKeyOffering, HoursType, JournalEntry, Mark,
    RejectedRecord,
};
use domain::ports::{AttendanceInbox, AttendanceRecords, AttendanceStore, Written};
use domain::{LearnerCode, OfferingId};

async fn tables() -> (DynamoAttendanceStore, DynamoAttendanceInbox) {
    let (sdk, config) = common::stack().await;
    let table = Table::new(common::dynamo(&sdk), config.tables.data);
    (
        DynamoAttendanceStore::new(table.clone()),
        DynamoAttendanceInbox::new(table),
    )
}

fn off() -> OfferingId {
    OfferingId::parse("OFF-1").unwrap()
}

fn attendance(learner: &str, mark: Mark, record: &str) -> (Attendance, JournalEntry) {
    let a = Attendance {
        tenant: tenant("acme"),
        offering: off(),
        class_code: "C1".into(),
        learner: LearnerCode::parse(learner).unwrap(),
        mark,
        minutes_attended: Some(170),
        record_id: record.into(),
        recorded_at: at(0),
    };
    let e = JournalEntry {
        tenant: a.tenant.clone(),
        offering: off(),
        at: at(0),
        record_id: record.into(),
        class_code: "C1".into(),
        learner: a.learner.clone(),
        from: None,
        to: mark,
        minutes_attended: Some(170),
        note: "converted".into(),
    };
    (a, e)
}

#[tokio::test]
async fn coursekey_offering_attendance_and_journal_round_trip() {
    let (store, _) = tables().await;
    let ck = CourseKeyOffering {
        tenant: tenant("acme"),
        offering: off(),
        send_to_coursekey: true,
        hours_type: HoursType::AttendanceLog,
        instructors: vec!["INS-1".into()],
        classes: vec![ClassSession {
            code: "C1".into(),
            start: at(0),
            end: at(0) + TimeDelta::hours(3),
        }],
        synchronized_at: None,
        last_error: None,
        pushed_fingerprint: None,
        pushed_classes: vec![],
    };
    store.save_coursekey_offering(&ck).await.unwrap();
    assert_eq!(
        store
            .coursekey_offering(&tenant("acme"), &off())
            .await
            .unwrap(),
        Some(ck)
    );
    assert_eq!(
        store
            .coursekey_offering(&tenant("other"), &off())
            .await
            .unwrap(),
        None
    );

    let (a, e) = attendance("L1", Mark::Absent, "r1");
    assert_eq!(store.save_attendance(&a, &e).await.unwrap(), Written::Done);
    assert_eq!(
        store.save_attendance(&a, &e).await.unwrap(),
        Written::AlreadyDone
    );
    let (mut b, mut e2) = attendance("L1", Mark::Present, "r2");
    e2.at = at(60);
    e2.from = Some(Mark::Absent);
    b.recorded_at = at(60);
    assert_eq!(store.save_attendance(&b, &e2).await.unwrap(), Written::Done);
    let (c, e3) = attendance("L2", Mark::Late, "r3");
    store.save_attendance(&c, &e3).await.unwrap();

    let got = store
        .attendance(
            &tenant("acme"),
            &off(),
            "C1",
            &LearnerCode::parse("L1").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.mark, got.record_id.as_str()), (Mark::Present, "r2"));
    let all = store.attendances(&tenant("acme"), &off()).await.unwrap();
    assert_eq!(all.len(), 2);
    let journal = store.journal(&tenant("acme"), &off()).await.unwrap();
    assert_eq!(
        journal
            .iter()
            .map(|j| j.record_id.as_str())
            .collect::<Vec<_>>(),
        ["r1", "r3", "r2"]
    );
}

#[tokio::test]
async fn raw_records_are_read_back_from_the_inbox() {
    let (_, inbox) = tables().await;
    let body = r#"{"id":"r1","course_id":"OFF-1"}"#;
    inbox
        .store_record(&tenant("acme"), &conn_id("ck"), "r1", body, at(0))
        .await
        .unwrap();
    assert_eq!(
        inbox
            .raw_record(&tenant("acme"), &conn_id("ck"), "r1")
            .await
            .unwrap()
            .as_deref(),
        Some(body)
    );
    assert_eq!(
        inbox
            .raw_record(&tenant("acme"), &conn_id("ck"), "nope")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn marked_offerings_are_listed_per_tenant_and_unmarking_drops_one() {
    let (store, _) = tables().await;
    let ck = |t: &str, o: &str, send: bool| CourseKeyOffering {
        tenant: tenant(t),
        offering: OfferingId::parse(o).unwrap(),
        send_to_coursekey: send,
        hours_type: HoursType::Marks,
        instructors: vec![],
        classes: vec![],
        synchronized_at: None,
        last_error: None,
        pushed_fingerprint: Some("fp".into()),
        pushed_classes: vec![],
    };
    for o in [
        ck("acme", "OFF-1", true),
        ck("acme", "OFF-2", true),
        ck("acme", "OFF-3", false),
        ck("bolt", "OFF-1", true),
    ] {
        store.save_coursekey_offering(&o).await.unwrap();
    }
    let ids = |list: Vec<CourseKeyOffering>| {
        let mut ids: Vec<String> = list.into_iter().map(|o| o.offering.to_string()).collect();
        ids.sort();
        ids
    };
    let marked = store
        .marked_coursekey_offerings(&tenant("acme"))
        .await
        .unwrap();
    assert_eq!(marked[0].pushed_fingerprint.as_deref(), Some("fp"));
    assert_eq!(ids(marked), ["OFF-1", "OFF-2"]);
    store
        .save_coursekey_offering(&ck("acme", "OFF-2", false))
        .await
        .unwrap();
    assert_eq!(
        ids(store
            .marked_coursekey_offerings(&tenant("acme"))
            .await
            .unwrap()),
        ["OFF-1"]
    );
    assert_eq!(
        ids(store
            .marked_coursekey_offerings(&tenant("bolt"))
            .await
            .unwrap()),
        ["OFF-1"]
    );
}

#[tokio::test]
async fn the_roster_tick_is_kept_per_connection() {
    let (store, _) = tables().await;
    let (acme, ck) = (tenant("acme"), conn_id("ck"));
    assert_eq!(store.roster_tick(&acme, &ck).await.unwrap(), None);
    store.save_roster_tick(&acme, &ck, at(60)).await.unwrap();
    store.save_roster_tick(&acme, &ck, at(120)).await.unwrap();
    assert_eq!(store.roster_tick(&acme, &ck).await.unwrap(), Some(at(120)));
    assert_eq!(
        store.roster_tick(&acme, &conn_id("other")).await.unwrap(),
        None
    );
    assert_eq!(store.roster_tick(&tenant("bolt"), &ck).await.unwrap(), None);
}

#[tokio::test]
async fn refused_records_are_kept_beside_the_raw_record_once_each() {
    let (store, inbox) = tables().await;
    let (acme, ck) = (tenant("acme"), conn_id("ck"));
    inbox
        .store_record(&acme, &ck, "r9", r#"{"id":"r9"}"#, at(0))
        .await
        .unwrap();
    let rejected = RejectedRecord {
        tenant: acme.clone(),
        connection: ck.clone(),
        record_id: "r9".into(),
        error: AttendanceError::UnknownStudent,
        message: AttendanceError::UnknownStudent.to_string(),
        course_id: Some("OFF-1".into()),
        class_id: Some("C1".into()),
        student_id: Some("L9".into()),
        rejected_at: at(5),
    };
    store.save_rejected_record(&rejected).await.unwrap();
    store.save_rejected_record(&rejected).await.unwrap();
    assert_eq!(
        store.rejected_records(&acme, &ck).await.unwrap(),
        vec![rejected]
    );
    // The raw record is still there, beside it.
    assert!(inbox.raw_record(&acme, &ck, "r9").await.unwrap().is_some());
    assert!(
        store
            .rejected_records(&tenant("bolt"), &ck)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_programme_courses_flag_is_kept_per_tenant() {
    use domain::attendance::ProgrammeCourse;
    let (store, _) = tables().await;
    let anat = ProgrammeCourse::parse("NURSING", "ANAT-101").unwrap();
    let phys = ProgrammeCourse::parse("NURSING", "PHYS-101").unwrap();
    assert_eq!(
        store
            .programme_course_send(&tenant("acme"), &anat)
            .await
            .unwrap(),
        None
    );
    store
        .save_programme_course_send(&tenant("acme"), &anat, true)
        .await
        .unwrap();
    store
        .save_programme_course_send(&tenant("acme"), &phys, false)
        .await
        .unwrap();
    assert_eq!(
        store
            .programme_course_send(&tenant("acme"), &anat)
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(
        store
            .programme_course_send(&tenant("acme"), &phys)
            .await
            .unwrap(),
        Some(false)
    );
    assert_eq!(
        store
            .programme_course_send(&tenant("bolt"), &anat)
            .await
            .unwrap(),
        None
    );
}
