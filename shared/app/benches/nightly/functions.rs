//! The two functions of a night, enrolment-push and results-fetch: warm
//! instances polling their queues, each job through its handler.

use crate::lambda::LambdaModel;
use crate::world::{Token, World};
use app::jobs::{Begin, Pipeline, expect_queue};
use app::push::Push;
use app::results::Results;
use connectors::moodle_gateway::MoodleGateways;
use domain::ports::*;
use domain::{Job, QueueRole};
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Jobs of one SQS batch handled at once (`CONCURRENCY` in
/// functions/enrolment-push/src/handler.rs and functions/results-fetch/src/handler.rs).
pub const JOBS_PER_BATCH_AT_ONCE: usize = 4;

/// One warm instance of a function: its own gateways (and their HTTP pools and
/// per-site concurrency limits), kept across invocations as Lambda keeps them.
pub struct Instance {
    pub gateways: MoodleGateways,
}

impl Instance {
    pub fn new() -> Self {
        Self {
            gateways: MoodleGateways::new(Arc::new(Token), "bench")
                .with_egress(connectors::egress::Egress::AllowInternal),
        }
    }
}

/// enrolment-push's handler for one job (functions/enrolment-push/src/handler.rs).
pub async fn push_job(world: &World, instance: &Instance, job: Job) -> Result<(), String> {
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
pub async fn fetch_job(world: &World, instance: &Instance, job: Job) -> Result<(), String> {
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
pub fn start_instance(
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
pub async fn handle(world: &World, instance: &Instance, role: QueueRole, job: Job) {
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
