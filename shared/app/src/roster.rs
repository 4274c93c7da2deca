//! Push one offering's roster to CourseKey: the course (title, dates), its
//! instructors (added, never removed), its students from the enrolments
//! (withdrawn ones flagged dropped) and its classes (schedule changes are the
//! same upsert with new times). Only offerings marked send-to-CourseKey, inside
//! the sync window, with an instructor and a class, are pushed; the outcome is
//! the offering's [`SyncStatus`], stored with it. A roster whose fingerprint is
//! the last successful push's makes no CourseKey call at all.
//!
//! [`dispatch_roster_updates`] is the roster tick: every minute the schedule
//! asks each enabled CourseKey connection whether `update_every_minutes` have
//! passed since its last tick, and queues one push per marked offering inside
//! its window (so a Scheduled offering is pushed once its window opens, and
//! enrolment changes reach CourseKey without anyone saving the offering).

use chrono::{DateTime, NaiveDate, Utc};
use domain::attendance::{
    CourseKeyOffering, Roster, SyncStatus, WindowPosition, in_window, roster_fingerprint,
    roster_push_due, roster_tick_due, sync_status,
};
use domain::connection::{ConnectionSettings, CourseKeySettings};
use domain::ports::{
    AttendanceStore, ConnectionStore, CourseKeyRoster, JobQueue, QueueError, Retryable,
    RosterError, SisStore, StoreError, TenantSettingsStore,
};
use domain::sis::{Enrolment, EnrolmentState, Learner};
use domain::{ConnectionId, Job, OfferingId, TenantId};
use futures::{FutureExt, StreamExt, stream};
use std::collections::HashSet;
use std::panic::AssertUnwindSafe;

/// The ports a roster push needs.
pub struct RosterPorts<'a> {
    pub store: &'a dyn AttendanceStore,
    pub sis: &'a dyn SisStore,
    pub roster: &'a dyn CourseKeyRoster,
    /// The tenant's zone: "today" for the sync window.
    pub tenants: &'a dyn TenantSettingsStore,
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
    let (start, end) = match sis.offering(tenant, offering).await {
        Ok(sms) => sms.map_or((None, None), |o| (o.start_date, o.end_date)),
        // Its SMS record cannot be read: the status says so (as the tick's).
        Err(error) if !error.is_retryable() => {
            let reason = unreadable_offering(&error);
            return Ok(Some((ck, SyncStatus::Failed { reason })));
        }
        Err(error) => return Err(error),
    };
    let status = sync_status(&ck, start, end, today, settings);
    Ok(Some((ck, status)))
}

