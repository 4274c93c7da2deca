//! One source of truth for the functions a Moodle site must allow: every port
//! call the gateway makes is run against the Moodle simulator, and the web
//! service functions it really sent must be the ones it declares
//! ([`PortCall::functions`]), which the features' required lists are computed
//! from. docs/api.md and docs/features.md list exactly those.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed expectation is a failed test

use connectors::egress::Egress;
use connectors::moodle::functions::FALLBACKS;
use connectors::moodle::{
    Feature, MoodleAuth, MoodleClient, MoodleConfig, OPTIONAL_FUNCTIONS, PortCall, RetryPolicy,
    WsFunction, functions_table, required_functions,
};
use connectors::moodle_gateway::MoodleGateway;
use domain::learning::{
    CourseEnrolment, CourseSchedule, NewLmsCourse, NewLmsUser, NewUserPassword, UserChanges,
    UserLookup,
};
use domain::ports::{GradeSource, LearningSystem};
use secrecy::SecretString;
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};
use std::collections::BTreeSet;

/// Only the functions sent count here, not what Moodle answered.
fn ignore<T>(_answer: T) {}

fn gateway(base_url: &str) -> MoodleGateway {
    let mut config = MoodleConfig::new(base_url).with_egress(Egress::AllowInternal);
    config.retry = RetryPolicy::none();
    let client =
        MoodleClient::new(config, MoodleAuth::Token(SecretString::from(SAMPLE_TOKEN))).unwrap();
    MoodleGateway::new(client, base_url)
}

/// Makes `call` through a fresh gateway (results ignored: a refusal still
/// shows which functions were sent) and returns the functions it sent.
async fn sent(base_url: &str, call: PortCall) -> BTreeSet<&'static str> {
    let g = gateway(base_url);
    let user = |username: &str| NewLmsUser {
        username: username.into(),
        idnumber: "GW-1".into(),
        firstname: "Gate".into(),
        middlename: None,
        lastname: "Way".into(),
        email: format!("{username}@example.com"),
        password: NewUserPassword::MoodleCreates,
    };
    let enrolment = CourseEnrolment {
        course: 2,
        user: 6,
        role: 5,
        start: None,
    };
    // Every call, by name: a new PortCall fails to compile here until it is run.
    match call {
        PortCall::Test => ignore(g.test().await),
        PortCall::UsersBy => {
            for field in [
                UserLookup::Id,
                UserLookup::Idnumber,
                UserLookup::Username,
                UserLookup::Email,
            ] {
                ignore(g.users_by(field, &["STUDENT1@example.com".into()]).await);
            }
        }
        PortCall::UsersNamed => ignore(g.users_named("Sam", "Passer").await),
        PortCall::CreateUsers => ignore(g.create_users(&[user("gw.new"), user("student1")]).await),
        PortCall::UpdateUsers => ignore(
            g.update_users(&[
                UserChanges {
                    id: 6,
                    email: Some("STUDENT1@example.com".into()),
                    ..UserChanges::default()
                },
                UserChanges {
                    id: 999_999,
                    firstname: Some("Gone".into()),
                    ..UserChanges::default()
                },
            ])
            .await,
        ),
        PortCall::EnrolledUsers => ignore(g.enrolled_users(2).await),
        PortCall::Enrol => ignore(g.enrol(std::slice::from_ref(&enrolment)).await),
        PortCall::Unenrol => {
            ignore(LearningSystem::unenrol(&g, 2, 6).await);
            ignore(GradeSource::unenrol(&g, 2, 6).await);
        }
        PortCall::SuspendEnrolment => ignore(g.suspend_enrolment(&enrolment).await),
        PortCall::CourseByIdnumber => ignore(g.course_by_idnumber("OCC-1001").await),
        PortCall::Course => ignore(g.course(2).await),
        PortCall::CreateCourse => ignore(
            g.create_course(&NewLmsCourse {
                shortname: "GW-1".into(),
                fullname: "Gateway".into(),
                idnumber: "GW-1".into(),
                category: 2,
                start: None,
                end: None,
                visible: true,
            })
            .await,
        ),
        PortCall::UpdateCourse => ignore(
            g.update_course(&CourseSchedule {
                course: 2,
                start: None,
                end: None,
                visible: true,
            })
            .await,
        ),
        PortCall::Categories => ignore(g.categories().await),
        PortCall::LearnerProgress => ignore(g.learner_progress(2, 4).await),
        PortCall::CourseActivities => ignore(g.course_activities(2).await),
        PortCall::CourseGrades => ignore(g.course_grades(2).await),
        PortCall::PassGrade => ignore(g.pass_grade(1).await),
        PortCall::ActivitiesCompletion => ignore(g.activities_completion(2, 4).await),
        PortCall::CourseCompletion => ignore(g.course_completion(2, 4).await),
        PortCall::Participants => ignore(g.participants(2).await),
    }
    g.client().call_counts().into_keys().collect()
}

