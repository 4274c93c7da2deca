//! Wire types: requests and responses shaped exactly as Moodle 4.3 sends and
//! expects them (see `moodle-samples/`), with Moodle's ids as newtypes.
//!
//! Requests are form-encoded by `serde_qs` in field order; optional fields are
//! left out when `None` (Moodle refuses unknown or empty parameters) and
//! booleans go as `0`/`1` (Moodle refuses `true`). Responses ignore fields they
//! do not name, so a newer Moodle that adds fields still parses.

pub mod completion;
pub mod courses;
pub mod enrol;
pub mod grades;
pub mod site;
pub mod users;

pub use completion::*;
pub use courses::*;
pub use enrol::*;
pub use grades::*;
pub use site::*;
pub use users::*;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One entry of a `warnings[]` list: Moodle's way to report a partial failure
/// in a normal answer. Surfaced, never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoodleWarning {
    #[serde(default)]
    pub item: Option<String>,
    #[serde(default)]
    pub itemid: Option<i64>,
    pub warningcode: String,
    pub message: String,
}

/// `{name, value}` pairs, as in `options[0][name]=userfields&options[0][value]=id,email`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

impl NameValue {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// `{key, value}` search criteria, as in `criteria[0][key]=email&criteria[0][value]=...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    pub key: String,
    pub value: String,
}

impl Criterion {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// `{type, value}` pairs: custom profile fields and preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeValue {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// An epoch-seconds timestamp where `0` (or `null`) means "never".
pub fn moodle_time(secs: Option<i64>) -> Option<DateTime<Utc>> {
    match secs {
        Some(s) if s > 0 => DateTime::from_timestamp(s, 0),
        _ => None,
    }
}

pub(crate) mod wire {
    //! serde helpers for Moodle's booleans and secrets.
    use super::*;
    use secrecy::{ExposeSecret, SecretString};

    /// `true` -> `1`, `false` -> `0`.
    pub fn bool_01<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(u8::from(*v))
    }

    /// As [`bool_01`], for fields skipped when `None`.
    pub fn opt_bool_01<S: Serializer>(v: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_u8(u8::from(*b)),
            None => s.serialize_none(),
        }
    }

    /// A secret goes on the wire and nowhere else (its `Debug` stays redacted).
    pub fn opt_secret<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(secret) => s.serialize_str(secret.expose_secret()),
            None => s.serialize_none(),
        }
    }

    /// Moodle sends flags as `0`/`1`, `true`/`false`, or `"1"` depending on the function.
    pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Flag {
            Bool(bool),
            Int(i64),
            Str(String),
        }
        Ok(match Flag::deserialize(d)? {
            Flag::Bool(b) => b,
            Flag::Int(i) => i != 0,
            Flag::Str(s) => !(s.is_empty() || s == "0"),
        })
    }

    /// As [`flag`], where the field may be `null` or missing.
    pub fn opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(deserialize_with = "flag")] bool);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}
