//! The transfer preview of an offering: what a push would do, nothing done.

use super::error::PushError;
use super::look_up::look_up;
use super::service::{Push, moodle_connection};
use async_trait::async_trait;
use domain::plan::{self, Step};
use domain::ports::{Email, MailError, Mailer};
use domain::sis::{Learner, TransferStatus};
use domain::{ConnectionId, LearnerCode, OfferingId, TenantId, transfer};

/// One row of the transfer preview.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewRow {
    pub learner: LearnerCode,
    pub status: TransferStatus,
}

/// The mailer a transfer preview runs with, wherever it is shown (the api's
/// preview route, the console's offering page): a preview only asks Moodle and
/// emails no one, so a send, which the preview never makes, is refused.
pub struct PreviewMailer;

#[async_trait]
impl Mailer for PreviewMailer {
    async fn send(&self, _email: &Email) -> Result<(), MailError> {
        Err(MailError::Rejected {
            reason: "the transfer preview sends no email".to_owned(),
        })
    }
}

impl Push<'_> {
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
}
