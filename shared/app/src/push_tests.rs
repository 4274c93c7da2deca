//! Enrolment push use cases over in-memory stores and the real Moodle adapter
//! against the Moodle simulator.

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
        self.sis
            .save_enrolment(&Enrolment {
                tenant: t(),
                learner: l.code.clone(),
                offering: off(),
                state: EnrolmentState::NotCalled,
                start_date: NaiveDate::from_ymd_opt(2027, 2, 3),
                session_date: None,
                updated_at: now(),
            })
            .await
            .unwrap();
        l
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

#[tokio::test]
async fn push_creates_matches_enrols_logs_and_emails() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))
        .await;
    // Sam is already in Moodle (idnumber STU-001) and enrolled in course 2.
    env.learner("STU-001", "Sam", "Passer", Some("student1@example.com"))
        .await;
    let mut quiet = env
        .learner("Q1", "Quinn", "Quiet", Some("quinn@example.com"))
        .await;
    quiet.email_opt_out = true;
    env.sis.save_learner(&quiet).await.unwrap();

    let report = env
        .push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!(
        (
            report.created,
            report.linked,
            report.enrolled,
            report.already_enrolled
        ),
        (2, 1, 2, 1)
    );

    let ana = env
        .moodle_user("ana.ruiz@example.com")
        .expect("Ana was created");
    assert_eq!(
        (
            ana.idnumber.as_str(),
            ana.firstname.as_str(),
            ana.lastname.as_str()
        ),
        ("X1234567", "Ana", "Ruiz")
    );
    assert!(env.enrolled_in_course_2(ana.id));
    assert_eq!(env.account("X1234567"), Some(ana.id));
    assert_eq!(
        env.account("STU-001"),
        Some(4),
        "matched by learner code = idnumber"
    );
    for code in ["X1234567", "STU-001", "Q1"] {
        assert_eq!(
            env.transfer(code).unwrap().status,
            TransferStatus::Transferred,
            "{code}"
        );
    }
    // Enrolled with the configured role and the enrolment's start date.
    let enrol_call = env
        .sim
        .calls()
        .into_iter()
        .find(|c| c.function == "enrol_manual_enrol_users")
        .unwrap();
    assert_eq!(enrol_call.param("enrolments[0][roleid]"), Some("5"));
    let start = NaiveDate::from_ymd_opt(2027, 2, 3)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp();
    assert_eq!(
        enrol_call.param("enrolments[0][timestart]"),
        Some(start.to_string().as_str())
    );
    let create_call = env
        .sim
        .calls()
        .into_iter()
        .find(|c| c.function == "core_user_create_users")
        .unwrap();
    assert_eq!(
        create_call.param("users[0][createpassword]"),
        Some("1"),
        "Moodle makes the password by default"
    );

    let log = env.log("r1").await;
    assert!(
        log.contains(&"User Ana Ruiz (X1234567) - registered in the system".to_owned()),
        "{log:?}"
    );
    assert!(log.contains(&"User Ana Ruiz (X1234567) - enrolment in the Moodle course".to_owned()));
    assert!(log.contains(&"User Sam Passer (STU-001) - linked to Moodle user 4".to_owned()));
    assert!(
        !log.iter()
            .any(|l| l.contains("Sam Passer (STU-001) - enrolment")),
        "already enrolled: no-op"
    );
    assert!(!log.iter().any(|l| l.contains(SAMPLE_TOKEN)));

    let mails = env.mailer.0.lock().unwrap().clone();
    assert_eq!(
        mails.len(),
        1,
        "Sam was already enrolled; Quinn opted out: {mails:?}"
    );
    assert_eq!(mails[0].subject, "User registration in Moodle");
    assert_eq!(mails[0].to, "ana.ruiz@example.com");
    assert!(
        !mails[0].body.contains("Password:"),
        "Moodle mails its own password"
    );
    let status = env
        .runs
        .run(&t(), &c(), &run("r1"))
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!(status, RunStatus::FinishedSuccessfully);
}

#[tokio::test]
async fn a_push_run_finishes_when_it_ends_not_when_its_job_began() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))
        .await;
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    let stored = env.runs.run(&t(), &c(), &run("r1")).await.unwrap().unwrap();
    assert_eq!(stored.started_at, now());
    assert_eq!(stored.finished_at, Some(later()));
    assert_eq!(stored.duration(later()).num_seconds(), 42);
}

