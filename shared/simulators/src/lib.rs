//! Simulators of the external systems learnbridge talks to, faithful to their wire
//! protocols, for tests, benchmarks and the local demo.
//!
//! - [`moodle`]: Moodle 4.3 REST web services and `login/token.php`.
//! - [`ocsat`]: OCSAT / LLN Robot (OAuth2 token, candidates, assessments).
//! - [`server`]: serve any simulator's router on a free loopback port.

pub mod coursekey;
pub mod moodle;
pub mod ocsat;
pub mod server;
pub mod sms;
