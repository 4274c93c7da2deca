//! `cargo bench -p tests --bench faults`: the probe's fault mix (Moodle at 20%
//! HTTP 503 and 5% hangs past the client's timeout) at 2,000 learners, over
//! moto (AWS_ENDPOINT_URL, as `scripts/test` starts it) and the simulators.
//! Prints wall time, Moodle calls, faults, retries, final states of runs, dead
//! letters and duplicates (docs/benchmarks.md). `FAULTS_LEARNERS=500` runs fewer;
//! `FAULTS_CLIENT_TIMEOUT_SECONDS` and `FAULTS_HANG_SECONDS` change the functions'
//! Moodle timeout (1 s) and how long a hang lasts (3 s).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tests::faults::{FaultMix, run};

#[tokio::main]
async fn main() {
    let learners = std::env::var("FAULTS_LEARNERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let seconds = |name: &str, default: u64| {
        std::time::Duration::from_secs(
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default),
        )
    };
    let mix = FaultMix {
        limit: std::time::Duration::from_secs(3_600),
        client_timeout: seconds("FAULTS_CLIENT_TIMEOUT_SECONDS", 1),
        hang: seconds("FAULTS_HANG_SECONDS", 3),
        ..FaultMix::probe(learners)
    };
    let report = run(&mix).await;
    report.print(&mix);
    let ok = report.export.finished
        && report.export_catch_up.iter().all(|night| night.finished)
        && report.download.finished
        && report.catch_up.iter().all(|night| night.finished)
        && report.unfinished_runs.is_empty()
        && report.dead_letters_without_reason.is_empty()
        && report.duplicate_users == 0
        && report.duplicate_enrolments == 0
        && report.delivered_twice == 0;
    if !ok {
        eprintln!("the fault mix did not hold (see above)");
        std::process::exit(1);
    }
}
