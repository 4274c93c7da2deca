//! Results fetch: Moodle grades and completions into reviewed results and
//! course completions, then deliveries to the SMS; and the mapping and review
//! a person does.
//!
//! Per linked course, one download reads:
//! - the participants in ONE call (`participants`: Moodle's
//!   `core_enrol_get_enrolled_users`), to identify learners without a stored
//!   account by idnumber or username (SM-33) and to see who used the course;
//! - every learner's grades in ONE call (`course_grades`: Moodle's
//!   `gradereport_user_get_grade_items` with `userid=0`);
//! - each mapped activity's pass grade once per run (cached across offerings);
//! - activity and course completion per learner, with at most the connection's
//!   `max_concurrency` learners in flight, and only for learners
//!   [`results::read_reason`] picks: graded, submitted or in the course since
//!   the connection's watermark, in its retry set, newly linked, awaiting
//!   Moodle's completion cron, or waiting for an approved unenrolment.
//!
//! So a re-run costs two calls per course plus a few calls per changed
//! learner, not per enrolled learner (docs/architecture.md, "Results fetch").
//! A failure reading one learner is a warning on the run for that learner; the
//! others go on, the watermark moves, and the learner (or a whole offering
//! that could not be read) is kept in the retry set and read next run.
//! A completion waits for review like a result; in the Smartosh mode the
//! learner is unenrolled only once it is approved, after their reads.

use crate::deliveries::{DeliveryError, create_delivery};
use chrono::{DateTime, TimeDelta, Utc};
use domain::connection::{ConnectionKind, ConnectionSettings, MoodleSettings};
use domain::delivery::{DeliveryKey, DeliveryKind};
use domain::learning::LearningError;
use domain::ports::{
    ConnectionStore, DeliveryStore, GradeSource, GradeSources, JobQueue, LinkStore, ResultStore,
    Retryable, RunStore, SisStore, StoreError, TenantSettingsStore, Written,
};
use domain::results::{
    self, Adjustment, CourseActivity, IdentifiedBy, KnownLearner, LearnerGrades, MappedActivity,
    Mapping, MappingError, NoResult, OfferingProgress, Participant, PriorResult, Progress,
    ReadInputs, ResultKey, ResultRules, ResultType, RetryEntry, ReviewError, ReviewState,
    StoredCompletion, StoredResult,
};
use domain::sis::{CourseLink, EnrolmentState, ExternalAccount, Offering};
use domain::zone::TenantZone;
use domain::{
    AssessableId, Connection, ConnectionId, LearnerCode, LogLevel, OfferingId, RunId, RunLogLine,
    TenantId,
};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

/// Learners graded this long before the watermark are read again: Moodle's
/// clock and ours may differ, and re-reading a learner changes nothing.
pub const WATERMARK_OVERLAP: TimeDelta = TimeDelta::minutes(10);

/// The most results "process all" saves at once.
pub const PROCESS_ALL_LIMIT: usize = 1_000;

/// Why a results use case failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Learning(#[from] LearningError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error("connection {connection} is not a Moodle connection")]
    NotMoodle { connection: ConnectionId },
    #[error("connection {connection} does not exist")]
    UnknownConnection { connection: ConnectionId },
    #[error("offering {offering} is not linked through connection {connection}")]
    NotLinked {
        offering: OfferingId,
        connection: ConnectionId,
    },
    #[error("offering {offering} does not exist")]
    UnknownOffering { offering: OfferingId },
    #[error("no result for learner {learner} and assessable {assessable} in offering {offering}")]
    UnknownResult {
        offering: OfferingId,
        learner: LearnerCode,
        assessable: AssessableId,
    },
    #[error("no course completion for learner {learner} in offering {offering}")]
    UnknownCompletion {
        offering: OfferingId,
        learner: LearnerCode,
    },
    #[error("the tenant has no enabled SMS connection to save results to")]
    NoSms,
}

impl Retryable for ResultsError {
    fn is_retryable(&self) -> bool {
        match self {
            ResultsError::Store(e) => e.is_retryable(),
            ResultsError::Learning(e) => e.is_retryable(),
            ResultsError::Delivery(e) => e.is_retryable(),
            _ => false,
        }
    }
}

fn moodle_settings(connection: &Connection) -> Result<&MoodleSettings, ResultsError> {
    match &connection.settings {
        ConnectionSettings::Moodle(s) => Ok(s),
        _ => Err(ResultsError::NotMoodle {
            connection: connection.id.clone(),
        }),
    }
}

/// What a download did; written on the run as one line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchCounts {
    pub offerings: usize,
    /// Learners in the grade reports who are enrolled in the SMS.
    pub learners: usize,
    /// Of those, the ones read further (grades changed since the watermark).
    pub changed: usize,
    pub ready: usize,
    pub errors: usize,
    /// Results saved without review (the connection approves automatically).
    pub saved: usize,
    /// Course completions found (ready for review, or saved without review).
    pub completions: usize,
    pub unenrolled: usize,
    /// Final results and completions already saved whose later attempt
    /// differs: recorded on them, not sent (first result wins).
    pub later_attempts: usize,
    /// Learners (or offerings) that could not be read: warnings on the run.
    pub failures: usize,
    /// Learners (or offerings) kept in the retry set for the next run.
    pub retries: usize,
    pub stopped: bool,
}

/// What reading a learner before their removal found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovalRead {
    pub counts: FetchCounts,
    /// Whether Moodle still has an enrolment of the learner in the course
    /// (active or suspended), as its participants say; none when nothing was
    /// read (nothing mapped, no completions).
    pub enrolled: Option<bool>,
}

/// What "process all" saved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Processed {
    pub results: usize,
    pub completions: usize,
}

/// The ports the results use cases need.
pub struct Results<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub sis: &'a dyn SisStore,
    pub links: &'a dyn LinkStore,
    pub results: &'a dyn ResultStore,
    pub deliveries: &'a dyn DeliveryStore,
    pub queue: &'a dyn JobQueue,
    pub runs: &'a dyn RunStore,
    /// The tenant's zone dates results and completions.
    pub tenants: &'a dyn TenantSettingsStore,
}

/// One learner's reads, before any rule is applied.
struct LearnerReads {
    learner: LearnerCode,
    user: i64,
    /// The Moodle user's idnumber (from the participants), for the completion.
    idnumber: Option<String>,
    completion: BTreeMap<i64, results::ActivityCompletion>,
    course: Option<results::CourseCompletionRead>,
}

