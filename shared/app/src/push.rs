//! Enrolment push: the transfer preview of an offering, pushing its ready
//! enrolments to the linked Moodle course, and the nightly export of a connection.
//!
//! Batched: the look-ups, creates and enrolments of a push go to Moodle in
//! chunks of the connection's batch size (100), one call per chunk per field.
//! Idempotent: every effect is recorded (the learner's Moodle account, the
//! enrolment's transfer) as it happens, and a push plans from what is recorded,
//! so a duplicate message or a re-run creates no second user and no second
//! enrolment, and writes no second log line.

pub use crate::errors::error_text;
use crate::jobs::{Begin, JobError, Pipeline};
use chrono::{DateTime, Utc};
use domain::connection::{ConnectionSettings, MoodleSettings, NewUserAuth};
use domain::learning::{
    CourseEnrolment, LearningError, LmsUser, NewLmsUser, NewUserPassword, RecordFailure, UserLookup,
};
use domain::matching::{self, MatchDecision, MatchedBy};
use domain::messages::{self, CourseInvite};
use domain::plan::{self, PlanEntry, Step};
use domain::ports::{
    ConnectionStore, Email, JobQueue, LearningSystem, LearningSystems, LinkStore, Mailer,
    QueueError, Retryable, RunStore, SisStore, StoreError, TenantSettingsStore, Written,
};
use domain::sis::{
    BlockReason, CourseLink, Enrolment, EnrolmentState, ExternalAccount, Learner, Offering,
    Transfer, TransferStatus,
};
use domain::zone::TenantZone;
use domain::{
    Connection, ConnectionId, Job, LearnerCode, LogLevel, OfferingId, RunId, RunLogLine, TenantId,
    Trigger, run::counts, transfer,
};
use futures::StreamExt;
use secrecy::SecretString;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Why a push (or another enrolment-push use case) failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Learning(#[from] LearningError),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    CourseKey(#[from] crate::roster::RosterPushError),
    #[error("connection {connection} does not exist for tenant {tenant}")]
    UnknownConnection {
        tenant: TenantId,
        connection: ConnectionId,
    },
    #[error("connection {connection} is not a Moodle connection")]
    NotMoodle { connection: ConnectionId },
    #[error("offering {offering} does not exist for tenant {tenant}")]
    UnknownOffering {
        tenant: TenantId,
        offering: OfferingId,
    },
    #[error("offering {offering} is not linked to a course of connection {connection}")]
    NotLinked {
        offering: OfferingId,
        connection: ConnectionId,
    },
    #[error(
        "no Moodle course has ID number {idnumber}: create one, or set the course's ID number in Moodle and check again"
    )]
    CourseNotFound { idnumber: String },
    #[error("Moodle course {course} does not exist")]
    UnknownCourse { course: i64 },
    #[error("Moodle category {category} does not exist; choose one of Moodle's categories")]
    UnknownCategory { category: i64 },
    #[error("learner {learner} has no Moodle account in connection {connection}")]
    NoAccount {
        learner: LearnerCode,
        connection: ConnectionId,
    },
    /// A learner's results could not be read before their removal: nothing
    /// was removed.
    #[error("the learner's results could not be read before the removal")]
    ResultsNotRead(#[source] Box<crate::results::ResultsError>),
    #[error("learner {learner} does not exist for tenant {tenant}")]
    UnknownLearner {
        tenant: TenantId,
        learner: LearnerCode,
    },
    #[error("Moodle user {moodle_user_id} does not exist on the connection's site")]
    UnknownMoodleUser { moodle_user_id: i64 },
    #[error(
        "Moodle user {moodle_user_id} is already the account of learner {learner} in this connection; one Moodle user belongs to one learner"
    )]
    AccountHeld {
        moodle_user_id: i64,
        learner: LearnerCode,
    },
    /// Moodle refused one record; the reason (for the person who acts) is the
    /// source, apart from the message, which names no person: the run log
    /// shows both ([`error_text`]), traces only the message.
    #[error("Moodle refused the {what}")]
    Refused {
        what: &'static str,
        #[source]
        reason: BlockReason,
    },
}

