//! Signing in and the session that follows: an API key, checked exactly as the
//! api checks it (the same store and pepper), is exchanged for a random 256-bit
//! session id. Only the id's SHA-256 is stored (with the tenant, the role, the
//! key's hash and a CSRF token); the id lives only in the person's cookie.
//! Every request reads the session and the key again: a revoked key ends its
//! sessions at once, and a changed role applies at once.

use crate::ConsoleState;
use crate::error::ConsoleError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::TenantId;
use domain::ports::{KeyState, Role, Session};
use rand::RngCore;
use secrecy::ExposeSecret;
use sha2::Digest;

/// The session cookie's name.
pub const COOKIE: &str = "lb_console";

/// A fresh random token: 32 bytes (256 bits), base64url without padding.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a session id: its SHA-256, hex (the id has 256 bits of
/// entropy, so no pepper is needed to make the hash useless without the id).
pub fn id_hash(id: &str) -> String {
    hex::encode(sha2::Sha256::digest(id.as_bytes()))
}

/// Why a pasted key does not sign in (the form shows it under the `api_key` field).
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("paste the API key you were given")]
    Empty,
    #[error("this API key is not known; check you pasted all of it")]
    Unknown,
    #[error("this API key was revoked; ask an admin for a new one")]
    Revoked,
}

/// Checks a pasted key as the api checks a bearer key; on success stores a new
/// session and returns its id (for the cookie only).
pub async fn sign_in(
    state: &ConsoleState,
    pasted: &str,
    now: DateTime<Utc>,
) -> Result<Result<String, SignInError>, ConsoleError> {
    let key = pasted.trim();
    if key.is_empty() {
        return Ok(Err(SignInError::Empty));
    }
    let deps = &state.api.deps;
    let pepper = deps.pepper.get().await?;
    let key_hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), key);
    let (tenant, role) = match deps.api_keys.key_state(&key_hash).await? {
        KeyState::Active(tenant, role) => (tenant, role),
        KeyState::Revoked => return Ok(Err(SignInError::Revoked)),
        KeyState::Unknown => return Ok(Err(SignInError::Unknown)),
    };
    let id = random_token();
    let session = Session {
        tenant,
        role,
        key_hash,
        csrf: random_token(),
        created_at: now,
        expires: now + state.session_length,
    };
    state.sessions.save_session(&id_hash(&id), &session).await?;
    tracing::info!(tenant = %session.tenant, role = %role, "console sign-in");
    Ok(Ok(id))
}

/// The session id from the request's cookie, if any.
pub fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether the request is to this machine (`localhost`, `127.0.0.1`), where the
/// console is served over plain HTTP and a `Secure` cookie would never come back.
pub fn is_local(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

/// The `Set-Cookie` value that gives the browser the session id.
pub fn set_cookie(id: &str, max_age_seconds: i64, local: bool) -> HeaderValue {
    let secure = if local { "" } else { "; Secure" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/console; Max-Age={max_age_seconds}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("lb_console=; Max-Age=0"))
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear_cookie(local: bool) -> HeaderValue {
    if local {
        HeaderValue::from_static("lb_console=; HttpOnly; SameSite=Strict; Path=/console; Max-Age=0")
    } else {
        HeaderValue::from_static(
            "lb_console=; HttpOnly; SameSite=Strict; Path=/console; Max-Age=0; Secure",
        )
    }
}

/// A signed-in person: every page but sign-in takes one. Without a live session
/// (no cookie, expired, signed out, or its key revoked) the page is refused with
/// a redirect to sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub tenant: TenantId,
    pub role: Role,
    pub csrf: String,
    pub id_hash: String,
    /// When the session ends (what it remembers ends with it).
    pub expires: DateTime<Utc>,
}

impl FromRequestParts<ConsoleState> for SignedIn {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let id = cookie_id(&parts.headers).ok_or(ConsoleError::SignIn)?;
        let hash = id_hash(&id);
        let session = state
            .sessions
            .session(&hash, (state.api.deps.now)())
            .await?
            .ok_or(ConsoleError::SignIn)?;
        // The key it was made from must still be live, and of the same tenant.
        let role = match state.api.deps.api_keys.key_state(&session.key_hash).await? {
            KeyState::Active(tenant, role) if tenant == session.tenant => role,
            _ => {
                state.sessions.delete_session(&hash).await?;
                return Err(ConsoleError::SignIn);
            }
        };
        Ok(SignedIn {
            tenant: session.tenant,
            role,
            csrf: session.csrf,
            id_hash: hash,
            expires: session.expires,
        })
    }
}

