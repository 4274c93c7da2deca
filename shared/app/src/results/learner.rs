//! One learner's reads applied: results bucketed, stored for review or
//! approved and delivered, course completion recorded.

use super::error::ResultsError;
use super::fetch::{FetchCounts, FetchCtx, LearnerReads};
use super::service::{Results, grade_text, result_delivery_key};
use crate::deliveries::create_delivery;
use chrono::{DateTime, Utc};
use domain::delivery::{DeliveryKey, DeliveryKind};
use domain::ports::GradeSource;
use domain::results::{
    self, LearnerGrades, Mapping, NoResult, PriorResult, Progress, ResultKey, ResultRules,
    ResultType, ReviewState, StoredCompletion, StoredResult,
};
use domain::sis::{CourseLink, EnrolmentState, Offering};
use domain::{AssessableId, ConnectionId, LearnerCode, LogLevel};
use std::collections::HashMap;

impl Results<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply_learner(
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
        self.apply_results(
            ctx,
            offering,
            link,
            mappings,
            pass_grades,
            prior,
            enrolment,
            grades,
            read,
            counts,
        )
        .await?;
        // Everything of this learner was read and recorded above: only now may
        // an approved completion's unenrolment happen (Smartosh).
        self.apply_completion(
            ctx,
            offering,
            link,
            prior_completion,
            enrolment,
            grades,
            read,
            source,
            counts,
        )
        .await
    }

    /// The learner's result for each mapped assessable: decided by the
    /// rules, then stored for review, saved to the SMS, or recorded as a later
    /// attempt.
    #[allow(clippy::too_many_arguments)]
    async fn apply_results(
        &self,
        ctx: &FetchCtx<'_>,
        offering: &Offering,
        link: &CourseLink,
        mappings: &[Mapping],
        pass_grades: &HashMap<i64, Option<f64>>,
        prior: &HashMap<(LearnerCode, AssessableId), StoredResult>,
        enrolment: &domain::sis::Enrolment,
        grades: &LearnerGrades,
        read: &LearnerReads,
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
        Ok(())
    }

    /// The learner's course completion: a stored one regraded, or a new one
    /// recorded (and approved without review); then, when approved in the
    /// Smartosh mode, the unenrolment.
    #[allow(clippy::too_many_arguments)]
    async fn apply_completion(
        &self,
        ctx: &FetchCtx<'_>,
        offering: &Offering,
        link: &CourseLink,
        prior_completion: Option<&StoredCompletion>,
        enrolment: &domain::sis::Enrolment,
        grades: &LearnerGrades,
        read: &LearnerReads,
        source: &dyn GradeSource,
        counts: &mut FetchCounts,
    ) -> Result<(), ResultsError> {
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
    pub(super) async fn approve_completion(
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

    pub(super) async fn save_to_sms(
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
}
