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

use app::dispatch::dispatch_nightly;
use app::jobs::{Begin, Pipeline, expect_queue};
use app::push::Push;
use app::results::{FetchCounts, Results};
use app::testing::*;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use connectors::moodle_gateway::MoodleGateways;
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::ports::*;
use domain::sis::*;
use domain::{
    AssessableId, Connection, ConnectionId, Job, LearnerCode, OfferingId, QueueRole, RunStatus,
    TenantId,
};
use futures::StreamExt;
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN, Switches};
use simulators::server::RunningServer;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The sample site's course that every offering is linked to, and its two
/// graded activities (a quiz and an assignment).
const COURSE: i64 = 2;
const QUIZ: i64 = 1;
const ASSIGN: i64 = 2;
/// New enrolments per site on the second night, and regraded learners on the third.
const CHANGES: usize = 5;
/// Jobs of one SQS batch handled at once (`CONCURRENCY` in
/// functions/enrolment-push/src/handler.rs and functions/results-fetch/src/handler.rs).
const JOBS_PER_BATCH_AT_ONCE: usize = 4;
/// The nightly window the runs must fit in (02:00-06:00).
const WINDOW: Duration = Duration::from_secs(4 * 3600);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// How a function is bounded in `infra/template.yaml`: its SQS event source
/// mapping's `ScalingConfig.MaximumConcurrency` and `BatchSize`, and its `Timeout`.
#[derive(Debug, Clone, Copy)]
struct LambdaModel {
    instances: usize,
    batch_size: usize,
    timeout: Duration,
}

const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

/// Reads a function's bounds from the template (so the model follows it).
fn lambda_model(resource: &str) -> LambdaModel {
    let header = format!("  {resource}:");
    let start = TEMPLATE
        .lines()
        .position(|l| l == header)
        .unwrap_or_else(|| panic!("{resource} is not in infra/template.yaml"));
    let section: Vec<&str> = TEMPLATE
        .lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with("  ") || l.starts_with("   "))
        .collect();
    let value = |key: &str| -> usize {
        section
            .iter()
            .filter_map(|l| l.trim().strip_prefix(key))
            .filter_map(|v| v.split_whitespace().next()?.parse().ok())
            .next()
            .unwrap_or_else(|| panic!("{resource} has no {key} in infra/template.yaml"))
    };
    LambdaModel {
        instances: value("MaximumConcurrency:"),
        batch_size: value("BatchSize:"),
        timeout: Duration::from_secs(value("Timeout:") as u64),
    }
}

struct Token;

#[async_trait]
impl SecretSource for Token {
    async fn secret(&self, _: &str) -> Result<secrecy::SecretString, SecretError> {
        Ok(secrecy::SecretString::from(SAMPLE_TOKEN))
    }
}

/// SQS as the functions see it: one queue per role, batches handed to
/// pollers, and the work outstanding (queued, delayed or being handled) known,
/// so the night ends when every queue is empty and every handler idle.
#[derive(Clone, Default)]
struct BenchQueue(Arc<QueueShared>);

#[derive(Default)]
struct QueueShared {
    state: Mutex<QueueState>,
    changed: Notify,
}

impl std::ops::Deref for BenchQueue {
    type Target = QueueShared;
    fn deref(&self) -> &QueueShared {
        &self.0
    }
}

#[derive(Default)]
struct QueueState {
    queues: HashMap<QueueRole, VecDeque<Job>>,
    /// Jobs queued, delayed or in a handler.
    outstanding: usize,
    sent: BTreeMap<&'static str, usize>,
    delayed: usize,
}

enum Taken {
    Batch(Vec<Job>),
    Empty,
    AllDone,
}

impl QueueShared {
    fn push(&self, job: Job) {
        let mut st = self.state.lock().unwrap();
        *st.sent.entry(job.name()).or_default() += 1;
        st.queues.entry(job.queue()).or_default().push_back(job);
        st.outstanding += 1;
        drop(st);
        self.changed.notify_waiters();
    }

