#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Results download for a 500-learner course against the Moodle simulator:
//! Moodle calls per function on the first run, on a re-run after 5 learners
//! were graded again, and on a third run after 5 other learners only opened
//! the course (an activity completed without a grade). Runs over the
//! product's stores (DynamoDB, SQS and Secrets Manager on moto, through the
//! real AWS SDK) and, as a second line, over the in-memory stores; prints for
//! each run learnbridge's own time, Moodle's busy time and their ratio.
//!
//! `scripts/bench results` (starts moto).

mod support;

use app::results::{FetchCounts, Results};
use app::testing::*;
use async_trait::async_trait;
use chrono::{NaiveDate, TimeDelta, Utc};
use connectors::moodle_gateway::MoodleGateways;
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::learning::{CourseEnrolment, NewLmsUser, NewUserPassword};
use domain::ports::*;
use domain::sis::*;
use domain::{AssessableId, Connection, ConnectionId, LearnerCode, OfferingId, RunId, TenantId};
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN, Switches};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use support::Timing;

const LEARNERS: usize = 500;
const CHANGED: usize = 5;
const LATENCY_MS: u64 = 20;

struct Token;

#[async_trait]
impl SecretSource for Token {
    async fn secret(&self, _: &str) -> Result<secrecy::SecretString, SecretError> {
        Ok(secrecy::SecretString::from(SAMPLE_TOKEN))
    }
}

/// The stores a download runs over.
struct Ports<'a> {
    connections: &'a dyn ConnectionStore,
    runs: &'a dyn RunStore,
    queue: &'a dyn JobQueue,
    sis: &'a dyn SisStore,
    links: &'a dyn LinkStore,
    results: &'a dyn ResultStore,
    deliveries: &'a dyn DeliveryStore,
    tenants: &'a dyn TenantSettingsStore,
    secrets: Arc<dyn SecretSource>,
    secret_prefix: String,
}

/// One download: what it read, its Moodle calls per function, its timing.
struct Stage {
    name: String,
    counts: FetchCounts,
    calls: BTreeMap<String, usize>,
    timing: Timing,
}

impl Stage {
    fn total(&self) -> usize {
        self.calls.values().sum()
    }

    fn print(&self, stores: &str, calls: bool) {
        println!(
            "{}: {} learners, {} read further, {} results, {} Moodle calls at {LATENCY_MS} ms per call",
            self.name,
            self.counts.learners,
            self.counts.changed,
            self.counts.ready + self.counts.errors,
            self.total(),
        );
        println!("  {}", self.timing.line(stores));
        if calls {
            for (f, n) in &self.calls {
                println!("    {f:<52} {n:>5}");
            }
        }
    }
}

/// Runs `fetch` once, timed against the simulator's busy intervals.
async fn stage<F: std::future::Future<Output = FetchCounts>>(
    name: String,
    sim: &MoodleSim,
    fetch: F,
) -> Stage {
    sim.clear_calls();
    sim.clear_busy();
    let started = Instant::now();
    let counts = fetch.await;
    let ended = Instant::now();
    let mut calls = BTreeMap::new();
    for call in sim.calls() {
        *calls.entry(call.function).or_insert(0) += 1;
    }
    Stage {
        name,
        counts,
        calls,
        timing: Timing::new(started, ended, &sim.busy_intervals()),
    }
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("results benchmark: run it with `scripts/bench results`");
        return;
    }
    support::require_moto();
    let sdk = cloud::testing::sdk().await;
    let config = cloud::testing::fresh_stack().await;
    let stores = cloud::Stores::new(&config, &sdk);
    stores
        .secrets
        .put(
            &format!("{}/acme/moodle", config.secret_prefix),
            &secrecy::SecretString::from(SAMPLE_TOKEN),
        )
        .await
        .unwrap();
    let moto = Ports {
        connections: &stores.connections,
        runs: &stores.runs,
        queue: &stores.queue,
        sis: &stores.sis,
        links: &stores.links,
        results: &stores.results,
        deliveries: &stores.deliveries,
        tenants: &stores.tenants,
        secrets: Arc::new(cloud::Secrets::new(aws_sdk_secretsmanager::Client::new(
            &sdk,
        ))),
        secret_prefix: config.secret_prefix.clone(),
    };
    let on_moto = scenario(&moto).await;

    let (connections, runs, queue, sis, links, results, deliveries, tenants) = (
        MemConnections::default(),
        MemRuns::default(),
        MemQueue::default(),
        MemSis::default(),
        MemLinks::default(),
        MemResults::default(),
        MemDeliveries::default(),
        MemTenants::default(),
    );
    let memory = Ports {
        connections: &connections,
        runs: &runs,
        queue: &queue,
        sis: &sis,
        links: &links,
        results: &results,
        deliveries: &deliveries,
        tenants: &tenants,
        secrets: Arc::new(Token),
        secret_prefix: "bench".into(),
    };
    let in_memory = scenario(&memory).await;

    println!(
        "results download of a {LEARNERS}-learner course, {LATENCY_MS} ms per Moodle call, concurrency 4"
    );
    for (m, i) in on_moto.iter().zip(&in_memory) {
        m.print("moto", true);
        println!("  {}", i.timing.line("in memory"));
        assert_eq!(m.calls, i.calls, "the same calls whatever the stores");
    }
    let first = on_moto[0].total();
    for later in &on_moto[1..] {
        println!(
            "{} / first run: {} / {first} Moodle calls ({:.1}%)",
            later.name,
            later.total(),
            100.0 * later.total() as f64 / first as f64
        );
    }
    assert_eq!(on_moto[0].counts.learners, LEARNERS);
    assert_eq!(on_moto[1].counts.changed, CHANGED);
    assert_eq!(on_moto[2].counts.changed, 2 * CHANGED);
}

