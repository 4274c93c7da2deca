//! The results download's reads (`GradeSource` of `MoodleGateway`) over HTTP
//! against the Moodle simulator: participants with username, idnumber and last
//! course access in one `core_enrol_get_enrolled_users` call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use connectors::egress::Egress;
use connectors::moodle_gateway::MoodleGateways;
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::ports::{GradeSource, SecretError, SecretSource};
use domain::{Connection, ConnectionId, TenantId};
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};
use std::sync::Arc;

struct Token;

#[async_trait]
impl SecretSource for Token {
    async fn secret(&self, _: &str) -> Result<secrecy::SecretString, SecretError> {
        Ok(secrecy::SecretString::from(SAMPLE_TOKEN))
    }
}

#[tokio::test]
async fn participants_come_with_idnumber_username_and_last_course_access_in_one_call() {
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let connection = Connection {
        tenant: TenantId::parse("acme").unwrap(),
        id: ConnectionId::parse("moodle").unwrap(),
        name: "Moodle".into(),
        base_url: server.base_url.clone(),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Moodle(MoodleSettings::default()),
    };
    let gateway = MoodleGateways::new(Arc::new(Token), "test")
        .with_egress(Egress::AllowInternal)
        .gateway(&connection)
        .await
        .unwrap();
    sim.access_course(4, 2, 1_800_000_000);
    sim.access_course(4, 2, 1_700_000_000); // an older access never moves it back
    sim.clear_calls();
    let participants = gateway.participants(2).await.unwrap();
    assert_eq!(sim.calls().len(), 1, "one call per course");
    let call = &sim.calls()[0];
    assert_eq!(call.function, "core_enrol_get_enrolled_users");
    assert_eq!(call.param("options[0][name]"), Some("userfields"));
    assert_eq!(
        call.param("options[0][value]"),
        Some("id,username,idnumber,lastcourseaccess")
    );
    let four = participants.iter().find(|p| p.user == 4).unwrap();
    assert_eq!(
        (four.username.as_str(), four.idnumber.as_str()),
        ("occ.student1", "STU-001")
    );
    assert_eq!(four.last_access.map(|t| t.timestamp()), Some(1_800_000_000));
    let five = participants.iter().find(|p| p.user == 5).unwrap();
    assert_eq!(five.last_access, None, "never accessed: no time");
}

/// A secret source whose value a test changes (a rotation through the API).
struct Rotating(std::sync::Mutex<String>);

#[async_trait]
impl SecretSource for Rotating {
    async fn secret(&self, _: &str) -> Result<secrecy::SecretString, SecretError> {
        Ok(secrecy::SecretString::from(self.0.lock().unwrap().clone()))
    }
}

#[tokio::test]
async fn a_rotated_token_builds_a_new_gateway() {
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let connection = Connection {
        tenant: TenantId::parse("acme").unwrap(),
        id: ConnectionId::parse("moodle").unwrap(),
        name: "Moodle".into(),
        base_url: server.base_url.clone(),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Moodle(MoodleSettings::default()),
    };
    let source = Arc::new(Rotating(std::sync::Mutex::new(SAMPLE_TOKEN.to_owned())));
    let gateways = MoodleGateways::new(source.clone(), "test").with_egress(Egress::AllowInternal);
    let first = gateways.gateway(&connection).await.unwrap();
    assert!(first.participants(2).await.is_ok());
    let same = gateways.gateway(&connection).await.unwrap();
    assert!(Arc::ptr_eq(&first, &same), "unchanged: the cached gateway");

    *source.0.lock().unwrap() = "revoked-0000000000000000000000".into();
    let rotated = gateways.gateway(&connection).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &rotated), "a new token, a new gateway");
    assert!(
        rotated.participants(2).await.is_err(),
        "it uses the new token"
    );
    *source.0.lock().unwrap() = SAMPLE_TOKEN.to_owned();
    assert!(
        gateways
            .gateway(&connection)
            .await
            .unwrap()
            .participants(2)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_course_without_completion_criteria_reads_as_no_criteria_not_as_a_failure() {
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let connection = Connection {
        tenant: TenantId::parse("acme").unwrap(),
        id: ConnectionId::parse("moodle").unwrap(),
        name: "Moodle".into(),
        base_url: server.base_url.clone(),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Moodle(MoodleSettings::default()),
    };
    let gateway = MoodleGateways::new(Arc::new(Token), "test")
        .with_egress(Egress::AllowInternal)
        .gateway(&connection)
        .await
        .unwrap();
    let with = gateway.course_completion(2, 4).await.unwrap();
    assert!(!with.criteria.is_empty(), "the sample course has criteria");
    sim.with_state(|f| {
        for c in f.courses.iter_mut().filter(|c| c.id == 2) {
            c.completion_criteria.clear();
        }
    });
    sim.clear_calls();
    // Moodle answers `nocriteriaset`; the read is "not complete, no criteria".
    let without = gateway.course_completion(2, 4).await.unwrap();
    assert_eq!(
        sim.call_count("core_completion_get_course_completion_status"),
        1
    );
    assert!(!without.completed && without.criteria.is_empty());
    // Any other refusal is still an error (a user not enrolled).
    assert!(gateway.course_completion(2, 999).await.is_err());
}

/// The unenrol samples: after a removal Moodle answers `usernotenroled` for
/// the user's course completion (it tracks completion only for active
/// enrolments); the grade source reads that as "untracked", not a failure, and
/// the user's grades are gone from the grade report.
#[tokio::test]
async fn a_learner_no_longer_enrolled_has_no_completion_and_no_grades() {
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let connection = Connection {
        tenant: TenantId::parse("acme").unwrap(),
        id: ConnectionId::parse("moodle").unwrap(),
        name: "Moodle".into(),
        base_url: server.base_url.clone(),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Moodle(MoodleSettings::default()),
    };
    let gateway = MoodleGateways::new(Arc::new(Token), "test")
        .with_egress(Egress::AllowInternal)
        .gateway(&connection)
        .await
        .unwrap();
    let graded = |grades: &[domain::results::LearnerGrades]| {
        grades
            .iter()
            .any(|g| g.user == 4 && g.items.iter().any(|i| i.grade.is_some()))
    };
    let before = gateway.course_completion(2, 4).await.unwrap();
    assert!(!before.untracked);
    assert!(graded(&gateway.course_grades(2).await.unwrap()));
    gateway.unenrol(2, 4).await.unwrap();
    let after = gateway.course_completion(2, 4).await.unwrap();
    assert!(after.untracked, "{after:?}");
    assert!(!after.completed);
    assert!(
        !graded(&gateway.course_grades(2).await.unwrap()),
        "Moodle deleted the grades"
    );
}
