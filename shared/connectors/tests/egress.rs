//! The egress rule at connect time: with internal URLs refused, each client
//! resolves a host name itself and refuses one that resolves to an internal
//! address before connecting (a name the API let through, or one that rebinds
//! later), as a permanent error a person must act on; a literal internal
//! address or plain http is refused before any request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{NaiveDate, Utc};
use connectors::coursekey::CourseKeyClient;
use connectors::egress::{AddressClass, Egress, UrlRefused};
use connectors::moodle::{MoodleAuth, MoodleClient, MoodleConfig, MoodleError, RetryPolicy};
use connectors::sms::{HttpSmsClient, SmsClientConfig};
use domain::connection::{ConnectionSettings, SmsSettings};
use domain::delivery::{Delivery, DeliveryKey, DeliveryKind};
use domain::ports::{CourseKeyRoster, Retryable, SmsClient, SmsSendError};
use domain::{Connection, ConnectionId, LearnerCode, OfferingId, TenantId};
use secrecy::SecretString;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A loopback port that counts the connections made to it.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, accepted)
}

fn loopback(refused: &UrlRefused) -> bool {
    matches!(
        refused,
        UrlRefused::Internal {
            class: AddressClass::Loopback,
            ..
        }
    )
}

#[tokio::test]
async fn moodle_refuses_a_name_that_resolves_to_loopback_before_connecting() {
    let (port, accepted) = counting_listener().await;
    let mut config = MoodleConfig::new(format!("https://localhost:{port}/moodle"));
    config.retry = RetryPolicy::none();
    let client = MoodleClient::new(config, MoodleAuth::Token(SecretString::from("t0ken"))).unwrap();
    let err = client.site_info().await.unwrap_err();
    match &err {
        MoodleError::Egress(refused) => assert!(loopback(refused), "{refused}"),
        other => panic!("expected an egress refusal, got {other:?}"),
    }
    assert!(!err.is_retryable(), "a person must change the URL");
    assert!(err.to_string().contains("localhost"), "{err}");
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");

    // Literal internal addresses and plain http never get a client.
    for url in [
        format!("https://127.0.0.1:{port}/"),
        "https://[::ffff:169.254.169.254]/".to_owned(),
        "http://moodle.example.edu/".to_owned(),
    ] {
        let err = MoodleClient::new(
            MoodleConfig::new(url.as_str()),
            MoodleAuth::Token(SecretString::from("t0ken")),
        )
        .unwrap_err();
        assert!(matches!(err, MoodleError::Egress(_)), "{url}: {err:?}");
    }
    // With internal URLs allowed (the local stack), the same name is reached.
    let mut config =
        MoodleConfig::new(format!("http://localhost:{port}/")).with_egress(Egress::AllowInternal);
    config.retry = RetryPolicy::none();
    config.timeout = std::time::Duration::from_millis(300);
    let client = MoodleClient::new(config, MoodleAuth::Token(SecretString::from("t0ken"))).unwrap();
    let _ = client.site_info().await;
    assert!(accepted.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn the_sms_and_coursekey_clients_refuse_it_too() {
    let (port, accepted) = counting_listener().await;
    let sms = HttpSmsClient::new(SmsClientConfig::default()).unwrap();
    let connection = Connection {
        tenant: TenantId::parse("acme").unwrap(),
        id: ConnectionId::parse("sms").unwrap(),
        name: "SMS".into(),
        base_url: format!("https://localhost:{port}/results"),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Sms(SmsSettings::default()),
    };
    let delivery = Delivery::new(
        &DeliveryKey {
            tenant: TenantId::parse("acme").unwrap(),
            learner: LearnerCode::parse("1001").unwrap(),
            offering: OfferingId::parse("OPL-7").unwrap(),
            assessable: None,
            kind: DeliveryKind::Completion,
        },
        connection.id.clone(),
        serde_json::json!({"completed_on": "2026-11-20"}),
        Utc::now(),
    );
    let err = sms
        .send(&connection, &SecretString::from("s"), &delivery, Utc::now())
        .await
        .unwrap_err();
    assert!(matches!(err, SmsSendError::BadUrl(_)), "{err:?}");
    assert!(!err.is_retryable());

    let roster = CourseKeyClient::new(
        &format!("https://localhost:{port}"),
        SecretString::from("k"),
        None,
        Egress::PublicOnly,
    )
    .unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let err = roster
        .upsert_course(&OfferingId::parse("OCC-1").unwrap(), "Course", day, day)
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
}
