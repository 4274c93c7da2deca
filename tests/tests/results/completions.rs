//! Smartosh completions wait for review; the unenrol follows the processing.

use super::*;

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
    moodle_and_sms(
        &system,
        &server.base_url,
        MoodleSettings {
            review_before_saving: true,
            course_completions: true,
            unenrol_after_completion: true,
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
    let key = tests::api_key(&system, &TenantId::parse("acme").unwrap()).await;
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
    // Two days ago in the tenant's zone: the day a person means.
    use domain::ports::TenantSettingsStore;
    let zone = stores
        .tenants
        .tenant_settings(&TenantId::parse("acme").unwrap())
        .await
        .unwrap()
        .zone();
    let date = zone.today(now) - Duration::days(2);
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
