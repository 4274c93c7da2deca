//! The shared AWS SDK configuration.

use aws_config::BehaviorVersion;

/// Loads region, credentials and endpoint from the environment, the usual way.
///
/// There is no endpoint code here on purpose: local runs and tests point every
/// client at moto server by setting `AWS_ENDPOINT_URL`.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}
