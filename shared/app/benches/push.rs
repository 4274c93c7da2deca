#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Pushing 1,000 new enrolments into one course against the Moodle simulator
//! with 50 ms latency per call, over the product's stores (DynamoDB, SQS, SES
//! and Secrets Manager on moto, through the real AWS SDK) and, as a second
//! line, over the in-memory stores: Moodle calls per function, wall time,
//! learnbridge's own time, Moodle's busy time and their ratio, the first
//! call's latency, the tail after Moodle's last answer and a read of the run.
//!
//! `scripts/bench push` (starts moto; `PUSH_BENCH_RECORDS`, default 1,000;
//! `PUSH_BENCH_BASELINE=200` adds a one-call-per-record baseline over memory).
//! `PUSH_BENCH_MOODLE_URL` and `PUSH_BENCH_MOODLE_TOKEN` push over moto into
//! that Moodle site's course `PUSH_BENCH_COURSE` (default 2) instead, with new
//! learners named after the time (a real site's busy time is not measured:
//! wall time, counts and the run's status are printed).

mod support;

use app::push::{Push, PushReport};
use app::testing::*;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use connectors::moodle_gateway::MoodleGateways;
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::ports::*;
use domain::sis::*;
use domain::{Connection, ConnectionId, LearnerCode, OfferingId, Run, RunId, TenantId, Trigger};
use futures::StreamExt;
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN, Switches};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Timing, steps};

struct Token;

#[async_trait]
impl SecretSource for Token {
    async fn secret(&self, _: &str) -> Result<secrecy::SecretString, SecretError> {
        Ok(secrecy::SecretString::from(SAMPLE_TOKEN))
    }
}

/// The ports a push runs over.
struct Ports<'a> {
    connections: &'a dyn ConnectionStore,
    runs: &'a dyn RunStore,
    queue: &'a dyn JobQueue,
    sis: &'a dyn SisStore,
    links: &'a dyn LinkStore,
    mailer: &'a dyn Mailer,
    tenants: &'a dyn TenantSettingsStore,
    secrets: Arc<dyn SecretSource>,
    secret_prefix: String,
}

struct Outcome {
    calls: BTreeMap<String, usize>,
    total: usize,
    timing: Timing,
    enrolled: usize,
    log_lines: usize,
    get_run: Duration,
    /// CPU time of this process (learnbridge, the simulator, the SDK) and
    /// of moto (`MOTO_PID`, set by `scripts/bench`) during the job.
    cpu: Option<Duration>,
    moto_cpu: Option<Duration>,
}

/// A real Moodle site to push to instead of the simulator.
struct RealSite {
    url: String,
    token: String,
    course: i64,
}

