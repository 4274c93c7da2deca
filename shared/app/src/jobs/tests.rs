//! The pipeline's stages over in-memory ports.

use super::*;
use crate::testing::*;
use chrono::TimeZone;
use chrono::{DateTime, TimeDelta, Utc};
use domain::Connection;
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::ports::{Mailer, Retryable, RunStore};
use domain::{
    ConnectionId, Job, LogLevel, QueueRole, RunId, RunLogLine, RunStatus, TenantId, Trigger,
};

fn ids() -> (TenantId, ConnectionId, RunId) {
    (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle").unwrap(),
        RunId::parse("run-1").unwrap(),
    )
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

/// The export as a `sync_connection` job runs it: begin, then (when the
/// run may go) the end of the export.
async fn export(
    pipeline: &Pipeline<'_>,
    t: &TenantId,
    c: &ConnectionId,
    r: &RunId,
    trigger: Trigger,
) -> Result<(), JobError> {
    let job = Job::SyncConnection {
        tenant: t.clone(),
        connection: c.clone(),
        run: r.clone(),
        trigger,
        offering: None,
    };
    if pipeline.begin(&job, t, c, r, Some(trigger), now()).await? == Begin::Go {
        pipeline.export(t, c, r, trigger, None, now()).await?;
    }
    Ok(())
}

fn pipeline<'a>(
    connections: &'a MemConnections,
    runs: &'a MemRuns,
    queue: &'a MemQueue,
    mailer: &'a dyn Mailer,
    tenants: &'a MemTenants,
) -> Pipeline<'a> {
    Pipeline {
        connections,
        runs,
        queue,
        mailer,
        tenants,
    }
}

fn stores() -> (MemConnections, MemRuns, MemQueue) {
    let (tenant, connection, _) = ids();
    let connections = MemConnections::default();
    *connections.0.lock().unwrap() = vec![Connection {
        tenant,
        id: connection,
        name: "Moodle".into(),
        base_url: "http://127.0.0.1:1".into(),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Moodle(MoodleSettings::default()),
    }];
    (connections, MemRuns::default(), MemQueue::default())
}

#[tokio::test]
async fn export_then_import_finishes_the_run_once() {
    let (connections, runs, queue) = stores();
    let (mailer, tenants) = (MemMailer::default(), MemTenants::default());
    let pipeline = pipeline(&connections, &runs, &queue, &mailer, &tenants);
    let (t, c, r) = ids();
    export(&pipeline, &t, &c, &r, Trigger::Manual)
        .await
        .unwrap();
    let sent = queue.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(matches!(&sent[0], Job::FetchResults { run, .. } if run == &r));
    assert_eq!(
        pipeline.import(&t, &c, &r, now()).await.unwrap(),
        RunStatus::FinishedSuccessfully
    );
    let log = runs.log(&t, &c, &r).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(log[0].message.starts_with("Run started by a person"));

    // Duplicate deliveries of both jobs change nothing.
    export(&pipeline, &t, &c, &r, Trigger::Manual)
        .await
        .unwrap();
    assert_eq!(
        queue.sent.lock().unwrap().len(),
        1,
        "a finished run queues no second import"
    );
    assert_eq!(
        pipeline.import(&t, &c, &r, now()).await.unwrap(),
        RunStatus::FinishedSuccessfully
    );
    assert_eq!(runs.log(&t, &c, &r).await.unwrap().len(), 2);
}

#[tokio::test]
async fn unknown_connection_or_run_is_permanent() {
    let (connections, runs, queue) = stores();
    let (mailer, tenants) = (MemMailer::default(), MemTenants::default());
    let pipeline = pipeline(&connections, &runs, &queue, &mailer, &tenants);
    let (t, _, r) = ids();
    let ghost = ConnectionId::parse("ghost").unwrap();
    let err = export(&pipeline, &t, &ghost, &r, Trigger::Nightly)
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "connection ghost does not exist for tenant acme"
    );
    let err = pipeline.import(&t, &ghost, &r, now()).await.unwrap_err();
    assert!(matches!(err, JobError::UnknownRun { .. }));
    assert!(queue.sent.lock().unwrap().is_empty());
}

#[test]
fn jobs_on_the_wrong_queue_are_refused_permanently() {
    let (t, _, _) = ids();
    let job = Job::Deliver {
        tenant: t,
        delivery: domain::delivery::DeliveryId::parse("d").unwrap(),
    };
    let err = expect_queue(&job, QueueRole::EnrolmentPush).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a deliver job does not belong on the enrolment-push queue"
    );
    assert!(!err.is_retryable());
    assert!(expect_queue(&job, QueueRole::Deliveries).is_ok());
}

