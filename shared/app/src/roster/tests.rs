use super::*;
use crate::testing::MemSis;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use chrono::{TimeDelta, TimeZone};
use connectors::coursekey::CourseKeyClient;
use domain::LearnerCode;
use domain::attendance::{Attendance, ClassSession, HoursType, JournalEntry};
use domain::attendance::{CourseKeyOffering, SyncStatus};
use domain::connection::{ConnectionSettings, CourseKeySettings};
use domain::ports::Written;
use domain::ports::{
    AttendanceStore, ConnectionStore, CourseKeyRoster, Retryable, RosterError, SisStore, StoreError,
};
use domain::sis::{Enrolment, EnrolmentState, Learner};
use domain::sis::{Offering, OfferingStatus};
use domain::{ConnectionId, Job, OfferingId, TenantId};
use secrecy::SecretString;
use simulators::coursekey::CourseKeySim;
use std::sync::Mutex;

/// The offering's CourseKey side, the connection's last tick.
#[derive(Default)]
struct MemCk(
    Mutex<Option<CourseKeyOffering>>,
    Mutex<Option<DateTime<Utc>>>,
);
#[async_trait]
impl AttendanceStore for MemCk {
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
        tenant: &TenantId,
    ) -> Result<Vec<CourseKeyOffering>, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.send_to_coursekey && &o.tenant == tenant)
            .cloned()
            .collect())
    }
    async fn roster_tick(
        &self,
        _: &TenantId,
        _: &ConnectionId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(*self.1.lock().unwrap())
    }
    async fn save_roster_tick(
        &self,
        _: &TenantId,
        _: &ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        *self.1.lock().unwrap() = Some(at);
        Ok(())
    }
    async fn save_rejected_record(
        &self,
        _: &domain::attendance::RejectedRecord,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    async fn rejected_records(
        &self,
        _: &TenantId,
        _: &ConnectionId,
    ) -> Result<Vec<domain::attendance::RejectedRecord>, StoreError> {
        Ok(vec![])
    }
    async fn coursekey_offering(
        &self,
        _: &TenantId,
        _: &OfferingId,
    ) -> Result<Option<CourseKeyOffering>, StoreError> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn save_coursekey_offering(&self, o: &CourseKeyOffering) -> Result<(), StoreError> {
        *self.0.lock().unwrap() = Some(o.clone());
        Ok(())
    }
    async fn attendance(
        &self,
        _: &TenantId,
        _: &OfferingId,
        _: &str,
        _: &LearnerCode,
    ) -> Result<Option<Attendance>, StoreError> {
        Ok(None)
    }
    async fn attendances(
        &self,
        _: &TenantId,
        _: &OfferingId,
    ) -> Result<Vec<Attendance>, StoreError> {
        Ok(vec![])
    }
    async fn save_attendance(
        &self,
        _: &Attendance,
        _: &JournalEntry,
    ) -> Result<Written, StoreError> {
        Ok(Written::Done)
    }
    async fn journal(&self, _: &TenantId, _: &OfferingId) -> Result<Vec<JournalEntry>, StoreError> {
        Ok(vec![])
    }
}

fn t(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 9, 0, 0).unwrap()
}
fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}
fn off() -> OfferingId {
    OfferingId::parse("OFF-1").unwrap()
}