/// The learners of one course as identified: Moodle user -> learner, and
/// when each learner's account was stored.
struct Known {
    by_user: HashMap<i64, LearnerCode>,
    linked_at: HashMap<LearnerCode, DateTime<Utc>>,
}

/// What one download needs to know about the connection.
struct FetchCtx<'c> {
    connection: &'c Connection,
    settings: &'c MoodleSettings,
    sms: Option<ConnectionId>,
    /// The connection's watermark: when its last complete download of every
    /// offering started.
    watermark: Option<DateTime<Utc>>,
    /// Offerings downloaded on their own since: each one's own watermark.
    own: HashMap<OfferingId, DateTime<Utc>>,
    /// Learners (and offerings) whose reads failed in the last download that
    /// covered them.
    retries: &'c BTreeSet<RetryEntry>,
    run: &'c RunId,
    now: DateTime<Utc>,
    /// The tenant's zone: Moodle's times become its calendar days.
    zone: TenantZone,
    /// Courses already reported as having no completion criteria this run.
    no_criteria: std::sync::Mutex<BTreeSet<i64>>,
    /// What Moodle said this run about each course's completion criteria
    /// (true: it has some). Learned from the first course completion read of
    /// a tracked learner; a course without criteria is not asked again.
    criteria: std::sync::Mutex<HashMap<i64, bool>>,
    /// Reading a learner before their removal: their enrolment may already be
    /// withdrawn in the SMS, yet what Moodle holds (a completed course included)
    /// is kept, for a person to review, before the unenrolment resets it.
    before_removal: bool,
}

/// Learners read one at a time, at most, before the others go concurrently,
/// while Moodle has not yet said whether a course has completion criteria
/// (a learner not tracked, e.g. whose enrolment has not started, cannot say).
const CRITERIA_PROBES: usize = 3;

impl FetchCtx<'_> {
    /// The watermark of an offering: its own when a download scoped to it ran
    /// after the connection's last complete download, else the connection's.
    /// Learners are read when something changed since it (our own times), or
    /// since it less [`WATERMARK_OVERLAP`] (Moodle's times).
    fn watermark_of(&self, offering: &OfferingId) -> Option<DateTime<Utc>> {
        self.own.get(offering).copied().or(self.watermark)
    }

    /// Whether the course has completion criteria, if Moodle said so this run.
    fn has_criteria(&self, course: i64) -> Option<bool> {
        self.criteria
            .lock()
            .ok()
            .and_then(|known| known.get(&course).copied())
    }

    fn learn_criteria(&self, course: i64, has: bool) {
        if let Ok(mut known) = self.criteria.lock() {
            known.insert(course, has);
        }
    }
}