impl RealSite {
    fn from_env() -> Option<RealSite> {
        let url = std::env::var("PUSH_BENCH_MOODLE_URL").ok()?;
        let token = std::env::var("PUSH_BENCH_MOODLE_TOKEN").ok()?;
        let course = std::env::var("PUSH_BENCH_COURSE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2);
        Some(RealSite { url, token, course })
    }
}

async fn push(
    ports: &Ports<'_>,
    records: usize,
    batch_size: usize,
    real: Option<&RealSite>,
    steps: Option<&steps::Steps>,
) -> Outcome {
    let sim = MoodleSim::sample_site();
    sim.set_switches(Switches {
        latency: Duration::from_millis(50),
        ..Switches::default()
    });
    let server = sim.start().await.unwrap();
    let t = TenantId::parse("acme").unwrap();
    let c = ConnectionId::parse("moodle").unwrap();
    let o = OfferingId::parse("OCC-1001").unwrap();
    let base_url = real.map_or_else(|| server.base_url.clone(), |r| r.url.clone());
    let now = Utc::now();
    seed(ports, (&t, &c, &o), &base_url, batch_size, now).await;
    // New to a real site too: codes and emails carry the time.
    let prefix = match real {
        Some(_) => format!("R{}", now.timestamp()),
        None => "B".to_owned(),
    };
    seed_learners(ports, &t, &o, &prefix, records, now).await;
    ports
        .links
        .save_link(&CourseLink {
            tenant: t.clone(),
            offering: o.clone(),
            connection: c.clone(),
            course_id: real.map_or(2, |r| r.course),
            course_idnumber: Some("OCC-1001".into()),
            course_shortname: None,
            linked_at: now,
        })
        .await
        .unwrap();
    // The run exists before its job, as the API makes it.
    let run = RunId::new_v7();
    ports
        .runs
        .start_run(&Run::start(
            t.clone(),
            c.clone(),
            run.clone(),
            Trigger::Manual,
            now,
        ))
        .await
        .unwrap();
    let learning = MoodleGateways::new(ports.secrets.clone(), ports.secret_prefix.clone())
        .with_egress(connectors::egress::Egress::AllowInternal);
    let push = Push {
        connections: ports.connections,
        runs: ports.runs,
        queue: ports.queue,
        sis: ports.sis,
        links: ports.links,
        learning: &learning,
        mailer: ports.mailer,
        tenants: ports.tenants,
        clock: chrono::Utc::now,
    };
    sim.clear_calls();
    sim.clear_busy();
    if let Some(steps) = steps {
        steps.take();
    }
    let moto_pid = std::env::var("MOTO_PID").ok();
    let (cpu_before, moto_before) = (
        steps::cpu_time("self"),
        moto_pid.as_deref().and_then(steps::cpu_time),
    );
    let started = Instant::now();
    let report = push
        .push_job(&t, &c, &o, &run, Trigger::Manual, Utc::now())
        .await
        .unwrap();
    let ended = Instant::now();
    let cpu = steps::cpu_time("self").zip(cpu_before).map(|(a, b)| a - b);
    let moto_cpu = moto_pid
        .as_deref()
        .and_then(steps::cpu_time)
        .zip(moto_before)
        .map(|(a, b)| a - b);
    let busy = sim.busy_intervals();
    let timing = Timing::new(started, ended, &busy);
    if let Some(steps) = steps {
        let busy: Vec<(Instant, Instant)> = busy.iter().map(|i| (i.arrived, i.answered)).collect();
        steps::print(&steps.take(), started, ended, &busy);
    }
    let (log_lines, get_run) = read_back(ports, (&t, &c, &run), &report, real.is_some()).await;
    let mut calls = BTreeMap::new();
    for call in sim.calls() {
        *calls.entry(call.function).or_insert(0) += 1;
    }
    Outcome {
        total: calls.values().sum(),
        calls,
        timing,
        enrolled: report.enrolled,
        log_lines,
        get_run,
        cpu,
        moto_cpu,
    }
}

/// The connection (to `base_url`, with `batch_size`) and the offering.
async fn seed(
    ports: &Ports<'_>,
    (t, c, o): (&TenantId, &ConnectionId, &OfferingId),
    base_url: &str,
    batch_size: usize,
    now: DateTime<Utc>,
) {
    let connection = Connection {
        tenant: t.clone(),
        id: c.clone(),
        name: "bench".into(),
        base_url: base_url.to_owned(),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Moodle(MoodleSettings {
            batch_size,
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
            start_date: NaiveDate::from_ymd_opt(2027, 2, 1),
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![],
            updated_at: now,
        })
        .await
        .unwrap();
}

/// `records` new learners, each enrolled in the offering (seeding is not
/// measured: 16 writes at a time).
async fn seed_learners(
    ports: &Ports<'_>,
    t: &TenantId,
    o: &OfferingId,
    prefix: &str,
    records: usize,
    now: DateTime<Utc>,
) {
    futures::stream::iter(0..records)
        .map(|i| {
            let t = t.clone();
            let o = o.clone();
            async move {
                let code = LearnerCode::parse(format!("{prefix}{i:05}")).unwrap();
                ports
                    .sis
                    .save_learner(&Learner {
                        tenant: t.clone(),
                        code: code.clone(),
                        username: None,
                        given_name: "Bench".into(),
                        middle_name: None,
                        family_name: format!("Learner{i}"),
                        email: Some(format!("{}{i}@example.com", prefix.to_lowercase())),
                        date_of_birth: None,
                        archived: false,
                        email_opt_out: false,
                        updated_at: now,
                    })
                    .await
                    .unwrap();
                ports
                    .sis
                    .save_enrolment(&Enrolment {
                        tenant: t,
                        learner: code,
                        offering: o,
                        state: EnrolmentState::NotCalled,
                        start_date: NaiveDate::from_ymd_opt(2027, 2, 1),
                        session_date: None,
                        updated_at: now,
                    })
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

/// What `GET /v1/connections/{c}/runs/{r}` reads, as the api reads it
/// (`functions/api` `get_run`): the connection, then the run and the log's
/// first page (500 lines) side by side, timed; then every line, a page at a
/// time. On a real site the run is printed, on the simulator it must have
/// succeeded. The log's lines, and the time of the GET's reads.
async fn read_back(
    ports: &Ports<'_>,
    (t, c, run): (&TenantId, &ConnectionId, &RunId),
    report: &PushReport,
    real: bool,
) -> (usize, Duration) {
    let read = Instant::now();
    ports.connections.connection(t, c).await.unwrap().unwrap();
    let (stored, page) = futures::join!(
        ports.runs.run(t, c, run),
        ports.runs.log_page(t, c, run, 0, 500)
    );
    let get_run = read.elapsed();
    let (stored, page) = (stored.unwrap().unwrap(), page.unwrap());
    assert_eq!(page.lines.len(), 500.min(stored.log.lines as usize));
    // Every line is still reached, a page at a time.
    let mut log = page.lines;
    let mut next = page.next;
    while let Some(after) = next {
        let page = ports.runs.log_page(t, c, run, after, 500).await.unwrap();
        log.extend(page.lines);
        next = page.next;
    }
    assert_eq!(log.len() as u64, stored.log.lines);
    if real {
        println!(
            "run {}: {}, counts {:?}; {} created, {} linked, {} enrolled, {} emails",
            run,
            stored.status.label(),
            stored.counts,
            report.created,
            report.linked,
            report.enrolled,
            report.emails
        );
        for line in log
            .iter()
            .map(|(_, l)| l)
            .filter(|l| l.level != domain::LogLevel::Info)
            .take(5)
        {
            println!("    {:?}: {}", line.level, line.message);
        }
    } else {
        assert_eq!(stored.status, domain::RunStatus::FinishedSuccessfully);
    }
    (log.len(), get_run)
}

fn print(stores: &str, o: &Outcome, calls: bool) {
    println!("{}", o.timing.line(stores));
    println!(
        "            {} enrolled, {} Moodle calls, {} log lines; reading the run back (GET): {:.0} ms",
        o.enrolled,
        o.total,
        o.log_lines,
        o.get_run.as_secs_f64() * 1000.0
    );
    let ms = |d: Option<Duration>| {
        d.map_or_else(
            || "?".to_owned(),
            |d| format!("{:.0}", d.as_secs_f64() * 1000.0),
        )
    };
    println!(
        "            CPU during the job: this process {} ms, moto {} ms",
        ms(o.cpu),
        ms(o.moto_cpu)
    );
    if calls {
        for (f, n) in &o.calls {
            println!("    {f:<40} {n:>5}");
        }
    }
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("push benchmark: run it with `scripts/bench push`");
        return;
    }
    support::require_moto();
    let steps = std::env::var("PUSH_BENCH_STEPS")
        .is_ok_and(|v| v == "1")
        .then(steps::Steps::install);
    let records: usize = std::env::var("PUSH_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    println!(
        "push of {records} new enrolments into one course, batch size 100, concurrency 4, 50 ms per Moodle call"
    );

    // The product's stores on moto.
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
    let mailer = cloud::SesMailer::new(
        aws_sdk_sesv2::Client::new(&sdk),
        cloud::testing::TEST_MAIL_FROM.to_owned(),
    );
    let moto = Ports {
        connections: &stores.connections,
        runs: &stores.runs,
        queue: &stores.queue,
        sis: &stores.sis,
        links: &stores.links,
        mailer: &mailer,
        tenants: &stores.tenants,
        secrets: Arc::new(cloud::Secrets::new(aws_sdk_secretsmanager::Client::new(
            &sdk,
        ))),
        secret_prefix: config.secret_prefix.clone(),
    };
    if let Some(real) = RealSite::from_env() {
        stores
            .secrets
            .put(
                &format!("{}/acme/moodle", config.secret_prefix),
                &secrecy::SecretString::from(real.token.clone()),
            )
            .await
            .unwrap();
        println!(
            "(into {} course {}, not the simulator)",
            real.url, real.course
        );
        let outcome = push(&moto, records, 100, Some(&real), steps.as_ref()).await;
        println!(
            "[moto     ] wall {:>6.2} s | {} enrolled, {} log lines; reading the run back (GET): {:.0} ms",
            outcome.timing.wall.as_secs_f64(),
            outcome.enrolled,
            outcome.log_lines,
            outcome.get_run.as_secs_f64() * 1000.0
        );
        return;
    }
    let on_moto = push(&moto, records, 100, None, steps.as_ref()).await;
    assert_eq!(on_moto.enrolled, records);

    let (connections, runs, queue, sis, links, mailer, tenants) = (
        MemConnections::default(),
        MemRuns::default(),
        MemQueue::default(),
        MemSis::default(),
        MemLinks::default(),
        MemMailer::default(),
        MemTenants::default(),
    );
    let memory = Ports {
        connections: &connections,
        runs: &runs,
        queue: &queue,
        sis: &sis,
        links: &links,
        mailer: &mailer,
        tenants: &tenants,
        secrets: Arc::new(Token),
        secret_prefix: "bench".into(),
    };
    let in_memory = push(&memory, records, 100, None, None).await;
    assert_eq!(in_memory.enrolled, records);
    print("moto", &on_moto, true);
    print("in memory", &in_memory, false);
    // 30 batched calls (idnumber look-ups, creates, enrols) and one email
    // search per new learner: Moodle's exact email look-up is case-sensitive,
    // its search (one address per call) is not.
    assert!(
        on_moto.total <= 30 + records,
        "at most 30 + one email search per learner, made {}",
        on_moto.total
    );

    if let Some(base) = std::env::var("PUSH_BENCH_BASELINE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let (connections, runs, sis, links) = (
            MemConnections::default(),
            MemRuns::default(),
            MemSis::default(),
            MemLinks::default(),
        );
        let memory = Ports {
            connections: &connections,
            runs: &runs,
            sis: &sis,
            links: &links,
            ..memory
        };
        let baseline = push(&memory, base, 1, None, None).await;
        println!("baseline: batch size 1, {base} records, in memory");
        print("in memory", &baseline, true);
    }
}