async fn setup(sim: &CourseKeySim, base_url: &str) -> (MemCk, MemSis, CourseKeyClient) {
    let store = MemCk::default();
    store
        .save_coursekey_offering(&CourseKeyOffering {
            tenant: tenant(),
            offering: off(),
            send_to_coursekey: true,
            hours_type: HoursType::Marks,
            instructors: vec!["INS-1".into()],
            classes: vec![ClassSession {
                code: "C1".into(),
                start: t(3, 2),
                end: t(3, 2) + TimeDelta::hours(3),
            }],
            synchronized_at: None,
            last_error: None,
            pushed_fingerprint: None,
            pushed_classes: vec![],
        })
        .await
        .unwrap();
    let sis = MemSis::default();
    sis.save_offering(&Offering {
        tenant: tenant(),
        id: off(),
        name: "Welding 1".into(),
        start_date: Some(t(3, 2).date_naive()),
        end_date: Some(t(4, 30).date_naive()),
        status: OfferingStatus::Active,
        auto_push: false,
        must_be_evaluated: false,
        assessables: vec![],
        updated_at: t(1, 1),
    })
    .await
    .unwrap();
    for (code, state) in [
        ("L1", EnrolmentState::InProgress),
        ("L2", EnrolmentState::Withdrawn),
    ] {
        sis.save_learner(&Learner {
            tenant: tenant(),
            code: LearnerCode::parse(code).unwrap(),
            username: None,
            given_name: "Given".into(),
            middle_name: None,
            family_name: "Family".into(),
            email: Some(format!("{code}@example.com")),
            date_of_birth: None,
            archived: false,
            email_opt_out: false,
            updated_at: t(1, 1),
        })
        .await
        .unwrap();
        sis.save_enrolment(&Enrolment {
            tenant: tenant(),
            learner: LearnerCode::parse(code).unwrap(),
            offering: off(),
            state,
            start_date: None,
            session_date: None,
            updated_at: t(1, 1),
        })
        .await
        .unwrap();
    }
    let _ = sim;
    let client = CourseKeyClient::new(
        base_url,
        SecretString::from("ck_key"),
        None,
        connectors::egress::Egress::AllowInternal,
    )
    .unwrap();
    (store, sis, client)
}

#[tokio::test]
async fn a_marked_offering_in_its_window_is_pushed_with_instructors_students_dropped_flags_and_classes()
 {
    let sim = CourseKeySim::new("ck_key", "whsec");
    let server = sim.start().await.unwrap();
    let (store, sis, client) = setup(&sim, &server.base_url).await;
    let p = RosterPorts {
        store: &store,
        sis: &sis,
        roster: &client,
        tenants: &crate::testing::MemTenants::default(),
    };
    let settings = CourseKeySettings::default();

    // Three weeks before 2 March opens on 9 February: a day earlier it is Scheduled, no call.
    let early = push_offering(&p, &settings, &tenant(), &off(), t(2, 8))
        .await
        .unwrap();
    assert_eq!(early, SyncStatus::Scheduled);
    assert!(sim.calls().is_empty());

    let pushed = push_offering(&p, &settings, &tenant(), &off(), t(2, 9))
        .await
        .unwrap();
    assert_eq!(pushed, SyncStatus::Synchronized);
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-1").unwrap()["title"],
        "Welding 1"
    );
    assert_eq!(
        sim.resource("/api/v1/instructors/INS-1").unwrap()["course_ids"][0],
        "OFF-1"
    );
    assert_eq!(
        sim.resource("/api/v1/students/L1").unwrap()["email"],
        "L1@example.com"
    );
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-1/students/L1").unwrap()["is_dropped"],
        false
    );
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-1/students/L2").unwrap()["is_dropped"],
        true
    );
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-1/classes/C1").unwrap()["start"],
        "2026-03-02T09:00:00Z"
    );
    let synced = store.0.lock().unwrap().clone().unwrap();
    assert_eq!(synced.synchronized_at, Some(t(2, 9)));
    // Once synchronized, send-to-CourseKey cannot be unmarked.
    assert!(synced.clone().set_send(false).is_err());

    // A schedule change and a removed instructor: the class is sent again, nobody is removed.
    {
        let mut guard = store.0.lock().unwrap();
        let ck = guard.as_mut().unwrap();
        ck.classes[0].start = t(3, 2) + TimeDelta::hours(1);
        ck.instructors = vec!["INS-2".into()];
    }
    push_offering(&p, &settings, &tenant(), &off(), t(3, 1))
        .await
        .unwrap();
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-1/classes/C1").unwrap()["start"],
        "2026-03-02T10:00:00Z"
    );
    assert!(sim.resource("/api/v1/instructors/INS-1").is_some());
    assert!(sim.calls().iter().all(|c| c.method == "PUT"));

    // Two weeks after 30 April closes on 14 May: after that, Disabled and no call.
    let calls = sim.calls().len();
    let late = push_offering(&p, &settings, &tenant(), &off(), t(5, 15))
        .await
        .unwrap();
    assert_eq!(late, SyncStatus::Disabled);
    assert_eq!(sim.calls().len(), calls);
}

