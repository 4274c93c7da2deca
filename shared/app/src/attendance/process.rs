//! A `process_attendance` job: the connection's inbox records converted,
//! stored once, journaled and delivered; rejected ones kept and emailed.

use super::payload::{delivery_assessable, delivery_payload, validation_email};
use crate::deliveries::{DeliveryError, create_delivery};
use chrono::{DateTime, Utc};
use domain::attendance::{
    Adjustment, Attendance, AttendanceError, JournalEntry, Mark, RejectedRecord, convert,
    decide_adjustment,
};
use domain::connection::{ConnectionSettings, CourseKeySettings};
use domain::delivery::{DeliveryKey, DeliveryKind};
use domain::ports::{
    AttendanceRecords, AttendanceStore, ConnectionStore, DeliveryStore, JobQueue, MailError,
    Mailer, Retryable, SisStore, StoreError, TenantSettingsStore, Written,
};
use domain::zone::TenantZone;
use domain::{ConnectionId, ConnectionKind, LearnerCode, OfferingId, TenantId};
use serde::Deserialize;

/// One CourseKey attendance record, as the contract (docs/connectors/coursekey.md) defines it.
#[derive(Debug, Clone, Deserialize)]
pub struct RawRecord {
    pub id: String,
    pub course_id: String,
    pub class_id: String,
    pub student_id: String,
    #[serde(default)]
    pub check_in: Option<DateTime<Utc>>,
    #[serde(default)]
    pub check_out: Option<DateTime<Utc>>,
    #[serde(default)]
    pub adjusted_status: Option<Mark>,
    #[serde(default)]
    pub adjusted_at: Option<DateTime<Utc>>,
}

/// The ports processing needs.
pub struct AttendancePorts<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub records: &'a dyn AttendanceRecords,
    pub store: &'a dyn AttendanceStore,
    pub sis: &'a dyn SisStore,
    pub deliveries: &'a dyn DeliveryStore,
    pub queue: &'a dyn JobQueue,
    pub mailer: &'a dyn Mailer,
    /// The tenant's zone: a class's date, the follow-up window's days.
    pub tenants: &'a dyn TenantSettingsStore,
}

/// What one `process_attendance` job did, in counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AttendanceReport {
    /// New or changed attendance stored (each journaled, each a delivery).
    pub stored: usize,
    /// Already processed (a replayed job) or the same mark again.
    pub unchanged: usize,
    /// Edits in CourseKey that were ignored (too late, or not of an absence).
    pub ignored_adjustments: usize,
    /// Records refused by validation (kept with the reason, and emailed).
    pub invalid: usize,
    /// Ids not found in the inbox.
    pub missing: usize,
    /// Attendance stored but no delivery: the tenant has no SMS connection.
    pub undelivered: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("connection {connection} does not exist or is not a CourseKey connection")]
    NotCourseKey { connection: ConnectionId },
    #[error("a store failed")]
    Store(#[from] StoreError),
    #[error("a delivery could not be created")]
    Delivery(#[from] DeliveryError),
    #[error("the validation email could not be sent")]
    Mail(#[from] MailError),
}

impl Retryable for ProcessError {
    fn is_retryable(&self) -> bool {
        match self {
            ProcessError::NotCourseKey { .. } => false,
            ProcessError::Store(e) => e.is_retryable(),
            ProcessError::Delivery(e) => e.is_retryable(),
            ProcessError::Mail(e) => e.is_retryable(),
        }
    }
}

enum Step {
    Stored,
    Unchanged,
    Invalid(AttendanceError),
}

/// Processes the given inbox records of one CourseKey connection.
#[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, records = record_ids.len()))]
pub async fn process_attendance(
    p: &AttendancePorts<'_>,
    tenant: &TenantId,
    connection: &ConnectionId,
    record_ids: &[String],
    now: DateTime<Utc>,
) -> Result<AttendanceReport, ProcessError> {
    let conn = p.connections.connection(tenant, connection).await?;
    let Some((conn, settings)) = conn.and_then(|c| match &c.settings {
        ConnectionSettings::CourseKey(s) => {
            let s = s.clone();
            Some((c, s))
        }
        _ => None,
    }) else {
        return Err(ProcessError::NotCourseKey {
            connection: connection.clone(),
        });
    };
    let sms = p
        .connections
        .connections(tenant)
        .await?
        .into_iter()
        .find(|c| c.kind() == ConnectionKind::Sms && c.enabled)
        .map(|c| c.id);
    let zone = p.tenants.tenant_settings(tenant).await?.zone();

    let mut report = AttendanceReport::default();
    let mut invalid: Vec<RejectedRecord> = Vec::new();
    let rejected = |id: &str, error: AttendanceError, record: Option<&RawRecord>| RejectedRecord {
        tenant: tenant.clone(),
        connection: connection.clone(),
        record_id: id.to_owned(),
        message: error.to_string(),
        error,
        course_id: record.map(|r| r.course_id.clone()),
        class_id: record.map(|r| r.class_id.clone()),
        student_id: record.map(|r| r.student_id.clone()),
        rejected_at: now,
    };
    for id in record_ids {
        let Some(raw) = p.records.raw_record(tenant, connection, id).await? else {
            tracing::warn!(record = %id, "record not in the inbox; skipped");
            report.missing += 1;
            continue;
        };
        let record: RawRecord = match serde_json::from_str(&raw) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(record = %id, line = e.line(), column = e.column(), "not a CourseKey record");
                invalid.push(rejected(id, AttendanceError::Malformed, None));
                continue;
            }
        };
        match one(
            p,
            tenant,
            (&settings, zone),
            sms.as_ref(),
            &record,
            now,
            &mut report,
        )
        .await?
        {
            Step::Stored => report.stored += 1,
            Step::Unchanged => report.unchanged += 1,
            Step::Invalid(e) => invalid.push(rejected(id, e, Some(&record))),
        }
    }
    report.invalid = invalid.len();
    if !invalid.is_empty() {
        tracing::warn!(
            invalid = invalid.len(),
            "CourseKey records refused by validation"
        );
        // Kept first, so nothing refused is lost even if the email fails.
        for r in &invalid {
            p.store.save_rejected_record(r).await?;
        }
        let reasons: Vec<(String, AttendanceError)> = invalid
            .iter()
            .map(|r| (r.record_id.clone(), r.error.clone()))
            .collect();
        match conn.error_email.as_deref() {
            Some(to) => {
                p.mailer
                    .send(&validation_email(&settings, to, &reasons))
                    .await?
            }
            None => tracing::warn!("no error email on the connection; nobody was told"),
        }
    }
    tracing::info!(
        stored = report.stored,
        unchanged = report.unchanged,
        ignored_adjustments = report.ignored_adjustments,
        invalid = report.invalid,
        missing = report.missing,
        undelivered = report.undelivered,
        "attendance processed"
    );
    Ok(report)
}