    fn take(&self, role: QueueRole, max: usize) -> Taken {
        let mut st = self.state.lock().unwrap();
        let q = st.queues.entry(role).or_default();
        if q.is_empty() {
            return if st.outstanding == 0 {
                Taken::AllDone
            } else {
                Taken::Empty
            };
        }
        let n = max.min(q.len());
        Taken::Batch(q.drain(..n).collect())
    }

    /// Waits for a batch (a long poll), or for the night to be over.
    async fn receive(&self, role: QueueRole, max: usize) -> Option<Vec<Job>> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.take(role, max) {
                Taken::Batch(jobs) => return Some(jobs),
                Taken::AllDone => return None,
                Taken::Empty => notified.await,
            }
        }
    }

    /// A handled job leaves (a failed one was put back first).
    fn done(&self) {
        self.state.lock().unwrap().outstanding -= 1;
        self.changed.notify_waiters();
    }

    fn take_counts(&self) -> (BTreeMap<&'static str, usize>, usize) {
        let mut st = self.state.lock().unwrap();
        (
            std::mem::take(&mut st.sent),
            std::mem::take(&mut st.delayed),
        )
    }
}

#[async_trait]
impl JobQueue for BenchQueue {
    async fn enqueue(&self, jobs: &[Job]) -> Result<Vec<EnqueueFailure>, QueueError> {
        for job in jobs {
            self.push(job.clone());
        }
        Ok(Vec::new())
    }

    async fn enqueue_delayed(&self, job: &Job, delay_seconds: u32) -> Result<(), QueueError> {
        {
            let mut st = self.state.lock().unwrap();
            st.outstanding += 1;
            st.delayed += 1;
        }
        let (queue, job) = (self.clone(), job.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(
                delay_seconds.min(MAX_DELAY_SECONDS).into(),
            ))
            .await;
            queue.push(job);
            queue.done();
        });
        Ok(())
    }
}

/// What the DynamoDB tables, SQS and SES hold: shared by every function instance.
struct World {
    connections: MemConnections,
    runs: MemRuns,
    queue: BenchQueue,
    sis: MemSis,
    links: MemLinks,
    mailer: MemMailer,
    tenants: MemTenants,
    /// Results per connection: `MemResults` keeps one watermark and one retry
    /// set, where the `data` table keeps them per connection.
    results: Mutex<HashMap<(TenantId, ConnectionId), Arc<MemResults>>>,
    deliveries: MemDeliveries,
    /// The simulated clock the handlers read instead of `Utc::now()`: the
    /// night's start, moving on with real time from when the night began.
    clock: Mutex<(DateTime<Utc>, Instant)>,
    stats: Mutex<Stats>,
}

#[derive(Default)]
struct Stats {
    export_jobs: Vec<Duration>,
    fetch_jobs: Vec<Duration>,
    fetched: HashMap<(TenantId, ConnectionId), FetchCounts>,
    failed: Vec<String>,
}

impl World {
    fn now(&self) -> DateTime<Utc> {
        let (at, since) = *self.clock.lock().unwrap();
        at + TimeDelta::from_std(since.elapsed()).unwrap_or_default()
    }

    fn results_of(&self, tenant: &TenantId, connection: &ConnectionId) -> Arc<MemResults> {
        Arc::clone(
            self.results
                .lock()
                .unwrap()
                .entry((tenant.clone(), connection.clone()))
                .or_default(),
        )
    }

    fn set_now(&self, at: DateTime<Utc>) {
        *self.clock.lock().unwrap() = (at, Instant::now());
    }
}

/// One Moodle site: a simulator on its own port.
struct Site {
    tenant: TenantId,
    connection: ConnectionId,
    offering: OfferingId,
    sim: MoodleSim,
    _server: RunningServer,
    learners: usize,
}

fn learner_code(site: usize, i: usize) -> LearnerCode {
    LearnerCode::parse(format!("L{site:04}{i:05}")).unwrap()
}