#[tokio::test]
async fn without_an_instructor_or_when_coursekey_refuses_the_offering_shows_failed_with_the_reason()
{
    let sim = CourseKeySim::new("ck_key", "whsec");
    let server = sim.start().await.unwrap();
    let (store, sis, client) = setup(&sim, &server.base_url).await;
    let p = RosterPorts {
        store: &store,
        sis: &sis,
        roster: &client,
        tenants: &crate::testing::MemTenants::default(),
    };
    let settings = CourseKeySettings::default();
    store
        .0
        .lock()
        .unwrap()
        .as_mut()
        .unwrap()
        .instructors
        .clear();
    let status = push_offering(&p, &settings, &tenant(), &off(), t(2, 20))
        .await
        .unwrap();
    assert!(matches!(&status, SyncStatus::Failed { reason } if reason.contains("instructor")));
    assert!(sim.calls().is_empty());
    let shown = super::status(
        &store,
        &sis,
        &settings,
        &tenant(),
        &off(),
        t(2, 20).date_naive(),
    )
    .await
    .unwrap()
    .unwrap()
    .1;
    assert_eq!(shown, status);

    store.0.lock().unwrap().as_mut().unwrap().instructors = vec!["INS-1".into()];
    sim.fail_with(Some(422));
    let refused = push_offering(&p, &settings, &tenant(), &off(), t(2, 20))
        .await
        .unwrap();
    assert_eq!(
        refused,
        SyncStatus::Failed {
            reason: "CourseKey refused the course: HTTP 422".into()
        }
    );
    sim.fail_with(Some(503));
    let err = push_offering(&p, &settings, &tenant(), &off(), t(2, 20))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    sim.fail_with(None);
    let ok = push_offering(&p, &settings, &tenant(), &off(), t(2, 20))
        .await
        .unwrap();
    assert_eq!(ok, SyncStatus::Synchronized);
}

fn enrol(sis: &MemSis, code: &str, state: EnrolmentState) -> impl Future<Output = ()> {
    let enrolment = Enrolment {
        tenant: tenant(),
        learner: LearnerCode::parse(code).unwrap(),
        offering: off(),
        state,
        start_date: None,
        session_date: None,
        updated_at: t(1, 1),
    };
    let learner = Learner {
        tenant: tenant(),
        code: LearnerCode::parse(code).unwrap(),
        username: None,
        given_name: "Given".into(),
        middle_name: None,
        family_name: "Family".into(),
        email: Some(format!("{code}@example.com")),
        date_of_birth: None,
        archived: false,
        email_opt_out: false,
        updated_at: t(1, 1),
    };
    async move {
        sis.save_learner(&learner).await.unwrap();
        sis.save_enrolment(&enrolment).await.unwrap();
    }
}