impl Results<'_> {
    /// The tenant's time zone (UTC until it sets one).
    async fn zone(&self, tenant: &TenantId) -> Result<TenantZone, StoreError> {
        Ok(self.tenants.tenant_settings(tenant).await?.zone())
    }

    async fn sms_connection(&self, tenant: &TenantId) -> Result<Option<ConnectionId>, StoreError> {
        Ok(self
            .connections
            .connections(tenant)
            .await?
            .into_iter()
            .find(|c| c.kind() == ConnectionKind::Sms && c.enabled)
            .map(|c| c.id))
    }

    async fn log(&self, ctx: &FetchCtx<'_>, level: LogLevel, message: String) {
        self.log_on(ctx.connection, ctx.run, ctx.now, level, message)
            .await;
    }

    async fn log_on(
        &self,
        connection: &Connection,
        run: &RunId,
        now: DateTime<Utc>,
        level: LogLevel,
        message: String,
    ) {
        let line = RunLogLine {
            at: now,
            level,
            message,
        };
        if let Err(e) = self
            .runs
            .append_log(&connection.tenant, &connection.id, run, &[line])
            .await
        {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "a run log line could not be written"
            );
        }
    }

    /// Downloads results for one offering, or for every offering linked
    /// through the connection. `stop` is checked before each offering and
    /// learner: once set, the download ends where it is (counts say so).
    #[tracing::instrument(skip_all, fields(tenant = %connection.tenant, connection = %connection.id, run = %run))]
    pub async fn fetch(
        &self,
        connection: &Connection,
        source: &dyn GradeSource,
        offering: Option<&OfferingId>,
        run: &RunId,
        stop: &AtomicBool,
        now: DateTime<Utc>,
    ) -> Result<FetchCounts, ResultsError> {
        let settings = moodle_settings(connection)?;
        let tenant = &connection.tenant;
        let links: Vec<CourseLink> = match offering {
            Some(o) => vec![
                self.links
                    .link(tenant, o, &connection.id)
                    .await?
                    .ok_or_else(|| ResultsError::NotLinked {
                        offering: o.clone(),
                        connection: connection.id.clone(),
                    })?,
            ],
            None => self.links.links(tenant, &connection.id).await?,
        };
        let watermark = self.results.watermark(tenant, &connection.id).await?;
        // Offerings downloaded on their own after the connection's last
        // complete download: their own watermark and retry set stand for them.
        let own: Vec<OfferingProgress> = self
            .results
            .offering_progress(tenant, &connection.id)
            .await?
            .into_iter()
            .filter(|p| watermark.is_none_or(|w| p.at > w))
            .collect();
        let mut retries: BTreeSet<RetryEntry> = self
            .results
            .retries(tenant, &connection.id)
            .await?
            .into_iter()
            .filter(|r| !own.iter().any(|p| p.offering == r.offering))
            .collect();
        retries.extend(own.iter().flat_map(|p| p.retries.iter().cloned()));
        let own: HashMap<OfferingId, DateTime<Utc>> =
            own.into_iter().map(|p| (p.offering, p.at)).collect();
        let ctx = FetchCtx {
            connection,
            settings,
            sms: self.sms_connection(tenant).await?,
            watermark,
            own,
            retries: &retries,
            run,
            now,
            zone: self.zone(tenant).await?,
            before_removal: false,
            no_criteria: std::sync::Mutex::new(BTreeSet::new()),
            criteria: std::sync::Mutex::new(HashMap::new()),
        };
        let mut counts = FetchCounts::default();
        let mut failed: BTreeSet<RetryEntry> = BTreeSet::new();
        let mut pass_grades: HashMap<i64, Option<f64>> = HashMap::new();
        for link in &links {
            if stop.load(Ordering::Relaxed) {
                counts.stopped = true;
                break;
            }
            counts.offerings += 1;
            if let Err(e) = self
                .fetch_offering(
                    &ctx,
                    source,
                    link,
                    &mut pass_grades,
                    stop,
                    &mut counts,
                    &mut failed,
                    None,
                )
                .await
            {
                // One offering failing is a warning; a store outage ends the run.
                if let ResultsError::Store(e) = e {
                    return Err(ResultsError::Store(e));
                }
                counts.failures += 1;
                failed.insert(RetryEntry {
                    offering: link.offering.clone(),
                    learner: None,
                });
                tracing::warn!(offering = %link.offering, error = &e as &dyn std::error::Error, "offering results could not be read");
                self.log(
                    &ctx,
                    LogLevel::Warning,
                    format!(
                        "Results of offering {} could not be read: {}; read again next run.",
                        link.offering,
                        error_chain(&e)
                    ),
                )
                .await;
            }
        }
        if stop.load(Ordering::Relaxed) {
            counts.stopped = true;
        }
        // A complete download moves its watermark: the connection's for every
        // linked offering, the offering's own for one (so neither holds the
        // other back or skips what the other did not read); what failed is
        // kept in the retry set instead of holding it back.
        if !counts.stopped {
            let failed: Vec<RetryEntry> = failed.into_iter().collect();
            counts.retries = failed.len();
            match offering {
                None => {
                    self.results
                        .save_progress(tenant, &connection.id, now, &failed)
                        .await?;
                }
                Some(o) => {
                    let progress = OfferingProgress {
                        offering: o.clone(),
                        at: now,
                        retries: failed,
                    };
                    self.results
                        .save_offering_progress(tenant, &connection.id, &progress)
                        .await?;
                }
            }
        }
        self.log(
            &ctx,
            LogLevel::Info,
            format!(
                "Results: {} offerings, {} learners, {} read (changed), {} ready, {} in error, {} saved, {} completions, {} unenrolled, {} failures{}.",
                counts.offerings,
                counts.learners,
                counts.changed,
                counts.ready,
                counts.errors,
                counts.saved,
                counts.completions,
                counts.unenrolled,
                counts.failures,
                if counts.stopped { "; stopped" } else { "" }
            ),
        )
        .await;
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        self.runs
            .add_counts(
                tenant,
                &connection.id,
                run,
                &[
                    (domain::run::counts::LEARNERS_READ, n(counts.changed)),
                    (domain::run::counts::RESULTS_READY, n(counts.ready)),
                    (domain::run::counts::RESULTS_IN_ERROR, n(counts.errors)),
                    (domain::run::counts::RESULTS_SAVED, n(counts.saved)),
                    (domain::run::counts::COMPLETIONS, n(counts.completions)),
                    (domain::run::counts::UNENROLLED, n(counts.unenrolled)),
                    (domain::run::counts::FAILURES, n(counts.failures)),
                ],
            )
            .await?;
        Ok(counts)
    }

    /// Who is who in the course (SM-33): stored accounts first, then
    /// participants identified by idnumber or username, whose accounts are
    /// stored so the next run knows them.
    async fn identify(
        &self,
        ctx: &FetchCtx<'_>,
        link: &CourseLink,
        participants: &[Participant],
        codes: &[LearnerCode],
    ) -> Result<Known, ResultsError> {
        let tenant = &link.tenant;
        let accounts = self
            .links
            .accounts(tenant, &ctx.connection.id, codes)
            .await?;
        let mut linked_at: HashMap<LearnerCode, DateTime<Utc>> = accounts
            .iter()
            .map(|a| (a.learner.clone(), a.linked_at))
            .collect();
        let stored: HashMap<LearnerCode, i64> = accounts
            .into_iter()
            .map(|a| (a.learner, a.external_id))
            .collect();
        let unknown: Vec<LearnerCode> = codes
            .iter()
            .filter(|c| !stored.contains_key(*c))
            .cloned()
            .collect();
        let usernames: HashMap<LearnerCode, Option<String>> = if unknown.is_empty() {
            HashMap::new()
        } else {
            self.sis
                .learners(tenant, &unknown)
                .await?
                .into_iter()
                .map(|l| (l.code, l.username))
                .collect()
        };
        let known: Vec<KnownLearner> = codes
            .iter()
            .map(|c| KnownLearner {
                code: c.clone(),
                username: usernames.get(c).cloned().flatten(),
                stored: stored.get(c).copied(),
            })
            .collect();
        let identified = results::identify(participants, &known);
        for code in &identified.ambiguous {
            self.log(
                ctx,
                LogLevel::Warning,
                format!(
                    "Learner {code} of offering {}: more than one participant of course {} could be them (by idnumber or username); link the learner's Moodle user by hand.",
                    link.offering, link.course_id
                ),
            )
            .await;
        }
        let mut by_user = HashMap::with_capacity(identified.by_user.len());
        for (user, (code, how)) in identified.by_user {
            if how != IdentifiedBy::Stored {
                let account = ExternalAccount {
                    tenant: tenant.clone(),
                    connection: ctx.connection.id.clone(),
                    learner: code.clone(),
                    external_id: user,
                    created_by_us: false,
                    linked_at: ctx.now,
                };
                if self.links.save_account(&account).await? == Written::AlreadyDone {
                    // Another account was stored meanwhile: that one stands.
                    continue;
                }
                linked_at.insert(code.clone(), ctx.now);
                self.log(
                    ctx,
                    LogLevel::Info,
                    format!(
                        "Learner {code} of offering {} identified as participant {user} of course {} by {}; account stored.",
                        link.offering,
                        link.course_id,
                        match how {
                            IdentifiedBy::Idnumber => "idnumber",
                            _ => "username",
                        }
                    ),
                )
                .await;
            }
            by_user.insert(user, code);
        }
        Ok(Known { by_user, linked_at })
    }

    #[allow(clippy::too_many_arguments)]
    async fn fetch_offering(
        &self,
        ctx: &FetchCtx<'_>,
        source: &dyn GradeSource,
        link: &CourseLink,
        pass_grades: &mut HashMap<i64, Option<f64>>,
        stop: &AtomicBool,
        counts: &mut FetchCounts,
        failed: &mut BTreeSet<RetryEntry>,
        only: Option<&LearnerCode>,
    ) -> Result<Option<bool>, ResultsError> {
        let tenant = &link.tenant;
        let Some(offering) = self.sis.offering(tenant, &link.offering).await? else {
            return Err(ResultsError::UnknownOffering {
                offering: link.offering.clone(),
            });
        };
        let mut mappings = self
            .results
            .mappings(tenant, &link.offering, &ctx.connection.id)
            .await?;
        // A mapping of a level the connection no longer results is skipped (VM-10).
        let mut allowed = Vec::with_capacity(mappings.len());
        for m in mappings {
            let refused = offering
                .assessables
                .iter()
                .find(|a| a.id == m.assessable)
                .and_then(|a| results::check_level(&ctx.settings.result_levels, a).err());
            match refused {
                Some(e) => {
                    self.log(
                        ctx,
                        LogLevel::Warning,
                        format!(
                            "Offering {}: the mapping of {e}; it is skipped.",
                            link.offering
                        ),
                    )
                    .await;
                }
                None => allowed.push(m),
            }
        }
        mappings = allowed;
        let completions = ctx.settings.course_completions || ctx.settings.unenrol_after_completion;
        if mappings.is_empty() && !completions {
            return Ok(None);
        }
        let enrolments: HashMap<LearnerCode, domain::sis::Enrolment> = self
            .sis
            .enrolments(tenant, &link.offering)
            .await?
            .into_iter()
            .map(|e| (e.learner.clone(), e))
            .collect();
        let codes: Vec<LearnerCode> = enrolments.keys().cloned().collect();

        // One call: the participants, with idnumber, username and last access.
        let participants = source.participants(link.course_id).await?;
        let Known { by_user, linked_at } = self.identify(ctx, link, &participants, &codes).await?;
        // The learner read on their own (before a removal): whether Moodle
        // still has an enrolment of theirs in the course (any, suspended too).
        let enrolled = only.map(|code| {
            by_user
                .iter()
                .filter(|(_, c)| *c == code)
                .any(|(user, _)| participants.iter().any(|p| p.user == *user))
        });
        let last_access: HashMap<i64, Option<DateTime<Utc>>> = participants
            .iter()
            .map(|p| (p.user, p.last_access))
            .collect();
        let idnumbers: HashMap<i64, &str> = participants
            .iter()
            .map(|p| (p.user, p.idnumber.trim()))
            .filter(|(_, i)| !i.is_empty())
            .collect();

        // One call: every learner's grades.
        let mut grades = source.course_grades(link.course_id).await?;
        // A learner read before removal is read even without a row in the
        // report (no grade yet): their completion may still be there.
        if let Some(code) = only
            && let Some(user) = by_user.iter().find(|(_, c)| *c == code).map(|(u, _)| *u)
            && !grades.iter().any(|g| g.user == user)
        {
            grades.push(LearnerGrades {
                user,
                ..LearnerGrades::default()
            });
        }
        for m in &mappings {
            for a in &m.activities {
                if let std::collections::hash_map::Entry::Vacant(slot) = pass_grades.entry(a.cmid) {
                    slot.insert(source.pass_grade(a.cmid).await?);
                }
            }
        }

        let prior = self.results.results(tenant, &link.offering).await?;
        let prior: HashMap<(LearnerCode, AssessableId), StoredResult> = prior
            .into_iter()
            .map(|r| ((r.learner.clone(), r.assessable.clone()), r))
            .collect();
        let prior_completions: HashMap<LearnerCode, StoredCompletion> = self
            .results
            .completions(tenant, &link.offering)
            .await?
            .into_iter()
            .map(|c| (c.learner.clone(), c))
            .collect();
        // The whole offering failed last time: everyone is read.
        let watermark = ctx.watermark_of(&link.offering);
        let since = if ctx.retries.contains(&RetryEntry {
            offering: link.offering.clone(),
            learner: None,
        }) {
            None
        } else {
            watermark.map(|w| w - WATERMARK_OVERLAP)
        };

        let mut changed: Vec<(&LearnerGrades, LearnerCode, bool)> = Vec::new();
        for g in &grades {
            let Some(code) = by_user.get(&g.user) else {
                continue;
            };
            if only.is_some_and(|o| o != code) {
                continue;
            }
            let Some(enrolment) = enrolments.get(code) else {
                continue;
            };
            counts.learners += 1;
            let stored_completion = prior_completions.get(code);
            // A learner about to be removed (`only`) is read whatever their state in
            // the SMS: a withdrawn enrolment is still Moodle's until the unenrolment,
            // and its completion would be gone after it (seen on a real Moodle 4.3).
            let completion_read = completions
                && (enrolment.state.is_active() || only.is_some())
                && stored_completion.is_none();
            let passed_all = !mappings.is_empty()
                && mappings.iter().all(|m| {
                    prior
                        .get(&(code.clone(), m.assessable.clone()))
                        .is_some_and(|r| {
                            r.state == ReviewState::Done && r.result == ResultType::Passed
                        })
                });
            let inputs = ReadInputs {
                since,
                now: ctx.now,
                retry: ctx.retries.contains(&RetryEntry {
                    offering: link.offering.clone(),
                    learner: Some(code.clone()),
                }),
                last_change: g.last_change(),
                last_access: last_access.get(&g.user).copied().flatten(),
                completion_read,
                passed_all,
                unenrol_pending: stored_completion.is_some_and(|c| c.unenrol_pending()),
                // Linked (exported, or identified just now) or enrolled (or
                // re-activated) since the watermark: their earlier grades
                // were never read.
                new_to_us: watermark.is_some_and(|w| {
                    (enrolment.state.is_active() && enrolment.updated_at > w)
                        || linked_at.get(code).is_some_and(|at| *at > w)
                }),
            };
            // Before a removal the learner is read whatever changed.
            if only.is_some() || results::read_reason(&inputs).is_some() {
                changed.push((g, code.clone(), completion_read));
            }
        }
        counts.changed += changed.len();

        // Completion reads, a few learners at a time. Whether the course has
        // completion criteria is learned once per course and run: until Moodle
        // said so (the first tracked learner's course completion), learners
        // whose course completion is read go one at a time (a few at most),
        // so a course without criteria is asked once, not once per learner.
        let course = link.course_id;
        let want_activities = !mappings.is_empty();
        let read_one = |g: &LearnerGrades, code: &LearnerCode, completion_read: bool| {
            let user = g.user;
            let code = code.clone();
            async move {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                let completion_read = completion_read && ctx.has_criteria(course) != Some(false);
                let read =
                    read_learner(source, course, user, code, want_activities, completion_read)
                        .await;
                if let Ok(LearnerReads {
                    course: Some(c), ..
                }) = &read
                    && !c.untracked
                {
                    ctx.learn_criteria(course, !c.criteria.is_empty());
                }
                Some(read)
            }
        };
        let mut pending: Vec<&(&LearnerGrades, LearnerCode, bool)> = changed.iter().collect();
        let mut reads = Vec::with_capacity(pending.len());
        let mut probes = 0;
        while probes < CRITERIA_PROBES && ctx.has_criteria(course).is_none() {
            let Some(at) = pending.iter().position(|(_, _, completion)| *completion) else {
                break;
            };
            let (g, code, completion_read) = pending.remove(at);
            reads.push(read_one(g, code, *completion_read).await);
            probes += 1;
        }
        reads.extend(
            futures::stream::iter(
                pending
                    .into_iter()
                    .map(|(g, code, completion_read)| read_one(g, code, *completion_read)),
            )
            .buffer_unordered(ctx.settings.max_concurrency.max(1))
            .collect::<Vec<_>>()
            .await,
        );

        let grades_by_user: HashMap<i64, &LearnerGrades> =
            grades.iter().map(|g| (g.user, g)).collect();
        for read in reads {
            let Some(read) = read else {
                counts.stopped = true;
                continue;
            };
            let mut read = match read {
                Ok(r) => r,
                // Before a removal a failed read stops it: nothing may be
                // removed that was not read.
                Err((_, e)) if only.is_some() => return Err(e.into()),
                Err((code, e)) => {
                    counts.failures += 1;
                    failed.insert(RetryEntry {
                        offering: link.offering.clone(),
                        learner: Some(code.clone()),
                    });
                    tracing::warn!(learner = %code, error = &e as &dyn std::error::Error, "learner results could not be read");
                    self.log(
                        ctx,
                        LogLevel::Warning,
                        format!(
                            "Learner {code} of offering {}: results could not be read ({}); read again next run.",
                            link.offering,
                            error_chain(&e)
                        ),
                    )
                    .await;
                    continue;
                }
            };
            read.idnumber = idnumbers.get(&read.user).map(|i| (*i).to_owned());
            let Some(g) = grades_by_user.get(&read.user) else {
                continue;
            };
            let Some(enrolment) = enrolments.get(&read.learner) else {
                continue;
            };
            if let Err(e) = self
                .apply_learner(
                    ctx,
                    &offering,
                    link,
                    &mappings,
                    pass_grades,
                    &prior,
                    prior_completions.get(&read.learner),
                    enrolment,
                    g,
                    &read,
                    source,
                    counts,
                )
                .await
            {
                if let ResultsError::Store(e) = e {
                    return Err(ResultsError::Store(e));
                }
                if only.is_some() {
                    return Err(e);
                }
                counts.failures += 1;
                failed.insert(RetryEntry {
                    offering: link.offering.clone(),
                    learner: Some(read.learner.clone()),
                });
                self.log(
                    ctx,
                    LogLevel::Warning,
                    format!(
                        "Learner {} of offering {}: {}; read again next run.",
                        read.learner,
                        link.offering,
                        error_chain(&e)
                    ),
                )
                .await;
            }
        }
        Ok(enrolled)
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply_learner(
        &self,
        ctx: &FetchCtx<'_>,
        offering: &Offering,
        link: &CourseLink,
        mappings: &[Mapping],
        pass_grades: &HashMap<i64, Option<f64>>,
        prior: &HashMap<(LearnerCode, AssessableId), StoredResult>,
        prior_completion: Option<&StoredCompletion>,
        enrolment: &domain::sis::Enrolment,
        grades: &LearnerGrades,
        read: &LearnerReads,
        source: &dyn GradeSource,
        counts: &mut FetchCounts,
    ) -> Result<(), ResultsError> {
        let rules = ResultRules {
            record_failed_results: ctx.settings.record_failed_results,
            use_enrolment_start_date: ctx.settings.use_enrolment_start_date,
            zone: ctx.zone,
        };
        for mapping in mappings {
            let Some(assessable) = offering
                .assessables
                .iter()
                .find(|a| a.id == mapping.assessable)
            else {
                continue;
            };
            let key = (read.learner.clone(), assessable.id.clone());
            let stored = prior.get(&key);
            let prior_result = match stored {
                Some(r) if r.state == ReviewState::Done => match r.result {
                    ResultType::Started => PriorResult::Started,
                    ResultType::Passed | ResultType::Failed => PriorResult::Completed,
                },
                _ => PriorResult::None,
            };
            let outcomes: Vec<results::ActivityOutcome> = mapping
                .activities
                .iter()
                .map(|a| {
                    grades.outcome(
                        a.cmid,
                        pass_grades.get(&a.cmid).copied().flatten(),
                        read.completion.get(&a.cmid).copied(),
                    )
                })
                .collect();
            let proposed = match results::decide(
                rules,
                assessable,
                enrolment.start_date,
                prior_result,
                &outcomes,
            ) {
                Ok(p) => p,
                // A final result was saved: what a later attempt would be is
                // still worked out, to be recorded on it (never sent).
                Err(NoResult::AlreadyCompleted) => match results::decide(
                    rules,
                    assessable,
                    enrolment.start_date,
                    PriorResult::None,
                    &outcomes,
                ) {
                    Ok(p) => p,
                    Err(_) => continue,
                },
                Err(NoResult::AlreadyStarted | NoResult::NothingYet) => {
                    continue;
                }
            };
            let key = ResultKey {
                tenant: link.tenant.clone(),
                connection: ctx.connection.id.clone(),
                offering: link.offering.clone(),
                learner: read.learner.clone(),
                assessable: assessable.id.clone(),
            };
            // Whether the saved final result reached the SMS: until it has,
            // a retake's result takes its place in the waiting delivery.
            let delivered = match stored {
                Some(s) if s.state == ReviewState::Done => self.delivered(s).await?,
                _ => false,
            };
            let mut result = match results::progress(stored, key, proposed, delivered, ctx.now) {
                Progress::Unchanged => continue,
                Progress::Redeliver(result) => {
                    if let Some(sms) = &ctx.sms {
                        create_delivery(
                            self.deliveries,
                            self.queue,
                            &result_delivery_key(&result),
                            sms,
                            result.payload(),
                            ctx.now,
                        )
                        .await?;
                    }
                    self.results.save_result(&result).await?;
                    counts.saved += 1;
                    continue;
                }
                Progress::LaterAttempt(recorded) => {
                    self.results.save_result(&recorded).await?;
                    counts.later_attempts += 1;
                    if let Some(later) = &recorded.later {
                        self.log(
                            ctx,
                            LogLevel::Info,
                            format!(
                                "Learner {} of offering {}, {}: a later attempt is {} ({}); the SMS keeps the first result, {} ({}): recorded, not sent.",
                                read.learner,
                                link.offering,
                                recorded.assessable,
                                later.result.as_str(),
                                grade_text(later.grade, later.grade_max),
                                recorded.result.as_str(),
                                grade_text(recorded.grade, recorded.grade_max),
                            ),
                        )
                        .await;
                    }
                    continue;
                }
                Progress::Propose(result) => result,
            };
            match result.state {
                ReviewState::Error => counts.errors += 1,
                _ => counts.ready += 1,
            }
            if !ctx.settings.review_before_saving
                && result.state == ReviewState::Ready
                && let Some(sms) = &ctx.sms
            {
                self.save_to_sms(&mut result, sms, ctx.now).await?;
                counts.saved += 1;
            }
            self.results.save_result(&result).await?;
        }

        // Everything of this learner was read and recorded above: only now may
        // an approved completion's unenrolment happen (Smartosh).
        let mut completion = match prior_completion {
            Some(c) => {
                let mut c = c.clone();
                // The course total is in every grade report: a retake before
                // processing updates the completion; after, it is recorded.
                if c.regrade(grades.course_total, grades.course_max, ctx.now) {
                    self.results.save_completion(&c).await?;
                    if let Some(later) = c
                        .later_grade
                        .as_ref()
                        .filter(|_| c.state == ReviewState::Done)
                    {
                        counts.later_attempts += 1;
                        self.log(
                            ctx,
                            LogLevel::Info,
                            format!(
                                "Learner {} of offering {}: the course total is now {}; the SMS keeps the first, {}: recorded, not sent.",
                                read.learner,
                                link.offering,
                                grade_text(later.grade, later.grade_max),
                                grade_text(c.grade, c.grade_max),
                            ),
                        )
                        .await;
                    }
                }
                c
            }
            None => {
                let Some(course) = read.course.as_ref().filter(|c| !c.untracked) else {
                    return Ok(());
                };
                // Moodle answers `nocriteriaset`: the course cannot complete
                // (CV-10). Said once per course and run; never a completion.
                if course.criteria.is_empty() {
                    let first = ctx
                        .no_criteria
                        .lock()
                        .map(|mut warned| warned.insert(link.course_id))
                        .unwrap_or(false);
                    if first {
                        self.log(
                            ctx,
                            LogLevel::Warning,
                            format!(
                                "Course {} (offering {}) has no completion criteria in Moodle, so no course completion is read from it; set course completion up in Moodle.",
                                link.course_id, link.offering
                            ),
                        )
                        .await;
                    }
                    return Ok(());
                }
                let state = if ctx.before_removal {
                    domain::sis::EnrolmentState::InProgress
                } else {
                    enrolment.state
                };
                let Some(at) =
                    results::course_completion(state, course.completed, &course.criteria)
                else {
                    return Ok(());
                };
                let mut completion = StoredCompletion::new(
                    (
                        link.tenant.clone(),
                        ctx.connection.id.clone(),
                        link.offering.clone(),
                        read.learner.clone(),
                    ),
                    read.user,
                    at,
                    grades.course_total,
                    ctx.settings.unenrol_after_completion,
                    offering.must_be_evaluated,
                    ctx.now,
                );
                completion.grade_max = grades.course_max;
                completion.course_id = Some(link.course_id);
                completion.idnumber = read.idnumber.clone();
                counts.completions += 1;
                if !ctx.settings.review_before_saving
                    && let Some(sms) = &ctx.sms
                {
                    self.approve_completion(&mut completion, sms, ctx.now)
                        .await?;
                    counts.saved += 1;
                }
                // Kept before any unenrolment, so an approved completion is
                // never lost if the unenrolment fails.
                self.results.save_completion(&completion).await?;
                completion
            }
        };
        if completion.unenrol_pending() {
            source.unenrol(link.course_id, completion.user).await?;
            completion.unenrolled_at = Some(ctx.now);
            completion.updated_at = ctx.now;
            self.results.save_completion(&completion).await?;
            counts.unenrolled += 1;
            self.log(
                ctx,
                LogLevel::Info,
                format!(
                    "Learner {} completed offering {}: attendance and grade recorded, unenrolled from course {}.",
                    read.learner, link.offering, link.course_id
                ),
            )
            .await;
        }
        Ok(())
    }

    /// A ready completion becomes done: its delivery to the SMS is created and
    /// the enrolment is completed.
    async fn approve_completion(
        &self,
        completion: &mut StoredCompletion,
        sms: &ConnectionId,
        now: DateTime<Utc>,
    ) -> Result<(), ResultsError> {
        completion.approve(now)?;
        let key = DeliveryKey {
            tenant: completion.tenant.clone(),
            learner: completion.learner.clone(),
            offering: completion.offering.clone(),
            assessable: None,
            kind: DeliveryKind::Completion,
        };
        let zone = self.zone(&completion.tenant).await?;
        let payload = serde_json::to_value(completion.record(zone)).unwrap_or_default();
        create_delivery(self.deliveries, self.queue, &key, sms, payload, now).await?;
        if let Some(mut enrolment) = self
            .sis
            .enrolment(
                &completion.tenant,
                &completion.offering,
                &completion.learner,
            )
            .await?
            && enrolment.state.is_active()
        {
            enrolment.state = EnrolmentState::Completed;
            enrolment.updated_at = now;
            self.sis.save_enrolment(&enrolment).await?;
        }
        Ok(())
    }

    async fn save_to_sms(
        &self,
        result: &mut StoredResult,
        sms: &ConnectionId,
        now: DateTime<Utc>,
    ) -> Result<(), ResultsError> {
        result.approve(now)?;
        let key = result_delivery_key(result);
        create_delivery(
            self.deliveries,
            self.queue,
            &key,
            sms,
            result.payload(),
            now,
        )
        .await?;
        Ok(())
    }

    /// Reads one learner of a linked offering before they are removed from
    /// its course (Moodle deletes a user's grades and resets their completion
    /// when it unenrols them): their grades, activity completion and course
    /// completion become results and a completion exactly as a download
    /// makes them (the same rules, review and deliveries), with the run's
    /// log lines on `run`. Unlike a download, any read that fails is the
    /// error: the caller must then not remove the learner.
    #[tracing::instrument(skip_all, fields(tenant = %connection.tenant, connection = %connection.id, offering = %offering, run = %run))]
    pub async fn read_before_removal(
        &self,
        connection: &Connection,
        source: &dyn GradeSource,
        offering: &OfferingId,
        learner: &LearnerCode,
        run: &RunId,
        now: DateTime<Utc>,
    ) -> Result<RemovalRead, ResultsError> {
        let settings = moodle_settings(connection)?;
        let tenant = &connection.tenant;
        let link = self
            .links
            .link(tenant, offering, &connection.id)
            .await?
            .ok_or_else(|| ResultsError::NotLinked {
                offering: offering.clone(),
                connection: connection.id.clone(),
            })?;
        let retries = BTreeSet::new();
        let ctx = FetchCtx {
            connection,
            settings,
            sms: self.sms_connection(tenant).await?,
            watermark: None,
            own: HashMap::new(),
            retries: &retries,
            run,
            now,
            no_criteria: std::sync::Mutex::new(BTreeSet::new()),
            criteria: std::sync::Mutex::new(HashMap::new()),
            zone: self.zone(tenant).await?,
            before_removal: true,
        };
        let mut counts = FetchCounts {
            offerings: 1,
            ..FetchCounts::default()
        };
        let mut failed = BTreeSet::new();
        let enrolled = self
            .fetch_offering(
                &ctx,
                source,
                &link,
                &mut HashMap::new(),
                &AtomicBool::new(false),
                &mut counts,
                &mut failed,
                Some(learner),
            )
            .await?;
        Ok(RemovalRead { counts, enrolled })
    }

    /// Whether a processed result's delivery reached the SMS.
    async fn delivered(&self, result: &StoredResult) -> Result<bool, ResultsError> {
        let id = result_delivery_key(result).delivery_id();
        Ok(self
            .deliveries
            .delivery(&result.tenant, &id)
            .await?
            .is_some_and(|d| d.state == domain::delivery::DeliveryState::Delivered))
    }

    /// The import stage's download for a `fetch_results` job: reads the run
    /// (a finished run is left alone), the connection (only Moodle connections
    /// with linked offerings have results to read) and its grade source, then
    /// [`Results::fetch`]. A whole-download failure a person must fix is an
    /// error line on the run (which then finishes with error); a transient one
    /// is returned, so SQS tries the job again.
    #[allow(clippy::too_many_arguments)]
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, run = %run))]
    pub async fn fetch_for_run(
        &self,
        sources: &dyn GradeSources,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        offering: Option<&OfferingId>,
        stop: &AtomicBool,
        now: DateTime<Utc>,
    ) -> Result<Option<FetchCounts>, ResultsError> {
        let Some(stored) = self.runs.run(tenant, connection, run).await? else {
            return Ok(None);
        };
        if stored.status != domain::RunStatus::Importing {
            return Ok(None);
        }
        let Some(conn) = self.connections.connection(tenant, connection).await? else {
            return Ok(None);
        };
        if conn.kind() != ConnectionKind::Moodle {
            return Ok(None);
        }
        // A disabled connection is read only when a person runs it (SM-11);
        // a scheduled run queued before it was disabled reads nothing (CV-11).
        if !conn.enabled && stored.trigger != domain::job::Trigger::Manual {
            self.log_on(
                &conn,
                run,
                now,
                LogLevel::Info,
                "Results were not read: the connection is disabled.".to_owned(),
            )
            .await;
            return Ok(None);
        }
        if offering.is_none() && self.links.links(tenant, connection).await?.is_empty() {
            return Ok(None);
        }
        let outcome = match sources.for_connection(&conn).await {
            Ok(source) => {
                self.fetch(&conn, source.as_ref(), offering, run, stop, now)
                    .await
            }
            Err(e) => Err(e.into()),
        };
        match outcome {
            Ok(counts) => Ok(Some(counts)),
            Err(e) if e.is_retryable() => Err(e),
            Err(e) => {
                self.log_on(
                    &conn,
                    run,
                    now,
                    LogLevel::Error,
                    format!("Results could not be read: {}.", error_chain(&e)),
                )
                .await;
                Ok(None)
            }
        }
    }

    /// A connection's results in one review state.
    pub async fn list(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: ReviewState,
        limit: usize,
    ) -> Result<Vec<StoredResult>, ResultsError> {
        Ok(self
            .results
            .results_by_state(tenant, connection, state, limit)
            .await?)
    }

    async fn stored(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
        assessable: &AssessableId,
    ) -> Result<StoredResult, ResultsError> {
        self.results
            .result(tenant, offering, learner, assessable)
            .await?
            .ok_or_else(|| ResultsError::UnknownResult {
                offering: offering.clone(),
                learner: learner.clone(),
                assessable: assessable.clone(),
            })
    }

    /// A person's change to a result's type and dates.
    pub async fn adjust(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
        assessable: &AssessableId,
        change: &Adjustment,
        now: DateTime<Utc>,
    ) -> Result<StoredResult, ResultsError> {
        let mut result = self.stored(tenant, offering, learner, assessable).await?;
        result.adjust(change, now)?;
        self.results.save_result(&result).await?;
        Ok(result)
    }

    /// Processes one ready result: it becomes a delivery to the SMS, and done.
    pub async fn process(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
        assessable: &AssessableId,
        now: DateTime<Utc>,
    ) -> Result<StoredResult, ResultsError> {
        let sms = self
            .sms_connection(tenant)
            .await?
            .ok_or(ResultsError::NoSms)?;
        let mut result = self.stored(tenant, offering, learner, assessable).await?;
        self.save_to_sms(&mut result, &sms, now).await?;
        self.results.save_result(&result).await?;
        Ok(result)
    }

    /// Processes every ready result and every ready course completion of a
    /// connection (up to [`PROCESS_ALL_LIMIT`] of each).
    pub async fn process_all(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        now: DateTime<Utc>,
    ) -> Result<Processed, ResultsError> {
        let sms = self
            .sms_connection(tenant)
            .await?
            .ok_or(ResultsError::NoSms)?;
        let ready = self
            .results
            .results_by_state(tenant, connection, ReviewState::Ready, PROCESS_ALL_LIMIT)
            .await?;
        let mut done = Processed::default();
        for mut result in ready {
            self.save_to_sms(&mut result, &sms, now).await?;
            self.results.save_result(&result).await?;
            done.results += 1;
        }
        let ready = self
            .results
            .completions_by_state(tenant, connection, ReviewState::Ready, PROCESS_ALL_LIMIT)
            .await?;
        for mut completion in ready {
            self.approve_completion(&mut completion, &sms, now).await?;
            self.results.save_completion(&completion).await?;
            done.completions += 1;
        }
        Ok(done)
    }

    /// A connection's course completions in one review state.
    pub async fn list_completions(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: ReviewState,
        limit: usize,
    ) -> Result<Vec<StoredCompletion>, ResultsError> {
        Ok(self
            .results
            .completions_by_state(tenant, connection, state, limit)
            .await?)
    }

    async fn stored_completion(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
    ) -> Result<StoredCompletion, ResultsError> {
        self.results
            .completion(tenant, offering, learner)
            .await?
            .ok_or_else(|| ResultsError::UnknownCompletion {
                offering: offering.clone(),
                learner: learner.clone(),
            })
    }

    /// A person's change of a completion's date before it is processed.
    pub async fn adjust_completion(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
        date: chrono::NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<StoredCompletion, ResultsError> {
        let mut completion = self.stored_completion(tenant, offering, learner).await?;
        completion.adjust(date, self.zone(tenant).await?, now)?;
        self.results.save_completion(&completion).await?;
        Ok(completion)
    }

    /// Processes one ready completion: a delivery to the SMS, the enrolment
    /// completed, done. In the Smartosh mode the learner is unenrolled from
    /// the Moodle course by the next download, after their results are read.
    pub async fn process_completion(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
        now: DateTime<Utc>,
    ) -> Result<StoredCompletion, ResultsError> {
        let sms = self
            .sms_connection(tenant)
            .await?
            .ok_or(ResultsError::NoSms)?;
        let mut completion = self.stored_completion(tenant, offering, learner).await?;
        self.approve_completion(&mut completion, &sms, now).await?;
        self.results.save_completion(&completion).await?;
        Ok(completion)
    }

    /// A linked course's activities, with their type and whether they can be mapped.
    pub async fn activities(
        &self,
        source: &dyn GradeSource,
        tenant: &TenantId,
        offering: &OfferingId,
        connection: &ConnectionId,
    ) -> Result<Vec<CourseActivity>, ResultsError> {
        let link = self.require_link(tenant, offering, connection).await?;
        Ok(source.course_activities(link.course_id).await?)
    }

    async fn require_link(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        connection: &ConnectionId,
    ) -> Result<CourseLink, ResultsError> {
        self.links
            .link(tenant, offering, connection)
            .await?
            .ok_or_else(|| ResultsError::NotLinked {
                offering: offering.clone(),
                connection: connection.clone(),
            })
    }

    /// Maps an assessable to activities of the linked course; a type that
    /// cannot be mapped is refused by name.
    #[allow(clippy::too_many_arguments)]
    pub async fn map(
        &self,
        source: &dyn GradeSource,
        tenant: &TenantId,
        offering: &OfferingId,
        connection: &ConnectionId,
        assessable: &AssessableId,
        cmids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<Mapping, ResultsError> {
        let link = self.require_link(tenant, offering, connection).await?;
        let stored = self.sis.offering(tenant, offering).await?.ok_or_else(|| {
            ResultsError::UnknownOffering {
                offering: offering.clone(),
            }
        })?;
        let Some(found) = stored.assessables.iter().find(|a| &a.id == assessable) else {
            return Err(MappingError::UnknownAssessable {
                assessable: assessable.clone(),
            }
            .into());
        };
        let conn = self
            .connections
            .connection(tenant, connection)
            .await?
            .ok_or_else(|| ResultsError::UnknownConnection {
                connection: connection.clone(),
            })?;
        results::check_level(&moodle_settings(&conn)?.result_levels, found)?;
        let course = source.course_activities(link.course_id).await?;
        let activities: Vec<MappedActivity> = results::check_mapping(&course, cmids)?;
        let mapping = Mapping {
            tenant: tenant.clone(),
            offering: offering.clone(),
            connection: connection.clone(),
            assessable: assessable.clone(),
            activities,
            updated_at: now,
        };
        self.results.save_mapping(&mapping).await?;
        Ok(mapping)
    }
}

async fn read_learner(
    source: &dyn GradeSource,
    course: i64,
    user: i64,
    learner: LearnerCode,
    activities: bool,
    completion: bool,
) -> Result<LearnerReads, (LearnerCode, LearningError)> {
    let completion_states = if activities {
        match source.activities_completion(course, user).await {
            Ok(states) => states.into_iter().collect(),
            Err(e) => return Err((learner, e)),
        }
    } else {
        BTreeMap::new()
    };
    let course_read = if completion {
        match source.course_completion(course, user).await {
            Ok(c) => Some(c),
            Err(e) => return Err((learner, e)),
        }
    } else {
        None
    };
    Ok(LearnerReads {
        learner,
        user,
        idnumber: None,
        completion: completion_states,
        course: course_read,
    })
}

/// The delivery key of a result. A started result is a message of its own,
/// so the final result that follows it is still sent (first result wins only
/// among final results).
fn result_delivery_key(result: &StoredResult) -> DeliveryKey {
    DeliveryKey {
        tenant: result.tenant.clone(),
        learner: result.learner.clone(),
        offering: result.offering.clone(),
        assessable: Some(result.assessable.clone()),
        kind: match result.result {
            ResultType::Started => DeliveryKind::Started,
            ResultType::Passed | ResultType::Failed => DeliveryKind::Result,
        },
    }
}

/// A grade as a run's log line states it: raw out of the maximum.
fn grade_text(grade: Option<f64>, max: Option<f64>) -> String {
    match (grade, max) {
        (Some(g), Some(m)) => format!("{g}/{m}"),
        (Some(g), None) => g.to_string(),
        (None, _) => "no grade".to_owned(),
    }
}

/// An error and its sources, for a run's log line (ids and reasons, no secrets).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
#[path = "results_tests.rs"]
mod tests;
