//! CourseKey: the webhook's inbox, converted attendance, and the roster.

use super::store::{StoreError, Written};
use crate::error::{BoxError, Retryable};
use crate::ids::{ConnectionId, TenantId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Raw records received from a webhook, stored before anything else happens.
#[async_trait]
pub trait AttendanceInbox: Send + Sync {
    /// Stores one CourseKey record by its id; the same id again is
    /// [`Written::AlreadyDone`] and changes nothing.
    async fn store_record(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        record_id: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError>;
}

/// Raw CourseKey records read back from the inbox, for processing.
#[async_trait]
pub trait AttendanceRecords: Send + Sync {
    /// The record's JSON exactly as CourseKey sent it, if stored.
    async fn raw_record(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        record_id: &str,
    ) -> Result<Option<String>, StoreError>;
}

/// The CourseKey side of offerings, converted attendance and its journal.
#[async_trait]
pub trait AttendanceStore: Send + Sync {
    async fn coursekey_offering(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
    ) -> Result<Option<crate::attendance::CourseKeyOffering>, StoreError>;
    async fn save_coursekey_offering(
        &self,
        offering: &crate::attendance::CourseKeyOffering,
    ) -> Result<(), StoreError>;
    async fn attendance(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        class_code: &str,
        learner: &crate::LearnerCode,
    ) -> Result<Option<crate::attendance::Attendance>, StoreError>;
    /// An offering's attendance, by class then learner.
    async fn attendances(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
    ) -> Result<Vec<crate::attendance::Attendance>, StoreError>;
    /// Stores the attendance and its journal entry. When the stored attendance
    /// already came from `attendance.record_id`: [`Written::AlreadyDone`], nothing written.
    async fn save_attendance(
        &self,
        attendance: &crate::attendance::Attendance,
        entry: &crate::attendance::JournalEntry,
    ) -> Result<Written, StoreError>;
    /// An offering's journal, oldest first.
    async fn journal(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
    ) -> Result<Vec<crate::attendance::JournalEntry>, StoreError>;
    /// The tenant's offerings marked send-to-CourseKey (for the roster tick).
    async fn marked_coursekey_offerings(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<crate::attendance::CourseKeyOffering>, StoreError>;
    /// When the connection's roster tick last ran (its scheduled time).
    async fn roster_tick(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn save_roster_tick(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Keeps a record refused by validation beside the raw record; the same
    /// record id again replaces it (a replay changes nothing).
    async fn save_rejected_record(
        &self,
        rejected: &crate::attendance::RejectedRecord,
    ) -> Result<(), StoreError>;
    /// A connection's refused records, by record id.
    async fn rejected_records(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::attendance::RejectedRecord>, StoreError>;
    /// Send-to-CourseKey as set on a course of a programme's course list (None: never set).
    async fn programme_course_send(
        &self,
        tenant: &TenantId,
        course: &crate::attendance::ProgrammeCourse,
    ) -> Result<Option<bool>, StoreError>;
    async fn save_programme_course_send(
        &self,
        tenant: &TenantId,
        course: &crate::attendance::ProgrammeCourse,
        send: bool,
    ) -> Result<(), StoreError>;
}

/// Why a CourseKey roster call failed. Holds no key and no personal data.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// Timeouts, connection failures, HTTP 429 / 5xx: try again later.
    #[error("CourseKey is unavailable")]
    Unavailable(#[source] BoxError),
    /// CourseKey refused the call (other 4xx): a person must act.
    #[error("CourseKey refused {what}: HTTP {status}")]
    Refused { what: &'static str, status: u16 },
    /// The request could not be prepared (bad base URL, client).
    #[error("the CourseKey request could not be prepared")]
    Client(#[source] BoxError),
}

impl Retryable for RosterError {
    fn is_retryable(&self) -> bool {
        matches!(self, RosterError::Unavailable(_))
    }
}

/// CourseKey's roster, reached through one connection (docs/connectors/coursekey.md).
/// Every call is an upsert: calling it twice changes nothing the second time.
/// There is no call to remove an instructor: instructors are never removed.
#[async_trait]
pub trait CourseKeyRoster: Send + Sync {
    async fn upsert_course(
        &self,
        offering: &crate::OfferingId,
        title: &str,
        start: chrono::NaiveDate,
        end: chrono::NaiveDate,
    ) -> Result<(), RosterError>;
    async fn add_instructor(
        &self,
        instructor: &str,
        offering: &crate::OfferingId,
    ) -> Result<(), RosterError>;
    async fn upsert_student(&self, learner: &crate::sis::Learner) -> Result<(), RosterError>;
    async fn set_enrolment(
        &self,
        offering: &crate::OfferingId,
        learner: &crate::LearnerCode,
        dropped: bool,
    ) -> Result<(), RosterError>;
    async fn upsert_class(
        &self,
        offering: &crate::OfferingId,
        class: &crate::attendance::ClassSession,
    ) -> Result<(), RosterError>;
    /// Removes a class no longer scheduled (a class already gone is not an error).
    async fn remove_class(
        &self,
        offering: &crate::OfferingId,
        class_code: &str,
    ) -> Result<(), RosterError>;
}
