//! Everything that can go wrong talking to Moodle, classified where it arises.
//!
//! Moodle answers errors with HTTP 200 and a body
//! `{"exception","errorcode","message"[,"debuginfo"]}`; [`MoodleError::from_exception`]
//! maps that body to a variant a caller can act on, keeping Moodle's own words
//! for the person who must fix it. No variant ever holds the token, the request
//! body or a URL with credentials.

use super::functions::WsFunction;
use serde::Deserialize;
use std::time::Duration;

/// The error body of Moodle's REST server, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MoodleException {
    pub exception: String,
    pub errorcode: String,
    pub message: String,
    /// Only present when the site runs with debugging on.
    #[serde(default)]
    pub debuginfo: Option<String>,
}

/// A failure of one Moodle call.
#[derive(Debug, thiserror::Error)]
pub enum MoodleError {
    /// Wrong, expired or missing token (`invalidtoken`).
    #[error("Moodle refused the web service token ({message}): check the token in the connection")]
    InvalidToken { message: String },

    /// The function exists but is not in the token's external service (`accessexception`).
    #[error(
        "function {function} is not allowed for this token ({message}): add it to the external service in Moodle (Site administration > Server > Web services > External services)"
    )]
    FunctionNotInService {
        function: String,
        message: String,
        debuginfo: Option<String>,
    },

    /// The function does not exist on this site (too old or too new a Moodle).
    #[error("function {function} does not exist on this Moodle site ({message})")]
    UnknownFunction { function: String, message: String },

    /// The token's user lacks a capability (`nopermissions`, `required_capability_exception`).
    #[error("the Moodle web service user lacks a permission: {message}")]
    MissingCapability {
        message: String,
        debuginfo: Option<String>,
    },

    /// A parameter Moodle would not accept (`invalidparameter`). Moodle gives the
    /// reason only in `debuginfo`, which only sites with debugging on send.
    #[error("Moodle refused a parameter: {}", debuginfo.as_deref().unwrap_or(message))]
    InvalidParameter {
        message: String,
        debuginfo: Option<String>,
    },

    /// The username is already used (known only from `debuginfo`, or from a lookup).
    #[error("the Moodle username {username} is already taken")]
    UsernameTaken { username: String },

    /// The email address is already used (sites that forbid duplicate emails).
    #[error("the email address is already used by another Moodle user ({message})")]
    EmailTaken { message: String },

    /// A course with this short name exists (`shortnametaken`).
    #[error("{}", or_code(message, "shortnametaken"))]
    ShortnameTaken { message: String },

    /// A course with this idnumber exists (`courseidnumbertaken`, `idnumbertaken`).
    #[error("{}", or_code(message, "idnumbertaken"))]
    IdnumberTaken { message: String },

    /// The password breaks the site's password policy (Moodle sends the policy as HTML).
    #[error("the password does not meet Moodle's password policy: {policy}")]
    PasswordPolicy { policy: String },

    /// The course, user, module or category does not exist
    /// (`invalidrecord`, `invalidrecordunknown`, `invalidcourseid`, `errorcatcontextnotvalid`,
    /// enrolling a deleted user).
    #[error("not found in Moodle ({errorcode}): {message}")]
    RecordNotFound { errorcode: String, message: String },

    /// Completion asked for a user who is not enrolled (`notenroled`, `usernotenroled`).
    #[error("the user is not enrolled in the course ({message})")]
    NotEnrolled { message: String },

    /// The token's user may not assign this role (`wsusercannotassign`).
    #[error("{}", or_code(message, "wsusercannotassign"))]
    CannotAssignRole { message: String },

    /// The site course (id 1) is never treated as a real course: refused before calling.
    #[error("course 1 is Moodle's site course, not a real course")]
    SiteCourse,

    /// Any other Moodle exception, kept whole.
    #[error("Moodle error {exception}/{errorcode}: {message}")]
    Other {
        exception: String,
        errorcode: String,
        message: String,
        debuginfo: Option<String>,
    },

    /// A warning Moodle reported for one record of a batch (e.g. `invaliduserid`,
    /// `courseidnumbertaken`, `dmlwriteexception` from the update functions).
    #[error("Moodle did not apply the change to {}: {} ({})", warning.item.as_deref().unwrap_or("the record"), warning.message, warning.warningcode)]
    Warning {
        warning: super::types::MoodleWarning,
    },

    /// Moodle accepted a batch but its answer does not mention this record.
    #[error(
        "Moodle's answer to {function} does not mention this record; look it up before trying again"
    )]
    MissingFromAnswer { function: &'static str },

    /// `login/token.php` refused the username/password exchange; the text says what to fix.
    #[error("{}", login_problem(errorcode, message, service))]
    Login {
        errorcode: String,
        message: String,
        /// The external service's short name that was asked for.
        service: String,
    },

    /// Moodle (or something in front of it) answered with a non-2xx HTTP status.
    #[error("Moodle answered HTTP {status}")]
    Http { status: u16 },

    /// The request could not be sent or the answer not read (DNS, refused, reset).
    #[error("could not reach Moodle")]
    Transport {
        /// Whether the connection failed before the request was sent.
        connect: bool,
        #[source]
        source: reqwest::Error,
    },

    /// No answer within the configured timeout.
    #[error("Moodle did not answer within {after:?}")]
    Timeout {
        after: Duration,
        #[source]
        source: reqwest::Error,
    },

    /// The answer was not the JSON expected for this function. `excerpt` is a
    /// short, sanitised start of what came instead ([`domain::egress::excerpt`]):
    /// enough to tell a login page or a proxy's error, never the whole answer.
    #[error(
        "Moodle's answer to {function} could not be read{}",
        answer_began(excerpt)
    )]
    Malformed {
        function: &'static str,
        excerpt: String,
        #[source]
        source: serde_json::Error,
    },

    /// The parameters could not be form-encoded (a bug on our side).
    #[error("the parameters for {function} could not be encoded")]
    Encode {
        function: &'static str,
        #[source]
        source: serde_qs::Error,
    },

    /// The connection's base URL is not usable.
    #[error("the Moodle base URL is not valid")]
    BaseUrl(#[source] url::ParseError),

    /// The deployment's egress rule refuses the URL (plain http, or an internal
    /// address: literally, once resolved, or after a redirect). A person must
    /// change the connection's base URL; trying again cannot help.
    #[error("learnbridge may not connect to this Moodle URL: {0}")]
    Egress(crate::egress::UrlRefused),

    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built")]
    Client(#[source] reqwest::Error),
}

/// Moodle's own words; when it sent none (a blank message), its error code, so
/// the error a person reads is never empty.
fn or_code(message: &str, errorcode: &str) -> String {
    if message.trim().is_empty() {
        format!("Moodle refused the call ({errorcode}) without a message")
    } else {
        message.to_owned()
    }
}

fn answer_began(excerpt: &str) -> String {
    if excerpt.is_empty() {
        String::new()
    } else {
        format!(" (it began: \"{excerpt}\")")
    }
}

/// What a person must fix when `login/token.php` refuses (Moodle's `errorcode`).
fn login_problem(errorcode: &str, message: &str, service: &str) -> String {
    match errorcode {
        "invalidlogin" => format!(
            "Moodle refused the username or password ({message}; invalidlogin): check the connection's username (settings.login.username) and set its password again (secrets.password)"
        ),
        "usernotallowed" => format!(
            "the Moodle user may not use the external service {service} ({message}; usernotallowed): add the user to the service's authorised users (Site administration > Server > Web services > External services > {service} > Authorised users), or untick \"Authorised users only\""
        ),
        "servicenotavailable" => format!(
            "the external service {service} does not exist or is not enabled ({message}; servicenotavailable): check the service short name (settings.login.service) and enable the service in Moodle (Site administration > Server > Web services > External services)"
        ),
        other => format!("Moodle refused to issue a token ({other}): {message}"),
    }
}

impl MoodleError {
    /// Maps Moodle's error body for a call to `function`.
    pub fn from_exception(function: WsFunction, e: MoodleException) -> MoodleError {
        Self::from_exception_named(function.name(), e)
    }

    /// As [`MoodleError::from_exception`], for a function named by string.
    pub fn from_exception_named(function: &str, e: MoodleException) -> MoodleError {
        let MoodleException {
            exception,
            errorcode,
            message,
            debuginfo,
        } = e;
        let debug = debuginfo.as_deref().unwrap_or("");
        match errorcode.as_str() {
            "invalidtoken" => MoodleError::InvalidToken { message },
            "accessexception" => MoodleError::FunctionNotInService {
                function: function.to_owned(),
                message,
                debuginfo,
            },
            "invalidrecord" if message.contains("external_functions") => {
                MoodleError::UnknownFunction {
                    function: function.to_owned(),
                    message,
                }
            }
            "invalidrecord"
            | "invalidrecordunknown"
            | "invalidcourseid"
            | "errorcatcontextnotvalid"
            | "invaliduser"
            | "invaliduserid" => MoodleError::RecordNotFound { errorcode, message },
            "codingerror" if message.contains("does not exist") => {
                MoodleError::RecordNotFound { errorcode, message }
            }
            "nopermissions"
            | "wsaccessuserdeleted"
            | "wsaccessusersuspended"
            | "wsaccessusernologin" => MoodleError::MissingCapability { message, debuginfo },
            _ if exception == "required_capability_exception" => {
                MoodleError::MissingCapability { message, debuginfo }
            }
            "wsusercannotassign" => MoodleError::CannotAssignRole { message },
            "shortnametaken" => MoodleError::ShortnameTaken { message },
            "courseidnumbertaken" | "idnumbertaken" => MoodleError::IdnumberTaken { message },
            // `notenroled` (sic) for the token's own user, `usernotenroled` for another.
            "notenroled" | "notenrolled" | "usernotenroled" => MoodleError::NotEnrolled { message },
            "emailexists" => MoodleError::EmailTaken { message },
            "invalidparameter" => {
                if let Some(username) = debug.strip_prefix("Username already exists: ") {
                    MoodleError::UsernameTaken {
                        username: username.trim().to_owned(),
                    }
                } else if debug.starts_with("Email address already exists") {
                    MoodleError::EmailTaken {
                        message: debug.to_owned(),
                    }
                } else {
                    MoodleError::InvalidParameter { message, debuginfo }
                }
            }
            // A failed password policy check: Moodle puts the policy, in HTML, in `errorcode`.
            code if code.contains("<div>") || message.starts_with("error/<div>") => {
                MoodleError::PasswordPolicy {
                    policy: strip_html(code),
                }
            }
            _ => MoodleError::Other {
                exception,
                errorcode,
                message,
                debuginfo,
            },
        }
    }

    /// Whether trying again later can succeed: timeouts, connection errors,
    /// HTTP 429 and 5xx, and answers cut short or garbled on the way. Every
    /// Moodle exception is permanent: retrying sends the same request to the
    /// same rule.
    pub fn is_retryable(&self) -> bool {
        match self {
            MoodleError::Timeout { .. } | MoodleError::Transport { .. } => true,
            MoodleError::Http { status } => *status == 429 || (500..600).contains(status),
            MoodleError::Malformed { source, .. } => {
                !matches!(source.classify(), serde_json::error::Category::Data)
            }
            _ => false,
        }
    }

    /// Whether the call certainly did not run in Moodle, so even a create may be
    /// sent again: the connection was refused before sending, or the server
    /// refused to start (429 Too Many Requests, 503 Service Unavailable).
    pub fn certainly_not_executed(&self) -> bool {
        match self {
            MoodleError::Transport { connect, .. } => *connect,
            MoodleError::Http { status } => *status == 429 || *status == 503,
            _ => false,
        }
    }

    /// Whether the error is about the site or the token, not one record: every
    /// other record of a batch would fail the same way, so a batch stops.
    pub fn is_site_wide(&self) -> bool {
        matches!(
            self,
            MoodleError::InvalidToken { .. }
                | MoodleError::FunctionNotInService { .. }
                | MoodleError::UnknownFunction { .. }
                | MoodleError::Login { .. }
                | MoodleError::BaseUrl(_)
                | MoodleError::Client(_)
        )
    }

    /// Whether a batch that failed with this error should be split to find the
    /// record at fault: Moodle fails a whole batch for one bad record.
    pub(crate) fn blames_a_record(&self) -> bool {
        matches!(
            self,
            MoodleError::InvalidParameter { .. }
                | MoodleError::UsernameTaken { .. }
                | MoodleError::EmailTaken { .. }
                | MoodleError::ShortnameTaken { .. }
                | MoodleError::IdnumberTaken { .. }
                | MoodleError::PasswordPolicy { .. }
                | MoodleError::RecordNotFound { .. }
                | MoodleError::NotEnrolled { .. }
                | MoodleError::CannotAssignRole { .. }
                | MoodleError::MissingCapability { .. }
                | MoodleError::Other { .. }
        )
    }
}

impl domain::ports::Retryable for MoodleError {
    fn is_retryable(&self) -> bool {
        MoodleError::is_retryable(self)
    }
}

/// `<div>a.</div><div>b.</div>` -> `a. b.`
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exc(
        exception: &str,
        errorcode: &str,
        message: &str,
        debuginfo: Option<&str>,
    ) -> MoodleException {
        MoodleException {
            exception: exception.into(),
            errorcode: errorcode.into(),
            message: message.into(),
            debuginfo: debuginfo.map(Into::into),
        }
    }

    #[test]
    fn strips_the_password_policy_html() {
        assert_eq!(
            strip_html(
                "<div>Passwords must be at least 8 characters long.</div><div>Passwords must have at least 1 digit(s).</div>"
            ),
            "Passwords must be at least 8 characters long. Passwords must have at least 1 digit(s)."
        );
    }

    #[test]
    fn email_taken_from_debuginfo() {
        let e = MoodleError::from_exception(
            WsFunction::CreateUsers,
            exc(
                "invalid_parameter_exception",
                "invalidparameter",
                "Invalid parameter value detected",
                Some("Email address already exists: a@b.c"),
            ),
        );
        assert!(matches!(e, MoodleError::EmailTaken { .. }), "{e:?}");
    }

    #[test]
    fn capability_errors_are_missing_capability() {
        let e = MoodleError::from_exception(
            WsFunction::GetCourses,
            exc(
                "required_capability_exception",
                "nopermissions",
                "Sorry, but you do not currently have permissions to do that (View courses).",
                None,
            ),
        );
        assert!(matches!(e, MoodleError::MissingCapability { .. }));
        assert!(!e.is_retryable());
    }

    #[test]
    fn transport_classes() {
        assert!(MoodleError::Http { status: 503 }.is_retryable());
        assert!(MoodleError::Http { status: 429 }.is_retryable());
        assert!(!MoodleError::Http { status: 404 }.is_retryable());
        assert!(MoodleError::Http { status: 503 }.certainly_not_executed());
        assert!(!MoodleError::Http { status: 502 }.certainly_not_executed());
        let truncated =
            serde_json::from_str::<serde_json::Value>("{\"users\":[{\"id\":4").unwrap_err();
        assert!(
            MoodleError::Malformed {
                function: "f",
                excerpt: String::new(),
                source: truncated
            }
            .is_retryable()
        );
        let shape = serde_json::from_str::<Vec<i64>>("{\"a\":1}").unwrap_err();
        assert!(
            !MoodleError::Malformed {
                function: "f",
                excerpt: String::new(),
                source: shape
            }
            .is_retryable()
        );
    }
}
