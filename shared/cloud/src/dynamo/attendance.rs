//! CourseKey attendance in the data table: the CourseKey side of an offering,
//! converted attendance and its journal, beside the offering.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | CourseKey offering | `T#{t}#OFF#{o}` | `CK` |
//! | attendance | `T#{t}#OFF#{o}` | `ATT#{class}#{code}` |
//! | journal entry | `T#{t}#OFF#{o}` | `JNL#{timestamp}#{record id}` |
//!
//! `save_attendance` writes the journal entry first, then the attendance: a crash
//! between the two leaves a journal line to spare, never an unjournaled change.

use super::keys;
use super::record::{RecordError, corrupt};
use super::sis::offering_pk;
use super::table::{Condition, QueryOptions, Table};
use async_trait::async_trait;
use domain::attendance::{Attendance, CourseKeyOffering, JournalEntry};
use domain::ports::{AttendanceStore, StoreError, Written};
use domain::{LearnerCode, OfferingId, TenantId};
use serde::{Deserialize, Serialize};

const CK_SK: &str = "CK";
const ATT_PREFIX: &str = "ATT#";
const JNL_PREFIX: &str = "JNL#";

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
        let item = Item {
            pk: offering_pk(&o.tenant, &o.offering),
            sk: CK_SK.to_owned(),
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
}
