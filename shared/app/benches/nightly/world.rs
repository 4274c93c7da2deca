//! The world the functions share (the tables, SQS, SES, the clock) and the
//! Moodle sites with their SMS records.

use crate::queue::BenchQueue;
use app::results::FetchCounts;
use app::testing::*;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::ports::*;
use domain::sis::*;
use domain::{AssessableId, Connection, ConnectionId, LearnerCode, OfferingId, TenantId};
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN, Switches};
use simulators::server::RunningServer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The sample site's course that every offering is linked to, and its two
/// graded activities (a quiz and an assignment).
pub const COURSE: i64 = 2;
pub const QUIZ: i64 = 1;
pub const ASSIGN: i64 = 2;

pub struct Token;

#[async_trait]
impl SecretSource for Token {
    async fn secret(&self, _: &str) -> Result<secrecy::SecretString, SecretError> {
        Ok(secrecy::SecretString::from(SAMPLE_TOKEN))
    }
}

/// What the DynamoDB tables, SQS and SES hold: shared by every function instance.
pub struct World {
    pub connections: MemConnections,
    pub runs: MemRuns,
    pub queue: BenchQueue,
    pub sis: MemSis,
    pub links: MemLinks,
    pub mailer: MemMailer,
    pub tenants: MemTenants,
    /// Results per connection: `MemResults` keeps one watermark and one retry
    /// set, where the `data` table keeps them per connection.
    pub results: Mutex<HashMap<(TenantId, ConnectionId), Arc<MemResults>>>,
    pub deliveries: MemDeliveries,
    /// The simulated clock the handlers read instead of `Utc::now()`: the
    /// night's start, moving on with real time from when the night began.
    pub clock: Mutex<(DateTime<Utc>, Instant)>,
    pub stats: Mutex<Stats>,
}

#[derive(Default)]
pub struct Stats {
    pub export_jobs: Vec<Duration>,
    pub fetch_jobs: Vec<Duration>,
    pub fetched: HashMap<(TenantId, ConnectionId), FetchCounts>,
    pub failed: Vec<String>,
}

impl World {
    pub fn now(&self) -> DateTime<Utc> {
        let (at, since) = *self.clock.lock().unwrap();
        at + TimeDelta::from_std(since.elapsed()).unwrap_or_default()
    }

    pub fn results_of(&self, tenant: &TenantId, connection: &ConnectionId) -> Arc<MemResults> {
        Arc::clone(
            self.results
                .lock()
                .unwrap()
                .entry((tenant.clone(), connection.clone()))
                .or_default(),
        )
    }

    pub fn set_now(&self, at: DateTime<Utc>) {
        *self.clock.lock().unwrap() = (at, Instant::now());
    }
}

/// One Moodle site: a simulator on its own port.
pub struct Site {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub offering: OfferingId,
    pub sim: MoodleSim,
    pub _server: RunningServer,
    pub learners: usize,
}

pub fn learner_code(site: usize, i: usize) -> LearnerCode {
    LearnerCode::parse(format!("L{site:04}{i:05}")).unwrap()
}

pub async fn add_learner(world: &World, site: &Site, index: usize, i: usize, now: DateTime<Utc>) {
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

pub async fn build_site(
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

/// The world of a night (the simulated clock at `night_one`) and its sites,
/// each a Moodle simulator answering with `latency`, with its SMS records as
/// of the day before.
pub async fn set_up(
    connections: usize,
    tenants: usize,
    learners: usize,
    latency: Duration,
    night_one: DateTime<Utc>,
) -> (Arc<World>, Vec<Site>) {
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
    (world, sites)
}
