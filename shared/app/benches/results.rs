#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Results download for a 500-learner course against the Moodle simulator:
//! Moodle calls per function on the first run, on a re-run after 5 learners
//! were graded again, and on a third run after 5 other learners only opened
//! the course (an activity completed without a grade). Prints figures; not a
//! timed test.
//!
//! `cargo bench -p app --bench results`

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

fn print(name: &str, counts: &FetchCounts, sim: &MoodleSim, wall: Duration) -> usize {
    let mut calls: BTreeMap<String, usize> = BTreeMap::new();
    for call in sim.calls() {
        *calls.entry(call.function).or_insert(0) += 1;
    }
    let total: usize = calls.values().sum();
    println!(
        "{name}: {} learners, {} read further, {} results, {total} Moodle calls, {:.2} s at {LATENCY_MS} ms per call",
        counts.learners,
        counts.changed,
        counts.ready + counts.errors,
        wall.as_secs_f64()
    );
    for (f, n) in &calls {
        println!("    {f:<52} {n:>5}");
    }
    total
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("results benchmark: run it with `cargo bench -p app --bench results`");
        return;
    }
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let t = TenantId::parse("acme").unwrap();
    let c = ConnectionId::parse("moodle").unwrap();
    let o = OfferingId::parse("OCC-1001").unwrap();
    let u1 = AssessableId::parse("U1").unwrap();
    let connection = Connection {
        tenant: t.clone(),
        id: c.clone(),
        name: "bench".into(),
        base_url: server.base_url.clone(),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Moodle(MoodleSettings {
            use_enrolment_start_date: true,
            course_completions: true,
            ..MoodleSettings::default()
        }),
    };
    let connections = MemConnections::default();
    connections.0.lock().unwrap().push(connection.clone());
    let (runs, queue, sis, links, results, deliveries) = (
        MemRuns::default(),
        MemQueue::default(),
        MemSis::default(),
        MemLinks::default(),
        MemResults::default(),
        MemDeliveries::default(),
    );
    let now = Utc::now();
    sis.save_offering(&Offering {
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

    // 500 Moodle users, enrolled in course 2, through the gateway (setup calls are not counted).
    let gateways = MoodleGateways::new(Arc::new(Token), "bench")
        .with_egress(connectors::egress::Egress::AllowInternal);
    let gateway = gateways.gateway(&connection).await.unwrap();
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
        sis.save_enrolment(&Enrolment {
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
        links
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
    results
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
    sim.set_switches(Switches {
        latency: Duration::from_millis(LATENCY_MS),
        ..Switches::default()
    });

    let uc = Results {
        connections: &connections,
        sis: &sis,
        links: &links,
        results: &results,
        deliveries: &deliveries,
        queue: &queue,
        runs: &runs,
        tenants: &MemTenants::default(),
    };
    let stop = AtomicBool::new(false);
    let run = RunId::parse("bench-1").unwrap();

    sim.clear_calls();
    let started = Instant::now();
    let first = uc
        .fetch(&connection, gateway.as_ref(), None, &run, &stop, now)
        .await
        .unwrap();
    let first_calls = print("first run", &first, &sim, started.elapsed());

    // A day later, 5 learners were graded on the assignment.
    let later = now + TimeDelta::days(1);
    for id in ids.iter().take(CHANGED) {
        sim.set_grade(*id, 2, Some(75.0), later.timestamp() - 60);
    }
    sim.clear_calls();
    let started = Instant::now();
    let rerun = uc
        .fetch(&connection, gateway.as_ref(), None, &run, &stop, later)
        .await
        .unwrap();
    let rerun_calls = print(
        &format!("re-run with {CHANGED} changed learners"),
        &rerun,
        &sim,
        started.elapsed(),
    );
    println!(
        "re-run / first run: {rerun_calls} / {first_calls} Moodle calls ({:.1}%)",
        100.0 * rerun_calls as f64 / first_calls as f64
    );

    // Another day later, 5 other learners opened the course and completed an
    // activity without a grade: no grade changed, their course access did.
    let third_at = later + TimeDelta::days(1);
    for id in ids.iter().skip(100).take(CHANGED) {
        sim.access_course(*id, 2, third_at.timestamp() - 60);
    }
    sim.clear_calls();
    let started = Instant::now();
    let third = uc
        .fetch(&connection, gateway.as_ref(), None, &run, &stop, third_at)
        .await
        .unwrap();
    let third_calls = print(
        &format!(
            "third run: {CHANGED} learners accessed the course (and yesterday's {CHANGED} within the completion lag)"
        ),
        &third,
        &sim,
        started.elapsed(),
    );
    println!(
        "third run / first run: {third_calls} / {first_calls} Moodle calls ({:.1}%)",
        100.0 * third_calls as f64 / first_calls as f64
    );
    assert_eq!(first.learners, LEARNERS);
    assert_eq!(rerun.changed, CHANGED);
    assert_eq!(third.changed, 2 * CHANGED);
}
