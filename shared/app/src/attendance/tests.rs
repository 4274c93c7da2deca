use super::*;
use crate::testing::{MemConnections, MemMailer, MemQueue, MemSis, MemTenants};
use async_trait::async_trait;
use chrono::TimeZone;
use chrono::{DateTime, Utc};
use domain::attendance::{Attendance, AttendanceError, JournalEntry, Mark, RejectedRecord};
use domain::attendance::{ClassSession, CourseKeyOffering, HoursType};
use domain::connection::{ConnectionSettings, CourseKeySettings};
use domain::delivery::DeliveryKind;
use domain::delivery::{Attempt, Delivery, DeliveryId, DeliveryState};
use domain::ports::{
    AttendanceRecords, AttendanceStore, DeliveryStore, Retryable, SisStore, StoreError, Written,
};
use domain::sis::{Enrolment, EnrolmentState};
use domain::{Connection, Job};
use domain::{ConnectionId, LearnerCode, OfferingId, TenantId};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
struct MemRecords(Mutex<BTreeMap<String, String>>);
#[async_trait]
impl AttendanceRecords for MemRecords {
    async fn raw_record(
        &self,
        _: &TenantId,
        _: &ConnectionId,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self.0.lock().unwrap().get(id).cloned())
    }
}

type AttKey = (String, String, String);
#[derive(Default)]
struct MemAttendance {
    offerings: Mutex<BTreeMap<String, CourseKeyOffering>>,
    attendance: Mutex<BTreeMap<AttKey, Attendance>>,
    journal: Mutex<Vec<JournalEntry>>,
    rejected: Mutex<BTreeMap<String, RejectedRecord>>,
}
#[async_trait]
impl AttendanceStore for MemAttendance {
    async fn programme_course_send(
        &self,
        _: &TenantId,
        _: &domain::attendance::ProgrammeCourse,
    ) -> Result<Option<bool>, StoreError> {
        Ok(None)
    }
    async fn save_programme_course_send(
        &self,
        _: &TenantId,
        _: &domain::attendance::ProgrammeCourse,
        _: bool,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    async fn marked_coursekey_offerings(
        &self,
        _: &TenantId,
    ) -> Result<Vec<CourseKeyOffering>, StoreError> {
        Ok(self
            .offerings
            .lock()
            .unwrap()
            .values()
            .filter(|o| o.send_to_coursekey)
            .cloned()
            .collect())
    }
    async fn roster_tick(
        &self,
        _: &TenantId,
        _: &ConnectionId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(None)
    }
    async fn save_roster_tick(
        &self,
        _: &TenantId,
        _: &ConnectionId,
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    async fn save_rejected_record(&self, r: &RejectedRecord) -> Result<(), StoreError> {
        self.rejected
            .lock()
            .unwrap()
            .insert(r.record_id.clone(), r.clone());
        Ok(())
    }
    async fn rejected_records(
        &self,
        _: &TenantId,
        _: &ConnectionId,
    ) -> Result<Vec<RejectedRecord>, StoreError> {
        Ok(self.rejected.lock().unwrap().values().cloned().collect())
    }
    async fn coursekey_offering(
        &self,
        _: &TenantId,
        o: &OfferingId,
    ) -> Result<Option<CourseKeyOffering>, StoreError> {
        Ok(self.offerings.lock().unwrap().get(o.as_str()).cloned())
    }
    async fn save_coursekey_offering(&self, o: &CourseKeyOffering) -> Result<(), StoreError> {
        self.offerings
            .lock()
            .unwrap()
            .insert(o.offering.as_str().into(), o.clone());
        Ok(())
    }
    async fn attendance(
        &self,
        _: &TenantId,
        o: &OfferingId,
        c: &str,
        l: &LearnerCode,
    ) -> Result<Option<Attendance>, StoreError> {
        Ok(self
            .attendance
            .lock()
            .unwrap()
            .get(&(o.as_str().into(), c.into(), l.as_str().into()))
            .cloned())
    }
    async fn attendances(
        &self,
        _: &TenantId,
        _: &OfferingId,
    ) -> Result<Vec<Attendance>, StoreError> {
        Ok(self.attendance.lock().unwrap().values().cloned().collect())
    }
    async fn save_attendance(
        &self,
        a: &Attendance,
        e: &JournalEntry,
    ) -> Result<Written, StoreError> {
        let key = (
            a.offering.as_str().into(),
            a.class_code.clone(),
            a.learner.as_str().into(),
        );
        let mut all = self.attendance.lock().unwrap();
        if all.get(&key).is_some_and(|x| x.record_id == a.record_id) {
            return Ok(Written::AlreadyDone);
        }
        all.insert(key, a.clone());
        self.journal.lock().unwrap().push(e.clone());
        Ok(Written::Done)
    }
    async fn journal(&self, _: &TenantId, _: &OfferingId) -> Result<Vec<JournalEntry>, StoreError> {
        Ok(self.journal.lock().unwrap().clone())
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
        _: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        Ok(self.0.lock().unwrap().get(id.as_str()).cloned())
    }
    async fn due(&self, _: DateTime<Utc>, _: usize) -> Result<Vec<Delivery>, StoreError> {
        Ok(vec![])
    }
    async fn by_state(
        &self,
        _: &TenantId,
        _: &ConnectionId,
        _: DeliveryState,
        _: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        Ok(vec![])
    }
    async fn attempts(&self, _: &TenantId, _: &DeliveryId) -> Result<Vec<Attempt>, StoreError> {
        Ok(vec![])
    }
    async fn update(&self, d: &Delivery, _: Option<&Attempt>) -> Result<(), StoreError> {
        let mut stored = d.clone();
        stored.version += 1;
        self.0.lock().unwrap().insert(d.id.to_string(), stored);
        Ok(())
    }
}

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
}

struct World {
    connections: MemConnections,
    records: MemRecords,
    store: MemAttendance,
    sis: MemSis,
    deliveries: MemDeliveries,
    queue: MemQueue,
    mailer: MemMailer,
    tenants: MemTenants,
}

impl World {
    fn ports(&self) -> AttendancePorts<'_> {
        AttendancePorts {
            connections: &self.connections,
            records: &self.records,
            store: &self.store,
            sis: &self.sis,
            deliveries: &self.deliveries,
            queue: &self.queue,
            mailer: &self.mailer,
            tenants: &self.tenants,
        }
    }
    fn record(&self, id: &str, json: serde_json::Value) {
        let mut json = json;
        json["id"] = id.into();
        self.records
            .0
            .lock()
            .unwrap()
            .insert(id.into(), json.to_string());
    }
    async fn run(&self, ids: &[&str], now: DateTime<Utc>) -> AttendanceReport {
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        process_attendance(&self.ports(), &tenant(), &ck_conn(), &ids, now)
            .await
            .unwrap()
    }
    fn mark(&self, learner: &str) -> Option<Mark> {
        self.store
            .attendance
            .lock()
            .unwrap()
            .values()
            .find(|a| a.learner.as_str() == learner)
            .map(|a| a.mark)
    }
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}
fn ck_conn() -> ConnectionId {
    ConnectionId::parse("ck").unwrap()
}

