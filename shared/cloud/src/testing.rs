//! Helpers for tests that run against moto server (behind the `testing` feature).
//!
//! A test that needs moto never skips: without `AWS_ENDPOINT_URL` it fails
//! with a message saying how to run it.

#![allow(clippy::panic, clippy::expect_used)]

use crate::config::Config;
use crate::provision::create_stack;

pub mod iam;
pub use iam::function_sdk;

/// The sender identity [`fresh_stack`] verifies in SES.
pub const TEST_MAIL_FROM: &str = "learnbridge@example.com";

/// The moto server's URL, from `AWS_ENDPOINT_URL`.
///
/// # Panics
/// When `AWS_ENDPOINT_URL` is not set: a test that needs moto must not pass
/// without it.
pub fn moto_endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!("AWS_ENDPOINT_URL is not set: run scripts/test, which starts moto server"),
    }
}

/// The SDK configuration for moto (checks that moto is configured first).
pub async fn sdk() -> aws_config::SdkConfig {
    moto_endpoint();
    crate::sdk::load_sdk_config().await
}

/// A unique, short name for one test's resources: `lb-{8 hex}`.
pub fn unique_stack_name() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("lb-{}", &id[..12])
}

/// Creates a stack of its own for one test (uuid-suffixed tables, queues with
/// dead-letter queues, the pepper secret, a verified sender) and returns its
/// configuration.
///
/// # Panics
/// When moto is not configured or a resource cannot be created.
pub async fn fresh_stack() -> Config {
    let sdk = sdk().await;
    create_stack(
        &sdk,
        &unique_stack_name(),
        Some(TEST_MAIL_FROM),
        crate::config::DEFAULT_RUN_HISTORY_DAYS,
    )
    .await
    .unwrap_or_else(|err| {
        panic!(
            "could not create a test stack on moto: {}",
            crate::error::error_chain(&err)
        )
    })
}

/// A connection for tests, with the default settings of its kind.
pub fn connection(
    tenant: &str,
    id: &str,
    kind: domain::ConnectionKind,
    enabled: bool,
) -> domain::Connection {
    use domain::connection::*;
    let settings = match kind {
        domain::ConnectionKind::Moodle => ConnectionSettings::Moodle(MoodleSettings::default()),
        domain::ConnectionKind::Ocsat => ConnectionSettings::Ocsat(LlnSettings::default()),
        domain::ConnectionKind::LlnRobot => ConnectionSettings::LlnRobot(LlnSettings::default()),
        domain::ConnectionKind::CourseKey => {
            ConnectionSettings::CourseKey(CourseKeySettings::default())
        }
        domain::ConnectionKind::Sms => ConnectionSettings::Sms(SmsSettings::default()),
    };
    domain::Connection {
        tenant: domain::TenantId::parse(tenant).expect("test tenant id"),
        id: domain::ConnectionId::parse(id).expect("test connection id"),
        name: format!("{id} ({tenant})"),
        base_url: "http://127.0.0.1:9".to_owned(),
        enabled,
        error_email: None,
        settings,
    }
}

/// Receives every message now visible on a stack's queue, deletes them, and returns their bodies as jobs.
pub async fn drain_jobs(
    sdk: &aws_config::SdkConfig,
    config: &Config,
    role: domain::QueueRole,
) -> Vec<domain::Job> {
    let url = config
        .queues
        .url(role)
        .expect("a test stack has every queue");
    let client = aws_sdk_sqs::Client::new(sdk);
    let mut jobs = Vec::new();
    loop {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive from moto");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return jobs;
        }
        for m in messages {
            let body = m.body.clone().unwrap_or_default();
            jobs.push(serde_json::from_str(&body).expect("queued bodies are jobs"));
            if let Some(handle) = m.receipt_handle {
                client
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}