/// The bench's tenant, connection, offering and unit.
struct Keys {
    t: TenantId,
    c: ConnectionId,
    o: OfferingId,
    u1: AssessableId,
}

/// The three downloads over `ports`, each against a fresh simulator.
async fn scenario(ports: &Ports<'_>) -> Vec<Stage> {
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let keys = Keys {
        t: TenantId::parse("acme").unwrap(),
        c: ConnectionId::parse("moodle").unwrap(),
        o: OfferingId::parse("OCC-1001").unwrap(),
        u1: AssessableId::parse("U1").unwrap(),
    };
    let Keys { t, c, .. } = &keys;
    let now = Utc::now();
    let connection = seed_course(ports, &keys, &server.base_url, now).await;
    let (sis, links, results) = (ports.sis, ports.links, ports.results);

    // 500 Moodle users, enrolled in course 2, through the gateway (setup calls are not counted).
    let gateways = MoodleGateways::new(ports.secrets.clone(), ports.secret_prefix.clone())
        .with_egress(connectors::egress::Egress::AllowInternal);
    let gateway = gateways.gateway(&connection).await.unwrap();
    let ids = seed_learners(ports, &sim, gateway.as_ref(), &keys, now).await;
    save_mapping(ports, &keys, now).await;
    sim.set_switches(Switches {
        latency: Duration::from_millis(LATENCY_MS),
        ..Switches::default()
    });

    let uc = Results {
        connections: ports.connections,
        sis,
        links,
        results,
        deliveries: ports.deliveries,
        queue: ports.queue,
        runs: ports.runs,
        tenants: ports.tenants,
    };
    let stop = AtomicBool::new(false);
    // The run exists before its job, as the nightly dispatch makes it.
    let run = RunId::new_v7();
    ports
        .runs
        .start_run(&domain::Run::start(
            t.clone(),
            c.clone(),
            run.clone(),
            domain::Trigger::Nightly,
            now,
        ))
        .await
        .unwrap();
    let fetch = |at| {
        let (uc, connection, gateway, run, stop) = (&uc, &connection, &gateway, &run, &stop);
        async move {
            uc.fetch(connection, gateway.as_ref(), None, run, stop, at)
                .await
                .unwrap()
        }
    };
    let mut stages = vec![stage("first run".into(), &sim, fetch(now)).await];

    // A day later, 5 learners were graded on the assignment.
    let later = now + TimeDelta::days(1);
    for id in ids.iter().take(CHANGED) {
        sim.set_grade(*id, 2, Some(75.0), later.timestamp() - 60);
    }
    stages.push(
        stage(
            format!("re-run with {CHANGED} changed learners"),
            &sim,
            fetch(later),
        )
        .await,
    );

    // Another day later, 5 other learners opened the course and completed an
    // activity without a grade: no grade changed, their course access did.
    let third_at = later + TimeDelta::days(1);
    for id in ids.iter().skip(100).take(CHANGED) {
        sim.access_course(*id, 2, third_at.timestamp() - 60);
    }
    stages.push(
        stage(
            format!(
                "third run: {CHANGED} learners accessed the course (and yesterday's {CHANGED} within the completion lag)"
            ),
            &sim,
            fetch(third_at),
        )
        .await,
    );
    drop(server);
    stages
}

