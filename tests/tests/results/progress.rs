//! Results progress: no grade lost on removal; a saved started followed by the pass.

use super::*;

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
    let (_sms, _sms_server) = tests::graded_course(&system, &server.base_url, true).await;
    let (t, c, o, u1) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
        OfferingId::parse("OCC-1001").unwrap(),
        AssessableId::parse("U1").unwrap(),
    );
    let api = tests::serve(system.api_router().await.unwrap()).await;
    let http = reqwest::Client::new();
    let key = tests::api_key(&system, &TenantId::parse("acme").unwrap()).await;
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
    let (sms, _sms_server) = tests::graded_course(&system, &server.base_url, false).await;
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
