//! What learnbridge keeps per connection, in the data table
//! (docs/architecture.md): course links, learners' external accounts and each
//! enrolment's transfer.
//!
//! | item | pk | sk | gsi1 |
//! |---|---|---|---|
//! | external account | `T#{t}#CONN#{c}` | `USER#{code}` | `T#{t}#CONN#{c}#EXT` / `{external id}` |
//! | link | `T#{t}#OFF#{o}` | `LINK#{c}` | `T#{t}#CONN#{c}#LINKS` / `{o}` |
//! | transfer | `T#{t}#OFF#{o}` | `XFER#{c}#{code}` | — |

use super::keys;
use super::record::{RecordError, corrupt, parse_id};
use super::sis::offering_pk;
use super::table::{Condition, QueryOptions, SkRange, Table};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::{LinkStore, StoreError, Written};
use domain::sis::{CourseLink, ExternalAccount, Transfer, TransferStatus};
use domain::{ConnectionId, LearnerCode, OfferingId, TenantId};
use serde::{Deserialize, Serialize};

const USER_SK_PREFIX: &str = "USER#";
const LINK_SK_PREFIX: &str = "LINK#";
const XFER_SK_PREFIX: &str = "XFER#";

fn user_sk(code: &LearnerCode) -> String {
    format!("{USER_SK_PREFIX}{code}")
}

/// `T#{t}#CONN#{c}#EXT`: a connection's accounts by external id, in gsi1.
fn external_ids_pk(tenant: &TenantId, connection: &ConnectionId) -> String {
    format!("{}#EXT", keys::connection(tenant, connection))
}

fn link_sk(connection: &ConnectionId) -> String {
    format!("{LINK_SK_PREFIX}{connection}")
}

/// `T#{t}#CONN#{c}#LINKS`: a connection's linked offerings, in gsi1.
fn connection_links_pk(tenant: &TenantId, connection: &ConnectionId) -> String {
    format!("{}#LINKS", keys::connection(tenant, connection))
}

fn transfer_prefix(connection: &ConnectionId) -> String {
    format!("{XFER_SK_PREFIX}{connection}#")
}

