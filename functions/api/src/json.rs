//! Request bodies and the errors about them: a JSON extractor that names the
//! field in every refusal (`learners.email`, `offerings.assessables[1].kind`),
//! answers an oversized body with a JSON 413, and refuses unknown fields; and
//! the statuses the resources share (409, 422, 403, 503).

use crate::Deps;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use domain::Job;
use domain::ports::{QueueError, SecretError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// Largest request body accepted (the Router's limit).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A request body of a resource: deserialised with the resource's name as the
/// prefix of every field named in an error.
pub trait Resource {
    /// The collection's name: `learners`, `offerings`, ...
    const NAME: &'static str;
}

/// A JSON body of `T`, or a JSON error naming what is wrong with it.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Resource,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                Some("content-type"),
                "send the body as JSON with 'Content-Type: application/json'",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large()
                } else {
                    ApiError::bad_request("body", "the request body could not be read")
                }
            })?;
        parse(&bytes, T::NAME).map(JsonBody)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| {
            let essence = essence.trim().to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        })
        .unwrap_or(false)
}

/// A time filter's bound: an RFC 3339 date-time, or a date (`2026-12-02`)
/// meaning that day in the tenant's `zone`: from its first instant, or (`end`)
/// to its last.
pub fn time_bound(
    raw: &str,
    field: &str,
    zone: domain::zone::TenantZone,
    end: bool,
) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(
            field,
            format!("{field} must be a date (2026-03-01, a day in the tenant's time zone) or an RFC 3339 date-time"),
        )
    })?;
    Ok(match (end, day.succ_opt()) {
        (true, Some(next)) => zone.start_of_day(next) - chrono::TimeDelta::nanoseconds(1),
        _ => zone.start_of_day(day),
    })
}

/// Deserialises JSON, naming the field of any error as `{prefix}.{path}`.
pub fn parse<T: DeserializeOwned>(bytes: &[u8], prefix: &str) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| path_error(e, prefix))?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request("body", json_syntax_message(&e)))?;
    Ok(value)
}

/// Deserialises an already-parsed JSON value (a settings object), naming fields
/// the same way.
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| path_error(e, prefix))
}

fn json_syntax_message(e: &serde_json::Error) -> String {
    format!(
        "the body is not valid JSON (line {}, column {})",
        e.line(),
        e.column()
    )
}

/// A decoding error as a 400 naming the field under `prefix`.
pub fn path_error(e: serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::bad_request("body", json_syntax_message(&inner));
    }
    let message = inner.to_string();
    // serde_json appends " at line L column C": people need the field, not the position.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(m, _)| m)
        .to_owned();
    let mut field = prefix.to_owned();
    if path != "." && !path.is_empty() {
        if !path.starts_with('[') {
            field.push('.');
        }
        field.push_str(&path);
    }
    let named = |marker: &str| {
        message
            .strip_prefix(marker)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    // serde_path_to_error ends the path with an unknown field, not a missing one.
    let with_name = |name: &str| {
        if field.ends_with(&format!(".{name}")) {
            field.clone()
        } else {
            format!("{field}.{name}")
        }
    };
    if let Some(name) = named("unknown field `") {
        return ApiError::bad_request(
            &with_name(&name),
            format!("unknown field `{name}`: it is not part of this resource"),
        );
    }
    if let Some(name) = named("missing field `") {
        return ApiError::bad_request(&with_name(&name), format!("`{name}` is required"));
    }
    if let Some(name) = named("unknown variant `") {
        let expected = message.split_once(", expected ").map_or("", |(_, e)| e);
        return ApiError::bad_request(
            &field,
            format!("`{name}` is not one of the allowed values: {expected}"),
        );
    }
    // "invalid type: string \"...\", expected ...": say what was expected without
    // echoing the value (it may be a name or an email).
    let message = match message.split_once(", expected ") {
        Some((_, expected)) => format!("expected {expected}"),
        None => message,
    };
    ApiError::bad_request(&field, message)
}

/// For `Option<Option<T>>` fields of a partial update: absent = `None` (leave
/// it), `null` = `Some(None)` (clear it), a value = `Some(Some(v))`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Checks a text field: at most `max` characters and no control characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    Ok(domain::sis::check::text(field, value, max)?)
}

/// An entity tag from a record's last change, for `ETag` / `If-Match`.
pub fn etag(updated_at: DateTime<Utc>) -> String {
    format!("\"{}\"", updated_at.timestamp_micros())
}

/// Optimistic concurrency: when the request says `If-Match`, the record must
/// still be the version the client read.
pub fn check_if_match(headers: &HeaderMap, current: Option<DateTime<Utc>>) -> Result<(), ApiError> {
    let Some(wanted) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let matches = match current {
        Some(at) => {
            let tag = etag(at);
            wanted
                .split(',')
                .map(str::trim)
                .any(|w| w == "*" || w.trim_start_matches("W/") == tag)
        }
        None => false,
    };
    if matches {
        Ok(())
    } else {
        Err(ApiError::conflict(
            Some("if-match"),
            "the record was changed (or removed) since you read it; read it again and retry",
        ))
    }
}

