//! Removing an enrolment from a linked Moodle course (read before you destroy).
//!
//! Moodle deletes a user's grades in a course and resets their completion
//! when it removes their last enrolment there, and enrolling them again does
//! not bring them back. So a removal first reads the learner exactly as a
//! download does ([`Results::read_before_removal`]: the same rules, review
//! and deliveries), and only then unenrols (or suspends). If the read fails,
//! nothing is removed: the run and the transfer say why, and the removal is
//! tried again (a transient failure by the queue; every failure by the next
//! nightly export of the connection, see [`crate::push::Push::export`]).

use crate::errors::error_text;
use crate::jobs::Pipeline;
use crate::push::{PushError, moodle_connection};
use crate::results::{FetchCounts, Results};
use chrono::{DateTime, Utc};
use domain::learning::CourseEnrolment;
use domain::ports::{
    ConnectionStore, DeliveryStore, GradeSources, JobQueue, LearningSystems, LinkStore, Mailer,
    ResultStore, Retryable, RunStore, SisStore, TenantSettingsStore,
};
use domain::run::counts;
use domain::sis::{Transfer, TransferStatus};
use domain::{
    ConnectionId, LearnerCode, LogLevel, OfferingId, Run, RunId, RunLogLine, TenantId, Trigger,
};

/// The ports a removal uses: the enrolment push's, and the results download's.
pub struct Removals<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub sis: &'a dyn SisStore,
    pub links: &'a dyn LinkStore,
    pub learning: &'a dyn LearningSystems,
    pub grades: &'a dyn GradeSources,
    pub results: &'a dyn ResultStore,
    pub deliveries: &'a dyn DeliveryStore,
    pub queue: &'a dyn JobQueue,
    pub runs: &'a dyn RunStore,
    pub mailer: &'a dyn Mailer,
    pub tenants: &'a dyn TenantSettingsStore,
    /// The time as the removal goes on: its run finishes, and its transfer
    /// changes, when the work is done, not when the job began.
    pub clock: fn() -> DateTime<Utc>,
}

/// What a removal did.
#[derive(Debug, Clone, PartialEq)]
pub enum Removal {
    /// Read, then unenrolled (or suspended); the run holds its lines.
    Removed {
        run: RunId,
        /// What the read made: results ready or saved, a completion.
        read: FetchCounts,
        /// Suspended (kept enrolled) rather than unenrolled.
        suspended: bool,
        /// Moodle had no enrolment of the learner in the course any more (a
        /// person removed it there): nothing was unenrolled or suspended, and
        /// nobody was enrolled.
        not_enrolled: bool,
    },
    /// Removed already (a duplicate job): nothing read, nothing changed.
    AlreadyRemoved,
    /// Not removed for good reason a person must act on (the read or the
    /// removal was refused): the run (finished with error) and the transfer
    /// say why; the next nightly export tries again.
    NotRemoved { run: RunId, reason: String },
}

/// What a removal did in Moodle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removed {
    Unenrolled,
    Suspended,
    /// Moodle had no enrolment of the learner left: nothing was called.
    NotEnrolled,
}

/// The enrolment a removal is about, and its run.
#[derive(Clone, Copy)]
struct Removing<'r> {
    tenant: &'r TenantId,
    connection: &'r ConnectionId,
    offering: &'r OfferingId,
    code: &'r LearnerCode,
    /// The transfer before the removal.
    before: Option<&'r Transfer>,
    /// The linked Moodle course.
    course: i64,
    run: &'r RunId,
}

fn line(level: LogLevel, message: String, now: DateTime<Utc>) -> RunLogLine {
    RunLogLine {
        at: now,
        level,
        message,
    }
}