fn transfer_sk(connection: &ConnectionId, learner: &LearnerCode) -> String {
    format!("{}{learner}", transfer_prefix(connection))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccountRecord {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    tenant: String,
    connection: String,
    learner: String,
    external_id: i64,
    created_by_us: bool,
    linked_at: DateTime<Utc>,
}

impl From<&ExternalAccount> for AccountRecord {
    fn from(a: &ExternalAccount) -> Self {
        Self {
            pk: keys::connection(&a.tenant, &a.connection),
            sk: user_sk(&a.learner),
            gsi1pk: external_ids_pk(&a.tenant, &a.connection),
            gsi1sk: a.external_id.to_string(),
            tenant: a.tenant.to_string(),
            connection: a.connection.to_string(),
            learner: a.learner.to_string(),
            external_id: a.external_id,
            created_by_us: a.created_by_us,
            linked_at: a.linked_at,
        }
    }
}

impl TryFrom<AccountRecord> for ExternalAccount {
    type Error = RecordError;

    fn try_from(r: AccountRecord) -> Result<Self, RecordError> {
        let tenant: TenantId = parse_id(r.tenant)?;
        let connection: ConnectionId = parse_id(r.connection)?;
        let learner: LearnerCode = parse_id(r.learner)?;
        if r.pk != keys::connection(&tenant, &connection)
            || r.sk != user_sk(&learner)
            || r.gsi1pk != external_ids_pk(&tenant, &connection)
            || r.gsi1sk != r.external_id.to_string()
        {
            return Err(RecordError::KeyMismatch);
        }
        Ok(ExternalAccount {
            tenant,
            connection,
            learner,
            external_id: r.external_id,
            created_by_us: r.created_by_us,
            linked_at: r.linked_at,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LinkRecord {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    tenant: String,
    offering: String,
    connection: String,
    course_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    course_idnumber: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    course_shortname: Option<String>,
    linked_at: DateTime<Utc>,
}

impl From<&CourseLink> for LinkRecord {
    fn from(l: &CourseLink) -> Self {
        Self {
            pk: offering_pk(&l.tenant, &l.offering),
            sk: link_sk(&l.connection),
            gsi1pk: connection_links_pk(&l.tenant, &l.connection),
            gsi1sk: l.offering.to_string(),
            tenant: l.tenant.to_string(),
            offering: l.offering.to_string(),
            connection: l.connection.to_string(),
            course_id: l.course_id,
            course_idnumber: l.course_idnumber.clone(),
            course_shortname: l.course_shortname.clone(),
            linked_at: l.linked_at,
        }
    }
}

impl TryFrom<LinkRecord> for CourseLink {
    type Error = RecordError;

    fn try_from(r: LinkRecord) -> Result<Self, RecordError> {
        let tenant: TenantId = parse_id(r.tenant)?;
        let offering: OfferingId = parse_id(r.offering)?;
        let connection: ConnectionId = parse_id(r.connection)?;
        if r.pk != offering_pk(&tenant, &offering)
            || r.sk != link_sk(&connection)
            || r.gsi1pk != connection_links_pk(&tenant, &connection)
            || r.gsi1sk != offering.as_str()
        {
            return Err(RecordError::KeyMismatch);
        }
        Ok(CourseLink {
            tenant,
            offering,
            connection,
            course_id: r.course_id,
            course_idnumber: r.course_idnumber,
            course_shortname: r.course_shortname,
            linked_at: r.linked_at,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TransferRecord {
    pk: String,
    sk: String,
    tenant: String,
    connection: String,
    offering: String,
    learner: String,
    status: TransferStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    external_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transferred_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    removal_error: Option<String>,
}

impl From<&Transfer> for TransferRecord {
    fn from(t: &Transfer) -> Self {
        Self {
            pk: offering_pk(&t.tenant, &t.offering),
            sk: transfer_sk(&t.connection, &t.learner),
            tenant: t.tenant.to_string(),
            connection: t.connection.to_string(),
            offering: t.offering.to_string(),
            learner: t.learner.to_string(),
            status: t.status.clone(),
            external_user: t.external_user,
            transferred_at: t.transferred_at,
            updated_at: t.updated_at,
            removal_error: t.removal_error.clone(),
        }
    }
}

impl TryFrom<TransferRecord> for Transfer {
    type Error = RecordError;

    fn try_from(r: TransferRecord) -> Result<Self, RecordError> {
        let tenant: TenantId = parse_id(r.tenant)?;
        let connection: ConnectionId = parse_id(r.connection)?;
        let offering: OfferingId = parse_id(r.offering)?;
        let learner: LearnerCode = parse_id(r.learner)?;
        if r.pk != offering_pk(&tenant, &offering) || r.sk != transfer_sk(&connection, &learner) {
            return Err(RecordError::KeyMismatch);
        }
        Ok(Transfer {
            tenant,
            connection,
            offering,
            learner,
            status: r.status,
            external_user: r.external_user,
            transferred_at: r.transferred_at,
            updated_at: r.updated_at,
            removal_error: r.removal_error,
        })
    }
}

fn to_account(r: AccountRecord) -> Result<ExternalAccount, StoreError> {
    ExternalAccount::try_from(r).map_err(|e| corrupt("external account", e))
}

fn to_link(r: LinkRecord) -> Result<CourseLink, StoreError> {
    CourseLink::try_from(r).map_err(|e| corrupt("course link", e))
}

fn to_transfer(r: TransferRecord) -> Result<Transfer, StoreError> {
    Transfer::try_from(r).map_err(|e| corrupt("transfer", e))
}

/// [`LinkStore`] over the data table.
#[derive(Debug, Clone)]
pub struct DynamoLinkStore {
    table: Table,
}

impl DynamoLinkStore {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    /// The learners linked to one external id (the Moodle user id) in a
    /// connection: the other way round from [`LinkStore::account`]. More than
    /// one means two learners share a Moodle user, which a person must resolve.
    pub async fn accounts_by_external_id(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        external_id: i64,
    ) -> Result<Vec<ExternalAccount>, StoreError> {
        let records: Vec<AccountRecord> = self
            .table
            .query_index(
                keys::GSI1,
                &external_ids_pk(tenant, connection),
                &SkRange::Between(external_id.to_string(), external_id.to_string()),
                QueryOptions::default(),
            )
            .await?;
        records.into_iter().map(to_account).collect()
    }

    /// Every link of one offering, one per connection it is linked through.
    pub async fn offering_links(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
    ) -> Result<Vec<CourseLink>, StoreError> {
        let records: Vec<LinkRecord> = self
            .table
            .query(
                &offering_pk(tenant, offering),
                Some(LINK_SK_PREFIX),
                QueryOptions::default(),
            )
            .await?;
        records.into_iter().map(to_link).collect()
    }

    /// Removes an offering's link to a connection's course.
    pub async fn delete_link(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        connection: &ConnectionId,
    ) -> Result<(), StoreError> {
        self.table
            .delete(&offering_pk(tenant, offering), &link_sk(connection))
            .await
    }
}

#[async_trait]
impl LinkStore for DynamoLinkStore {
    async fn accounts_by_external_id(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        external_id: i64,
    ) -> Result<Vec<ExternalAccount>, StoreError> {
        DynamoLinkStore::accounts_by_external_id(self, tenant, connection, external_id).await
    }

    async fn link(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        connection: &ConnectionId,
    ) -> Result<Option<CourseLink>, StoreError> {
        let record: Option<LinkRecord> = self
            .table
            .get(&offering_pk(tenant, offering), &link_sk(connection))
            .await?;
        record.map(to_link).transpose()
    }

    async fn links(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<CourseLink>, StoreError> {
        let records: Vec<LinkRecord> = self
            .table
            .query_index(
                keys::GSI1,
                &connection_links_pk(tenant, connection),
                &SkRange::Any,
                QueryOptions::default(),
            )
            .await?;
        records.into_iter().map(to_link).collect()
    }

    async fn save_link(&self, link: &CourseLink) -> Result<(), StoreError> {
        self.table
            .put(&LinkRecord::from(link), Condition::None)
            .await?;
        Ok(())
    }

    async fn account(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        learner: &LearnerCode,
    ) -> Result<Option<ExternalAccount>, StoreError> {
        let record: Option<AccountRecord> = self
            .table
            .get(&keys::connection(tenant, connection), &user_sk(learner))
            .await?;
        record.map(to_account).transpose()
    }

    async fn accounts(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        learners: &[LearnerCode],
    ) -> Result<Vec<ExternalAccount>, StoreError> {
        let pk = keys::connection(tenant, connection);
        let keys: Vec<(String, String)> = learners
            .iter()
            .map(|code| (pk.clone(), user_sk(code)))
            .collect();
        let records: Vec<AccountRecord> = self.table.batch_get(&keys).await?;
        let mut accounts = records
            .into_iter()
            .map(to_account)
            .collect::<Result<Vec<_>, _>>()?;
        accounts.sort_by(|a, b| a.learner.cmp(&b.learner));
        Ok(accounts)
    }

    /// A conditional put on the learner's key: the first account stored for a
    /// learner stays; any later one (the same or a different external id) is
    /// [`Written::AlreadyDone`] and changes nothing.
    async fn save_account(&self, account: &ExternalAccount) -> Result<Written, StoreError> {
        self.table
            .put(&AccountRecord::from(account), Condition::NotExists)
            .await
    }

    async fn replace_account(&self, account: &ExternalAccount) -> Result<(), StoreError> {
        self.table
            .put(&AccountRecord::from(account), Condition::None)
            .await?;
        Ok(())
    }

    async fn transfer(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
        learner: &LearnerCode,
    ) -> Result<Option<Transfer>, StoreError> {
        let record: Option<TransferRecord> = self
            .table
            .get(
                &offering_pk(tenant, offering),
                &transfer_sk(connection, learner),
            )
            .await?;
        record.map(to_transfer).transpose()
    }

    async fn transfers(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
    ) -> Result<Vec<Transfer>, StoreError> {
        let records: Vec<TransferRecord> = self
            .table
            .query(
                &offering_pk(tenant, offering),
                Some(&transfer_prefix(connection)),
                QueryOptions::default(),
            )
            .await?;
        records.into_iter().map(to_transfer).collect()
    }

    async fn save_transfer(&self, transfer: &Transfer) -> Result<(), StoreError> {
        self.table
            .put(&TransferRecord::from(transfer), Condition::None)
            .await?;
        Ok(())
    }

    /// `BatchWriteItem`, 25 per call (an offering's transfers are unique per
    /// learner, so one call never holds a key twice).
    async fn save_transfers(&self, transfers: &[Transfer]) -> Result<(), StoreError> {
        let records: Vec<TransferRecord> = transfers.iter().map(TransferRecord::from).collect();
        self.table.batch_put(&records).await
    }

    /// Each a conditional put (a batch write cannot be conditional), up to
    /// [`ACCOUNT_WRITES_IN_FLIGHT`] at once.
    async fn save_accounts(
        &self,
        accounts: &[ExternalAccount],
    ) -> Result<Vec<Written>, StoreError> {
        use futures::{StreamExt, TryStreamExt};
        let records: Vec<AccountRecord> = accounts.iter().map(AccountRecord::from).collect();
        futures::stream::iter(records)
            .map(|record: AccountRecord| async move {
                self.table.put(&record, Condition::NotExists).await
            })
            .buffered(ACCOUNT_WRITES_IN_FLIGHT)
            .try_collect()
            .await
    }
}

/// Conditional account writes one `save_accounts` has in flight at once.
const ACCOUNT_WRITES_IN_FLIGHT: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_architecture() {
        let t = TenantId::parse("acme").unwrap();
        let c = ConnectionId::parse("moodle").unwrap();
        let l = LearnerCode::parse("X1").unwrap();
        assert_eq!(user_sk(&l), "USER#X1");
        assert_eq!(external_ids_pk(&t, &c), "T#acme#CONN#moodle#EXT");
        assert_eq!(link_sk(&c), "LINK#moodle");
        assert_eq!(connection_links_pk(&t, &c), "T#acme#CONN#moodle#LINKS");
        assert_eq!(transfer_sk(&c, &l), "XFER#moodle#X1");
    }

    #[test]
    fn a_transfer_prefix_does_not_reach_a_connection_with_a_longer_id() {
        // `XFER#moodle#` is not a prefix of `XFER#moodle-2#X1`.
        let c = ConnectionId::parse("moodle").unwrap();
        let other = ConnectionId::parse("moodle-2").unwrap();
        let l = LearnerCode::parse("X1").unwrap();
        assert!(!transfer_sk(&other, &l).starts_with(&transfer_prefix(&c)));
    }
}