#[tokio::test]
async fn duplicate_deliveries_and_reruns_create_no_duplicate_users_or_enrolments() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    for i in 0..5 {
        env.learner(
            &format!("L{i}"),
            "Lea",
            &format!("Number{i}"),
            Some(&format!("lea{i}@example.com")),
        )
        .await;
    }
    let push = env.push();
    push.push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    let after_first = env.sim.snapshot();
    let log_first = env.log("r1").await;
    let creates = env.sim.call_count("core_user_create_users");
    let enrols = env.sim.call_count("enrol_manual_enrol_users");

    // SQS delivers the same job again, then a person pushes again (a new run).
    push.push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    push.push_job(&t(), &c(), &off(), &run("r2"), Trigger::Manual, now())
        .await
        .unwrap();
    // And the nightly export of the same connection.
    push.export(&t(), &c(), &run("r3"), Trigger::Nightly, None, now())
        .await
        .unwrap();

    let after = env.sim.snapshot();
    assert_eq!(after.users, after_first.users, "no user created or changed");
    assert_eq!(
        after.user_enrolments, after_first.user_enrolments,
        "no enrolment added"
    );
    assert_eq!(env.sim.call_count("core_user_create_users"), creates);
    assert_eq!(env.sim.call_count("enrol_manual_enrol_users"), enrols);
    assert_eq!(
        env.log("r1").await,
        log_first,
        "the duplicate logged nothing"
    );
    assert!(env.log("r2").await.is_empty());
    assert_eq!(env.links.accounts.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn a_record_moodle_refuses_blocks_only_its_enrolment_with_moodles_reason() {
    let mut fixture = MoodleFixture::sample_site();
    fixture.site.extendedusernamechars = false;
    let env = Env::on(MoodleSim::new(fixture), MoodleSettings::default()).await;
    env.link().await;
    env.learner("G1", "Good", "One", Some("good1@example.com"))
        .await;
    env.learner("B1", "Bad", "Plus", Some("bad+moodle@example.com"))
        .await;
    env.learner("G2", "Good", "Two", Some("good2@example.com"))
        .await;

    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();

    for code in ["G1", "G2"] {
        assert_eq!(
            env.transfer(code).unwrap().status,
            TransferStatus::Transferred
        );
    }
    let reasons = blocked(&env.transfer("B1").unwrap().status);
    let [BlockReason::RefusedByMoodle { message }] = reasons.as_slice() else {
        panic!("{reasons:?}")
    };
    assert!(
        message.contains("Allow extended characters in usernames"),
        "{message}"
    );
    assert!(env.moodle_user("bad+moodle@example.com").is_none());
    assert_eq!(env.account("B1"), None);
    let log = env.log("r1").await;
    assert!(
        log.iter()
            .any(|l| l.starts_with("User Bad Plus (B1) - not transferred: Moodle refused it")),
        "{log:?}"
    );
    let run = env.runs.run(&t(), &c(), &run("r1")).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::FinishedWithWarnings);
}

#[tokio::test]
async fn an_email_used_by_another_user_blocks_and_creates_no_duplicate() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    // A different person in the SMS with student2's email.
    env.learner("Z9", "Zoe", "Other", Some("student2@example.com"))
        .await;
    let users_before = env.sim.snapshot().users.len();
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!(
        blocked(&env.transfer("Z9").unwrap().status),
        vec![BlockReason::EmailUsedByAnotherUser { moodle_user_id: 5 }]
    );
    assert_eq!(env.sim.snapshot().users.len(), users_before);
    assert_eq!(env.sim.call_count("core_user_create_users"), 0);

    // With email among the rules, the same collision links instead.
    let rules = Env::new(MoodleSettings {
        match_fields: vec![domain::connection::MatchField::Email],
        ..MoodleSettings::default()
    })
    .await;
    rules.link().await;
    rules
        .learner("Z9", "Zoe", "Other", Some("student2@example.com"))
        .await;
    rules
        .push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!(rules.account("Z9"), Some(5));
}

#[tokio::test]
async fn a_stored_user_that_no_longer_exists_blocks() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("X1", "Ana", "Ruiz", Some("ana@example.com"))
        .await;
    env.links
        .save_account(&ExternalAccount {
            tenant: t(),
            connection: c(),
            learner: LearnerCode::parse("X1").unwrap(),
            external_id: 999,
            created_by_us: false,
            linked_at: now(),
        })
        .await
        .unwrap();
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!(
        blocked(&env.transfer("X1").unwrap().status),
        vec![BlockReason::StoredUserMissing {
            moodle_user_id: 999
        }]
    );
    assert_eq!(
        env.sim.call_count("core_user_create_users"),
        0,
        "a stored account prevents creating a user"
    );
}

