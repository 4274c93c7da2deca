//! HTTP clients for the external systems learnbridge talks to.
//!
//! - [`moodle`]: Moodle LMS over its REST web services (`webservice/rest/server.php`).
//! - [`ocsat`]: OCSAT and LLN Robot (docs/connectors/ocsat.md).

pub mod coursekey;
pub mod egress;
pub mod http;
pub mod moodle;
pub mod moodle_gateway;
pub mod moodle_results;
pub mod ocsat;
pub mod path;
pub mod signature;
pub mod sms;
