//! HTTP clients for the external systems learnbridge talks to.
//!
//! - [`moodle`]: Moodle LMS over its REST web services (`webservice/rest/server.php`).

pub mod moodle;
pub mod signature;
pub mod sms;
