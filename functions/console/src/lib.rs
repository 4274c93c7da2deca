//! console: the server-rendered console a person signs in to (issue 19). Its
//! dependencies come from the api's composition root ([`api::AppState::from_aws`]),
//! plus the session store, and its screens call the same stores and app use cases
//! the api's routes call: never copies of the api's handlers.

pub mod config;
pub mod coursekey;
pub mod coursekey_status;
pub mod deliveries;
pub mod error;
pub mod lln;
pub mod offering;
pub mod offerings;
pub mod offerings_list;
pub mod pages;
pub mod results;
pub mod session;
pub mod setup;
pub mod tenant;
pub mod views;

pub use config::Config;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use domain::ports::SessionStore;
use std::sync::Arc;

/// Everything the console's pages need, built once per instance by
/// [`ConsoleState::from_aws`]: main, the local runner and the tests all call it.
#[derive(Clone)]
pub struct ConsoleState {
    /// The api's dependencies, built by the api's own composition root.
    pub api: api::AppState,
    /// Console sessions (the data table).
    pub sessions: Arc<dyn SessionStore>,
    /// How long a sign-in lasts.
    pub session_length: chrono::TimeDelta,
}

impl ConsoleState {
    /// Over the configured tables and secrets. Reads nothing and connects nowhere.
    pub fn from_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        let api = api::AppState::from_aws(&config.api(), sdk);
        let data = cloud::dynamo::Table::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.tables.data.clone(),
        );
        Self {
            api,
            sessions: Arc::new(cloud::dynamo::DynamoSessionStore::new(data)),
            session_length: chrono::TimeDelta::hours(i64::from(config.session_hours)),
        }
    }
}

/// The console's stylesheet, served by the function itself.
const STYLE: &str = include_str!("../static/console.css");

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLE,
    )
}

/// The console as an axum Router, every page under `/console` (the routes
/// `ANY /console` and `ANY /console/{proxy+}` of the HTTP API): served by
/// `lambda_http::run` in Lambda, merged beside the api on one address by the local
/// runner, called with `oneshot` by tests. It sets no fallback of its own, so it
/// merges with the api's Router; unknown `/console/...` paths get its 404 page.
pub fn app(state: ConsoleState) -> Router {
    Router::new()
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route("/console/style.css", get(style))
        .route(
            "/console/sign-in",
            get(pages::sign_in_form).post(pages::sign_in),
        )
        .route("/console/sign-out", post(pages::sign_out))
        .route("/console/connections", get(pages::connections))
        .route("/console/connections/{id}", get(pages::connection))
        .route(
            "/console/connections/{id}/test",
            post(pages::test_connection),
        )
        .route("/console/connections/{id}/runs/{run}", get(pages::run))
        .route("/console/runs", get(pages::runs))
        .merge(results::routes())
        .merge(deliveries::routes())
        .merge(lln::routes())
        .merge(offerings::routes())
        .merge(offering::routes())
        .route("/console/coming/{screen}", get(pages::coming))
        .merge(setup::routes())
        .merge(tenant::routes())
        .merge(offerings_list::routes())
        .merge(coursekey::routes())
        .route("/console/{*rest}", axum::routing::any(pages::not_found))
        .layer(axum::middleware::map_response(pages::no_store))
        .with_state(state)
}
