//! Accepting what CourseKey POSTs: the request verified against the
//! connection's signing secret, each record stored once by its id, and one
//! job queued for the new ones. Processing happens off the request path.

use chrono::{DateTime, Utc};
use domain::ports::{
    AttendanceInbox, BoxError, ConnectionStore, JobQueue, Retryable, SecretSource, Written,
};
use domain::{ConnectionId, ConnectionKind, Job, TenantId};
use secrecy::SecretString;

/// Most records in one request.
pub const MAX_RECORDS: usize = 500;
/// Longest record id accepted.
pub const MAX_RECORD_ID_LEN: usize = 128;

/// The ports accepting attendance uses.
pub struct Inbox<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub secrets: &'a dyn SecretSource,
    /// Where connection secrets live.
    pub secret_prefix: &'a str,
    pub inbox: &'a dyn AttendanceInbox,
    pub queue: &'a dyn JobQueue,
}

/// How many records were new and how many had been received before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub accepted: usize,
    pub duplicates: usize,
}

/// Why a request's signature does not hold (`field`: the header to fix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsigned {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Unsigned or badly signed, or for a tenant or connection that is not a
    /// CourseKey connection (the same answer, so nothing is revealed).
    #[error("{}", .0.message)]
    Unsigned(Unsigned),
    /// The envelope is malformed (`field` names where).
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{sent} records sent; at most {MAX_RECORDS} are accepted per request")]
    TooMany { sent: usize },
    /// A store, the secret or the queue could not be reached: try again.
    #[error("attendance could not be accepted")]
    Unavailable(#[source] BoxError),
}

/// The answer to a request for an unknown tenant or connection.
fn no_match(field: &str) -> AcceptError {
    AcceptError::Unsigned(Unsigned {
        field: field.to_owned(),
        message: "the signature does not match the body".to_owned(),
    })
}

impl Inbox<'_> {
    /// Accepts one request to the route of `tenant` and `connection` (as sent).
    /// `verify` checks its signature with the connection's secret (an adapter
    /// over the wire format); `signature_field` is the header a refusal names.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection))]
    pub async fn accept(
        &self,
        tenant: &str,
        connection: &str,
        signature_field: &str,
        verify: impl FnOnce(&SecretString, &TenantId, &ConnectionId) -> Result<(), Unsigned>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Accepted, AcceptError> {
        let (Ok(tenant), Ok(connection)) = (
            TenantId::parse(tenant.to_owned()),
            ConnectionId::parse(connection.to_owned()),
        ) else {
            return Err(no_match(signature_field));
        };
        let conn = match self.connections.connection(&tenant, &connection).await {
            Ok(Some(c)) if c.kind() == ConnectionKind::CourseKey => c,
            Ok(_) => return Err(no_match(signature_field)),
            Err(e) => return Err(AcceptError::Unavailable(Box::new(e))),
        };
        let secret = match self
            .secrets
            .secret(&conn.secret_name(self.secret_prefix))
            .await
        {
            Ok(secret) => secret,
            Err(e) if e.is_retryable() => return Err(AcceptError::Unavailable(Box::new(e))),
            Err(e) => {
                tracing::error!(
                    error = &e as &dyn std::error::Error,
                    "the connection's signing secret is missing"
                );
                return Err(no_match(signature_field));
            }
        };
        if let Err(unsigned) = verify(&secret, &tenant, &connection) {
            tracing::warn!(reason = %unsigned.message, "refused an unsigned or badly signed request");
            return Err(AcceptError::Unsigned(unsigned));
        }
        let records = parse_records(body)?;
        let mut fresh = Vec::new();
        for (id, raw) in &records {
            match self
                .inbox
                .store_record(&tenant, &connection, id, raw, now)
                .await
            {
                Ok(Written::Done) => fresh.push(id.clone()),
                Ok(Written::AlreadyDone) => {}
                Err(e) => return Err(AcceptError::Unavailable(Box::new(e))),
            }
        }
        let duplicates = records.len() - fresh.len();
        if !fresh.is_empty() {
            let job = Job::ProcessAttendance {
                tenant: tenant.clone(),
                connection: connection.clone(),
                record_ids: fresh.clone(),
            };
            match self.queue.enqueue(std::slice::from_ref(&job)).await {
                Ok(failures) => {
                    if let Some(failure) = failures.into_iter().next() {
                        return Err(AcceptError::Unavailable(Box::new(failure.error)));
                    }
                }
                Err(e) => return Err(AcceptError::Unavailable(Box::new(e))),
            }
        }
        tracing::info!(
            accepted = fresh.len(),
            duplicates,
            "attendance records stored"
        );
        Ok(Accepted {
            accepted: fresh.len(),
            duplicates,
        })
    }
}

/// Checks the envelope `{"records": [{"id": "...", ...}, ...]}` and returns each
/// record's id with its raw JSON (a record sent twice in one request, once).
/// The record's own fields are checked when it is processed, so one odd record
/// never loses the others.
pub fn parse_records(body: &[u8]) -> Result<Vec<(String, String)>, AcceptError> {
    let bad = |field: &str, message: String| AcceptError::Invalid {
        field: field.to_owned(),
        message,
    };
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| bad("body", format!("the body is not valid JSON: {e}")))?;
    let records = value
        .get("records")
        .and_then(|r| r.as_array())
        .ok_or_else(|| {
            bad(
                "records",
                "the body must be an object with a \"records\" array".to_owned(),
            )
        })?;
    if records.len() > MAX_RECORDS {
        return Err(AcceptError::TooMany {
            sent: records.len(),
        });
    }
    let mut out = Vec::with_capacity(records.len());
    let mut seen = std::collections::HashSet::new();
    for (i, record) in records.iter().enumerate() {
        let field = format!("records[{i}].id");
        let id = record
            .get("id")
            .and_then(|id| id.as_str())
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| bad(&field, format!("{field} must be a non-empty string")))?;
        if id.len() > MAX_RECORD_ID_LEN {
            return Err(bad(
                &field,
                format!("{field} is longer than {MAX_RECORD_ID_LEN} characters"),
            ));
        }
        if seen.insert(id.to_owned()) {
            out.push((id.to_owned(), record.to_string()));
        }
    }
    Ok(out)
}
