//! CourseKey attendance in the data table: the CourseKey side of an offering,
//! converted attendance and its journal, beside the offering.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | CourseKey offering | `T#{t}#OFF#{o}` | `CK` |
//! | attendance | `T#{t}#OFF#{o}` | `ATT#{class}#{code}` |
//! | journal entry | `T#{t}#OFF#{o}` | `JNL#{timestamp}#{record id}` |
//! | roster tick | `T#{t}#CONN#{c}` | `CKTICK` |
//! | refused record | `T#{t}#CK#{c}` (beside the raw `REC#{id}`) | `ERR#{record id}` |
//! | programme course flag | `T#{t}#CKPROG#{programme}` | `COURSE#{course}` |
//!
//! A marked CourseKey offering is also in the sparse `gsi1` under
//! `T#{t}#CKMARKED` / `{o}`, so the roster tick lists a tenant's marked
//! offerings with one query; unmarking drops it from the index.
//!
//! `save_attendance` writes the journal entry first, then the attendance: a crash
//! between the two leaves a journal line to spare, never an unjournaled change.

use super::keys;
use super::record::{RecordError, corrupt};
use super::sis::offering_pk;
use super::table::{Condition, QueryOptions, SkRange, Table};
use crate::stores::DynamoAttendanceInbox;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::attendance::{
    Attendance, CourseKeyOffering, JournalEntry, ProgrammeCourse, RejectedRecord,
};
use domain::ports::{AttendanceStore, StoreError, Written};
use domain::{ConnectionId, LearnerCode, OfferingId, TenantId};
use serde::{Deserialize, Serialize};

const CK_SK: &str = "CK";
const ATT_PREFIX: &str = "ATT#";
const JNL_PREFIX: &str = "JNL#";
const TICK_SK: &str = "CKTICK";
const ERR_PREFIX: &str = "ERR#";

/// `T#{t}#CKMARKED`: a tenant's marked CourseKey offerings in gsi1.
fn marked_pk(tenant: &TenantId) -> String {
    format!("{}#CKMARKED", keys::tenant(tenant))
}

/// The CourseKey offering item, in the sparse marked index while marked.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CkItem<T> {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    value: T,
}