async fn one(
    p: &AttendancePorts<'_>,
    tenant: &TenantId,
    (settings, zone): (&CourseKeySettings, TenantZone),
    sms: Option<&ConnectionId>,
    record: &RawRecord,
    now: DateTime<Utc>,
    report: &mut AttendanceReport,
) -> Result<Step, ProcessError> {
    let Ok(offering) = OfferingId::parse(record.course_id.clone()) else {
        return Ok(Step::Invalid(AttendanceError::UnknownOffering));
    };
    let Ok(learner) = LearnerCode::parse(record.student_id.clone()) else {
        return Ok(Step::Invalid(AttendanceError::UnknownStudent));
    };
    let Some(ck) = p.store.coursekey_offering(tenant, &offering).await? else {
        return Ok(Step::Invalid(AttendanceError::UnknownOffering));
    };
    let Some(class) = ck.class(&record.class_id).cloned() else {
        return Ok(Step::Invalid(AttendanceError::UnknownClass));
    };
    if p.sis
        .enrolment(tenant, &offering, &learner)
        .await?
        .is_none()
    {
        return Ok(Step::Invalid(AttendanceError::UnknownStudent));
    }
    let conversion = match convert(&class, record.check_in, record.check_out, settings) {
        Ok(c) => c,
        Err(e) => return Ok(Step::Invalid(e)),
    };
    let existing = p
        .store
        .attendance(tenant, &offering, &class.code, &learner)
        .await?;
    let mut mark = conversion.mark;
    let mut note = "converted from CourseKey check-in/out".to_owned();
    if let Some(edited) = record.adjusted_status {
        let current = existing.as_ref().map_or(conversion.mark, |e| e.mark);
        let at = record.adjusted_at.unwrap_or(now);
        match decide_adjustment(current, edited, &class, at, settings, zone) {
            Adjustment::Apply(m) => {
                mark = m;
                note = format!("absence adjusted in CourseKey to {}", m.letter());
            }
            Adjustment::TooLate { days_after_class } => {
                tracing::info!(record = %record.id, days_after_class, "an edit made after the follow-up window was ignored");
                report.ignored_adjustments += 1;
                mark = current;
            }
            Adjustment::NotAnAbsence | Adjustment::Unchanged => {
                report.ignored_adjustments += 1;
                mark = current;
            }
        }
    }
    let minutes = (ck.hours_type == domain::attendance::HoursType::AttendanceLog)
        .then_some(conversion.minutes_attended);
    let attendance = Attendance {
        tenant: tenant.clone(),
        offering: offering.clone(),
        class_code: class.code.clone(),
        learner: learner.clone(),
        mark,
        minutes_attended: minutes,
        record_id: record.id.clone(),
        recorded_at: now,
    };
    let same = existing
        .as_ref()
        .is_some_and(|e| e.mark == mark && e.minutes_attended == minutes);
    let step = if same {
        Step::Unchanged
    } else {
        let entry = JournalEntry {
            tenant: tenant.clone(),
            offering: offering.clone(),
            at: now,
            record_id: record.id.clone(),
            class_code: class.code.clone(),
            learner: learner.clone(),
            from: existing.as_ref().map(|e| e.mark),
            to: mark,
            minutes_attended: minutes,
            note,
        };
        match p.store.save_attendance(&attendance, &entry).await? {
            Written::Done => {
                tracing::info!(record = %record.id, class = %class.code, mark = mark.letter(), "attendance stored");
                Step::Stored
            }
            Written::AlreadyDone => Step::Unchanged,
        }
    };
    // Always (re)create the delivery: idempotent, and it repairs a crash
    // between storing the attendance and creating its delivery.
    let stored = if same {
        existing.unwrap_or(attendance)
    } else {
        attendance
    };
    match sms {
        Some(sms) => {
            let key = DeliveryKey {
                tenant: tenant.clone(),
                learner,
                offering,
                assessable: delivery_assessable(&class.code, &stored.record_id),
                kind: DeliveryKind::Attendance,
            };
            create_delivery(
                p.deliveries,
                p.queue,
                &key,
                sms,
                delivery_payload(&stored, class.start, zone),
                now,
            )
            .await?;
        }
        None => {
            if matches!(step, Step::Stored) {
                tracing::warn!(
                    "the tenant has no SMS connection; attendance stored, not delivered"
                );
                report.undelivered += 1;
            }
        }
    }
    Ok(step)
}
