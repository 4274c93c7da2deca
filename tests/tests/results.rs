//! Results fetch end to end: the local runner over moto and the Moodle
//! simulator. Grades are set in the simulator, the nightly run fires, the
//! queues drain: results are stored, approved automatically (review off) and
//! become deliveries to the SMS; the completed course completes the enrolment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, NaiveDate, Utc};
use cloud::testing::connection;
use domain::ConnectionKind::{Moodle, Sms};
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::delivery::{DeliveryKind, DeliveryState};
use domain::ports::{
    ApiKeyStore, ConnectionStore, DeliveryStore, LinkStore, ResultStore, RunStore, SisStore,
};
use domain::results::{MappedActivity, Mapping, ResultType, ReviewState};
use domain::sis::*;
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use secrecy::SecretString;
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};
use simulators::sms::SmsSim;

#[tokio::test]
async fn grades_in_moodle_become_approved_results_and_deliveries() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let (t, c, o, u1) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
        OfferingId::parse("OCC-1001").unwrap(),
        AssessableId::parse("U1").unwrap(),
    );
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = server.base_url.clone();
    conn.settings = ConnectionSettings::Moodle(MoodleSettings {
        review_before_saving: false,
        use_enrolment_start_date: true,
        course_completions: true,
        ..MoodleSettings::default()
    });
    stores.connections.save_connection(&conn).await.unwrap();
    stores
        .connections
        .save_connection(&connection("acme", "sms", Sms, true))
        .await
        .unwrap();
    stores
        .secrets
        .put(
            &conn.secret_name(&system.config.secret_prefix),
            &SecretString::from(SAMPLE_TOKEN),
        )
        .await
        .unwrap();
    let now = Utc::now();
    stores
        .sis
        .save_offering(&Offering {
            tenant: t.clone(),
            id: o.clone(),
            name: "Accounting".into(),
            start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![Assessable {
                id: u1.clone(),
                name: "Unit 1".into(),
                kind: AssessableKind::Unit,
                expected_start_date: None,
            }],
            updated_at: now,
        })
        .await
        .unwrap();
    // The seeded site's students 4, 5 and 6, already transferred.
    for (moodle_id, code) in [(4, "S4"), (5, "S5"), (6, "S6")] {
        let code = LearnerCode::parse(code).unwrap();
        stores
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
        stores
            .links
            .save_account(&ExternalAccount {
                tenant: t.clone(),
                connection: c.clone(),
                learner: code,
                external_id: moodle_id,
                created_by_us: false,
                linked_at: now,
            })
            .await
            .unwrap();
    }
    stores
        .links
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
    stores
        .results
        .save_mapping(&Mapping {
            tenant: t.clone(),
            offering: o.clone(),
            connection: c.clone(),
            assessable: u1.clone(),
            activities: vec![
                MappedActivity {
                    cmid: 1,
                    modname: "quiz".into(),
                },
                MappedActivity {
                    cmid: 2,
                    modname: "assign".into(),
                },
            ],
            updated_at: now,
        })
        .await
        .unwrap();
    // Student 6 passes the quiz today (the assignment is not graded yet).
    let graded = (now - Duration::hours(1)).timestamp();
    sim.set_grade(6, 1, Some(7.0), graded);
    sim.set_activity_completion(6, 1, 2, graded);

    system.fire_nightly(now).await.unwrap();
    system.drain().await.unwrap();

    let result = |code: &str| {
        let stores = &stores;
        let (t, o, u1) = (t.clone(), o.clone(), u1.clone());
        let code = LearnerCode::parse(code).unwrap();
        async move { stores.results.result(&t, &o, &code, &u1).await.unwrap() }
    };
    let s4 = result("S4").await.expect("student 4 has a result");
    assert_eq!(
        (s4.result, s4.state),
        (ResultType::Passed, ReviewState::Done)
    );
    assert!(s4.start_date.is_some() && s4.finish_date.is_some());
    let s5 = result("S5").await.expect("student 5 has a result");
    assert_eq!(
        (s5.result, s5.state),
        (ResultType::Failed, ReviewState::Done)
    );
    let s6 = result("S6").await.expect("student 6 has a result");
    assert_eq!(
        (s6.result, s6.state),
        (ResultType::Started, ReviewState::Done)
    );
    assert_eq!(s6.finish_date, None);

    let sms = ConnectionId::parse("sms").unwrap();
    let mut deliveries = Vec::new();
    for state in DeliveryState::ALL {
        deliveries.extend(
            stores
                .deliveries
                .by_state(&t, &sms, state, 100)
                .await
                .unwrap(),
        );
    }
    let results: Vec<_> = deliveries
        .iter()
        .filter(|d| d.kind == DeliveryKind::Result)
        .collect();
    assert_eq!(results.len(), 2, "S4 passed, S5 failed: {deliveries:?}");
    let started: Vec<_> = deliveries
        .iter()
        .filter(|d| d.kind == DeliveryKind::Started)
        .collect();
    assert_eq!(started.len(), 1, "S6 started: {deliveries:?}");
    assert_eq!(
        (
            &started[0].payload["grade"],
            &started[0].payload["grade_max"]
        ),
        (&serde_json::json!(7.0), &serde_json::json!(10.0)),
        "a raw grade with its maximum: the quiz's 7 out of 10"
    );
    assert!(
        results.iter().all(|d| d.payload["grade_max"].is_number()),
        "{results:?}"
    );
    let completions: Vec<_> = deliveries
        .iter()
        .filter(|d| d.kind == DeliveryKind::Completion)
        .collect();
    assert_eq!(completions.len(), 1, "student 4 completed the course");
    assert_eq!(completions[0].learner.as_str(), "S4");
    let s4_enrolment = stores
        .sis
        .enrolment(&t, &o, &LearnerCode::parse("S4").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s4_enrolment.state, EnrolmentState::Completed);

    let runs = stores.runs.runs_of(&t, &c, 10).await.unwrap();
    let log: Vec<String> = stores
        .runs
        .log(&t, &c, &runs[0].id)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert!(
        log.iter()
            .any(|l| l.starts_with("Results: 1 offerings, 3 learners, 3 read (changed), 3 ready")),
        "{log:?}"
    );
    let counts = &runs[0].counts;
    assert_eq!(counts.get("learners_read"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("results_ready"), Some(&3), "{counts:?}");

    // The next night: nothing changed in Moodle. Learners active within a day
    // before the watermark are read once more while their course completion
    // is read (Moodle's completion cron may mark it late); no delivery is added.
    system.fire_nightly(now + Duration::days(1)).await.unwrap();
    system.drain().await.unwrap();
    let mut again = 0;
    for state in DeliveryState::ALL {
        again += stores
            .deliveries
            .by_state(&t, &sms, state, 100)
            .await
            .unwrap()
            .len();
    }
    assert_eq!(again, deliveries.len());
    let runs = stores.runs.runs_of(&t, &c, 10).await.unwrap();
    let newest = runs.iter().max_by_key(|r| r.started_at).unwrap();
    let log: Vec<String> = stores
        .runs
        .log(&t, &c, &newest.id)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect();
    // S6 (graded an hour ago) is within the completion lag; S5 (graded in the
    // sample) too while the sample's grading time is less than a day old.
    let line = log
        .iter()
        .find(|l| l.starts_with("Results: 1 offerings, 3 learners, "))
        .unwrap_or_else(|| panic!("{log:?}"));
    assert!(
        line.starts_with("Results: 1 offerings, 3 learners, 1 read (changed), 0 ready, 0 in error, 0 saved, 0 completions")
            || line.starts_with("Results: 1 offerings, 3 learners, 2 read (changed), 0 ready, 0 in error, 0 saved, 0 completions"),
        "{line}"
    );
}

