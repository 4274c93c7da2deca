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
///
/// In Lambda the region and the role's credentials are environment variables, which
/// the default chains read first. When they are set we hand the loader those two
/// environment providers directly: the same answers, without building the rest of the
/// chains at init (profile-file, web-identity and ECS providers, and an IMDS client for
/// the region chain and another for the credentials chain), which a function would
/// pay for on every cold start and never use. Without them (a developer's machine with
/// a profile or SSO, an EC2 host) the defaults apply unchanged.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    load_sdk_config_from(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty())).await
}

/// [`load_sdk_config`], told by `is_set` which variables the environment holds.
async fn load_sdk_config_from(is_set: impl Fn(&str) -> bool) -> aws_config::SdkConfig {
    use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
    use aws_config::environment::region::EnvironmentVariableRegionProvider;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .http_client(http_client());
    if is_set("AWS_REGION") || is_set("AWS_DEFAULT_REGION") {
        loader = loader.region(EnvironmentVariableRegionProvider::new());
    }
    if is_set("AWS_ACCESS_KEY_ID") && is_set("AWS_SECRET_ACCESS_KEY") {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    loader.load().await
}

/// The SDK's HTTPS client (hyper and rustls with aws-lc, as the SDK's default) with
/// two differences that keep a cold start cheap:
/// - it trusts the process's one copy of the system roots ([`tls_roots`]), which
///   reqwest's clients share, instead of a second copy the SDK would read;
/// - nothing is read at init. The SDK builds a throwaway connector when a client is
///   constructed, only to load the certificates early (its `validate_base_client_config`
///   is the one caller without settings); that call gets a plain HTTP connector, and the
///   TLS connector is built at the first request.
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut builder = aws_smithy_http_client::Connector::builder();
        builder.set_connector_settings(settings.cloned());
        builder.set_sleep_impl(components.and_then(|c| c.sleep_impl()));
        if settings.is_none() {
            // Client construction's eager build (see above): discarded by the SDK.
            return builder.build_http();
        }
        let builder = builder.tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        let trust = TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(tls_roots::pem_bundle().as_bytes());
        match TlsContext::builder().with_trust_store(trust).build() {
            Ok(context) => builder.tls_context(context).build(),
            // Not reachable today (building a context cannot fail); the SDK's own roots then.
            Err(_) => builder.build(),
        }
    })
}

/// An SDK client built the first time a call needs it, from the function's
/// [`aws_config::SdkConfig`]; or one built already ([`LazyClient::ready`]: tests, and
/// callers that hold a client). Dereferences to the client.
///
/// Building a client is part of every cold start that builds it (runtime plugins, and
/// for the first client of each service its endpoint partitions parsed and their
/// regexes compiled), so a function builds at init only the clients each of its
/// invocations uses (DynamoDB) and leaves the rest (SQS, Secrets Manager, SES) to the
/// first invocation that calls them: nightly-sync never reads a secret, retry-worker's
/// daily sweep sends no email, most API requests queue nothing. Clones share one client.
pub struct LazyClient<C>(std::sync::Arc<Source<C>>);

enum Source<C> {
    Ready(C),
    Lazy {
        sdk: Box<aws_config::SdkConfig>,
        build: fn(&aws_config::SdkConfig) -> C,
        client: std::sync::OnceLock<C>,
    },
}

impl<C> LazyClient<C> {
    /// A client built by `build` (`Client::new`) from `sdk` at its first use.
    pub fn new(sdk: &aws_config::SdkConfig, build: fn(&aws_config::SdkConfig) -> C) -> Self {
        Self(std::sync::Arc::new(Source::Lazy {
            sdk: Box::new(sdk.clone()),
            build,
            client: std::sync::OnceLock::new(),
        }))
    }

    /// A client already built.
    pub fn ready(client: C) -> Self {
        Self(std::sync::Arc::new(Source::Ready(client)))
    }

    /// Whether the client has been built (by [`LazyClient::ready`] or a first use).
    pub fn is_built(&self) -> bool {
        match &*self.0 {
            Source::Ready(_) => true,
            Source::Lazy { client, .. } => client.get().is_some(),
        }
    }
}

impl<C> std::ops::Deref for LazyClient<C> {
    type Target = C;

    fn deref(&self) -> &C {
        match &*self.0 {
            Source::Ready(client) => client,
            Source::Lazy { sdk, build, client } => client.get_or_init(|| build(sdk)),
        }
    }
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C> std::fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyClient")
            .field("built", &self.is_built())
            .finish()
    }
}

#[cfg(test)]
mod lazy_client_tests {
    use super::LazyClient;

    fn sdk() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .build()
    }

    #[test]
    fn a_lazy_client_is_built_at_its_first_use_once_and_clones_share_it() {
        let lazy = LazyClient::new(&sdk(), aws_sdk_sqs::Client::new);
        let clone = lazy.clone();
        assert!(!lazy.is_built() && !clone.is_built());
        assert_eq!(
            clone.config().region().map(|r| r.as_ref()),
            Some("eu-west-1")
        );
        assert!(lazy.is_built(), "built by the clone's first use");
        assert!(std::ptr::eq(&*lazy, &*clone));
        assert_eq!(format!("{lazy:?}"), "LazyClient { built: true }");
    }

    #[test]
    fn a_ready_client_is_the_one_given() {
        let client = aws_sdk_sqs::Client::new(&sdk());
        let ready = LazyClient::ready(client);
        assert!(ready.is_built());
        assert_eq!(
            ready.config().region().map(|r| r.as_ref()),
            Some("eu-west-1")
        );
    }
}
