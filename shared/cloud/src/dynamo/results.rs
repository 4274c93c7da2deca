//! Mappings, results under review and each connection's fetch watermark, in
//! the data table (docs/architecture.md).
//!
//! | item | pk | sk | gsi1 |
//! |---|---|---|---|
//! | mapping | `T#{t}#OFF#{o}` | `MAP#{c}#{a}` | — |
//! | result | `T#{t}#OFF#{o}` | `RESULT#{code}#{a}` | `T#{t}#CONN#{c}#REVIEW#{state}` / `{o}#{code}#{a}` |
//! | watermark and retry set | `T#{t}#CONN#{c}` | `RESULTS#WATERMARK` | — |
//! | an offering's own watermark and retry set (scoped downloads) | `T#{t}#CONN#{c}` | `RESULTS#OFFERING#{o}` | — |
//! | completion | `T#{t}#OFF#{o}` | `COMPLETION#{code}` | `T#{t}#CONN#{c}#COMPLETIONS#{state}` / `{o}#{code}` |
//!
//! A result moves between review queues by being written again: its gsi1 key
//! follows its state, so "every ready result of a connection" is one query.

use super::keys;
use super::record::{RecordError, corrupt, parse_id};
use super::sis::offering_pk;
use super::table::{Condition, QueryOptions, SkRange, Table};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use domain::ports::{ResultStore, StoreError};
use domain::results::{
    LaterAttempt, LaterGrade, MappedActivity, Mapping, OfferingProgress, PastResult, ResultType,
    RetryEntry, ReviewState, StoredCompletion, StoredResult,
};
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use serde::{Deserialize, Serialize};

const MAP_SK_PREFIX: &str = "MAP#";
const RESULT_SK_PREFIX: &str = "RESULT#";
const WATERMARK_SK: &str = "RESULTS#WATERMARK";
const OFFERING_PROGRESS_SK_PREFIX: &str = "RESULTS#OFFERING#";
const COMPLETION_SK_PREFIX: &str = "COMPLETION#";

fn completion_sk(learner: &LearnerCode) -> String {
    format!("{COMPLETION_SK_PREFIX}{learner}")
}

/// `T#{t}#CONN#{c}#COMPLETIONS#{state}`: a connection's completions in one review state, in gsi1.
fn completions_pk(tenant: &TenantId, connection: &ConnectionId, state: ReviewState) -> String {
    format!(
        "{}#COMPLETIONS#{}",
        keys::connection(tenant, connection),
        state.as_str()
    )
}

fn mapping_prefix(connection: &ConnectionId) -> String {
    format!("{MAP_SK_PREFIX}{connection}#")
}

fn mapping_sk(connection: &ConnectionId, assessable: &AssessableId) -> String {
    format!("{}{assessable}", mapping_prefix(connection))
}

fn result_sk(learner: &LearnerCode, assessable: &AssessableId) -> String {
    format!("{RESULT_SK_PREFIX}{learner}#{assessable}")
}

/// `T#{t}#CONN#{c}#REVIEW#{state}`: a connection's results in one review state, in gsi1.
fn review_pk(tenant: &TenantId, connection: &ConnectionId, state: ReviewState) -> String {
    format!(
        "{}#REVIEW#{}",
        keys::connection(tenant, connection),
        state.as_str()
    )
}

