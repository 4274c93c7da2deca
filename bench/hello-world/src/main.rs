//! The cold-start baseline: aws-lambda-rust-runtime's basic example (tracing set up,
//! an echo handler), built like the functions, so `scripts/bench-cold-start` can put
//! each function's init beside the least any lambda_runtime function pays.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
