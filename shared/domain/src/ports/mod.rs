//! Ports: what the use cases need from the outside world, in domain terms.
//! AWS and HTTP adapters implement them; nothing here returns an SDK type.
//!
//! One module per port family; every item is re-exported here, so a port is
//! `domain::ports::RunStore` wherever it is used. The errors all ports share
//! ([`BoxError`], [`Retryable`], [`SecretError`]) live in the leaf
//! [`crate::error`], and the [`Email`] a [`Mailer`] sends in [`crate::email`]:
//! the domain types the ports speak never depend on the ports.

mod attendance;
mod deliveries;
mod keys;
mod learning;
mod lln;
mod mail;
mod queue;
mod results;
mod runs;
mod secrets;
mod sessions;
mod sis;
mod store;

pub use crate::email::Email;
pub use crate::error::{BoxError, Retryable, SecretError};
pub use attendance::*;
pub use deliveries::*;
pub use keys::*;
pub use learning::*;
pub use lln::*;
pub use mail::*;
pub use queue::*;
pub use results::*;
pub use runs::*;
pub use secrets::*;
pub use sessions::*;
pub use sis::*;
pub use store::*;
