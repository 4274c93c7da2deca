//! Ports: what the use cases need from the outside world, in domain terms.
//! AWS and HTTP adapters implement them; nothing here returns an SDK type.

use crate::connection::Connection;
use crate::ids::{ConnectionId, RunId, TenantId};
use crate::job::Job;
use crate::run::{LeaseOutcome, Run, RunLogLine, RunStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A boxed error from an adapter, kept as a typed source (never flattened to a string).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The outcome of a conditional write: an idempotency conflict is an outcome, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// This call wrote it.
    Done,
    /// It was already there (a duplicate message or a re-run): nothing changed.
    AlreadyDone,
}

/// Errors from a store, classified where they arise.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, timeouts, connection failures, 5xx: try again.
    #[error("the store is unavailable")]
    Unavailable(#[source] BoxError),
    /// The store refused the request (validation, permissions, missing table): a
    /// person must act; retrying will not help.
    #[error("the store refused the request")]
    Rejected(#[source] BoxError),
    /// A stored record could not be read back as what it should be.
    #[error("stored {what} could not be read")]
    Corrupt {
        what: String,
        #[source]
        source: BoxError,
    },
    /// Someone else changed the record since it was read (optimistic concurrency).
    #[error("{what} was changed by someone else; read it again")]
    Conflict { what: String },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Conflict { .. }
        )
    }
}

/// Errors from a queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("the queue refused the message: {reason}")]
    Rejected { reason: String },
    #[error("a job could not be encoded")]
    Encode(#[source] BoxError),
}

impl QueueError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Unavailable(_))
    }
}

/// A stored record that a cross-tenant listing could not read (written by
/// hand, or by an older version): left out so every other tenant is served,
/// and reported with what of it could be read, so the dispatch can record the
/// failure where that tenant's people look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRecord {
    /// The item's key, `pk / sk`.
    pub key: String,
    pub tenant: Option<TenantId>,
    pub connection: Option<ConnectionId>,
    /// Why it could not be read: the attribute at fault and the decoding error.
    pub reason: String,
}

/// Connections, across tenants only for the nightly schedule.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Every enabled connection of every tenant (the nightly sync's one cross-tenant read).
    async fn enabled_connections(&self) -> Result<Vec<Connection>, StoreError>;
    /// As [`ConnectionStore::enabled_connections`], with the enabled
    /// connections' records that could not be read listed beside the others
    /// instead of failing the whole list.
    async fn enabled_connections_checked(
        &self,
    ) -> Result<(Vec<Connection>, Vec<UnreadableRecord>), StoreError> {
        Ok((self.enabled_connections().await?, Vec::new()))
    }
    async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError>;
    async fn connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, StoreError>;
    /// A tenant's connections as [`ConnectionStore::connections`], with the
    /// records that could not be read listed beside them (a person repairs
    /// them), instead of failing the whole list.
    async fn connections_checked(
        &self,
        tenant: &TenantId,
    ) -> Result<(Vec<Connection>, Vec<UnreadableRecord>), StoreError> {
        Ok((self.connections(tenant).await?, Vec::new()))
    }
    async fn save_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    /// Stores a new connection only if the tenant has none with its id, nor
    /// (for a kind [`crate::ConnectionKind::one_per_tenant`]) one of its kind:
    /// [`Written::AlreadyDone`] (changing nothing) when it has, so two creates
    /// racing never both succeed.
    async fn create_connection(&self, connection: &Connection) -> Result<Written, StoreError>;
}