#[tokio::test]
async fn every_port_call_sends_only_the_functions_it_declares() {
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    for call in PortCall::ALL {
        let declared: Vec<&str> = call.functions().iter().map(|f| f.name()).collect();
        let sent = sent(&server.base_url, call).await;
        assert!(!sent.is_empty(), "{call:?} sent nothing");
        for function in &sent {
            let stands_in = FALLBACKS
                .iter()
                .any(|(needed, instead)| instead == function && declared.contains(needed));
            let optional = call == PortCall::Test
                && OPTIONAL_FUNCTIONS.iter().any(|(name, _)| name == function);
            assert!(
                declared.contains(function) || stands_in || optional,
                "{call:?} sent {function}, which it does not declare ({declared:?}); declare it in PortCall::functions"
            );
        }
    }
}

#[test]
fn the_required_list_holds_every_function_a_feature_calls_and_no_other() {
    let all = required_functions(&Feature::ALL);
    let called: BTreeSet<&str> = Feature::ALL
        .iter()
        .flat_map(|f| f.calls())
        .flat_map(|c| c.functions())
        .map(|f| f.name())
        .collect();
    assert_eq!(all.iter().copied().collect::<BTreeSet<_>>(), called);
    // Every look-up by id, idnumber or username: it was missing once, so a
    // test said ok and every push failed.
    assert!(all.contains(&WsFunction::GetUsersByField.name()));
    assert!(!all.contains(&"tool_mobile_get_config"), "optional");
}

/// The text between `<!-- moodle-functions:begin -->` and `<!-- moodle-functions:end -->`.
fn generated_block(doc: &str) -> &str {
    let begin = "<!-- moodle-functions:begin -->\n";
    let start = doc.find(begin).expect("the begin marker") + begin.len();
    let end = doc[start..]
        .find("<!-- moodle-functions:end -->")
        .expect("the end marker");
    &doc[start..start + end]
}

#[test]
fn docs_list_the_functions_from_the_same_source() {
    let api = include_str!("../../../docs/api.md");
    assert_eq!(
        generated_block(api),
        functions_table(),
        "docs/api.md's function table is not the computed one; replace it with:\n{}",
        functions_table()
    );
    let features = include_str!("../../../docs/features.md");
    let row = features
        .lines()
        .find(|l| l.starts_with("| VM-04 |"))
        .expect("the VM-04 row");
    let listed: BTreeSet<&str> = row
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| WsFunction::ALL.iter().any(|f| f.name() == *w))
        .filter(|w| !FALLBACKS.iter().any(|(_, instead)| instead == w))
        .filter(|w| !OPTIONAL_FUNCTIONS.iter().any(|(name, _)| name == w))
        .collect();
    let required: BTreeSet<&str> = required_functions(&Feature::ALL).into_iter().collect();
    assert_eq!(
        listed, required,
        "docs/features.md VM-04 lists other functions"
    );
    for (name, _) in OPTIONAL_FUNCTIONS {
        assert!(row.contains(name), "VM-04 names {name} as optional");
    }
}
