//! The SMS client against the SMS simulator: both formats verify, every
//! switch comes back as the answer the domain classifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use connectors::egress::Egress;
use connectors::sms::{HttpSmsClient, SmsClientConfig};
use domain::connection::{ConnectionSettings, DeliveryFormat, SmsSettings};
use domain::delivery::{Delivery, DeliveryKey, DeliveryKind, SendResult, Verdict, classify};
use domain::ports::{SmsClient, SmsSendError};
use domain::{AssessableId, Connection, ConnectionId, LearnerCode, OfferingId, TenantId};
use secrecy::SecretString;
use simulators::sms::{Canned, Format, SmsSim};
use std::time::Duration;

const SECRET: &str = "whsec_sms_test";

fn connection(url: &str, format: DeliveryFormat) -> Connection {
    Connection {
        tenant: TenantId::parse("acme").unwrap(),
        id: ConnectionId::parse("sms").unwrap(),
        name: "SMS".into(),
        base_url: format!("{url}/results"),
        enabled: true,
        error_email: Some("ops@example.com".into()),
        settings: ConnectionSettings::Sms(SmsSettings {
            format,
            retry_days: 30,
        }),
    }
}

fn delivery() -> Delivery {
    let key = DeliveryKey {
        tenant: TenantId::parse("acme").unwrap(),
        learner: LearnerCode::parse("1001").unwrap(),
        offering: OfferingId::parse("OPL-7").unwrap(),
        assessable: Some(AssessableId::parse("EL-1").unwrap()),
        kind: DeliveryKind::Completion,
    };
    Delivery::new(
        &key,
        ConnectionId::parse("sms").unwrap(),
        serde_json::json!({"grade": "8", "completed_on": "2026-11-20", "passed": true}),
        Utc::now(),
    )
}

fn client(timeout_ms: u64) -> HttpSmsClient {
    HttpSmsClient::new(SmsClientConfig {
        timeout: Duration::from_millis(timeout_ms),
        connect_timeout: Duration::from_millis(timeout_ms),
        // The SMS simulator listens on 127.0.0.1.
        egress: Egress::AllowInternal,
    })
    .unwrap()
}

async fn send(client: &HttpSmsClient, c: &Connection) -> SendResult {
    client
        .send(c, &SecretString::from(SECRET), &delivery(), Utc::now())
        .await
        .unwrap()
}

#[tokio::test]
async fn both_formats_are_accepted_once_per_idempotency_key() {
    let sim = SmsSim::new(SECRET);
    let server = sim.start().await.unwrap();
    let client = client(5_000);
    for format in [DeliveryFormat::JsonWebhook, DeliveryFormat::CoachviewXml] {
        let c = connection(&server.base_url, format);
        let SendResult::Answered(answer) = send(&client, &c).await else {
            panic!("answered")
        };
        assert_eq!(answer.status, 200, "{format:?}: {}", answer.body);
    }
    let accepted = sim.accepted();
    assert_eq!(accepted.len(), 1, "same key: the second is a duplicate");
    assert_eq!(accepted[0].format, Format::Json);
    assert_eq!(sim.duplicates(), 1);
    assert_eq!(
        accepted[0].idempotency_key.as_deref(),
        Some("acme:completion:1001:OPL-7:EL-1")
    );

    let sim = SmsSim::new(SECRET);
    let server = sim.start().await.unwrap();
    let c = connection(&server.base_url, DeliveryFormat::CoachviewXml);
    assert!(matches!(send(&client, &c).await, SendResult::Answered(a) if a.status == 200));
    let xml = &sim.accepted()[0].body;
    assert!(xml.contains("<Person><Id>1001</Id><ExternId>1001</ExternId></Person>"));
    assert!(xml.contains("<FinalGrade>8</FinalGrade>"));
}

#[tokio::test]
async fn every_switch_classifies_as_the_outcomes_table_says() {
    let sim = SmsSim::new(SECRET);
    let server = sim.start().await.unwrap();
    let client = client(500);
    let c = connection(&server.base_url, DeliveryFormat::JsonWebhook);
    let now = Utc::now();
    let verdict = |r: &SendResult| classify(r, 0, now);

    sim.refuse_calls(1);
    assert!(matches!(
        verdict(&send(&client, &c).await),
        Verdict::RetryNextDay { .. }
    ));
    sim.answer_next(Canned::Status(400, "grade must be a number".into()));
    match verdict(&send(&client, &c).await) {
        Verdict::Failed { reason } => assert!(reason.ends_with(": grade must be a number")),
        other => panic!("{other:?}"),
    }
    for status in [401, 403] {
        sim.answer_next(Canned::Status(status, String::new()));
        assert!(matches!(
            verdict(&send(&client, &c).await),
            Verdict::Misconfigured { .. }
        ));
    }
    sim.answer_next(Canned::RateLimited {
        retry_after_secs: 1800,
    });
    match verdict(&send(&client, &c).await) {
        Verdict::RetrySoon { after, .. } => assert_eq!(after.num_seconds(), 1800),
        other => panic!("{other:?}"),
    }
    sim.answer_next(Canned::Status(500, "boom".into()));
    assert!(matches!(
        verdict(&send(&client, &c).await),
        Verdict::RetrySoon { .. }
    ));
    sim.answer_next(Canned::Hang(Duration::from_secs(3)));
    assert_eq!(send(&client, &c).await, SendResult::TimedOut);

    // A wrong secret is refused by the simulator: a configuration error.
    let wrong = client
        .send(&c, &SecretString::from("other"), &delivery(), now)
        .await
        .unwrap();
    assert!(matches!(verdict(&wrong), Verdict::Misconfigured { .. }));

    // Nobody listening: unreachable, retried the same day.
    let port = server.port();
    server.shutdown().await;
    let gone = connection(
        &format!("http://127.0.0.1:{port}"),
        DeliveryFormat::JsonWebhook,
    );
    assert_eq!(send(&client, &gone).await, SendResult::Unreachable);

    let bad = Connection {
        base_url: "ftp://x".into(),
        ..c.clone()
    };
    let err = client
        .send(&bad, &SecretString::from(SECRET), &delivery(), now)
        .await
        .unwrap_err();
    assert!(matches!(err, SmsSendError::BadUrl(_)));
}
