//! The nightly export's call: not-called enrolments that are in Moodle
//! become in progress with the session date.

use super::error::PushError;
use super::load::Loaded;
use super::service::{Push, line};
use chrono::{DateTime, Utc};
use domain::messages;
use domain::sis::{EnrolmentState, TransferStatus};
use domain::{ConnectionId, LearnerCode, LogLevel, RunLogLine, TenantId};
use std::collections::BTreeMap;

impl Push<'_> {
    /// Not-called enrolments that are in Moodle become in progress with the
    /// session date (the offering's start, else today), each with its log line.
    pub(super) async fn call_transferred(
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
}
