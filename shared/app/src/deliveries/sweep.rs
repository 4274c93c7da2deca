//! The daily sweep (every due delivery queued) and the report of due
//! deliveries that could not be read.

use super::create::deliver_job;
use super::error::DeliveryError;
use chrono::{DateTime, Utc};
use domain::Job;
use domain::ports::{ConnectionStore, DeliveryStore, Email, JobQueue, Mailer};

/// The most due deliveries one sweep queues; the rest wait for the next one.
pub const SWEEP_LIMIT: usize = 50_000;

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub due: usize,
    pub queued: usize,
    /// Jobs that could not be queued: still due, so the next sweep queues them.
    pub failed: usize,
    /// Due records that could not be read (left out; every other is queued).
    pub unreadable: Vec<domain::ports::UnreadableRecord>,
}

/// The daily run: queues a `deliver` job for every pending delivery, of every
/// tenant, that is due at `now` (expiry is decided when the job runs).
#[tracing::instrument(skip_all, fields(now = %now))]
pub async fn daily_sweep(
    store: &dyn DeliveryStore,
    queue: &dyn JobQueue,
    now: DateTime<Utc>,
) -> Result<SweepReport, DeliveryError> {
    // One record that cannot be read is left out, never the whole sweep.
    let (due, unreadable) = store.due_checked(now, SWEEP_LIMIT).await?;
    for record in &unreadable {
        tracing::error!(key = %record.key, reason = %record.reason, "a due delivery's stored record could not be read; the others are queued");
    }
    let jobs: Vec<Job> = due.iter().map(deliver_job).collect();
    let failures = if jobs.is_empty() {
        Vec::new()
    } else {
        queue.enqueue(&jobs).await?
    };
    let report = SweepReport {
        due: due.len(),
        queued: jobs.len() - failures.len(),
        failed: failures.len(),
        unreadable,
    };
    tracing::info!(
        due = report.due,
        queued = report.queued,
        failed = report.failed,
        "daily sweep"
    );
    Ok(report)
}

/// Tells each unreadable due delivery's connection's error address (ids and
/// the reason only), so a record the sweep had to leave out is seen. Returns
/// how many could not be told (no connection known, no address, or the
/// email failed): those are in the error log only.
pub async fn report_unreadable(
    connections: &dyn ConnectionStore,
    mailer: &dyn Mailer,
    records: &[domain::ports::UnreadableRecord],
) -> usize {
    let mut untold = 0;
    for record in records {
        let connection = match (&record.tenant, &record.connection) {
            (Some(t), Some(c)) => connections.connection(t, c).await.ok().flatten(),
            _ => None,
        };
        let Some(to) = connection.as_ref().and_then(|c| c.error_email.clone()) else {
            untold += 1;
            continue;
        };
        let subject = format!(
            "learnbridge: a delivery of connection {} could not be read",
            record
                .connection
                .as_ref()
                .map(|c| c.as_str())
                .unwrap_or("?")
        );
        let body = format!(
            "The daily retry could not read a stored delivery and left it out (every other delivery was sent).\n\nItem: {}\nWhy: {}\n\nThe record was written in a form learnbridge does not read; ask the deployment's operators to repair or remove it.",
            record.key, record.reason
        );
        if let Err(error) = mailer.send(&Email { to, subject, body }).await {
            tracing::error!(error = &error as &dyn std::error::Error, key = %record.key, "the unreadable-delivery notice could not be sent");
            untold += 1;
        }
    }
    untold
}
