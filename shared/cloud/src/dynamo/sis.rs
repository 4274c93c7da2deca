//! The SMS's records in the data table: learners, offerings with their
//! assessables, and enrolments (docs/architecture.md, `data` table).
//!
//! | item | pk | sk | gsi1 |
//! |---|---|---|---|
//! | learner | `T#{t}` | `LEARNER#{code}` | — |
//! | offering | `T#{t}#OFF#{o}` | `OFFERING` | `T#{t}#OFFERINGS` / `{o}` |
//! | assessable | `T#{t}#OFF#{o}` | `ASSESSABLE#{a}` | — |
//! | enrolment | `T#{t}#OFF#{o}` | `ENROL#{code}` | `T#{t}#LEARNER#{code}` / `ENROL#{o}` |
//!
//! The offering's gsi1 entry is the tenant's offering index: one Query pages
//! through a tenant's offerings in id order (the console's list). The item also
//! carries `search` (its id and name in lower case) for the list's filter.
//! Offerings stored before the index have neither: [`DynamoSisStore::index_offerings`]
//! (`learnbridge-local index-offerings`) adds them, and any save of the offering does.

use super::keys;
use super::record::{RecordError, corrupt, parse_id};
use super::table::{Condition, QueryOptions, SkRange, Table};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, NaiveDate, Utc};
use domain::ports::{EnrolmentPage, OfferingPage, SisStore, StoreError};
use domain::sis::{
    Assessable, AssessableKind, Enrolment, EnrolmentState, Learner, Offering, OfferingStatus,
    OfferingSummary,
};
use domain::{AssessableId, LearnerCode, OfferingId, TenantId};
use serde::{Deserialize, Serialize};

const LEARNER_SK_PREFIX: &str = "LEARNER#";
const OFFERING_SK: &str = "OFFERING";
const ASSESSABLE_SK_PREFIX: &str = "ASSESSABLE#";
const ENROL_SK_PREFIX: &str = "ENROL#";

/// `LEARNER#{code}`: a learner under its tenant.
pub(crate) fn learner_sk(code: &LearnerCode) -> String {
    format!("{LEARNER_SK_PREFIX}{code}")
}

/// `T#{t}#OFF#{o}`: an offering's partition (the offering, its assessables,
/// enrolments, links, mappings, results, transfers).
pub(crate) fn offering_pk(tenant: &TenantId, offering: &OfferingId) -> String {
    format!("{}#OFF#{offering}", keys::tenant(tenant))
}

fn assessable_sk(id: &AssessableId) -> String {
    format!("{ASSESSABLE_SK_PREFIX}{id}")
}

fn enrol_sk(code: &LearnerCode) -> String {
    format!("{ENROL_SK_PREFIX}{code}")
}

/// `T#{t}#OFFERINGS`: a tenant's offerings in gsi1 (sort key: the offering's id).
pub(crate) fn offerings_index_pk(tenant: &TenantId) -> String {
    format!("{}#OFFERINGS", keys::tenant(tenant))
}

/// What the offerings list's filter searches: the id and the name, in lower case.
fn search_text(id: &str, name: &str) -> String {
    format!("{}\n{}", id.to_lowercase(), name.to_lowercase())
}

/// Items one filtered call of the offerings list reads.
const FILTERED_READ: u32 = 100;
/// Calls one page of the offerings list makes at most (so a filter that
/// matches little reads at most `FILTERED_READ * PAGE_CALLS` offerings a page).
const PAGE_CALLS: usize = 5;

/// `T#{t}#LEARNER#{code}`: a learner's enrolments in gsi1.
fn learner_enrolments_pk(tenant: &TenantId, code: &LearnerCode) -> String {
    format!("{}#LEARNER#{code}", keys::tenant(tenant))
}

