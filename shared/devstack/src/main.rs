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
        /// `admin` (reads and changes) or `viewer` (reads only: the api and the
        /// console refuse its changes with 403).
        #[arg(long, default_value = "admin", value_parser = parse_role)]
        role: domain::ports::Role,
    },
    /// Print the api's OpenAPI document (JSON), as `GET /openapi.json` serves it.
    Openapi,
    /// List a tenant's API keys: id, label, created, revoked (never the keys).
    ListApiKeys {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a tenant's API key by its id (from list-api-keys); refused at once.
    RevokeApiKey {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
    },
    /// Admin repair after an upgrade: add the offerings stored before the tenant
    /// offering index (the console's offerings list) to it. Idempotent; prints how
    /// many it added and any offering item that does not decode.
    IndexOfferings,
    /// Make, in the local stack, what the events/ samples refer to (tenant acme, its
    /// API key, connections moodle-main, coursekey-main and sms, learner X1234567,
    /// offering OCC-1001 linked and marked for CourseKey, the retry-worker sample's
    /// delivery); idempotent; prints what it made. Local stacks only: the samples'
    /// API key is public.
    SeedSamples {
        #[command(flatten)]
        systems: devstack::samples::SampleSystems,
    },
    /// Print a CourseKey webhook sample signed now with its connection's stored key
    /// (`sign events/coursekey-webhook/signed.json > /tmp/signed.json`).
    Sign {
        /// The API Gateway request to sign (its pathParameters name the connection).
        event: std::path::PathBuf,
        /// Sign this other sample's body instead, keeping the event's own: a valid,
        /// fresh signature over a different body (how tampered.json is made).
        #[arg(long)]
        body_of: Option<std::path::PathBuf>,
    },
}

/// The stores of the deployed stack (its function variables) or, locally, of the
/// stack named by `--stack` (as `provision` names them).
/// The names the admin commands use: a named stack (`--stack`, LEARNBRIDGE_STACK) wins;
/// else the exported function environment; else the default stack.
fn admin_config(stack: Option<&str>) -> cloud::Config {
    admin_config_from(stack, |name| std::env::var(name).ok())
}

/// [`admin_config`] over any environment (`lookup`), so tests need not set variables.
fn admin_config_from(
    stack: Option<&str>,
    lookup: impl Fn(&str) -> Option<String>,
) -> cloud::Config {
    match stack {
        Some(stack) => stack_config(stack),
        None => cloud::Config::from_lookup(lookup).unwrap_or_else(|_| stack_config(DEFAULT_STACK)),
    }
}

async fn system(stack: &str) -> anyhow::Result<LocalSystem> {
    let sdk = cloud::load_sdk_config().await;
    let config =
        devstack::stack::provision(&sdk, stack, Some("learnbridge@example.com"), 90).await?;
    Ok(LocalSystem::new(config, sdk)?)
}