/// A person stops a download through the API's mark on the run: results-fetch
/// stops before reading anyone, says so on the run, and keeps the watermark so
/// the next download reads everything.
#[tokio::test]
async fn a_stopped_download_reads_nobody_and_says_so_on_the_run() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let (t, c, o) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
        OfferingId::parse("OCC-1001").unwrap(),
    );
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = server.base_url.clone();
    stores.connections.save_connection(&conn).await.unwrap();
    stores
        .secrets
        .put(
            &conn.secret_name(&system.config.secret_prefix),
            &SecretString::from(SAMPLE_TOKEN),
        )
        .await
        .unwrap();
    let now = Utc::now();
    stores
        .sis
        .save_offering(&Offering {
            tenant: t.clone(),
            id: o.clone(),
            name: "Accounting".into(),
            start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![],
            updated_at: now,
        })
        .await
        .unwrap();
    stores
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
    let run = domain::RunId::new_v7();
    stores
        .runs
        .start_run(&domain::Run::start(
            t.clone(),
            c.clone(),
            run.clone(),
            domain::Trigger::Manual,
            now,
        ))
        .await
        .unwrap();
    assert!(stores.runs.request_stop(&t, &c, &run).await.unwrap());
    let job = domain::Job::FetchResults {
        tenant: t.clone(),
        connection: c.clone(),
        run: run.clone(),
        offering: None,
    };
    assert!(
        domain::ports::JobQueue::enqueue(&stores.queue, &[job])
            .await
            .unwrap()
            .is_empty()
    );
    sim.clear_calls();
    system.drain().await.unwrap();

    let log: Vec<String> = stores
        .runs
        .log(&t, &c, &run)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert!(
        log.iter()
            .any(|l| l.starts_with("Results:") && l.ends_with("; stopped.")),
        "{log:?}"
    );
    assert_eq!(
        sim.call_count("gradereport_user_get_grade_items"),
        0,
        "nobody was read"
    );
}

