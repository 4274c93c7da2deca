//! Support for the end-to-end tests: a whole local system per test, on its own
//! uuid-named stack provisioned from the SAM template.

#![allow(clippy::expect_used, clippy::panic)]

use devstack::runner::LocalSystem;

/// A local system on a fresh stack (tables, queues, secrets as the template declares them).
///
/// # Panics
/// When moto server is not configured (`AWS_ENDPOINT_URL`): an end-to-end test never skips.
pub async fn local_system() -> LocalSystem {
    let sdk = cloud::testing::sdk().await;
    let stack = cloud::testing::unique_stack_name();
    let config = devstack::stack::provision(&sdk, &stack, Some(cloud::testing::TEST_MAIL_FROM), 90)
        .await
        .unwrap_or_else(|e| panic!("provisioning {stack} on moto: {}", cloud::error_chain(&e)));
    LocalSystem::new(config, sdk)
}

/// Serves a router on a free loopback port and returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}