/// Runs and their logs.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Records a new run; the same run id twice is [`Written::AlreadyDone`].
    async fn start_run(&self, run: &Run) -> Result<Written, StoreError>;
    async fn run(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<Option<Run>, StoreError>;
    async fn append_log(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        lines: &[RunLogLine],
    ) -> Result<(), StoreError>;
    /// The whole log (a person reads it a page at a time: [`RunStore::log_page`]).
    async fn log(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<Vec<RunLogLine>, StoreError>;
    /// The log's lines after line `after` (0: from the first), at most `limit`.
    async fn log_page(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        after: u64,
        limit: usize,
    ) -> Result<crate::run::LogPage, StoreError> {
        let all = self.log(tenant, connection, run).await?;
        Ok(crate::run::LogPage::of(all, after, limit))
    }
    /// Appends `lines` and adds `counts` only the first time `key` is given
    /// for this run (a redelivered job's second attempt changes nothing);
    /// true when it did.
    async fn append_once(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        key: &str,
        lines: &[RunLogLine],
        counts: &[(&str, u64)],
    ) -> Result<bool, StoreError>;
    async fn finish_run(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        status: RunStatus,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// A person asks a running download to stop (what was read so far is kept).
    /// False when there is no such run.
    async fn request_stop(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<bool, StoreError>;
    /// A connection's runs that started in `[from, to]` (either end open), newest
    /// first, at most `limit`: its history.
    async fn history(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError>;
    /// Whether a person asked the run to stop.
    async fn stop_requested(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<bool, StoreError>;
    /// Takes (or renews) the connection's lease for `run` until `until`: granted
    /// when no run holds it, when `run` already does, or when the holder's lease
    /// ran out before `now` (then `taken_from` names that run). Atomic: two runs
    /// asking at once never both get it.
    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError>;
    /// Gives the lease back, if `run` still holds it (else nothing changes).
    async fn release_lease(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
    ) -> Result<(), StoreError>;
    /// Sets what the run found in one offering (e.g. `blocked`): the last
    /// value set for an offering stands, so an offering pushed again in the
    /// same run (a retried job) replaces its figures instead of adding to
    /// them. The run's [`Run::counts`] sum them over its offerings, and
    /// `offerings_pushed` is how many offerings have figures.
    async fn set_offering_counts(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        offering: &str,
        counts: &[(&str, u64)],
    ) -> Result<(), StoreError>;
    /// Adds to the run's counts, atomically per name (stages add concurrently).
    async fn add_counts(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        counts: &[(&str, u64)],
    ) -> Result<(), StoreError>;
}

/// A tenant's own settings (run history retention, the run-error email).
#[async_trait]
pub trait TenantSettingsStore: Send + Sync {
    /// The tenant's settings; the defaults when it never set any.
    async fn tenant_settings(
        &self,
        tenant: &TenantId,
    ) -> Result<crate::tenant::TenantSettings, StoreError>;
    async fn save_tenant_settings(
        &self,
        tenant: &TenantId,
        settings: &crate::tenant::TenantSettings,
    ) -> Result<(), StoreError>;
}

/// A job that could not be enqueued, by its index in the batch.
#[derive(Debug)]
pub struct EnqueueFailure {
    pub index: usize,
    pub error: QueueError,
}

/// Sends jobs to the queue each belongs on.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Enqueues every job; returns those that failed, by index, so the caller
    /// can report exactly which ones (the rest were sent).
    async fn enqueue(&self, jobs: &[Job]) -> Result<Vec<EnqueueFailure>, QueueError>;
    /// Enqueues one job that becomes visible only after `delay_seconds` (at most
    /// [`MAX_DELAY_SECONDS`]; longer delays are cut to it).
    async fn enqueue_delayed(&self, job: &Job, delay_seconds: u32) -> Result<(), QueueError>;
}

/// The longest a queued job can wait before it is delivered (SQS's limit).
pub const MAX_DELAY_SECONDS: u32 = 900;

/// Tenant API keys, stored only as hashes.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// The tenant a key hash belongs to, if the key exists and is not revoked.
    async fn tenant_for(&self, key_hash: &str) -> Result<Option<TenantId>, StoreError>;
    async fn save_key(
        &self,
        key_hash: &str,
        tenant: &TenantId,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError>;
    /// Whether a key hash is live, revoked or unknown. This default cannot tell
    /// revoked from unknown; stores that keep revoked keys say which.
    async fn key_state(&self, key_hash: &str) -> Result<KeyState, StoreError> {
        Ok(KeyState::from_tenant(self.tenant_for(key_hash).await?))
    }
    /// The tenant's keys, oldest first, revoked ones included (never a key or its hash).
    async fn list_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyInfo>, StoreError>;
    /// Revokes the tenant's key with this id; `false` when the tenant has no such key.
    /// A revoked key is refused from the next request on.
    async fn revoke_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// What may be shown of an API key: never the key, nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiKeyInfo {
    /// A public fingerprint (the first [`API_KEY_ID_LEN`] hex digits of the keyed
    /// hash): names the key in a list and in a revoke, and cannot authenticate.
    pub id: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked: bool,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// How many hex digits of a key's hash make its id.
pub const API_KEY_ID_LEN: usize = 16;

/// A key's id from its stored hash.
pub fn api_key_id(key_hash: &str) -> String {
    key_hash.chars().take(API_KEY_ID_LEN).collect()
}

/// One email, with no secret in it unless the connection's settings require it
/// (a generated password for a new Moodle user).
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the mail service is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("the mail service refused the message: {reason}")]
    Rejected { reason: String },
}

impl MailError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, MailError::Unavailable(_))
    }
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

/// Errors that know whether trying again can help. SQS handlers report only
/// retryable failures back to the queue; the rest are recorded and acknowledged.
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

impl Retryable for StoreError {
    fn is_retryable(&self) -> bool {
        StoreError::is_retryable(self)
    }
}

impl Retryable for QueueError {
    fn is_retryable(&self) -> bool {
        QueueError::is_retryable(self)
    }
}

impl Retryable for MailError {
    fn is_retryable(&self) -> bool {
        MailError::is_retryable(self)
    }
}

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

/// Errors reading a secret. None of them carries the secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {name} does not exist")]
    NotFound { name: String },
    #[error("the secret store is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("the secret store refused the request")]
    Rejected(#[source] BoxError),
}

impl Retryable for SecretError {
    fn is_retryable(&self) -> bool {
        matches!(self, SecretError::Unavailable(_))
    }
}

/// Where use cases get a connection's secret (token, signing key); held as a
/// `SecretString` so it never reaches a log by accident.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The secret's value; implementations cache it per instance.
    async fn secret(&self, name: &str) -> Result<secrecy::SecretString, SecretError>;
}

