//! Moodle's web service errors: `{"exception", "errorcode", "message"}` (+ `debuginfo`
//! when the site runs with debugging on), always with HTTP 200.

use serde_json::{Map, Value};

/// One Moodle exception as the REST server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoodleError {
    pub exception: String,
    pub errorcode: String,
    pub message: String,
    pub debuginfo: Option<String>,
}

impl MoodleError {
    pub fn new(exception: &str, errorcode: &str, message: impl Into<String>) -> Self {
        Self {
            exception: exception.to_owned(),
            errorcode: errorcode.to_owned(),
            message: message.into(),
            debuginfo: None,
        }
    }

    pub fn with_debuginfo(mut self, debuginfo: impl Into<String>) -> Self {
        self.debuginfo = Some(debuginfo.into());
        self
    }

    /// `invalid_parameter_exception`: the reason only shows in debuginfo.
    pub fn invalid_parameter(debuginfo: impl Into<String>) -> Self {
        Self::new(
            "invalid_parameter_exception",
            "invalidparameter",
            "Invalid parameter value detected",
        )
        .with_debuginfo(debuginfo)
    }

    pub fn invalid_token() -> Self {
        Self::new(
            "moodle_exception",
            "invalidtoken",
            "Invalid token - token not found",
        )
    }

    pub fn access_exception() -> Self {
        Self::new(
            "webservice_access_exception",
            "accessexception",
            "Access control exception",
        )
    }

    /// `dml_missing_record_exception` for a table (`course`, `external_functions`, ...).
    pub fn missing_record(table: &str) -> Self {
        Self::new(
            "dml_missing_record_exception",
            "invalidrecord",
            format!("Can't find data record in database table {table}."),
        )
    }

    /// `dml_missing_record_exception` when Moodle does not know the table name.
    pub fn missing_record_unknown() -> Self {
        Self::new(
            "dml_missing_record_exception",
            "invalidrecordunknown",
            "Can't find data record in database.",
        )
    }

    pub fn coding_error(detail: &str) -> Self {
        Self::new(
            "coding_exception",
            "codingerror",
            format!("Coding error detected, it must be fixed by a programmer: {detail}"),
        )
    }

    pub fn moodle(errorcode: &str, message: impl Into<String>) -> Self {
        Self::new("moodle_exception", errorcode, message)
    }

    /// The JSON body Moodle sends; `debuginfo` only when the site has debugging on.
    pub fn to_json(&self, debug: bool) -> Value {
        let mut m = Map::new();
        m.insert("exception".into(), Value::String(self.exception.clone()));
        m.insert("errorcode".into(), Value::String(self.errorcode.clone()));
        m.insert("message".into(), Value::String(self.message.clone()));
        if debug && let Some(d) = &self.debuginfo {
            m.insert("debuginfo".into(), Value::String(d.clone()));
        }
        Value::Object(m)
    }
}