fn sync(run: &str) -> Job {
    let (t, c, _) = ids();
    Job::SyncConnection {
        tenant: t,
        connection: c,
        run: RunId::parse(run).unwrap(),
        trigger: Trigger::Nightly,
        offering: None,
    }
}

fn minutes(m: i64) -> DateTime<Utc> {
    now() + TimeDelta::minutes(m)
}

#[tokio::test]
async fn one_run_at_a_time_the_other_waits_and_goes_on_when_it_ends() {
    let (connections, runs, queue) = stores();
    let (mailer, tenants) = (MemMailer::default(), MemTenants::default());
    let pipeline = pipeline(&connections, &runs, &queue, &mailer, &tenants);
    let (t, c, _) = ids();
    let (a, b) = (
        RunId::parse("run-a").unwrap(),
        RunId::parse("run-b").unwrap(),
    );
    let go = pipeline
        .begin(&sync("run-a"), &t, &c, &a, Some(Trigger::Nightly), now())
        .await
        .unwrap();
    assert_eq!(go, Begin::Go);
    // A manual run while the nightly one works: it waits, queued again for
    // when the lease ends (capped at SQS's 15 minutes), with one log line.
    for at in [minutes(1), minutes(2)] {
        let waiting = pipeline
            .begin(&sync("run-b"), &t, &c, &b, Some(Trigger::Manual), at)
            .await
            .unwrap();
        assert_eq!(waiting, Begin::Waiting { holder: a.clone() });
    }
    let delayed = queue.delayed.lock().unwrap().clone();
    assert_eq!(delayed.len(), 2);
    assert_eq!(delayed[0], (sync("run-b"), 840));
    let log = runs.log(&t, &c, &b).await.unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].message.starts_with("Waiting for run run-a"));
    assert_eq!(
        runs.run(&t, &c, &b).await.unwrap().unwrap().status,
        RunStatus::Importing
    );
    // The first run renews its lease at its next stage, then finishes.
    assert_eq!(
        pipeline
            .begin(&sync("run-a"), &t, &c, &a, None, minutes(3))
            .await
            .unwrap(),
        Begin::Go
    );
    pipeline.finish(&t, &c, &a, minutes(4)).await.unwrap();
    assert_eq!(
        pipeline
            .begin(
                &sync("run-b"),
                &t,
                &c,
                &b,
                Some(Trigger::Manual),
                minutes(5)
            )
            .await
            .unwrap(),
        Begin::Go,
        "released: the waiting run goes on"
    );
    // A finished run's duplicate job does nothing.
    assert_eq!(
        pipeline
            .begin(
                &sync("run-a"),
                &t,
                &c,
                &a,
                Some(Trigger::Nightly),
                minutes(6)
            )
            .await
            .unwrap(),
        Begin::Finished(RunStatus::FinishedSuccessfully)
    );
    assert!(mailer.0.lock().unwrap().is_empty(), "no errors, no email");
}

#[tokio::test]
async fn a_run_that_died_is_marked_failed_and_emailed_and_the_next_takes_over() {
    let (connections, runs, queue) = stores();
    connections.0.lock().unwrap()[0].error_email = Some("ops@acme.example".into());
    let (mailer, tenants) = (MemMailer::default(), MemTenants::default());
    let pipeline = pipeline(&connections, &runs, &queue, &mailer, &tenants);
    let (t, c, _) = ids();
    let (dead, next) = (
        RunId::parse("run-dead").unwrap(),
        RunId::parse("run-next").unwrap(),
    );
    pipeline
        .begin(
            &sync("run-dead"),
            &t,
            &c,
            &dead,
            Some(Trigger::Nightly),
            now(),
        )
        .await
        .unwrap();
    // Its function dies: no finish, no release. Within the lease, others wait.
    assert!(matches!(
        pipeline
            .begin(
                &sync("run-next"),
                &t,
                &c,
                &next,
                Some(Trigger::Manual),
                minutes(10)
            )
            .await
            .unwrap(),
        Begin::Waiting { .. }
    ));
    // Once the lease has lapsed, the next run takes over.
    assert_eq!(
        pipeline
            .begin(
                &sync("run-next"),
                &t,
                &c,
                &next,
                Some(Trigger::Manual),
                minutes(16)
            )
            .await
            .unwrap(),
        Begin::Go
    );
    let stored = runs.run(&t, &c, &dead).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::FinishedWithError);
    let log = runs.log(&t, &c, &dead).await.unwrap();
    assert!(
        log.iter().any(|l| l.level == LogLevel::Error
            && l.message.contains("stopped before it finished")
            && l.message.contains("run-next")),
        "{log:?}"
    );
    let sent = mailer.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "ops@acme.example");
    assert!(
        sent[0]
            .body
            .contains("/v1/connections/moodle/runs/run-dead")
    );
    // The dead run's late job (if SQS brings it back) changes nothing.
    assert_eq!(
        pipeline
            .begin(&sync("run-dead"), &t, &c, &dead, None, minutes(17))
            .await
            .unwrap(),
        Begin::Finished(RunStatus::FinishedWithError)
    );
    assert_eq!(mailer.0.lock().unwrap().len(), 1, "emailed once");
}