async fn add_learner(world: &World, site: &Site, index: usize, i: usize, now: DateTime<Utc>) {
    let code = learner_code(index, i);
    world
        .sis
        .save_learner(&Learner {
            tenant: site.tenant.clone(),
            code: code.clone(),
            username: None,
            given_name: "Night".into(),
            middle_name: None,
            family_name: format!("Learner{index}x{i}"),
            email: Some(format!("l{index}x{i}@example.com")),
            date_of_birth: None,
            archived: false,
            email_opt_out: false,
            updated_at: now,
        })
        .await
        .unwrap();
    world
        .sis
        .save_enrolment(&Enrolment {
            tenant: site.tenant.clone(),
            learner: code,
            offering: site.offering.clone(),
            state: EnrolmentState::NotCalled,
            start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
            session_date: None,
            updated_at: now,
        })
        .await
        .unwrap();
}

async fn build_site(
    world: &World,
    index: usize,
    tenants: usize,
    learners: usize,
    now: DateTime<Utc>,
) -> Site {
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let tenant = TenantId::parse(format!("tenant-{:02}", index % tenants)).unwrap();
    let connection = ConnectionId::parse(format!("moodle-{index:04}")).unwrap();
    let offering = OfferingId::parse(format!("OCC-{index:04}")).unwrap();
    let unit = AssessableId::parse("U1").unwrap();
    world
        .connections
        .save_connection(&Connection {
            tenant: tenant.clone(),
            id: connection.clone(),
            name: format!("Moodle site {index}"),
            base_url: server.base_url.clone(),
            enabled: true,
            error_email: None,
            settings: ConnectionSettings::Moodle(MoodleSettings {
                use_enrolment_start_date: true,
                ..MoodleSettings::default()
            }),
        })
        .await
        .unwrap();
    world
        .sis
        .save_offering(&Offering {
            tenant: tenant.clone(),
            id: offering.clone(),
            name: format!("Course {index}"),
            start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![Assessable {
                id: unit.clone(),
                name: "Unit".into(),
                kind: AssessableKind::Unit,
                expected_start_date: None,
            }],
            updated_at: now,
        })
        .await
        .unwrap();
    world
        .links
        .save_link(&CourseLink {
            tenant: tenant.clone(),
            offering: offering.clone(),
            connection: connection.clone(),
            course_id: COURSE,
            course_idnumber: Some("OCC-1001".into()),
            course_shortname: None,
            linked_at: now,
        })
        .await
        .unwrap();
    world
        .results_of(&tenant, &connection)
        .save_mapping(&domain::results::Mapping {
            tenant: tenant.clone(),
            offering: offering.clone(),
            connection: connection.clone(),
            assessable: unit,
            activities: vec![
                domain::results::MappedActivity {
                    cmid: QUIZ,
                    modname: "quiz".into(),
                },
                domain::results::MappedActivity {
                    cmid: ASSIGN,
                    modname: "assign".into(),
                },
            ],
            updated_at: now,
        })
        .await
        .unwrap();
    let site = Site {
        tenant,
        connection,
        offering,
        sim,
        _server: server,
        learners,
    };
    for i in 0..learners {
        add_learner(world, &site, index, i, now).await;
    }
    site
}

/// One warm instance of a function: its own gateways (and their HTTP pools and
/// per-site concurrency limits), kept across invocations as Lambda keeps them.
struct Instance {
    gateways: MoodleGateways,
}

impl Instance {
    fn new() -> Self {
        Self {
            gateways: MoodleGateways::new(Arc::new(Token), "bench")
                .with_egress(connectors::egress::Egress::AllowInternal),
        }
    }
}

