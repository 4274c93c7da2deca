//! The main job on one machine: provision the stack from the SAM template on
//! moto, start the simulators, seed two tenants, receive signed attendance,
//! fire the nightly sync, run every queued job through the functions, and
//! print each run's report as the API shows it.

use crate::runner::LocalSystem;
use crate::stack;
use anyhow::{Context, bail};
use chrono::Utc;
use domain::ConnectionKind::{CourseKey, Moodle};
use domain::connection::*;
use domain::ports::{ApiKeyStore, ConnectionStore};
use domain::{Connection, ConnectionId, TenantId};
use secrecy::{ExposeSecret, SecretString};

/// The demo's CourseKey signing secret (a local test value).
const COURSEKEY_SECRET: &str = "whsec_demo_coursekey_signing_secret";

fn connection(
    tenant: &str,
    id: &str,
    name: &str,
    base_url: &str,
    enabled: bool,
    kind: domain::ConnectionKind,
) -> anyhow::Result<Connection> {
    let settings = match kind {
        Moodle => ConnectionSettings::Moodle(MoodleSettings::default()),
        CourseKey => ConnectionSettings::CourseKey(CourseKeySettings::default()),
        _ => bail!("the demo seeds only Moodle and CourseKey connections"),
    };
    Ok(Connection {
        tenant: TenantId::parse(tenant)?,
        id: ConnectionId::parse(id)?,
        name: name.to_owned(),
        base_url: base_url.to_owned(),
        enabled,
        error_email: Some("integration-admin@example.com".to_owned()),
        settings,
    })
}

async fn serve(router: axum::Router) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "local server stopped");
        }
    });
    Ok(url)
}