#[tokio::test]
async fn preview_shows_ready_transferred_and_every_reason() {
    let env = Env::new(MoodleSettings::default()).await;
    env.learner("R1", "Ready", "One", Some("ready1@example.com"))
        .await;
    let preview = env.push().preview(&t(), &c(), &off()).await.unwrap();
    assert_eq!(
        blocked(&preview[0].status),
        vec![BlockReason::OfferingNotLinked]
    );

    env.link().await;
    let mut archived = env
        .learner("A1", "Arch", "", Some("student3@example.com"))
        .await;
    archived.archived = true;
    env.sis.save_learner(&archived).await.unwrap();
    env.learner("N1", "No", "Mail", None).await;
    env.learner("I1", "Bad", "Mail", Some("bad@")).await;
    let rows: Vec<PreviewRow> = env.push().preview(&t(), &c(), &off()).await.unwrap();
    let by = |code: &str| {
        rows.iter()
            .find(|r| r.learner.as_str() == code)
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(by("R1"), TransferStatus::Ready);
    assert_eq!(
        blocked(&by("A1")),
        vec![
            BlockReason::LearnerArchived,
            BlockReason::MissingSurname,
            BlockReason::EmailUsedByAnotherUser { moodle_user_id: 6 }
        ]
    );
    assert_eq!(blocked(&by("N1")), vec![BlockReason::MissingEmail]);
    assert_eq!(blocked(&by("I1")), vec![BlockReason::InvalidEmail]);
    assert_eq!(
        env.sim.call_count("core_user_create_users"),
        0,
        "a preview changes nothing"
    );

    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    let rows = env.push().preview(&t(), &c(), &off()).await.unwrap();
    assert_eq!(
        rows.iter()
            .find(|r| r.learner.as_str() == "R1")
            .unwrap()
            .status,
        TransferStatus::Transferred
    );
}

#[tokio::test]
async fn nightly_export_pushes_calls_and_queues_the_import() {
    let env = Env::new(MoodleSettings {
        match_order: MatchOrder::UsernameIdnumberEmail,
        new_user_auth: NewUserAuth::GeneratedPassword,
        ..MoodleSettings::default()
    })
    .await;
    env.link().await;
    env.learner("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))
        .await;
    env.learner("STU-003", "Nina", "Nothing", Some("student3@example.com"))
        .await;
    env.push()
        .export(&t(), &c(), &run("n1"), Trigger::Nightly, None, now())
        .await
        .unwrap();

    let log = env.log("n1").await;
    let ana: Vec<&String> = log.iter().filter(|l| l.contains("(X1234567)")).collect();
    assert_eq!(
        ana,
        [
            "User Ana Ruiz (X1234567) - registered in the system",
            "User Ana Ruiz (X1234567) - enrolment in the Moodle course",
            "User Ana Ruiz (X1234567) - called"
        ]
    );
    assert!(
        log.contains(&"User Nina Nothing (STU-003) - called".to_owned()),
        "{log:?}"
    );
    assert!(
        log.last()
            .unwrap()
            .starts_with("Run started by the nightly schedule")
    );
    let user = env
        .moodle_user("x1234567")
        .expect("Smartosh: username = identifier");
    assert_eq!(user.idnumber, "X1234567");
    let create = env
        .sim
        .calls()
        .into_iter()
        .find(|c| c.function == "core_user_create_users")
        .unwrap();
    assert_eq!(
        create.param("users[0][preferences][0][type]"),
        Some("auth_forcepasswordchange")
    );
    let e = env
        .sis
        .enrolment(&t(), &off(), &LearnerCode::parse("X1234567").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.state, EnrolmentState::InProgress);
    assert_eq!(e.session_date, NaiveDate::from_ymd_opt(2027, 2, 1));
    let mails = env.mailer.0.lock().unwrap().clone();
    let reg = mails
        .iter()
        .find(|m| m.to == "ana.ruiz@example.com")
        .unwrap();
    assert!(
        reg.body.contains("Username: x1234567") && reg.body.contains("Password: "),
        "generated passwords are mailed"
    );
    assert!(matches!(
        env.queue.sent.lock().unwrap().as_slice(),
        [Job::FetchResults { .. }]
    ));
    // A second delivery of the nightly job: nothing new.
    let before = env.sim.snapshot();
    env.push()
        .export(&t(), &c(), &run("n1"), Trigger::Nightly, None, now())
        .await
        .unwrap();
    assert_eq!(env.sim.snapshot().users, before.users);
    assert_eq!(env.log("n1").await.len(), log.len());
}

#[tokio::test]
async fn linking_finds_links_or_creates_courses_and_offering_edits_reach_the_course() {
    let env = Env::new(MoodleSettings::default()).await;
    let link = env
        .courses()
        .link(&t(), &c(), &off(), LinkChoice::FindByIdnumber, now())
        .await
        .unwrap();
    assert_eq!(link.course_id, 2);

    let other = OfferingId::parse("OCC-2002").unwrap();
    let mut offering = env.sis.offering(&t(), &off()).await.unwrap().unwrap();
    offering.id = other.clone();
    offering.status = OfferingStatus::Planned;
    env.sis.save_offering(&offering).await.unwrap();
    let err = env
        .courses()
        .link(&t(), &c(), &other, LinkChoice::FindByIdnumber, now())
        .await
        .unwrap_err();
    assert!(matches!(err, PushError::CourseNotFound { .. }), "{err}");
    let err = env
        .courses()
        .link(
            &t(),
            &c(),
            &other,
            LinkChoice::Create {
                shortname: "FA-2".into(),
                fullname: "First aid 2".into(),
                category: 77,
            },
            now(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PushError::UnknownCategory { category: 77 }));
    let categories = env.courses().categories(&t(), &c()).await.unwrap();
    assert!(categories.iter().any(|c| c.id == 2));
    let create = LinkChoice::Create {
        shortname: "FA-2".into(),
        fullname: "First aid 2".into(),
        category: 2,
    };
    let made = env
        .courses()
        .link(&t(), &c(), &other, create.clone(), now())
        .await
        .unwrap();
    let course = env
        .sim
        .snapshot()
        .courses
        .into_iter()
        .find(|c| c.id == made.course_id)
        .unwrap();
    assert_eq!(
        (course.idnumber.as_str(), course.visible),
        ("OCC-2002", 0),
        "planned: hidden"
    );
    // Creating again (a retried request) finds the course instead of making another.
    let again = env
        .courses()
        .link(&t(), &c(), &other, create, now())
        .await
        .unwrap();
    assert_eq!(again.course_id, made.course_id);
    assert_eq!(env.sim.call_count("core_course_create_courses"), 1);
    let by_id = env
        .courses()
        .link(
            &t(),
            &c(),
            &other,
            LinkChoice::CourseId(made.course_id),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(by_id.course_id, made.course_id);

    // The offering becomes active with new dates: the course follows.
    offering.status = OfferingStatus::Active;
    offering.start_date = NaiveDate::from_ymd_opt(2027, 5, 3);
    offering.end_date = NaiveDate::from_ymd_opt(2027, 6, 30);
    env.sis.save_offering(&offering).await.unwrap();
    assert_eq!(
        env.courses()
            .sync_offering(&t(), &other)
            .await
            .unwrap()
            .updated,
        1
    );
    let course = env
        .sim
        .snapshot()
        .courses
        .into_iter()
        .find(|c| c.id == made.course_id)
        .unwrap();
    let day = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp();
    assert_eq!(course.visible, 1);
    assert_eq!(
        course.startdate,
        day(NaiveDate::from_ymd_opt(2027, 5, 3).unwrap())
    );
    // The end date is the last second of the offering's last day (the tenant
    // is in UTC): Moodle keeps the course in progress through that day.
    assert_eq!(
        course.enddate,
        day(NaiveDate::from_ymd_opt(2027, 7, 1).unwrap()) - 1
    );

    // A provider in Sydney: the course runs from Sydney's midnight of 3 May
    // (AEST, UTC+10) to the last second of 30 June there.
    env.tenants.0.lock().unwrap().insert(
        t(),
        domain::tenant::TenantSettings {
            time_zone: "Australia/Sydney".into(),
            ..Default::default()
        },
    );
    env.courses().sync_offering(&t(), &other).await.unwrap();
    let course = env
        .sim
        .snapshot()
        .courses
        .into_iter()
        .find(|c| c.id == made.course_id)
        .unwrap();
    let hours = 3600;
    assert_eq!(
        course.startdate,
        day(NaiveDate::from_ymd_opt(2027, 5, 3).unwrap()) - 10 * hours
    );
    assert_eq!(
        course.enddate,
        day(NaiveDate::from_ymd_opt(2027, 7, 1).unwrap()) - 10 * hours - 1
    );
}

#[tokio::test]
async fn learner_edits_reach_moodle_and_archiving_suspends() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    let mut ana = env
        .learner("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))
        .await;
    let mut unlinked = env
        .learner("U1", "Una", "Linked", Some("una@example.com"))
        .await;
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    env.links
        .accounts
        .lock()
        .unwrap()
        .retain(|(_, _, l), _| l.as_str() != "U1");

    ana.family_name = "Ruiz García".into();
    ana.email = Some("ana.garcia@example.com".into());
    ana.archived = true;
    env.sis.save_learner(&ana).await.unwrap();
    assert_eq!(
        env.learners()
            .sync_learner(&t(), &ana.code, now())
            .await
            .unwrap()
            .updated,
        1
    );
    let user = env
        .moodle_user("ana.garcia@example.com")
        .expect("our username follows the email");
    assert_eq!(
        (user.lastname.as_str(), user.email.as_str(), user.suspended),
        ("Ruiz García", "ana.garcia@example.com", true)
    );
    // In step now: a second sync sends nothing.
    let updates = env.sim.call_count("core_user_update_users");
    assert_eq!(
        env.learners()
            .sync_learner(&t(), &ana.code, now())
            .await
            .unwrap()
            .updated,
        0
    );
    assert_eq!(env.sim.call_count("core_user_update_users"), updates);
    // A learner without a stored account is not sent.
    unlinked.family_name = "Changed".into();
    env.sis.save_learner(&unlinked).await.unwrap();
    assert_eq!(
        env.learners()
            .sync_learner(&t(), &unlinked.code, now())
            .await
            .unwrap()
            .updated,
        0
    );
}

#[tokio::test]
async fn a_create_moodle_refuses_without_a_reason_is_isolated_and_explained() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    // Two learners with one address in other letters: Moodle takes the first
    // and refuses the whole batch for the second, saying only invalidparameter.
    for (code, family, email) in [
        ("D1", "One", "dee@example.com"),
        ("D2", "Two", "DEE@Example.com"),
    ] {
        let mut l = env.learner(code, "Dee", family, Some(email)).await;
        l.username = Some(format!("dee.{}", family.to_lowercase()));
        env.sis.save_learner(&l).await.unwrap();
    }
    env.learner("G1", "Good", "One", Some("good1@example.com"))
        .await;
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    let first = env.moodle_user("dee.one").expect("D1 created");
    for code in ["D1", "G1"] {
        assert_eq!(
            env.transfer(code).unwrap().status,
            TransferStatus::Transferred,
            "{code}"
        );
    }
    assert_eq!(
        blocked(&env.transfer("D2").unwrap().status),
        vec![BlockReason::EmailUsedByAnotherUser {
            moodle_user_id: first.id
        }]
    );
    let log = env.log("r1").await;
    assert!(
        log.iter().any(|l| l.starts_with(&format!(
            "User Dee Two (D2) - not transferred: the learner's email address is already used by Moodle user {}",
            first.id
        ))),
        "{log:?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("Invalid parameter")),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_change_moodle_refuses_names_the_holder_on_the_run_and_the_transfer() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    let mut ana = env
        .learner("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))
        .await;
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    let holder = env.moodle_user("occ.student1").unwrap();
    // The SMS gives Ana an address another Moodle user holds, in other letters.
    ana.email = Some("Student1@Example.com".into());
    env.sis.save_learner(&ana).await.unwrap();
    let synced = env
        .learners()
        .sync_learner(&t(), &ana.code, later())
        .await
        .unwrap();
    assert_eq!(synced.updated, 0);
    let [failure] = synced.failures.as_slice() else {
        panic!("{:?}", synced.failures)
    };
    let text = crate::push::error_text(&failure.error);
    assert!(
        text.starts_with("Moodle refused the learner's changes: the learner's email address is already used by Moodle user"),
        "{text}"
    );
    assert!(text.contains(&holder.id.to_string()), "{text}");
    assert_eq!(
        blocked(&env.transfer("X1234567").unwrap().status),
        vec![BlockReason::EmailUsedByAnotherUser {
            moodle_user_id: holder.id
        }]
    );
    let ours = env.moodle_user("ana.ruiz@example.com").unwrap();
    assert_eq!(ours.lastname, "Ruiz", "Moodle left the user unchanged");
}

#[tokio::test]
async fn removing_reads_results_before_unenrolling_or_suspending() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("STU-001", "Sam", "Passer", Some("student1@example.com"))
        .await;
    // Unit U1 is the sample course's quiz (cmid 1), graded for Sam.
    let mut offering = env.sis.offering(&t(), &off()).await.unwrap().unwrap();
    offering.assessables = vec![Assessable {
        id: domain::AssessableId::parse("U1").unwrap(),
        name: "Unit 1".into(),
        kind: AssessableKind::Unit,
        expected_start_date: None,
    }];
    env.sis.save_offering(&offering).await.unwrap();
    env.results
        .save_mapping(&domain::results::Mapping {
            tenant: t(),
            offering: off(),
            connection: c(),
            assessable: domain::AssessableId::parse("U1").unwrap(),
            activities: vec![domain::results::MappedActivity {
                cmid: 1,
                modname: "quiz".into(),
            }],
            updated_at: now(),
        })
        .await
        .unwrap();
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    env.sim.clear_calls();
    let sam = LearnerCode::parse("STU-001").unwrap();
    let removal = env
        .removals()
        .remove_enrolment(&t(), &c(), &off(), &sam, now())
        .await
        .unwrap();
    let Removal::Removed {
        run: removal_run,
        read,
        suspended,
        not_enrolled: false,
    } = removal
    else {
        panic!("{removal:?}")
    };
    assert!(!suspended);
    assert_eq!(read.ready + read.errors, 1, "{read:?}");
    let result = env
        .results
        .result(
            &t(),
            &off(),
            &sam,
            &domain::AssessableId::parse("U1").unwrap(),
        )
        .await
        .unwrap()
        .expect("the result read before the removal is kept");
    assert_ne!(
        result.state,
        domain::results::ReviewState::Done,
        "for review"
    );
    let order: Vec<String> = env.sim.calls().into_iter().map(|c| c.function).collect();
    let read = order
        .iter()
        .position(|f| f == "gradereport_user_get_grade_items")
        .unwrap();
    let unenrol = order
        .iter()
        .position(|f| f == "enrol_manual_unenrol_users")
        .unwrap();
    assert!(read < unenrol, "read before destroy: {order:?}");
    assert!(!env.enrolled_in_course_2(4));
    assert_eq!(
        env.transfer("STU-001").unwrap().status,
        TransferStatus::Removed
    );
    let recorded = env
        .runs
        .run(&t(), &c(), &removal_run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.trigger, Trigger::Change);
    assert_eq!(recorded.status, RunStatus::FinishedSuccessfully);
    // It finished when the work was done, and counts what it did.
    assert_eq!(
        (recorded.started_at, recorded.finished_at),
        (now(), Some(later()))
    );
    assert_eq!(recorded.counts.get("learners_read"), Some(&1));
    assert_eq!(recorded.counts.get("unenrolled"), Some(&1));
    assert_eq!(env.transfer("STU-001").unwrap().updated_at, later());
    // A duplicate job changes nothing.
    env.sim.clear_calls();
    assert_eq!(
        env.removals()
            .remove_enrolment(&t(), &c(), &off(), &sam, now())
            .await
            .unwrap(),
        Removal::AlreadyRemoved
    );
    assert!(env.sim.calls().is_empty());

    // Suspending instead, per the connection.
    let keep = Env::new(MoodleSettings {
        unenrol_on_removal: false,
        ..MoodleSettings::default()
    })
    .await;
    keep.link().await;
    keep.learner("STU-002", "Fran", "Failer", Some("student2@example.com"))
        .await;
    keep.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    let removal = keep
        .removals()
        .remove_enrolment(
            &t(),
            &c(),
            &off(),
            &LearnerCode::parse("STU-002").unwrap(),
            now(),
        )
        .await
        .unwrap();
    assert!(matches!(
        removal,
        Removal::Removed {
            suspended: true,
            not_enrolled: false,
            ..
        }
    ));
    let s = keep.sim.snapshot();
    assert!(
        s.user_enrolments
            .iter()
            .any(|ue| ue.userid == 5 && ue.status == 1),
        "kept, suspended"
    );
}

/// A learner a person already unenrolled in Moodle by hand: removing them
/// (suspend mode) enrols nobody, as Moodle would (a suspension of a user with
/// no enrolment creates one, suspended; seen on a real Moodle 4.3): nothing
/// to suspend, the removal is done. Whether Moodle still enrols them comes
/// from the participants the read had (or, when nothing is read, from the
/// enrolled users), never from the grades.
#[tokio::test]
async fn removing_a_learner_moodle_no_longer_enrols_enrols_nobody() {
    for course_completions in [true, false] {
        let env = Env::new(MoodleSettings {
            unenrol_on_removal: false,
            course_completions,
            ..MoodleSettings::default()
        })
        .await;
        env.link().await;
        env.learner("STU-002", "Fran", "Failer", Some("student2@example.com"))
            .await;
        env.push()
            .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
            .await
            .unwrap();
        assert!(env.enrolled_in_course_2(5));
        // A person unenrols Fran in Moodle by hand.
        env.sim
            .with_state(|s| s.user_enrolments.retain(|ue| ue.userid != 5));
        env.sim.clear_calls();
        let fran = LearnerCode::parse("STU-002").unwrap();
        let removal = env
            .removals()
            .remove_enrolment(&t(), &c(), &off(), &fran, now())
            .await
            .unwrap();
        let Removal::Removed {
            run: removal_run,
            suspended: false,
            not_enrolled: true,
            ..
        } = removal
        else {
            panic!("{removal:?}")
        };
        assert_eq!(env.sim.call_count("enrol_manual_enrol_users"), 0);
        assert_eq!(env.sim.call_count("enrol_manual_unenrol_users"), 0);
        assert_eq!(
            env.sim.call_count("core_enrol_get_enrolled_users"),
            1,
            "asked once (course completions {course_completions})"
        );
        assert!(
            !env.sim
                .snapshot()
                .user_enrolments
                .iter()
                .any(|ue| ue.userid == 5),
            "no enrolment made"
        );
        let transfer = env.transfer("STU-002").unwrap();
        assert_eq!(
            (transfer.status, transfer.updated_at),
            (TransferStatus::Removed, later())
        );
        let recorded = env
            .runs
            .run(&t(), &c(), &removal_run)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(recorded.status, RunStatus::FinishedSuccessfully);
        assert_eq!(recorded.counts.get("suspended"), Some(&0));
        let log = env.runs.log(&t(), &c(), &removal_run).await.unwrap();
        assert!(
            log.iter()
                .any(|l| l.message.contains("nothing to unenrol or suspend")),
            "{log:?}"
        );
    }
}

/// A read that fails removes nothing: the run and the transfer say why, and
/// the next export queues the removal again.
#[tokio::test]
async fn a_removal_whose_read_fails_removes_nothing_and_is_tried_again() {
    let env = Env::new(MoodleSettings {
        course_completions: true,
        ..MoodleSettings::default()
    })
    .await;
    env.link().await;
    env.learner("STU-001", "Sam", "Passer", Some("student1@example.com"))
        .await;
    env.push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    // The token's service no longer offers the grade report: Moodle refuses.
    env.sim.with_state(|s| {
        for service in &mut s.services {
            service
                .functions
                .retain(|f| f != "gradereport_user_get_grade_items");
        }
    });
    let sam = LearnerCode::parse("STU-001").unwrap();
    let removal = env
        .removals()
        .remove_enrolment(&t(), &c(), &off(), &sam, now())
        .await
        .unwrap();
    let Removal::NotRemoved {
        run: failed,
        reason,
    } = removal
    else {
        panic!("{removal:?}")
    };
    assert!(reason.contains("results could not be read"), "{reason}");
    assert!(env.enrolled_in_course_2(4), "nothing was unenrolled");
    let transfer = env.transfer("STU-001").unwrap();
    assert_eq!(transfer.status, TransferStatus::Transferred);
    assert_eq!(transfer.removal_error.as_deref(), Some(reason.as_str()));
    let recorded = env.runs.run(&t(), &c(), &failed).await.unwrap().unwrap();
    assert_eq!(recorded.status, RunStatus::FinishedWithError);
    let lines = env.runs.log(&t(), &c(), &failed).await.unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.level == LogLevel::Error && l.message.contains("Nothing was unenrolled")),
        "{lines:?}"
    );
    // The next export queues it again.
    env.push()
        .export(&t(), &c(), &run("r2"), Trigger::Nightly, None, now())
        .await
        .unwrap();
    let jobs = env.queue.sent.lock().unwrap().clone();
    assert!(
        jobs.iter()
            .any(|j| matches!(j, Job::RemoveEnrolment { learner, .. } if learner == &sam)),
        "{jobs:?}"
    );
}

#[tokio::test]
async fn a_refused_token_fails_the_job_permanently_and_is_recorded() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("X1", "Ana", "Ruiz", Some("ana@example.com"))
        .await;
    env.sim.with_state(|s| s.tokens.clear());
    let report = env
        .push()
        .push_job(&t(), &c(), &off(), &run("r1"), Trigger::Manual, now())
        .await
        .unwrap();
    assert_eq!(report.enrolled, 0);
    let run = env.runs.run(&t(), &c(), &run("r1")).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::FinishedWithError);
    let lines = env.runs.log(&t(), &c(), &run.id).await.unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.level == LogLevel::Error && l.message.contains("token")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_disabled_connection_is_pushed_only_when_a_person_runs_it() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))
        .await;
    // Disabled after tonight's run was queued.
    env.connections.0.lock().unwrap()[0].enabled = false;
    env.sim.clear_calls();
    env.push()
        .export(&t(), &c(), &run("n1"), Trigger::Nightly, None, now())
        .await
        .unwrap();
    assert!(env.sim.calls().is_empty(), "{:?}", env.sim.calls());
    assert!(
        env.log("n1")
            .await
            .contains(&"Nothing was pushed: the connection is disabled.".to_owned())
    );
    assert!(env.moodle_user("ana.ruiz@example.com").is_none());
    // Its import finishes it (and gives the connection's lease back).
    crate::jobs::Pipeline {
        connections: &env.connections,
        runs: &env.runs,
        queue: &env.queue,
        mailer: &env.mailer,
        tenants: &env.tenants,
    }
    .import(&t(), &c(), &run("n1"), now())
    .await
    .unwrap();
    // A person runs it by hand: it is pushed (SM-11).
    env.push()
        .export(&t(), &c(), &run("m1"), Trigger::Manual, None, now())
        .await
        .unwrap();
    assert!(env.moodle_user("ana.ruiz@example.com").is_some());
}