/// What a marked offering's status says when its SMS record cannot be read.
fn unreadable_offering(error: &StoreError) -> String {
    format!(
        "The SMS offering could not be read ({}); send the offering again through the API.",
        crate::push::error_text(error)
    )
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
    let ck = p
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
    let today = p.tenants.tenant_settings(tenant).await?.zone().today(now);
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
    let students = students(&enrolments, &learners);
    let fingerprint = roster_fingerprint(&Roster {
        title: &sms.name,
        start,
        end,
        instructors: &ck.instructors,
        students: &students,
        classes: &ck.classes,
    });
    if ck.synchronized_at.is_some()
        && ck.last_error.is_none()
        && ck.pushed_fingerprint.as_deref() == Some(fingerprint.as_str())
    {
        tracing::debug!("roster unchanged since the last push; no CourseKey call");
        return Ok(SyncStatus::Synchronized);
    }
    match push(p, &ck, &sms.name, start, end, &students).await {
        Ok(calls) => {
            tracing::info!(calls, "roster pushed to CourseKey");
            let sent: Vec<String> = ck.classes.iter().map(|c| c.code.clone()).collect();
            save_outcome(p, ck, |fresh| {
                fresh.synchronized_at.get_or_insert(now);
                fresh.last_error = None;
                fresh.pushed_fingerprint = Some(fingerprint);
                fresh.pushed_classes = sent;
            })
            .await?;
            Ok(SyncStatus::Synchronized)
        }
        Err(e) => {
            tracing::warn!(error = &e as &dyn std::error::Error, "roster push failed");
            let reason = e.to_string();
            save_outcome(p, ck, |fresh| fresh.last_error = Some(reason)).await?;
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
    ck: CourseKeyOffering,
    status: SyncStatus,
) -> Result<SyncStatus, RosterPushError> {
    if let SyncStatus::Failed { reason } = &status
        && ck.last_error.as_deref() != Some(reason)
    {
        let reason = reason.clone();
        save_outcome(p, ck, |fresh| fresh.last_error = Some(reason)).await?;
    }
    Ok(status)
}

/// Stores a push's outcome on the offering's CourseKey side as it is *now*: a
/// person may have saved new classes or instructors while the push ran, and
/// those must not be overwritten with what the push read. (The fingerprint kept
/// is of what was sent, so a roster changed meanwhile is pushed next time.)
async fn save_outcome(
    p: &RosterPorts<'_>,
    read: CourseKeyOffering,
    apply: impl FnOnce(&mut CourseKeyOffering),
) -> Result<(), StoreError> {
    let mut fresh = p
        .store
        .coursekey_offering(&read.tenant, &read.offering)
        .await?
        .unwrap_or(read);
    apply(&mut fresh);
    p.store.save_coursekey_offering(&fresh).await
}

/// Each enrolled learner the SMS knows, with whether they are dropped (withdrawn).
fn students<'a>(enrolments: &[Enrolment], learners: &'a [Learner]) -> Vec<(&'a Learner, bool)> {
    enrolments
        .iter()
        .filter_map(|e| {
            learners
                .iter()
                .find(|l| l.code == e.learner)
                .map(|l| (l, e.state == EnrolmentState::Withdrawn))
        })
        .collect()
}

/// The calls, in order; the number made.
async fn push(
    p: &RosterPorts<'_>,
    ck: &CourseKeyOffering,
    title: &str,
    start: NaiveDate,
    end: NaiveDate,
    students: &[(&Learner, bool)],
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
    for (learner, _) in students {
        p.roster.upsert_student(learner).await?;
        calls += 1;
    }
    for (learner, dropped) in students {
        p.roster
            .set_enrolment(&ck.offering, &learner.code, *dropped)
            .await?;
        calls += 1;
    }
    for class in &ck.classes {
        p.roster.upsert_class(&ck.offering, class).await?;
        calls += 1;
    }
    // A class pushed before and no longer scheduled is a schedule change too.
    for code in &ck.pushed_classes {
        if ck.class(code).is_none() {
            p.roster.remove_class(&ck.offering, code).await?;
            calls += 1;
        }
    }
    Ok(calls)
}

/// What one roster tick did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RosterTickReport {
    /// CourseKey connections whose tick was due (and is now recorded).
    pub ticked: usize,
    /// CourseKey connections not due: ticked less than `update_every_minutes`
    /// ago, or this very tick retried.
    pub not_due: usize,
    /// `push_coursekey_roster` jobs queued.
    pub queued: Vec<Job>,
}

