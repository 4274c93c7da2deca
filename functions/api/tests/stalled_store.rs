#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A stalled store (an endpoint that accepts connections and never answers, as a
//! DynamoDB in trouble can) gives the API's documented 503 within seconds, through
//! the SDK timeouts every function's clients get (`cloud::sdk::timeouts`), instead of
//! holding the request until the Lambda deadline.

use api::AppState;
use http_body_util::BodyExt;
use secrecy::SecretString;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// Accepts every connection on 127.0.0.1 and never writes a byte.
async fn stalled_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

#[tokio::test]
async fn a_stalled_store_answers_503_within_seconds() {
    // Table and queue names of a real stack; the calls go to the stalled endpoint.
    let config = cloud::testing::fresh_stack().await;
    // The production SDK configuration (its timeouts included), pointed at the stall.
    // (A fresh builder: the loaded one re-reads AWS_ENDPOINT_URL for each service.)
    let loaded = cloud::testing::sdk().await;
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(loaded.region().cloned())
        .credentials_provider(loaded.credentials_provider().unwrap())
        .sleep_impl(loaded.sleep_impl().unwrap())
        .timeout_config(loaded.timeout_config().cloned().unwrap())
        .endpoint_url(stalled_endpoint().await)
        .build();
    assert_eq!(
        loaded.timeout_config().unwrap().operation_timeout(),
        Some(cloud::sdk::OPERATION_TIMEOUT)
    );
    let mut state = AppState::from_aws(&api::Config::from_stack(&config).unwrap(), &sdk);
    // The pepper as if already read: the call that stalls is the key store's.
    state.deps.pepper = SecretString::from("pepper").into();
    let request = http::Request::get("/v1/connections")
        .header(
            "authorization",
            "Bearer lb_fixture_key_acme_0123456789abcdef0123456789abcdef",
        )
        .body(lambda_http::Body::Empty)
        .unwrap();
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(25), api::app(state).oneshot(request))
        .await
        .expect("the API must answer before the function's 29 s deadline")
        .unwrap();
    let took = started.elapsed();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    assert!(
        took <= cloud::sdk::OPERATION_TIMEOUT + Duration::from_secs(2),
        "answered after {took:?}"
    );
    println!("a stalled store answered 503 after {took:?}");
}
