//! The learners' emails of a push.

use super::service::{Push, PushReport, line};
use chrono::{DateTime, Utc};
use domain::ports::Email;
use domain::sis::Learner;
use domain::{LogLevel, RunLogLine};
use futures::StreamExt;

/// Learner emails sent at once.
const EMAILS_IN_FLIGHT: usize = 8;

impl Push<'_> {
    /// Sends the emails, [`EMAILS_IN_FLIGHT`] at once; one that cannot be
    /// sent is a warning on the run.
    pub(super) async fn send_all(
        &self,
        emails: &[(Email, &Learner)],
        log: &mut Vec<RunLogLine>,
        report: &mut PushReport,
        now: DateTime<Utc>,
    ) {
        let sent: Vec<(&Email, &Learner, Result<(), _>)> = futures::stream::iter(emails)
            .map(|(email, learner)| async move { (email, *learner, self.mailer.send(email).await) })
            .buffered(EMAILS_IN_FLIGHT)
            .collect()
            .await;
        for (email, learner, result) in sent {
            match result {
                Ok(()) => report.emails += 1,
                Err(error) => {
                    tracing::warn!(
                        error = &error as &dyn std::error::Error,
                        "learner email not sent"
                    );
                    log.push(line(
                        LogLevel::Warning,
                        format!(
                            "User {} ({}) - the \"{}\" email could not be sent",
                            learner.display_name(),
                            learner.code,
                            email.subject
                        ),
                        now,
                    ));
                }
            }
        }
    }
}