/// `T#{t}#CKPROG#{programme}` / `COURSE#{course}`: a programme course's flag.
fn programme_course_key(tenant: &TenantId, pc: &ProgrammeCourse) -> (String, String) {
    (
        format!("{}#CKPROG#{}", keys::tenant(tenant), pc.programme),
        format!("COURSE#{}", pc.course),
    )
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProgrammeCourseItem {
    pk: String,
    sk: String,
    programme: String,
    course: String,
    send_to_coursekey: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TickItem {
    pk: String,
    sk: String,
    at: DateTime<Utc>,
}

fn attendance_sk(class_code: &str, learner: &LearnerCode) -> String {
    format!("{ATT_PREFIX}{class_code}#{learner}")
}

fn journal_sk(entry: &JournalEntry) -> String {
    format!(
        "{JNL_PREFIX}{}#{}",
        keys::timestamp(entry.at),
        entry.record_id
    )
}

/// One item: its keys and the domain value as a nested map.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item<T> {
    pk: String,
    sk: String,
    value: T,
}

/// The CourseKey side of offerings, attendance and the journal, over DynamoDB.
#[derive(Clone)]
pub struct DynamoAttendanceStore {
    table: Table,
}

impl DynamoAttendanceStore {
    pub fn new(table: Table) -> Self {
        Self { table }
    }
}

fn check(what: &str, pk: &str, tenant: &TenantId, offering: &OfferingId) -> Result<(), StoreError> {
    if pk == offering_pk(tenant, offering) {
        Ok(())
    } else {
        Err(corrupt(what, RecordError::KeyMismatch))
    }
}

#[async_trait]
impl AttendanceStore for DynamoAttendanceStore {
    async fn coursekey_offering(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
    ) -> Result<Option<CourseKeyOffering>, StoreError> {
        let item: Option<Item<CourseKeyOffering>> = self
            .table
            .get(&offering_pk(tenant, offering), CK_SK)
            .await?;
        item.map(|i| {
            check(
                "coursekey offering",
                &i.pk,
                &i.value.tenant,
                &i.value.offering,
            )?;
            Ok(i.value)
        })
        .transpose()
    }

    async fn save_coursekey_offering(&self, o: &CourseKeyOffering) -> Result<(), StoreError> {
        let marked = o.send_to_coursekey;
        let item = CkItem {
            pk: offering_pk(&o.tenant, &o.offering),
            sk: CK_SK.to_owned(),
            gsi1pk: marked.then(|| marked_pk(&o.tenant)),
            gsi1sk: marked.then(|| o.offering.to_string()),
            value: o,
        };
        self.table.put(&item, Condition::None).await.map(|_| ())
    }

    async fn attendance(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        class_code: &str,
        learner: &LearnerCode,
    ) -> Result<Option<Attendance>, StoreError> {
        let item: Option<Item<Attendance>> = self
            .table
            .get(
                &offering_pk(tenant, offering),
                &attendance_sk(class_code, learner),
            )
            .await?;
        item.map(|i| {
            check("attendance", &i.pk, &i.value.tenant, &i.value.offering)?;
            Ok(i.value)
        })
        .transpose()
    }

    async fn attendances(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
    ) -> Result<Vec<Attendance>, StoreError> {
        let items: Vec<Item<Attendance>> = self
            .table
            .query(
                &offering_pk(tenant, offering),
                Some(ATT_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        items
            .into_iter()
            .map(|i| {
                check("attendance", &i.pk, &i.value.tenant, &i.value.offering)?;
                Ok(i.value)
            })
            .collect()
    }

    async fn save_attendance(
        &self,
        a: &Attendance,
        entry: &JournalEntry,
    ) -> Result<Written, StoreError> {
        let existing = self
            .attendance(&a.tenant, &a.offering, &a.class_code, &a.learner)
            .await?;
        if existing.is_some_and(|e| e.record_id == a.record_id) {
            return Ok(Written::AlreadyDone);
        }
        let pk = offering_pk(&a.tenant, &a.offering);
        let journal = Item {
            pk: pk.clone(),
            sk: journal_sk(entry),
            value: entry,
        };
        self.table.put(&journal, Condition::None).await?;
        let item = Item {
            pk,
            sk: attendance_sk(&a.class_code, &a.learner),
            value: a,
        };
        self.table.put(&item, Condition::None).await?;
        Ok(Written::Done)
    }

    async fn journal(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let items: Vec<Item<JournalEntry>> = self
            .table
            .query(
                &offering_pk(tenant, offering),
                Some(JNL_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        items
            .into_iter()
            .map(|i| {
                check("journal entry", &i.pk, &i.value.tenant, &i.value.offering)?;
                Ok(i.value)
            })
            .collect()
    }

    async fn marked_coursekey_offerings(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<CourseKeyOffering>, StoreError> {
        let items: Vec<CkItem<CourseKeyOffering>> = self
            .table
            .query_index(
                keys::GSI1,
                &marked_pk(tenant),
                &SkRange::Any,
                QueryOptions::default(),
            )
            .await?;
        items
            .into_iter()
            .map(|i| {
                check(
                    "coursekey offering",
                    &i.pk,
                    &i.value.tenant,
                    &i.value.offering,
                )?;
                Ok(i.value)
            })
            // The index is eventually consistent: an offering unmarked a moment ago
            // may still be listed; its item says so.
            .filter(|o: &Result<CourseKeyOffering, StoreError>| {
                o.as_ref().map_or(true, |o| o.send_to_coursekey)
            })
            .collect()
    }

    async fn roster_tick(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let item: Option<TickItem> = self
            .table
            .get(&keys::connection(tenant, connection), TICK_SK)
            .await?;
        Ok(item.map(|i| i.at))
    }

    async fn save_roster_tick(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let item = TickItem {
            pk: keys::connection(tenant, connection),
            sk: TICK_SK.to_owned(),
            at,
        };
        self.table.put(&item, Condition::None).await.map(|_| ())
    }

    async fn save_rejected_record(&self, r: &RejectedRecord) -> Result<(), StoreError> {
        let item = Item {
            pk: DynamoAttendanceInbox::partition(&r.tenant, &r.connection),
            sk: format!("{ERR_PREFIX}{}", r.record_id),
            value: r,
        };
        self.table.put(&item, Condition::None).await.map(|_| ())
    }

    async fn rejected_records(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<RejectedRecord>, StoreError> {
        let pk = DynamoAttendanceInbox::partition(tenant, connection);
        let items: Vec<Item<RejectedRecord>> = self
            .table
            .query(&pk, Some(ERR_PREFIX), QueryOptions::default())
            .await?;
        items
            .into_iter()
            .map(|i| {
                if i.pk == DynamoAttendanceInbox::partition(&i.value.tenant, &i.value.connection) {
                    Ok(i.value)
                } else {
                    Err(corrupt("refused record", RecordError::KeyMismatch))
                }
            })
            .collect()
    }

    async fn programme_course_send(
        &self,
        tenant: &TenantId,
        course: &ProgrammeCourse,
    ) -> Result<Option<bool>, StoreError> {
        let (pk, sk) = programme_course_key(tenant, course);
        let item: Option<ProgrammeCourseItem> = self.table.get(&pk, &sk).await?;
        Ok(item.map(|i| i.send_to_coursekey))
    }

    async fn save_programme_course_send(
        &self,
        tenant: &TenantId,
        course: &ProgrammeCourse,
        send: bool,
    ) -> Result<(), StoreError> {
        let (pk, sk) = programme_course_key(tenant, course);
        let item = ProgrammeCourseItem {
            pk,
            sk,
            programme: course.programme.clone(),
            course: course.course.clone(),
            send_to_coursekey: send,
        };
        self.table.put(&item, Condition::None).await.map(|_| ())
    }
}
