//! Deliveries to the SMS: where they are kept, and the client that sends them.

use super::store::{StoreError, UnreadableRecord, Written};
use crate::connection::Connection;
use crate::error::{BoxError, Retryable};
use crate::ids::{ConnectionId, TenantId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Deliveries to the SMS and their attempts.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Stores a new delivery; one with the same id already there is
    /// [`Written::AlreadyDone`] and changes nothing.
    async fn create(&self, delivery: &crate::delivery::Delivery) -> Result<Written, StoreError>;
    async fn delivery(
        &self,
        tenant: &TenantId,
        id: &crate::delivery::DeliveryId,
    ) -> Result<Option<crate::delivery::Delivery>, StoreError>;
    /// Pending deliveries of every tenant whose next attempt is at or before
    /// `now`, oldest first (the retry worker's one cross-tenant read).
    async fn due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<crate::delivery::Delivery>, StoreError>;
    /// As [`DeliveryStore::due`], with the due records that could not be read
    /// listed beside the others instead of failing the whole sweep.
    async fn due_checked(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<(Vec<crate::delivery::Delivery>, Vec<UnreadableRecord>), StoreError> {
        Ok((self.due(now, limit).await?, Vec::new()))
    }
    /// A connection's deliveries in one state, oldest first.
    async fn by_state(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        state: crate::delivery::DeliveryState,
        limit: usize,
    ) -> Result<Vec<crate::delivery::Delivery>, StoreError>;
    /// Every attempt of one delivery, in order.
    async fn attempts(
        &self,
        tenant: &TenantId,
        id: &crate::delivery::DeliveryId,
    ) -> Result<Vec<crate::delivery::Attempt>, StoreError>;
    /// Stores `delivery` if the stored version is still `delivery.version`,
    /// together with `attempt` (atomically); the stored version becomes
    /// `version + 1`. When someone changed it first: [`StoreError::Conflict`],
    /// and nothing is written, so two workers can never both record a send.
    async fn update(
        &self,
        delivery: &crate::delivery::Delivery,
        attempt: Option<&crate::delivery::Attempt>,
    ) -> Result<(), StoreError>;
}

/// Why a delivery could not even be sent. None of these holds the secret or the body.
#[derive(Debug, thiserror::Error)]
pub enum SmsSendError {
    /// The connection's URL cannot be used: a person must fix the connection.
    #[error("the SMS connection's URL is not valid")]
    BadUrl(#[source] BoxError),
    /// The delivery cannot be written in the SMS's format.
    #[error("the delivery cannot be written in the SMS's format: {reason}")]
    Unencodable { reason: String },
    /// The HTTP client could not be built or the request not prepared.
    #[error("the SMS request could not be prepared")]
    Client(#[source] BoxError),
}

impl Retryable for SmsSendError {
    fn is_retryable(&self) -> bool {
        matches!(self, SmsSendError::Client(_))
    }
}

/// Sends one delivery to a tenant's SMS, signed with the connection's secret.
/// Timeouts and transport failures are answers ([`crate::delivery::SendResult`]), not errors.
#[async_trait]
pub trait SmsClient: Send + Sync {
    async fn send(
        &self,
        connection: &Connection,
        secret: &secrecy::SecretString,
        delivery: &crate::delivery::Delivery,
        now: DateTime<Utc>,
    ) -> Result<crate::delivery::SendResult, SmsSendError>;
}