#[tokio::test]
async fn look_ups_go_side_by_side_within_max_concurrency() {
    use domain::connection::MatchField;
    // Batches of 2 and 3 calls at once: 12 learners are 6 idnumber look-ups,
    // and, matched on first and last name, 12 name searches.
    for fields in [vec![], vec![MatchField::Firstname, MatchField::Lastname]] {
        let env = Env::new(MoodleSettings {
            batch_size: 2,
            max_concurrency: 3,
            match_fields: fields.clone(),
            ..MoodleSettings::default()
        })
        .await;
        env.link().await;
        for i in 0..12 {
            // No email: nothing but the idnumber (and name) look-ups is asked.
            env.learner(&format!("L{i:03}"), "Look", &format!("Up{i}"), None)
                .await;
        }
        env.sim.set_switches(simulators::moodle::Switches {
            latency: std::time::Duration::from_millis(50),
            ..simulators::moodle::Switches::default()
        });
        env.sim.clear_calls();
        env.sim.reset_max_in_flight();
        env.push().preview(&t(), &c(), &off()).await.unwrap();
        assert_eq!(
            env.sim.call_count("core_user_get_users_by_field"),
            6,
            "{fields:?}"
        );
        let searches = env.sim.call_count("core_user_get_users");
        assert_eq!(searches, if fields.is_empty() { 0 } else { 12 });
        assert_eq!(
            env.sim.max_in_flight(),
            3,
            "look-ups run side by side, never more than max_concurrency ({fields:?})"
        );
    }
}

