//! The jobs around a push: the nightly export, a refused token, and a
//! disabled connection.

use super::*;

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
