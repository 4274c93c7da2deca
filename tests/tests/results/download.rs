//! A nightly download end to end, and a download stopped by a person.

use super::*;

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
    moodle_and_sms(
        &system,
        &server.base_url,
        MoodleSettings {
            review_before_saving: false,
            use_enrolment_start_date: true,
            course_completions: true,
            ..MoodleSettings::default()
        },
    )
    .await;
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
    tests::moodle_main(
        &system,
        &server.base_url,
        SAMPLE_TOKEN,
        MoodleSettings::default(),
    )
    .await;
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
