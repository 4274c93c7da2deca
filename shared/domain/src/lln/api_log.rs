//! The LLN tool's API call log: a call as the connector records it, and the
//! masking every call goes through before it is stored or shown.

use crate::mask::mask_secret;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One call to the LLN tool, for the support log. Build it, then [`obfuscate`] it
/// before it goes anywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCall {
    pub at: DateTime<Utc>,
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    /// None when no answer came (timeout, connection failure).
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
    /// The transport failure, when no answer came.
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// Header names whose values are always secret.
const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Whether a JSON key, form field or query parameter holds a secret.
fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('-', "_");
    n == "authorization"
        || n == "client_id"
        || n.contains("secret")
        || (n.contains("token") && n != "token_type")
        || n.contains("password")
        || n.contains("api_key")
        || n == "apikey"
        || n == "key"
}

/// Masks every secret in a call: secret headers (`Authorization`, `x-api-key`),
/// secret JSON members, form fields and query parameters (`client_id`,
/// `client_secret`, `access_token`, `api_key`, ...), `Bearer` tokens anywhere, and every value in
/// `known_secrets` (client secret, API key, current token) wherever it appears.
pub fn obfuscate(mut call: ApiCall, known_secrets: &[&str]) -> ApiCall {
    let known: Vec<&str> = known_secrets
        .iter()
        .copied()
        .filter(|s| !s.is_empty())
        .collect();
    let scrub = |text: &str| -> String {
        let mut out = mask_bearer(text);
        for secret in &known {
            out = out.replace(secret, &mask_secret(secret));
        }
        out
    };
    call.url = scrub(&mask_url_query(&call.url));
    for (name, value) in &mut call.request_headers {
        if SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str()) || is_secret_name(name) {
            *value = mask_header_value(value);
        } else {
            *value = scrub(value);
        }
    }
    call.request_body = call.request_body.map(|b| scrub(&mask_body(&b)));
    call.response_body = call.response_body.map(|b| scrub(&mask_body(&b)));
    call.error = call.error.map(|e| scrub(&e));
    call
}

/// Masks a secret value; one already masked stays as it is (obfuscating twice
/// changes nothing more).
fn remask(value: &str) -> String {
    if value.starts_with("****") {
        value.to_owned()
    } else {
        mask_secret(value)
    }
}

/// `Bearer abc...` -> `Bearer ****wxyz`; any other value masked whole.
fn mask_header_value(value: &str) -> String {
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            format!("{scheme} {}", remask(token.trim()))
        }
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("basic") => {
            format!("{scheme} {}", remask(token.trim()))
        }
        _ => remask(value),
    }
}

/// Masks the word after every `Bearer ` (any case) in free text.
pub(super) fn mask_bearer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest_start = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find("bearer ") {
        let token_start = search + found + "bearer ".len();
        let token_end = text[token_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '}' | '&'))
            .map_or(text.len(), |i| token_start + i);
        out.push_str(&text[rest_start..token_start]);
        let token = &text[token_start..token_end];
        if token.is_empty() || token.starts_with("****") {
            out.push_str(token);
        } else {
            out.push_str(&mask_secret(token));
        }
        rest_start = token_end;
        search = token_end.max(token_start);
        if search >= text.len() {
            break;
        }
    }
    out.push_str(&text[rest_start..]);
    out
}

fn mask_url_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => format!("{base}?{}", mask_form(query)),
        None => url.to_owned(),
    }
}

/// JSON bodies: secret members masked at any depth; form bodies: secret fields masked.
fn mask_body(body: &str) -> String {
    if let Ok(mut json) = serde_json::from_str::<serde_json::Value>(body) {
        mask_json(&mut json);
        return json.to_string();
    }
    let looks_like_form = body.contains('=') && !body.chars().any(char::is_whitespace);
    if looks_like_form {
        mask_form(body)
    } else {
        body.to_owned()
    }
}

fn mask_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                if is_secret_name(key) {
                    if let serde_json::Value::String(s) = member {
                        *s = remask(s);
                    } else if !member.is_null() {
                        *member = serde_json::Value::String("****".into());
                    }
                } else {
                    mask_json(member);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

fn mask_form(form: &str) -> String {
    form.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if is_secret_name(name) => {
                format!("{name}={}", remask(value))
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}