/// An API key for the tenant, stored as the API stores them.
async fn api_key(system: &devstack::runner::LocalSystem, stores: &cloud::Stores) -> String {
    use secrecy::ExposeSecret;
    let pepper = stores
        .secrets
        .get(system.config.api_key_pepper_secret.as_deref().unwrap())
        .await
        .unwrap();
    let key = devstack::new_api_key();
    stores
        .api_keys
        .save_key(
            &app::auth::hash_api_key(pepper.expose_secret().as_bytes(), &key),
            &TenantId::parse("acme").unwrap(),
            "e2e",
            Utc::now(),
        )
        .await
        .unwrap();
    key
}

/// Smartosh with review: a learner enrolled in Moodle by hand is identified by
/// idnumber; their course completion waits in the review queue (they keep
/// Moodle) until a person processes it through the API; the next night reads
/// them and only then unenrols them. A learner who completes the course
/// without any grade changing is found from their course access.
#[tokio::test]
async fn smartosh_completions_wait_for_review_and_unenrol_only_after_processing() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let (t, c, o) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
        OfferingId::parse("OCC-1001").unwrap(),
    );
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = server.base_url.clone();
    conn.settings = ConnectionSettings::Moodle(MoodleSettings {
        review_before_saving: true,
        course_completions: true,
        unenrol_after_completion: true,
        ..MoodleSettings::default()
    });
    stores.connections.save_connection(&conn).await.unwrap();
    stores
        .connections
        .save_connection(&connection("acme", "sms", Sms, true))
        .await
        .unwrap();
    stores
        .secrets
        .put(
            &conn.secret_name(&system.config.secret_prefix),
            &SecretString::from(SAMPLE_TOKEN),
        )
        .await
        .unwrap();
    let now = Utc::now();
    stores
        .sis
        .save_offering(&Offering {
            tenant: t.clone(),
            id: o.clone(),
            name: "Safety".into(),
            start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: true,
            assessables: vec![],
            updated_at: now,
        })
        .await
        .unwrap();
    // STU-001 (Moodle user 4, complete in the sample) was enrolled in Moodle
    // by hand: no stored account. S6 (user 6) was exported.
    for code in ["STU-001", "S6"] {
        stores
            .sis
            .save_enrolment(&Enrolment {
                tenant: t.clone(),
                learner: LearnerCode::parse(code).unwrap(),
                offering: o.clone(),
                state: EnrolmentState::InProgress,
                start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
                session_date: None,
                updated_at: now,
            })
            .await
            .unwrap();
    }
    stores
        .links
        .save_account(&ExternalAccount {
            tenant: t.clone(),
            connection: c.clone(),
            learner: LearnerCode::parse("S6").unwrap(),
            external_id: 6,
            created_by_us: true,
            linked_at: now,
        })
        .await
        .unwrap();
    stores
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
    let enrolled = |user: i64| {
        sim.snapshot()
            .user_enrolments
            .iter()
            .any(|e| e.userid == user)
    };

    system.fire_nightly(now).await.unwrap();
    system.drain().await.unwrap();

    let stu1 = LearnerCode::parse("STU-001").unwrap();
    let account = stores.links.account(&t, &c, &stu1).await.unwrap();
    assert_eq!(
        account.map(|a| a.external_id),
        Some(4),
        "identified by idnumber and stored"
    );
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let http = reqwest::Client::new();
    let key = api_key(&system, &stores).await;
    let ready: serde_json::Value = http
        .get(format!("{api}/v1/connections/moodle-main/completions"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready.as_array().unwrap().len(), 1, "{ready}");
    assert_eq!(ready[0]["learner"], "STU-001");
    assert_eq!(ready[0]["state"], "ready");
    assert!(enrolled(4), "still in Moodle while the completion waits");
    let sms = ConnectionId::parse("sms").unwrap();
    let completions = || {
        let stores = &stores;
        let (t, sms) = (t.clone(), sms.clone());
        async move {
            let mut all = Vec::new();
            for state in DeliveryState::ALL {
                all.extend(
                    stores
                        .deliveries
                        .by_state(&t, &sms, state, 100)
                        .await
                        .unwrap()
                        .into_iter()
                        .filter(|d| d.kind == DeliveryKind::Completion),
                );
            }
            all
        }
    };
    assert!(completions().await.is_empty());

    // A person corrects the date, then processes everything ready.
    let date = (now - Duration::days(2)).date_naive();
    let adjusted = http
        .patch(format!("{api}/v1/offerings/OCC-1001/completions/STU-001"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"date": date}))
        .send()
        .await
        .unwrap();
    assert_eq!(adjusted.status().as_u16(), 200);
    let bad = http
        .patch(format!("{api}/v1/offerings/OCC-1001/completions/STU-001"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"date": "yesterday"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let processed: serde_json::Value = http
        .post(format!("{api}/v1/connections/moodle-main/results/process"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(processed["completions"], 1, "{processed}");
    let delivered = completions().await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        delivered[0].payload["attendance_date"],
        serde_json::json!(date)
    );
    let e = stores.sis.enrolment(&t, &o, &stu1).await.unwrap().unwrap();
    assert_eq!(e.state, EnrolmentState::Completed);
    assert!(enrolled(4), "the API does not unenrol");

    // Between the nights S6 opens the course and completes both activities
    // without a grade; Moodle's cron marks the course complete.
    let later = now + Duration::days(1);
    let done_at = (later - Duration::hours(2)).timestamp();
    sim.set_activity_completion(6, 1, 1, done_at);
    sim.set_activity_completion(6, 2, 1, done_at);
    sim.access_course(6, 2, done_at);
    sim.run_completion_cron();
    system.fire_nightly(later).await.unwrap();
    system.drain().await.unwrap();
    assert!(!enrolled(4), "unenrolled the night after processing");
    let s6 = stores
        .results
        .completion(&t, &o, &LearnerCode::parse("S6").unwrap())
        .await
        .unwrap()
        .expect("S6's completion found without a grade change");
    assert_eq!(s6.state, ReviewState::Ready);
    assert!(enrolled(6), "S6 keeps Moodle until processed");
}

/// The setup the tests below share: the sample site's course 2 linked to
/// OCC-1001 with unit U1 mapped to the quiz (cmid 1) and the assignment
/// (cmid 2), students 4, 5 and 6 enrolled and transferred (S4, S5, S6).
async fn graded_course(
    system: &devstack::runner::LocalSystem,
    base_url: &str,
    review: bool,
) -> (SmsSim, simulators::server::RunningServer) {
    let stores = system.stores();
    let (t, c, o) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
        OfferingId::parse("OCC-1001").unwrap(),
    );
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = base_url.to_owned();
    conn.settings = ConnectionSettings::Moodle(MoodleSettings {
        review_before_saving: review,
        use_enrolment_start_date: true,
        ..MoodleSettings::default()
    });
    stores.connections.save_connection(&conn).await.unwrap();
    // The SMS: its simulator accepts every signed delivery.
    let sms_sim = SmsSim::new("sms-secret");
    let sms_server = sms_sim.start().await.unwrap();
    let mut sms = connection("acme", "sms", Sms, true);
    sms.base_url = format!("{}/results", sms_server.base_url);
    stores.connections.save_connection(&sms).await.unwrap();
    for (secret, value) in [(&conn, SAMPLE_TOKEN), (&sms, "sms-secret")] {
        stores
            .secrets
            .put(
                &secret.secret_name(&system.config.secret_prefix),
                &SecretString::from(value),
            )
            .await
            .unwrap();
    }
    let now = Utc::now();
    stores
        .sis
        .save_offering(&Offering {
            tenant: t.clone(),
            id: o.clone(),
            name: "Accounting".into(),
            start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![Assessable {
                id: AssessableId::parse("U1").unwrap(),
                name: "Unit 1".into(),
                kind: AssessableKind::Unit,
                expected_start_date: None,
            }],
            updated_at: now,
        })
        .await
        .unwrap();
    for (moodle_id, code) in [(4, "S4"), (5, "S5"), (6, "S6")] {
        let code = LearnerCode::parse(code).unwrap();
        stores
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
        stores
            .links
            .save_account(&ExternalAccount {
                tenant: t.clone(),
                connection: c.clone(),
                learner: code.clone(),
                external_id: moodle_id,
                created_by_us: false,
                linked_at: now,
            })
            .await
            .unwrap();
        stores
            .links
            .save_transfer(&Transfer {
                tenant: t.clone(),
                connection: c.clone(),
                offering: o.clone(),
                learner: code,
                status: TransferStatus::Transferred,
                external_user: Some(moodle_id),
                transferred_at: Some(now),
                updated_at: now,
                removal_error: None,
            })
            .await
            .unwrap();
    }
    stores
        .links
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
    stores
        .results
        .save_mapping(&Mapping {
            tenant: t.clone(),
            offering: o.clone(),
            connection: c.clone(),
            assessable: AssessableId::parse("U1").unwrap(),
            activities: vec![
                MappedActivity {
                    cmid: 1,
                    modname: "quiz".into(),
                },
                MappedActivity {
                    cmid: 2,
                    modname: "assign".into(),
                },
            ],
            updated_at: now,
        })
        .await
        .unwrap();
    (sms_sim, sms_server)
}

/// Every delivery of the tenant's SMS connection, in any state.
async fn all_deliveries(stores: &cloud::Stores) -> Vec<domain::delivery::Delivery> {
    let (t, sms) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("sms").unwrap(),
    );
    let mut all = Vec::new();
    for state in DeliveryState::ALL {
        all.extend(
            stores
                .deliveries
                .by_state(&t, &sms, state, 100)
                .await
                .unwrap(),
        );
    }
    all
}