#[tokio::test]
async fn an_unchanged_roster_makes_no_coursekey_call_and_enrolment_changes_are_pushed() {
    let sim = CourseKeySim::new("ck_key", "whsec");
    let server = sim.start().await.unwrap();
    let (store, sis, client) = setup(&sim, &server.base_url).await;
    let p = RosterPorts {
        store: &store,
        sis: &sis,
        roster: &client,
        tenants: &crate::testing::MemTenants::default(),
    };
    let settings = CourseKeySettings::default();
    let (tenant, off) = (tenant(), off());
    let push = |at| push_offering(&p, &settings, &tenant, &off, at);
    assert_eq!(push(t(2, 20)).await.unwrap(), SyncStatus::Synchronized);
    let first = sim.calls().len();
    assert!(first > 0);
    let fingerprint = store.0.lock().unwrap().clone().unwrap().pushed_fingerprint;
    assert!(fingerprint.is_some());

    // The same roster again: Synchronized, and CourseKey hears nothing.
    assert_eq!(push(t(2, 21)).await.unwrap(), SyncStatus::Synchronized);
    assert_eq!(sim.calls().len(), first);

    // A new learner and L1 withdrawn: pushed, L1 dropped, L3 added.
    enrol(&sis, "L3", EnrolmentState::InProgress).await;
    enrol(&sis, "L1", EnrolmentState::Withdrawn).await;
    assert_eq!(push(t(2, 22)).await.unwrap(), SyncStatus::Synchronized);
    assert!(sim.calls().len() > first);
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-1/students/L3").unwrap()["is_dropped"],
        false
    );
    assert_eq!(
        sim.resource("/api/v1/courses/OFF-1/students/L1").unwrap()["is_dropped"],
        true
    );
    let second = sim.calls().len();
    assert_eq!(push(t(2, 23)).await.unwrap(), SyncStatus::Synchronized);
    assert_eq!(sim.calls().len(), second);

    // A failed push is tried again even though the roster did not change.
    sim.fail_with(Some(503));
    {
        let mut guard = store.0.lock().unwrap();
        guard.as_mut().unwrap().classes[0].end += TimeDelta::minutes(30);
    }
    assert!(push(t(2, 24)).await.is_err());
    sim.fail_with(None);
    {
        let mut guard = store.0.lock().unwrap();
        guard.as_mut().unwrap().classes[0].end -= TimeDelta::minutes(30);
    }
    let before_retry = sim.calls().len();
    assert_eq!(push(t(2, 25)).await.unwrap(), SyncStatus::Synchronized);
    assert!(
        sim.calls().len() > before_retry,
        "retried after the failure"
    );
}

fn ck_connection(every: u32, enabled: bool) -> domain::Connection {
    domain::Connection {
        tenant: tenant(),
        id: ConnectionId::parse("ck").unwrap(),
        name: "CourseKey".into(),
        base_url: "http://127.0.0.1:9".into(),
        enabled,
        error_email: None,
        settings: ConnectionSettings::CourseKey(CourseKeySettings {
            update_every_minutes: every,
            ..CourseKeySettings::default()
        }),
    }
}