/// The real gateway, but Moodle never answers the email search for one
/// address (as when every try of that one call met an HTTP 503 or a hang).
struct SearchNeverAnswered {
    inner: MoodleGateways,
    email: &'static str,
}

#[async_trait]
impl LearningSystems for SearchNeverAnswered {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<Arc<dyn LearningSystem>, domain::learning::LearningError> {
        Ok(Arc::new(EmailSearchFails {
            inner: LearningSystems::for_connection(&self.inner, connection).await?,
            email: self.email,
        }))
    }
}

struct EmailSearchFails {
    inner: Arc<dyn LearningSystem>,
    email: &'static str,
}

#[async_trait]
impl LearningSystem for EmailSearchFails {
    fn site_url(&self) -> &str {
        self.inner.site_url()
    }
    async fn users_by(
        &self,
        field: domain::learning::UserLookup,
        values: &[String],
    ) -> Result<Vec<domain::learning::LmsUser>, domain::learning::LearningError> {
        if field == domain::learning::UserLookup::Email && values.iter().any(|v| v == self.email) {
            return Err(domain::learning::LearningError::Unavailable(
                "Moodle answered HTTP 503 (4 tries)".into(),
            ));
        }
        self.inner.users_by(field, values).await
    }
    async fn users_named(
        &self,
        firstname: &str,
        lastname: &str,
    ) -> Result<Vec<domain::learning::LmsUser>, domain::learning::LearningError> {
        self.inner.users_named(firstname, lastname).await
    }
    async fn create_users(
        &self,
        users: &[domain::learning::NewLmsUser],
    ) -> domain::learning::RecordOutcomes<i64> {
        self.inner.create_users(users).await
    }
    async fn update_users(
        &self,
        changes: &[domain::learning::UserChanges],
    ) -> domain::learning::RecordOutcomes<()> {
        self.inner.update_users(changes).await
    }
    async fn enrolled_users(
        &self,
        course: i64,
    ) -> Result<Vec<i64>, domain::learning::LearningError> {
        self.inner.enrolled_users(course).await
    }
    async fn enrol(
        &self,
        enrolments: &[domain::learning::CourseEnrolment],
    ) -> domain::learning::RecordOutcomes<()> {
        self.inner.enrol(enrolments).await
    }
    async fn unenrol(&self, course: i64, user: i64) -> Result<(), domain::learning::RecordFailure> {
        self.inner.unenrol(course, user).await
    }
    async fn suspend_enrolment(
        &self,
        e: &domain::learning::CourseEnrolment,
    ) -> Result<(), domain::learning::RecordFailure> {
        self.inner.suspend_enrolment(e).await
    }
    async fn course_by_idnumber(
        &self,
        idnumber: &str,
    ) -> Result<Option<domain::learning::LmsCourse>, domain::learning::LearningError> {
        self.inner.course_by_idnumber(idnumber).await
    }
    async fn course(
        &self,
        id: i64,
    ) -> Result<Option<domain::learning::LmsCourse>, domain::learning::LearningError> {
        self.inner.course(id).await
    }
    async fn create_course(
        &self,
        course: &domain::learning::NewLmsCourse,
    ) -> Result<domain::learning::LmsCourse, domain::learning::RecordFailure> {
        self.inner.create_course(course).await
    }
    async fn update_course(
        &self,
        schedule: &domain::learning::CourseSchedule,
    ) -> Result<(), domain::learning::RecordFailure> {
        self.inner.update_course(schedule).await
    }
    async fn categories(
        &self,
    ) -> Result<Vec<domain::learning::LmsCategory>, domain::learning::LearningError> {
        self.inner.categories().await
    }
    async fn learner_progress(
        &self,
        course: i64,
        user: i64,
    ) -> Result<domain::learning::LearnerProgress, domain::learning::LearningError> {
        self.inner.learner_progress(course, user).await
    }
    async fn test(&self) -> Result<domain::learning::SiteReport, domain::learning::LearningError> {
        self.inner.test().await
    }
}

