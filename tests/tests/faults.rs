//! The probe's fault mix at a scale CI affords (see `tests::faults`): Moodle
//! answers 20% of calls with HTTP 503 and lets 5% hang past the functions'
//! Moodle timeout. The nightly export and the next night's results download
//! both finish, every run ends in a final status, nothing reaches a
//! dead-letter queue without a reason on its run, no Moodle user or enrolment
//! is duplicated and the SMS gets each result once. A learner whose every read
//! failed is named in a warning and read again the next night (at most two
//! catch-up nights), as the product does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tests::faults::{FaultMix, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_mix_finishes_without_duplicates_or_silent_dead_letters() {
    let mix = FaultMix {
        limit: std::time::Duration::from_secs(240),
        ..FaultMix::probe(60)
    };
    let report = run(&mix).await;
    report.print(&mix);
    assert!(
        report.export.finished
            && report.export_catch_up.iter().all(|night| night.finished)
            && report.download.finished
            && report.catch_up.iter().all(|night| night.finished),
        "the queues emptied"
    );
    if !report.export_catch_up.is_empty() {
        assert!(
            report.export.runs.contains_key("Finished with warnings"),
            "a learner left for the next night is named in a warning: {:?}",
            report.export.runs
        );
    }
    if report.results_first_night < report.graded {
        assert!(
            report.download.runs.contains_key("Finished with warnings"),
            "a learner left for the next night is named in a warning: {:?}",
            report.download.runs
        );
    }
    assert!(
        report.export.unavailable > 0 && report.export.hangs > 0,
        "the faults were injected"
    );
    assert_eq!(
        report.unfinished_runs,
        Vec::<String>::new(),
        "every run ended"
    );
    assert_eq!(
        report.dead_letters_without_reason,
        Vec::<String>::new(),
        "a dead letter has a reason on its run"
    );
    assert_eq!(report.duplicate_users, 0);
    assert_eq!(report.duplicate_enrolments, 0);
    assert_eq!(
        report.transferred, mix.learners,
        "{:?}",
        report.not_transferred
    );
    assert_eq!(report.graded, mix.learners / 2);
    assert_eq!(
        report.results, report.graded,
        "every graded learner has a result"
    );
    assert_eq!(report.delivered_twice, 0);
    assert!(
        report.delivered >= report.results,
        "each result reached the SMS"
    );
}
