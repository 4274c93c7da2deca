//! Deliveries to a tenant's SMS: one signed POST per delivery, in the format
//! the connection's settings name ([`domain::connection::DeliveryFormat`]):
//!
//! - [`json`]: a generic JSON webhook, HMAC-SHA256 over `"{timestamp}.{raw body}"`
//!   ([`crate::signature`]), with an `Idempotency-Key` header;
//! - [`coachview`]: Coachview's generic results XML, one message per person and
//!   course part, `X-WebHook-Signature` = hex HMAC-SHA512 of the body.
//!
//! The answer is returned as it came ([`SendResult`]): classifying it is the
//! domain's rule (`domain::delivery::classify`). See docs/connectors/sms.md.

pub mod coachview;
pub mod json;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::Connection;
use domain::connection::{ConnectionSettings, DeliveryFormat};
use domain::delivery::{Delivery, SendResult, SmsAnswer, body_excerpt};
use domain::ports::{SmsClient, SmsSendError};
use secrecy::SecretString;
use std::time::Duration;

/// The header carrying a delivery's idempotency key, in both formats.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Bytes of an answer's body that are read (the rest is never needed).
const MAX_BODY_BYTES: usize = 4096;

/// The client's settings.
#[derive(Debug, Clone, Copy)]
pub struct SmsClientConfig {
    /// Per request, connection to last byte: well under retry-worker's 300 s
    /// and under [`domain::delivery::SEND_LEASE`].
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Where the client may connect (public https only unless the deployment
    /// allows internal URLs).
    pub egress: crate::egress::Egress,
}

impl Default for SmsClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            egress: crate::egress::Egress::PublicOnly,
        }
    }
}

/// One signed request, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub content_type: &'static str,
    /// Header name (lower case) and value; includes the signature.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// [`SmsClient`] over HTTPS. Cheap to clone; redirects are not followed (a
/// redirect means the configured URL is wrong, see the outcomes table).
#[derive(Debug, Clone)]
pub struct HttpSmsClient {
    http: reqwest::Client,
    egress: crate::egress::Egress,
}

impl HttpSmsClient {
    pub fn new(config: SmsClientConfig) -> Result<Self, SmsSendError> {
        let http = crate::egress::client_builder(config.egress)
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("learnbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SmsSendError::Client(Box::new(e)))?;
        Ok(Self {
            http,
            egress: config.egress,
        })
    }
}

/// Builds the signed request for `delivery` in the connection's format.
pub fn build_request(
    connection: &Connection,
    secret: &SecretString,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Result<SignedRequest, SmsSendError> {
    let ConnectionSettings::Sms(settings) = &connection.settings else {
        return Err(SmsSendError::Unencodable {
            reason: format!("connection {} is not an SMS connection", connection.id),
        });
    };
    match settings.format {
        DeliveryFormat::JsonWebhook => json::request(secret, delivery, now),
        DeliveryFormat::CoachviewXml => coachview::request(secret, delivery),
    }
}

async fn read_excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body_excerpt(&String::from_utf8_lossy(&bytes))
}

#[async_trait]
impl SmsClient for HttpSmsClient {
    async fn send(
        &self,
        connection: &Connection,
        secret: &SecretString,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<SendResult, SmsSendError> {
        let url =
            url::Url::parse(&connection.base_url).map_err(|e| SmsSendError::BadUrl(Box::new(e)))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(SmsSendError::BadUrl(
                format!("the URL scheme {} is not http(s)", url.scheme()).into(),
            ));
        }
        crate::egress::check_url(&url, self.egress)
            .map_err(|refused| SmsSendError::BadUrl(Box::new(refused)))?;
        let request = build_request(connection, secret, delivery, now)?;
        let mut builder = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, request.content_type);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        match builder.body(request.body).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response
                    .headers()
                    .iter()
                    .filter_map(|(k, v)| {
                        v.to_str()
                            .ok()
                            .map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned()))
                    })
                    .collect();
                let body = read_excerpt(response).await;
                Ok(SendResult::Answered(SmsAnswer {
                    status,
                    headers,
                    body,
                }))
            }
            Err(e) if e.is_timeout() => {
                tracing::warn!(delivery = %delivery.id, "the SMS did not answer in time");
                Ok(SendResult::TimedOut)
            }
            Err(e) if e.is_builder() => Err(SmsSendError::Client(Box::new(e))),
            Err(e) => {
                // The name resolved to an internal address: the URL must change.
                if let Some(refused) = crate::egress::refusal(&e) {
                    return Err(SmsSendError::BadUrl(Box::new(refused.clone())));
                }
                tracing::warn!(delivery = %delivery.id, connect = e.is_connect(), "the SMS could not be reached");
                Ok(SendResult::Unreachable)
            }
        }
    }
}
