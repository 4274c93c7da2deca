use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use results_fetch::{Config, Deps, handler};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = cloud::sdk::load_sdk_config().await;
    let deps = Deps::from_aws(&config, &sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deps = &deps;
        async move { Ok::<_, std::convert::Infallible>(handler::handle(deps, event.payload).await) }
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
