//! AWS adapters for learnbridge: the domain ports over DynamoDB, SQS, Secrets
//! Manager and SES, the functions' configuration, the SQS batch driver, and the
//! provisioning the local stack and the tests use.
//!
//! Every SDK error is classified where it arises (transient: try again;
//! permanent: a person must act) and kept as a typed source.

pub mod config;
pub mod dynamo;
mod error;
pub mod mail;
pub mod provision;
pub mod sdk;
pub mod secrets;
pub mod sqs;
pub mod stores;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::{Config, ConfigError, Queues, Tables};
pub use dynamo::{
    Condition, DynamoApiKeyStore, DynamoConnectionStore, DynamoRunStore, QueryOptions, SkRange,
    Table,
};
pub use error::error_chain;
pub use mail::SesMailer;
pub use sdk::load_sdk_config;
pub use secrets::{SecretError, Secrets};
pub use sqs::{Retryable, SqsJobQueue, process_batch};
pub use stores::{DynamoAttendanceInbox, Stores};
