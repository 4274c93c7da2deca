//! The fetch: each linked offering's grades and completions read, learners
//! identified, and the run's log and counts kept; `fetch_for_run` is the
//! results-fetch job's entry.

use super::error::{ResultsError, error_chain, moodle_settings};
use super::service::Results;
use chrono::{DateTime, TimeDelta, Utc};
use domain::connection::{ConnectionKind, MoodleSettings};
use domain::learning::LearningError;
use domain::ports::{GradeSource, GradeSources, Retryable, Written};
use domain::results::{
    self, IdentifiedBy, KnownLearner, OfferingProgress, Participant, RetryEntry,
};
use domain::sis::{CourseLink, ExternalAccount};
use domain::zone::TenantZone;
use domain::{
    Connection, ConnectionId, LearnerCode, LogLevel, OfferingId, RunId, RunLogLine, TenantId,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

/// Learners graded this long before the watermark are read again: Moodle's
/// clock and ours may differ, and re-reading a learner changes nothing.
pub const WATERMARK_OVERLAP: TimeDelta = TimeDelta::minutes(10);

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

/// One learner's reads, before any rule is applied.
pub(super) struct LearnerReads {
    pub(super) learner: LearnerCode,
    pub(super) user: i64,
    /// The Moodle user's idnumber (from the participants), for the completion.
    pub(super) idnumber: Option<String>,
    pub(super) completion: BTreeMap<i64, results::ActivityCompletion>,
    pub(super) course: Option<results::CourseCompletionRead>,
}

/// The learners of one course as identified: Moodle user -> learner, and
/// when each learner's account was stored.
pub(super) struct Known {
    pub(super) by_user: HashMap<i64, LearnerCode>,
    pub(super) linked_at: HashMap<LearnerCode, DateTime<Utc>>,
}

/// What one download needs to know about the connection.
pub(super) struct FetchCtx<'c> {
    pub(super) connection: &'c Connection,
    pub(super) settings: &'c MoodleSettings,
    pub(super) sms: Option<ConnectionId>,
    /// The connection's watermark: when its last complete download of every
    /// offering started.
    pub(super) watermark: Option<DateTime<Utc>>,
    /// Offerings downloaded on their own since: each one's own watermark.
    pub(super) own: HashMap<OfferingId, DateTime<Utc>>,
    /// Learners (and offerings) whose reads failed in the last download that
    /// covered them.
    pub(super) retries: &'c BTreeSet<RetryEntry>,
    pub(super) run: &'c RunId,
    pub(super) now: DateTime<Utc>,
    /// The tenant's zone: Moodle's times become its calendar days.
    pub(super) zone: TenantZone,
    /// Courses already reported as having no completion criteria this run.
    pub(super) no_criteria: std::sync::Mutex<BTreeSet<i64>>,
    /// What Moodle said this run about each course's completion criteria
    /// (true: it has some). Learned from the first course completion read of
    /// a tracked learner; a course without criteria is not asked again.
    pub(super) criteria: std::sync::Mutex<HashMap<i64, bool>>,
    /// Reading a learner before their removal: their enrolment may already be
    /// withdrawn in the SMS, yet what Moodle holds (a completed course included)
    /// is kept, for a person to review, before the unenrolment resets it.
    pub(super) before_removal: bool,
}

/// Learners read one at a time, at most, before the others go concurrently,
/// while Moodle has not yet said whether a course has completion criteria
/// (a learner not tracked, e.g. whose enrolment has not started, cannot say).
pub(super) const CRITERIA_PROBES: usize = 3;

impl FetchCtx<'_> {
    /// The watermark of an offering: its own when a download scoped to it ran
    /// after the connection's last complete download, else the connection's.
    /// Learners are read when something changed since it (our own times), or
    /// since it less [`WATERMARK_OVERLAP`] (Moodle's times).
    pub(super) fn watermark_of(&self, offering: &OfferingId) -> Option<DateTime<Utc>> {
        self.own.get(offering).copied().or(self.watermark)
    }

    /// Whether the course has completion criteria, if Moodle said so this run.
    pub(super) fn has_criteria(&self, course: i64) -> Option<bool> {
        self.criteria
            .lock()
            .ok()
            .and_then(|known| known.get(&course).copied())
    }

    pub(super) fn learn_criteria(&self, course: i64, has: bool) {
        if let Ok(mut known) = self.criteria.lock() {
            known.insert(course, has);
        }
    }
}

pub(super) async fn read_learner(
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

impl Results<'_> {
    pub(super) async fn log(&self, ctx: &FetchCtx<'_>, level: LogLevel, message: String) {
        self.log_on(ctx.connection, ctx.run, ctx.now, level, message)
            .await;
    }

    pub(super) async fn log_on(
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
        self.report(&ctx, &counts).await?;
        Ok(counts)
    }

    /// The fetch's counts: a line on the run's log and the run's tallies.
    async fn report(&self, ctx: &FetchCtx<'_>, counts: &FetchCounts) -> Result<(), ResultsError> {
        let (tenant, connection, run) = (&ctx.connection.tenant, ctx.connection, ctx.run);
        self.log(
            ctx,
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
        Ok(())
    }

    /// Who is who in the course (SM-33): stored accounts first, then
    /// participants identified by idnumber or username, whose accounts are
    /// stored so the next run knows them.
    pub(super) async fn identify(
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
}