/// enrolment-push's handler for one job (functions/enrolment-push/src/handler.rs).
async fn push_job(world: &World, instance: &Instance, job: Job) -> Result<(), String> {
    expect_queue(&job, QueueRole::EnrolmentPush).map_err(|e| e.to_string())?;
    let now = world.now();
    let push = Push {
        connections: &world.connections,
        runs: &world.runs,
        queue: &world.queue,
        sis: &world.sis,
        links: &world.links,
        learning: &instance.gateways,
        mailer: &world.mailer,
        tenants: &world.tenants,
        clock: chrono::Utc::now,
    };
    let Job::SyncConnection {
        tenant,
        connection,
        run,
        trigger,
        offering,
    } = job
    else {
        panic!("the nightly fan-out queues only sync_connection jobs for enrolment-push");
    };
    push.export(&tenant, &connection, &run, trigger, offering.as_ref(), now)
        .await
        .map_err(|e| app::push::error_text(&e))
}

/// results-fetch's handler for one job (functions/results-fetch/src/handler.rs
/// and results.rs): the download, then the import that finishes the run.
async fn fetch_job(world: &World, instance: &Instance, job: Job) -> Result<(), String> {
    expect_queue(&job, QueueRole::ResultsFetch).map_err(|e| e.to_string())?;
    let Job::FetchResults {
        tenant,
        connection,
        run,
        offering,
    } = job.clone()
    else {
        panic!("the nightly fan-out queues only fetch_results jobs for results-fetch");
    };
    let pipeline = Pipeline {
        connections: &world.connections,
        runs: &world.runs,
        queue: &world.queue,
        mailer: &world.mailer,
        tenants: &world.tenants,
    };
    // Renews the connection's lease (or finds the run finished, or another
    // run at work: then the job comes back later).
    if pipeline
        .begin(&job, &tenant, &connection, &run, None, world.now())
        .await
        .map_err(|e| app::push::error_text(&e))?
        != Begin::Go
    {
        return Ok(());
    }
    let result_store = world.results_of(&tenant, &connection);
    let results = Results {
        connections: &world.connections,
        sis: &world.sis,
        links: &world.links,
        results: result_store.as_ref(),
        deliveries: &world.deliveries,
        queue: &world.queue,
        runs: &world.runs,
        tenants: &world.tenants,
    };
    let stop = AtomicBool::new(
        world
            .runs
            .stop_requested(&tenant, &connection, &run)
            .await
            .map_err(|e| e.to_string())?,
    );
    let counts = results
        .fetch_for_run(
            &instance.gateways,
            &tenant,
            &connection,
            &run,
            offering.as_ref(),
            &stop,
            world.now(),
        )
        .await
        .map_err(|e| app::push::error_text(&e))?;
    if let Some(counts) = counts {
        world
            .stats
            .lock()
            .unwrap()
            .fetched
            .insert((tenant.clone(), connection.clone()), counts);
    }
    pipeline
        .import(&tenant, &connection, &run, world.now())
        .await
        .map(|_| ())
        .map_err(|e| app::push::error_text(&e))
}

/// One function instance polling its queue until the night's work is done:
/// each batch handled a few jobs at a time, like `cloud::sqs::process_batch`.
/// An instance is its own thread with its own runtime, as a Lambda instance
/// is its own process; it starts cold each night.
fn start_instance(
    world: Arc<World>,
    role: QueueRole,
    model: LambdaModel,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let instance = Instance::new();
            while let Some(batch) = world.queue.receive(role, model.batch_size).await {
                futures::stream::iter(batch)
                    .for_each_concurrent(JOBS_PER_BATCH_AT_ONCE, |job| {
                        handle(&world, &instance, role, job)
                    })
                    .await;
            }
        });
    })
}

/// One job through its function's handler, timed.
async fn handle(world: &World, instance: &Instance, role: QueueRole, job: Job) {
    let started = Instant::now();
    let outcome = match role {
        QueueRole::EnrolmentPush => push_job(world, instance, job).await,
        _ => fetch_job(world, instance, job).await,
    };
    let took = started.elapsed();
    {
        let mut stats = world.stats.lock().unwrap();
        match role {
            QueueRole::EnrolmentPush => stats.export_jobs.push(took),
            _ => stats.fetch_jobs.push(took),
        }
        // Nothing fails here (no faults are injected): a failure is reported,
        // not handed back to SQS to try again.
        if let Err(e) = outcome {
            stats.failed.push(e);
        }
    }
    world.queue.done();
}

