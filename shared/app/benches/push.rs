#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Pushing 1,000 new enrolments into one course against the Moodle simulator
//! with 50 ms latency per call: Moodle calls per function and wall time, beside
//! a one-call-per-record baseline (the same push with batch size 1).
//!
//! `cargo bench -p app --bench push` (set `PUSH_BENCH_BASELINE=1000` to run the
//! baseline over all 1,000 records too; by default it runs 200 and scales).

#[allow(dead_code)]
#[path = "../src/fakes.rs"]
mod fakes;

use app::push::Push;
use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use connectors::moodle_gateway::MoodleGateways;
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::ports::*;
use domain::sis::*;
use domain::{Connection, ConnectionId, LearnerCode, OfferingId, RunId, TenantId, Trigger};
use fakes::*;
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN, Switches};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Token;

#[async_trait]
impl SecretSource for Token {
    async fn secret(&self, _: &str) -> Result<secrecy::SecretString, SecretError> {
        Ok(secrecy::SecretString::from(SAMPLE_TOKEN))
    }
}

struct Outcome {
    calls: BTreeMap<String, usize>,
    total: usize,
    wall: Duration,
    enrolled: usize,
}

async fn push(records: usize, batch_size: usize) -> Outcome {
    let sim = MoodleSim::sample_site();
    sim.set_switches(Switches {
        latency: Duration::from_millis(50),
        ..Switches::default()
    });
    let server = sim.start().await.unwrap();
    let t = TenantId::parse("acme").unwrap();
    let c = ConnectionId::parse("moodle").unwrap();
    let o = OfferingId::parse("OCC-1001").unwrap();
    let connections = MemConnections::default();
    connections.0.lock().unwrap().push(Connection {
        tenant: t.clone(),
        id: c.clone(),
        name: "bench".into(),
        base_url: server.base_url.clone(),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Moodle(MoodleSettings {
            batch_size,
            ..MoodleSettings::default()
        }),
    });
    let (runs, queue, sis, links, mailer) = (
        MemRuns::default(),
        MemQueue::default(),
        MemSis::default(),
        MemLinks::default(),
        MemMailer::default(),
    );
    let now = Utc::now();
    sis.save_offering(&Offering {
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
    for i in 0..records {
        let code = LearnerCode::parse(format!("B{i:05}")).unwrap();
        sis.save_learner(&Learner {
            tenant: t.clone(),
            code: code.clone(),
            username: None,
            given_name: "Bench".into(),
            middle_name: None,
            family_name: format!("Learner{i}"),
            email: Some(format!("bench{i}@example.com")),
            date_of_birth: None,
            archived: false,
            email_opt_out: false,
            updated_at: now,
        })
        .await
        .unwrap();
        sis.save_enrolment(&Enrolment {
            tenant: t.clone(),
            learner: code,
            offering: o.clone(),
            state: EnrolmentState::NotCalled,
            start_date: NaiveDate::from_ymd_opt(2027, 2, 1),
            session_date: None,
            updated_at: now,
        })
        .await
        .unwrap();
    }
    links
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
    let learning = MoodleGateways::new(Arc::new(Token), "bench")
        .with_egress(connectors::egress::Egress::AllowInternal);
    let push = Push {
        connections: &connections,
        runs: &runs,
        queue: &queue,
        sis: &sis,
        links: &links,
        learning: &learning,
        mailer: &mailer,
        tenants: &MemTenants::default(),
        clock: chrono::Utc::now,
    };
    sim.clear_calls();
    let started = Instant::now();
    let report = push
        .push_job(
            &t,
            &c,
            &o,
            &RunId::parse("bench").unwrap(),
            Trigger::Manual,
            now,
        )
        .await
        .unwrap();
    let wall = started.elapsed();
    let mut calls = BTreeMap::new();
    for call in sim.calls() {
        *calls.entry(call.function).or_insert(0) += 1;
    }
    Outcome {
        total: calls.values().sum(),
        calls,
        wall,
        enrolled: report.enrolled,
    }
}

fn print(name: &str, o: &Outcome) {
    println!(
        "{name}: {} enrolled, {} Moodle calls, {:.2} s",
        o.enrolled,
        o.total,
        o.wall.as_secs_f64()
    );
    for (f, n) in &o.calls {
        println!("    {f:<40} {n:>5}");
    }
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("push benchmark: run it with `cargo bench -p app --bench push`");
        return;
    }
    let records = 1000;
    let batched = push(records, 100).await;
    print("batched (batch size 100, 50 ms per call)", &batched);
    assert_eq!(batched.enrolled, records);
    // 30 batched calls (idnumber look-ups, creates, enrols) and one email
    // search per new learner: Moodle's exact email look-up is case-sensitive,
    // its search (one address per call) is not.
    assert!(
        batched.total <= 30 + records,
        "at most 30 + one email search per learner for 1,000 enrolments, made {}",
        batched.total
    );

    let base_records: usize = std::env::var("PUSH_BENCH_BASELINE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let baseline = push(base_records, 1).await;
    print(
        &format!("baseline (batch size 1, {base_records} records, 50 ms per call)"),
        &baseline,
    );
    let scale = records as f64 / base_records as f64;
    println!(
        "baseline scaled to {records} records: {:.0} Moodle calls, {:.1} s",
        baseline.total as f64 * scale,
        baseline.wall.as_secs_f64() * scale
    );
}
