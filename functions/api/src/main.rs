use api::{Deps, handler};
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lambda_runtime_tracing();
    let config = cloud::config::Config::from_env()?;
    let sdk = cloud::sdk::load_sdk_config().await;
    let stores = cloud::Stores::new(&config, &sdk);
    let pepper_name = config
        .api_key_pepper_secret
        .clone()
        .ok_or_else(|| anyhow::anyhow!("API_KEY_PEPPER_SECRET is not set"))?;
    let secrets = Arc::new(stores.secrets);
    // Read by the first request that checks a key, not here: init waits for nothing.
    let pepper = api::Pepper::lazy(secrets.clone(), pepper_name);
    let mut deps = Deps {
        connections: Arc::new(stores.connections),
        runs: Arc::new(stores.runs),
        deliveries: Arc::new(stores.deliveries),
        tenants: Arc::new(stores.tenants),
        api_keys: Arc::new(stores.api_keys),
        pepper,
        sis: Arc::new(stores.sis),
        links: Arc::new(stores.links),
        queue: Arc::new(stores.queue),
        learning: Arc::new(
            connectors::moodle_gateway::MoodleGateways::new(
                secrets.clone(),
                config.secret_prefix.clone(),
            )
            .with_egress(config.egress),
        ),
        secret_sink: secrets.clone(),
        secret_source: secrets,
        secret_prefix: config.secret_prefix.clone(),
        probe: Arc::new(api::probe::MoodleProbe::new(config.egress)),
        now: chrono::Utc::now,
        egress: config.egress,
    };
    let results = api::results::ResultsDeps {
        results: Arc::new(stores.results),
        grades: Arc::new(
            connectors::moodle_gateway::MoodleGateways::new(
                deps.secret_source.clone(),
                config.secret_prefix.clone(),
            )
            .with_egress(config.egress),
        ),
    };
    let coursekey = api::coursekey::CourseKeyApi {
        connections: deps.connections.clone(),
        sis: deps.sis.clone(),
        attendance: Arc::new(stores.attendance),
        queue: deps.queue.clone(),
        tenants: deps.tenants.clone(),
        now: chrono::Utc::now,
    };
    let lln = api::lln::wire(&mut deps, stores.lln);
    lambda_http::run(handler::app_with(
        deps,
        api::results::routes(results)
            .merge(api::coursekey::routes(coursekey))
            .merge(api::lln::routes(lln)),
    ))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}

fn lambda_runtime_tracing() {
    lambda_http::tracing::init_default_subscriber();
}
