//! LLN (OCSAT / LLN Robot): candidates pushed from learners, assessment
//! results downloaded, saved and delivered to the SMS, the API call log and
//! the reports (the seed vettrak-ocsat-lln-integration; docs/features.md
//! LLN-*).
//!
//! The rules are pure functions in `domain::lln`; the tool is reached through
//! the `LlnApis` port (`connectors::ocsat`), state through the `LlnStore`
//! (`cloud::dynamo::DynamoLlnStore`). A download is stored and held open until a
//! person saves or cancels it: saving records the Ok assessments (once each,
//! with the connection's default status and staff), delivers each to the SMS
//! and advances the connection's modified date; cancelling records nothing and
//! leaves the date, so the next download brings the same assessments again.

mod assessments;
mod bulk;
mod candidates;
mod downloads;
mod error;
mod reports;
mod service;

pub use assessments::{AssessmentEdit, AssessmentReport};
pub use bulk::{BULK_PUSH_CONCURRENCY, BulkFailure, BulkReport, BulkRow};
pub use candidates::{CandidatePreview, CandidateView};
pub use downloads::{SaveReport, delivery_payload};
pub use error::LlnFlowError;
pub use reports::{SummaryFilter, SummaryRow, api_log_ndjson, csv_field, summary_csv};
pub use service::Lln;

#[cfg(test)]
mod tests;