/// Sends jobs; any that could not be queued make the request a 503.
pub async fn enqueue(deps: &Deps, jobs: &[Job]) -> Result<(), ApiError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let failures = deps.queue.enqueue(jobs).await.map_err(ApiError::from)?;
    if let Some(first) = failures.first() {
        for failure in &failures {
            let job = jobs.get(failure.index).map_or("?", Job::name);
            tracing::error!(
                job,
                error = &failure.error as &dyn std::error::Error,
                "job not queued"
            );
        }
        return Err(if first.error.is_retryable() {
            ApiError::unavailable()
        } else {
            ApiError::internal()
        });
    }
    tracing::info!(jobs = jobs.len(), "jobs queued");
    Ok(())
}

impl ApiError {
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            Some("body"),
            format!("the request body is larger than {} bytes", MAX_BODY_BYTES),
        )
    }

    pub fn conflict(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", field, message)
    }

    pub fn unprocessable(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
            Some(field),
            message,
        )
    }

    pub fn forbidden(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", field, message)
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            None,
            "the service is busy; try again shortly",
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            None,
            "the request could not be completed",
        )
    }
}

impl From<QueueError> for ApiError {
    fn from(error: QueueError) -> Self {
        tracing::error!(error = &error as &dyn std::error::Error, "queue error");
        if error.is_retryable() {
            Self::unavailable()
        } else {
            Self::internal()
        }
    }
}

impl From<SecretError> for ApiError {
    fn from(error: SecretError) -> Self {
        // The error names the secret, never its value.
        tracing::error!(
            error = &error as &dyn std::error::Error,
            "secret store error"
        );
        if domain::ports::Retryable::is_retryable(&error) {
            Self::unavailable()
        } else {
            Self::internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Thing {
        name: String,
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        id: u32,
    }

    fn field_of(json: &str) -> (Option<String>, String) {
        let err = parse::<Thing>(json.as_bytes(), "things").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        (err.body.field, err.body.message)
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field_of(r#"{"name":"a","items":[],"colour":1}"#)
                .0
                .as_deref(),
            Some("things.colour")
        );
        assert_eq!(
            field_of(r#"{"items":[]}"#).0.as_deref(),
            Some("things.name")
        );
        assert_eq!(
            field_of(r#"{"name":"a","items":[{"id":1},{"id":"x"}]}"#)
                .0
                .as_deref(),
            Some("things.items[1].id")
        );
        assert_eq!(
            field_of(r#"{"name":"a","items":[{"id":1,"idd":2}]}"#)
                .0
                .as_deref(),
            Some("things.items[0].idd")
        );
    }

    #[test]
    fn a_wrong_value_is_not_echoed_back() {
        let (field, message) = field_of(r#"{"name":"ana@example.com secret","items":"x@y"}"#);
        assert_eq!(field.as_deref(), Some("things.items"));
        assert!(!message.contains("x@y"), "{message}");
        assert!(message.starts_with("expected"), "{message}");
    }

    #[test]
    fn broken_json_is_about_the_body() {
        assert_eq!(field_of(r#"{"name":"#).0.as_deref(), Some("body"));
        assert_eq!(
            field_of(r#"{"name":"a","items":[]} x"#).0.as_deref(),
            Some("body")
        );
    }

    #[test]
    fn if_match_compares_entity_tags() {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let mut headers = HeaderMap::new();
        assert!(
            check_if_match(&headers, Some(at)).is_ok(),
            "no If-Match: no check"
        );
        headers.insert(header::IF_MATCH, etag(at).parse().unwrap());
        assert!(check_if_match(&headers, Some(at)).is_ok());
        let later = at + chrono::Duration::seconds(1);
        let err = check_if_match(&headers, Some(later)).unwrap_err();
        assert_eq!(err.status, StatusCode::CONFLICT);
        assert!(check_if_match(&headers, None).is_err());
    }
}

/// Query parameters of `T`, or a JSON 400 naming the parameter (`limit`, `from`):
/// axum's own `Query` answers a bad value in plain text.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => {
                let (field, message) = query_problem(&rejection.body_text());
                Err(ApiError::bad_request(&field, message))
            }
        }
    }
}

/// The parameter and the reason in axum's query rejection text
/// (`Failed to deserialize query string: limit: invalid digit found in string`).
fn query_problem(text: &str) -> (String, String) {
    let detail = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(text);
    match detail.split_once(": ") {
        Some((field, reason))
            if !field.is_empty()
                && field
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']')) =>
        {
            (field.to_owned(), reason.to_owned())
        }
        _ => ("query".to_owned(), detail.to_owned()),
    }
}