/// The connection, the offering with its unit, and its link to course 2.
async fn seed_course(
    ports: &Ports<'_>,
    keys: &Keys,
    base_url: &str,
    now: chrono::DateTime<Utc>,
) -> Connection {
    let Keys { t, c, o, u1 } = keys;
    let connection = Connection {
        tenant: t.clone(),
        id: c.clone(),
        name: "bench".into(),
        base_url: base_url.to_owned(),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Moodle(MoodleSettings {
            use_enrolment_start_date: true,
            course_completions: true,
            ..MoodleSettings::default()
        }),
    };
    ports
        .connections
        .save_connection(&connection)
        .await
        .unwrap();
    ports
        .sis
        .save_offering(&Offering {
            tenant: t.clone(),
            id: o.clone(),
            name: "Bench".into(),
            start_date: None,
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![Assessable {
                id: u1.clone(),
                name: "Unit".into(),
                kind: AssessableKind::Unit,
                expected_start_date: None,
            }],
            updated_at: now,
        })
        .await
        .unwrap();
    ports
        .links
        .save_link(&CourseLink {
            tenant: t.clone(),
            offering: o.clone(),
            connection: c.clone(),
            course_id: 2,
            course_idnumber: Some("OCC-1001".into()),
            course_shortname: None,
            linked_at: now,
        })
        .await
        .unwrap();
    connection
}

/// [`LEARNERS`] Moodle users created and enrolled in course 2 through the
/// gateway, each an SMS enrolment with a stored account, graded on the quiz
/// two days ago. Their Moodle ids, in learner order.
async fn seed_learners(
    ports: &Ports<'_>,
    sim: &MoodleSim,
    gateway: &dyn LearningSystem,
    keys: &Keys,
    now: chrono::DateTime<Utc>,
) -> Vec<i64> {
    let Keys { t, c, o, .. } = keys;
    let new_users: Vec<NewLmsUser> = (0..LEARNERS)
        .map(|i| NewLmsUser {
            username: format!("bench{i}"),
            idnumber: format!("B{i:05}"),
            firstname: "Bench".into(),
            middlename: None,
            lastname: format!("Learner{i}"),
            email: format!("bench{i}@example.com"),
            password: NewUserPassword::MoodleCreates,
        })
        .collect();
    let ids: Vec<i64> = gateway
        .create_users(&new_users)
        .await
        .into_iter()
        .map(|r| r.ok().unwrap())
        .collect();
    let enrolments: Vec<CourseEnrolment> = ids
        .iter()
        .map(|id| CourseEnrolment {
            course: 2,
            user: *id,
            role: 5,
            start: None,
        })
        .collect();
    assert!(gateway.enrol(&enrolments).await.iter().all(Result::is_ok));
    let graded_at = (now - TimeDelta::days(2)).timestamp();
    for (i, id) in ids.iter().enumerate() {
        let code = LearnerCode::parse(format!("B{i:05}")).unwrap();
        ports
            .sis
            .save_enrolment(&Enrolment {
                tenant: t.clone(),
                learner: code.clone(),
                offering: o.clone(),
                state: EnrolmentState::InProgress,
                start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
                session_date: None,
                updated_at: now,
            })
            .await
            .unwrap();
        ports
            .links
            .save_account(&ExternalAccount {
                tenant: t.clone(),
                connection: c.clone(),
                learner: code,
                external_id: *id,
                created_by_us: true,
                linked_at: now,
            })
            .await
            .unwrap();
        sim.set_grade(*id, 1, Some(if i % 3 == 0 { 4.0 } else { 8.0 }), graded_at);
    }
    ids
}

/// The unit mapped to the quiz and the assignment.
async fn save_mapping(ports: &Ports<'_>, keys: &Keys, now: chrono::DateTime<Utc>) {
    let Keys { t, c, o, u1 } = keys;
    ports
        .results
        .save_mapping(&domain::results::Mapping {
            tenant: t.clone(),
            offering: o.clone(),
            connection: c.clone(),
            assessable: u1.clone(),
            activities: vec![
                domain::results::MappedActivity {
                    cmid: 1,
                    modname: "quiz".into(),
                },
                domain::results::MappedActivity {
                    cmid: 2,
                    modname: "assign".into(),
                },
            ],
            updated_at: now,
        })
        .await
        .unwrap();
}
