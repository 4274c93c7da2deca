//! One night: dispatched, then carried through by the functions' instances.

use crate::functions::start_instance;
use crate::lambda::LambdaModel;
use crate::world::{Site, Stats, World};
use app::dispatch::dispatch_nightly;
use chrono::{DateTime, Utc};
use domain::QueueRole;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Night {
    pub wall: Duration,
    pub stats: Stats,
    pub sent: BTreeMap<&'static str, usize>,
    pub delayed: usize,
    pub calls: Vec<usize>,
    pub by_function: BTreeMap<String, usize>,
    pub max_in_flight: Vec<usize>,
}

pub async fn run_night(
    world: &Arc<World>,
    sites: &[Site],
    scheduled_at: DateTime<Utc>,
    push: LambdaModel,
    fetch: LambdaModel,
) -> Night {
    for site in sites {
        site.sim.clear_calls();
        site.sim.reset_max_in_flight();
    }
    *world.stats.lock().unwrap() = Stats::default();
    world.queue.take_counts();
    let started = Instant::now();
    let report = dispatch_nightly(
        &world.connections,
        &world.runs,
        &world.queue,
        &world.tenants,
        scheduled_at,
        world.now(),
    )
    .await
    .unwrap();
    assert_eq!(report.queued.len(), sites.len(), "one run per connection");
    let mut instances = Vec::new();
    for _ in 0..push.instances {
        instances.push(start_instance(
            Arc::clone(world),
            QueueRole::EnrolmentPush,
            push,
        ));
    }
    for _ in 0..fetch.instances {
        instances.push(start_instance(
            Arc::clone(world),
            QueueRole::ResultsFetch,
            fetch,
        ));
    }
    tokio::task::spawn_blocking(move || {
        for i in instances {
            i.join().unwrap();
        }
    })
    .await
    .unwrap();
    let wall = started.elapsed();
    let stats = std::mem::take(&mut *world.stats.lock().unwrap());
    let (sent, delayed) = world.queue.take_counts();
    let mut by_function = BTreeMap::new();
    let mut calls = Vec::new();
    let mut max_in_flight = Vec::new();
    for site in sites {
        let site_calls = site.sim.calls();
        calls.push(site_calls.len());
        for call in site_calls {
            *by_function.entry(call.function).or_insert(0) += 1;
        }
        max_in_flight.push(site.sim.max_in_flight());
    }
    Night {
        wall,
        stats,
        sent,
        delayed,
        calls,
        by_function,
        max_in_flight,
    }
}
