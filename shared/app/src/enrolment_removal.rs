//! A person asks to remove one enrolment from a Moodle connection's course:
//! only an enrolment that is there (transferred, not removed already) is, by a
//! `remove_enrolment` job (which reads the learner's results first).

use domain::ports::{ConnectionStore, JobQueue, LinkStore, QueueError, SisStore, StoreError};
use domain::sis::TransferStatus;
use domain::{ConnectionId, ConnectionKind, Job, LearnerCode, OfferingId, TenantId};

/// The ports a removal request uses.
pub struct RemovalRequest<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub sis: &'a dyn SisStore,
    pub links: &'a dyn LinkStore,
    pub queue: &'a dyn JobQueue,
}

#[derive(Debug, thiserror::Error)]
pub enum RemovalRequestError {
    /// The connection sent is not a connection id.
    #[error(transparent)]
    BadConnection(domain::IdError),
    #[error("connection {id} does not exist")]
    NoConnection { id: ConnectionId },
    #[error(
        "connection {id} is a {} connection; this route works with a Moodle connection",
        kind.as_str()
    )]
    NotMoodle {
        id: ConnectionId,
        kind: ConnectionKind,
    },
    #[error("learner {learner} is not enrolled in offering {offering}")]
    NotEnrolled {
        offering: OfferingId,
        learner: LearnerCode,
    },
    #[error(
        "the enrolment is not in connection {connection}'s course (never transferred, or removed already)"
    )]
    NotTransferred { connection: ConnectionId },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the removal could not be queued")]
    NotQueued(#[source] QueueError),
}

impl RemovalRequest<'_> {
    /// Queues the removal of `learner`'s enrolment in `offering` from
    /// `connection`'s course (as sent). Answers the connection.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, offering = %offering))]
    pub async fn request(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        learner: &LearnerCode,
        connection: String,
    ) -> Result<ConnectionId, RemovalRequestError> {
        let id = ConnectionId::parse(connection).map_err(RemovalRequestError::BadConnection)?;
        let Some(stored) = self.connections.connection(tenant, &id).await? else {
            return Err(RemovalRequestError::NoConnection { id });
        };
        if stored.kind() != ConnectionKind::Moodle {
            return Err(RemovalRequestError::NotMoodle {
                id,
                kind: stored.kind(),
            });
        }
        if self
            .sis
            .enrolment(tenant, offering, learner)
            .await?
            .is_none()
        {
            return Err(RemovalRequestError::NotEnrolled {
                offering: offering.clone(),
                learner: learner.clone(),
            });
        }
        let transfer = self.links.transfer(tenant, &id, offering, learner).await?;
        if !matches!(
            transfer.map(|t| t.status),
            Some(TransferStatus::Transferred)
        ) {
            return Err(RemovalRequestError::NotTransferred { connection: id });
        }
        let job = Job::RemoveEnrolment {
            tenant: tenant.clone(),
            connection: id.clone(),
            offering: offering.clone(),
            learner: learner.clone(),
        };
        let failures = self
            .queue
            .enqueue(std::slice::from_ref(&job))
            .await
            .map_err(RemovalRequestError::NotQueued)?;
        if let Some(failure) = failures.into_iter().next() {
            tracing::error!(
                job = job.name(),
                error = &failure.error as &dyn std::error::Error,
                "job not queued"
            );
            return Err(RemovalRequestError::NotQueued(failure.error));
        }
        tracing::info!(jobs = 1, "jobs queued");
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::{MemConnections, MemLinks, MemQueue, MemSis};
    use domain::Connection;
    use domain::connection::{ConnectionSettings, MoodleSettings, SmsSettings};

    #[tokio::test]
    async fn only_a_transferred_enrolment_in_a_moodle_course_is_queued_for_removal() {
        let tenant = TenantId::parse("acme").unwrap();
        let connections = MemConnections::default();
        for (id, settings) in [
            ("lms", ConnectionSettings::Moodle(MoodleSettings::default())),
            ("sms", ConnectionSettings::Sms(SmsSettings::default())),
        ] {
            connections.0.lock().unwrap().push(Connection {
                tenant: tenant.clone(),
                id: ConnectionId::parse(id).unwrap(),
                name: id.into(),
                base_url: "https://x.example".into(),
                enabled: true,
                error_email: None,
                settings,
            });
        }
        let (sis, links, queue) = (MemSis::default(), MemLinks::default(), MemQueue::default());
        let request = RemovalRequest {
            connections: &connections,
            sis: &sis,
            links: &links,
            queue: &queue,
        };
        let offering = OfferingId::parse("OFF-1").unwrap();
        let learner = LearnerCode::parse("L1").unwrap();
        let ask = |c: &str| request.request(&tenant, &offering, &learner, c.to_owned());
        assert!(matches!(
            ask("sms").await.unwrap_err(),
            RemovalRequestError::NotMoodle { .. }
        ));
        assert!(matches!(
            ask("nope").await.unwrap_err(),
            RemovalRequestError::NoConnection { .. }
        ));
        assert!(matches!(
            ask("lms").await.unwrap_err(),
            RemovalRequestError::NotEnrolled { .. }
        ));
        assert!(queue.sent.lock().unwrap().is_empty());
    }
}
