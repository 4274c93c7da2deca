//! A night's outcome checked and its figures printed.

use crate::night::Night;
use crate::world::{COURSE, Site, World};
use domain::RunStatus;
use domain::ports::*;
use domain::sis::*;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// The nightly window the runs must fit in (02:00-06:00).
pub const WINDOW: Duration = Duration::from_secs(4 * 3600);

fn spread(values: &[usize]) -> (usize, usize, usize) {
    let mut v = values.to_vec();
    v.sort_unstable();
    (
        v.first().copied().unwrap_or(0),
        v.get(v.len() / 2).copied().unwrap_or(0),
        v.last().copied().unwrap_or(0),
    )
}

fn durations(v: &[Duration]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    let mut s: Vec<f64> = v.iter().map(Duration::as_secs_f64).collect();
    s.sort_by(f64::total_cmp);
    format!(
        "{} jobs, median {:.2} s, max {:.2} s",
        s.len(),
        s[s.len() / 2],
        s[s.len() - 1]
    )
}

/// Checks the night's outcome and prints its figures.
pub async fn report(
    name: &str,
    night: &Night,
    world: &World,
    sites: &[Site],
    bound: usize,
    expect_changed: &dyn Fn(&Site) -> usize,
    expect_results: &dyn Fn(&Site) -> Option<usize>,
) {
    println!("\n{name}");
    println!(
        "  wall time, dispatch -> every run finished: {:.1} s",
        night.wall.as_secs_f64()
    );
    println!(
        "  jobs: {:?} ({} failed, {} delayed by a busy lease)",
        night.sent,
        night.stats.failed.len(),
        night.delayed
    );
    println!(
        "  export jobs (enrolment-push): {}",
        durations(&night.stats.export_jobs)
    );
    println!(
        "  import jobs (results-fetch): {}",
        durations(&night.stats.fetch_jobs)
    );
    assert!(
        night.stats.failed.is_empty(),
        "jobs failed: {:?}",
        night.stats.failed
    );
    runs_finished(world, sites);
    calls(night, bound);
    learners(night, world, sites, expect_changed, expect_results).await;
    let share = night.wall.as_secs_f64() / WINDOW.as_secs_f64();
    println!(
        "  nightly window (02:00-06:00): {:.2}% used; at this Lambda concurrency about {:.0} such connections fit",
        100.0 * share,
        sites.len() as f64 / share
    );
}

/// Runs by status: every one finished.
fn runs_finished(world: &World, sites: &[Site]) {
    let mut statuses: BTreeMap<&'static str, usize> = BTreeMap::new();
    {
        let runs = world.runs.runs.lock().unwrap();
        for site in sites {
            let latest = runs
                .values()
                .filter(|r| r.tenant == site.tenant && r.connection == site.connection)
                .max_by_key(|r| r.started_at)
                .expect("a run per connection");
            *statuses.entry(latest.status.label()).or_default() += 1;
            assert_ne!(
                latest.status,
                RunStatus::Importing,
                "run of {} unfinished",
                site.connection
            );
        }
    }
    println!("  runs: {statuses:?}");
}

/// Moodle calls, per site and per function; concurrency seen by each site,
/// never above its bound.
fn calls(night: &Night, bound: usize) {
    let total: usize = night.calls.iter().sum();
    let (lo, mid, hi) = spread(&night.calls);
    println!("  Moodle calls: {total} in all; per site min {lo}, median {mid}, max {hi}");
    for (f, n) in &night.by_function {
        println!("    {f:<52} {n:>8}");
    }
    let (lo, mid, hi) = spread(&night.max_in_flight);
    println!(
        "  most calls in flight at once, per site: min {lo}, median {mid}, max {hi} (bound: max_concurrency {bound})"
    );
    assert!(
        hi <= bound,
        "a site saw {hi} calls at once, above its bound {bound}"
    );
}

/// Every learner enrolled in Moodle and called in the SMS; every result read.
async fn learners(
    night: &Night,
    world: &World,
    sites: &[Site],
    expect_changed: &dyn Fn(&Site) -> usize,
    expect_results: &dyn Fn(&Site) -> Option<usize>,
) {
    let mut enrolled = 0;
    let mut learners_read = 0;
    let mut changed = 0;
    let mut results = 0;
    for site in sites {
        enrolled += enrolled_in_moodle(world, site).await;
        let counts = night
            .stats
            .fetched
            .get(&(site.tenant.clone(), site.connection.clone()))
            .copied()
            .unwrap_or_else(|| panic!("results of {} read", site.connection));
        assert_eq!(counts.failures, 0, "{}: {counts:?}", site.connection);
        assert_eq!(
            counts.learners, site.learners,
            "{}: every learner in the grade report",
            site.connection
        );
        // At least everyone graded since the last night; the read rules add
        // those whose course completion Moodle's cron may still mark.
        assert!(
            counts.changed >= expect_changed(site),
            "{}: {} learners read further, fewer than the {} graded",
            site.connection,
            counts.changed,
            expect_changed(site)
        );
        if let Some(expected) = expect_results(site) {
            assert_eq!(
                counts.ready + counts.errors,
                expected,
                "{}: results proposed",
                site.connection
            );
        }
        learners_read += counts.learners;
        changed += counts.changed;
        results += counts.ready + counts.errors;
    }
    println!(
        "  learners enrolled in Moodle and called in the SMS: {enrolled}; in the grade reports: {learners_read}; read further (changed): {changed}; results proposed: {results}"
    );
}

/// A site's learners, each called in the SMS and enrolled in the Moodle
/// course: how many (all of them).
async fn enrolled_in_moodle(world: &World, site: &Site) -> usize {
    let codes: HashSet<String> = world
        .sis
        .enrolments(&site.tenant, &site.offering)
        .await
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e.state, EnrolmentState::InProgress, "{} called", e.learner);
            e.learner.to_string()
        })
        .collect();
    assert_eq!(codes.len(), site.learners);
    let state = site.sim.snapshot();
    let enrol_ids: HashSet<i64> = state
        .enrol_instances
        .iter()
        .filter(|i| i.courseid == COURSE)
        .map(|i| i.id)
        .collect();
    let in_course: HashSet<i64> = state
        .user_enrolments
        .iter()
        .filter(|ue| enrol_ids.contains(&ue.enrolid))
        .map(|ue| ue.userid)
        .collect();
    let site_enrolled = state
        .users
        .iter()
        .filter(|u| codes.contains(&u.idnumber) && in_course.contains(&u.id))
        .count();
    assert_eq!(
        site_enrolled, site.learners,
        "every learner of {} enrolled in Moodle",
        site.connection
    );
    site_enrolled
}
