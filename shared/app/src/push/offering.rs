//! One offering's push: its ready enrolments to the linked course, a batch at
//! a time; the blocked recorded with why; and, in the nightly export, the
//! transferred called and the course's unknown participants said.

use super::chunk::{CHUNKS_IN_FLIGHT, Chunk, ChunkDone};
use super::error::PushError;
use super::load::{Loaded, transfer_record};
use super::service::{Push, PushReport, count, line, moodle_connection};
use chrono::{DateTime, Utc};
use domain::connection::MoodleSettings;
use domain::messages;
use domain::plan::{self, Step};
use domain::ports::LearningSystem;
use domain::sis::{BlockReason, Enrolment, TransferStatus};
use domain::{
    Connection, ConnectionId, LogLevel, OfferingId, RunId, RunLogLine, TenantId, run::counts,
    transfer,
};
use futures::StreamExt;
use std::sync::Arc;

/// An enrolment blocked in this push, with every reason.
type Blocked<'a> = (&'a Enrolment, Vec<BlockReason>);

impl Push<'_> {
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
        let (sendable, mut blocked) = sendable(&settings, &loaded);
        let lms = if sendable.is_empty() {
            None
        } else {
            Some(site?)
        };
        let mut pushed = ChunkDone::default();
        if let (Some(lms), Some(link)) = (&lms, &loaded.link) {
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
            pushed = self.push_batches(&cx, &sendable).await?;
        }
        let ChunkDone {
            mut report,
            blocked: blocked_in_moodle,
            mut log,
            transient,
        } = pushed;
        blocked.extend(blocked_in_moodle);
        report.blocked += blocked.len();
        self.save_blocked(tenant, connection, &loaded, blocked, &mut log, now)
            .await?;

        if call {
            report.called = self
                .call_transferred(tenant, connection, &loaded, &mut log, now)
                .await?;
        }
        let mut unknown = 0;
        if call && settings.exclusive_tenant_alerts {
            unknown = self
                .alert_unknown(&conn, lms, &loaded, run, offering, now)
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
        self.record_offering(tenant, connection, run, offering, &report, unknown)
            .await?;
        match transient {
            Some(err) => Err(PushError::Learning(err)),
            None => Ok(report),
        }
    }

    /// The sendable enrolments, a batch at a time from their look-ups to
    /// their emails, [`CHUNKS_IN_FLIGHT`] batches at once: one batch's
    /// stores and emails overlap the next one's Moodle calls (which the
    /// connection's permits bound, whatever the number of batches). What the
    /// batches did, together.
    async fn push_batches<'a>(
        &self,
        cx: &Chunk<'a>,
        sendable: &[&'a Enrolment],
    ) -> Result<ChunkDone<'a>, PushError> {
        let done: Vec<Result<ChunkDone<'_>, PushError>> =
            futures::stream::iter(sendable.chunks(cx.settings.batch_size.max(1)))
                .map(|enrolments| self.push_chunk(cx, enrolments))
                .buffered(CHUNKS_IN_FLIGHT)
                .collect()
                .await;
        // Every batch ran to its end (none is cut off halfway between a
        // write and its count); the first failure is then the push's.
        let mut all = ChunkDone::default();
        let mut failure = None;
        for chunk in done {
            match chunk {
                Ok(chunk) => {
                    all.report.absorb(&chunk.report);
                    all.blocked.extend(chunk.blocked);
                    all.log.extend(chunk.log);
                    if all.transient.is_none() {
                        all.transient = chunk.transient;
                    }
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(all),
        }
    }

    /// Saves the transfers of the blocked whose status changed, each with a
    /// warning on the run naming why.
    async fn save_blocked(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        loaded: &Loaded,
        blocked: Vec<Blocked<'_>>,
        log: &mut Vec<RunLogLine>,
        now: DateTime<Utc>,
    ) -> Result<(), PushError> {
        let mut changed = Vec::new();
        for (e, reasons) in blocked {
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
                    tenant, connection, loaded, e, status, None, now,
                ));
            }
        }
        self.links.save_transfers(&changed).await?;
        Ok(())
    }

    /// Exclusive-tenant alerts on a linked offering (the site's client made
    /// now if the push needed none): the unknown participants, said once per
    /// offering and run. How many there were.
    async fn alert_unknown(
        &self,
        conn: &Connection,
        lms: Option<Arc<dyn LearningSystem>>,
        loaded: &Loaded,
        run: &RunId,
        offering: &OfferingId,
        now: DateTime<Utc>,
    ) -> Result<usize, PushError> {
        let Some(link) = &loaded.link else {
            return Ok(0);
        };
        let lms = match lms {
            Some(lms) => lms,
            None => self.learning.for_connection(conn).await?,
        };
        let mut lines = Vec::new();
        let unknown = self
            .unknown_participants(&conn.tenant, lms.as_ref(), link, loaded, &mut lines, now)
            .await?;
        // Said once per offering and run, however often the job comes back.
        self.runs
            .append_once(
                &conn.tenant,
                &conn.id,
                run,
                &format!("unknown_participants#{offering}"),
                &lines,
                &[],
            )
            .await?;
        Ok(unknown)
    }

    /// What the offering's push found, set on the run, and traced.
    async fn record_offering(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        run: &RunId,
        offering: &OfferingId,
        report: &PushReport,
        unknown: usize,
    ) -> Result<(), PushError> {
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
        Ok(())
    }
}

/// Only those a push can send go to Moodle: pending, with nothing local to
/// fix. The sendable, and the others blocked with why.
fn sendable<'a>(
    settings: &MoodleSettings,
    loaded: &'a Loaded,
) -> (Vec<&'a Enrolment>, Vec<Blocked<'a>>) {
    let linked = loaded.link.is_some();
    let (sendable, local): (Vec<&Enrolment>, Vec<&Enrolment>) =
        loaded.enrolments.iter().partition(|e| {
            transfer::needs_push(loaded.transfers.get(&e.learner))
                && loaded.learners.contains_key(&e.learner)
                && transfer::local_blocks(loaded.learners.get(&e.learner), e, linked).is_empty()
        });
    let mut blocked = Vec::new();
    for e in local {
        if let Step::Blocked(reasons) = plan::plan_entry(settings, linked, loaded.entry(e), &[]) {
            blocked.push((e, reasons));
        }
    }
    (sendable, blocked)
}
