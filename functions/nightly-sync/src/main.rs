use lambda_runtime::{LambdaEvent, service_fn};
use nightly_sync::{Config, Deps, handler};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = cloud::sdk::load_sdk_config().await;
    let deps = Deps::from_aws(&config, &sdk);
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<handler::ScheduledInvocation>| {
            let deps = &deps;
            async move {
                handler::handle(deps, event.payload, chrono::Utc::now())
                    .await
                    .map_err(|e| {
                        tracing::error!(
                            error = &e as &dyn std::error::Error,
                            "nightly dispatch failed; the schedule will retry"
                        );
                        lambda_runtime::Error::from(e)
                    })
            }
        },
    ))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