fn review_sk(offering: &OfferingId, learner: &LearnerCode, assessable: &AssessableId) -> String {
    format!("{offering}#{learner}#{assessable}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MappingRecord {
    pk: String,
    sk: String,
    tenant: String,
    offering: String,
    connection: String,
    assessable: String,
    activities: Vec<MappedActivity>,
    updated_at: DateTime<Utc>,
}

impl From<&Mapping> for MappingRecord {
    fn from(m: &Mapping) -> Self {
        Self {
            pk: offering_pk(&m.tenant, &m.offering),
            sk: mapping_sk(&m.connection, &m.assessable),
            tenant: m.tenant.to_string(),
            offering: m.offering.to_string(),
            connection: m.connection.to_string(),
            assessable: m.assessable.to_string(),
            activities: m.activities.clone(),
            updated_at: m.updated_at,
        }
    }
}

impl TryFrom<MappingRecord> for Mapping {
    type Error = RecordError;

    fn try_from(r: MappingRecord) -> Result<Self, RecordError> {
        let tenant: TenantId = parse_id(r.tenant)?;
        let offering: OfferingId = parse_id(r.offering)?;
        let connection: ConnectionId = parse_id(r.connection)?;
        let assessable: AssessableId = parse_id(r.assessable)?;
        if r.pk != offering_pk(&tenant, &offering) || r.sk != mapping_sk(&connection, &assessable) {
            return Err(RecordError::KeyMismatch);
        }
        Ok(Mapping {
            tenant,
            offering,
            connection,
            assessable,
            activities: r.activities,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ResultRecord {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    tenant: String,
    connection: String,
    offering: String,
    learner: String,
    assessable: String,
    result: ResultType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finish_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grade: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grade_max: Option<f64>,
    state: ReviewState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    history: Vec<PastResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    later: Option<LaterAttempt>,
}

impl From<&StoredResult> for ResultRecord {
    fn from(r: &StoredResult) -> Self {
        Self {
            pk: offering_pk(&r.tenant, &r.offering),
            sk: result_sk(&r.learner, &r.assessable),
            gsi1pk: review_pk(&r.tenant, &r.connection, r.state),
            gsi1sk: review_sk(&r.offering, &r.learner, &r.assessable),
            tenant: r.tenant.to_string(),
            connection: r.connection.to_string(),
            offering: r.offering.to_string(),
            learner: r.learner.to_string(),
            assessable: r.assessable.to_string(),
            result: r.result,
            start_date: r.start_date,
            finish_date: r.finish_date,
            grade: r.grade,
            grade_max: r.grade_max,
            state: r.state,
            error: r.error.clone(),
            updated_at: r.updated_at,
            history: r.history.clone(),
            later: r.later.clone(),
        }
    }
}

impl TryFrom<ResultRecord> for StoredResult {
    type Error = RecordError;

    fn try_from(r: ResultRecord) -> Result<Self, RecordError> {
        let tenant: TenantId = parse_id(r.tenant)?;
        let connection: ConnectionId = parse_id(r.connection)?;
        let offering: OfferingId = parse_id(r.offering)?;
        let learner: LearnerCode = parse_id(r.learner)?;
        let assessable: AssessableId = parse_id(r.assessable)?;
        if r.pk != offering_pk(&tenant, &offering)
            || r.sk != result_sk(&learner, &assessable)
            || r.gsi1pk != review_pk(&tenant, &connection, r.state)
            || r.gsi1sk != review_sk(&offering, &learner, &assessable)
        {
            return Err(RecordError::KeyMismatch);
        }
        Ok(StoredResult {
            tenant,
            connection,
            offering,
            learner,
            assessable,
            result: r.result,
            start_date: r.start_date,
            finish_date: r.finish_date,
            grade: r.grade,
            grade_max: r.grade_max,
            state: r.state,
            error: r.error,
            updated_at: r.updated_at,
            history: r.history,
            later: r.later,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WatermarkRecord {
    pk: String,
    sk: String,
    at: DateTime<Utc>,
    /// The learners (or offerings) to read again next run.
    #[serde(default)]
    retries: Vec<RetryEntry>,
}

/// One offering's own watermark and retry set (downloads scoped to it).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OfferingProgressRecord {
    pk: String,
    sk: String,
    offering: String,
    at: DateTime<Utc>,
    #[serde(default)]
    retries: Vec<RetryEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CompletionRecord {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    tenant: String,
    connection: String,
    offering: String,
    learner: String,
    user: i64,
    completed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grade: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grade_max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    later_grade: Option<LaterGrade>,
    smartosh: bool,
    must_be_evaluated: bool,
    state: ReviewState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unenrolled_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    course_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idnumber: Option<String>,
}

impl From<&StoredCompletion> for CompletionRecord {
    fn from(c: &StoredCompletion) -> Self {
        Self {
            pk: offering_pk(&c.tenant, &c.offering),
            sk: completion_sk(&c.learner),
            gsi1pk: completions_pk(&c.tenant, &c.connection, c.state),
            gsi1sk: format!("{}#{}", c.offering, c.learner),
            tenant: c.tenant.to_string(),
            connection: c.connection.to_string(),
            offering: c.offering.to_string(),
            learner: c.learner.to_string(),
            user: c.user,
            completed_at: c.completed_at,
            grade: c.grade,
            grade_max: c.grade_max,
            later_grade: c.later_grade.clone(),
            smartosh: c.smartosh,
            must_be_evaluated: c.must_be_evaluated,
            state: c.state,
            error: c.error.clone(),
            unenrolled_at: c.unenrolled_at,
            updated_at: c.updated_at,
            course_id: c.course_id,
            idnumber: c.idnumber.clone(),
        }
    }
}

impl TryFrom<CompletionRecord> for StoredCompletion {
    type Error = RecordError;

    fn try_from(r: CompletionRecord) -> Result<Self, RecordError> {
        let tenant: TenantId = parse_id(r.tenant)?;
        let connection: ConnectionId = parse_id(r.connection)?;
        let offering: OfferingId = parse_id(r.offering)?;
        let learner: LearnerCode = parse_id(r.learner)?;
        if r.pk != offering_pk(&tenant, &offering)
            || r.sk != completion_sk(&learner)
            || r.gsi1pk != completions_pk(&tenant, &connection, r.state)
        {
            return Err(RecordError::KeyMismatch);
        }
        Ok(StoredCompletion {
            tenant,
            connection,
            offering,
            learner,
            user: r.user,
            completed_at: r.completed_at,
            grade: r.grade,
            grade_max: r.grade_max,
            later_grade: r.later_grade,
            smartosh: r.smartosh,
            must_be_evaluated: r.must_be_evaluated,
            state: r.state,
            error: r.error,
            unenrolled_at: r.unenrolled_at,
            updated_at: r.updated_at,
            course_id: r.course_id,
            idnumber: r.idnumber,
        })
    }
}

fn to_completion(r: CompletionRecord) -> Result<StoredCompletion, StoreError> {
    StoredCompletion::try_from(r).map_err(|e| corrupt("completion", e))
}

fn to_mapping(r: MappingRecord) -> Result<Mapping, StoreError> {
    Mapping::try_from(r).map_err(|e| corrupt("mapping", e))
}

fn to_result(r: ResultRecord) -> Result<StoredResult, StoreError> {
    StoredResult::try_from(r).map_err(|e| corrupt("result", e))
}

/// [`ResultStore`] over the data table.
#[derive(Debug, Clone)]
pub struct DynamoResultStore {
    table: Table,
}

impl DynamoResultStore {
    pub fn new(table: Table) -> Self {
        Self { table }
    }
}

#[async_trait]
impl ResultStore for DynamoResultStore {
    async fn save_mapping(&self, mapping: &Mapping) -> Result<(), StoreError> {
        self.table
            .put(&MappingRecord::from(mapping), Condition::None)
            .await?;
        Ok(())
    }

    async fn delete_mapping(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        connection: &ConnectionId,
        assessable: &AssessableId,
    ) -> Result<(), StoreError> {
        self.table
            .delete(
                &offering_pk(tenant, offering),
                &mapping_sk(connection, assessable),
            )
            .await
    }

    async fn mappings(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        connection: &ConnectionId,
    ) -> Result<Vec<Mapping>, StoreError> {
        let records: Vec<MappingRecord> = self
            .table
            .query(
                &offering_pk(tenant, offering),
                Some(&mapping_prefix(connection)),
                QueryOptions::default(),
            )
            .await?;
        records.into_iter().map(to_mapping).collect()
    }

    async fn save_result(&self, result: &StoredResult) -> Result<(), StoreError> {
        self.table
            .put(&ResultRecord::from(result), Condition::None)
            .await?;
        Ok(())
    }

    async fn result(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
        assessable: &AssessableId,
    ) -> Result<Option<StoredResult>, StoreError> {
        let record: Option<ResultRecord> = self
            .table
            .get(
                &offering_pk(tenant, offering),
                &result_sk(learner, assessable),
            )
            .await?;
        record.map(to_result).transpose()
    }

    async fn results(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
    ) -> Result<Vec<StoredResult>, StoreError> {
        let records: Vec<ResultRecord> = self
            .table
            .query(
                &offering_pk(tenant, offering),
                Some(RESULT_SK_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        records.into_iter().map(to_result).collect()
    }

    async fn results_by_state(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: ReviewState,
        limit: usize,
    ) -> Result<Vec<StoredResult>, StoreError> {
        let records: Vec<ResultRecord> = self
            .table
            .query_index(
                keys::GSI1,
                &review_pk(tenant, connection, state),
                &SkRange::Any,
                QueryOptions::default().limit(limit),
            )
            .await?;
        records.into_iter().map(to_result).collect()
    }

    async fn watermark(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let record: Option<WatermarkRecord> = self
            .table
            .get(&keys::connection(tenant, connection), WATERMARK_SK)
            .await?;
        Ok(record.map(|r| r.at))
    }

    /// Moves the watermark with an empty retry set.
    async fn save_watermark(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.save_progress(tenant, connection, at, &[]).await
    }

    async fn retries(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<RetryEntry>, StoreError> {
        let record: Option<WatermarkRecord> = self
            .table
            .get(&keys::connection(tenant, connection), WATERMARK_SK)
            .await?;
        Ok(record.map(|r| r.retries).unwrap_or_default())
    }

    async fn save_progress(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        at: DateTime<Utc>,
        retries: &[RetryEntry],
    ) -> Result<(), StoreError> {
        let record = WatermarkRecord {
            pk: keys::connection(tenant, connection),
            sk: WATERMARK_SK.to_owned(),
            at,
            retries: retries.to_vec(),
        };
        self.table.put(&record, Condition::None).await?;
        Ok(())
    }

    async fn offering_progress(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<OfferingProgress>, StoreError> {
        let records: Vec<OfferingProgressRecord> = self
            .table
            .query(
                &keys::connection(tenant, connection),
                Some(OFFERING_PROGRESS_SK_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        records
            .into_iter()
            .map(|r| {
                Ok(OfferingProgress {
                    offering: parse_id(r.offering).map_err(|e| corrupt("offering progress", e))?,
                    at: r.at,
                    retries: r.retries,
                })
            })
            .collect()
    }

    async fn save_offering_progress(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        progress: &OfferingProgress,
    ) -> Result<(), StoreError> {
        let record = OfferingProgressRecord {
            pk: keys::connection(tenant, connection),
            sk: format!("{OFFERING_PROGRESS_SK_PREFIX}{}", progress.offering),
            offering: progress.offering.to_string(),
            at: progress.at,
            retries: progress.retries.clone(),
        };
        self.table.put(&record, Condition::None).await?;
        Ok(())
    }

    async fn save_completion(&self, completion: &StoredCompletion) -> Result<(), StoreError> {
        self.table
            .put(&CompletionRecord::from(completion), Condition::None)
            .await?;
        Ok(())
    }

    async fn completion(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
    ) -> Result<Option<StoredCompletion>, StoreError> {
        let record: Option<CompletionRecord> = self
            .table
            .get(&offering_pk(tenant, offering), &completion_sk(learner))
            .await?;
        record.map(to_completion).transpose()
    }

    async fn completions(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
    ) -> Result<Vec<StoredCompletion>, StoreError> {
        let records: Vec<CompletionRecord> = self
            .table
            .query(
                &offering_pk(tenant, offering),
                Some(COMPLETION_SK_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        records.into_iter().map(to_completion).collect()
    }

    async fn completions_by_state(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: ReviewState,
        limit: usize,
    ) -> Result<Vec<StoredCompletion>, StoreError> {
        let records: Vec<CompletionRecord> = self
            .table
            .query_index(
                keys::GSI1,
                &completions_pk(tenant, connection, state),
                &SkRange::Any,
                QueryOptions::default().limit(limit),
            )
            .await?;
        records.into_iter().map(to_completion).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_architecture() {
        let t = TenantId::parse("acme").unwrap();
        let c = ConnectionId::parse("moodle").unwrap();
        let o = OfferingId::parse("OFF-1").unwrap();
        let l = LearnerCode::parse("X1").unwrap();
        let a = AssessableId::parse("U1").unwrap();
        assert_eq!(mapping_sk(&c, &a), "MAP#moodle#U1");
        assert_eq!(result_sk(&l, &a), "RESULT#X1#U1");
        assert_eq!(
            review_pk(&t, &c, ReviewState::Ready),
            "T#acme#CONN#moodle#REVIEW#ready"
        );
        assert_eq!(review_sk(&o, &l, &a), "OFF-1#X1#U1");
        assert_eq!(completion_sk(&l), "COMPLETION#X1");
        assert_eq!(
            completions_pk(&t, &c, ReviewState::Done),
            "T#acme#CONN#moodle#COMPLETIONS#done"
        );
        assert!(!completion_sk(&l).starts_with(RESULT_SK_PREFIX));
        // `MAP#moodle#` is not a prefix of another connection's mappings.
        let other = ConnectionId::parse("moodle-2").unwrap();
        assert!(!mapping_sk(&other, &a).starts_with(&mapping_prefix(&c)));
    }
}