struct Night {
    wall: Duration,
    stats: Stats,
    sent: BTreeMap<&'static str, usize>,
    delayed: usize,
    calls: Vec<usize>,
    by_function: BTreeMap<String, usize>,
    max_in_flight: Vec<usize>,
}

async fn run_night(
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

/// Each connection's Moodle users of the SMS's learners, in learner order.
fn moodle_users(world: &World) -> HashMap<ConnectionId, Vec<i64>> {
    let mut users: HashMap<ConnectionId, Vec<i64>> = HashMap::new();
    for account in world.links.accounts.lock().unwrap().values() {
        users
            .entry(account.connection.clone())
            .or_default()
            .push(account.external_id);
    }
    users
}

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
async fn report(
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

    // Runs by status: every one finished.
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

    // Moodle calls, per site and per function; concurrency seen by each site.
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

    // Every learner enrolled in Moodle and called in the SMS; every result read.
    let mut enrolled = 0;
    let mut learners_read = 0;
    let mut changed = 0;
    let mut results = 0;
    for site in sites {
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
        enrolled += site_enrolled;
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
    let share = night.wall.as_secs_f64() / WINDOW.as_secs_f64();
    println!(
        "  nightly window (02:00-06:00): {:.2}% used; at this Lambda concurrency about {:.0} such connections fit",
        100.0 * share,
        sites.len() as f64 / share
    );
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
    let world = Arc::new(World {
        connections: MemConnections::default(),
        runs: MemRuns::default(),
        queue: BenchQueue::default(),
        sis: MemSis::default(),
        links: MemLinks::default(),
        mailer: MemMailer::default(),
        tenants: MemTenants::default(),
        results: Mutex::new(HashMap::new()),
        deliveries: MemDeliveries::default(),
        clock: Mutex::new((night_one, Instant::now())),
        stats: Mutex::new(Stats::default()),
    });
    let setup = Instant::now();
    let mut sites = Vec::with_capacity(connections);
    for index in 0..connections {
        sites.push(
            build_site(
                &world,
                index,
                tenants,
                learners,
                night_one - TimeDelta::days(1),
            )
            .await,
        );
    }
    for site in &sites {
        site.sim.set_switches(Switches {
            latency,
            ..Switches::default()
        });
    }
    println!(
        "  setup (sites, SMS records; not measured): {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let schedule = |n: i64| {
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
    let day = night_one + TimeDelta::hours(12);
    let night_two = night_one + TimeDelta::days(1);
    let users = moodle_users(&world);
    for (index, site) in sites.iter_mut().enumerate() {
        for user in &users[&site.connection] {
            let grade = if user % 3 == 0 { 4.0 } else { 8.0 };
            site.sim
                .set_grade(*user, QUIZ, Some(grade), day.timestamp());
        }
        for i in site.learners..site.learners + CHANGES {
            add_learner(&world, site, index, i, day).await;
        }
    }
    let graded: HashMap<ConnectionId, usize> = sites
        .iter()
        .map(|s| (s.connection.clone(), s.learners))
        .collect();
    for site in &mut sites {
        site.learners += CHANGES;
    }
    world.set_now(night_two);
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
        let users = moodle_users(&world);
        let day = night_one + TimeDelta::days(n - 2) + TimeDelta::hours(12);
        for site in &sites {
            let skip = CHANGES * usize::try_from(n - 3).unwrap();
            for user in users[&site.connection].iter().skip(skip).take(CHANGES) {
                site.sim
                    .set_grade(*user, ASSIGN, Some(75.0), day.timestamp());
            }
        }
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
