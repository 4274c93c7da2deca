//! The Moodle REST web services client.
//!
//! One [`MoodleClient`] per Moodle site (connection). It speaks the protocol as
//! Moodle 4.x does: a form-encoded POST to `{base}/webservice/rest/server.php`
//! with `wstoken`, `wsfunction` and `moodlewsrestformat=json`, PHP-style arrays
//! (`users[0][username]=`), booleans as `0`/`1`, errors as HTTP 200 bodies
//! (`{"exception","errorcode","message"}`) mapped to [`MoodleError`].
//!
//! The token lives only in the request body, held as a [`secrecy::SecretString`];
//! it is never in a URL, a log line, an error or the client's `Debug`.

mod batch;
mod client;
pub mod error;
pub mod functions;
pub mod ids;
pub mod types;

pub use batch::{BatchOutcome, RecordResult};
pub use client::{
    CourseGrades, LOGIN_COUNT_KEY, MoodleAuth, MoodleClient, MoodleConfig, RetryPolicy,
    encode_params, form_body, parse_answer,
};
pub use error::{MoodleError, MoodleException};
pub use functions::{
    Feature, Idempotency, OPTIONAL_FUNCTIONS, PortCall, WsFunction, functions_table,
    required_functions,
};
pub use ids::{CourseModuleId, MoodleCategoryId, MoodleCourseId, MoodleRoleId, MoodleUserId};