#[tokio::test]
async fn the_roster_tick_queues_marked_offerings_in_their_window_every_update_every_minutes_once() {
    let sim = CourseKeySim::new("ck_key", "whsec");
    let (store, sis, _) = setup(&sim, "http://127.0.0.1:9").await;
    let connections = crate::testing::MemConnections::default();
    connections
        .save_connection(&ck_connection(15, true))
        .await
        .unwrap();
    let queue = crate::testing::MemQueue::default();
    let tenants = crate::testing::MemTenants::default();
    let tick = |at| dispatch_roster_updates(&connections, &store, &sis, &queue, &tenants, at);
    let job = Job::PushCourseKeyRoster {
        tenant: tenant(),
        connection: ConnectionId::parse("ck").unwrap(),
        offering: off(),
    };
    // A second CourseKey connection of the tenant: the roster goes to the first only.
    let mut second = ck_connection(15, true);
    second.id = ConnectionId::parse("ck2").unwrap();
    connections.save_connection(&second).await.unwrap();

    // Scheduled (its window opens on 9 February): the tick runs, nothing queued.
    let before = tick(t(2, 8)).await.unwrap();
    assert_eq!((before.ticked, before.queued.len()), (1, 0));
    assert_eq!(*store.1.lock().unwrap(), Some(t(2, 8)));

    // The window has opened: queued once.
    let opened = tick(t(2, 9)).await.unwrap();
    assert_eq!(opened.queued, vec![job.clone()]);
    // The Scheduler retries the same tick: nothing more.
    let retried = tick(t(2, 9)).await.unwrap();
    assert_eq!(
        (retried.ticked, retried.not_due, retried.queued.len()),
        (0, 1, 0)
    );
    // Less than update_every_minutes later: not due.
    let soon = tick(t(2, 9) + TimeDelta::minutes(14)).await.unwrap();
    assert_eq!((soon.not_due, soon.queued.len()), (1, 0));
    let due = tick(t(2, 9) + TimeDelta::minutes(15)).await.unwrap();
    assert_eq!(due.queued, vec![job.clone()]);
    assert_eq!(queue.sent.lock().unwrap().len(), 2);

    // After the window closes, or unmarked, or the connection disabled: nothing.
    let closed = tick(t(5, 15)).await.unwrap();
    assert_eq!((closed.ticked, closed.queued.len()), (1, 0));
    store.0.lock().unwrap().as_mut().unwrap().send_to_coursekey = false;
    assert!(tick(t(3, 1)).await.unwrap().queued.is_empty());
    store.0.lock().unwrap().as_mut().unwrap().send_to_coursekey = true;
    connections
        .save_connection(&ck_connection(15, false))
        .await
        .unwrap();
    let disabled = tick(t(3, 2)).await.unwrap();
    assert_eq!((disabled.ticked, disabled.queued.len()), (0, 0));
    assert_eq!(queue.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_tick_whose_pushes_cannot_be_queued_is_not_recorded_and_its_retry_queues_them() {
    let sim = CourseKeySim::new("ck_key", "whsec");
    let (store, sis, _) = setup(&sim, "http://127.0.0.1:9").await;
    let connections = crate::testing::MemConnections::default();
    connections
        .save_connection(&ck_connection(1, true))
        .await
        .unwrap();
    let queue = crate::testing::MemQueue::default();
    let tenants = crate::testing::MemTenants::default();
    queue.refuse_next.lock().unwrap().push(0);
    let err = dispatch_roster_updates(&connections, &store, &sis, &queue, &tenants, t(3, 1))
        .await
        .unwrap_err();
    let RosterTickError::Tenants { failed, report } = &err else {
        panic!("{err}")
    };
    assert_eq!(failed.len(), 1);
    assert!(failed[0].contains("could not be queued"), "{failed:?}");
    assert_eq!(report.ticked, 0);
    assert!(err.is_retryable());
    assert_eq!(*store.1.lock().unwrap(), None);
    let retried = dispatch_roster_updates(&connections, &store, &sis, &queue, &tenants, t(3, 1))
        .await
        .unwrap();
    assert_eq!(retried.queued.len(), 1);
    assert_eq!(*store.1.lock().unwrap(), Some(t(3, 1)));
}

/// A roster client during whose push a person saves the offering again.
struct SavedMeanwhile<'a> {
    inner: &'a CourseKeyClient,
    store: &'a MemCk,
}
#[async_trait]
impl CourseKeyRoster for SavedMeanwhile<'_> {
    async fn upsert_course(
        &self,
        o: &OfferingId,
        title: &str,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<(), RosterError> {
        if let Some(ck) = self.store.0.lock().unwrap().as_mut() {
            ck.classes[0].code = "C1-MOVED".into();
        }
        self.inner.upsert_course(o, title, start, end).await
    }
    async fn add_instructor(&self, i: &str, o: &OfferingId) -> Result<(), RosterError> {
        self.inner.add_instructor(i, o).await
    }
    async fn upsert_student(&self, l: &Learner) -> Result<(), RosterError> {
        self.inner.upsert_student(l).await
    }
    async fn set_enrolment(
        &self,
        o: &OfferingId,
        l: &LearnerCode,
        dropped: bool,
    ) -> Result<(), RosterError> {
        self.inner.set_enrolment(o, l, dropped).await
    }
    async fn upsert_class(&self, o: &OfferingId, c: &ClassSession) -> Result<(), RosterError> {
        self.inner.upsert_class(o, c).await
    }
    async fn remove_class(&self, o: &OfferingId, code: &str) -> Result<(), RosterError> {
        self.inner.remove_class(o, code).await
    }
}

#[tokio::test]
async fn a_save_made_while_a_push_runs_is_kept_and_pushed_next_time() {
    let sim = CourseKeySim::new("ck_key", "whsec");
    let server = sim.start().await.unwrap();
    let (store, sis, client) = setup(&sim, &server.base_url).await;
    let meddling = SavedMeanwhile {
        inner: &client,
        store: &store,
    };
    let settings = CourseKeySettings::default();
    let p = RosterPorts {
        store: &store,
        sis: &sis,
        roster: &meddling,
        tenants: &crate::testing::MemTenants::default(),
    };
    push_offering(&p, &settings, &tenant(), &off(), t(2, 20))
        .await
        .unwrap();
    let kept = store.0.lock().unwrap().clone().unwrap();
    assert_eq!(
        kept.classes[0].code, "C1-MOVED",
        "the person's save is kept"
    );
    assert!(kept.synchronized_at.is_some());
    assert!(
        sim.resource("/api/v1/courses/OFF-1/classes/C1-MOVED")
            .is_none()
    );

    let p = RosterPorts {
        store: &store,
        sis: &sis,
        roster: &client,
        tenants: &crate::testing::MemTenants::default(),
    };
    push_offering(&p, &settings, &tenant(), &off(), t(2, 21))
        .await
        .unwrap();
    assert!(
        sim.resource("/api/v1/courses/OFF-1/classes/C1-MOVED")
            .is_some()
    );
}

#[tokio::test]
async fn a_class_no_longer_scheduled_is_removed_from_coursekey_once() {
    let sim = CourseKeySim::new("ck_key", "whsec");
    let server = sim.start().await.unwrap();
    let (store, sis, client) = setup(&sim, &server.base_url).await;
    let p = RosterPorts {
        store: &store,
        sis: &sis,
        roster: &client,
        tenants: &crate::testing::MemTenants::default(),
    };
    let settings = CourseKeySettings::default();
    push_offering(&p, &settings, &tenant(), &off(), t(2, 20))
        .await
        .unwrap();
    assert!(sim.resource("/api/v1/courses/OFF-1/classes/C1").is_some());
    assert_eq!(
        store.0.lock().unwrap().clone().unwrap().pushed_classes,
        ["C1"]
    );

    // C1 cancelled, C2 scheduled instead.
    store.0.lock().unwrap().as_mut().unwrap().classes[0].code = "C2".into();
    push_offering(&p, &settings, &tenant(), &off(), t(2, 21))
        .await
        .unwrap();
    assert!(sim.resource("/api/v1/courses/OFF-1/classes/C1").is_none());
    assert!(sim.resource("/api/v1/courses/OFF-1/classes/C2").is_some());
    let deletes: Vec<String> = sim
        .calls()
        .into_iter()
        .filter(|c| c.method == "DELETE")
        .map(|c| c.path)
        .collect();
    assert_eq!(deletes, ["/api/v1/courses/OFF-1/classes/C1"]);
    assert_eq!(
        store.0.lock().unwrap().clone().unwrap().pushed_classes,
        ["C2"]
    );
    // Nothing changed since: no call, no second removal.
    let calls = sim.calls().len();
    push_offering(&p, &settings, &tenant(), &off(), t(2, 22))
        .await
        .unwrap();
    assert_eq!(sim.calls().len(), calls);
}

/// The console's Send to CourseKey form: marking changes the flag only (the
/// instructors and classes the SMS sent stay), queues the roster push, and
/// unmarking once synchronized is refused by name; the api's input check names
/// the field it refuses.
#[tokio::test]
async fn set_send_changes_the_flag_only_queues_the_push_and_refuses_an_unmark_once_synchronized() {
    use crate::marking::{MarkError, MarkInput, Marking};
    let sim = CourseKeySim::new("k", "k");
    let (store, sis, _) = setup(&sim, "http://127.0.0.1:9").await;
    let mut ck = store
        .coursekey_offering(&tenant(), &off())
        .await
        .unwrap()
        .unwrap();
    ck.send_to_coursekey = false;
    store.save_coursekey_offering(&ck).await.unwrap();
    let connections = crate::testing::MemConnections::default();
    connections
        .save_connection(&domain::Connection {
            tenant: tenant(),
            id: ConnectionId::parse("ck").unwrap(),
            name: "CourseKey".into(),
            base_url: "http://127.0.0.1:9".into(),
            enabled: true,
            error_email: None,
            settings: ConnectionSettings::CourseKey(CourseKeySettings::default()),
        })
        .await
        .unwrap();
    let queue = crate::testing::MemQueue::default();
    let marking = Marking {
        connections: &connections,
        attendance: &store,
        sis: &sis,
        queue: &queue,
    };
    let marked = marking.set_send(&tenant(), &off(), true).await.unwrap();
    assert!(marked.send_to_coursekey);
    assert_eq!(marked.instructors, ["INS-1"]);
    assert_eq!(marked.classes.len(), 1);
    assert_eq!(marked.hours_type, HoursType::Marks);
    assert_eq!(
        queue.sent.lock().unwrap().as_slice(),
        [Job::PushCourseKeyRoster {
            tenant: tenant(),
            connection: ConnectionId::parse("ck").unwrap(),
            offering: off(),
        }]
    );
    // Unmarked before any push: allowed, and nothing more is queued.
    let unmarked = marking.set_send(&tenant(), &off(), false).await.unwrap();
    assert!(!unmarked.send_to_coursekey);
    assert_eq!(queue.sent.lock().unwrap().len(), 1);
    // Once synchronized, unmarking is refused and the flag stays.
    let mut synced = store
        .coursekey_offering(&tenant(), &off())
        .await
        .unwrap()
        .unwrap();
    synced.send_to_coursekey = true;
    synced.synchronized_at = Some(t(3, 1));
    store.save_coursekey_offering(&synced).await.unwrap();
    assert!(matches!(
        marking.set_send(&tenant(), &off(), false).await,
        Err(MarkError::Unmark(_))
    ));
    assert!(
        store
            .coursekey_offering(&tenant(), &off())
            .await
            .unwrap()
            .unwrap()
            .send_to_coursekey
    );
    // An offering the SMS never sent is named.
    assert!(matches!(
        marking
            .set_send(&tenant(), &OfferingId::parse("NOPE").unwrap(), true)
            .await,
        Err(MarkError::UnknownOffering { .. })
    ));
    // The input check names the field (the api's 400s).
    let input = |instructors: Vec<String>, classes: Vec<ClassSession>| MarkInput {
        send_to_coursekey: Some(true),
        programme: None,
        hours_type: HoursType::default(),
        instructors,
        classes,
    };
    let field = |r: Result<(), MarkError>| match r {
        Err(MarkError::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(input(vec!["..".into()], vec![]).check()),
        "instructors[0]"
    );
    let class = |code: &str, hours: i64| ClassSession {
        code: code.into(),
        start: t(3, 2),
        end: t(3, 2) + TimeDelta::hours(hours),
    };
    assert_eq!(
        field(input(vec![], vec![class("C1", 1), class(".", 1)]).check()),
        "classes[1].code"
    );
    assert_eq!(
        field(input(vec![], vec![class("C1", 0)]).check()),
        "classes[0]"
    );
    assert_eq!(
        field(input(vec!["I".into(); 101], vec![]).check()),
        "instructors"
    );
    assert!(
        input(vec!["INS-1".into()], vec![class("C1", 2)])
            .check()
            .is_ok()
    );
}
