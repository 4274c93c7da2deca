//! Why a delivery use case failed.

use domain::ConnectionId;
use domain::delivery::{DeliveryId, RefusedChange};
use domain::ports::{QueueError, Retryable, SecretError, SmsSendError, StoreError};

/// Why a delivery use case failed. Only store, queue and secret outages are
/// worth retrying; the rest are answered to the person or recorded.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("the connection's secret could not be read")]
    Secret(#[source] SecretError),
    #[error(transparent)]
    Send(#[from] SmsSendError),
    #[error("delivery {id} does not exist")]
    NotFound { id: DeliveryId },
    #[error(transparent)]
    Refused(#[from] RefusedChange),
    #[error("connection {connection} is not an SMS connection")]
    NotSms { connection: ConnectionId },
    #[error("delivery {id} was changed by someone else; try again")]
    Changed { id: DeliveryId },
}

impl Retryable for DeliveryError {
    fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Store(e) => e.is_retryable(),
            DeliveryError::Queue(e) => e.is_retryable(),
            DeliveryError::Secret(e) => e.is_retryable(),
            DeliveryError::Send(e) => e.is_retryable(),
            DeliveryError::Changed { .. } => true,
            DeliveryError::NotFound { .. }
            | DeliveryError::Refused(_)
            | DeliveryError::NotSms { .. } => false,
        }
    }
}
