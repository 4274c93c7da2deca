use lambda_runtime::{LambdaEvent, service_fn};
use retry_worker::handler;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lambda_runtime::tracing::init_default_subscriber();
    let _config = cloud::config::Config::from_env()?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<handler::Invocation>| async move {
            handler::handle(event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
