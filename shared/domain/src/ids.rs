//! Identifiers are newtypes parsed once at the edge.
//!
//! Every id that becomes part of a storage key is restricted to
//! `[A-Za-z0-9._-]{1,64}` so that no id can contain the `#` key separator and
//! reach into another tenant's key space.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a string was refused as an id; names the field it was meant for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is {len} characters long; at most {max} are allowed")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} may contain only letters, digits, '.', '_' and '-' (found {found:?})")]
    BadCharacter { field: &'static str, found: char },
    /// `.`, `..` and other dot-only values name a path, not a record: in a URL they
    /// would reach another resource (`/courses/..` is `/`).
    #[error("{field} cannot be made of dots only ({value:?})")]
    DotsOnly { field: &'static str, value: String },
}

impl IdError {
    /// The field the refused value was meant for.
    pub fn field(&self) -> &'static str {
        match self {
            IdError::Empty { field }
            | IdError::TooLong { field, .. }
            | IdError::BadCharacter { field, .. }
            | IdError::DotsOnly { field, .. } => field,
        }
    }
}

pub(crate) const MAX_ID_LEN: usize = 64;

pub(crate) fn check_id(field: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { field });
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            field,
            len: value.len(),
            max: MAX_ID_LEN,
        });
    }
    if let Some(found) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(IdError::BadCharacter { field, found });
    }
    if value.bytes().all(|b| b == b'.') {
        return Err(IdError::DotsOnly {
            field,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// Whether `c` is a control character or a Unicode bidirectional formatting
/// character (the "Trojan Source" overrides and isolates, marks): never part of a name
/// or an id a person typed, and able to disguise a log line.
pub fn is_control_or_bidi(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Why a free-form external code cannot be used (the field is the caller's to name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeProblem {
    #[error("cannot be empty")]
    Empty,
    #[error("is {len} characters long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("cannot be made of dots only")]
    DotsOnly,
    #[error("must not contain control or bidirectional formatting characters (found U+{0:04X})")]
    ControlCharacter(u32),
}

/// Checks a free-form external code that becomes one URL path segment at an external
/// system (a CourseKey class code, an instructor id): not empty, at most
/// `MAX_ID_LEN` characters, not dot-only, no control or bidirectional characters.
/// Unlike a storage id it may hold any other character; connectors percent-encode it.
pub fn check_external_code(value: &str) -> Result<(), CodeProblem> {
    if value.trim().is_empty() {
        return Err(CodeProblem::Empty);
    }
    let len = value.chars().count();
    if len > MAX_ID_LEN {
        return Err(CodeProblem::TooLong {
            len,
            max: MAX_ID_LEN,
        });
    }
    if let Some(c) = value.chars().find(|c| is_control_or_bidi(*c)) {
        return Err(CodeProblem::ControlCharacter(u32::from(c)));
    }
    if value.trim().bytes().all(|b| b == b'.') {
        return Err(CodeProblem::DotsOnly);
    }
    Ok(())
}

macro_rules! key_id {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The field name used in errors about this id.
            pub const FIELD: &'static str = $field;

            /// Parses and validates an id.
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check_id($field, &value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

key_id!(
    /// A training provider using learnbridge. Every record belongs to exactly one.
    TenantId,
    "tenant"
);
key_id!(
    /// One configured link to one external system, unique within its tenant.
    ConnectionId,
    "connection_id"
);
key_id!(
    /// One execution of a sync for a connection. New ids are UUIDv7, so they sort by time.
    RunId,
    "run_id"
);

key_id!(
    /// A learner's code in the SMS (VETtrak's client code, Smartosh's identifier).
    LearnerCode,
    "learner_code"
);
key_id!(
    /// An offering's id in the SMS (occurrence, session, opleiding).
    OfferingId,
    "offering_id"
);
key_id!(
    /// An assessable's id within its offering (unit, task, onderdeel).
    AssessableId,
    "assessable_id"
);

impl RunId {
    /// A new time-ordered run id.
    pub fn new_v7() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// When the id was made, for a time-ordered (UUIDv7) id: a run's id is
    /// made when the run is queued or started. `None` for any other id.
    pub fn created_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let id = uuid::Uuid::parse_str(&self.0).ok()?;
        if id.get_version_num() != 7 {
            return None;
        }
        let (secs, nanos) = id.get_timestamp()?.to_unix();
        chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
    }

    /// The run id of a scheduled run: a UUIDv7 whose time is the schedule's time
    /// and whose other bits come from the tenant and connection. A schedule
    /// invoked twice for the same time (Lambda or Scheduler retries) names the
    /// same runs, so the second invocation starts nothing new.
    pub fn for_schedule(
        scheduled_at_ms: u64,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Self {
        let mut bytes = [0u8; 10];
        let a = fnv1a64(&[
            tenant.as_str().as_bytes(),
            b"#",
            connection.as_str().as_bytes(),
        ]);
        let b = fnv1a64(&[
            connection.as_str().as_bytes(),
            b"#",
            tenant.as_str().as_bytes(),
            b"#run",
        ]);
        bytes[..8].copy_from_slice(&a.to_be_bytes());
        bytes[8..].copy_from_slice(&b.to_be_bytes()[..2]);
        let id = uuid::Builder::from_unix_timestamp_millis(scheduled_at_ms, &bytes).into_uuid();
        Self(id.to_string())
    }
}

/// FNV-1a, 64 bits: a stable hash for deriving ids (not for security).
fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids() {
        assert_eq!(
            TenantId::parse("acme-rto_1.au").unwrap().as_str(),
            "acme-rto_1.au"
        );
    }

    #[test]
    fn refuses_key_separator_and_names_the_field() {
        let err = TenantId::parse("acme#other").unwrap_err();
        assert_eq!(
            err,
            IdError::BadCharacter {
                field: "tenant",
                found: '#'
            }
        );
        assert_eq!(err.field(), "tenant");
        assert_eq!(
            err.to_string(),
            "tenant may contain only letters, digits, '.', '_' and '-' (found '#')"
        );
    }

    #[test]
    fn refuses_dot_only_ids_which_would_name_another_path() {
        for value in [".", "..", "...", "...."] {
            let err = OfferingId::parse(value).unwrap_err();
            assert_eq!(
                err,
                IdError::DotsOnly {
                    field: "offering_id",
                    value: value.into()
                }
            );
            assert_eq!(err.field(), "offering_id");
        }
        // Dots inside an id are fine.
        assert!(OfferingId::parse("OCC.1001").is_ok());
        assert!(OfferingId::parse(".hidden").is_ok());
    }

    #[test]
    fn external_codes_refuse_dots_only_controls_and_bidi_overrides_and_keep_the_rest() {
        assert!(check_external_code("Week 1 / Tue 09:00").is_ok());
        assert!(check_external_code("..x").is_ok());
        for bad in ["", "  "] {
            assert_eq!(check_external_code(bad), Err(CodeProblem::Empty), "{bad:?}");
        }
        for bad in [".", " .. ", "..."] {
            assert_eq!(
                check_external_code(bad),
                Err(CodeProblem::DotsOnly),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_external_code("INS\u{202E}1"),
            Err(CodeProblem::ControlCharacter(0x202E))
        );
        assert_eq!(
            check_external_code("INS\n1"),
            Err(CodeProblem::ControlCharacter(0x0A))
        );
        assert_eq!(
            check_external_code(&"x".repeat(65)),
            Err(CodeProblem::TooLong { len: 65, max: 64 })
        );
    }

    #[test]
    fn refuses_empty_and_overlong() {
        assert_eq!(
            ConnectionId::parse("").unwrap_err(),
            IdError::Empty {
                field: "connection_id"
            }
        );
        let long = "a".repeat(65);
        assert!(matches!(
            ConnectionId::parse(long),
            Err(IdError::TooLong {
                len: 65,
                max: 64,
                ..
            })
        ));
    }

    #[test]
    fn deserialising_validates() {
        let bad: Result<TenantId, _> = serde_json::from_str("\"a/b\"");
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("tenant may contain only")
        );
        let ok: TenantId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(ok.to_string(), "acme");
    }

    #[test]
    fn scheduled_run_ids_are_stable_per_connection_and_time() {
        let t = TenantId::parse("acme").unwrap();
        let c1 = ConnectionId::parse("moodle").unwrap();
        let c2 = ConnectionId::parse("ocsat").unwrap();
        let a = RunId::for_schedule(1_700_000_000_000, &t, &c1);
        assert_eq!(a, RunId::for_schedule(1_700_000_000_000, &t, &c1));
        assert_ne!(a, RunId::for_schedule(1_700_000_000_000, &t, &c2));
        assert_ne!(a, RunId::for_schedule(1_700_086_400_000, &t, &c1));
        assert!(
            a < RunId::for_schedule(1_700_086_400_000, &t, &c1),
            "later schedules sort later"
        );
        assert_eq!(
            uuid::Uuid::parse_str(a.as_str()).unwrap().get_version_num(),
            7
        );
    }

    #[test]
    fn a_time_ordered_run_id_says_when_it_was_made() {
        let t = TenantId::parse("acme").unwrap();
        let c = ConnectionId::parse("moodle").unwrap();
        let scheduled = RunId::for_schedule(1_700_000_000_123, &t, &c);
        assert_eq!(
            scheduled.created_at(),
            chrono::DateTime::from_timestamp_millis(1_700_000_000_123)
        );
        let before = chrono::Utc::now() - chrono::Duration::seconds(1);
        let made = RunId::new_v7().created_at().unwrap();
        assert!(made >= before && made <= chrono::Utc::now());
        // Any other id: no time.
        assert_eq!(RunId::parse("nightly-1").unwrap().created_at(), None);
        assert_eq!(
            RunId::parse(uuid::Uuid::new_v4().to_string())
                .unwrap()
                .created_at(),
            None
        );
    }

    #[test]
    fn run_ids_sort_by_creation() {
        let a = RunId::new_v7();
        let b = RunId::new_v7();
        assert!(a <= b);
        assert!(RunId::parse(a.as_str()).is_ok());
    }
}