#[derive(Debug, thiserror::Error)]
pub enum RosterTickError {
    #[error("a store failed")]
    Store(#[from] StoreError),
    /// Some pushes could not be queued: the tick is not recorded, so the
    /// Scheduler's retry queues them again (a push queued twice is cheap: the
    /// second finds the roster's fingerprint unchanged).
    #[error("{failed} roster push(es) could not be queued")]
    Queue {
        failed: usize,
        #[source]
        source: QueueError,
    },
    /// Some tenants' ticks failed (each logged, and on their marked offerings'
    /// status); every other tenant was ticked. Their tick is not recorded, so
    /// the Scheduler's retry (or the next minute) tries them again.
    #[error("the CourseKey roster tick failed for {}: {}", failed.len(), failed.join("; "))]
    Tenants {
        failed: Vec<String>,
        report: RosterTickReport,
    },
}

impl Retryable for RosterTickError {
    fn is_retryable(&self) -> bool {
        match self {
            RosterTickError::Store(e) => e.is_retryable(),
            RosterTickError::Queue { source, .. } => source.is_retryable(),
            RosterTickError::Tenants { .. } => true,
        }
    }
}

/// The roster tick for `scheduled_at`: for each enabled CourseKey connection
/// whose last tick is at least `update_every_minutes` ago, one
/// `push_coursekey_roster` job per marked offering inside its sync window
/// (deduplicated by [`Job::dedup_key`]), then the tick's time is stored. A
/// retried tick (same `scheduled_at`) finds it stored and queues nothing.
#[tracing::instrument(skip_all, fields(scheduled_at = %scheduled_at))]
pub async fn dispatch_roster_updates(
    connections: &dyn ConnectionStore,
    store: &dyn AttendanceStore,
    sis: &dyn SisStore,
    queue: &dyn JobQueue,
    tenant_settings: &dyn TenantSettingsStore,
    scheduled_at: DateTime<Utc>,
) -> Result<RosterTickReport, RosterTickError> {
    let mut report = RosterTickReport::default();
    // Offerings do not name a CourseKey connection: like the API, a tenant's
    // roster goes to its first CourseKey connection only (by id).
    let mut tenants = HashSet::new();
    // A connection's record that cannot be read is left out, never the tick.
    let (mut enabled, unreadable) = connections.enabled_connections_checked().await?;
    enabled.sort_by(|a, b| (&a.tenant, &a.id).cmp(&(&b.tenant, &b.id)));
    let mut failed = Vec::new();
    for conn in enabled {
        let ConnectionSettings::CourseKey(settings) = &conn.settings else {
            continue;
        };
        if !tenants.insert(conn.tenant.clone()) {
            tracing::warn!(tenant = %conn.tenant, connection = %conn.id, "a second CourseKey connection of the tenant; its roster goes to the first");
            continue;
        }
        // One tenant's failure (or panic) never stops the others' rosters.
        let ticked = AssertUnwindSafe(tick_one(
            store,
            sis,
            queue,
            tenant_settings,
            settings,
            &conn.tenant,
            &conn.id,
            scheduled_at,
        ))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            Err(TickFailure::Panic(crate::dispatch::panic_text(
                panic.as_ref(),
            )))
        });
        match ticked {
            Ok(None) => report.not_due += 1,
            Ok(Some(jobs)) => {
                report.ticked += 1;
                report.queued.extend(jobs);
            }
            Err(failure) => {
                let reason = failure.to_string();
                tracing::error!(tenant = %conn.tenant, connection = %conn.id, error = %reason, "CourseKey roster tick failed for this tenant; the others go on");
                record_tick_failure(store, &conn.tenant, &reason).await;
                failed.push(format!("{}/{}: {reason}", conn.tenant, conn.id));
            }
        }
    }
    // A tenant whose connection could not be read and that has no readable
    // CourseKey connection: its marked offerings' status says why (that
    // connection may be its CourseKey one). Not a failed tick: retrying the
    // schedule cannot repair a record, a person can.
    for record in unreadable {
        tracing::error!(key = %record.key, reason = %record.reason, "an enabled connection's stored record could not be read; the tick goes on without it");
        let Some(tenant) = &record.tenant else {
            continue;
        };
        if tenants.contains(tenant) {
            continue;
        }
        let id = record
            .connection
            .as_ref()
            .map_or_else(|| record.key.clone(), ToString::to_string);
        let reason = format!(
            "the stored connection {id} cannot be read ({}); if it is the CourseKey connection, replace it with PUT /v1/connections/{id}",
            record.reason
        );
        record_tick_failure(store, tenant, &reason).await;
    }
    if failed.is_empty() {
        Ok(report)
    } else {
        Err(RosterTickError::Tenants { failed, report })
    }
}

