//! In-memory ports for the use cases' tests and benchmarks, behind the
//! `testing` feature (as `cloud::testing`): any crate's tests reach them with
//! the dev-dependency `app = { workspace = true, features = ["testing"] }`.
//! Adapters are tested against the real services (moto, simulators), never
//! against these; no shipped binary enables the feature.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod results;
mod stores;

pub use results::{MemDeliveries, MemResults, Progress};
pub use stores::{MemConnections, MemLinks, MemMailer, MemQueue, MemRuns, MemSis, MemTenants};
