//! Signed webhooks: HMAC-SHA256 over `"{timestamp}.{raw body}"`, with the
//! timestamp checked against a tolerance so a captured request cannot be replayed.
//!
//! Verification happens on the raw bytes, before anything is parsed, and the
//! comparison is constant-time (`Mac::verify_slice`).

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Header carrying the Unix timestamp (seconds) the sender signed.
pub const TIMESTAMP_HEADER: &str = "x-learnbridge-timestamp";
/// Header carrying `v1=<hex hmac>`; several space-separated signatures are
/// accepted during a secret rotation.
pub const SIGNATURE_HEADER: &str = "x-learnbridge-signature";
/// How far a timestamp may be from now, either way.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a request was refused. Carries no secret and no body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {header} header is missing")]
    MissingHeader { header: &'static str },
    #[error("the {header} header is not a Unix timestamp in seconds")]
    BadTimestamp { header: &'static str },
    #[error(
        "the request timestamp is {skew_secs} s away from now; at most {tolerance_secs} s is accepted"
    )]
    Stale { skew_secs: i64, tolerance_secs: i64 },
    #[error("the signature does not match the body")]
    Mismatch,
}

impl SignatureError {
    /// The header a person should look at.
    pub fn field(&self) -> &'static str {
        match self {
            SignatureError::MissingHeader { header } | SignatureError::BadTimestamp { header } => {
                header
            }
            SignatureError::Stale { .. } => TIMESTAMP_HEADER,
            SignatureError::Mismatch => SIGNATURE_HEADER,
        }
    }
}

fn mac_for(secret: &[u8], timestamp: &str, route: Option<&str>, body: &[u8]) -> HmacSha256 {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; `new_from_slice` cannot refuse one.
        Err(_) => <HmacSha256 as KeyInit>::new(&Default::default()),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    if let Some(route) = route {
        mac.update(route.as_bytes());
        mac.update(b".");
    }
    mac.update(body);
    mac
}

/// The signature header value for a body signed at `timestamp` (seconds):
/// HMAC over `"{timestamp}.{body}"` (the deliveries to the SMS).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mac = mac_for(secret, &timestamp.to_string(), None, body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The route an inbound webhook is signed for: `"{tenant}/{connection}"`.
pub fn webhook_route(tenant: &str, connection: &str) -> String {
    format!("{tenant}/{connection}")
}