impl SignedIn {
    /// What every change (POST) must pass: the role may change, the form carries
    /// this session's CSRF token, and the browser says it comes from this site.
    pub fn check_change(
        &self,
        method: &Method,
        headers: &HeaderMap,
        csrf: &str,
    ) -> Result<(), ConsoleError> {
        self.check_form(method, headers, csrf)?;
        if !self.role.may_change() {
            return Err(ConsoleError::Forbidden(
                "you are signed in with a viewer key: it reads only; sign in with an admin key to change anything".to_owned(),
            ));
        }
        Ok(())
    }

    /// The CSRF and Origin checks alone (signing out needs no role).
    pub fn check_form(
        &self,
        method: &Method,
        headers: &HeaderMap,
        csrf: &str,
    ) -> Result<(), ConsoleError> {
        if method != Method::POST {
            return Err(ConsoleError::Forbidden(
                "changes are sent as forms".to_owned(),
            ));
        }
        if !same_origin(headers) {
            return Err(ConsoleError::Forbidden(
                "this form was not sent from the console's own pages (Origin)".to_owned(),
            ));
        }
        let expected = self.csrf.as_bytes();
        let given = csrf.as_bytes();
        // Constant-time enough: compare every byte whatever the first difference.
        let equal = expected.len() == given.len()
            && expected
                .iter()
                .zip(given)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !equal {
            return Err(ConsoleError::Forbidden(
                "this form is out of date or was not made by the console (csrf); reload the page and try again".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Whether the `Origin` header names the host the request was sent to. A browser
/// sends Origin with every POST; a request without one is refused.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok());
    let Some(host) = host else {
        return false;
    };
    match url::Url::parse(origin) {
        Ok(url) => {
            let origin_host = match (url.host_str(), url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                _ => return false,
            };
            origin_host.eq_ignore_ascii_case(host)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn tokens_are_long_random_and_only_their_hash_is_kept() {
        let a = random_token();
        assert_eq!(a.len(), 43, "32 bytes in base64url");
        assert_ne!(a, random_token());
        assert_eq!(id_hash(&a).len(), 64);
        assert!(!id_hash(&a).contains(&a));
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let h = headers(&[("cookie", "a=1; lb_console=xyz ; b=2")]);
        assert_eq!(cookie_id(&h).as_deref(), Some("xyz"));
        assert_eq!(cookie_id(&headers(&[("cookie", "lb_console=")])), None);
    }

    #[test]
    fn cookies_are_secure_except_on_this_machine() {
        let c = set_cookie("id", 60, false);
        let c = c.to_str().unwrap_or("");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
        assert!(c.contains("Path=/console") && c.contains("Max-Age=60"));
        assert!(c.ends_with("; Secure"));
        assert!(
            !set_cookie("id", 60, true)
                .to_str()
                .unwrap_or("")
                .contains("Secure")
        );
        assert!(is_local(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(is_local(&headers(&[("host", "localhost")])));
        assert!(!is_local(&headers(&[(
            "host",
            "abc.execute-api.eu-west-1.amazonaws.com"
        )])));
    }

    #[test]
    fn origin_must_be_the_host_itself() {
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null")
        ])));
    }
}
