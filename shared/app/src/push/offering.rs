//! One offering's push: its ready enrolments to the linked course, a batch at
//! a time; the blocked recorded with why; and, in the nightly export, the
//! transferred called and the course's unknown participants said.

use super::chunk::{CHUNKS_IN_FLIGHT, Chunk, ChunkDone};
use super::error::PushError;
use super::load::{Loaded, People, transfer_record};
use super::service::{Push, PushReport, count, line, moodle_connection};
use chrono::{DateTime, Utc};
use domain::connection::MoodleSettings;
use domain::messages;
use domain::plan::{self, Step};
use domain::ports::EnrolmentPage;
use domain::ports::LearningSystem;
use domain::sis::{BlockReason, Enrolment, ExternalAccount, Learner, TransferStatus};
use domain::{
    Connection, ConnectionId, LearnerCode, LogLevel, OfferingId, RunId, RunLogLine, TenantId,
    run::counts, transfer,
};
use futures::{StreamExt, TryStreamExt};
use std::sync::Arc;

/// An enrolment blocked in this push, with every reason.
type Blocked = (Enrolment, Vec<BlockReason>);

/// Enrolments with their positions among the offering's pushable ones.
type Numbered = Vec<(usize, Enrolment)>;

/// Batches' worth of learners and accounts read ahead of the batches that
/// need them: one (a read of a batch's learners and accounts takes far less
/// than the batch's Moodle calls, and the first batch's read is not slowed by
/// the next ones').
const PAGES_AHEAD: usize = 1;

/// At most this many of the enrolments not to push have their learners and
/// accounts read at once (a `BatchGetItem`'s worth).
const OTHERS_PAGE: usize = 100;

/// An enrolment a batch sends, with its learner and account as read.
struct Sendable {
    enrolment: Enrolment,
    learner: Learner,
    account: Option<ExternalAccount>,
}

impl Sendable {
    /// The enrolment with its learner (every sendable one has one) and account.
    fn of(enrolment: &Enrolment, people: &People) -> Option<Sendable> {
        Some(Sendable {
            enrolment: enrolment.clone(),
            learner: people.learners.get(&enrolment.learner)?.clone(),
            account: people.accounts.get(&enrolment.learner).cloned(),
        })
    }
}