/// The signature of a request to one inbound webhook route: HMAC over
/// `"{timestamp}.{route}.{body}"` (route from [`webhook_route`]). Binding the route
/// means a request signed for one tenant's connection is refused by any other, even
/// if two connections were given the same secret.
pub fn sign_route(secret: &[u8], timestamp: i64, route: &str, body: &[u8]) -> String {
    let mac = mac_for(secret, &timestamp.to_string(), Some(route), body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies a request signed with [`sign_route`] for `route`.
pub fn verify_route(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    route: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    verify_with(
        secret,
        timestamp,
        signature,
        Some(route),
        body,
        now,
        tolerance_secs,
    )
}

/// Verifies a signed request on its raw body (signed with [`sign`]).
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    verify_with(
        secret,
        timestamp,
        signature,
        None,
        body,
        now,
        tolerance_secs,
    )
}

fn verify_with(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    route: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp
        .ok_or(SignatureError::MissingHeader {
            header: TIMESTAMP_HEADER,
        })?
        .trim();
    let signature = signature.ok_or(SignatureError::MissingHeader {
        header: SIGNATURE_HEADER,
    })?;
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp {
            header: TIMESTAMP_HEADER,
        })?;
    // abs_diff cannot overflow, whatever timestamp a sender claims (i64::MIN included).
    let skew = now.timestamp().abs_diff(sent);
    if skew > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Stale {
            skew_secs: i64::try_from(skew).unwrap_or(i64::MAX),
            tolerance_secs,
        });
    }
    let expected = mac_for(secret, timestamp, route, body);
    let matches = signature
        .split_whitespace()
        .filter_map(|candidate| candidate.strip_prefix("v1="))
        .filter_map(|hex_sig| hex::decode(hex_sig).ok())
        .any(|bytes| expected.clone().verify_slice(&bytes).is_ok());
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &[u8] = b"whsec_test_secret";

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn accepts_a_fresh_correct_signature() {
        let body = br#"{"records":[]}"#;
        let sig = sign(SECRET, 1_800_000_000, body);
        assert_eq!(
            verify(SECRET, Some("1800000000"), Some(&sig), body, now(), 300),
            Ok(())
        );
    }

    #[test]
    fn a_route_signature_holds_only_for_its_route() {
        let body = br#"{"records":[]}"#;
        let route = webhook_route("acme", "coursekey-main");
        let sig = sign_route(SECRET, 1_800_000_000, &route, body);
        let check = |route: &str| {
            verify_route(
                SECRET,
                Some("1800000000"),
                Some(&sig),
                route,
                body,
                now(),
                300,
            )
        };
        assert_eq!(check(&route), Ok(()));
        assert_eq!(
            check(&webhook_route("bolt", "coursekey-main")),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(&webhook_route("acme", "coursekey-other")),
            Err(SignatureError::Mismatch)
        );
        // Nor does an unbound signature pass for a route, or the other way round.
        let unbound = sign(SECRET, 1_800_000_000, body);
        assert_eq!(
            verify_route(
                SECRET,
                Some("1800000000"),
                Some(&unbound),
                &route,
                body,
                now(),
                300
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, Some("1800000000"), Some(&sig), body, now(), 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        let body = b"x";
        for sent in [i64::MIN, i64::MIN + 1, i64::MAX, -1] {
            let sig = sign(SECRET, sent, body);
            assert!(matches!(
                verify(
                    SECRET,
                    Some(&sent.to_string()),
                    Some(&sig),
                    body,
                    now(),
                    300
                ),
                Err(SignatureError::Stale { .. })
            ));
        }
    }

    #[test]
    fn accepts_any_of_several_signatures_during_rotation() {
        let body = b"x";
        let good = sign(SECRET, 1_800_000_000, body);
        let other = sign(b"old", 1_800_000_000, body);
        let header = format!("{other} {good}");
        assert_eq!(
            verify(SECRET, Some("1800000000"), Some(&header), body, now(), 300),
            Ok(())
        );
    }

    #[test]
    fn refuses_a_changed_body_or_wrong_secret() {
        let sig = sign(SECRET, 1_800_000_000, b"original");
        assert_eq!(
            verify(
                SECRET,
                Some("1800000000"),
                Some(&sig),
                b"tampered",
                now(),
                300
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"other",
                Some("1800000000"),
                Some(&sig),
                b"original",
                now(),
                300
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                SECRET,
                Some("1800000000"),
                Some("v1=zz"),
                b"original",
                now(),
                300
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn refuses_replays_outside_the_tolerance_either_way() {
        let body = b"x";
        for sent in [1_800_000_000 - 301, 1_800_000_000 + 301] {
            let sig = sign(SECRET, sent, body);
            let err = verify(
                SECRET,
                Some(&sent.to_string()),
                Some(&sig),
                body,
                now(),
                300,
            )
            .unwrap_err();
            assert_eq!(
                err,
                SignatureError::Stale {
                    skew_secs: 301,
                    tolerance_secs: 300
                }
            );
        }
        let edge = 1_800_000_000 - 300;
        let sig = sign(SECRET, edge, body);
        assert!(
            verify(
                SECRET,
                Some(&edge.to_string()),
                Some(&sig),
                body,
                now(),
                300
            )
            .is_ok()
        );
    }

    #[test]
    fn missing_or_bad_headers_name_the_header() {
        let err = verify(SECRET, None, Some("v1=00"), b"", now(), 300).unwrap_err();
        assert_eq!(err.field(), TIMESTAMP_HEADER);
        let err = verify(SECRET, Some("1800000000"), None, b"", now(), 300).unwrap_err();
        assert_eq!(err.field(), SIGNATURE_HEADER);
        let err = verify(SECRET, Some("yesterday"), Some("v1=00"), b"", now(), 300).unwrap_err();
        assert_eq!(
            err,
            SignatureError::BadTimestamp {
                header: TIMESTAMP_HEADER
            }
        );
    }
}