impl Removals<'_> {
    fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            connections: self.connections,
            runs: self.runs,
            queue: self.queue,
            mailer: self.mailer,
            tenants: self.tenants,
        }
    }

    /// Removes an enrolment from the linked course: a run (trigger `change`)
    /// records it; the learner's grades and completion are read and become
    /// results and a completion; then the learner is unenrolled (or
    /// suspended, per `unenrol_on_removal`) and the transfer is removed. A
    /// read or removal that fails removes nothing: transient failures are
    /// returned (the queue tries again), others come back as
    /// [`Removal::NotRemoved`]; either way the run and the transfer say why.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, offering = %offering, learner = %code))]
    pub async fn remove_enrolment(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
        code: &LearnerCode,
        now: DateTime<Utc>,
    ) -> Result<Removal, PushError> {
        let (conn, settings) = moodle_connection(self.connections, tenant, connection).await?;
        let Some(link) = self.links.link(tenant, offering, connection).await? else {
            return Err(PushError::NotLinked {
                offering: offering.clone(),
                connection: connection.clone(),
            });
        };
        let Some(account) = self.links.account(tenant, connection, code).await? else {
            return Err(PushError::NoAccount {
                learner: code.clone(),
                connection: connection.clone(),
            });
        };
        let before = self
            .links
            .transfer(tenant, connection, offering, code)
            .await?;
        if before
            .as_ref()
            .is_some_and(|t| t.status == TransferStatus::Removed)
        {
            tracing::info!("removed already; nothing to do");
            return Ok(Removal::AlreadyRemoved);
        }
        let run = RunId::new_v7();
        let keep = self.tenants.tenant_settings(tenant).await?.run_history_days;
        self.runs
            .start_run(
                &Run::start(
                    tenant.clone(),
                    connection.clone(),
                    run.clone(),
                    Trigger::Change,
                    now,
                )
                .keeping(keep),
            )
            .await?;
        let outcome = self
            .read_then_remove(
                &conn,
                &settings,
                &link,
                code,
                account.external_id,
                &run,
                now,
            )
            .await;
        let removing = Removing {
            tenant,
            connection,
            offering,
            code,
            before: before.as_ref(),
            course: link.course_id,
            run: &run,
        };
        match outcome {
            Ok((read, removed)) => {
                self.removed(&removing, account.external_id, read, removed)
                    .await
            }
            Err(e) => self.not_removed(&removing, e).await,
        }
    }

    /// A removal done: the transfer removed, the run told what was read and
    /// removed, and finished.
    async fn removed(
        &self,
        removing: &Removing<'_>,
        user: i64,
        read: FetchCounts,
        removed: Removed,
    ) -> Result<Removal, PushError> {
        let Removing {
            tenant,
            connection,
            offering,
            code,
            before,
            course,
            ..
        } = *removing;
        let run = removing.run.clone();
        let done = (self.clock)();
        self.save_transfer(before, tenant, connection, offering, code, |t| {
            t.status = TransferStatus::Removed;
            t.external_user = Some(user);
            t.removal_error = None;
            t.updated_at = done;
        })
        .await?;
        let then = match removed {
            Removed::Unenrolled => {
                format!("then unenrolled from course {course}")
            }
            Removed::Suspended => format!("then suspended in course {course}"),
            Removed::NotEnrolled => format!(
                "and Moodle has no enrolment of theirs in course {course} any more (removed there already): nothing to unenrol or suspend, nobody enrolled"
            ),
        };
        self.runs
            .append_log(
                tenant,
                connection,
                &run,
                &[line(
                    LogLevel::Info,
                    format!(
                        "Learner {code} of offering {offering}: results read ({} ready, {} in error, {} saved, {} completions), {then}.",
                        read.ready, read.errors, read.saved, read.completions,
                    ),
                    done,
                )],
            )
            .await?;
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        self.runs
            .add_counts(
                tenant,
                connection,
                &run,
                &[
                    (counts::LEARNERS_READ, n(read.changed)),
                    (counts::RESULTS_READY, n(read.ready)),
                    (counts::RESULTS_IN_ERROR, n(read.errors)),
                    (counts::RESULTS_SAVED, n(read.saved)),
                    (counts::COMPLETIONS, n(read.completions)),
                    (
                        counts::UNENROLLED,
                        u64::from(removed == Removed::Unenrolled),
                    ),
                    (counts::SUSPENDED, u64::from(removed == Removed::Suspended)),
                ],
            )
            .await?;
        self.pipeline()
            .finish(tenant, connection, &run, (self.clock)())
            .await?;
        Ok(Removal::Removed {
            run,
            read,
            suspended: removed == Removed::Suspended,
            not_enrolled: removed == Removed::NotEnrolled,
        })
    }

    /// A removal that failed: the transfer and the run say why, and the run
    /// is finished. A transient failure is returned (the queue tries again),
    /// another is [`Removal::NotRemoved`].
    async fn not_removed(
        &self,
        removing: &Removing<'_>,
        e: PushError,
    ) -> Result<Removal, PushError> {
        let Removing {
            tenant,
            connection,
            offering,
            code,
            before,
            course,
            ..
        } = *removing;
        let run = removing.run.clone();
        let retry = e.is_retryable();
        let reason = error_text(&e);
        let done = (self.clock)();
        self.save_transfer(before, tenant, connection, offering, code, |t| {
            t.removal_error = Some(reason.clone());
            t.updated_at = done;
        })
        .await?;
        let message = format!(
            "Learner {code} was not removed from offering {offering} (course {course}): {reason}. Nothing was unenrolled; the removal is tried again {}.",
            if retry {
                "shortly"
            } else {
                "by the next nightly run, or when a person asks again"
            }
        );
        self.runs
            .append_log(
                tenant,
                connection,
                &run,
                &[line(
                    if retry {
                        LogLevel::Warning
                    } else {
                        LogLevel::Error
                    },
                    message,
                    done,
                )],
            )
            .await?;
        self.runs
            .add_counts(tenant, connection, &run, &[(counts::FAILURES, 1)])
            .await?;
        self.pipeline()
            .finish(tenant, connection, &run, (self.clock)())
            .await?;
        if retry {
            Err(e)
        } else {
            Ok(Removal::NotRemoved { run, reason })
        }
    }

    /// The read, then the unenrolment (or suspension), unless Moodle has no
    /// enrolment of the learner in the course any more: then nothing is
    /// called (a suspension would enrol them again, suspended).
    #[allow(clippy::too_many_arguments)]
    async fn read_then_remove(
        &self,
        conn: &domain::Connection,
        settings: &domain::connection::MoodleSettings,
        link: &domain::sis::CourseLink,
        code: &LearnerCode,
        user: i64,
        run: &RunId,
        now: DateTime<Utc>,
    ) -> Result<(FetchCounts, Removed), PushError> {
        let source = self
            .grades
            .for_connection(conn)
            .await
            .map_err(PushError::Learning)?;
        let results = Results {
            connections: self.connections,
            sis: self.sis,
            links: self.links,
            results: self.results,
            deliveries: self.deliveries,
            queue: self.queue,
            runs: self.runs,
            tenants: self.tenants,
        };
        let read = results
            .read_before_removal(conn, source.as_ref(), &link.offering, code, run, now)
            .await
            .map_err(|e| PushError::ResultsNotRead(Box::new(e)))?;
        tracing::info!(
            ready = read.counts.ready,
            saved = read.counts.saved,
            completions = read.counts.completions,
            "results read before removal"
        );
        let lms = self.learning.for_connection(conn).await?;
        // Whether Moodle still enrols the learner (suspended too), from the
        // participants the read just had, or asked when it read nothing.
        let enrolled = match read.enrolled {
            Some(enrolled) => enrolled,
            None => lms.enrolled_users(link.course_id).await?.contains(&user),
        };
        if !enrolled {
            tracing::info!("no enrolment left in Moodle; nothing to remove");
            return Ok((read.counts, Removed::NotEnrolled));
        }
        let suspended = !settings.unenrol_on_removal;
        let done = if suspended {
            // The enrolment's start as the push sends it: local midnight of its day.
            let zone = self.tenants.tenant_settings(&conn.tenant).await?.zone();
            let start = self
                .sis
                .enrolment(&conn.tenant, &link.offering, code)
                .await?
                .and_then(|e| e.start_date)
                .map(|d| zone.start_of_day(d));
            lms.suspend_enrolment(&CourseEnrolment {
                course: link.course_id,
                user,
                role: settings.role_id,
                start,
            })
            .await
        } else {
            lms.unenrol(link.course_id, user).await
        };
        done.map_err(|f| match PushError::from(f) {
            PushError::Refused { reason, .. } => PushError::Refused {
                what: "removal",
                reason,
            },
            other => other,
        })?;
        Ok((
            read.counts,
            if suspended {
                Removed::Suspended
            } else {
                Removed::Unenrolled
            },
        ))
    }

    async fn save_transfer(
        &self,
        before: Option<&Transfer>,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
        code: &LearnerCode,
        change: impl FnOnce(&mut Transfer),
    ) -> Result<(), PushError> {
        let mut transfer = before.cloned().unwrap_or_else(|| Transfer {
            tenant: tenant.clone(),
            connection: connection.clone(),
            offering: offering.clone(),
            learner: code.clone(),
            status: TransferStatus::Transferred,
            external_user: None,
            transferred_at: None,
            updated_at: chrono::DateTime::<Utc>::UNIX_EPOCH,
            removal_error: None,
        });
        change(&mut transfer);
        self.links.save_transfer(&transfer).await?;
        Ok(())
    }
}
