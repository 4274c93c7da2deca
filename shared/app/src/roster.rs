//! Push one offering's roster to CourseKey: the course (title, dates), its
//! instructors (added, never removed), its students from the enrolments
//! (withdrawn ones flagged dropped) and its classes (schedule changes are the
//! same upsert with new times). Only offerings marked send-to-CourseKey, inside
//! the sync window, with an instructor and a class, are pushed; the outcome is
//! the offering's [`SyncStatus`], stored with it.

use chrono::{DateTime, NaiveDate, Utc};
use domain::attendance::{CourseKeyOffering, SyncStatus, WindowPosition, in_window, sync_status};
use domain::connection::CourseKeySettings;
use domain::ports::{
    AttendanceStore, CourseKeyRoster, Retryable, RosterError, SisStore, StoreError,
};
use domain::sis::{Enrolment, EnrolmentState, Learner};
use domain::{OfferingId, TenantId};

/// The ports a roster push needs.
pub struct RosterPorts<'a> {
    pub store: &'a dyn AttendanceStore,
    pub sis: &'a dyn SisStore,
    pub roster: &'a dyn CourseKeyRoster,
}

#[derive(Debug, thiserror::Error)]
pub enum RosterPushError {
    #[error("offering {offering} is not known to the SMS or to CourseKey")]
    UnknownOffering { offering: OfferingId },
    #[error("a store failed")]
    Store(#[from] StoreError),
    /// CourseKey was unavailable: recorded as Failed, and worth another try.
    #[error("CourseKey is unavailable")]
    Unavailable(#[source] RosterError),
    #[error("the connection's secret could not be read")]
    Secret(#[from] domain::ports::SecretError),
    /// The roster client could not be built from the connection (its URL).
    #[error("the CourseKey client could not be built")]
    Client(#[source] RosterError),
}

impl Retryable for RosterPushError {
    fn is_retryable(&self) -> bool {
        match self {
            RosterPushError::UnknownOffering { .. } => false,
            RosterPushError::Store(e) => e.is_retryable(),
            RosterPushError::Unavailable(_) => true,
            RosterPushError::Secret(e) => e.is_retryable(),
            RosterPushError::Client(_) => false,
        }
    }
}

/// The offering's status as shown, computed from its stored CourseKey side.
pub async fn status(
    store: &dyn AttendanceStore,
    sis: &dyn SisStore,
    settings: &CourseKeySettings,
    tenant: &TenantId,
    offering: &OfferingId,
    today: NaiveDate,
) -> Result<Option<(CourseKeyOffering, SyncStatus)>, StoreError> {
    let Some(ck) = store.coursekey_offering(tenant, offering).await? else {
        return Ok(None);
    };
    let (start, end) = sis
        .offering(tenant, offering)
        .await?
        .map_or((None, None), |o| (o.start_date, o.end_date));
    let status = sync_status(&ck, start, end, today, settings);
    Ok(Some((ck, status)))
}

/// Pushes one offering when its status allows, and stores the outcome.
#[tracing::instrument(skip_all, fields(tenant = %tenant, offering = %offering))]
pub async fn push_offering(
    p: &RosterPorts<'_>,
    settings: &CourseKeySettings,
    tenant: &TenantId,
    offering: &OfferingId,
    now: DateTime<Utc>,
) -> Result<SyncStatus, RosterPushError> {
    let unknown = || RosterPushError::UnknownOffering {
        offering: offering.clone(),
    };
    let mut ck = p
        .store
        .coursekey_offering(tenant, offering)
        .await?
        .ok_or_else(unknown)?;
    let sms = p
        .sis
        .offering(tenant, offering)
        .await?
        .ok_or_else(unknown)?;
    // Decide on the offering as it is now, not on the last push's error.
    let mut fresh = ck.clone();
    fresh.last_error = None;
    let today = now.date_naive();
    let before = sync_status(&fresh, sms.start_date, sms.end_date, today, settings);
    if !ck.send_to_coursekey {
        return Ok(before);
    }
    let (start, end) = match in_window(sms.start_date, sms.end_date, today, settings) {
        WindowPosition::Before | WindowPosition::After => return Ok(before),
        WindowPosition::NoDates => return record(p, ck, before).await,
        WindowPosition::Inside => match (sms.start_date, sms.end_date, &before) {
            (_, _, SyncStatus::Failed { .. }) => return record(p, ck, before).await,
            (Some(start), Some(end), _) => (start, end),
            _ => return record(p, ck, before).await,
        },
    };
    let enrolments = p.sis.enrolments(tenant, offering).await?;
    let codes: Vec<_> = enrolments.iter().map(|e| e.learner.clone()).collect();
    let learners = p.sis.learners(tenant, &codes).await?;
    match push(p, &ck, &sms.name, start, end, &enrolments, &learners).await {
        Ok(calls) => {
            tracing::info!(calls, "roster pushed to CourseKey");
            ck.synchronized_at.get_or_insert(now);
            ck.last_error = None;
            p.store.save_coursekey_offering(&ck).await?;
            Ok(SyncStatus::Synchronized)
        }
        Err(e) => {
            tracing::warn!(error = &e as &dyn std::error::Error, "roster push failed");
            ck.last_error = Some(e.to_string());
            p.store.save_coursekey_offering(&ck).await?;
            if e.is_retryable() {
                Err(RosterPushError::Unavailable(e))
            } else {
                Ok(SyncStatus::Failed {
                    reason: e.to_string(),
                })
            }
        }
    }
}

async fn record(
    p: &RosterPorts<'_>,
    mut ck: CourseKeyOffering,
    status: SyncStatus,
) -> Result<SyncStatus, RosterPushError> {
    if let SyncStatus::Failed { reason } = &status
        && ck.last_error.as_deref() != Some(reason)
    {
        ck.last_error = Some(reason.clone());
        p.store.save_coursekey_offering(&ck).await?;
    }
    Ok(status)
}

/// The calls, in order; the number made.
async fn push(
    p: &RosterPorts<'_>,
    ck: &CourseKeyOffering,
    title: &str,
    start: NaiveDate,
    end: NaiveDate,
    enrolments: &[Enrolment],
    learners: &[Learner],
) -> Result<usize, RosterError> {
    let mut calls = 0;
    p.roster
        .upsert_course(&ck.offering, title, start, end)
        .await?;
    calls += 1;
    for instructor in &ck.instructors {
        p.roster.add_instructor(instructor, &ck.offering).await?;
        calls += 1;
    }
    for learner in learners {
        p.roster.upsert_student(learner).await?;
        calls += 1;
    }
    for e in enrolments {
        if learners.iter().any(|l| l.code == e.learner) {
            let dropped = e.state == EnrolmentState::Withdrawn;
            p.roster
                .set_enrolment(&ck.offering, &e.learner, dropped)
                .await?;
            calls += 1;
        }
    }
    for class in &ck.classes {
        p.roster.upsert_class(&ck.offering, class).await?;
        calls += 1;
    }
    Ok(calls)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::fakes::MemSis;
    use async_trait::async_trait;
    use chrono::{TimeDelta, TimeZone};
    use connectors::coursekey::CourseKeyClient;
    use domain::LearnerCode;
    use domain::attendance::{Attendance, ClassSession, HoursType, JournalEntry};
    use domain::ports::Written;
    use domain::sis::{Offering, OfferingStatus};
    use secrecy::SecretString;
    use simulators::coursekey::CourseKeySim;
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemCk(Mutex<Option<CourseKeyOffering>>);
    #[async_trait]
    impl AttendanceStore for MemCk {
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
        async fn journal(
            &self,
            _: &TenantId,
            _: &OfferingId,
        ) -> Result<Vec<JournalEntry>, StoreError> {
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
        let client = CourseKeyClient::new(base_url, SecretString::from("ck_key"), None).unwrap();
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
}