/// Why one tenant's tick did not happen.
#[derive(Debug, thiserror::Error)]
enum TickFailure {
    #[error("{}", crate::push::error_text(.0))]
    Tick(#[from] RosterTickError),
    #[error("{}", crate::push::error_text(.0))]
    Store(#[from] StoreError),
    #[error("the roster tick {0}")]
    Panic(String),
}

/// One CourseKey connection's tick: `None` when not due, else the pushes queued.
#[allow(clippy::too_many_arguments)]
async fn tick_one(
    store: &dyn AttendanceStore,
    sis: &dyn SisStore,
    queue: &dyn JobQueue,
    tenant_settings: &dyn TenantSettingsStore,
    settings: &CourseKeySettings,
    tenant: &TenantId,
    connection: &ConnectionId,
    scheduled_at: DateTime<Utc>,
) -> Result<Option<Vec<Job>>, TickFailure> {
    let last = store.roster_tick(tenant, connection).await?;
    if !roster_tick_due(last, scheduled_at, settings.update_every_minutes) {
        return Ok(None);
    }
    // "Today" is the tenant's: a window opens at its local midnight.
    let today = tenant_settings
        .tenant_settings(tenant)
        .await?
        .zone()
        .today(scheduled_at);
    let jobs = due_pushes(store, sis, settings, tenant, connection, today).await?;
    if !jobs.is_empty() {
        let failures = queue
            .enqueue(&jobs)
            .await
            .map_err(|source| RosterTickError::Queue {
                failed: jobs.len(),
                source,
            })?;
        let failed = failures.len();
        if let Some(first) = failures.into_iter().next() {
            return Err(RosterTickError::Queue {
                failed,
                source: first.error,
            }
            .into());
        }
    }
    store
        .save_roster_tick(tenant, connection, scheduled_at)
        .await?;
    tracing::info!(%tenant, %connection, queued = jobs.len(), "CourseKey roster tick");
    Ok(Some(jobs))
}

/// A tenant's failed tick, on each of its marked offerings' CourseKey status
/// (best effort: the tick's error log has it too).
async fn record_tick_failure(store: &dyn AttendanceStore, tenant: &TenantId, reason: &str) {
    let Ok(marked) = store.marked_coursekey_offerings(tenant).await else {
        return;
    };
    let reason = format!("The CourseKey roster update could not run: {reason}");
    for mut ck in marked {
        if ck.last_error.as_deref() == Some(reason.as_str()) {
            continue;
        }
        ck.last_error = Some(reason.clone());
        if let Err(error) = store.save_coursekey_offering(&ck).await {
            tracing::warn!(offering = %ck.offering, error = &error as &dyn std::error::Error, "could not record the tick's failure on the offering");
        }
    }
}

/// The SMS offerings read at once by one tick (their dates decide the window).
const TICK_READ_CONCURRENCY: usize = 16;

/// One push per marked offering of the tenant that is inside its window today.
async fn due_pushes(
    store: &dyn AttendanceStore,
    sis: &dyn SisStore,
    settings: &CourseKeySettings,
    tenant: &TenantId,
    connection: &ConnectionId,
    today: NaiveDate,
) -> Result<Vec<Job>, StoreError> {
    let marked = store.marked_coursekey_offerings(tenant).await?;
    let dated: Vec<_> = stream::iter(marked.into_iter().map(|ck| async move {
        let sms = sis.offering(tenant, &ck.offering).await;
        (ck, sms)
    }))
    .buffered(TICK_READ_CONCURRENCY)
    .collect()
    .await;
    let mut seen = HashSet::new();
    let mut jobs = Vec::new();
    for (ck, sms) in dated {
        let sms = match sms {
            Ok(Some(sms)) => sms,
            Ok(None) => continue,
            // A transient failure fails the tick (the Scheduler retries it).
            Err(error) if error.is_retryable() => return Err(error),
            // One offering whose SMS record cannot be read: its status says
            // so, and the tenant's other offerings are pushed.
            Err(error) => {
                let reason = unreadable_offering(&error);
                tracing::error!(%tenant, offering = %ck.offering, error = &error as &dyn std::error::Error, "a marked offering could not be read; skipped");
                if ck.last_error.as_deref() != Some(reason.as_str()) {
                    let mut failed = ck;
                    failed.last_error = Some(reason);
                    store.save_coursekey_offering(&failed).await?;
                }
                continue;
            }
        };
        if !roster_push_due(&ck, sms.start_date, sms.end_date, today, settings) {
            continue;
        }
        let job = Job::PushCourseKeyRoster {
            tenant: tenant.clone(),
            connection: connection.clone(),
            offering: ck.offering.clone(),
        };
        if seen.insert(job.dedup_key()) {
            jobs.push(job);
        }
    }
    Ok(jobs)
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
            tenants: &crate::fakes::MemTenants::default(),
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
            tenants: &crate::fakes::MemTenants::default(),
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
            tenants: &crate::fakes::MemTenants::default(),
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
    async fn the_roster_tick_queues_marked_offerings_in_their_window_every_update_every_minutes_once()
     {
        let sim = CourseKeySim::new("ck_key", "whsec");
        let (store, sis, _) = setup(&sim, "http://127.0.0.1:9").await;
        let connections = crate::fakes::MemConnections::default();
        connections
            .save_connection(&ck_connection(15, true))
            .await
            .unwrap();
        let queue = crate::fakes::MemQueue::default();
        let tenants = crate::fakes::MemTenants::default();
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
        let connections = crate::fakes::MemConnections::default();
        connections
            .save_connection(&ck_connection(1, true))
            .await
            .unwrap();
        let queue = crate::fakes::MemQueue::default();
        let tenants = crate::fakes::MemTenants::default();
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
        let retried =
            dispatch_roster_updates(&connections, &store, &sis, &queue, &tenants, t(3, 1))
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
            tenants: &crate::fakes::MemTenants::default(),
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
            tenants: &crate::fakes::MemTenants::default(),
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
            tenants: &crate::fakes::MemTenants::default(),
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
}
