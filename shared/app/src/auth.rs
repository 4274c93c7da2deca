//! Tenant API keys: only a keyed hash is stored, so a copy of the table cannot
//! be used to authenticate, and the key itself is shown once, at creation.

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The stored form of an API key: HMAC-SHA256 under the deployment's pepper, hex.
pub fn hash_api_key(pepper: &[u8], key: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(pepper) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    };
    mac.update(key.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cold]
fn unreachable_hmac() -> HmacSha256 {
    // `new_from_slice` only refuses keys for MACs with a fixed key size; HMAC has none.
    <HmacSha256 as KeyInit>::new(&Default::default())
}

/// Takes the key from an `Authorization: Bearer <key>` header value.
pub fn bearer_key(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, key) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let key = key.trim();
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_and_stable() {
        let a = hash_api_key(b"pepper-one", "lb_key");
        assert_eq!(a, hash_api_key(b"pepper-one", "lb_key"));
        assert_ne!(a, hash_api_key(b"pepper-two", "lb_key"));
        assert_ne!(a, hash_api_key(b"pepper-one", "lb_kez"));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("lb_key"));
    }

    #[test]
    fn reads_bearer_keys_only() {
        assert_eq!(bearer_key(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_key(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_key(Some("Basic abc")), None);
        assert_eq!(bearer_key(Some("Bearer ")), None);
        assert_eq!(bearer_key(None), None);
    }
}
