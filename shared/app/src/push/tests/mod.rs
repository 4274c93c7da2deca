//! Enrolment push use cases over in-memory stores and the real Moodle adapter
//! against the Moodle simulator: the shared set-up here, the tests by subject.

mod edits;
mod jobs;
mod look_ups;
mod push;
mod removal;

use crate::courses::{Courses, LinkChoice};
use crate::learners::Learners;
use crate::push::{PreviewRow, Push, PushError};
use crate::removal::{Removal, Removals};
use crate::testing::*;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use connectors::moodle_gateway::MoodleGateways;
use domain::connection::{ConnectionSettings, MatchOrder, MoodleSettings, NewUserAuth};
use domain::ports::*;
use domain::sis::*;
use domain::{
    Connection, ConnectionId, Job, LearnerCode, LogLevel, OfferingId, RunId, RunStatus, TenantId,
    Trigger,
};
use simulators::moodle::{MoodleFixture, MoodleSim, SAMPLE_TOKEN};
use std::sync::Arc;

use crate::testing::{MemDeliveries, MemResults};

struct Token;

#[async_trait]
impl SecretSource for Token {
    async fn secret(&self, _name: &str) -> Result<secrecy::SecretString, SecretError> {
        Ok(secrecy::SecretString::from(SAMPLE_TOKEN))
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

/// When a push job's run ends, by the push's clock: later than [`now`], when it began.
fn later() -> DateTime<Utc> {
    now() + chrono::Duration::seconds(42)
}

fn t() -> TenantId {
    TenantId::parse("acme").unwrap()
}
fn c() -> ConnectionId {
    ConnectionId::parse("moodle").unwrap()
}
fn off() -> OfferingId {
    OfferingId::parse("OCC-1001").unwrap()
}
fn run(id: &str) -> RunId {
    RunId::parse(id).unwrap()
}

struct Env {
    sim: MoodleSim,
    _server: simulators::server::RunningServer,
    connections: MemConnections,
    runs: MemRuns,
    queue: MemQueue,
    sis: MemSis,
    links: MemLinks,
    mailer: MemMailer,
    tenants: MemTenants,
    learning: MoodleGateways,
    results: MemResults,
    deliveries: MemDeliveries,
}

impl Env {
    async fn new(settings: MoodleSettings) -> Env {
        Self::on(MoodleSim::sample_site(), settings).await
    }

    async fn on(sim: MoodleSim, settings: MoodleSettings) -> Env {
        let server = sim.start().await.unwrap();
        let connections = MemConnections::default();
        connections.0.lock().unwrap().push(Connection {
            tenant: t(),
            id: c(),
            name: "Moodle".into(),
            base_url: server.base_url.clone(),
            enabled: true,
            error_email: None,
            settings: ConnectionSettings::Moodle(settings),
        });
        let env = Env {
            sim,
            _server: server,
            connections,
            runs: MemRuns::default(),
            queue: MemQueue::default(),
            sis: MemSis::default(),
            links: MemLinks::default(),
            mailer: MemMailer::default(),
            tenants: MemTenants::default(),
            learning: MoodleGateways::new(Arc::new(Token), "lb/connections")
                .with_egress(connectors::egress::Egress::AllowInternal),
            results: MemResults::default(),
            deliveries: MemDeliveries::default(),
        };
        env.sis
            .save_offering(&Offering {
                tenant: t(),
                id: off(),
                name: "First aid".into(),
                start_date: NaiveDate::from_ymd_opt(2027, 2, 1),
                end_date: NaiveDate::from_ymd_opt(2027, 3, 31),
                status: OfferingStatus::Active,
                auto_push: false,
                must_be_evaluated: false,
                assessables: vec![],
                updated_at: now(),
            })
            .await
            .unwrap();
        env
    }

    fn push(&self) -> Push<'_> {
        Push {
            connections: &self.connections,
            runs: &self.runs,
            queue: &self.queue,
            sis: &self.sis,
            links: &self.links,
            learning: &self.learning,
            mailer: &self.mailer,
            tenants: &self.tenants,
            clock: later,
        }
    }

    fn removals(&self) -> Removals<'_> {
        Removals {
            connections: &self.connections,
            sis: &self.sis,
            links: &self.links,
            learning: &self.learning,
            grades: &self.learning,
            results: &self.results,
            deliveries: &self.deliveries,
            queue: &self.queue,
            runs: &self.runs,
            mailer: &self.mailer,
            tenants: &self.tenants,
            clock: later,
        }
    }

    fn courses(&self) -> Courses<'_> {
        Courses {
            connections: &self.connections,
            sis: &self.sis,
            links: &self.links,
            learning: &self.learning,
            tenants: &self.tenants,
        }
    }

    fn learners(&self) -> Learners<'_> {
        Learners {
            connections: &self.connections,
            sis: &self.sis,
            links: &self.links,
            learning: &self.learning,
        }
    }

    async fn link(&self) {
        self.courses()
            .link(&t(), &c(), &off(), LinkChoice::FindByIdnumber, now())
            .await
            .unwrap();
    }

    async fn learner(&self, code: &str, given: &str, family: &str, email: Option<&str>) -> Learner {
        let l = Learner {
            tenant: t(),
            code: LearnerCode::parse(code).unwrap(),
            username: None,
            given_name: given.into(),
            middle_name: None,
            family_name: family.into(),
            email: email.map(str::to_owned),
            date_of_birth: None,
            archived: false,
            email_opt_out: false,
            updated_at: now(),
        };
        self.sis.save_learner(&l).await.unwrap();
        self.enrol(code).await;
        l
    }

    /// Enrols the learner `code` (whether the SMS has their record or not) in the offering.
    async fn enrol(&self, code: &str) {
        self.sis
            .save_enrolment(&Enrolment {
                tenant: t(),
                learner: LearnerCode::parse(code).unwrap(),
                offering: off(),
                state: EnrolmentState::NotCalled,
                start_date: NaiveDate::from_ymd_opt(2027, 2, 3),
                session_date: None,
                updated_at: now(),
            })
            .await
            .unwrap();
    }

    fn transfer(&self, code: &str) -> Option<Transfer> {
        self.links
            .transfers
            .lock()
            .unwrap()
            .get(&(t(), c(), off(), LearnerCode::parse(code).unwrap()))
            .cloned()
    }

    fn account(&self, code: &str) -> Option<i64> {
        self.links
            .accounts
            .lock()
            .unwrap()
            .get(&(t(), c(), LearnerCode::parse(code).unwrap()))
            .map(|a| a.external_id)
    }

    async fn log(&self, r: &str) -> Vec<String> {
        self.runs
            .log(&t(), &c(), &run(r))
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.message)
            .collect()
    }

    fn moodle_user(&self, username: &str) -> Option<simulators::moodle::User> {
        self.sim
            .snapshot()
            .users
            .into_iter()
            .find(|u| u.username == username && !u.deleted)
    }

    fn enrolled_in_course_2(&self, user: i64) -> bool {
        let s = self.sim.snapshot();
        let enrol_ids: Vec<i64> = s
            .enrol_instances
            .iter()
            .filter(|i| i.courseid == 2)
            .map(|i| i.id)
            .collect();
        s.user_enrolments
            .iter()
            .any(|ue| ue.userid == user && enrol_ids.contains(&ue.enrolid))
    }
}

fn blocked(status: &TransferStatus) -> Vec<BlockReason> {
    match status {
        TransferStatus::Blocked { reasons } => reasons.clone(),
        other => panic!("not blocked: {other:?}"),
    }
}
