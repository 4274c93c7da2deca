//! Shared test helpers: every test gets its own uuid-named stack on moto.
#![allow(dead_code, clippy::unwrap_used)]

use aws_config::SdkConfig;
use chrono::{DateTime, TimeZone, Utc};
use cloud::Config;
use domain::connection::{MoodleSettings, SmsSettings};
use domain::{Connection, ConnectionId, ConnectionSettings, TenantId};

pub async fn stack() -> (SdkConfig, Config) {
    let config = cloud::testing::fresh_stack().await;
    (cloud::testing::sdk().await, config)
}

pub fn dynamo(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

pub fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

pub fn conn_id(id: &str) -> ConnectionId {
    ConnectionId::parse(id).unwrap()
}

pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, 0).unwrap()
}

pub fn moodle(tenant_id: &str, id: &str, enabled: bool) -> Connection {
    Connection {
        tenant: tenant(tenant_id),
        id: conn_id(id),
        name: format!("Moodle {id}"),
        base_url: "http://127.0.0.1:9/moodle".to_owned(),
        enabled,
        error_email: Some("ops@example.com".to_owned()),
        settings: ConnectionSettings::Moodle(MoodleSettings {
            role_id: 9,
            ..MoodleSettings::default()
        }),
    }
}

pub fn sms(tenant_id: &str, id: &str) -> Connection {
    Connection {
        settings: ConnectionSettings::Sms(SmsSettings::default()),
        error_email: None,
        ..moodle(tenant_id, id, true)
    }
}