fn parse_role(raw: &str) -> Result<domain::ports::Role, domain::ports::UnknownRole> {
    domain::ports::Role::parse(raw)
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
        moodle_timeout: None,
        egress: domain::egress::Egress::PublicOnly,
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
        && !matches!(
            cli.command,
            Command::CreateApiKey { .. }
                | Command::Sign { .. }
                | Command::Openapi
                | Command::ListApiKeys { .. }
                | Command::RevokeApiKey { .. }
                | Command::IndexOfferings
        )
    {
        anyhow::bail!(
            "AWS_ENDPOINT_URL is not set: the local runner talks to moto server (scripts/demo and scripts/serve start it)"
        );
    }
    match cli.command {
        Command::Demo => devstack::demo::run(&stack).await,
        Command::Provision => {
            let system = system(&stack).await?;
            for (name, value) in devstack::stack::environment(&system.config) {
                println!("{name}={value}");
            }
            Ok(())
        }
        Command::SeedSamples { systems } => {
            let system = system(&stack).await?;
            for line in devstack::samples::seed(&system, &systems).await? {
                println!("{line}");
            }
            eprintln!("stack {stack}: what the events/ samples refer to is there");
            Ok(())
        }
        Command::Sign { event, body_of } => {
            let read = |path: &std::path::Path| {
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
            };
            let event = read(&event)?;
            let body_of = body_of.as_deref().map(read).transpose()?;
            let sdk = cloud::load_sdk_config().await;
            let config = admin_config(cli.stack.as_deref());
            let stores = cloud::Stores::new(&config, &sdk);
            let signed = devstack::samples::sign(
                &stores.connections,
                &stores.secrets,
                &config.secret_prefix,
                &event,
                body_of.as_deref(),
                Utc::now(),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&signed)?);
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
                "api on http://127.0.0.1:{api_port}, console on http://127.0.0.1:{api_port}/console, coursekey-webhook on http://127.0.0.1:{webhook_port}; polling queues (Ctrl-C stops)"
            );
            let api_router = system.api_router().await?;
            tokio::spawn(async move { axum::serve(api, api_router).await });
            let webhook_router = system.webhook_router();
            tokio::spawn(async move { axum::serve(webhook, webhook_router).await });
            serve_loop(system).await
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
        Command::CreateApiKey {
            tenant,
            label,
            role,
        } => {
            let tenant = TenantId::parse(tenant)?;
            let sdk = cloud::load_sdk_config().await;
            let config = admin_config(cli.stack.as_deref());
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
                .save_key_as(&hash, &tenant, &label, role, Utc::now())
                .await?;
            println!("{key}");
            eprintln!(
                "{role} API key for tenant {tenant} ({label}): shown once; only its hash is stored."
            );
            Ok(())
        }
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&api::openapi::document())?
            );
            Ok(())
        }
        Command::ListApiKeys { tenant } => {
            let tenant = TenantId::parse(tenant)?;
            let sdk = cloud::load_sdk_config().await;
            let stores = cloud::Stores::new(&admin_config(cli.stack.as_deref()), &sdk);
            let keys = stores.api_keys.list_keys(&tenant).await?;
            println!(
                "{:<18} {:<24} {:<7} {:<22} state",
                "id", "label", "role", "created"
            );
            for key in &keys {
                let state = match key.revoked_at {
                    Some(at) => format!("revoked {}", at.format("%Y-%m-%d %H:%M")),
                    None if key.revoked => "revoked".to_owned(),
                    None => "active".to_owned(),
                };
                println!(
                    "{:<18} {:<24} {:<7} {:<22} {state}",
                    key.id,
                    key.label,
                    key.role.as_str(),
                    key.created_at.format("%Y-%m-%d %H:%M UTC").to_string()
                );
            }
            eprintln!(
                "{} keys of tenant {tenant} (keys are never shown; only their hash is stored)",
                keys.len()
            );
            Ok(())
        }
        Command::IndexOfferings => {
            let sdk = cloud::load_sdk_config().await;
            let stores = cloud::Stores::new(&admin_config(cli.stack.as_deref()), &sdk);
            let report = stores.sis.index_offerings().await?;
            for skipped in &report.skipped {
                eprintln!("not indexed (repair it, then run again): {skipped}");
            }
            println!(
                "{} offerings added to their tenant's offering index",
                report.added
            );
            if report.skipped.is_empty() {
                Ok(())
            } else {
                anyhow::bail!("{} offering items do not decode", report.skipped.len())
            }
        }
        Command::RevokeApiKey { tenant, id } => {
            let tenant = TenantId::parse(tenant)?;
            let sdk = cloud::load_sdk_config().await;
            let stores = cloud::Stores::new(&admin_config(cli.stack.as_deref()), &sdk);
            if stores.api_keys.revoke_key(&tenant, &id, Utc::now()).await? {
                println!("revoked API key {id} of tenant {tenant}");
                Ok(())
            } else {
                anyhow::bail!(
                    "tenant {tenant} has no API key with id {id} (list-api-keys shows them)"
                )
            }
        }
    }
}

