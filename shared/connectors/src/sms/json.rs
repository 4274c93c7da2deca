//! The generic JSON webhook: `POST {url}` with the delivery as JSON, signed
//! like every learnbridge webhook ([`crate::signature`]): HMAC-SHA256 over
//! `"{timestamp}.{raw body}"` in `x-learnbridge-signature: v1=<hex>`, the Unix
//! timestamp in `x-learnbridge-timestamp`, and the delivery's idempotency key
//! in `Idempotency-Key`.

use super::{IDEMPOTENCY_KEY_HEADER, SignedRequest};
use crate::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use chrono::{DateTime, Utc};
use domain::delivery::{Delivery, DeliveryKind};
use domain::ports::SmsSendError;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// The JSON body, version 1.
#[derive(Debug, Serialize)]
pub struct Message<'a> {
    pub version: u8,
    pub delivery_id: &'a str,
    pub idempotency_key: &'a str,
    pub tenant: &'a str,
    pub kind: DeliveryKind,
    pub learner: &'a str,
    pub offering: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessable: Option<&'a str>,
    /// The result, completion, attendance or LLN assessment, as produced.
    pub data: &'a serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// The JSON body of a delivery.
pub fn body(delivery: &Delivery) -> Result<Vec<u8>, SmsSendError> {
    let message = Message {
        version: 1,
        delivery_id: delivery.id.as_str(),
        idempotency_key: &delivery.idempotency_key,
        tenant: delivery.tenant.as_str(),
        kind: delivery.kind,
        learner: delivery.learner.as_str(),
        offering: delivery.offering.as_str(),
        assessable: delivery.assessable.as_ref().map(|a| a.as_str()),
        data: &delivery.payload,
        created_at: delivery.created_at,
    };
    serde_json::to_vec(&message).map_err(|_| SmsSendError::Unencodable {
        reason: "the JSON body could not be written".to_owned(),
    })
}

/// The signed request.
pub fn request(
    secret: &SecretString,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Result<SignedRequest, SmsSendError> {
    let body = body(delivery)?;
    let timestamp = now.timestamp();
    let signature = signature::sign(secret.expose_secret().as_bytes(), timestamp, &body);
    Ok(SignedRequest {
        content_type: "application/json",
        headers: vec![
            (TIMESTAMP_HEADER, timestamp.to_string()),
            (SIGNATURE_HEADER, signature),
            (IDEMPOTENCY_KEY_HEADER, delivery.idempotency_key.clone()),
        ],
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use domain::delivery::DeliveryKey;
    use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};

    #[test]
    fn the_request_verifies_with_the_shared_scheme() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap();
        let key = DeliveryKey {
            tenant: TenantId::parse("acme").unwrap(),
            learner: LearnerCode::parse("L1").unwrap(),
            offering: OfferingId::parse("O1").unwrap(),
            assessable: Some(AssessableId::parse("U1").unwrap()),
            kind: DeliveryKind::Result,
        };
        let d = Delivery::new(
            &key,
            ConnectionId::parse("sms").unwrap(),
            serde_json::json!({"grade": "C"}),
            now,
        );
        let secret = SecretString::from("whsec_x");
        let r = request(&secret, &d, now).unwrap();
        let header = |n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("idempotency-key"), Some("acme:result:L1:O1:U1"));
        assert_eq!(
            signature::verify(
                b"whsec_x",
                header(TIMESTAMP_HEADER),
                header(SIGNATURE_HEADER),
                &r.body,
                now,
                300
            ),
            Ok(())
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["data"]["grade"], "C");
        assert_eq!(v["kind"], "result");
        assert_eq!(v["assessable"], "U1");
    }
}
