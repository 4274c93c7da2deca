//! Sending email.

use crate::email::Email;
use crate::error::{BoxError, Retryable};
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the mail service is unavailable")]
    Unavailable(#[source] BoxError),
    #[error("the mail service refused the message: {reason}")]
    Rejected { reason: String },
}

impl MailError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, MailError::Unavailable(_))
    }
}

impl Retryable for MailError {
    fn is_retryable(&self) -> bool {
        MailError::is_retryable(self)
    }
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}
