#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every enrolment-push job kind from events/ through the handler, over moto and
//! the Moodle simulator: pushed once, delivered twice, changed once.

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{NaiveDate, Utc};
use cloud::testing::{self, connection};
use domain::ConnectionKind::Moodle;
use domain::sis::*;
use domain::{ConnectionId, LearnerCode, OfferingId, RunId, RunStatus, TenantId};
use enrolment_push::{Config, Deps, handler};
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};

const PUSH: &str = include_str!("../../../events/enrolment-push/push-jobs.json");
const REMOVE: &str = include_str!("../../../events/enrolment-push/remove-enrolment.json");

#[tokio::test]
async fn every_push_job_kind_runs_once_however_often_it_is_delivered() {
    let config = testing::fresh_stack().await;
    let sdk = testing::sdk().await;
    let deps = Deps::from_aws(
        &Config::from_stack(&config).unwrap(),
        &testing::function_sdk(&sdk, &config, "enrolment-push").await,
    );
    let stores = cloud::Stores::new(&config, &sdk);
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let (t, c, o) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
        OfferingId::parse("OCC-1001").unwrap(),
    );
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = server.base_url.clone();
    deps.connections.save_connection(&conn).await.unwrap();
    stores
        .secrets
        .put(
            &conn.secret_name(&config.secret_prefix),
            &secrecy::SecretString::from(SAMPLE_TOKEN),
        )
        .await
        .unwrap();
    let now = Utc::now();
    deps.sis
        .save_offering(&Offering {
            tenant: t.clone(),
            id: o.clone(),
            name: "First aid".into(),
            start_date: NaiveDate::from_ymd_opt(2027, 2, 1),
            end_date: NaiveDate::from_ymd_opt(2027, 3, 31),
            status: OfferingStatus::Planned,
            auto_push: true,
            must_be_evaluated: false,
            assessables: vec![],
            updated_at: now,
        })
        .await
        .unwrap();
    let code = LearnerCode::parse("X1234567").unwrap();
    let mut ana = Learner {
        tenant: t.clone(),
        code: code.clone(),
        username: None,
        given_name: "Ana".into(),
        middle_name: None,
        family_name: "Ruiz".into(),
        email: Some("ana.ruiz@example.com".into()),
        date_of_birth: None,
        archived: false,
        email_opt_out: true,
        updated_at: now,
    };
    deps.sis.save_learner(&ana).await.unwrap();
    deps.sis
        .save_enrolment(&Enrolment {
            tenant: t.clone(),
            learner: code.clone(),
            offering: o.clone(),
            state: EnrolmentState::NotCalled,
            start_date: NaiveDate::from_ymd_opt(2027, 2, 1),
            session_date: None,
            updated_at: now,
        })
        .await
        .unwrap();
    deps.links
        .save_link(&CourseLink {
            tenant: t.clone(),
            offering: o.clone(),
            connection: c.clone(),
            course_id: 2,
            course_idnumber: Some("OCC-1001".into()),
            course_shortname: Some("OCC-1001".into()),
            linked_at: now,
        })
        .await
        .unwrap();
    // The learner's edit arrives with the push: archived in the SMS after enrolling.
    let event: SqsEvent = serde_json::from_str(PUSH).unwrap();
    let first = handler::handle(&deps, event.clone()).await;
    assert!(
        first.batch_item_failures.is_empty(),
        "{:?}",
        first.batch_item_failures
    );
    let after = sim.snapshot();
    let user = after
        .users
        .iter()
        .find(|u| u.idnumber == "X1234567")
        .expect("created");
    let account = deps.links.account(&t, &c, &code).await.unwrap().unwrap();
    assert_eq!(account.external_id, user.id);
    let transfer = deps
        .links
        .transfer(&t, &c, &o, &code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(transfer.status, TransferStatus::Transferred);
    let course = after.courses.iter().find(|c| c.id == 2).unwrap();
    assert_eq!(course.visible, 0, "a planned offering hides its course");
    let run = RunId::parse("0195a1b2-0000-7000-8000-000000000101").unwrap();
    let stored = deps.runs.run(&t, &c, &run).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::FinishedSuccessfully);
    let log: Vec<String> = deps
        .runs
        .log(&t, &c, &run)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert_eq!(
        log,
        [
            "User Ana Ruiz (X1234567) - registered in the system",
            "User Ana Ruiz (X1234567) - enrolment in the Moodle course"
        ]
    );

    // SQS delivers the batch again: nothing changes in Moodle, nothing is logged twice.
    let again = handler::handle(&deps, event).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(sim.snapshot().users, after.users);
    assert_eq!(sim.snapshot().user_enrolments, after.user_enrolments);
    assert_eq!(deps.runs.log(&t, &c, &run).await.unwrap().len(), 2);

    // Archived in the SMS: the Moodle user is suspended.
    ana.archived = true;
    deps.sis.save_learner(&ana).await.unwrap();
    let sync: SqsEvent = serde_json::from_str(PUSH).unwrap();
    handler::handle(&deps, sync).await;
    assert!(
        sim.snapshot()
            .users
            .iter()
            .any(|u| u.id == user.id && u.suspended)
    );

    // Moodle refuses a change (the new email is another user's): the refusal is
    // a run with its error in the connection's history, not only a trace.
    let taken = sim
        .snapshot()
        .users
        .iter()
        .find(|u| {
            u.id != user.id
                && u.email
                    .split_once('@')
                    .is_some_and(|(_, d)| d.contains('.'))
        })
        .map(|u| u.email.clone())
        .unwrap();
    ana.email = Some(taken);
    deps.sis.save_learner(&ana).await.unwrap();
    let sync: SqsEvent = serde_json::from_str(PUSH).unwrap();
    let handled = handler::handle(&deps, sync).await;
    assert!(
        handled.batch_item_failures.is_empty(),
        "a refusal is recorded, not retried"
    );
    let history = deps.runs.history(&t, &c, None, None, 50).await.unwrap();
    let incident = history
        .iter()
        .find(|r| r.trigger == domain::Trigger::Change)
        .expect("the refusal is in the history");
    assert_eq!(incident.status, RunStatus::FinishedWithError);
    assert_eq!(incident.counts.get("failures"), Some(&1));
    assert!(
        incident.finished_at > Some(incident.started_at),
        "it finished when the refusal was known, after its job began: {incident:?}"
    );
    let lines = deps.runs.log(&t, &c, &incident.id).await.unwrap();
    assert!(
        lines[0]
            .message
            .starts_with("Sending learner X1234567's changes to Moodle failed:"),
        "{lines:?}"
    );
    ana.email = Some("ana.ruiz@example.com".into());
    deps.sis.save_learner(&ana).await.unwrap();

    // Removal reads the grades first, then unenrols, twice delivered.
    sim.clear_calls();
    let before_removal = Utc::now();
    let remove: SqsEvent = serde_json::from_str(REMOVE).unwrap();
    assert!(
        handler::handle(&deps, remove.clone())
            .await
            .batch_item_failures
            .is_empty()
    );
    assert!(
        handler::handle(&deps, remove)
            .await
            .batch_item_failures
            .is_empty()
    );
    // The removal is a run of its own (trigger change) that says what it did.
    let history = deps.runs.history(&t, &c, None, None, 50).await.unwrap();
    let mut removal_lines = Vec::new();
    for r in history
        .iter()
        .filter(|r| r.trigger == domain::Trigger::Change)
    {
        removal_lines.extend(deps.runs.log(&t, &c, &r.id).await.unwrap());
    }
    let removal = history
        .iter()
        .find(|r| r.trigger == domain::Trigger::Change && r.started_at >= before_removal)
        .expect("the removal's run");
    assert!(
        removal.finished_at > Some(removal.started_at),
        "finished when the work was done: {removal:?}"
    );
    assert_eq!(removal.counts.get("unenrolled"), Some(&1), "{removal:?}");
    assert!(
        removal_lines
            .iter()
            .any(|l| l.message.contains("results read") && l.message.contains("unenrolled from")),
        "{removal_lines:?}"
    );
    let calls: Vec<String> = sim.calls().into_iter().map(|c| c.function).collect();
    let read = calls
        .iter()
        .position(|f| f == "gradereport_user_get_grade_items")
        .unwrap();
    let unenrol = calls
        .iter()
        .position(|f| f == "enrol_manual_unenrol_users")
        .unwrap();
    assert!(read < unenrol, "{calls:?}");
    let transfer = deps
        .links
        .transfer(&t, &c, &o, &code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(transfer.status, TransferStatus::Removed);
    assert!(transfer.updated_at >= before_removal, "{transfer:?}");
}
