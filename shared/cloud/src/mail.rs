//! SES: the [`Mailer`] port over SES v2 `SendEmail`.

use crate::error::{is_transient, service_code};
use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use domain::ports::{Email, MailError, Mailer};

/// The SES error codes that mean "this message will not be sent as it is".
const REFUSED: &[&str] = &[
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "AccountSuspendedException",
    "SendingPausedException",
    "BadRequestException",
    "NotFoundException",
];

/// Sends plain-text email from one verified sender identity.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: crate::sdk::LazyClient<Client>,
    from: String,
}

impl SesMailer {
    pub fn new(client: Client, from: impl Into<String>) -> Self {
        Self {
            client: crate::sdk::LazyClient::ready(client),
            from: from.into(),
        }
    }

    /// Over a client built at the first email, not now (a function's init: see
    /// [`crate::sdk::LazyClient`]).
    pub fn lazy(sdk: &aws_config::SdkConfig, from: impl Into<String>) -> Self {
        Self {
            client: crate::sdk::LazyClient::new(sdk, Client::new),
            from: from.into(),
        }
    }
}

fn content(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|err| MailError::Unavailable(Box::new(err)))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(Body::builder().text(content(&email.body)?).build())
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if !is_transient(&err) => {
                let reason = match service_code(&err) {
                    Some(code) if REFUSED.contains(&code) => code.to_owned(),
                    Some(code) => format!("SES refused the request ({code})"),
                    None => "SES refused the request".to_owned(),
                };
                Err(MailError::Rejected { reason })
            }
            Err(err) => Err(MailError::Unavailable(Box::new(err))),
        }
    }
}

/// Used when `MAIL_FROM` is not set: every email is refused with that reason,
/// so each shows as a warning where it was due and nobody thinks it was sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMailer;

#[async_trait]
impl Mailer for NoMailer {
    async fn send(&self, _email: &Email) -> Result<(), MailError> {
        Err(MailError::Rejected {
            reason: format!("{} is not set", crate::config::MAIL_FROM),
        })
    }
}

/// The function's mailer: SES from `MAIL_FROM`, or [`NoMailer`] without one.
pub fn mailer(mail_from: Option<&str>, sdk: &aws_config::SdkConfig) -> std::sync::Arc<dyn Mailer> {
    match mail_from {
        Some(from) => std::sync::Arc::new(SesMailer::lazy(sdk, from.to_owned())),
        None => std::sync::Arc::new(NoMailer),
    }
}
