//! Downloads: cancel, save (recorded once, delivered, the date advanced).

use super::*;

#[tokio::test]
async fn cancel_saves_nothing_and_the_next_download_brings_the_same_again() {
    let w = seeded_download_world().await;
    let first = w
        .lln
        .download(&t(), None, None, None, at(200))
        .await
        .unwrap();
    let s = statuses(&first);
    assert_eq!(s.len(), 3);
    assert_eq!((s[0].0.as_str(), s[0].1.as_str()), ("A-1", "ok"));
    assert!(
        s[1].1.starts_with("error: candidate X-9 is unknown"),
        "{s:?}"
    );
    assert_eq!((s[2].0.as_str(), s[2].1.as_str()), ("A-2", "ok"));

    w.lln
        .cancel_download(&t(), None, &first.id, at(201))
        .await
        .unwrap();
    assert!(w.store.saved.lock().unwrap().is_empty());
    assert_eq!(w.store.modified_since(&t(), &ocsat()).await.unwrap(), None);
    let again = w
        .lln
        .download(&t(), None, None, None, at(202))
        .await
        .unwrap();
    assert_eq!(statuses(&again), s);
    // A closed download cannot be saved.
    let err = w
        .lln
        .save_download(&t(), None, &first.id, at(203))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        LlnFlowError::DownloadClosed {
            state: "cancelled",
            ..
        }
    ));
}

#[tokio::test]
async fn saving_records_ok_ones_with_defaults_delivers_them_and_advances_the_date() {
    let w = seeded_download_world().await;
    let d = w
        .lln
        .download(&t(), None, None, None, at(200))
        .await
        .unwrap();
    let report = w
        .lln
        .save_download(&t(), None, &d.id, at(210))
        .await
        .unwrap();
    assert_eq!(report.saved, vec!["A-1", "A-2"]);
    assert_eq!(report.modified_since, Some(at(120)));
    assert_eq!(
        w.store.modified_since(&t(), &ocsat()).await.unwrap(),
        Some(at(120))
    );
    let saved = w
        .store
        .assessment(&t(), &ocsat(), &AssessmentId::parse("A-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            saved.status.as_deref(),
            saved.staff.as_deref(),
            saved.learner.as_str()
        ),
        (Some("Received"), Some("STAFF-7"), "L1")
    );
    assert_eq!(saved.assessment.sitting_ids, vec!["S-A-1"]);

    let deliveries = w.deliveries.0.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 2);
    let one = deliveries
        .values()
        .find(|d| d.learner == code("L1"))
        .unwrap();
    assert_eq!(one.kind, DeliveryKind::LlnAssessment);
    assert_eq!(one.connection.as_str(), "sms");
    assert_eq!(one.offering.as_str(), "ocsat");
    assert_eq!(one.assessable.as_ref().unwrap().as_str(), "A-1");
    assert_eq!(one.payload["name"], "Core Skills Profile");
    assert_eq!(one.payload["staff"], "STAFF-7");
    assert_eq!(
        w.queue.sent.lock().unwrap().len(),
        2,
        "each delivery queued"
    );

    // Saving again is refused; the next download (override back to the start) shows Done.
    let err = w
        .lln
        .save_download(&t(), None, &d.id, at(211))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        LlnFlowError::DownloadClosed { state: "saved", .. }
    ));
    let nothing_new = w
        .lln
        .download(&t(), None, None, None, at(220))
        .await
        .unwrap();
    assert!(
        nothing_new.items.is_empty(),
        "after the stored date: nothing"
    );
    let again = w
        .lln
        .download(&t(), None, None, Some(at(0)), at(230))
        .await
        .unwrap();
    assert!(again.overridden);
    let s = statuses(&again);
    assert_eq!((s[0].1.as_str(), s[2].1.as_str()), ("done", "done"));
    let report = w
        .lln
        .save_download(&t(), None, &again.id, at(240))
        .await
        .unwrap();
    assert!(report.saved.is_empty(), "Done ones are not saved again");
    assert_eq!(
        w.deliveries.0.lock().unwrap().len(),
        2,
        "nor delivered again"
    );
}

#[tokio::test]
async fn one_learner_s_download_leaves_the_connection_s_date() {
    let w = seeded_download_world().await;
    let d = w
        .lln
        .download(&t(), None, Some(&code("L2")), None, at(200))
        .await
        .unwrap();
    assert_eq!(statuses(&d), vec![("A-2".to_owned(), "ok".to_owned())]);
    w.lln
        .save_download(&t(), None, &d.id, at(201))
        .await
        .unwrap();
    assert_eq!(w.store.modified_since(&t(), &ocsat()).await.unwrap(), None);
    let err = w
        .lln
        .download(&t(), None, Some(&code("L9")), None, at(202))
        .await
        .unwrap_err();
    assert!(matches!(err, LlnFlowError::NoCandidate { .. }));
}

#[tokio::test]
async fn saving_needs_an_sms_connection_and_then_saves_nothing() {
    let w = seeded_download_world().await;
    let sms = ConnectionId::parse("sms").unwrap();
    w.connections.0.lock().unwrap().retain(|c| c.id != sms);
    let d = w
        .lln
        .download(&t(), None, None, None, at(200))
        .await
        .unwrap();
    let err = w
        .lln
        .save_download(&t(), None, &d.id, at(201))
        .await
        .unwrap_err();
    assert!(matches!(err, LlnFlowError::NoSms));
    assert!(w.store.saved.lock().unwrap().is_empty());
}