/// Runs the queues and the roster tick until Ctrl-C, as Lambda would: a job that
/// has started always finishes (nothing cancels it, however long it takes), and a
/// failed read of a queue or a failed tick is reported and tried again, never fatal.
/// The first Ctrl-C lets the running job finish; a second one stops at once.
async fn serve_loop(system: LocalSystem) -> anyhow::Result<()> {
    use std::time::Duration;

    // Set once by the first Ctrl-C; a waiter that comes late still sees it.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopping = || *stop_rx.borrow();
    let stopped = || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                // No signal handling here: run until killed (keeping the sender, so
                // nobody reads a dropped channel as a stop).
                std::future::pending::<()>().await;
            }
            let _ = stop_tx.send(true);
            println!("stopping once the running job finishes (Ctrl-C again stops now)");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        });
    }
    // The CourseKey roster tick, every minute as its schedule in the template. It runs
    // beside the queues (joined in this task), so neither ever interrupts the other.
    let ticks = async {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = stopped() => return,
                _ = tick.tick() => {}
            }
            if stopping() {
                return;
            }
            match system.fire_roster_tick(chrono::Utc::now()).await {
                Ok(fired) if fired.queued > 0 => {
                    println!("coursekey roster tick: {} pushes queued", fired.queued);
                }
                Ok(_) => {}
                Err(error) => eprintln!(
                    "coursekey roster tick failed (the next one is in a minute): {:#}",
                    anyhow::Error::new(error)
                ),
            }
        }
    };
    let jobs = async {
        let mut failures: u32 = 0;
        while !stopping() {
            let pause = match system.drain().await {
                Ok(report) => {
                    failures = 0;
                    if report.handled > 0 {
                        println!(
                            "handled {} jobs ({} reported for retry)",
                            report.handled, report.failed
                        );
                    }
                    Duration::from_millis(500)
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let pause = Duration::from_secs(u64::from(failures.min(5)) * 2);
                    eprintln!(
                        "polling the queues failed (trying again in {} s): {:#}",
                        pause.as_secs(),
                        anyhow::Error::new(error)
                    );
                    pause
                }
            };
            // Only the pause between passes is cut short by Ctrl-C, never a job.
            tokio::select! {
                _ = stopped() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    };
    tokio::join!(ticks, jobs);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The variables `provision` prints for the default stack, exported.
    fn exported() -> HashMap<String, String> {
        devstack::stack::environment(&stack_config(DEFAULT_STACK))
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }

    /// `--stack` wins over an exported function environment, for every admin
    /// command (the others name their stack only by `--stack`).
    #[test]
    fn a_named_stack_wins_over_the_exported_variables_for_every_command() {
        let env = exported();
        for args in [
            &["create-api-key", "--tenant", "acme"][..],
            &["list-api-keys", "--tenant", "acme"],
            &["revoke-api-key", "--tenant", "acme", "--id", "x"],
            &["index-offerings"],
            &["sign", "events/coursekey-webhook/signed.json"],
        ] {
            let cli = Cli::try_parse_from(
                ["learnbridge-local", "--stack", "other"]
                    .iter()
                    .chain(args)
                    .copied(),
            )
            .unwrap();
            let config = admin_config_from(cli.stack.as_deref(), |n| env.get(n).cloned());
            assert_eq!(config.tables.data, "other-data", "{args:?}");
            assert_eq!(config.secret_prefix, "other/connections", "{args:?}");
            assert_eq!(
                config.api_key_pepper_secret.as_deref(),
                Some("other/api-key-pepper"),
                "{args:?}"
            );
            // The option may also come after the command.
            let cli = Cli::try_parse_from(
                ["learnbridge-local"]
                    .iter()
                    .chain(args)
                    .chain(&["--stack", "other"])
                    .copied(),
            )
            .unwrap();
            assert_eq!(cli.stack.as_deref(), Some("other"), "{args:?}");
        }
        // Without --stack, the exported environment is used as it is.
        let mut env = env;
        env.insert("DATA_TABLE".to_owned(), "deployed-data".to_owned());
        let config = admin_config_from(None, |n| env.get(n).cloned());
        assert_eq!(config.tables.data, "deployed-data");
    }
}
