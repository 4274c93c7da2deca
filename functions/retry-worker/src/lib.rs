//! retry-worker: sends deliveries to the SMS (from its SQS queue) and, daily,
//! re-sends what is due.

pub mod handler;
