//! Serves the simulators on 127.0.0.1 until killed, printing one line per simulator:
//! `moodle http://127.0.0.1:PORT`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use simulators::moodle::{MoodleSim, Switches};

/// Which recorded Moodle site to start from when no fixture is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MoodleSite {
    /// The first recorded site (127.0.0.1:8081 in the samples): course 2 OCC-1001, users
    /// 3..=6, the `learnbridge` service open to every user.
    Sample,
    /// The second recorded site (127.0.0.1:8880): time zone Australia/Sydney, course 7
    /// SMP-4001, users 6 and 310..=313, the `learnbridge` service restricted to the admin
    /// (password `S3cret-Passw0rd!`) and including tool_mobile_get_config.
    Sydney,
}

#[derive(Debug, Parser)]
#[command(
    about = "Simulators of the external systems learnbridge talks to",
    after_help = "Moodle site settings: --moodle-timezone sets the site time zone that \
tool_mobile_get_config (section locationsettings) reports; --moodle-recover-grades sets \
recovergradesdefault=1, so re-enrolling a user restores the grades deleted when their last \
enrolment was removed (Moodle's default is 0: they stay deleted). Services and passwords \
for login/token.php come from the fixture: `services` [{shortname, functions, enabled, \
restricted, authorised_users}], `tokens` [{token, userid, service}] and each user's \
`password`; a user allowed on a service gets their token for it (issued once)."
)]
struct Args {
    /// Port of the Moodle simulator (0 = a free port).
    #[arg(long, env = "SIM_MOODLE_PORT", default_value_t = 0)]
    moodle_port: u16,
    /// JSON fixture of the Moodle site (default: the recorded site --moodle-site names).
    #[arg(long, env = "SIM_MOODLE_FIXTURE")]
    moodle_fixture: Option<PathBuf>,
    /// The recorded Moodle site to serve when no fixture is given.
    #[arg(long, env = "SIM_MOODLE_SITE", value_enum, default_value_t = MoodleSite::Sample)]
    moodle_site: MoodleSite,
    /// The Moodle site's time zone, an IANA name such as Australia/Sydney (default: the
    /// fixture's; UTC for the first recorded site).
    #[arg(long, env = "SIM_MOODLE_TIMEZONE")]
    moodle_timezone: Option<String>,
    /// Moodle's recovergradesdefault=1: re-enrolling restores deleted grades.
    #[arg(long, env = "SIM_MOODLE_RECOVER_GRADES")]
    moodle_recover_grades: bool,
    /// Latency added to every call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of calls answered with HTTP 503 (0..1).
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of calls whose answer hangs (0..1).
    #[arg(long, default_value_t = 0.0)]
    timeout_rate: f64,
    /// How long a hanging answer hangs, in seconds.
    #[arg(long, default_value_t = 120)]
    hang_secs: u64,
    /// Share of calls answered with truncated JSON (0..1).
    #[arg(long, default_value_t = 0.0)]
    malformed_rate: f64,
    /// Seed for the fault switches above: the same calls in the same order
    /// meet the same faults (default: a fresh random draw per call).
    #[arg(long)]
    fault_seed: Option<u64>,
    /// Port of the SMS simulator (0 = a free port).
    #[arg(long, env = "SIM_SMS_PORT", default_value_t = 0)]
    sms_port: u16,
    /// The secret the SMS simulator verifies delivery signatures with.
    #[arg(long, env = "SIM_SMS_SECRET", default_value = "whsec_sms_simulator")]
    sms_secret: String,
    /// The SMS refuses the first N deliveries (404 "learner not recognised").
    /// A running simulator takes the same switches as JSON at `POST {sms}/_sim/switches`,
    /// and shows what it accepted at `GET {sms}/_sim/received`.
    #[arg(long, env = "SIM_SMS_REFUSE_CALLS")]
    sms_refuse_calls: Option<u32>,
    /// The SMS refuses every delivery until this instant (RFC 3339), as an SMS that
    /// does not know the learner yet.
    #[arg(long, env = "SIM_SMS_REFUSE_UNTIL")]
    sms_refuse_until: Option<chrono::DateTime<chrono::Utc>>,
    /// The SMS answers every delivery with this HTTP status (e.g. 500, 403).
    #[arg(long, env = "SIM_SMS_ANSWER")]
    sms_answer: Option<u16>,
    /// Port of the CourseKey simulator's roster API (0 = a free port).
    #[arg(long, env = "SIM_COURSEKEY_PORT", default_value_t = 0)]
    coursekey_port: u16,
    /// The bearer key the CourseKey simulator expects on roster calls.
    #[arg(
        long,
        env = "SIM_COURSEKEY_API_KEY",
        default_value = "ck_simulator_key"
    )]
    coursekey_api_key: String,
    /// Port of the OCSAT / LLN Robot simulator (0 = a free port). The API URL is
    /// `{url}/api/v1`, the token endpoint `{url}/oauth2/token`.
    #[arg(long, env = "SIM_OCSAT_PORT", default_value_t = 0)]
    ocsat_port: u16,
    /// The OAuth2 client id the OCSAT simulator accepts.
    #[arg(long, env = "SIM_OCSAT_CLIENT_ID", default_value = "ocsat-sim-client")]
    ocsat_client_id: String,
    /// The OAuth2 client secret the OCSAT simulator accepts.
    #[arg(
        long,
        env = "SIM_OCSAT_CLIENT_SECRET",
        default_value = "ocsat_sim_client_secret"
    )]
    ocsat_client_secret: String,
    /// The API key the OCSAT simulator expects in `x-api-key`.
    #[arg(long, env = "SIM_OCSAT_API_KEY", default_value = "ocsat_sim_api_key")]
    ocsat_api_key: String,
    /// PHP max_input_vars.
    #[arg(long, default_value_t = 5000)]
    max_input_vars: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let moodle = match &args.moodle_fixture {
        Some(path) => {
            let json = std::fs::read_to_string(path)
                .with_context(|| format!("reading Moodle fixture {}", path.display()))?;
            MoodleSim::from_json(&json)
                .with_context(|| format!("parsing Moodle fixture {}", path.display()))?
        }
        None => match args.moodle_site {
            MoodleSite::Sample => MoodleSim::sample_site(),
            MoodleSite::Sydney => MoodleSim::sample_site_sydney(),
        },
    };
    if let Some(zone) = &args.moodle_timezone {
        moodle
            .set_timezone(zone)
            .context("--moodle-timezone (SIM_MOODLE_TIMEZONE)")?;
    }
    if args.moodle_recover_grades {
        moodle.set_recover_grades_default(true);
    }
    moodle.set_switches(Switches {
        latency: Duration::from_millis(args.latency_ms),
        error_rate: args.error_rate,
        timeout_rate: args.timeout_rate,
        malformed_rate: args.malformed_rate,
        max_input_vars: args.max_input_vars,
    });
    moodle.set_hang(Duration::from_secs(args.hang_secs));
    if let Some(seed) = args.fault_seed {
        moodle.seed_faults(seed);
    }
    let server = simulators::server::serve_on(moodle.router(), args.moodle_port)
        .await
        .context("binding the Moodle simulator")?;
    println!("moodle {}", server.base_url);
    let sms = simulators::sms::SmsSim::new(args.sms_secret.clone());
    sms.apply(&simulators::sms::SmsSwitches {
        refuse_calls: args.sms_refuse_calls,
        refuse_until: args.sms_refuse_until,
        answer_always: args.sms_answer,
        clear: None,
    });
    let sms_server = simulators::server::serve_on(sms.router(), args.sms_port)
        .await
        .context("binding the SMS simulator")?;
    println!(
        "sms {} (what it accepted: GET {0}/_sim/received)",
        sms_server.base_url
    );
    let coursekey = simulators::coursekey::CourseKeySim::new(
        args.coursekey_api_key.clone(),
        args.sms_secret.clone(),
    );
    let coursekey_server = simulators::server::serve_on(coursekey.router(), args.coursekey_port)
        .await
        .context("binding the CourseKey simulator")?;
    println!("coursekey {}", coursekey_server.base_url);
    let ocsat = simulators::ocsat::OcsatSim::new(
        args.ocsat_client_id.clone(),
        args.ocsat_client_secret.clone(),
        args.ocsat_api_key.clone(),
    );
    let ocsat_server = simulators::server::serve_on(ocsat.router(), args.ocsat_port)
        .await
        .context("binding the OCSAT simulator")?;
    println!("ocsat {}", ocsat_server.base_url);
    tokio::select! {
        r = server.wait() => r.context("Moodle simulator stopped")?,
        r = sms_server.wait() => r.context("SMS simulator stopped")?,
        r = coursekey_server.wait() => r.context("CourseKey simulator stopped")?,
        r = ocsat_server.wait() => r.context("OCSAT simulator stopped")?,
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
    }
    Ok(())
}