pub async fn run(stack_name: &str) -> anyhow::Result<()> {
    let sdk = cloud::load_sdk_config().await;
    println!(
        "== learnbridge demo: stack {stack_name} on {}",
        sdk.endpoint_url().unwrap_or("AWS")
    );

    let config = stack::provision(&sdk, stack_name, Some("learnbridge@example.com"), 90).await?;
    println!(
        "   created from infra/template.yaml: tables {}, {}, {}; queues with DLQs; secrets",
        config.tables.data, config.tables.runs, config.tables.deliveries
    );

    let moodle = simulators::moodle::MoodleSim::sample_site();
    let moodle_server = moodle
        .start()
        .await
        .context("starting the Moodle simulator")?;
    println!("   Moodle simulator at {}", moodle_server.base_url);

    let system = LocalSystem::new(config.clone(), sdk.clone());
    let stores = system.stores();

    // Two tenants: acme with Moodle and CourseKey, bolt with a disabled Moodle.
    let acme_moodle = connection(
        "acme",
        "moodle-main",
        "Acme Moodle",
        &moodle_server.base_url,
        true,
        Moodle,
    )?;
    let acme_ck = connection(
        "acme",
        "coursekey-main",
        "Acme CourseKey",
        "http://127.0.0.1:9",
        true,
        CourseKey,
    )?;
    let bolt_moodle = connection(
        "bolt",
        "moodle",
        "Bolt Moodle (disabled)",
        &moodle_server.base_url,
        false,
        Moodle,
    )?;
    for c in [&acme_moodle, &acme_ck, &bolt_moodle] {
        stores.connections.save_connection(c).await?;
    }
    stores
        .secrets
        .put(
            &acme_moodle.secret_name(&config.secret_prefix),
            &SecretString::from(simulators::moodle::SAMPLE_TOKEN),
        )
        .await?;
    stores
        .secrets
        .put(
            &acme_ck.secret_name(&config.secret_prefix),
            &SecretString::from(COURSEKEY_SECRET),
        )
        .await?;

    let pepper_name = config
        .api_key_pepper_secret
        .as_deref()
        .context("no pepper secret")?;
    let pepper = stores.secrets.get(pepper_name).await?;
    let api_key = crate::new_api_key();
    let hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), &api_key);
    stores
        .api_keys
        .save_key(&hash, &TenantId::parse("acme")?, "demo", Utc::now())
        .await?;
    println!(
        "   seeded tenants acme (Moodle, CourseKey) and bolt (Moodle, disabled); API key for acme {}",
        domain::mask::mask_secret(&api_key)
    );

    let api_url = serve(system.api_router().await?).await?;
    let webhook_url = serve(system.webhook_router()).await?;
    println!("   api at {api_url}, coursekey-webhook at {webhook_url}");
    let http = reqwest::Client::new();

    // CourseKey posts attendance: verified, stored, queued; twice, as webhooks are.
    let body = serde_json::json!({"records": [
        {"id": "ck-demo-1", "student_id": "S1001", "class_id": "C1", "check_in": "2026-11-22T22:58:00Z", "check_out": "2026-11-23T01:02:00Z"},
        {"id": "ck-demo-2", "student_id": "S1002", "class_id": "C1", "check_in": null, "check_out": null}
    ]})
    .to_string();
    for attempt in 1..=2 {
        let ts = Utc::now().timestamp();
        let response = http
            .post(format!(
                "{webhook_url}/webhooks/coursekey/acme/coursekey-main"
            ))
            .header("content-type", "application/json")
            .header(connectors::signature::TIMESTAMP_HEADER, ts.to_string())
            .header(
                connectors::signature::SIGNATURE_HEADER,
                connectors::signature::sign(COURSEKEY_SECRET.as_bytes(), ts, body.as_bytes()),
            )
            .body(body.clone())
            .send()
            .await?;
        println!(
            "-- CourseKey attendance, delivery {attempt}: HTTP {} {}",
            response.status().as_u16(),
            response.text().await?
        );
    }
    let unsigned = http
        .post(format!(
            "{webhook_url}/webhooks/coursekey/acme/coursekey-main"
        ))
        .body(body)
        .send()
        .await?;
    println!(
        "-- an unsigned request: HTTP {} {}",
        unsigned.status().as_u16(),
        unsigned.text().await?
    );

    // The nightly schedule.
    let fired = system.fire_nightly(Utc::now()).await?;
    println!(
        "-- nightly sync fired: {} runs queued ({} already finished)",
        fired.queued, fired.already_finished
    );
    let drained = system.drain().await?;
    println!(
        "-- queues drained: {} jobs handled, {} reported for retry",
        drained.handled, drained.failed
    );

    // Each run, as the API shows it to the tenant.
    let mut failures = 0;
    let acme = TenantId::parse("acme")?;
    for c in stores.connections.connections(&acme).await? {
        for run in stores.runs.runs_of(&acme, &c.id, 5).await? {
            let response = http
                .get(format!("{api_url}/v1/connections/{}/runs/{}", c.id, run.id))
                .bearer_auth(&api_key)
                .send()
                .await?;
            let view: serde_json::Value = response.json().await?;
            let status = view["status"].as_str().unwrap_or("?");
            println!("== run {} of {} ({}): {status}", run.id, c.id, c.name);
            for line in view["log"].as_array().into_iter().flatten() {
                println!(
                    "   [{}] {}",
                    line["level"].as_str().unwrap_or("?"),
                    line["message"].as_str().unwrap_or("")
                );
            }
            if status != "Finished successfully" {
                failures += 1;
            }
        }
    }
    let other_tenant = http
        .get(format!("{api_url}/v1/connections/moodle"))
        .bearer_auth(&api_key)
        .send()
        .await?;
    println!(
        "-- acme asking for bolt's connection: HTTP {}",
        other_tenant.status().as_u16()
    );
    println!("-- Moodle calls made: {}", moodle.calls().len());
    moodle_server.shutdown().await;
    if failures > 0 {
        bail!("{failures} runs did not finish successfully");
    }
    println!("== demo finished: every run finished successfully");
    Ok(())
}
