//! Candidates: required fields, usernames, creates adopted, out-of-sync
//! fields pushed; the bulk update.

use super::*;

#[tokio::test]
async fn every_missing_required_field_is_listed_at_once() {
    let w = world(vec![]).await;
    let mut bare = learner("L9", "", " ", None);
    bare.date_of_birth = None;
    w.sis.save_learner(&bare).await.unwrap();
    let err = w
        .lln
        .create_candidate(&t(), None, &code("L9"), None, at(10))
        .await
        .unwrap_err();
    let LlnFlowError::Issues(issues) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        issues.fields(),
        vec!["family_name", "date_of_birth", "email"]
    );
    assert!(
        w.tool.candidates.lock().unwrap().is_empty(),
        "nothing pushed"
    );
}

#[tokio::test]
async fn usernames_default_to_the_email_then_firstname_surname_or_are_given() {
    let w = world(vec![]).await;
    // The only LLN connection is used without being named; default staff on the invitation.
    let first = w
        .lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await
        .unwrap();
    assert_eq!(first.candidate.username, "greg@example.com");
    assert_eq!(first.staff.as_deref(), Some("STAFF-7"));
    assert_eq!(first.candidate.connection, ocsat());

    // L2 shares L1's email: Firstname.Surname.
    w.sis
        .save_learner(&learner("L2", "Ana", "Ruiz", Some("GREG@example.com")))
        .await
        .unwrap();
    let second = w
        .lln
        .create_candidate(&t(), None, &code("L2"), None, at(11))
        .await
        .unwrap();
    assert_eq!(second.candidate.username, "Ana.Ruiz");

    // A username a person sets is used as is.
    let third = w
        .lln
        .create_candidate(&t(), None, &code("L3"), Some("kim.lee.2000"), at(12))
        .await
        .unwrap();
    assert_eq!(third.candidate.username, "kim.lee.2000");

    // Creating twice is refused, naming the candidate.
    let again = w
        .lln
        .create_candidate(&t(), None, &code("L1"), None, at(13))
        .await;
    assert!(
        matches!(again, Err(LlnFlowError::AlreadyInvited { .. })),
        "{again:?}"
    );
}

#[tokio::test]
async fn the_preview_lists_every_issue_and_the_default_username_without_pushing() {
    let w = world(vec![]).await;
    let mut bare = learner("L9", "", " ", None);
    bare.date_of_birth = None;
    w.sis.save_learner(&bare).await.unwrap();
    let preview = w
        .lln
        .candidate_preview(&t(), None, &code("L9"))
        .await
        .unwrap();
    assert_eq!(
        preview.fields.unwrap_err().fields(),
        vec!["family_name", "date_of_birth", "email"]
    );
    let preview = w
        .lln
        .candidate_preview(&t(), None, &code("L1"))
        .await
        .unwrap();
    assert_eq!(preview.fields.unwrap().username, "greg@example.com");
    assert!(preview.existing.is_none());
    w.lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await
        .unwrap();
    // L2 shares L1's email: the preview defaults to Firstname.Surname, as the create does.
    w.sis
        .save_learner(&learner("L2", "Ana", "Ruiz", Some("GREG@example.com")))
        .await
        .unwrap();
    let preview = w
        .lln
        .candidate_preview(&t(), None, &code("L2"))
        .await
        .unwrap();
    assert_eq!(preview.fields.unwrap().username, "Ana.Ruiz");
    let again = w
        .lln
        .candidate_preview(&t(), None, &code("L1"))
        .await
        .unwrap();
    assert!(again.existing.is_some(), "the candidate it already has");
    assert_eq!(
        w.tool.candidates.lock().unwrap().len(),
        1,
        "preview pushes nothing"
    );
}