/// The SMS's records: learners, offerings (with assessables), enrolments.
/// Every read and write is scoped by tenant.
#[async_trait]
pub trait SisStore: Send + Sync {
    async fn learner(
        &self,
        tenant: &TenantId,
        code: &crate::LearnerCode,
    ) -> Result<Option<crate::sis::Learner>, StoreError>;
    /// Many learners at once (batched reads); missing ones are left out.
    async fn learners(
        &self,
        tenant: &TenantId,
        codes: &[crate::LearnerCode],
    ) -> Result<Vec<crate::sis::Learner>, StoreError>;
    async fn save_learner(&self, learner: &crate::sis::Learner) -> Result<(), StoreError>;
    async fn offering(
        &self,
        tenant: &TenantId,
        id: &crate::OfferingId,
    ) -> Result<Option<crate::sis::Offering>, StoreError>;
    async fn save_offering(&self, offering: &crate::sis::Offering) -> Result<(), StoreError>;
    async fn enrolment(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        learner: &crate::LearnerCode,
    ) -> Result<Option<crate::sis::Enrolment>, StoreError>;
    /// An offering's enrolments.
    async fn enrolments(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
    ) -> Result<Vec<crate::sis::Enrolment>, StoreError>;
    /// A learner's enrolments, across offerings.
    async fn learner_enrolments(
        &self,
        tenant: &TenantId,
        learner: &crate::LearnerCode,
    ) -> Result<Vec<crate::sis::Enrolment>, StoreError>;
    async fn save_enrolment(&self, enrolment: &crate::sis::Enrolment) -> Result<(), StoreError>;
}

