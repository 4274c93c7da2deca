//! One offering's fetch: its learners read from the course, each applied.

use super::error::{ResultsError, error_chain};
use super::fetch::{
    CRITERIA_PROBES, FetchCounts, FetchCtx, Known, LearnerReads, WATERMARK_OVERLAP, read_learner,
};
use super::service::Results;
use chrono::{DateTime, Utc};
use domain::learning::LearningError;
use domain::ports::GradeSource;
use domain::results::Mapping;
use domain::results::{
    self, LearnerGrades, ReadInputs, ResultType, RetryEntry, ReviewState, StoredCompletion,
    StoredResult,
};
use domain::sis::{CourseLink, Offering};
use domain::{AssessableId, LearnerCode, LogLevel};
use futures::StreamExt;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

/// One offering's course as read before any learner is: its mappings, who
/// is who, everyone's grades and what was stored before.
struct Course {
    offering: Offering,
    mappings: Vec<Mapping>,
    /// Course completions are read (for review, or to unenrol after them).
    completions: bool,
    enrolments: HashMap<LearnerCode, domain::sis::Enrolment>,
    by_user: HashMap<i64, LearnerCode>,
    linked_at: HashMap<LearnerCode, DateTime<Utc>>,
    last_access: HashMap<i64, Option<DateTime<Utc>>>,
    idnumbers: HashMap<i64, String>,
    grades: Vec<LearnerGrades>,
    prior: HashMap<(LearnerCode, AssessableId), StoredResult>,
    prior_completions: HashMap<LearnerCode, StoredCompletion>,
    /// Grades changed since then are read (`None`: everyone is).
    since: Option<DateTime<Utc>>,
    watermark: Option<DateTime<Utc>>,
    /// The learner read on their own (before a removal): whether Moodle still
    /// enrols them in the course.
    enrolled: Option<bool>,
}

/// A learner's reads, `None` when the fetch was stopped before them.
type Read = Option<Result<LearnerReads, (LearnerCode, LearningError)>>;

impl Results<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn fetch_offering(
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
        let Some(course) = self
            .read_course(ctx, source, link, pass_grades, only)
            .await?
        else {
            return Ok(None);
        };
        let changed = course.changed(ctx, link, only, counts);
        let reads = read_changed(
            ctx,
            source,
            link.course_id,
            !course.mappings.is_empty(),
            &changed,
            stop,
        )
        .await;
        self.apply_reads(
            ctx,
            source,
            link,
            &course,
            reads,
            pass_grades,
            counts,
            failed,
            only,
        )
        .await?;
        Ok(course.enrolled)
    }

    /// The offering's course before any learner is read: the mappings of the
    /// levels the connection results, the participants (one call), every
    /// learner's grades (one call), the pass grades and what was stored.
    /// `None` when there is nothing to read.
    async fn read_course(
        &self,
        ctx: &FetchCtx<'_>,
        source: &dyn GradeSource,
        link: &CourseLink,
        pass_grades: &mut HashMap<i64, Option<f64>>,
        only: Option<&LearnerCode>,
    ) -> Result<Option<Course>, ResultsError> {
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
        let idnumbers: HashMap<i64, String> = participants
            .iter()
            .map(|p| (p.user, p.idnumber.trim().to_owned()))
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
        Ok(Some(Course {
            offering,
            mappings,
            completions,
            enrolments,
            by_user,
            linked_at,
            last_access,
            idnumbers,
            grades,
            prior,
            prior_completions,
            since,
            watermark,
            enrolled,
        }))
    }

    /// Applies each learner's reads; a learner that fails is kept for the next
    /// run (before a removal, it stops the removal).
    #[allow(clippy::too_many_arguments)]
    async fn apply_reads(
        &self,
        ctx: &FetchCtx<'_>,
        source: &dyn GradeSource,
        link: &CourseLink,
        course: &Course,
        reads: Vec<Read>,
        pass_grades: &HashMap<i64, Option<f64>>,
        counts: &mut FetchCounts,
        failed: &mut BTreeSet<RetryEntry>,
        only: Option<&LearnerCode>,
    ) -> Result<(), ResultsError> {
        let Course {
            offering,
            mappings,
            enrolments,
            idnumbers,
            grades,
            prior,
            prior_completions,
            ..
        } = course;
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
                    offering,
                    link,
                    mappings,
                    pass_grades,
                    prior,
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
        Ok(())
    }
}

impl Course {
    /// The learners to read: those the read rules pick (or the one learner
    /// read before a removal), each with whether their course completion is read.
    fn changed(
        &self,
        ctx: &FetchCtx<'_>,
        link: &CourseLink,
        only: Option<&LearnerCode>,
        counts: &mut FetchCounts,
    ) -> Vec<(&LearnerGrades, LearnerCode, bool)> {
        let Course {
            mappings,
            enrolments,
            by_user,
            linked_at,
            last_access,
            grades,
            prior,
            prior_completions,
            ..
        } = self;
        let (completions, since, watermark) = (self.completions, self.since, self.watermark);
        let mut changed: Vec<(&LearnerGrades, LearnerCode, bool)> = Vec::new();
        for g in grades {
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
        changed
    }
}

/// Reads the changed learners, a few at a time.
async fn read_changed(
    ctx: &FetchCtx<'_>,
    source: &dyn GradeSource,
    course: i64,
    want_activities: bool,
    changed: &[(&LearnerGrades, LearnerCode, bool)],
    stop: &AtomicBool,
) -> Vec<Read> {
    // Completion reads, a few learners at a time. Whether the course has
    // completion criteria is learned once per course and run: until Moodle
    // said so (the first tracked learner's course completion), learners
    // whose course completion is read go one at a time (a few at most),
    // so a course without criteria is asked once, not once per learner.
    let read_one = |g: &LearnerGrades, code: &LearnerCode, completion_read: bool| {
        let user = g.user;
        let code = code.clone();
        async move {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let completion_read = completion_read && ctx.has_criteria(course) != Some(false);
            let read =
                read_learner(source, course, user, code, want_activities, completion_read).await;
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
    reads
}
