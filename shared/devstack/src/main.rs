//! `learnbridge-local`: the local stack and admin tools.

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};
use devstack::runner::LocalSystem;
use domain::TenantId;
use domain::ports::ApiKeyStore;
use secrecy::ExposeSecret;

#[derive(Parser)]
#[command(
    version,
    about = "learnbridge on one machine: moto server, the simulators and the functions"
)]
struct Cli {
    /// Stack name: prefixes every table, queue and secret (as the SAM stack name does).
    /// Default `learnbridge-local`. When given, it wins over the table and secret names
    /// of an exported function environment (DATA_TABLE, API_KEY_PEPPER_SECRET, ...).
    #[arg(long, global = true, env = "LEARNBRIDGE_STACK")]
    stack: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Provision the stack, seed two tenants, fire the nightly sync and print each run.
    Demo,
    /// Create the tables, queues and secrets the SAM template declares (idempotent).
    Provision,
    /// Serve the HTTP functions and poll the queues until interrupted.
    Serve {
        #[arg(long, default_value_t = 8080)]
        api_port: u16,
        #[arg(long, default_value_t = 8081)]
        webhook_port: u16,
    },
    /// Fire a schedule now: `nightly`, `daily-retry` or `coursekey_roster`.
    Fire { schedule: String },
    /// Admin bootstrap: create an API key for a tenant and print it once.
    CreateApiKey {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "sms")]
        label: String,
    },
}

async fn system(stack: &str) -> anyhow::Result<LocalSystem> {
    let sdk = cloud::load_sdk_config().await;
    let config =
        devstack::stack::provision(&sdk, stack, Some("learnbridge@example.com"), 90).await?;
    Ok(LocalSystem::new(config, sdk))
}

const DEFAULT_STACK: &str = "learnbridge-local";

/// The names a stack's functions are given, derived from the stack name as the
/// template derives them.
fn stack_config(stack: &str) -> cloud::Config {
    cloud::Config {
        tables: cloud::config::Tables {
            data: format!("{stack}-data"),
            runs: format!("{stack}-runs"),
            deliveries: format!("{stack}-deliveries"),
        },
        queues: cloud::config::Queues::default(),
        secret_prefix: format!("{stack}/connections"),
        api_key_pepper_secret: Some(format!("{stack}/api-key-pepper")),
        mail_from: None,
        run_history_days: cloud::config::DEFAULT_RUN_HISTORY_DAYS,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let stack = cli
        .stack
        .clone()
        .unwrap_or_else(|| DEFAULT_STACK.to_owned());
    if std::env::var("AWS_ENDPOINT_URL").is_err()
        && !matches!(cli.command, Command::CreateApiKey { .. })
    {
        anyhow::bail!(
            "AWS_ENDPOINT_URL is not set: the local runner talks to moto server (scripts/demo and scripts/serve start it)"
        );
    }
    match cli.command {
        Command::Demo => devstack::demo::run(&stack).await,
        Command::Provision => {
            let system = system(&stack).await?;
            let c = &system.config;
            println!(
                "DATA_TABLE={}\nRUNS_TABLE={}\nDELIVERIES_TABLE={}",
                c.tables.data, c.tables.runs, c.tables.deliveries
            );
            for (role, url) in c.queues.iter() {
                println!("{}={url}", cloud::config::Queues::variable(role));
            }
            println!("SECRET_PREFIX={}", c.secret_prefix);
            println!(
                "API_KEY_PEPPER_SECRET={}",
                c.api_key_pepper_secret.as_deref().unwrap_or_default()
            );
            // Every variable any function reads (retry-worker needs MAIL_FROM at init).
            if let Some(from) = &c.mail_from {
                println!("MAIL_FROM={from}");
            }
            println!("RUN_HISTORY_DAYS={}", c.run_history_days);
            Ok(())
        }
        Command::Serve {
            api_port,
            webhook_port,
        } => {
            let system = system(&stack).await?;
            let api = tokio::net::TcpListener::bind(("127.0.0.1", api_port))
                .await
                .context("api port")?;
            let webhook = tokio::net::TcpListener::bind(("127.0.0.1", webhook_port))
                .await
                .context("webhook port")?;
            println!(
                "api on http://127.0.0.1:{api_port}, coursekey-webhook on http://127.0.0.1:{webhook_port}; polling queues (Ctrl-C stops)"
            );
            let api_router = system.api_router().await?;
            tokio::spawn(async move { axum::serve(api, api_router).await });
            let webhook_router = system.webhook_router();
            tokio::spawn(async move { axum::serve(webhook, webhook_router).await });
            // The CourseKey roster tick, every minute as its schedule in the template.
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                    _ = tick.tick() => {
                        let fired = system.fire_roster_tick(Utc::now()).await?;
                        if fired.queued > 0 {
                            println!("coursekey roster tick: {} pushes queued", fired.queued);
                        }
                    }
                    report = system.drain() => {
                        let report = report?;
                        if report.handled > 0 {
                            println!("handled {} jobs ({} reported for retry)", report.handled, report.failed);
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            }
        }
        Command::Fire { schedule } => {
            let system = system(&stack).await?;
            match schedule.as_str() {
                "nightly" => {
                    let fired = system.fire_nightly(Utc::now()).await?;
                    println!(
                        "nightly: {} runs queued ({} already finished)",
                        fired.queued, fired.already_finished
                    );
                }
                "daily-retry" => system.fire_daily_retry(Utc::now()).await?,
                "coursekey_roster" => {
                    let fired = system.fire_roster_tick(Utc::now()).await?;
                    println!(
                        "coursekey_roster: {} pushes queued ({} connections not due)",
                        fired.queued, fired.already_finished
                    );
                }
                other => anyhow::bail!(
                    "unknown schedule {other:?}: use nightly, daily-retry or coursekey_roster"
                ),
            }
            Ok(())
        }
        Command::CreateApiKey { tenant, label } => {
            let tenant = TenantId::parse(tenant)?;
            let sdk = cloud::load_sdk_config().await;
            // A named stack wins; else the exported function environment; else the default stack.
            let config = match &cli.stack {
                Some(stack) => stack_config(stack),
                None => cloud::Config::from_env().unwrap_or_else(|_| stack_config(DEFAULT_STACK)),
            };
            let stores = cloud::Stores::new(&config, &sdk);
            let pepper = stores
                .secrets
                .get(
                    config
                        .api_key_pepper_secret
                        .as_deref()
                        .context("API_KEY_PEPPER_SECRET")?,
                )
                .await?;
            let key = devstack::new_api_key();
            let hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), &key);
            stores
                .api_keys
                .save_key(&hash, &tenant, &label, Utc::now())
                .await?;
            println!("{key}");
            eprintln!(
                "API key for tenant {tenant} ({label}): shown once; only its hash is stored."
            );
            Ok(())
        }
    }
}