/// What learnbridge keeps per connection: course links, learners' external
/// accounts and each enrolment's transfer.
#[async_trait]
pub trait LinkStore: Send + Sync {
    async fn link(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        connection: &ConnectionId,
    ) -> Result<Option<crate::sis::CourseLink>, StoreError>;
    /// Every offering linked through a connection.
    async fn links(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::sis::CourseLink>, StoreError>;
    async fn save_link(&self, link: &crate::sis::CourseLink) -> Result<(), StoreError>;
    async fn account(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        learner: &crate::LearnerCode,
    ) -> Result<Option<crate::sis::ExternalAccount>, StoreError>;
    /// Many accounts at once (batched reads); learners without one are left out.
    async fn accounts(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        learners: &[crate::LearnerCode],
    ) -> Result<Vec<crate::sis::ExternalAccount>, StoreError>;
    /// Stores a learner's account once: a second, different account for the same
    /// learner is refused ([`Written::AlreadyDone`]), so no learner gets two.
    async fn save_account(
        &self,
        account: &crate::sis::ExternalAccount,
    ) -> Result<Written, StoreError>;
    /// The accounts stored for one external id (a Moodle user id) in a
    /// connection: the other way round from [`LinkStore::account`].
    async fn accounts_by_external_id(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        external_id: i64,
    ) -> Result<Vec<crate::sis::ExternalAccount>, StoreError>;
    /// Replaces a learner's stored account (a person re-linked them).
    async fn replace_account(
        &self,
        account: &crate::sis::ExternalAccount,
    ) -> Result<(), StoreError>;
    async fn transfer(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &crate::OfferingId,
        learner: &crate::LearnerCode,
    ) -> Result<Option<crate::sis::Transfer>, StoreError>;
    /// An offering's transfers to a connection.
    async fn transfers(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &crate::OfferingId,
    ) -> Result<Vec<crate::sis::Transfer>, StoreError>;
    async fn save_transfer(&self, transfer: &crate::sis::Transfer) -> Result<(), StoreError>;
    /// Many transfers at once (batched writes); each as [`LinkStore::save_transfer`].
    async fn save_transfers(&self, transfers: &[crate::sis::Transfer]) -> Result<(), StoreError> {
        for transfer in transfers {
            self.save_transfer(transfer).await?;
        }
        Ok(())
    }
    /// Many accounts at once (side by side); each as [`LinkStore::save_account`],
    /// answered in the order given.
    async fn save_accounts(
        &self,
        accounts: &[crate::sis::ExternalAccount],
    ) -> Result<Vec<Written>, StoreError> {
        let mut written = Vec::with_capacity(accounts.len());
        for account in accounts {
            written.push(self.save_account(account).await?);
        }
        Ok(written)
    }
}

/// Deliveries to the SMS and their attempts.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Stores a new delivery; one with the same id already there is
    /// [`Written::AlreadyDone`] and changes nothing.
    async fn create(&self, delivery: &crate::delivery::Delivery) -> Result<Written, StoreError>;
    async fn delivery(
        &self,
        tenant: &TenantId,
        id: &crate::delivery::DeliveryId,
    ) -> Result<Option<crate::delivery::Delivery>, StoreError>;
    /// Pending deliveries of every tenant whose next attempt is at or before
    /// `now`, oldest first (the retry worker's one cross-tenant read).
    async fn due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<crate::delivery::Delivery>, StoreError>;
    /// As [`DeliveryStore::due`], with the due records that could not be read
    /// listed beside the others instead of failing the whole sweep.
    async fn due_checked(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<(Vec<crate::delivery::Delivery>, Vec<UnreadableRecord>), StoreError> {
        Ok((self.due(now, limit).await?, Vec::new()))
    }
    /// A connection's deliveries in one state, oldest first.
    async fn by_state(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: crate::delivery::DeliveryState,
        limit: usize,
    ) -> Result<Vec<crate::delivery::Delivery>, StoreError>;
    /// Every attempt of one delivery, in order.
    async fn attempts(
        &self,
        tenant: &TenantId,
        id: &crate::delivery::DeliveryId,
    ) -> Result<Vec<crate::delivery::Attempt>, StoreError>;
    /// Stores `delivery` if the stored version is still `delivery.version`,
    /// together with `attempt` (atomically); the stored version becomes
    /// `version + 1`. When someone changed it first: [`StoreError::Conflict`],
    /// and nothing is written, so two workers can never both record a send.
    async fn update(
        &self,
        delivery: &crate::delivery::Delivery,
        attempt: Option<&crate::delivery::Attempt>,
    ) -> Result<(), StoreError>;
}

/// Why a delivery could not even be sent. None of these holds the secret or the body.
#[derive(Debug, thiserror::Error)]
pub enum SmsSendError {
    /// The connection's URL cannot be used: a person must fix the connection.
    #[error("the SMS connection's URL is not valid")]
    BadUrl(#[source] BoxError),
    /// The delivery cannot be written in the SMS's format.
    #[error("the delivery cannot be written in the SMS's format: {reason}")]
    Unencodable { reason: String },
    /// The HTTP client could not be built or the request not prepared.
    #[error("the SMS request could not be prepared")]
    Client(#[source] BoxError),
}

impl Retryable for SmsSendError {
    fn is_retryable(&self) -> bool {
        matches!(self, SmsSendError::Client(_))
    }
}

/// Sends one delivery to a tenant's SMS, signed with the connection's secret.
/// Timeouts and transport failures are answers ([`crate::delivery::SendResult`]), not errors.
#[async_trait]
pub trait SmsClient: Send + Sync {
    async fn send(
        &self,
        connection: &Connection,
        secret: &secrecy::SecretString,
        delivery: &crate::delivery::Delivery,
        now: DateTime<Utc>,
    ) -> Result<crate::delivery::SendResult, SmsSendError>;
}

/// A learning system (Moodle) reached through one connection, in domain terms.
/// Batch operations answer one outcome per record, in input order: a record the
/// site refuses blocks only its own enrolment, with the site's reason.
#[async_trait]
pub trait LearningSystem: Send + Sync {
    /// The site's address, for the emails to learners.
    fn site_url(&self) -> &str;
    /// Users whose `field` is one of `values` (bulk, chunked by the connection's batch size).
    async fn users_by(
        &self,
        field: crate::learning::UserLookup,
        values: &[String],
    ) -> Result<Vec<crate::learning::LmsUser>, crate::learning::LearningError>;
    /// Users with this first and last name (one search per learner: only for name rules).
    async fn users_named(
        &self,
        firstname: &str,
        lastname: &str,
    ) -> Result<Vec<crate::learning::LmsUser>, crate::learning::LearningError>;
    /// Creates users; each outcome is the new user's id.
    async fn create_users(
        &self,
        users: &[crate::learning::NewLmsUser],
    ) -> crate::learning::RecordOutcomes<i64>;
    async fn update_users(
        &self,
        changes: &[crate::learning::UserChanges],
    ) -> crate::learning::RecordOutcomes<()>;
    /// The ids of the users enrolled in a course.
    async fn enrolled_users(&self, course: i64)
    -> Result<Vec<i64>, crate::learning::LearningError>;
    /// Enrols users; enrolling someone already enrolled changes nothing.
    async fn enrol(
        &self,
        enrolments: &[crate::learning::CourseEnrolment],
    ) -> crate::learning::RecordOutcomes<()>;
    /// Unenrols a user; unenrolling someone not enrolled changes nothing.
    async fn unenrol(&self, course: i64, user: i64) -> Result<(), crate::learning::RecordFailure>;
    /// Keeps the enrolment but suspends it.
    async fn suspend_enrolment(
        &self,
        enrolment: &crate::learning::CourseEnrolment,
    ) -> Result<(), crate::learning::RecordFailure>;
    async fn course_by_idnumber(
        &self,
        idnumber: &str,
    ) -> Result<Option<crate::learning::LmsCourse>, crate::learning::LearningError>;
    async fn course(
        &self,
        id: i64,
    ) -> Result<Option<crate::learning::LmsCourse>, crate::learning::LearningError>;
    async fn create_course(
        &self,
        course: &crate::learning::NewLmsCourse,
    ) -> Result<crate::learning::LmsCourse, crate::learning::RecordFailure>;
    async fn update_course(
        &self,
        schedule: &crate::learning::CourseSchedule,
    ) -> Result<(), crate::learning::RecordFailure>;
    async fn categories(
        &self,
    ) -> Result<Vec<crate::learning::LmsCategory>, crate::learning::LearningError>;
    /// A learner's grades and course completion: read before they are removed.
    async fn learner_progress(
        &self,
        course: i64,
        user: i64,
    ) -> Result<crate::learning::LearnerProgress, crate::learning::LearningError>;
    /// Site info and the functions the token's service lacks.
    async fn test(&self) -> Result<crate::learning::SiteReport, crate::learning::LearningError>;
}

/// The learning system behind a connection, built from its settings and secret
/// (and kept per connection within an instance).
#[async_trait]
pub trait LearningSystems: Send + Sync {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<std::sync::Arc<dyn LearningSystem>, crate::learning::LearningError>;
}

/// Where the api writes a connection's secret. Write-only: nothing reads a
/// value back through this port, and no error carries the value.
#[async_trait]
pub trait SecretSink: Send + Sync {
    /// Stores `value` under `name`, creating the secret when it does not exist.
    async fn put_secret(
        &self,
        name: &str,
        value: &secrecy::SecretString,
    ) -> Result<(), SecretError>;
}

/// What an API key hash stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// A live key of this tenant.
    Active(TenantId),
    /// A key that existed and was revoked (or disabled).
    Revoked,
    /// No such key.
    Unknown,
}

impl KeyState {
    /// The state of a key as [`ApiKeyStore::tenant_for`] alone can tell it
    /// (which cannot tell a revoked key from an unknown one).
    pub fn from_tenant(tenant: Option<TenantId>) -> Self {
        tenant.map_or(KeyState::Unknown, KeyState::Active)
    }
}

/// The reads the results download needs from a learning system (Moodle), in
/// domain terms, plus the unenrolment Smartosh's mode does after reading.
#[async_trait]
pub trait GradeSource: Send + Sync {
    /// The course's activities with their type (one call per course).
    async fn course_activities(
        &self,
        course: i64,
    ) -> Result<Vec<crate::results::CourseActivity>, crate::learning::LearningError>;
    /// Every learner's grades in the course, in one call (Moodle: userid 0).
    async fn course_grades(
        &self,
        course: i64,
    ) -> Result<Vec<crate::results::LearnerGrades>, crate::learning::LearningError>;
    /// One activity's pass grade (Moodle: core_course_get_course_module).
    async fn pass_grade(&self, cmid: i64) -> Result<Option<f64>, crate::learning::LearningError>;
    /// One learner's activity completion states, by course module id.
    async fn activities_completion(
        &self,
        course: i64,
        user: i64,
    ) -> Result<Vec<(i64, crate::results::ActivityCompletion)>, crate::learning::LearningError>;
    /// One learner's course completion.
    async fn course_completion(
        &self,
        course: i64,
        user: i64,
    ) -> Result<crate::results::CourseCompletionRead, crate::learning::LearningError>;
    /// Unenrols a learner from the course (after everything was read).
    async fn unenrol(&self, course: i64, user: i64) -> Result<(), crate::learning::LearningError>;
    /// The course's participants with username, idnumber and last course
    /// access, in one call (Moodle: core_enrol_get_enrolled_users).
    async fn participants(
        &self,
        course: i64,
    ) -> Result<Vec<crate::results::Participant>, crate::learning::LearningError>;
}

/// Builds the grade source of a connection.
#[async_trait]
pub trait GradeSources: Send + Sync {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<std::sync::Arc<dyn GradeSource>, crate::learning::LearningError>;
}

/// Mappings, results under review, and each connection's fetch watermark.
#[async_trait]
pub trait ResultStore: Send + Sync {
    /// Stores (replaces) an assessable's mapping.
    async fn save_mapping(&self, mapping: &crate::results::Mapping) -> Result<(), StoreError>;
    /// An offering's mappings to a connection.
    async fn mappings(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::results::Mapping>, StoreError>;
    async fn save_result(&self, result: &crate::results::StoredResult) -> Result<(), StoreError>;
    async fn result(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        learner: &crate::LearnerCode,
        assessable: &crate::AssessableId,
    ) -> Result<Option<crate::results::StoredResult>, StoreError>;
    /// Every result of an offering.
    async fn results(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
    ) -> Result<Vec<crate::results::StoredResult>, StoreError>;
    /// A connection's results in one review state.
    async fn results_by_state(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: crate::results::ReviewState,
        limit: usize,
    ) -> Result<Vec<crate::results::StoredResult>, StoreError>;
    /// When the connection's last complete download started (none: never).
    async fn watermark(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn save_watermark(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The learners (or offerings) whose reads failed in the connection's last
    /// complete download: read again next run whatever changed.
    async fn retries(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::results::RetryEntry>, StoreError>;
    /// Moves the watermark and replaces the retry set, in one write.
    async fn save_progress(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        at: DateTime<Utc>,
        retries: &[crate::results::RetryEntry],
    ) -> Result<(), StoreError>;
    /// The connection's offerings downloaded on their own, each with its own
    /// watermark and retry set (see [`crate::results::OfferingProgress`]).
    async fn offering_progress(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::results::OfferingProgress>, StoreError>;
    /// Replaces one offering's own watermark and retry set, in one write.
    async fn save_offering_progress(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        progress: &crate::results::OfferingProgress,
    ) -> Result<(), StoreError>;
    /// Stores a course completion under review (or done).
    async fn save_completion(
        &self,
        completion: &crate::results::StoredCompletion,
    ) -> Result<(), StoreError>;
    async fn completion(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
        learner: &crate::LearnerCode,
    ) -> Result<Option<crate::results::StoredCompletion>, StoreError>;
    /// Every completion of an offering.
    async fn completions(
        &self,
        tenant: &TenantId,
        offering: &crate::OfferingId,
    ) -> Result<Vec<crate::results::StoredCompletion>, StoreError>;
    /// A connection's completions in one review state.
    async fn completions_by_state(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: crate::results::ReviewState,
        limit: usize,
    ) -> Result<Vec<crate::results::StoredCompletion>, StoreError>;
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

/// An LLN assessment tool (OCSAT, LLN Robot) reached through one connection
/// (docs/connectors/ocsat.md). Implementations get and cache the OAuth2 token,
/// send the API key, and write every call to the connection's [`LlnCallLog`]
/// (obfuscated) when its settings ask for API logging.
#[async_trait]
pub trait LlnApi: Send + Sync {
    /// Obtains a token and makes one cheap authenticated call.
    async fn test_connection(&self) -> Result<(), crate::lln::LlnError>;
    /// Creates a candidate. A username or email the tool already has is
    /// [`crate::lln::LlnError::Duplicate`] (use [`LlnApi::find_candidate`] to
    /// recognise our own earlier create after a lost answer).
    async fn create_candidate(
        &self,
        fields: &crate::lln::CandidateFields,
    ) -> Result<crate::lln::RemoteCandidate, crate::lln::LlnError>;
    /// A candidate by its id; `None` when the tool has no such candidate.
    async fn candidate(
        &self,
        id: &crate::lln::CandidateId,
    ) -> Result<Option<crate::lln::RemoteCandidate>, crate::lln::LlnError>;
    /// The candidate with this username (or, failing that, this email), if any.
    async fn find_candidate(
        &self,
        username: &str,
        email: &str,
    ) -> Result<Option<crate::lln::RemoteCandidate>, crate::lln::LlnError>;
    /// Replaces the candidate's shared fields; pushing the same fields twice changes nothing.
    async fn update_candidate(
        &self,
        id: &crate::lln::CandidateId,
        fields: &crate::lln::CandidateFields,
    ) -> Result<crate::lln::RemoteCandidate, crate::lln::LlnError>;
    /// One page of the assessments modified strictly after `modified_after`,
    /// oldest modification first; `cursor` is the previous page's `next_cursor`.
    async fn assessments_page(
        &self,
        modified_after: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<crate::lln::AssessmentPage, crate::lln::LlnError>;
    /// Every assessment modified after `modified_after`, all pages read.
    async fn assessments_after(
        &self,
        modified_after: DateTime<Utc>,
    ) -> Result<Vec<crate::lln::Assessment>, crate::lln::LlnError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .assessments_page(modified_after, cursor.as_deref())
                .await?;
            all.extend(page.assessments);
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(all),
            }
        }
    }
}

/// The LLN tool behind a connection, built from its settings and secrets (and
/// kept per connection within an instance, so its token is reused).
#[async_trait]
pub trait LlnApis: Send + Sync {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<std::sync::Arc<dyn LlnApi>, crate::lln::LlnError>;
}

/// Where an LLN connector writes each API call while the connection's
/// `api_logging` is on. Calls arrive already obfuscated ([`crate::lln::obfuscate`]).
/// A failure to log never fails the call itself: the connector reports it and goes on.
#[async_trait]
pub trait LlnCallLog: Send + Sync {
    async fn record(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        call: &crate::lln::ApiCall,
    ) -> Result<(), StoreError>;
}

/// A learner's invitation in one LLN connection: the candidate learnbridge
/// pushed, and the staff member assigned when it was created (the connection's
/// `default_staff`, LLN-08).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LlnInvitation {
    pub candidate: crate::lln::LlnCandidate,
    pub staff: Option<String>,
}

/// Where a download of LLN assessments is: held open until a person saves or
/// cancels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlnDownloadState {
    Open,
    Saved,
    Cancelled,
}

/// One download of assessments from an LLN tool, with each item's status
/// (Ok / Error with the reason / Done), held until saved or cancelled.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LlnDownload {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    /// UUIDv7 (time-ordered).
    pub id: String,
    /// Only this learner's candidate (None: every candidate of the connection).
    pub learner: Option<crate::LearnerCode>,
    /// The modified date asked for (the stored one, or a person's override).
    pub modified_after: Option<DateTime<Utc>>,
    /// Whether `modified_after` was a person's override of the stored date.
    pub overridden: bool,
    pub items: Vec<crate::lln::DownloadedAssessment>,
    pub state: LlnDownloadState,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// What happened, in the LLN history (audit trail, LLN-44).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlnAction {
    CandidateCreated,
    CandidateUpdated,
    CandidatePushFailed,
    CandidateExcluded,
    AssessmentsDownloaded,
    AssessmentSaved,
    DownloadSaved,
    DownloadCancelled,
    AssessmentEdited,
    ApiLoggingSwitched,
}

/// One LLN transaction in the history. `detail` holds ids and counts, never
/// secrets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LlnHistoryEntry {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub at: DateTime<Utc>,
    pub action: LlnAction,
    pub learner: Option<crate::LearnerCode>,
    pub detail: String,
}

/// What learnbridge keeps per LLN connection: invitations (candidates) by
/// learner and by the tool's candidate id, the stored modified date, downloads
/// held until saved or cancelled, saved assessments (once per assessment id),
/// the API call log (expiring) and the history. Every read and write is scoped
/// by tenant.
#[async_trait]
pub trait LlnStore: Send + Sync {
    async fn invitation(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        learner: &crate::LearnerCode,
    ) -> Result<Option<LlnInvitation>, StoreError>;
    async fn invitation_by_candidate(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        candidate: &crate::lln::CandidateId,
    ) -> Result<Option<LlnInvitation>, StoreError>;
    /// Every invitation of the connection, by learner code.
    async fn invitations(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<LlnInvitation>, StoreError>;
    /// Stores (replaces) the invitation of its learner.
    async fn save_invitation(&self, invitation: &LlnInvitation) -> Result<(), StoreError>;
    /// The invitations whose candidate was pushed with this email (trimmed,
    /// case-insensitive): the username rule asks whether an email is shared.
    /// Adapters should answer without reading every invitation; this default does.
    async fn invitations_with_email(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        email: &str,
    ) -> Result<Vec<LlnInvitation>, StoreError> {
        let wanted = email.trim().to_lowercase();
        Ok(self
            .invitations(tenant, connection)
            .await?
            .into_iter()
            .filter(|i| i.candidate.pushed.email.trim().to_lowercase() == wanted)
            .collect())
    }
    /// The stored modified date: downloads ask for assessments modified after it.
    async fn modified_since(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn save_modified_since(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Stores a new (open) download with its items.
    async fn create_download(&self, download: &LlnDownload) -> Result<(), StoreError>;
    async fn download(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        id: &str,
    ) -> Result<Option<LlnDownload>, StoreError>;
    /// Closes an open download as saved or cancelled. Already closed:
    /// [`Written::AlreadyDone`], nothing changed.
    async fn close_download(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        id: &str,
        state: LlnDownloadState,
        at: DateTime<Utc>,
    ) -> Result<Written, StoreError>;
    /// Saves an assessment once per assessment id: a second save is
    /// [`Written::AlreadyDone`] and changes nothing.
    async fn save_assessment(
        &self,
        assessment: &crate::lln::SavedAssessment,
    ) -> Result<Written, StoreError>;
    /// Replaces a saved assessment (a person's edit of status, staff, comment).
    async fn update_assessment(
        &self,
        assessment: &crate::lln::SavedAssessment,
    ) -> Result<(), StoreError>;
    async fn assessment(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        id: &crate::lln::AssessmentId,
    ) -> Result<Option<crate::lln::SavedAssessment>, StoreError>;
    /// Every saved assessment of the connection.
    async fn assessments(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::lln::SavedAssessment>, StoreError>;
    /// The connection's API call log (what has not expired), oldest first.
    async fn api_calls(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<crate::lln::ApiCall>, StoreError>;
    async fn record_history(&self, entry: &LlnHistoryEntry) -> Result<(), StoreError>;
    /// History entries from `from` to `to` (both included), oldest first.
    async fn history(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LlnHistoryEntry>, StoreError>;
}
