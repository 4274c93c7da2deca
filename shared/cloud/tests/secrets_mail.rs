//! Secrets Manager and SES against moto.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a test's setup failing is a test failure

mod common;

use cloud::SesMailer;
use cloud::secrets::{SecretError, Secrets, mask};
use domain::ports::{Email, MailError, Mailer};
use secrecy::{ExposeSecret, SecretString};

#[tokio::test]
async fn a_secret_is_read_once_and_then_served_from_the_cache() {
    let (sdk, config) = common::stack().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!("{}/tenant-a/moodle", config.secret_prefix);
    client
        .create_secret()
        .name(&name)
        .secret_string("moodle-token-0123456789")
        .send()
        .await
        .unwrap();

    let secrets = Secrets::new(client.clone());
    assert_eq!(
        secrets.get(&name).await.unwrap().expose_secret(),
        "moodle-token-0123456789"
    );

    // Gone from Secrets Manager: only a cached value can answer now.
    client
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        secrets.get(&name).await.unwrap().expose_secret(),
        "moodle-token-0123456789"
    );

    // A fresh instance (a new Lambda) has to ask, and is told it is not there.
    let err = Secrets::new(client).get(&name).await.unwrap_err();
    assert!(
        matches!(&err, SecretError::NotFound { name: n } if n == &name),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn put_creates_then_updates_and_errors_never_hold_the_value() {
    let (sdk, config) = common::stack().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!("{}/tenant-a/ocsat", config.secret_prefix);
    let secrets = Secrets::new(client.clone());

    secrets
        .put(&name, &SecretString::from("first-value-abcd"))
        .await
        .unwrap();
    secrets
        .put(&name, &SecretString::from("second-value-wxyz"))
        .await
        .unwrap();
    assert_eq!(
        secrets.get(&name).await.unwrap().expose_secret(),
        "second-value-wxyz"
    );
    let fresh = Secrets::new(client);
    let stored = fresh.get(&name).await.unwrap();
    assert_eq!(
        stored.expose_secret(),
        "second-value-wxyz",
        "the update reached Secrets Manager"
    );
    assert_eq!(mask(&stored), "****wxyz");

    // An invalid name is refused; the error names the secret, not the value.
    let bad = "bad name with spaces and a value?";
    let err = fresh.put(bad, &SecretString::from("do-not-leak-me")).await;
    if let Err(err) = err {
        let text = format!("{} {:?}", cloud::error_chain(&err), err);
        assert!(!text.contains("do-not-leak-me"), "{text}");
    }
}

#[tokio::test]
async fn the_stack_pepper_is_generated() {
    let (sdk, config) = common::stack().await;
    let secrets = Secrets::new(aws_sdk_secretsmanager::Client::new(&sdk));
    let pepper = secrets
        .get(config.api_key_pepper_secret.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(pepper.expose_secret().len(), 64);
    assert!(
        pepper
            .expose_secret()
            .chars()
            .all(|c| c.is_ascii_hexdigit())
    );
}

fn email() -> Email {
    Email {
        to: "learner@example.org".to_owned(),
        subject: "Run failed".to_owned(),
        body: "Run r1 finished with error.".to_owned(),
    }
}

#[tokio::test]
async fn ses_sends_from_a_verified_sender() {
    let (sdk, config) = common::stack().await;
    let client = aws_sdk_sesv2::Client::new(&sdk);
    let mailer = SesMailer::new(client.clone(), config.mail_from.clone().unwrap());
    mailer.send(&email()).await.unwrap();

    let unverified = SesMailer::new(
        client,
        format!(
            "nobody-{}@unverified.example",
            uuid::Uuid::new_v4().simple()
        ),
    );
    let err = unverified.send(&email()).await.unwrap_err();
    assert!(
        matches!(&err, MailError::Rejected { reason } if reason == "MessageRejected"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(
        !err.to_string().contains("@"),
        "no address in the error: {err}"
    );
}

#[tokio::test]
async fn a_secret_rotated_elsewhere_is_read_again_once_the_cache_ttl_passes() {
    let (sdk, _) = common::stack().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!("lb-test/rotation-{}", uuid::Uuid::new_v4().simple());
    let api = Secrets::new(client.clone());
    api.put(&name, &SecretString::from("token-v1"))
        .await
        .unwrap();
    // Two function instances read it: one with the default TTL, one past its TTL.
    let warm = Secrets::new(client.clone());
    let expired = Secrets::with_ttl(client.clone(), std::time::Duration::ZERO);
    assert_eq!(warm.get(&name).await.unwrap().expose_secret(), "token-v1");
    assert_eq!(
        expired.get(&name).await.unwrap().expose_secret(),
        "token-v1"
    );
    // The API rotates it.
    api.put(&name, &SecretString::from("token-v2"))
        .await
        .unwrap();
    assert_eq!(
        expired.get(&name).await.unwrap().expose_secret(),
        "token-v2",
        "past the TTL the new value is read"
    );
    assert_eq!(
        warm.get(&name).await.unwrap().expose_secret(),
        "token-v1",
        "within the TTL (cloud::secrets::CACHE_TTL) the cached value serves"
    );
    warm.forget(&name).await;
    assert_eq!(warm.get(&name).await.unwrap().expose_secret(), "token-v2");
}
