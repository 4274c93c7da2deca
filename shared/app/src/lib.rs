//! Use cases: the domain's rules applied over its ports.
//!
//! Nothing here knows AWS or HTTP types; functions and the local runner call
//! these with adapters from `cloud` and `connectors`.

pub mod attendance;
pub mod auth;
pub mod connections;
pub mod courses;
pub mod deliveries;
pub mod dispatch;
pub mod enrolment_removal;
pub mod errors;
pub mod incidents;
pub mod jobs;
pub mod learners;
pub mod lln;
pub mod marking;
pub mod push;
pub mod removal;
pub mod requeue;
pub mod results;
pub mod roster;
pub mod runs;
pub mod settings;
pub mod sms_records;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
