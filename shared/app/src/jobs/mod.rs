//! The run pipeline: export (enrolment-push) then import (results-fetch).
//!
//! Each stage is safe to run twice for the same job: SQS delivers at least once.

mod begin;
mod error;
mod finish;
mod stages;

pub use begin::{Begin, Pipeline};
pub use error::{JobError, expect_queue};

#[cfg(test)]
mod tests;