#[tokio::test]
async fn errors_are_emailed_once_with_the_tenants_template_and_no_personal_details() {
    let (connections, runs, queue) = stores();
    connections.0.lock().unwrap()[0].error_email = Some("ops@acme.example".into());
    let (mailer, tenants) = (MemMailer::default(), MemTenants::default());
    let (t, c, r) = ids();
    let mut settings = domain::tenant::TenantSettings {
        run_history_days: Some(90),
        ..Default::default()
    };
    settings.run_error_email.subject = "[{status}] {connection} {errors}".into();
    tenants.0.lock().unwrap().insert(t.clone(), settings);
    let pipeline = pipeline(&connections, &runs, &queue, &mailer, &tenants);
    pipeline
        .begin(&sync("run-1"), &t, &c, &r, Some(Trigger::Nightly), now())
        .await
        .unwrap();
    assert_eq!(
        runs.run(&t, &c, &r).await.unwrap().unwrap().keep_days,
        Some(90),
        "kept as long as the tenant says"
    );
    let incident = RunLogLine {
        at: now(),
        level: LogLevel::Error,
        message: "User Ada Lovelace (A1) - enrolment refused".into(),
    };
    runs.append_log(&t, &c, &r, &[incident]).await.unwrap();
    assert_eq!(
        pipeline.import(&t, &c, &r, minutes(1)).await.unwrap(),
        RunStatus::FinishedWithError
    );
    pipeline.import(&t, &c, &r, minutes(2)).await.unwrap();
    let sent = mailer.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "a redelivered import emails no second time");
    assert_eq!(sent[0].subject, "[Finished with error] moodle 1");
    assert!(!sent[0].body.contains("Ada") && !sent[0].body.contains("A1"));
    assert!(
        runs.leases.lock().unwrap().is_empty(),
        "the lease is given back"
    );
}

#[tokio::test]
async fn a_mail_failure_is_a_warning_on_the_run_not_a_retry() {
    struct Down;
    #[async_trait::async_trait]
    impl Mailer for Down {
        async fn send(&self, _: &domain::ports::Email) -> Result<(), domain::ports::MailError> {
            Err(domain::ports::MailError::Rejected {
                reason: "MAIL_FROM is not set".into(),
            })
        }
    }
    let (connections, runs, queue) = stores();
    connections.0.lock().unwrap()[0].error_email = Some("ops@acme.example".into());
    let tenants = MemTenants::default();
    let pipeline = pipeline(&connections, &runs, &queue, &Down, &tenants);
    let (t, c, r) = ids();
    pipeline
        .begin(&sync("run-1"), &t, &c, &r, Some(Trigger::Nightly), now())
        .await
        .unwrap();
    let incident = RunLogLine {
        at: now(),
        level: LogLevel::Error,
        message: "x".into(),
    };
    runs.append_log(&t, &c, &r, &[incident]).await.unwrap();
    assert_eq!(
        pipeline.import(&t, &c, &r, minutes(1)).await.unwrap(),
        RunStatus::FinishedWithError
    );
    let log = runs.log(&t, &c, &r).await.unwrap();
    assert!(
        log.iter().any(|l| l.level == LogLevel::Warning
            && l.message == "The error email could not be sent: the mail service refused the message: MAIL_FROM is not set."),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_failed_import_enqueue_is_transient() {
    let (connections, runs, queue) = stores();
    *queue.refuse_next.lock().unwrap() = vec![0];
    let (mailer, tenants) = (MemMailer::default(), MemTenants::default());
    let pipeline = pipeline(&connections, &runs, &queue, &mailer, &tenants);
    let (t, c, r) = ids();
    let err = export(&pipeline, &t, &c, &r, Trigger::Nightly)
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    // SQS redelivers; the second attempt completes without a second run.
    export(&pipeline, &t, &c, &r, Trigger::Nightly)
        .await
        .unwrap();
    assert_eq!(runs.runs.lock().unwrap().len(), 1);
    assert_eq!(queue.sent.lock().unwrap().len(), 1);
}
