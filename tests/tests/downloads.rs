//! What a results download (and a removal, and a nightly run) asks Moodle, end
//! to end: the local runner over moto and the Moodle simulator, driven through
//! the API as a person or the SMS drives it, counting the calls the simulator
//! answered.
//! - No call known to fail: a course without completion criteria is asked for
//!   one learner's course completion per run, not for every learner's.
//! - A download for one offering keeps its own watermark: run twice, it reads
//!   only what changed, and it and a download of every offering do not spoil
//!   each other's watermark.
//! - A removal of a learner Moodle no longer enrols enrols nobody.
//! - A nightly run of a connection nothing is linked through still says when
//!   Moodle refuses its token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, NaiveDate, Utc};
use devstack::runner::LocalSystem;
use domain::connection::MoodleSettings;
use domain::ports::{LinkStore, ResultStore, RunStore, SisStore};
use domain::results::{MappedActivity, Mapping};
use domain::sis::*;
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, RunStatus, TenantId};
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn conn_id() -> ConnectionId {
    ConnectionId::parse("moodle-main").unwrap()
}

/// An offering linked to Moodle course `course`, its unit U1 mapped to
/// `cmids`, and its learners (code, Moodle user) enrolled and transferred,
/// all of it `since` ago.
async fn linked_offering(
    system: &LocalSystem,
    offering: &str,
    course: i64,
    cmids: &[(i64, &str)],
    learners: &[(&str, i64)],
    at: DateTime<Utc>,
) {
    let stores = system.stores();
    let (t, c) = (tenant(), conn_id());
    let o = OfferingId::parse(offering).unwrap();
    stores
        .sis
        .save_offering(&Offering {
            tenant: t.clone(),
            id: o.clone(),
            name: format!("Offering {offering}"),
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
            updated_at: at,
        })
        .await
        .unwrap();
    for (code, user) in learners {
        let code = LearnerCode::parse(*code).unwrap();
        stores
            .sis
            .save_enrolment(&Enrolment {
                tenant: t.clone(),
                learner: code.clone(),
                offering: o.clone(),
                state: EnrolmentState::InProgress,
                start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
                session_date: None,
                updated_at: at,
            })
            .await
            .unwrap();
        stores
            .links
            .save_account(&ExternalAccount {
                tenant: t.clone(),
                connection: c.clone(),
                learner: code.clone(),
                external_id: *user,
                created_by_us: false,
                linked_at: at,
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
                external_user: Some(*user),
                transferred_at: Some(at),
                updated_at: at,
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
            course_id: course,
            course_idnumber: None,
            course_shortname: None,
            linked_at: at,
        })
        .await
        .unwrap();
    stores
        .results
        .save_mapping(&Mapping {
            tenant: t,
            offering: o,
            connection: c,
            assessable: AssessableId::parse("U1").unwrap(),
            activities: cmids
                .iter()
                .map(|(cmid, modname)| MappedActivity {
                    cmid: *cmid,
                    modname: (*modname).into(),
                })
                .collect(),
            updated_at: at,
        })
        .await
        .unwrap();
}

/// Starts a results download through the API (all linked offerings, or one),
/// runs the queues dry and returns the finished run as the API shows it.
async fn download(
    system: &LocalSystem,
    api: &str,
    key: &str,
    offering: Option<&str>,
) -> serde_json::Value {
    let http = reqwest::Client::new();
    let mut body = serde_json::json!({"stage": "import"});
    if let Some(o) = offering {
        body["offering"] = o.into();
    }
    let started = http
        .post(format!("{api}/v1/connections/moodle-main/runs"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    let started: serde_json::Value = started.json().await.unwrap();
    system.drain().await.unwrap();
    let run = http
        .get(format!("{api}{}", started["href"].as_str().unwrap()))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 200);
    run.json().await.unwrap()
}

fn count(run: &serde_json::Value, name: &str) -> u64 {
    run["counts"][name].as_u64().unwrap_or(0)
}

fn log_lines(run: &serde_json::Value) -> Vec<String> {
    run["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect()
}

/// The Sydney sample site's course 7 has completion on and no completion
/// criteria (Moodle answers `nocriteriaset`, recorded on a real Moodle 4.3).
/// Its four students are read in the first download, but course completion is
/// asked once: the first answer says the course has no criteria, for everyone;
/// the run warns once. The next run learns it again, once.
#[tokio::test]
async fn a_course_without_completion_criteria_is_asked_once_per_run() {
    let system = tests::local_system().await;
    let sim = MoodleSim::sample_site_sydney();
    let server = sim.start().await.unwrap();
    tests::moodle_main(
        &system,
        &server.base_url,
        SAMPLE_TOKEN,
        MoodleSettings {
            course_completions: true,
            ..MoodleSettings::default()
        },
    )
    .await;
    let learners = [("SMP1", 310), ("SMP2", 311), ("SMP3", 312), ("SMP4", 313)];
    let long_ago = Utc::now() - Duration::days(3);
    linked_offering(
        &system,
        "SMP-4001",
        7,
        &[(13, "assign")],
        &learners,
        long_ago,
    )
    .await;
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let key = tests::api_key(&system, &tenant()).await;

    sim.clear_calls();
    let run = download(&system, &api, &key, None).await;
    assert_eq!(count(&run, "learners_read"), 4, "{run}");
    assert_eq!(
        sim.call_count("core_completion_get_activities_completion_status"),
        4
    );
    assert_eq!(
        sim.call_count("core_completion_get_course_completion_status"),
        1,
        "no call known to fail: the course's criteria are learned once"
    );
    let log = log_lines(&run);
    let warned = log
        .iter()
        .filter(|l| l.contains("has no completion criteria in Moodle"))
        .count();
    assert_eq!(warned, 1, "{log:?}");
    assert!(
        !log.iter().any(|l| l.contains("could not be read")),
        "{log:?}"
    );
    assert_eq!(run["status"], "Finished with warnings", "{run}");
    assert_eq!(count(&run, "completions"), 0);

    // Two learners change; the next run asks once again, for the first of them.
    let now = Utc::now().timestamp();
    sim.set_grade(310, 13, Some(80.0), now);
    sim.set_grade(311, 13, Some(90.0), now);
    sim.clear_calls();
    let run = download(&system, &api, &key, None).await;
    assert_eq!(count(&run, "learners_read"), 2, "{run}");
    assert_eq!(
        sim.call_count("core_completion_get_course_completion_status"),
        1
    );
}

/// A download scoped to one offering keeps its own watermark: the second time
/// it reads only what changed since the first. Neither it nor a download of
/// every offering spoils the other's watermark: the scoped one leaves the
/// connection's alone (the other offering's change is still read by the next
/// download of all), and the download of all skips what the scoped one read.
#[tokio::test]
async fn a_download_for_one_offering_keeps_its_own_watermark() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    // Course completions off: with them on, a learner active within a day
    // before the watermark is read once more (Moodle's completion cron lags).
    tests::moodle_main(
        &system,
        &server.base_url,
        SAMPLE_TOKEN,
        MoodleSettings {
            course_completions: false,
            ..MoodleSettings::default()
        },
    )
    .await;
    // Two offerings in the sample course 2: A has students 4 and 5, B student 6.
    let three_hours_ago = Utc::now() - Duration::hours(3);
    let cmids = [(1, "quiz"), (2, "assign")];
    linked_offering(
        &system,
        "OFF-A",
        2,
        &cmids,
        &[("S4", 4), ("S5", 5)],
        three_hours_ago,
    )
    .await;
    linked_offering(&system, "OFF-B", 2, &cmids, &[("S6", 6)], three_hours_ago).await;
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let key = tests::api_key(&system, &tenant()).await;
    let reads = || sim.call_count("core_completion_get_activities_completion_status");

    // The first download of everything reads everyone.
    let first = download(&system, &api, &key, None).await;
    assert_eq!(count(&first, "learners_read"), 3, "{first}");
    // As if it ran an hour ago (a run's watermark is when it started, and
    // changes near it are read again for Moodle's clock's sake).
    let (t, c) = (tenant(), conn_id());
    let an_hour_ago = Utc::now() - Duration::hours(1);
    stores
        .results
        .save_progress(&t, &c, an_hour_ago, &[])
        .await
        .unwrap();

    // Half an hour ago S4 (offering A) and S6 (offering B) were graded again.
    let graded = (Utc::now() - Duration::minutes(30)).timestamp();
    sim.set_grade(4, 1, Some(9.0), graded);
    sim.set_grade(6, 2, Some(70.0), graded);

    // Offering A on its own: S4 changed.
    sim.clear_calls();
    let scoped = download(&system, &api, &key, Some("OFF-A")).await;
    assert_eq!(count(&scoped, "learners_read"), 1, "{scoped}");
    assert_eq!(reads(), 1);
    assert_eq!(
        stores.results.watermark(&t, &c).await.unwrap(),
        Some(an_hour_ago),
        "the connection's watermark is left alone"
    );
    // Again: nothing changed since, nobody is read.
    sim.clear_calls();
    let again = download(&system, &api, &key, Some("OFF-A")).await;
    assert_eq!(count(&again, "learners_read"), 0, "{again}");
    assert_eq!(reads(), 0, "the second scoped run reads only what changed");
    assert_eq!(again["status"], "Finished successfully", "{again}");

    // Everything: S6's change is still read (the scoped runs did not move the
    // connection's watermark); S4's is not read again (A's own watermark).
    sim.clear_calls();
    let all = download(&system, &api, &key, None).await;
    assert_eq!(count(&all, "learners_read"), 1, "{all}");
    assert_eq!(reads(), 1);
    let moved = stores.results.watermark(&t, &c).await.unwrap().unwrap();
    assert!(moved > an_hour_ago, "the download of all moved its own");

    // And after it, each offering on its own reads nobody: the later
    // download of all stands for both.
    for offering in ["OFF-A", "OFF-B"] {
        sim.clear_calls();
        let run = download(&system, &api, &key, Some(offering)).await;
        assert_eq!(count(&run, "learners_read"), 0, "{offering}: {run}");
        assert_eq!(reads(), 0, "{offering}");
    }

    // A new change in A is read by a scoped run of A, then by nobody.
    sim.set_grade(5, 1, Some(6.0), Utc::now().timestamp());
    let run = download(&system, &api, &key, Some("OFF-A")).await;
    assert_eq!(count(&run, "learners_read"), 1, "{run}");
    assert_eq!(
        stores.results.watermark(&t, &c).await.unwrap(),
        Some(moved),
        "still the download of all's"
    );
}

/// A person unenrolled a learner in Moodle by hand; the SMS then removes the
/// enrolment with the connection set to suspend rather than unenrol. Moodle's
/// participants say the learner has no enrolment there: nothing is called (a
/// suspension would create one, suspended, as a real Moodle 4.3 did), the
/// removal is done, and its run says so, with its finish time and counts.
#[tokio::test]
async fn a_removal_of_a_learner_moodle_no_longer_enrols_enrols_nobody() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    tests::moodle_main(
        &system,
        &server.base_url,
        SAMPLE_TOKEN,
        MoodleSettings {
            unenrol_on_removal: false,
            course_completions: true,
            ..MoodleSettings::default()
        },
    )
    .await;
    let before = Utc::now() - Duration::hours(3);
    linked_offering(
        &system,
        "OCC-1001",
        2,
        &[(1, "quiz"), (2, "assign")],
        &[("S4", 4), ("S5", 5)],
        before,
    )
    .await;
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let key = tests::api_key(&system, &tenant()).await;
    let enrolled = |user: i64| {
        sim.snapshot()
            .user_enrolments
            .iter()
            .any(|e| e.userid == user)
    };
    assert!(enrolled(5));
    sim.with_state(|s| s.user_enrolments.retain(|e| e.userid != 5));
    sim.clear_calls();

    let http = reqwest::Client::new();
    let removal = http
        .post(format!("{api}/v1/offerings/OCC-1001/enrolments/S5/removal"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"connection": "moodle-main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(removal.status(), 202);
    system.drain().await.unwrap();

    assert_eq!(
        sim.call_count("enrol_manual_enrol_users"),
        0,
        "nobody enrolled"
    );
    assert_eq!(sim.call_count("enrol_manual_unenrol_users"), 0);
    assert!(!enrolled(5), "Moodle holds no enrolment of S5");
    let (t, c) = (tenant(), conn_id());
    let s5 = LearnerCode::parse("S5").unwrap();
    let o = OfferingId::parse("OCC-1001").unwrap();
    let transfer = stores
        .links
        .transfer(&t, &c, &o, &s5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(transfer.status, TransferStatus::Removed);
    assert!(transfer.updated_at > before, "{transfer:?}");
    let runs = stores.runs.runs_of(&t, &c, 10).await.unwrap();
    let run = runs
        .iter()
        .find(|r| r.trigger == domain::Trigger::Change)
        .expect("the removal's run");
    assert_eq!(run.status, RunStatus::FinishedSuccessfully);
    assert!(run.finished_at > Some(run.started_at), "{run:?}");
    assert_eq!(run.counts.get("learners_read"), Some(&1), "{run:?}");
    assert_eq!(run.counts.get("suspended"), None, "{run:?}");
    assert_eq!(run.counts.get("unenrolled"), None, "{run:?}");
    let log = stores.runs.log(&t, &c, &run.id).await.unwrap();
    assert!(
        log.iter()
            .any(|l| l.message.contains("no enrolment of theirs in course 2")),
        "{log:?}"
    );

    // S4, still enrolled, is suspended as before (kept, not unenrolled).
    let removal = http
        .post(format!("{api}/v1/offerings/OCC-1001/enrolments/S4/removal"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"connection": "moodle-main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(removal.status(), 202);
    system.drain().await.unwrap();
    assert!(
        sim.snapshot()
            .user_enrolments
            .iter()
            .any(|e| e.userid == 4 && e.status == 1),
        "suspended"
    );
}

/// The nightly run of a Moodle connection nothing is linked through, whose
/// token Moodle refuses: the run finishes with error and says why (it used to
/// finish successfully without asking Moodle anything).
#[tokio::test]
async fn a_nightly_run_of_an_unlinked_connection_reports_a_refused_token() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    tests::moodle_main(
        &system,
        &server.base_url,
        "not-a-token-moodle-knows",
        MoodleSettings::default(),
    )
    .await;
    system.fire_nightly(Utc::now()).await.unwrap();
    system.drain().await.unwrap();
    let (t, c) = (tenant(), conn_id());
    let runs = stores.runs.runs_of(&t, &c, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, RunStatus::FinishedWithError, "{runs:?}");
    let log = stores.runs.log(&t, &c, &runs[0].id).await.unwrap();
    let refused = log
        .iter()
        .find(|l| l.level == domain::LogLevel::Error)
        .unwrap_or_else(|| panic!("{log:?}"));
    assert!(
        refused
            .message
            .contains("Moodle refused the connection check")
            && refused.message.to_lowercase().contains("token"),
        "{refused:?}"
    );
    assert!(!refused.message.contains("not-a-token-moodle-knows"));

    // Once Moodle knows the token (its service has every function the
    // sample's has), the run finishes successfully, having asked Moodle.
    let functions: Vec<String> = sim
        .snapshot()
        .services
        .iter()
        .flat_map(|s| s.functions.clone())
        .collect();
    let functions: Vec<&str> = functions.iter().map(String::as_str).collect();
    sim.add_token("not-a-token-moodle-knows", &functions);
    sim.clear_calls();
    system
        .fire_nightly(Utc::now() + Duration::days(1))
        .await
        .unwrap();
    system.drain().await.unwrap();
    assert_eq!(sim.call_count("core_webservice_get_site_info"), 1);
    let runs = stores.runs.runs_of(&t, &c, 10).await.unwrap();
    let newest = runs.iter().max_by_key(|r| r.started_at).unwrap();
    assert_eq!(newest.status, RunStatus::FinishedSuccessfully, "{runs:?}");
}