/// `ENROL#{o}`: an enrolment's place among its learner's.
fn learner_enrolment_sk(offering: &OfferingId) -> String {
    format!("{ENROL_SK_PREFIX}{offering}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LearnerRecord {
    pk: String,
    sk: String,
    tenant: String,
    code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    given_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    middle_name: Option<String>,
    family_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    date_of_birth: Option<NaiveDate>,
    archived: bool,
    email_opt_out: bool,
    updated_at: DateTime<Utc>,
}

impl From<&Learner> for LearnerRecord {
    fn from(l: &Learner) -> Self {
        Self {
            pk: keys::tenant(&l.tenant),
            sk: learner_sk(&l.code),
            tenant: l.tenant.to_string(),
            code: l.code.to_string(),
            username: l.username.clone(),
            given_name: l.given_name.clone(),
            middle_name: l.middle_name.clone(),
            family_name: l.family_name.clone(),
            email: l.email.clone(),
            date_of_birth: l.date_of_birth,
            archived: l.archived,
            email_opt_out: l.email_opt_out,
            updated_at: l.updated_at,
        }
    }
}

impl TryFrom<LearnerRecord> for Learner {
    type Error = RecordError;

    fn try_from(r: LearnerRecord) -> Result<Self, RecordError> {
        let tenant: TenantId = parse_id(r.tenant)?;
        let code: LearnerCode = parse_id(r.code)?;
        if r.pk != keys::tenant(&tenant) || r.sk != learner_sk(&code) {
            return Err(RecordError::KeyMismatch);
        }
        Ok(Learner {
            tenant,
            code,
            username: r.username,
            given_name: r.given_name,
            middle_name: r.middle_name,
            family_name: r.family_name,
            email: r.email,
            date_of_birth: r.date_of_birth,
            archived: r.archived,
            email_opt_out: r.email_opt_out,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct OfferingRecord {
    pk: String,
    sk: String,
    tenant: String,
    id: String,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_date: Option<NaiveDate>,
    status: OfferingStatus,
    auto_push: bool,
    must_be_evaluated: bool,
    updated_at: DateTime<Utc>,
    /// The tenant's offering index (absent on offerings stored before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    search: Option<String>,
}

/// The index attributes an offering stored before the index is given.
#[derive(Debug, Serialize)]
struct OfferingIndexFields {
    gsi1pk: String,
    gsi1sk: String,
    search: String,
}

impl From<&Offering> for OfferingRecord {
    fn from(o: &Offering) -> Self {
        Self {
            pk: offering_pk(&o.tenant, &o.id),
            sk: OFFERING_SK.to_owned(),
            gsi1pk: Some(offerings_index_pk(&o.tenant)),
            gsi1sk: Some(o.id.to_string()),
            search: Some(search_text(o.id.as_str(), &o.name)),
            tenant: o.tenant.to_string(),
            id: o.id.to_string(),
            name: o.name.clone(),
            start_date: o.start_date,
            end_date: o.end_date,
            status: o.status,
            auto_push: o.auto_push,
            must_be_evaluated: o.must_be_evaluated,
            updated_at: o.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AssessableRecord {
    pk: String,
    sk: String,
    tenant: String,
    offering: String,
    id: String,
    name: String,
    kind: AssessableKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expected_start_date: Option<NaiveDate>,
}

impl AssessableRecord {
    fn new(tenant: &TenantId, offering: &OfferingId, a: &Assessable) -> Self {
        Self {
            pk: offering_pk(tenant, offering),
            sk: assessable_sk(&a.id),
            tenant: tenant.to_string(),
            offering: offering.to_string(),
            id: a.id.to_string(),
            name: a.name.clone(),
            kind: a.kind,
            expected_start_date: a.expected_start_date,
        }
    }
}

impl TryFrom<AssessableRecord> for Assessable {
    type Error = RecordError;

    fn try_from(r: AssessableRecord) -> Result<Self, RecordError> {
        let tenant: TenantId = parse_id(r.tenant)?;
        let offering: OfferingId = parse_id(r.offering)?;
        let id: AssessableId = parse_id(r.id)?;
        if r.pk != offering_pk(&tenant, &offering) || r.sk != assessable_sk(&id) {
            return Err(RecordError::KeyMismatch);
        }
        Ok(Assessable {
            id,
            name: r.name,
            kind: r.kind,
            expected_start_date: r.expected_start_date,
        })
    }
}

/// An offering record with its assessable records, read back as one offering.
struct StoredOffering(OfferingRecord, Vec<AssessableRecord>);

impl TryFrom<StoredOffering> for Offering {
    type Error = RecordError;

    fn try_from(StoredOffering(r, assessables): StoredOffering) -> Result<Self, RecordError> {
        let tenant: TenantId = parse_id(r.tenant)?;
        let id: OfferingId = parse_id(r.id)?;
        if r.pk != offering_pk(&tenant, &id)
            || r.sk != OFFERING_SK
            || r.gsi1pk.is_some_and(|k| k != offerings_index_pk(&tenant))
            || r.gsi1sk.is_some_and(|k| k != id.as_str())
        {
            return Err(RecordError::KeyMismatch);
        }
        let assessables = assessables
            .into_iter()
            .map(Assessable::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Offering {
            tenant,
            id,
            name: r.name,
            start_date: r.start_date,
            end_date: r.end_date,
            status: r.status,
            auto_push: r.auto_push,
            must_be_evaluated: r.must_be_evaluated,
            assessables,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EnrolmentRecord {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    tenant: String,
    learner: String,
    offering: String,
    state: EnrolmentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_date: Option<NaiveDate>,
    updated_at: DateTime<Utc>,
}

impl From<&Enrolment> for EnrolmentRecord {
    fn from(e: &Enrolment) -> Self {
        Self {
            pk: offering_pk(&e.tenant, &e.offering),
            sk: enrol_sk(&e.learner),
            gsi1pk: learner_enrolments_pk(&e.tenant, &e.learner),
            gsi1sk: learner_enrolment_sk(&e.offering),
            tenant: e.tenant.to_string(),
            learner: e.learner.to_string(),
            offering: e.offering.to_string(),
            state: e.state,
            start_date: e.start_date,
            session_date: e.session_date,
            updated_at: e.updated_at,
        }
    }
}

impl TryFrom<EnrolmentRecord> for Enrolment {
    type Error = RecordError;

    fn try_from(r: EnrolmentRecord) -> Result<Self, RecordError> {
        let tenant: TenantId = parse_id(r.tenant)?;
        let learner: LearnerCode = parse_id(r.learner)?;
        let offering: OfferingId = parse_id(r.offering)?;
        if r.pk != offering_pk(&tenant, &offering)
            || r.sk != enrol_sk(&learner)
            || r.gsi1pk != learner_enrolments_pk(&tenant, &learner)
            || r.gsi1sk != learner_enrolment_sk(&offering)
        {
            return Err(RecordError::KeyMismatch);
        }
        Ok(Enrolment {
            tenant,
            learner,
            offering,
            state: r.state,
            start_date: r.start_date,
            session_date: r.session_date,
            updated_at: r.updated_at,
        })
    }
}

fn to_learner(r: LearnerRecord) -> Result<Learner, StoreError> {
    Learner::try_from(r).map_err(|e| corrupt("learner", e))
}

fn to_enrolment(r: EnrolmentRecord) -> Result<Enrolment, StoreError> {
    Enrolment::try_from(r).map_err(|e| corrupt("enrolment", e))
}

/// What [`DynamoSisStore::index_offerings`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IndexedOfferings {
    /// Offerings added to their tenant's index.
    pub added: usize,
    /// Offering items that do not decode, each with why (left as they are).
    pub skipped: Vec<String>,
}

/// [`SisStore`] over the data table.
#[derive(Debug, Clone)]
pub struct DynamoSisStore {
    table: Table,
}

impl DynamoSisStore {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// A tenant's learners, in code order.
    pub async fn all_learners(&self, tenant: &TenantId) -> Result<Vec<Learner>, StoreError> {
        let records: Vec<LearnerRecord> = self
            .table
            .query(
                &keys::tenant(tenant),
                Some(LEARNER_SK_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        records.into_iter().map(to_learner).collect()
    }

    /// Adds the offerings stored before the tenant offering index to it (every
    /// tenant's: a scan of the table, for an operator after an upgrade; no
    /// function's role may scan). Idempotent: an offering already in the index
    /// is not read twice, and one saved meanwhile (which indexes itself) is left
    /// as saved. Returns how many it added; an item that does not decode is
    /// reported by its keys and left for a person to repair.
    pub async fn index_offerings(&self) -> Result<IndexedOfferings, StoreError> {
        let mut report = IndexedOfferings::default();
        let mut start = None;
        loop {
            let (items, last) = self
                .table
                .scan_missing(OFFERING_SK, "gsi1pk", start.take(), 500)
                .await?;
            for item in items {
                let record = self.table.decode_any::<OfferingRecord>(item).and_then(|r| {
                    let tenant: TenantId = parse_id(r.tenant.clone())
                        .map_err(|e| corrupt(&format!("item {}", r.pk), e))?;
                    let id: OfferingId = parse_id(r.id.clone())
                        .map_err(|e| corrupt(&format!("item {}", r.pk), e))?;
                    if r.pk != offering_pk(&tenant, &id) {
                        return Err(corrupt(&format!("item {}", r.pk), RecordError::KeyMismatch));
                    }
                    Ok((r, tenant, id))
                });
                let (record, tenant, id) = match record {
                    Ok(found) => found,
                    Err(error) => {
                        report
                            .skipped
                            .push(format!("{error}: {}", super::record::innermost(&error)));
                        continue;
                    }
                };
                let fields = OfferingIndexFields {
                    gsi1pk: offerings_index_pk(&tenant),
                    gsi1sk: id.to_string(),
                    search: search_text(id.as_str(), &record.name),
                };
                if self
                    .table
                    .update_where(&record.pk, OFFERING_SK, &fields, ("name", &record.name))
                    .await?
                {
                    report.added += 1;
                }
            }
            match last {
                Some(key) => start = Some(key),
                None => return Ok(report),
            }
        }
    }

    async fn assessable_records(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
    ) -> Result<Vec<AssessableRecord>, StoreError> {
        self.table
            .query(
                &offering_pk(tenant, offering),
                Some(ASSESSABLE_SK_PREFIX),
                QueryOptions::default(),
            )
            .await
    }
}

#[async_trait]
impl SisStore for DynamoSisStore {
    async fn learner(
        &self,
        tenant: &TenantId,
        code: &LearnerCode,
    ) -> Result<Option<Learner>, StoreError> {
        let record: Option<LearnerRecord> = self
            .table
            .get(&keys::tenant(tenant), &learner_sk(code))
            .await?;
        record.map(to_learner).transpose()
    }

    async fn learners(
        &self,
        tenant: &TenantId,
        codes: &[LearnerCode],
    ) -> Result<Vec<Learner>, StoreError> {
        let pk = keys::tenant(tenant);
        let keys: Vec<(String, String)> = codes
            .iter()
            .map(|code| (pk.clone(), learner_sk(code)))
            .collect();
        let records: Vec<LearnerRecord> = self.table.batch_get(&keys).await?;
        let mut learners = records
            .into_iter()
            .map(to_learner)
            .collect::<Result<Vec<_>, _>>()?;
        // The batch answers in no particular order: give the caller a stable one.
        learners.sort_by(|a, b| a.code.cmp(&b.code));
        Ok(learners)
    }

    async fn save_learner(&self, learner: &Learner) -> Result<(), StoreError> {
        self.table
            .put(&LearnerRecord::from(learner), Condition::None)
            .await?;
        Ok(())
    }

    async fn offering(
        &self,
        tenant: &TenantId,
        id: &OfferingId,
    ) -> Result<Option<Offering>, StoreError> {
        let pk = offering_pk(tenant, id);
        // Named as the offering it should be, so the error says what to repair.
        let what = format!("offering {id}");
        let named = |error: StoreError| match error {
            StoreError::Corrupt { source, .. } => StoreError::Corrupt {
                what: what.clone(),
                source,
            },
            other => other,
        };
        let (record, assessables) = tokio::try_join!(
            self.table.get::<OfferingRecord>(&pk, OFFERING_SK),
            self.assessable_records(tenant, id),
        )
        .map_err(named)?;
        record
            .map(|r| {
                Offering::try_from(StoredOffering(r, assessables)).map_err(|e| corrupt(&what, e))
            })
            .transpose()
    }

    async fn offering_page(
        &self,
        tenant: &TenantId,
        filter: &str,
        after: Option<&OfferingId>,
        limit: usize,
    ) -> Result<OfferingPage, StoreError> {
        let index_pk = offerings_index_pk(tenant);
        let filter = filter.trim().to_lowercase();
        let contains = (!filter.is_empty()).then_some(("search", filter.as_str()));
        // Where the page starts: the index key of the offering it starts after
        // (the offering need not exist any more: a key orders by its values).
        let mut start = after.map(|after| {
            let pk = offering_pk(tenant, after);
            std::collections::HashMap::from([
                ("pk".to_owned(), AttributeValue::S(pk)),
                ("sk".to_owned(), AttributeValue::S(OFFERING_SK.to_owned())),
                ("gsi1pk".to_owned(), AttributeValue::S(index_pk.clone())),
                ("gsi1sk".to_owned(), AttributeValue::S(after.to_string())),
            ])
        });
        // One more than asked for: whether there is a next page is then known.
        let wanted = limit + 1;
        let mut found: Vec<OfferingRecord> = Vec::with_capacity(wanted);
        let mut next_key = None;
        for _ in 0..PAGE_CALLS {
            let read = if contains.is_some() {
                FILTERED_READ
            } else {
                u32::try_from(wanted - found.len()).unwrap_or(u32::MAX)
            };
            let (records, last) = self
                .table
                .query_index_page::<OfferingRecord>(
                    keys::GSI1,
                    &index_pk,
                    contains,
                    start.take(),
                    read,
                )
                .await?;
            found.extend(records);
            next_key = last;
            if found.len() >= wanted || next_key.is_none() {
                break;
            }
            start = next_key.clone();
        }
        let next = if found.len() > limit {
            found.truncate(limit);
            found.last().map(|r| r.id.clone())
        } else {
            // Read as much as a page may: the next page starts where this one stopped.
            match next_key.as_ref().and_then(|key| key.get("gsi1sk")) {
                Some(AttributeValue::S(id)) => Some(id.clone()),
                _ => None,
            }
        };
        let offerings = found
            .into_iter()
            .map(|r| {
                let what = format!("offering {}", r.id);
                Offering::try_from(StoredOffering(r, vec![]))
                    .map_err(|e| corrupt(&what, e))
                    .and_then(|o| {
                        if &o.tenant == tenant {
                            Ok(OfferingSummary::from(&o))
                        } else {
                            Err(corrupt(&what, RecordError::KeyMismatch))
                        }
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = next
            .map(|id| parse_id::<OfferingId>(id).map_err(|e| corrupt("the offering index", e)))
            .transpose()?;
        Ok(OfferingPage { offerings, next })
    }

    /// Writes the offering and its assessables, and removes the assessables it
    /// no longer has. Every write is an idempotent put, so a retry after an
    /// error converges on the same state.
    async fn save_offering(&self, offering: &Offering) -> Result<(), StoreError> {
        let stored = self
            .assessable_records(&offering.tenant, &offering.id)
            .await?;
        let records: Vec<AssessableRecord> = offering
            .assessables
            .iter()
            .map(|a| AssessableRecord::new(&offering.tenant, &offering.id, a))
            .collect();
        self.table.batch_put(&records).await?;
        let pk = offering_pk(&offering.tenant, &offering.id);
        for gone in stored
            .iter()
            .filter(|old| records.iter().all(|new| new.sk != old.sk))
        {
            self.table.delete(&pk, &gone.sk).await?;
        }
        // The offering last: a reader that sees the new offering sees its assessables.
        self.table
            .put(&OfferingRecord::from(offering), Condition::None)
            .await?;
        Ok(())
    }

    async fn enrolment(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
    ) -> Result<Option<Enrolment>, StoreError> {
        let record: Option<EnrolmentRecord> = self
            .table
            .get(&offering_pk(tenant, offering), &enrol_sk(learner))
            .await?;
        record.map(to_enrolment).transpose()
    }

    async fn enrolments(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
    ) -> Result<Vec<Enrolment>, StoreError> {
        let records: Vec<EnrolmentRecord> = self
            .table
            .query(
                &offering_pk(tenant, offering),
                Some(ENROL_SK_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        records.into_iter().map(to_enrolment).collect()
    }

    async fn enrolment_page(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        after: Option<&LearnerCode>,
        limit: usize,
    ) -> Result<EnrolmentPage, StoreError> {
        let after = after.map(enrol_sk);
        let (records, more) = self
            .table
            .query_page::<EnrolmentRecord>(
                &offering_pk(tenant, offering),
                ENROL_SK_PREFIX,
                after.as_deref(),
                u32::try_from(limit).unwrap_or(u32::MAX),
            )
            .await?;
        let enrolments = records
            .into_iter()
            .map(to_enrolment)
            .collect::<Result<Vec<_>, _>>()?;
        // The page's last learner is where the next one starts (a page of at
        // least one item without a filter is never empty while more remain).
        let next = more
            .then(|| enrolments.last().map(|e| e.learner.clone()))
            .flatten();
        Ok(EnrolmentPage { enrolments, next })
    }

    async fn learner_enrolments(
        &self,
        tenant: &TenantId,
        learner: &LearnerCode,
    ) -> Result<Vec<Enrolment>, StoreError> {
        let records: Vec<EnrolmentRecord> = self
            .table
            .query_index(
                keys::GSI1,
                &learner_enrolments_pk(tenant, learner),
                &SkRange::Prefix(ENROL_SK_PREFIX.to_owned()),
                QueryOptions::default(),
            )
            .await?;
        records.into_iter().map(to_enrolment).collect()
    }

    async fn save_enrolment(&self, enrolment: &Enrolment) -> Result<(), StoreError> {
        self.table
            .put(&EnrolmentRecord::from(enrolment), Condition::None)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    #[test]
    fn keys_follow_the_architecture() {
        let t = tenant();
        let o = OfferingId::parse("OCC-1").unwrap();
        let c = LearnerCode::parse("X1").unwrap();
        assert_eq!(learner_sk(&c), "LEARNER#X1");
        assert_eq!(offering_pk(&t, &o), "T#acme#OFF#OCC-1");
        assert_eq!(enrol_sk(&c), "ENROL#X1");
        assert_eq!(learner_enrolments_pk(&t, &c), "T#acme#LEARNER#X1");
        assert_eq!(learner_enrolment_sk(&o), "ENROL#OCC-1");
        assert_eq!(
            assessable_sk(&AssessableId::parse("U1").unwrap()),
            "ASSESSABLE#U1"
        );
    }

    #[test]
    fn a_bad_stored_id_is_corrupt_not_a_panic() {
        let learner = Learner {
            tenant: tenant(),
            code: LearnerCode::parse("X1").unwrap(),
            username: None,
            given_name: "A".into(),
            middle_name: None,
            family_name: "R".into(),
            email: None,
            date_of_birth: None,
            archived: false,
            email_opt_out: false,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        let mut record = LearnerRecord::from(&learner);
        record.code = "X#1".into();
        assert!(matches!(
            Learner::try_from(record.clone()),
            Err(RecordError::Id(_))
        ));
        record.code = "X2".into();
        assert!(matches!(
            Learner::try_from(record),
            Err(RecordError::KeyMismatch)
        ));
        assert!(matches!(
            to_learner(LearnerRecord {
                code: "a b".into(),
                ..LearnerRecord::from(&learner)
            }),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
