use console::{Config, ConsoleState, app};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = cloud::sdk::load_sdk_config().await;
    lambda_http::run(app(ConsoleState::from_aws(&config, &sdk)))
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