impl Retryable for PushError {
    fn is_retryable(&self) -> bool {
        match self {
            PushError::Store(e) => e.is_retryable(),
            PushError::Queue(e) => e.is_retryable(),
            PushError::Learning(e) => e.is_retryable(),
            PushError::Job(e) => e.is_retryable(),
            PushError::CourseKey(e) => e.is_retryable(),
            PushError::ResultsNotRead(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl From<RecordFailure> for PushError {
    fn from(f: RecordFailure) -> Self {
        match f {
            RecordFailure::Failed(e) => PushError::Learning(e),
            RecordFailure::Refused(reason) => PushError::Refused {
                what: "change",
                reason,
            },
        }
    }
}

/// The ports enrolment push uses.
pub struct Push<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub runs: &'a dyn RunStore,
    pub queue: &'a dyn JobQueue,
    pub sis: &'a dyn SisStore,
    pub links: &'a dyn LinkStore,
    pub learning: &'a dyn LearningSystems,
    pub mailer: &'a dyn Mailer,
    pub tenants: &'a dyn TenantSettingsStore,
    /// The time now: a run's end is taken when it ends, not when its job began.
    pub clock: fn() -> DateTime<Utc>,
}

/// A change sent to every linked connection: how many were updated, and the
/// connections that refused it (each recorded on its own history; one
/// connection's refusal never stops the others).
#[derive(Debug, Default)]
pub struct Synced {
    pub updated: usize,
    pub failures: Vec<ConnectionFailure>,
}

/// A connection that could not take a change, and why (never retryable: a
/// transient failure makes the whole job come back instead).
#[derive(Debug)]
pub struct ConnectionFailure {
    pub connection: ConnectionId,
    pub error: PushError,
}

impl Synced {
    /// Records `result` of one connection: counted, kept as a failure, or
    /// (transient) handed back so the job is tried again.
    pub(crate) fn add(
        &mut self,
        connection: &ConnectionId,
        result: Result<bool, PushError>,
    ) -> Result<(), PushError> {
        match result {
            Ok(true) => self.updated += 1,
            Ok(false) => {}
            Err(e) if e.is_retryable() => return Err(e),
            Err(error) => self.failures.push(ConnectionFailure {
                connection: connection.clone(),
                error,
            }),
        }
        Ok(())
    }
}

/// One row of the transfer preview.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewRow {
    pub learner: LearnerCode,
    pub status: TransferStatus,
}

/// What one push did, in counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    pub created: usize,
    pub linked: usize,
    pub enrolled: usize,
    pub already_enrolled: usize,
    pub blocked: usize,
    pub called: usize,
    pub emails: usize,
    /// Learners left ready for the next run: Moodle could not be searched for them.
    pub unavailable: usize,
}

impl PushReport {
    /// Adds another part's counts (a batch's) to these.
    fn absorb(&mut self, other: &PushReport) {
        self.created += other.created;
        self.linked += other.linked;
        self.enrolled += other.enrolled;
        self.already_enrolled += other.already_enrolled;
        self.blocked += other.blocked;
        self.called += other.called;
        self.emails += other.emails;
        self.unavailable += other.unavailable;
    }
}

/// The connection's Moodle settings, or why there are none.
pub(crate) async fn moodle_connection(
    connections: &dyn ConnectionStore,
    tenant: &TenantId,
    connection: &ConnectionId,
) -> Result<(Connection, MoodleSettings), PushError> {
    let Some(conn) = connections.connection(tenant, connection).await? else {
        return Err(PushError::UnknownConnection {
            tenant: tenant.clone(),
            connection: connection.clone(),
        });
    };
    let ConnectionSettings::Moodle(settings) = &conn.settings else {
        return Err(PushError::NotMoodle {
            connection: connection.clone(),
        });
    };
    let settings = settings.clone();
    Ok((conn, settings))
}

fn line(level: LogLevel, message: String, now: DateTime<Utc>) -> RunLogLine {
    RunLogLine {
        at: now,
        level,
        message,
    }
}

/// A password for a new user (only used when the connection generates them).
fn new_password() -> SecretString {
    messages::generated_password(rand::random())
}

/// Everything loaded for one offering's push or preview.
struct Loaded {
    offering: Offering,
    link: Option<CourseLink>,
    enrolments: Vec<Enrolment>,
    learners: HashMap<LearnerCode, Learner>,
    transfers: HashMap<LearnerCode, Transfer>,
    accounts: HashMap<LearnerCode, ExternalAccount>,
    /// The tenant's zone: an enrolment's start is its local midnight.
    zone: TenantZone,
}

impl Loaded {
    fn entry<'a>(&'a self, e: &'a Enrolment) -> PlanEntry<'a> {
        PlanEntry {
            enrolment: e,
            learner: self.learners.get(&e.learner),
            transfer: self.transfers.get(&e.learner),
            account: self.accounts.get(&e.learner),
        }
    }
}

/// What the look-ups of a push found, and the learners whose own search could
/// not be made.
struct LookedUp {
    found: Vec<LmsUser>,
    /// Learners whose search (by name, or by email: one call per learner)
    /// stayed unavailable through every try, with why. Nothing is decided for
    /// them in this push: they stay as they were (ready) for the next run,
    /// while the others go on.
    unavailable: Vec<(LearnerCode, LearningError)>,
}

/// Values to look up, per field, for the given learners.
///
/// The bulk look-ups (by id, by idnumber or username, 100 values a call)
/// fail the push when they stay unavailable: a retry repeats few calls. A
/// search made for one learner (by name, by email) that stays unavailable
/// leaves only that learner out ([`LookedUp::unavailable`]): among a
/// thousand such searches a few fail every try under a flaky site, and
/// failing the whole push for one would start it all over.
async fn look_up(
    lms: &dyn LearningSystem,
    settings: &MoodleSettings,
    learners: &[&Learner],
    accounts: &HashMap<LearnerCode, ExternalAccount>,
) -> Result<LookedUp, LearningError> {
    let mut found = Vec::new();
    let mut unavailable: Vec<(LearnerCode, LearningError)> = Vec::new();
    let stored: Vec<String> = learners
        .iter()
        .filter_map(|l| accounts.get(&l.code))
        .map(|a| a.external_id.to_string())
        .collect();
    if !stored.is_empty() {
        found.extend(lms.users_by(UserLookup::Id, &stored).await?);
    }
    let mut unlinked: Vec<&Learner> = learners
        .iter()
        .copied()
        .filter(|l| !accounts.contains_key(&l.code))
        .collect();
    if unlinked.is_empty() {
        return Ok(LookedUp { found, unavailable });
    }
    // Side by side: the connection's permits (`max_concurrency`) bound the
    // calls in flight, as for every other call.
    if matching::needs_name_search(settings) {
        let named = futures::future::join_all(
            unlinked
                .iter()
                .map(|l| lms.users_named(l.given_name.trim(), l.family_name.trim())),
        )
        .await;
        for (l, answer) in unlinked.iter().zip(named) {
            match answer {
                Ok(users) => found.extend(users),
                Err(e) if e.is_retryable() => unavailable.push((l.code.clone(), e)),
                Err(e) => return Err(e),
            }
        }
        unlinked.retain(|l| !unavailable.iter().any(|(code, _)| *code == l.code));
    }
    let fields = matching::lookup_fields(settings);
    let values = |field: UserLookup| -> Vec<String> {
        unlinked
            .iter()
            .filter_map(|l| matching::lookup_value(l, field, settings))
            .collect()
    };
    // The fields before email at once; email last, one search per address
    // (Moodle's search by email ignores case, its exact look-up does not),
    // and only for the learners the other look-ups left to be created.
    let before: Vec<(UserLookup, Vec<String>)> = fields
        .iter()
        .filter(|f| **f != UserLookup::Email)
        .map(|f| (*f, values(*f)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let answers =
        futures::future::try_join_all(before.iter().map(|(f, v)| lms.users_by(*f, v))).await?;
    found.extend(answers.into_iter().flatten());
    if fields.contains(&UserLookup::Email) {
        // One call per address (as the adapter makes them), so that one
        // address Moodle cannot be asked about holds back only its learners.
        // Keyed as Moodle compares emails ([`matching::same_email`]).
        let mut by_address: BTreeMap<String, (String, Vec<LearnerCode>)> = BTreeMap::new();
        for l in unlinked
            .iter()
            .filter(|l| matching::needs_email_lookup(l, settings, &found))
        {
            if let Some(email) = matching::lookup_value(l, UserLookup::Email, settings) {
                by_address
                    .entry(email.trim().to_lowercase())
                    .or_insert_with(|| (email, Vec::new()))
                    .1
                    .push(l.code.clone());
            }
        }
        let answers = futures::future::join_all(
            by_address
                .values()
                .map(|(email, _)| lms.users_by(UserLookup::Email, std::slice::from_ref(email))),
        )
        .await;
        for ((_, codes), answer) in by_address.into_values().zip(answers) {
            match answer {
                Ok(users) => found.extend(users),
                Err(e) if e.is_retryable() => {
                    let reason = error_text(&e);
                    for code in codes {
                        unavailable.push((code, LearningError::Unavailable(reason.clone().into())));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(LookedUp { found, unavailable })
}

/// What every batch of one push shares.
struct Chunk<'a> {
    tenant: &'a TenantId,
    connection: &'a ConnectionId,
    run: &'a RunId,
    settings: &'a MoodleSettings,
    loaded: &'a Loaded,
    lms: &'a dyn LearningSystem,
    link: &'a CourseLink,
    /// The course's participants, read once per push when a batch first
    /// needs them (for the users that exist: enrolled already, or not).
    enrolled: futures::lock::Mutex<Option<BTreeSet<i64>>>,
    now: DateTime<Utc>,
}

impl Chunk<'_> {
    async fn enrolled_users(&self) -> Result<BTreeSet<i64>, LearningError> {
        let mut enrolled = self.enrolled.lock().await;
        if let Some(users) = &*enrolled {
            return Ok(users.clone());
        }
        let users: BTreeSet<i64> = self
            .lms
            .enrolled_users(self.link.course_id)
            .await?
            .into_iter()
            .collect();
        *enrolled = Some(users.clone());
        Ok(users)
    }
}

/// What one batch did: its counts, the enrolments it blocked, the lines
/// still to log (warnings), and a transient failure of one of its calls.
#[derive(Default)]
struct ChunkDone<'a> {
    report: PushReport,
    blocked: Vec<(&'a Enrolment, Vec<BlockReason>)>,
    log: Vec<RunLogLine>,
    transient: Option<LearningError>,
}

/// Batches of one push in flight at once (see [`Push::push_offering`]).
const CHUNKS_IN_FLIGHT: usize = 4;

/// Local midnight (in the tenant's zone) of the enrolment's start date:
/// Moodle's `timestart`, so an enrolment starting today is active all day.
fn time_start(e: &Enrolment, zone: TenantZone) -> Option<DateTime<Utc>> {
    e.start_date.map(|d| zone.start_of_day(d))
}

/// A learner who goes to Moodle in this push, and how.
struct Going<'a> {
    enrolment: &'a Enrolment,
    learner: &'a Learner,
    user: i64,
    created: bool,
    password: Option<SecretString>,
    username: Option<String>,
}

impl Push<'_> {
    async fn load(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
    ) -> Result<Loaded, PushError> {
        // Everything that does not depend on another read is read at once.
        let (off, link, enrolments, transfers, tenant_settings) = futures::try_join!(
            self.sis.offering(tenant, offering),
            self.links.link(tenant, offering, connection),
            self.sis.enrolments(tenant, offering),
            self.links.transfers(tenant, connection, offering),
            self.tenants.tenant_settings(tenant),
        )?;
        let Some(off) = off else {
            return Err(PushError::UnknownOffering {
                tenant: tenant.clone(),
                offering: offering.clone(),
            });
        };
        let enrolments: Vec<Enrolment> = enrolments
            .into_iter()
            .filter(transfer::is_pushable)
            .collect();
        let codes: Vec<LearnerCode> = enrolments.iter().map(|e| e.learner.clone()).collect();
        let (learners, accounts) = futures::try_join!(
            self.sis.learners(tenant, &codes),
            self.links.accounts(tenant, connection, &codes),
        )?;
        let learners = learners.into_iter().map(|l| (l.code.clone(), l)).collect();
        let transfers = transfers
            .into_iter()
            .map(|t| (t.learner.clone(), t))
            .collect();
        let accounts = accounts
            .into_iter()
            .map(|a| (a.learner.clone(), a))
            .collect();
        let zone = tenant_settings.zone();
        Ok(Loaded {
            offering: off,
            link,
            enrolments,
            learners,
            transfers,
            accounts,
            zone,
        })
    }

    /// The transfer preview: every enrolment (but completed ones) as ready,
    /// transferred, removed or blocked with every reason, Moodle's included.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, offering = %offering))]
    pub async fn preview(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
    ) -> Result<Vec<PreviewRow>, PushError> {
        let (conn, settings) = moodle_connection(self.connections, tenant, connection).await?;
        let loaded = self.load(tenant, connection, offering).await?;
        let pending: Vec<&Learner> = loaded
            .enrolments
            .iter()
            .filter(|e| transfer::needs_push(loaded.transfers.get(&e.learner)))
            .filter_map(|e| loaded.learners.get(&e.learner))
            .collect();
        let found = if pending.is_empty() {
            Vec::new()
        } else {
            let lms = self.learning.for_connection(&conn).await?;
            let looked = look_up(lms.as_ref(), &settings, &pending, &loaded.accounts).await?;
            // A preview is a person's request: a search Moodle did not answer
            // is theirs to try again, not a guess.
            if let Some((_, e)) = looked.unavailable.into_iter().next() {
                return Err(e.into());
            }
            looked.found
        };
        let linked = loaded.link.is_some();
        Ok(loaded
            .enrolments
            .iter()
            .map(|e| {
                let step = plan::plan_entry(&settings, linked, loaded.entry(e), &found);
                let status = match step {
                    Step::AlreadyDone => {
                        transfer::preview_status(loaded.transfers.get(&e.learner), Vec::new())
                    }
                    Step::Blocked(reasons) => TransferStatus::Blocked { reasons },
                    Step::Enrol { .. } | Step::CreateAndEnrol => TransferStatus::Ready,
                };
                PreviewRow {
                    learner: e.learner.clone(),
                    status,
                }
            })
            .collect())
    }

    /// Pushes an offering's ready enrolments to its linked course and, when
    /// `call` is set (the nightly export), marks the not-called ones that are
    /// in Moodle as in progress with the session date. Log lines go on `run`.
    /// Whatever went through is recorded even when a transient failure stops
    /// the rest, which is then returned so the job is tried again.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, offering = %offering, run = %run))]
    pub async fn push_offering(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
        run: &RunId,
        call: bool,
        now: DateTime<Utc>,
    ) -> Result<PushReport, PushError> {
        let (conn, settings) = moodle_connection(self.connections, tenant, connection).await?;
        // The site's client (its secret read) side by side with the offering's
        // records; it is used, and its failure counts, only if someone goes.
        let (loaded, site) = futures::join!(
            self.load(tenant, connection, offering),
            self.learning.for_connection(&conn)
        );
        let loaded = loaded?;
        let mut log: Vec<RunLogLine> = Vec::new();
        let mut report = PushReport::default();
        let mut transient: Option<LearningError> = None;
        let linked = loaded.link.is_some();

        // Only those a push can send go to Moodle: pending, with nothing local to fix.
        let (sendable, local): (Vec<&Enrolment>, Vec<&Enrolment>) =
            loaded.enrolments.iter().partition(|e| {
                transfer::needs_push(loaded.transfers.get(&e.learner))
                    && loaded.learners.contains_key(&e.learner)
                    && transfer::local_blocks(loaded.learners.get(&e.learner), e, linked).is_empty()
            });
        let mut blocked: Vec<(&Enrolment, Vec<BlockReason>)> = Vec::new();
        for e in local {
            if let Step::Blocked(reasons) =
                plan::plan_entry(&settings, linked, loaded.entry(e), &[])
            {
                blocked.push((e, reasons));
            }
        }
        let lms = if sendable.is_empty() {
            None
        } else {
            Some(site?)
        };
        if let (Some(lms), Some(link)) = (&lms, &loaded.link) {
            // A batch of learners at a time, from their look-ups to their
            // emails, [`CHUNKS_IN_FLIGHT`] batches at once: one batch's
            // stores and emails overlap the next one's Moodle calls (which the
            // connection's permits bound, whatever the number of batches).
            let cx = Chunk {
                tenant,
                connection,
                run,
                settings: &settings,
                loaded: &loaded,
                lms: lms.as_ref(),
                link,
                enrolled: futures::lock::Mutex::new(None),
                now,
            };
            let done: Vec<Result<ChunkDone<'_>, PushError>> =
                futures::stream::iter(sendable.chunks(settings.batch_size.max(1)))
                    .map(|enrolments| self.push_chunk(&cx, enrolments))
                    .buffered(CHUNKS_IN_FLIGHT)
                    .collect()
                    .await;
            // Every batch ran to its end (none is cut off halfway between a
            // write and its count); the first failure is then the push's.
            let mut failure = None;
            for chunk in done {
                match chunk {
                    Ok(chunk) => {
                        report.absorb(&chunk.report);
                        blocked.extend(chunk.blocked);
                        log.extend(chunk.log);
                        if transient.is_none() {
                            transient = chunk.transient;
                        }
                    }
                    Err(e) => {
                        failure.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }

        let mut changed = Vec::new();
        for (e, reasons) in blocked {
            report.blocked += 1;
            let before = loaded.transfers.get(&e.learner).map(|t| &t.status);
            let status = TransferStatus::Blocked { reasons };
            if before != Some(&status) {
                if let TransferStatus::Blocked { reasons } = &status {
                    let (name, code) = match loaded.learners.get(&e.learner) {
                        Some(l) => (l.display_name(), l.code.to_string()),
                        None => (String::from("?"), e.learner.to_string()),
                    };
                    log.push(line(
                        LogLevel::Warning,
                        messages::blocked(&name, &code, reasons),
                        now,
                    ));
                }
                changed.push(transfer_record(
                    tenant, connection, &loaded, e, status, None, now,
                ));
            }
        }
        self.links.save_transfers(&changed).await?;

        if call {
            report.called = self
                .call_transferred(tenant, connection, &loaded, &mut log, now)
                .await?;
        }
        let mut unknown = 0;
        if call
            && settings.exclusive_tenant_alerts
            && let Some(link) = &loaded.link
        {
            let lms = match lms {
                Some(lms) => lms,
                None => self.learning.for_connection(&conn).await?,
            };
            let mut lines = Vec::new();
            unknown = self
                .unknown_participants(tenant, lms.as_ref(), link, &loaded, &mut lines, now)
                .await?;
            // Said once per offering and run, however often the job comes back.
            self.runs
                .append_once(
                    tenant,
                    connection,
                    run,
                    &format!("unknown_participants#{offering}"),
                    &lines,
                    &[],
                )
                .await?;
        }

        self.record(
            tenant,
            connection,
            run,
            &log,
            &[(counts::CALLED, count(report.called))],
        )
        .await?;
        // What the offering's push found (set, not added: a retried job
        // replaces them rather than counting its blocked learners twice).
        self.runs
            .set_offering_counts(
                tenant,
                connection,
                run,
                offering.as_str(),
                &[
                    (counts::BLOCKED, count(report.blocked)),
                    (counts::UNKNOWN_PARTICIPANTS, count(unknown)),
                ],
            )
            .await?;
        tracing::info!(
            created = report.created,
            linked = report.linked,
            enrolled = report.enrolled,
            already_enrolled = report.already_enrolled,
            blocked = report.blocked,
            called = report.called,
            unavailable = report.unavailable,
            "offering pushed"
        );
        match transient {
            Some(err) => Err(PushError::Learning(err)),
            None => Ok(report),
        }
    }

    /// One batch of an offering's sendable enrolments, from their look-ups
    /// to their emails: the users nobody matched are created (their accounts
    /// stored and counted as soon as Moodle answers), the others linked, and
    /// all enrolled; their transfers, log lines and counts are written as each
    /// step is durable.
    async fn push_chunk<'a>(
        &self,
        cx: &Chunk<'a>,
        enrolments: &[&'a Enrolment],
    ) -> Result<ChunkDone<'a>, PushError> {
        let (tenant, connection, run, now) = (cx.tenant, cx.connection, cx.run, cx.now);
        let (settings, loaded, lms, link) = (cx.settings, cx.loaded, cx.lms, cx.link);
        let mut done = ChunkDone::default();
        let learners: Vec<&Learner> = enrolments
            .iter()
            .filter_map(|e| loaded.learners.get(&e.learner))
            .collect();
        let LookedUp { found, unavailable } =
            look_up(lms, settings, &learners, &loaded.accounts).await?;
        // Nothing is decided for a learner Moodle could not be asked about:
        // they stay ready for the next run, and the run says so.
        let held: BTreeSet<&LearnerCode> = unavailable.iter().map(|(code, _)| code).collect();
        for (code, error) in &unavailable {
            let name = loaded
                .learners
                .get(code)
                .map_or_else(|| String::from("?"), Learner::display_name);
            tracing::warn!(
                error = error as &dyn std::error::Error,
                "a learner's search stayed unavailable; left ready for the next run"
            );
            done.log.push(line(
                LogLevel::Warning,
                format!(
                    "User {name} ({code}) - not pushed in this run: Moodle could not be searched for the learner ({}); it stays ready for the next run",
                    error_text(error)
                ),
                now,
            ));
        }
        done.report.unavailable = unavailable.len();

        let mut creates: Vec<(&Enrolment, &Learner, NewLmsUser)> = Vec::new();
        let mut existing: Vec<(&Enrolment, &Learner, i64, MatchedBy)> = Vec::new();
        for e in enrolments
            .iter()
            .copied()
            .filter(|e| !held.contains(&e.learner))
        {
            match plan::plan_entry(settings, true, loaded.entry(e), &found) {
                Step::AlreadyDone => {}
                Step::Blocked(reasons) => done.blocked.push((e, reasons)),
                Step::Enrol { user_id, by } => {
                    if let Some(l) = loaded.learners.get(&e.learner) {
                        existing.push((e, l, user_id, by));
                    }
                }
                Step::CreateAndEnrol => {
                    if let Some(l) = loaded.learners.get(&e.learner) {
                        let password = matching::new_user_password(settings, new_password);
                        creates.push((e, l, matching::new_user(l, settings, password)));
                    }
                }
            }
        }

        let mut going: Vec<Going<'_>> = Vec::new();
        // Create the users nobody matched, one call per batch; their
        // accounts are stored (and counted) as soon as Moodle answers.
        if !creates.is_empty() {
            let users: Vec<NewLmsUser> = creates.iter().map(|(_, _, u)| u.clone()).collect();
            let outcomes = lms.create_users(&users).await;
            let mut refused: Vec<(&Enrolment, &Learner, &NewLmsUser, BlockReason)> = Vec::new();
            let mut made: Vec<(&Enrolment, &Learner, &NewLmsUser, i64)> = Vec::new();
            for ((e, l, user), outcome) in creates.iter().zip(outcomes) {
                match outcome {
                    Ok(id) => made.push((e, l, user, id)),
                    Err(RecordFailure::Refused(reason)) => refused.push((e, l, user, reason)),
                    Err(RecordFailure::Failed(err)) => {
                        done.transient.get_or_insert(err);
                    }
                }
            }
            let wanted: Vec<(&Learner, i64, bool)> =
                made.iter().map(|(_, l, _, id)| (*l, *id, true)).collect();
            let ids = self
                .store_accounts(tenant, connection, &wanted, now)
                .await?;
            let mut lines = Vec::new();
            for ((e, l, user, _), (id, _)) in made.into_iter().zip(ids) {
                done.report.created += 1;
                lines.push(line(LogLevel::Info, messages::registered(l), now));
                let password = match &user.password {
                    NewUserPassword::Generated(p) => Some(p.clone()),
                    _ => None,
                };
                going.push(Going {
                    enrolment: e,
                    learner: l,
                    user: id,
                    created: true,
                    password,
                    username: Some(user.username.clone()),
                });
            }
            self.record(
                tenant,
                connection,
                run,
                &lines,
                &[(counts::USERS_CREATED, count(done.report.created))],
            )
            .await?;
            // Moodle refused some: someone holds the username or email (a user
            // created earlier in this push, or on an attempt whose answer was
            // lost). Look both up and decide again: link, or block with why.
            if !refused.is_empty() {
                let usernames: Vec<String> = refused
                    .iter()
                    .map(|(_, _, u, _)| u.username.clone())
                    .collect();
                let emails: Vec<String> =
                    refused.iter().map(|(_, _, u, _)| u.email.clone()).collect();
                let (by_username, by_email) = futures::try_join!(
                    lms.users_by(UserLookup::Username, &usernames),
                    lms.users_by(UserLookup::Email, &emails)
                )?;
                let mut again = by_username;
                again.extend(by_email);
                for (e, l, _, reason) in refused {
                    match matching::decide(l, settings, None, &again) {
                        MatchDecision::Existing { user_id, by } => {
                            existing.push((e, l, user_id, by));
                        }
                        MatchDecision::Blocked(why) => done.blocked.push((e, vec![why])),
                        MatchDecision::Create => done.blocked.push((e, vec![reason])),
                    }
                }
            }
        }

        // Existing users: store the account, enrol unless already enrolled.
        let mut already: Vec<Transfer> = Vec::new();
        if !existing.is_empty() {
            let enrolled = cx.enrolled_users().await?;
            let unstored: Vec<(&Learner, i64, bool)> = existing
                .iter()
                .filter(|(_, l, _, _)| !loaded.accounts.contains_key(&l.code))
                .map(|(_, l, id, by)| (*l, *id, *by == MatchedBy::EarlierAttempt))
                .collect();
            let stored_ids: HashMap<&LearnerCode, (i64, bool)> = unstored
                .iter()
                .map(|(l, _, _)| &l.code)
                .zip(
                    self.store_accounts(tenant, connection, &unstored, now)
                        .await?,
                )
                .collect();
            let mut lines = Vec::new();
            let mut linked = 0;
            for (e, l, user_id, _) in existing {
                let id = match stored_ids.get(&l.code) {
                    Some((id, fresh)) => {
                        if *fresh {
                            linked += 1;
                            lines.push(line(LogLevel::Info, messages::linked(l, *id), now));
                        }
                        *id
                    }
                    None => user_id,
                };
                if enrolled.contains(&id) {
                    done.report.already_enrolled += 1;
                    already.push(transfer_record(
                        tenant,
                        connection,
                        loaded,
                        e,
                        TransferStatus::Transferred,
                        Some(id),
                        now,
                    ));
                } else {
                    going.push(Going {
                        enrolment: e,
                        learner: l,
                        user: id,
                        created: false,
                        password: None,
                        username: None,
                    });
                }
            }
            done.report.linked += linked;
            self.record(
                tenant,
                connection,
                run,
                &lines,
                &[(counts::USERS_MATCHED, count(linked))],
            )
            .await?;
        }
        self.links.save_transfers(&already).await?;

        // Enrol, one call per batch, with the role and the enrolment's start.
        if !going.is_empty() {
            let wanted: Vec<CourseEnrolment> = going
                .iter()
                .map(|g| CourseEnrolment {
                    course: link.course_id,
                    user: g.user,
                    role: settings.role_id,
                    start: time_start(g.enrolment, loaded.zone),
                })
                .collect();
            let outcomes = lms.enrol(&wanted).await;
            let invite = CourseInvite {
                site_url: lms.site_url(),
                course_name: &loaded.offering.name,
            };
            let mut transfers = Vec::new();
            let mut lines = Vec::new();
            let mut emails: Vec<(Email, &Learner)> = Vec::new();
            for (g, outcome) in going.iter().zip(outcomes) {
                match outcome {
                    Ok(()) => {
                        done.report.enrolled += 1;
                        lines.push(line(LogLevel::Info, messages::enrolled(g.learner), now));
                        transfers.push(transfer_record(
                            tenant,
                            connection,
                            loaded,
                            g.enrolment,
                            TransferStatus::Transferred,
                            Some(g.user),
                            now,
                        ));
                        let email = if g.created {
                            messages::registration_email(
                                g.learner,
                                g.username.as_deref().unwrap_or_default(),
                                g.password.as_ref().filter(|_| {
                                    settings.new_user_auth == NewUserAuth::GeneratedPassword
                                }),
                                &invite,
                            )
                        } else {
                            messages::enrolment_email(g.learner, &invite)
                        };
                        if let Some(email) = email {
                            emails.push((email, g.learner));
                        }
                    }
                    Err(RecordFailure::Refused(reason)) => {
                        done.blocked.push((g.enrolment, vec![reason]))
                    }
                    Err(RecordFailure::Failed(err)) => {
                        done.transient.get_or_insert(err);
                    }
                }
            }
            self.links.save_transfers(&transfers).await?;
            self.record(
                tenant,
                connection,
                run,
                &lines,
                &[(counts::ENROLLED, count(transfers.len()))],
            )
            .await?;
            self.send_all(&emails, &mut done.log, &mut done.report, now)
                .await;
        }
        Ok(done)
    }

    /// Exclusive-tenant alerts: everyone enrolled in the course should be known
    /// to the SMS (the Moodle site is this tenant's alone). A participant that
    /// is neither one of the offering's accounts nor, by idnumber or username, a
    /// learner of the SMS is a warning on the run. Returns how many there were.
    async fn unknown_participants(
        &self,
        tenant: &TenantId,
        lms: &dyn LearningSystem,
        link: &CourseLink,
        loaded: &Loaded,
        log: &mut Vec<RunLogLine>,
        now: DateTime<Utc>,
    ) -> Result<usize, PushError> {
        let ours: BTreeSet<i64> = loaded.accounts.values().map(|a| a.external_id).collect();
        let others: Vec<String> = lms
            .enrolled_users(link.course_id)
            .await?
            .into_iter()
            .filter(|id| !ours.contains(id))
            .map(|id| id.to_string())
            .collect();
        if others.is_empty() {
            return Ok(0);
        }
        let mut users = lms.users_by(UserLookup::Id, &others).await?;
        users.sort_by_key(|u| u.id);
        let mut unknown = 0;
        for user in users {
            let mut known = false;
            for candidate in [&user.idnumber, &user.username] {
                if let Ok(code) = LearnerCode::parse(candidate.trim())
                    && self.sis.learner(tenant, &code).await?.is_some()
                {
                    known = true;
                    break;
                }
            }
            if !known {
                unknown += 1;
                log.push(line(
                    LogLevel::Warning,
                    messages::unknown_participant(&user.username, user.id, link.course_id),
                    now,
                ));
            }
        }
        Ok(unknown)
    }

    /// Stores the learners' accounts once each (side by side); where another
    /// was stored meanwhile, that one wins. Per learner, in order: the id that
    /// stands and whether this call stored it.
    async fn store_accounts(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        wanted: &[(&Learner, i64, bool)],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, bool)>, PushError> {
        let accounts: Vec<ExternalAccount> = wanted
            .iter()
            .map(|(learner, id, created_by_us)| ExternalAccount {
                tenant: tenant.clone(),
                connection: connection.clone(),
                learner: learner.code.clone(),
                external_id: *id,
                created_by_us: *created_by_us,
                linked_at: now,
            })
            .collect();
        let written = self.links.save_accounts(&accounts).await?;
        let mut ids = Vec::with_capacity(accounts.len());
        for (account, written) in accounts.iter().zip(written) {
            ids.push(match written {
                Written::Done => (account.external_id, true),
                Written::AlreadyDone => (
                    self.links
                        .account(tenant, connection, &account.learner)
                        .await?
                        .map_or(account.external_id, |a| a.external_id),
                    false,
                ),
            });
        }
        Ok(ids)
    }

    /// Log lines and counts of work just made durable, written at once, so a
    /// job that fails later keeps what it did (and a retry, planning from
    /// what is stored, never counts it again).
    async fn record(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        lines: &[RunLogLine],
        counted: &[(&str, u64)],
    ) -> Result<(), PushError> {
        self.runs.append_log(tenant, connection, run, lines).await?;
        if counted.iter().any(|(_, n)| *n > 0) {
            self.runs
                .add_counts(tenant, connection, run, counted)
                .await?;
        }
        Ok(())
    }

    /// Sends the emails, [`EMAILS_IN_FLIGHT`] at once; one that cannot be
    /// sent is a warning on the run.
    async fn send_all(
        &self,
        emails: &[(Email, &Learner)],
        log: &mut Vec<RunLogLine>,
        report: &mut PushReport,
        now: DateTime<Utc>,
    ) {
        let sent: Vec<(&Email, &Learner, Result<(), _>)> = futures::stream::iter(emails)
            .map(|(email, learner)| async move { (email, *learner, self.mailer.send(email).await) })
            .buffered(EMAILS_IN_FLIGHT)
            .collect()
            .await;
        for (email, learner, result) in sent {
            match result {
                Ok(()) => report.emails += 1,
                Err(error) => {
                    tracing::warn!(
                        error = &error as &dyn std::error::Error,
                        "learner email not sent"
                    );
                    log.push(line(
                        LogLevel::Warning,
                        format!(
                            "User {} ({}) - the \"{}\" email could not be sent",
                            learner.display_name(),
                            learner.code,
                            email.subject
                        ),
                        now,
                    ));
                }
            }
        }
    }

    /// Not-called enrolments that are in Moodle become in progress with the
    /// session date (the offering's start, else today), each with its log line.
    async fn call_transferred(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        loaded: &Loaded,
        log: &mut Vec<RunLogLine>,
        now: DateTime<Utc>,
    ) -> Result<usize, PushError> {
        let transfers: BTreeMap<LearnerCode, TransferStatus> = self
            .links
            .transfers(tenant, connection, &loaded.offering.id)
            .await?
            .into_iter()
            .map(|t| (t.learner, t.status))
            .collect();
        let mut called = 0;
        for e in &loaded.enrolments {
            if e.state != EnrolmentState::NotCalled
                || transfers.get(&e.learner) != Some(&TransferStatus::Transferred)
            {
                continue;
            }
            let mut updated = e.clone();
            updated.state = EnrolmentState::InProgress;
            updated.session_date = Some(
                loaded
                    .offering
                    .start_date
                    .unwrap_or_else(|| loaded.zone.today(now)),
            );
            updated.updated_at = now;
            self.sis.save_enrolment(&updated).await?;
            called += 1;
            if let Some(l) = loaded.learners.get(&e.learner) {
                log.push(line(LogLevel::Info, messages::called(l), now));
            }
        }
        Ok(called)
    }

    /// A `push_offering` job: the run is recorded, the offering pushed, and the
    /// run finished with the status its log earns. A finished run is left alone.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, offering = %offering, run = %run))]
    pub async fn push_job(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
        run: &RunId,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Result<PushReport, PushError> {
        let (conn, _) = moodle_connection(self.connections, tenant, connection).await?;
        let pipeline = self.pipeline();
        let job = Job::PushOffering {
            tenant: tenant.clone(),
            connection: connection.clone(),
            offering: offering.clone(),
            run: run.clone(),
            trigger,
        };
        if pipeline
            .begin(&job, tenant, connection, run, Some(trigger), now)
            .await?
            != Begin::Go
        {
            return Ok(PushReport::default());
        }
        if self
            .skipped_while_disabled(&conn, run, trigger, now)
            .await?
        {
            pipeline
                .finish(tenant, connection, run, (self.clock)())
                .await?;
            return Ok(PushReport::default());
        }
        let report = match self
            .push_offering(tenant, connection, offering, run, false, now)
            .await
        {
            Ok(report) => report,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                self.record_failure(tenant, connection, run, &e, now)
                    .await?;
                self.runs
                    .add_counts(tenant, connection, run, &[(counts::FAILURES, 1)])
                    .await?;
                PushReport::default()
            }
        };
        pipeline
            .finish(tenant, connection, run, (self.clock)())
            .await?;
        Ok(report)
    }

    fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            connections: self.connections,
            runs: self.runs,
            queue: self.queue,
            mailer: self.mailer,
            tenants: self.tenants,
        }
    }

    /// A disabled connection is pushed only when a person runs it (SM-11); a
    /// scheduled or auto-push run queued before it was disabled does nothing
    /// (CV-11) and says so on the run. Whether the run is skipped.
    async fn skipped_while_disabled(
        &self,
        conn: &Connection,
        run: &RunId,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Result<bool, PushError> {
        if conn.enabled || trigger == Trigger::Manual {
            return Ok(false);
        }
        let message = "Nothing was pushed: the connection is disabled.".to_owned();
        self.runs
            .append_log(
                &conn.tenant,
                &conn.id,
                run,
                &[line(LogLevel::Info, message, now)],
            )
            .await?;
        Ok(true)
    }

    async fn record_failure(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        error: &PushError,
        now: DateTime<Utc>,
    ) -> Result<(), PushError> {
        let message = error_text(error);
        // Only the top message: a refusal's reason may name a username.
        tracing::error!(error = %error, "push failed");
        self.runs
            .append_log(
                tenant,
                connection,
                run,
                &[line(LogLevel::Error, message, now)],
            )
            .await?;
        Ok(())
    }

    /// The export of a `sync_connection` job: every linked offering (or the one
    /// named) is pushed and its not-called enrolments called, then the import
    /// is queued (see [`Pipeline::export`]). A finished run is left alone.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, run = %run))]
    pub async fn export(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        trigger: Trigger,
        offering: Option<&OfferingId>,
        now: DateTime<Utc>,
    ) -> Result<(), PushError> {
        let pipeline = self.pipeline();
        let Some(conn) = self.connections.connection(tenant, connection).await? else {
            // No run is recorded for a connection that does not exist.
            return Err(JobError::UnknownConnection {
                tenant: tenant.clone(),
                connection: connection.clone(),
            }
            .into());
        };
        let job = Job::SyncConnection {
            tenant: tenant.clone(),
            connection: connection.clone(),
            run: run.clone(),
            trigger,
            offering: offering.cloned(),
        };
        if pipeline
            .begin(&job, tenant, connection, run, Some(trigger), now)
            .await?
            != Begin::Go
        {
            return Ok(());
        }
        let disabled = self
            .skipped_while_disabled(&conn, run, trigger, now)
            .await?;
        if matches!(conn.settings, ConnectionSettings::Moodle(_)) && !disabled {
            let links = self.links.links(tenant, connection).await?;
            if links.is_empty() && offering.is_none() {
                self.check_unlinked(&conn, run, now).await?;
            }
            for link in links
                .iter()
                .filter(|l| offering.is_none_or(|o| &l.offering == o))
            {
                match self
                    .push_offering(tenant, connection, &link.offering, run, true, now)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.is_retryable() => return Err(e),
                    Err(e) => {
                        self.record_failure(tenant, connection, run, &e, now)
                            .await?;
                        self.runs
                            .add_counts(tenant, connection, run, &[(counts::FAILURES, 1)])
                            .await?;
                    }
                }
                self.retry_removals(tenant, connection, link, run, now)
                    .await?;
            }
        }
        pipeline
            .export(tenant, connection, run, trigger, offering, now)
            .await?;
        Ok(())
    }
}

/// How the line of an unlinked connection's check begins.
const UNLINKED_PREFIX: &str = "No offering is linked through this connection";

impl Push<'_> {
    /// A run of a Moodle connection nothing is linked through pushes and reads
    /// nothing, yet it says whether Moodle answers (one call, the connection
    /// test's): a refusal (a bad token, a missing function) is an error on the
    /// run, which then finishes with error, not a success nobody questions.
    async fn check_unlinked(
        &self,
        conn: &Connection,
        run: &RunId,
        now: DateTime<Utc>,
    ) -> Result<(), PushError> {
        // A redelivered job checks once (the run's log is a line or two here).
        let log = self.runs.log(&conn.tenant, &conn.id, run).await?;
        if log.iter().any(|l| l.message.starts_with(UNLINKED_PREFIX)) {
            return Ok(());
        }
        let checked = match self.learning.for_connection(conn).await {
            Ok(lms) => lms.test().await,
            Err(e) => Err(e),
        };
        let (level, message) = match checked {
            Ok(report) if report.missing_functions.is_empty() => (
                LogLevel::Info,
                format!(
                    "{UNLINKED_PREFIX}: nothing to push or read. Moodle answers ({}, {}).",
                    report.site_name, report.release
                ),
            ),
            Ok(report) => (
                LogLevel::Error,
                format!(
                    "{UNLINKED_PREFIX}, and Moodle's service for its token lacks functions learnbridge needs: {}. Add them to the external service in Moodle.",
                    report.missing_functions.join(", ")
                ),
            ),
            // Not reached (a timeout, a 5xx): said, and checked again next run.
            Err(e) if e.is_retryable() => (
                LogLevel::Warning,
                format!(
                    "{UNLINKED_PREFIX}, and Moodle could not be reached for the connection check: {}; checked again next run.",
                    error_text(&e)
                ),
            ),
            Err(e) => (
                LogLevel::Error,
                format!(
                    "{UNLINKED_PREFIX}, and Moodle refused the connection check: {}.",
                    error_text(&e)
                ),
            ),
        };
        if level == LogLevel::Error {
            tracing::warn!("the connection check of an unlinked connection failed");
            self.runs
                .add_counts(&conn.tenant, &conn.id, run, &[(counts::FAILURES, 1)])
                .await?;
        }
        self.runs
            .append_log(&conn.tenant, &conn.id, run, &[line(level, message, now)])
            .await?;
        Ok(())
    }

    /// Removals that did not happen (their reads or Moodle failed: the
    /// transfer holds why) are queued again, each once per export.
    async fn retry_removals(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        link: &CourseLink,
        run: &RunId,
        now: DateTime<Utc>,
    ) -> Result<(), PushError> {
        let jobs: Vec<Job> = self
            .links
            .transfers(tenant, connection, &link.offering)
            .await?
            .into_iter()
            .filter(|t| t.status == TransferStatus::Transferred && t.removal_error.is_some())
            .map(|t| Job::RemoveEnrolment {
                tenant: tenant.clone(),
                connection: connection.clone(),
                offering: t.offering,
                learner: t.learner,
            })
            .collect();
        if jobs.is_empty() {
            return Ok(());
        }
        if let Some(failure) = self.queue.enqueue(&jobs).await?.into_iter().next() {
            return Err(PushError::Queue(failure.error));
        }
        self.runs
            .append_log(
                tenant,
                connection,
                run,
                &[line(
                    LogLevel::Info,
                    format!(
                        "Offering {}: {} removal(s) that did not happen are tried again.",
                        link.offering,
                        jobs.len()
                    ),
                    now,
                )],
            )
            .await?;
        Ok(())
    }
}

/// Learner emails sent at once.
const EMAILS_IN_FLIGHT: usize = 8;

/// The transfer an enrolment has after this push: `status`, with what the
/// earlier record knew (its Moodle user, when it was transferred, why a
/// removal failed) kept.
fn transfer_record(
    tenant: &TenantId,
    connection: &ConnectionId,
    loaded: &Loaded,
    e: &Enrolment,
    status: TransferStatus,
    user: Option<i64>,
    now: DateTime<Utc>,
) -> Transfer {
    let before = loaded.transfers.get(&e.learner);
    let transferred = status == TransferStatus::Transferred;
    Transfer {
        tenant: tenant.clone(),
        connection: connection.clone(),
        offering: e.offering.clone(),
        learner: e.learner.clone(),
        status,
        external_user: user.or_else(|| before.and_then(|t| t.external_user)),
        transferred_at: if transferred {
            Some(now)
        } else {
            before.and_then(|t| t.transferred_at)
        },
        updated_at: now,
        removal_error: before.and_then(|t| t.removal_error.clone()),
    }
}

/// A count for [`RunStore::add_counts`].
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[path = "push_tests.rs"]
mod tests;