#[tokio::test]
async fn a_search_moodle_never_answers_leaves_only_its_learner_ready_for_the_next_run() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("A1", "Ana", "Ruiz", Some("ana@example.com"))
        .await;
    env.learner("B2", "Bo", "Lee", Some("bo@example.com")).await;
    env.learner("C3", "Cy", "Park", Some("cy@example.com"))
        .await;
    let flaky = SearchNeverAnswered {
        inner: MoodleGateways::new(Arc::new(Token), "lb/connections")
            .with_egress(connectors::egress::Egress::AllowInternal),
        email: "bo@example.com",
    };
    let push = Push {
        learning: &flaky,
        ..env.push()
    };

    push.export(&t(), &c(), &run("n1"), Trigger::Nightly, None, now())
        .await
        .expect("the export finishes: one learner's search does not fail it");
    // The others are created, enrolled and called.
    for (code, email) in [("A1", "ana@example.com"), ("C3", "cy@example.com")] {
        let user = env.moodle_user(email).expect("created");
        assert!(env.enrolled_in_course_2(user.id), "{code}");
        assert_eq!(env.account(code), Some(user.id));
        assert_eq!(
            env.transfer(code).unwrap().status,
            TransferStatus::Transferred
        );
    }
    // Bo: nothing decided, nothing created; still ready, and the run says why.
    assert!(env.moodle_user("bo@example.com").is_none());
    assert_eq!(env.account("B2"), None);
    assert_eq!(env.transfer("B2"), None);
    let preview = env.push().preview(&t(), &c(), &off()).await.unwrap();
    assert!(preview.contains(&PreviewRow {
        learner: LearnerCode::parse("B2").unwrap(),
        status: TransferStatus::Ready,
    }));
    let lines = env.runs.log(&t(), &c(), &run("n1")).await.unwrap();
    let warning = lines
        .iter()
        .find(|l| l.level == LogLevel::Warning && l.message.contains("(B2)"))
        .unwrap_or_else(|| panic!("a warning names Bo: {lines:?}"));
    assert!(
        warning.message.contains("Bo Lee")
            && warning.message.contains("HTTP 503")
            && warning.message.contains("next run"),
        "{}",
        warning.message
    );
    let stored = env.runs.run(&t(), &c(), &run("n1")).await.unwrap().unwrap();
    assert_eq!(
        stored.counts.get("users_created"),
        Some(&2),
        "{:?}",
        stored.counts
    );

    // The next run, Moodle answering, pushes Bo once.
    let again = env
        .push()
        .push_offering(&t(), &c(), &off(), &run("n2"), true, now())
        .await
        .unwrap();
    assert_eq!(
        (again.created, again.enrolled, again.unavailable),
        (1, 1, 0)
    );
    let bo = env.moodle_user("bo@example.com").expect("Bo is created");
    assert!(env.enrolled_in_course_2(bo.id));
    assert_eq!(
        env.transfer("B2").unwrap().status,
        TransferStatus::Transferred
    );
}