async fn world(hours_type: HoursType) -> World {
    let w = World {
        connections: MemConnections::default(),
        records: MemRecords::default(),
        store: MemAttendance::default(),
        sis: MemSis::default(),
        deliveries: MemDeliveries::default(),
        queue: MemQueue::default(),
        mailer: MemMailer::default(),
        tenants: MemTenants::default(),
    };
    let conn = |id: &str, settings| Connection {
        tenant: tenant(),
        id: ConnectionId::parse(id).unwrap(),
        name: id.into(),
        base_url: "http://127.0.0.1:1".into(),
        enabled: true,
        error_email: Some("errors@school.test".into()),
        settings,
    };
    w.connections.0.lock().unwrap().extend([
        conn(
            "ck",
            ConnectionSettings::CourseKey(CourseKeySettings::default()),
        ),
        conn("sms", ConnectionSettings::Sms(Default::default())),
    ]);
    w.store
        .save_coursekey_offering(&CourseKeyOffering {
            tenant: tenant(),
            offering: OfferingId::parse("OFF1").unwrap(),
            send_to_coursekey: true,
            hours_type,
            instructors: vec!["INS1".into()],
            classes: vec![ClassSession {
                code: "C1".into(),
                start: t(9, 0),
                end: t(12, 0),
            }],
            synchronized_at: Some(t(8, 0)),
            last_error: None,
            pushed_fingerprint: None,
            pushed_classes: vec![],
        })
        .await
        .unwrap();
    for l in ["L1", "L2", "L3", "L4"] {
        w.sis
            .save_enrolment(&Enrolment {
                tenant: tenant(),
                learner: LearnerCode::parse(l).unwrap(),
                offering: OfferingId::parse("OFF1").unwrap(),
                state: EnrolmentState::InProgress,
                start_date: None,
                session_date: None,
                updated_at: t(8, 0),
            })
            .await
            .unwrap();
    }
    w
}

