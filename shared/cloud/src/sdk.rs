//! The shared AWS SDK configuration.

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use std::time::Duration;

/// Connecting to an AWS endpoint: a healthy one answers in milliseconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One attempt of one call (DynamoDB, SQS, Secrets Manager, SES).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// One call with its retries. Below every function's deadline (the shortest,
/// coursekey-webhook, has 10 s), so a stalled service becomes an error the function
/// reports (the API's 503 `unavailable`) instead of a timed-out invocation.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);

/// The timeouts every client gets (see the constants).
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Loads region, credentials and endpoint from the environment, the usual way, with
/// [`timeouts`] on every call.
///
/// There is no endpoint code here on purpose: local runs and tests point every
/// client at moto server by setting `AWS_ENDPOINT_URL`.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
}
