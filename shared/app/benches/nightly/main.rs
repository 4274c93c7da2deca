#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The nightly fan-out (issue #6 point 5): 200 Moodle connections of 500
//! learners each, dispatched by `dispatch_nightly` and carried through export
//! (enrolment-push) and import (results-fetch) by a pool of workers standing
//! in for the two Lambda functions, bounded as `infra/template.yaml` bounds
//! them. Every connection is its own Moodle site (its own simulator on its own
//! port, answering over real HTTP with a per-call latency), reached through the
//! real connector. Prints figures; asserts only correctness (every learner
//! enrolled, every result read, every run finished, no site above its bound).
//!
//! Four nights, on a simulated clock (a day apart; the handlers' `Utc::now()`
//! becomes the night's time so watermarks and leases age as they would):
//! 1. first night: every learner new (users created, enrolled, called) and
//!    every learner read by the import (no watermark yet);
//! 2. after a day of marking: every learner graded, plus 5 new enrolments per
//!    site; every learner's result read;
//! 3. and 4. quiet nights: 5 learners regraded per site each day, nothing new
//!    (the night after the marking day also reads again, for their course
//!    completion, the learners graded within the completion lag).
//!
//! `cargo bench -p app --bench nightly`; scale with `NIGHTLY_BENCH_CONNECTIONS`
//! (200), `NIGHTLY_BENCH_LEARNERS` (500), `NIGHTLY_BENCH_TENANTS` (20) and
//! `NIGHTLY_BENCH_LATENCY_MS` (50 ms per Moodle call).
//!
//! Its parts: `world` (the tables, queues, clock and Moodle sites), `queue`
//! (SQS in memory), `lambda` (the functions' bounds from the template),
//! `functions` (their instances and handlers), `night` (one night run),
//! `days` (what changes between nights), `report` (a night checked and printed).

mod days;
mod functions;
mod lambda;
mod night;
mod queue;
mod report;
mod world;

use chrono::{DateTime, TimeDelta, Utc};
use days::{CHANGES, marking_day, quiet_day};
use domain::connection::MoodleSettings;
use functions::JOBS_PER_BATCH_AT_ONCE;
use lambda::lambda_model;
use night::run_night;
use report::{WINDOW, report};
use std::time::Duration;
use world::set_up;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("nightly fan-out benchmark: run it with `cargo bench -p app --bench nightly`");
        return;
    }
    let connections = env_usize("NIGHTLY_BENCH_CONNECTIONS", 200);
    let learners = env_usize("NIGHTLY_BENCH_LEARNERS", 500);
    let tenants = env_usize("NIGHTLY_BENCH_TENANTS", 20).min(connections);
    let latency = Duration::from_millis(env_usize("NIGHTLY_BENCH_LATENCY_MS", 50) as u64);
    let push = lambda_model("EnrolmentPushFunction");
    let fetch = lambda_model("ResultsFetchFunction");
    let bound = MoodleSettings::default().max_concurrency;
    println!(
        "nightly fan-out: {connections} Moodle connections ({tenants} tenants), {learners} learners each, {} ms per Moodle call, {} machine threads",
        latency.as_millis(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  enrolment-push: {} instances x batch {} (timeout {} s); results-fetch: {} instances x batch {}, {JOBS_PER_BATCH_AT_ONCE} jobs at once (timeout {} s); per site max_concurrency {bound}",
        push.instances,
        push.batch_size,
        push.timeout.as_secs(),
        fetch.instances,
        fetch.batch_size,
        fetch.timeout.as_secs()
    );

    // The simulated clock: each night a day after the one before.
    let night_one = Utc::now();
    let (world, mut sites) = set_up(connections, tenants, learners, latency, night_one).await;
    let schedule = |n: i64| -> DateTime<Utc> {
        (night_one.date_naive() + TimeDelta::days(n))
            .and_hms_opt(2, 0, 0)
            .unwrap()
            .and_utc()
    };

    // Night 1: everyone new.
    let night = run_night(&world, &sites, schedule(0), push, fetch).await;
    report(
        "night 1: every learner new (created, enrolled, called) and read",
        &night,
        &world,
        &sites,
        bound,
        &|s| s.learners,
        &|_| Some(0),
    )
    .await;
    let night1_wall = night.wall;

    // A day of marking: every learner graded on the quiz; 5 new enrolments per site.
    let graded = marking_day(&world, &mut sites, night_one).await;
    world.set_now(night_one + TimeDelta::days(1));
    let night = run_night(&world, &sites, schedule(1), push, fetch).await;
    report(
        &format!("night 2: every learner graded during the day, {CHANGES} new per site"),
        &night,
        &world,
        &sites,
        bound,
        &|s| graded[&s.connection],
        &|s| Some(graded[&s.connection]),
    )
    .await;
    let night2_wall = night.wall;

    // Quiet days: each day 5 other learners per site graded on the assignment,
    // nothing new. The night after the marking day also reads again those
    // graded within `COMPLETION_LAG` whose course completion is not known yet.
    let mut worst = night1_wall.max(night2_wall);
    for n in 3..=4 {
        quiet_day(&world, &sites, n, night_one);
        world.set_now(night_one + TimeDelta::days(n - 1));
        let night = run_night(&world, &sites, schedule(n - 1), push, fetch).await;
        report(
            &format!("night {n}: {CHANGES} learners regraded per site, nothing new"),
            &night,
            &world,
            &sites,
            bound,
            &|_| CHANGES,
            &|_| None,
        )
        .await;
        worst = worst.max(night.wall);
    }

    println!(
        "\nworst night: {:.1} s of the 4 h window ({:.2}%) for {connections} connections x {learners} learners at {} ms per Moodle call",
        worst.as_secs_f64(),
        100.0 * worst.as_secs_f64() / WINDOW.as_secs_f64(),
        latency.as_millis()
    );
}
