use coursekey_webhook::{Deps, handler};
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lambda_http::tracing::init_default_subscriber();
    let config = cloud::config::Config::from_env()?;
    let sdk = cloud::sdk::load_sdk_config().await;
    let stores = cloud::Stores::new(&config, &sdk);
    let deps = Deps {
        connections: Arc::new(stores.connections),
        secrets: Arc::new(stores.secrets),
        inbox: Arc::new(stores.inbox),
        queue: Arc::new(stores.queue),
        secret_prefix: config.secret_prefix.clone(),
        now: chrono::Utc::now,
    };
    lambda_http::run(handler::app(deps))
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