impl Push<'_> {
    /// Pushes an offering's ready enrolments to its linked course and, when
    /// `call` is set (the nightly export), marks the not-called ones that are
    /// in Moodle as in progress with the session date. Log lines go on `run`.
    /// Whatever went through is recorded even when a transient failure stops
    /// the rest, which is then returned so the job is tried again.
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
        self.push_offering_of(&conn, &settings, offering, run, call, now)
            .await
    }

    /// [`Push::push_offering`] with the connection read already (a job has it).
    #[tracing::instrument(name = "push_offering", skip_all, fields(tenant = %conn.tenant, connection = %conn.id, offering = %offering, run = %run))]
    pub(super) async fn push_offering_of(
        &self,
        conn: &Connection,
        settings: &MoodleSettings,
        offering: &OfferingId,
        run: &RunId,
        call: bool,
        now: DateTime<Utc>,
    ) -> Result<PushReport, PushError> {
        let (tenant, connection) = (&conn.tenant, &conn.id);
        // The site's client (its secret read) side by side with the offering's
        // records and its first batch's worth of enrolments; the client is
        // used, and its failure counts, only if someone goes.
        let first_page = settings.batch_size.max(1);
        let (loaded, first, site) = futures::join!(
            self.load_base(tenant, connection, offering),
            self.sis.enrolment_page(tenant, offering, None, first_page),
            self.learning.for_connection(conn)
        );
        let mut loaded = loaded?;
        let first = first?;
        let (pushed, people, local, lms) = match (site, loaded.link.is_some()) {
            (Ok(lms), true) => {
                let (pushed, people, local, enrolments) = self
                    .push_pages(conn, settings, &loaded, first, lms.as_ref(), run, now)
                    .await?;
                loaded.enrolments = enrolments;
                (pushed, people, local, Some(lms))
            }
            // Nothing goes to Moodle (not linked), or nothing can: the
            // blocked are still recorded, unless someone could have gone.
            (site, _) => {
                loaded.enrolments = self
                    .enrolment_pages(tenant, offering, first)
                    .try_concat()
                    .await?;
                let codes: Vec<LearnerCode> = loaded
                    .enrolments
                    .iter()
                    .map(|e| e.learner.clone())
                    .collect();
                let people = self.load_people(tenant, connection, &codes).await?;
                let everyone: Vec<(usize, &Enrolment)> =
                    loaded.enrolments.iter().enumerate().collect();
                let (sendable, local) = sendable(settings, &loaded, &people, &everyone);
                let lms = match site {
                    Ok(lms) => Some(lms),
                    Err(e) if !sendable.is_empty() => return Err(e.into()),
                    Err(_) => None,
                };
                (ChunkDone::default(), people, local, lms)
            }
        };
        loaded.learners = people.learners;
        loaded.accounts = people.accounts;
        let ChunkDone {
            mut report,
            blocked: blocked_in_moodle,
            mut log,
            transient,
        } = pushed;
        let mut blocked: Vec<Blocked> = local.into_iter().map(|(_, b)| b).collect();
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
                .alert_unknown(conn, lms, &loaded, run, offering, now)
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

    /// The linked offering's push to `lms`. Its pushable enrolments come a
    /// page at a time from `first` on ([`Push::enrolment_pages`]); those a
    /// push may send (not transferred) have their learners and accounts read
    /// a batch's worth at a time, [`PAGES_AHEAD`] ahead, and the sendable go
    /// to Moodle in batches of the batch size as soon as each is read, a
    /// batch at a time from its look-ups to its emails, [`CHUNKS_IN_FLIGHT`]
    /// batches at once: one batch's stores and emails overlap the next one's
    /// Moodle calls (which the connection's permits bound, whatever the
    /// number of batches), and the next page of enrolments is read while the
    /// first batch goes. The others' learners and accounts are read as their
    /// pages come. What the batches did, together; every enrolment's learner
    /// and account; the enrolments blocked by the SMS's records alone, by
    /// position; and every pushable enrolment, in order.
    #[allow(clippy::too_many_arguments)]
    async fn push_pages(
        &self,
        conn: &Connection,
        settings: &MoodleSettings,
        loaded: &Loaded,
        first: EnrolmentPage,
        lms: &dyn LearningSystem,
        run: &RunId,
        now: DateTime<Utc>,
    ) -> Result<(ChunkDone, People, Vec<(usize, Blocked)>, Vec<Enrolment>), PushError> {
        let (tenant, connection) = (&conn.tenant, &conn.id);
        let Some(link) = &loaded.link else {
            return Ok(Default::default());
        };
        let batch_size = settings.batch_size.max(1);
        let enrolled = futures::lock::Mutex::new(None);
        let looking = futures::lock::Mutex::new(());
        let mut local: Vec<(usize, Blocked)> = Vec::new();
        let mut people = People::default();
        let mut all: Vec<Enrolment> = Vec::new();
        // The enrolments not to push (transferred, removed), by position, to
        // have their learners read beside the batches.
        let (others_tx, others_rx) = futures::channel::mpsc::unbounded::<(usize, Enrolment)>();
        // The closure owns the sender: it is dropped, and the others' reads
        // end, when the batches have taken every page.
        let every = &mut all;
        let candidates = self
            .enrolment_pages(tenant, &loaded.offering.id, first)
            .flat_map(move |page| {
                let items: Vec<Result<(usize, Enrolment), PushError>> = match page {
                    Ok(page) => {
                        let mut items = Vec::with_capacity(page.len());
                        for e in page {
                            let position = every.len();
                            every.push(e.clone());
                            if transfer::needs_push(loaded.transfers.get(&e.learner)) {
                                items.push(Ok((position, e)));
                            } else {
                                // The receiver lives until every page is read.
                                let _ = others_tx.unbounded_send((position, e));
                            }
                        }
                        items
                    }
                    Err(e) => vec![Err(e)],
                };
                futures::stream::iter(items)
            });
        let batches = candidates
            .chunks(batch_size)
            .map(|page| async move {
                match page.into_iter().collect::<Result<Numbered, PushError>>() {
                    Ok(page) => {
                        let codes: Vec<LearnerCode> =
                            page.iter().map(|(_, e)| e.learner.clone()).collect();
                        let read = self.load_people(tenant, connection, &codes).await;
                        (page, read)
                    }
                    Err(e) => (Vec::new(), Err(e)),
                }
            })
            .buffered(PAGES_AHEAD)
            .flat_map(|(page, read)| {
                let items: Vec<Result<Sendable, PushError>> = match read {
                    Ok(read) => {
                        let page: Vec<(usize, &Enrolment)> =
                            page.iter().map(|(i, e)| (*i, e)).collect();
                        let (sendable, blocked) = sendable(settings, loaded, &read, &page);
                        local.extend(blocked);
                        let items = sendable
                            .into_iter()
                            .filter_map(|e| Sendable::of(e, &read).map(Ok))
                            .collect();
                        people.absorb(read);
                        items
                    }
                    Err(e) => vec![Err(e)],
                };
                futures::stream::iter(items)
            })
            .chunks(batch_size)
            .enumerate()
            .map(|(n, items)| {
                let (enrolled, looking) = (&enrolled, &looking);
                async move {
                    let batch = match items.into_iter().collect::<Result<Vec<_>, _>>() {
                        Ok(items) => items,
                        Err(e) => return (n, Err(e)),
                    };
                    let mut mine = People::default();
                    let mut owned = Vec::with_capacity(batch.len());
                    for item in batch {
                        owned.push(item.enrolment);
                        if let Some(account) = item.account {
                            mine.accounts.insert(item.learner.code.clone(), account);
                        }
                        mine.learners
                            .insert(item.learner.code.clone(), item.learner);
                    }
                    let enrolments: Vec<&Enrolment> = owned.iter().collect();
                    let cx = Chunk {
                        tenant,
                        connection,
                        run,
                        settings,
                        loaded,
                        people: &mine,
                        lms,
                        link,
                        enrolled,
                        looking,
                        now,
                    };
                    (n, self.push_chunk(&cx, &enrolments).await)
                }
            })
            .buffer_unordered(CHUNKS_IN_FLIGHT)
            .collect::<Vec<(usize, Result<ChunkDone, PushError>)>>();
        // The others' learners and accounts, read as their pages come.
        let others = async {
            let mut others: Numbered = Vec::new();
            let mut read = People::default();
            let mut pages = others_rx.ready_chunks(OTHERS_PAGE);
            while let Some(page) = pages.next().await {
                let codes: Vec<LearnerCode> = page.iter().map(|(_, e)| e.learner.clone()).collect();
                read.absorb(self.load_people(tenant, connection, &codes).await?);
                others.extend(page);
            }
            Ok::<_, PushError>((others, read))
        };
        let (mut done, others) = futures::join!(batches, others);
        done.sort_by_key(|(n, _)| *n);
        let pushed = merge(done.into_iter().map(|(_, d)| d))?;
        let (others, read) = others?;
        people.absorb(read);
        // The others (transferred or removed) are blocked only if their
        // records say so now.
        let others: Vec<(usize, &Enrolment)> = others.iter().map(|(i, e)| (*i, e)).collect();
        let (_, blocked) = sendable(settings, loaded, &people, &others);
        local.extend(blocked);
        local.sort_by_key(|(i, _)| *i);
        Ok((pushed, people, local, all))
    }

    /// Saves the transfers of the blocked whose status changed, each with a
    /// warning on the run naming why.
    async fn save_blocked(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        loaded: &Loaded,
        blocked: Vec<Blocked>,
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
                    tenant, connection, loaded, &e, status, None, now,
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
/// fix. Of `enrolments` (of `loaded`, by position, with their learners and
/// accounts in `people`): the sendable, and the others blocked with why.
fn sendable<'a>(
    settings: &MoodleSettings,
    loaded: &Loaded,
    people: &People,
    enrolments: &[(usize, &'a Enrolment)],
) -> (Vec<&'a Enrolment>, Vec<(usize, Blocked)>) {
    let linked = loaded.link.is_some();
    let mut sendable = Vec::new();
    let mut blocked = Vec::new();
    for &(i, e) in enrolments {
        let learner = people.learners.get(&e.learner);
        if transfer::needs_push(loaded.transfers.get(&e.learner))
            && learner.is_some()
            && transfer::local_blocks(learner, e, linked).is_empty()
        {
            sendable.push(e);
        } else if let Step::Blocked(reasons) =
            plan::plan_entry(settings, linked, people.entry(loaded, e), &[])
        {
            blocked.push((i, (e.clone(), reasons)));
        }
    }
    (sendable, blocked)
}

/// What the batches did, together, in their order: every batch ran to its
/// end (none is cut off halfway between a write and its count); the first
/// failure is then the push's.
fn merge(done: impl Iterator<Item = Result<ChunkDone, PushError>>) -> Result<ChunkDone, PushError> {
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
