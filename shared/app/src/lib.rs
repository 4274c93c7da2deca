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
pub mod incidents;
pub mod jobs;
pub mod learners;
pub mod lln;
pub mod push;
pub mod removal;
pub mod results;
pub mod roster;

#[cfg(test)]
mod fakes;