fn rec(student: &str, check_in: Option<&str>, check_out: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "course_id": "OFF1", "class_id": "C1", "student_id": student,
        "check_in": check_in, "check_out": check_out,
    })
}

#[tokio::test]
async fn records_become_present_late_absent_with_a_delivery_and_a_journal_line_each() {
    let w = world(HoursType::Marks).await;
    w.record(
        "r1",
        rec(
            "L1",
            Some("2026-03-02T08:58:00Z"),
            Some("2026-03-02T12:00:00Z"),
        ),
    );
    w.record(
        "r2",
        rec(
            "L2",
            Some("2026-03-02T09:15:00Z"),
            Some("2026-03-02T12:00:00Z"),
        ),
    );
    w.record(
        "r3",
        rec(
            "L3",
            Some("2026-03-02T09:16:00Z"),
            Some("2026-03-02T12:00:00Z"),
        ),
    );
    w.record("r4", rec("L4", None, None));
    let report = w.run(&["r1", "r2", "r3", "r4"], t(13, 0)).await;
    assert_eq!(report.stored, 4);
    assert_eq!(w.mark("L1"), Some(Mark::Present));
    assert_eq!(w.mark("L2"), Some(Mark::Late));
    assert_eq!(w.mark("L3"), Some(Mark::Absent));
    assert_eq!(w.mark("L4"), Some(Mark::Absent));
    assert_eq!(w.store.journal.lock().unwrap().len(), 4);
    let deliveries = w.deliveries.0.lock().unwrap();
    assert_eq!(deliveries.len(), 4);
    let statuses: Vec<_> = deliveries
        .values()
        .map(|d| {
            assert_eq!(d.kind, DeliveryKind::Attendance);
            assert_eq!(d.connection.as_str(), "sms");
            d.payload["status"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(statuses.iter().filter(|s| *s == "A").count(), 2);
    let deliver_jobs = w
        .queue
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|j| matches!(j, Job::Deliver { .. }))
        .count();
    assert_eq!(deliver_jobs, 4);
    assert!(w.mailer.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_replayed_job_changes_nothing() {
    let w = world(HoursType::Marks).await;
    w.record("r1", rec("L1", Some("2026-03-02T09:05:00Z"), None));
    assert_eq!(w.run(&["r1"], t(13, 0)).await.stored, 1);
    let again = w.run(&["r1"], t(13, 5)).await;
    assert_eq!((again.stored, again.unchanged), (0, 1));
    assert_eq!(w.store.journal.lock().unwrap().len(), 1);
    assert_eq!(w.deliveries.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn attendance_log_offerings_get_minutes_attended() {
    let w = world(HoursType::AttendanceLog).await;
    w.record(
        "r1",
        rec(
            "L1",
            Some("2026-03-02T09:10:00Z"),
            Some("2026-03-02T11:50:00Z"),
        ),
    );
    w.run(&["r1"], t(13, 0)).await;
    let a = w
        .store
        .attendance
        .lock()
        .unwrap()
        .values()
        .next()
        .cloned()
        .unwrap();
    assert_eq!((a.mark, a.minutes_attended), (Mark::Late, Some(160)));
    let d = w
        .deliveries
        .0
        .lock()
        .unwrap()
        .values()
        .next()
        .cloned()
        .unwrap();
    assert_eq!(d.payload["minutes_attended"], 160);
}

#[tokio::test]
async fn an_absence_edited_within_the_follow_up_days_updates_ours_and_a_later_edit_is_ignored() {
    let w = world(HoursType::Marks).await;
    w.record("r1", rec("L1", None, None));
    w.run(&["r1"], t(13, 0)).await;
    assert_eq!(w.mark("L1"), Some(Mark::Absent));

    let mut edit = rec("L1", None, None);
    edit["adjusted_status"] = "present".into();
    // The seventh day after the class (the tenant is in UTC), at its last minute.
    edit["adjusted_at"] = "2026-03-09T23:59:00Z".into();
    w.record("r2", edit);
    let report = w.run(&["r2"], t(13, 0) + chrono::TimeDelta::days(7)).await;
    assert_eq!(report.stored, 1);
    assert_eq!(w.mark("L1"), Some(Mark::Present));
    let journal = w.store.journal.lock().unwrap().clone();
    assert_eq!(journal[1].from, Some(Mark::Absent));
    assert_eq!(journal[1].to, Mark::Present);
    let mut sent: Vec<String> = w
        .deliveries
        .0
        .lock()
        .unwrap()
        .values()
        .map(|d| d.payload["status"].as_str().unwrap().to_owned())
        .collect();
    sent.sort();
    assert_eq!(sent, ["A", "P"], "the adjustment is a delivery of its own");

    w.record("r3", rec("L2", None, None));
    w.run(&["r3"], t(13, 0)).await;
    let mut late_edit = rec("L2", None, None);
    late_edit["adjusted_status"] = "present".into();
    // The eighth day.
    late_edit["adjusted_at"] = "2026-03-10T00:00:00Z".into();
    w.record("r4", late_edit);
    let report = w.run(&["r4"], t(13, 0) + chrono::TimeDelta::days(8)).await;
    assert_eq!((report.stored, report.ignored_adjustments), (0, 1));
    assert_eq!(w.mark("L2"), Some(Mark::Absent));
}

#[tokio::test]
async fn validation_errors_are_emailed_with_the_configured_subject_and_no_names() {
    let w = world(HoursType::Marks).await;
    w.record("bad-student", rec("L9", Some("2026-03-02T09:00:00Z"), None));
    let mut unknown_class = rec("L1", Some("2026-03-02T09:00:00Z"), None);
    unknown_class["class_id"] = "C9".into();
    w.record("bad-class", unknown_class);
    w.record(
        "bad-times",
        rec(
            "L1",
            Some("2026-03-02T10:00:00Z"),
            Some("2026-03-02T09:30:00Z"),
        ),
    );
    w.records
        .0
        .lock()
        .unwrap()
        .insert("bad-json".into(), "{\"id\":\"bad-json\"}".into());
    w.record("ok", rec("L2", Some("2026-03-02T09:00:00Z"), None));
    let report = w
        .run(
            &[
                "bad-student",
                "bad-class",
                "bad-times",
                "bad-json",
                "ok",
                "gone",
            ],
            t(13, 0),
        )
        .await;
    assert_eq!((report.stored, report.invalid, report.missing), (1, 4, 1));
    let mails = w.mailer.0.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, "errors@school.test");
    assert_eq!(
        mails[0].subject,
        "Incompatible data received from CourseKey"
    );
    assert!(
        mails[0]
            .body
            .starts_with("4 CourseKey attendance record(s)")
    );
    for expected in [
        "record bad-student: the student is not enrolled in the offering",
        "record bad-class: the class is not one of the offering's classes",
        "record bad-times: the check-out is before the check-in",
        "record bad-json: the record is not a valid CourseKey attendance record",
    ] {
        assert!(mails[0].body.contains(expected), "{expected}");
    }
    // Each is kept with its reason and the ids it named, for a person to see.
    let kept = w
        .store
        .rejected_records(&tenant(), &ConnectionId::parse("ck").unwrap())
        .await
        .unwrap();
    let reasons: Vec<(&str, &AttendanceError, Option<&str>)> = kept
        .iter()
        .map(|r| (r.record_id.as_str(), &r.error, r.student_id.as_deref()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("bad-class", &AttendanceError::UnknownClass, Some("L1")),
            ("bad-json", &AttendanceError::Malformed, None),
            ("bad-student", &AttendanceError::UnknownStudent, Some("L9")),
            (
                "bad-times",
                &AttendanceError::CheckOutBeforeCheckIn,
                Some("L1")
            ),
        ]
    );
    assert_eq!(
        kept[0].message,
        "the class is not one of the offering's classes"
    );
}

#[tokio::test]
async fn a_custom_subject_and_body_are_used() {
    let w = world(HoursType::Marks).await;
    {
        let mut all = w.connections.0.lock().unwrap();
        let ck = all.iter_mut().find(|c| c.id.as_str() == "ck").unwrap();
        ck.settings = ConnectionSettings::CourseKey(CourseKeySettings {
            error_email_subject: "CK: {count} refused".into(),
            error_email_body: "See:\n{errors}".into(),
            ..CourseKeySettings::default()
        });
    }
    w.record("x", rec("L9", None, None));
    w.run(&["x"], t(13, 0)).await;
    let mails = w.mailer.0.lock().unwrap().clone();
    assert_eq!(mails[0].subject, "CK: 1 refused");
    assert_eq!(
        mails[0].body,
        "See:\n- record x: the student is not enrolled in the offering"
    );
}

#[tokio::test]
async fn a_connection_that_is_not_coursekey_is_a_permanent_error() {
    let w = world(HoursType::Marks).await;
    let err = process_attendance(
        &w.ports(),
        &tenant(),
        &ConnectionId::parse("sms").unwrap(),
        &[],
        t(13, 0),
    )
    .await
    .unwrap_err();
    assert!(!err.is_retryable());
}
