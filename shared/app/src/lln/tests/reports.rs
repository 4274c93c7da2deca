//! Assessments and reports: edits, the summary and its CSV, history, the API log.

use super::*;

#[tokio::test]
async fn edits_reports_summary_and_history() {
    let w = seeded_download_world().await;
    let d = w
        .lln
        .download(&t(), None, None, None, at(200))
        .await
        .unwrap();
    w.lln
        .save_download(&t(), None, &d.id, at(210))
        .await
        .unwrap();
    let a1 = AssessmentId::parse("A-1").unwrap();
    let edited = w
        .lln
        .edit_assessment(
            &t(),
            None,
            &a1,
            AssessmentEdit {
                status: Some(Some("Reviewed".into())),
                staff: None,
                follow_up_comment: Some(Some("Numeracy support, \"weekly\"".into())),
            },
            at(220),
        )
        .await
        .unwrap();
    assert_eq!(edited.status.as_deref(), Some("Reviewed"));
    assert_eq!(edited.staff.as_deref(), Some("STAFF-7"), "unchanged");

    let report = w.lln.assessment_report(&t(), None, &a1).await.unwrap();
    assert_eq!(report.learner_name.as_deref(), Some("Greg Abbott"));
    assert_eq!(report.product, "OCSAT");
    assert_eq!(report.username.as_deref(), Some("greg@example.com"));
    assert_eq!(report.saved.assessment.skills, vec!["Reading", "Numeracy"]);

    let all = w
        .lln
        .summary(&t(), None, &SummaryFilter::default())
        .await
        .unwrap();
    assert_eq!(
        all.iter()
            .map(|r| (r.learner.as_str(), r.assessment_id.as_deref()))
            .collect::<Vec<_>>(),
        vec![("L1", Some("A-1")), ("L2", Some("A-2")), ("L3", None)]
    );
    let cases = [
        (
            SummaryFilter {
                status: Some("Reviewed".into()),
                ..SummaryFilter::default()
            },
            vec!["L1"],
        ),
        (
            SummaryFilter {
                learner: Some(code("L3")),
                ..SummaryFilter::default()
            },
            vec!["L3"],
        ),
        (
            SummaryFilter {
                // A-1 completed at 40, A-2 at 60.
                from: Some(at(50)),
                to: Some(at(100)),
                ..SummaryFilter::default()
            },
            vec!["L2"],
        ),
    ];
    for (filter, expected) in cases {
        let rows = w.lln.summary(&t(), None, &filter).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| r.learner.as_str()).collect::<Vec<_>>(),
            expected,
            "{filter:?}"
        );
    }
    let csv = summary_csv(&all);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert!(lines[0].starts_with("learner,given_name,family_name,candidate_id"));
    assert!(
        lines[1].contains(",\"Numeracy support, \"\"weekly\"\"\","),
        "{}",
        lines[1]
    );
    assert_eq!(lines.len(), 5, "header, three rows, and the final line end");

    let history = w
        .lln
        .history_between(&t(), None, at(200), at(220))
        .await
        .unwrap();
    let actions: Vec<LlnAction> = history.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![
            LlnAction::AssessmentsDownloaded,
            LlnAction::AssessmentSaved,
            LlnAction::AssessmentSaved,
            LlnAction::DownloadSaved,
            LlnAction::AssessmentEdited,
        ]
    );
}

#[test]
fn csv_fields_are_quoted_and_formulas_defused() {
    for (value, expected) in [
        ("plain", "plain"),
        ("a,b", "\"a,b\""),
        ("say \"hi\"", "\"say \"\"hi\"\"\""),
        ("two\nlines", "\"two\nlines\""),
        ("=SUM(A1)", "'=SUM(A1)"),
        ("-1,2", "\"'-1,2\""),
        ("", ""),
    ] {
        assert_eq!(csv_field(value), expected, "{value:?}");
    }
}

#[tokio::test]
async fn api_logging_is_switched_per_connection_and_recorded() {
    let w = world(vec![]).await;
    let on = w
        .lln
        .set_api_logging(&t(), &ocsat(), true, at(5))
        .await
        .unwrap();
    let ConnectionSettings::Ocsat(s) = &on.settings else {
        panic!("kind changed")
    };
    assert!(s.api_logging);
    let stored = w
        .connections
        .connection(&t(), &ocsat())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, on);
    // Switching it on again changes nothing and records nothing more.
    w.lln
        .set_api_logging(&t(), &ocsat(), true, at(6))
        .await
        .unwrap();
    let history = w.store.history.lock().unwrap().clone();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].action, LlnAction::ApiLoggingSwitched);
    let sms = ConnectionId::parse("sms").unwrap();
    assert!(
        w.lln
            .set_api_logging(&t(), &sms, true, at(7))
            .await
            .is_err()
    );
}

#[test]
fn the_api_log_downloads_as_one_json_object_a_line() {
    let call = ApiCall {
        at: at(0),
        method: "GET".into(),
        url: "http://127.0.0.1:1/candidates/C-1".into(),
        request_headers: vec![("authorization".into(), "Bearer ****".into())],
        request_body: None,
        response_status: Some(200),
        response_body: Some("{}".into()),
        error: None,
        duration_ms: 3,
    };
    let text = api_log_ndjson(&[call.clone(), call]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let back: ApiCall = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(back.url, "http://127.0.0.1:1/candidates/C-1");
}