/// No grade is lost on removal: a learner graded in Moodle is withdrawn in
/// the SMS and removed through the API; the enrolment-push job reads them as
/// a download does (their result waits for review), and only then unenrols
/// them, which deletes their grades in Moodle. A removal whose read fails
/// removes nothing, says why on its run and transfer, and the next nightly
/// export tries it again.
#[tokio::test]
async fn a_learner_graded_then_removed_keeps_the_result_while_moodle_loses_the_grade() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let (_sms, _sms_server) = graded_course(&system, &server.base_url, true).await;
    let (t, c, o, u1) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
        OfferingId::parse("OCC-1001").unwrap(),
        AssessableId::parse("U1").unwrap(),
    );
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let http = reqwest::Client::new();
    let key = api_key(&system, &stores).await;
    let graded = |user: i64| {
        sim.snapshot()
            .grades
            .iter()
            .any(|g| g.userid == user && g.grade.is_some())
    };
    let enrolled = |user: i64| {
        sim.snapshot()
            .user_enrolments
            .iter()
            .any(|e| e.userid == user)
    };
    assert!(graded(4) && enrolled(4), "student 4 is graded in Moodle");
    // Course completions are read too (student 4 completed the course).
    let mut conn = stores
        .connections
        .connection(&t, &c)
        .await
        .unwrap()
        .unwrap();
    if let ConnectionSettings::Moodle(m) = &mut conn.settings {
        m.course_completions = true;
    }
    stores.connections.save_connection(&conn).await.unwrap();

    // The SMS withdraws S4, then a person removes the enrolment from Moodle.
    let withdrawn = http
        .patch(format!("{api}/v1/offerings/OCC-1001/enrolments/S4"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"state": "withdrawn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), 200);
    let removal = http
        .post(format!("{api}/v1/offerings/OCC-1001/enrolments/S4/removal"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"connection": "moodle-main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(removal.status(), 202);
    system.drain().await.unwrap();

    let s4 = LearnerCode::parse("S4").unwrap();
    let result = stores
        .results
        .result(&t, &o, &s4, &u1)
        .await
        .unwrap()
        .expect("the result read before the removal is kept");
    assert_eq!(
        (result.result, result.state),
        (ResultType::Passed, ReviewState::Ready),
        "in review"
    );
    // The course completion too, although S4 was withdrawn in the SMS first (a real
    // Moodle 4.3 showed it lost when a withdrawn learner's completion was not read).
    let completions = stores.results.completions(&t, &o).await.unwrap();
    assert!(
        completions.iter().any(|c| c.learner == s4),
        "S4's course completion is kept: {completions:?}"
    );
    assert!(!enrolled(4), "unenrolled");
    assert!(!graded(4), "and Moodle deleted the grades");
    let transfer = stores
        .links
        .transfer(&t, &c, &o, &s4)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(transfer.status, TransferStatus::Removed);

    // A person processes it: delivered to the SMS although Moodle lost it.
    let processed = http
        .post(format!("{api}/v1/offerings/OCC-1001/results/S4/U1/process"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(processed.status(), 200);
    assert!(
        all_deliveries(&stores)
            .await
            .iter()
            .any(|d| d.learner == s4 && d.kind == DeliveryKind::Result)
    );

    // S5's removal cannot read the grade report: nothing is removed.
    sim.with_state(|s| {
        for service in &mut s.services {
            service
                .functions
                .retain(|f| f != "gradereport_user_get_grade_items");
        }
    });
    let removal = http
        .post(format!("{api}/v1/offerings/OCC-1001/enrolments/S5/removal"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"connection": "moodle-main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(removal.status(), 202);
    system.drain().await.unwrap();
    assert!(enrolled(5) && graded(5), "nothing removed, nothing lost");
    let s5 = LearnerCode::parse("S5").unwrap();
    let transfer = stores
        .links
        .transfer(&t, &c, &o, &s5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(transfer.status, TransferStatus::Transferred);
    let why = transfer.removal_error.expect("the transfer says why");
    assert!(why.contains("results could not be read"), "{why}");
    let runs = stores.runs.runs_of(&t, &c, 10).await.unwrap();
    let failed = runs
        .iter()
        .find(|r| r.status == domain::RunStatus::FinishedWithError)
        .expect("a run finished with error");
    let log = stores.runs.log(&t, &c, &failed.id).await.unwrap();
    assert!(
        log.iter()
            .any(|l| l.message.contains("S5") && l.message.contains("Nothing was unenrolled")),
        "{log:?}"
    );

    // Moodle is fixed; the nightly run's export tries the removal again.
    let sample = MoodleSim::sample_site().snapshot();
    sim.with_state(|s| s.services = sample.services.clone());
    system.fire_nightly(Utc::now()).await.unwrap();
    system.drain().await.unwrap();
    assert!(!enrolled(5), "removed once its results were read");
    let kept = stores.results.result(&t, &o, &s5, &u1).await.unwrap();
    assert_eq!(
        kept.map(|r| r.result),
        Some(ResultType::Failed),
        "its result is kept"
    );
    let transfer = stores
        .links
        .transfer(&t, &c, &o, &s5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (transfer.status, transfer.removal_error),
        (TransferStatus::Removed, None)
    );
}

/// Results progress through the nightly download: a started result saved to
/// the SMS is followed by the pass, delivered too; a failed result saved is
/// the first result, and a retake's pass is recorded on it, never sent.
#[tokio::test]
async fn a_saved_started_is_followed_by_the_pass_and_a_saved_fail_keeps_its_first_grade() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let (sms, _sms_server) = graded_course(&system, &server.base_url, false).await;
    let (t, o, u1) = (
        TenantId::parse("acme").unwrap(),
        OfferingId::parse("OCC-1001").unwrap(),
        AssessableId::parse("U1").unwrap(),
    );
    let now = Utc::now();
    // Student 6 passes the quiz (the assignment is not graded yet): started.
    let graded = (now - Duration::hours(2)).timestamp();
    sim.set_grade(6, 1, Some(7.0), graded);
    system.fire_nightly(now).await.unwrap();
    system.drain().await.unwrap();
    let result = |code: &str| {
        let stores = &stores;
        let (t, o, u1) = (t.clone(), o.clone(), u1.clone());
        let code = LearnerCode::parse(code).unwrap();
        async move {
            stores
                .results
                .result(&t, &o, &code, &u1)
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(result("S6").await.result, ResultType::Started);
    let s5 = result("S5").await;
    assert_eq!(
        (s5.result, s5.state),
        (ResultType::Failed, ReviewState::Done)
    );
    let before = all_deliveries(&stores).await;
    assert!(
        before
            .iter()
            .filter(|d| d.learner.as_str() != "S4")
            .all(|d| d.state == DeliveryState::Delivered),
        "the SMS has S5's fail and S6's start: {before:?}"
    );
    let accepted = sms.accepted().len();

    // The next day S6's assignment is graded (a pass) and S5 retakes the
    // failed activity and passes.
    let later = (now + Duration::hours(20)).timestamp();
    sim.set_grade(6, 2, Some(90.0), later);
    sim.set_grade(5, 1, Some(10.0), later);
    sim.set_grade(5, 2, Some(100.0), later);
    system.fire_nightly(now + Duration::days(1)).await.unwrap();
    system.drain().await.unwrap();

    let s6 = result("S6").await;
    assert_eq!(
        (s6.result, s6.state),
        (ResultType::Passed, ReviewState::Done),
        "started is not completed: the pass is proposed and saved"
    );
    assert!(
        s6.history
            .iter()
            .any(|h| h.result == ResultType::Started && h.delivered)
    );
    let after = all_deliveries(&stores).await;
    let s6_final = after
        .iter()
        .find(|d| d.learner.as_str() == "S6" && d.kind == DeliveryKind::Result)
        .expect("the pass is a delivery of its own");
    assert_ne!(s6_final.state, DeliveryState::Superseded);
    let s5 = result("S5").await;
    assert_eq!(
        (s5.result, s5.state),
        (ResultType::Failed, ReviewState::Done),
        "the first final result stands"
    );
    let later = s5.later.expect("the retake is recorded on it");
    assert_eq!(later.result, ResultType::Passed);
    assert_eq!(
        after.iter().filter(|d| d.learner.as_str() == "S5").count(),
        before.iter().filter(|d| d.learner.as_str() == "S5").count(),
        "and never sent"
    );
    assert_eq!(
        sms.accepted().len(),
        accepted + 1,
        "the SMS received S6's pass, nothing for S5"
    );
}