#[tokio::test]
async fn a_username_taken_in_the_tool_falls_back_to_firstname_surname() {
    let w = world(vec![]).await;
    // Someone created in the tool's own screens uses Greg's email as a username.
    w.tool.candidates.lock().unwrap().insert(
        "X-1".into(),
        RemoteCandidate {
            id: CandidateId::parse("X-1").unwrap(),
            fields: CandidateFields {
                family_name: "Other".into(),
                given_name: None,
                other_name: None,
                learner_code: code("ZZ"),
                date_of_birth: NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
                email: "other@example.com".into(),
                username: "greg@example.com".into(),
            },
            created_at: at(0),
            updated_at: at(0),
        },
    );
    let created = w
        .lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await
        .unwrap();
    assert_eq!(created.candidate.username, "Greg.Abbott");
}

#[tokio::test]
async fn a_tool_that_refuses_a_shared_email_is_reported_by_field() {
    let w = world(vec![]).await;
    w.tool.emails_unique.store(true, Ordering::SeqCst);
    w.lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await
        .unwrap();
    w.sis
        .save_learner(&learner("L2", "Ana", "Ruiz", Some("greg@example.com")))
        .await
        .unwrap();
    let err = w
        .lln
        .create_candidate(&t(), None, &code("L2"), None, at(11))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlnFlowError::Tool(LlnError::Duplicate { field }) if field == "email"),
        "{err:?}"
    );
    assert!(
        w.store
            .invitation(&t(), &ocsat(), &code("L2"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_adopted_not_duplicated() {
    let w = world(vec![]).await;
    w.tool.lose_next_answer.store(true, Ordering::SeqCst);
    let lost = w
        .lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await;
    assert!(lost.is_err_and(|e| e.is_retryable()));
    let retried = w
        .lln
        .create_candidate(&t(), None, &code("L1"), None, at(11))
        .await
        .unwrap();
    assert_eq!(retried.candidate.candidate_id.as_str(), "C-1");
    assert_eq!(w.tool.candidates.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_connection_must_be_named_when_there_are_several() {
    let w = world(vec![connection(
        "robot",
        ConnectionSettings::LlnRobot(LlnSettings::default()),
    )])
    .await;
    let err = w
        .lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LlnFlowError::SeveralLlnConnections { .. }),
        "{err}"
    );
    let robot = ConnectionId::parse("robot").unwrap();
    let made = w
        .lln
        .create_candidate(&t(), Some(&robot), &code("L1"), None, at(10))
        .await
        .unwrap();
    assert_eq!(
        made.staff, None,
        "the robot connection has no default staff"
    );
    let sms = ConnectionId::parse("sms").unwrap();
    let err = w.lln.connection(&t(), Some(&sms)).await.unwrap_err();
    assert!(matches!(err, LlnFlowError::NotLln { .. }));
    // The ones to choose from: the LLN connections only, by id.
    let choices: Vec<String> = w
        .lln
        .lln_connections(&t())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(choices.len(), 2, "{choices:?}");
    assert!(choices.contains(&"robot".to_owned()) && !choices.contains(&"sms".to_owned()));
    assert!(choices.is_sorted(), "{choices:?}");
}

#[tokio::test]
async fn out_of_sync_fields_are_shown_then_pushed() {
    let w = world(vec![]).await;
    w.lln
        .create_candidate(&t(), None, &code("L1"), None, at(10))
        .await
        .unwrap();
    let view = w.lln.candidate(&t(), None, &code("L1")).await.unwrap();
    assert!(view.out_of_sync.is_empty());
    let mut changed = learner("L1", "Gregory", "Abbott", Some("greg@example.com"));
    changed.updated_at = at(20);
    w.sis.save_learner(&changed).await.unwrap();
    let view = w.lln.candidate(&t(), None, &code("L1")).await.unwrap();
    assert_eq!(
        view.out_of_sync
            .iter()
            .map(|d| (d.field, d.ours.clone(), d.theirs.clone()))
            .collect::<Vec<_>>(),
        vec![(
            "given_name",
            Some("Gregory".to_owned()),
            Some("Greg".to_owned())
        )]
    );
    let pushed = w
        .lln
        .update_candidate(&t(), None, &code("L1"), None, at(30))
        .await
        .unwrap();
    assert_eq!(
        pushed.candidate.pushed.given_name.as_deref(),
        Some("Gregory")
    );
    assert_eq!(
        pushed.candidate.username, "greg@example.com",
        "username kept"
    );
    let view = w.lln.candidate(&t(), None, &code("L1")).await.unwrap();
    assert!(view.out_of_sync.is_empty());
}

#[tokio::test]
async fn bulk_update_finds_changes_keeps_exclusions_flagged_and_reports_errors_after() {
    let w = world(vec![]).await;
    three_candidates(&w).await;
    let (_, rows) = w.lln.bulk_changes(&t(), None).await.unwrap();
    assert!(rows.is_empty(), "nothing changed since the push");

    let mut l1 = learner("L1", "Greg", "Abbott-Smith", Some("greg@example.com"));
    l1.updated_at = at(50);
    let mut l2 = learner("L2", "Ana", "Ruiz", Some("ana.ruiz@example.com"));
    l2.updated_at = at(50);
    let mut l3 = learner("L3", "Kim", "Lee", None);
    l3.updated_at = at(50);
    for l in [&l1, &l2, &l3] {
        w.sis.save_learner(l).await.unwrap();
    }
    let (_, rows) = w.lln.bulk_changes(&t(), None).await.unwrap();
    let summary: Vec<_> = rows
        .iter()
        .map(|r| (r.learner.as_str(), r.status, r.selected))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("L1", "ok", true),
            ("L2", "ok", true),
            ("L3", "issues", false)
        ]
    );
    assert_eq!(rows[2].issues[0].field, "email");
    assert_eq!(rows[0].created_in_lln, at(1), "the tool's dates are shown");

    // L1's candidate is locked in the tool; L2 is left out.
    w.tool.refuse_update.lock().unwrap().insert("C-1".into());
    let report = w
        .lln
        .bulk_push(&t(), None, None, &[code("L2")], at(60))
        .await
        .unwrap();
    assert_eq!(report.pushed, Vec::<LearnerCode>::new());
    assert_eq!(report.excluded, vec![code("L2")]);
    let failed: Vec<_> = report.failed.iter().map(|f| f.learner.as_str()).collect();
    assert_eq!(failed, vec!["L1", "L3"], "every record tried, errors after");
    assert!(report.failed[0].error.contains("candidate is locked"));
    assert!(report.failed[1].error.contains("email"));

    // Next time: L2 flagged (though unchanged since), L1 still changed.
    w.tool.refuse_update.lock().unwrap().clear();
    let (_, rows) = w.lln.bulk_changes(&t(), None).await.unwrap();
    let l2_row = rows.iter().find(|r| r.learner == code("L2")).unwrap();
    assert!(l2_row.flagged && l2_row.selected);
    let report = w
        .lln
        .bulk_push(
            &t(),
            None,
            Some(&[code("L1"), code("L2"), code("L9")]),
            &[],
            at(70),
        )
        .await
        .unwrap();
    assert_eq!(report.pushed, vec![code("L1"), code("L2")]);
    assert_eq!(report.excluded, vec![code("L3")], "not selected: left out");
    assert_eq!(
        report.unchanged,
        vec![code("L9")],
        "selected, nothing to push"
    );
    let (_, rows) = w.lln.bulk_changes(&t(), None).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.learner.as_str()).collect::<Vec<_>>(),
        vec!["L3"],
        "pushed ones are in sync; L3 still needs its email"
    );
    let stored = w
        .store
        .invitation(&t(), &ocsat(), &code("L2"))
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.candidate.needs_update);
    assert_eq!(stored.candidate.pushed.email, "ana.ruiz@example.com");
}
