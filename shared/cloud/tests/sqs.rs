//! The job queue and the batch driver against moto.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too: a test's setup failing is a test failure

mod common;

use aws_lambda_events::event::sqs::SqsEvent;
use cloud::sqs::{Retryable, SqsJobQueue, process_batch};
use common::{conn_id, tenant};
use domain::ports::{JobQueue, QueueError};
use domain::{Job, QueueRole, RunId, Trigger};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn sync(i: usize) -> Job {
    Job::SyncConnection {
        tenant: tenant(&format!("t{i}")),
        connection: conn_id("moodle"),
        run: RunId::new_v7(),
        trigger: Trigger::Nightly,
        offering: None,
    }
}

fn fetch(i: usize) -> Job {
    Job::FetchResults {
        tenant: tenant(&format!("t{i}")),
        connection: conn_id("moodle"),
        run: RunId::new_v7(),
        offering: Some(domain::OfferingId::parse("o1").unwrap()),
    }
}

fn attendance(i: usize, ids: usize) -> Job {
    Job::ProcessAttendance {
        tenant: tenant(&format!("t{i}")),
        connection: conn_id("coursekey"),
        record_ids: (0..ids).map(|n| format!("record-{n:060}")).collect(),
    }
}

fn deliver(i: usize) -> Job {
    Job::Deliver {
        tenant: tenant(&format!("t{i}")),
        delivery: domain::delivery::DeliveryId::parse(format!("d{i}")).unwrap(),
    }
}

/// Everything on a queue, received until it is empty.
async fn drain(client: &aws_sdk_sqs::Client, url: &str) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut empty = 0;
    while empty < 3 {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
            continue;
        }
        for m in messages {
            jobs.push(serde_json::from_str(m.body.as_deref().unwrap()).unwrap());
        }
    }
    jobs
}

fn sorted(mut jobs: Vec<Job>) -> Vec<String> {
    let mut keys: Vec<String> = jobs.drain(..).map(|j| j.dedup_key()).collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn jobs_are_routed_to_their_queues_in_batches() {
    let (sdk, config) = common::stack().await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let queue = SqsJobQueue::new(client.clone(), config.queues.clone());

    // 23 jobs, interleaved: 12 sync (two batches), 8 for results-fetch, 3 deliveries.
    let mut jobs = Vec::new();
    for i in 0..23 {
        jobs.push(match i % 4 {
            0 | 1
                if jobs
                    .iter()
                    .filter(|j: &&Job| j.queue() == QueueRole::EnrolmentPush)
                    .count()
                    < 12 =>
            {
                sync(i)
            }
            2 if i < 12 => deliver(i),
            3 => attendance(i, 2),
            _ => fetch(i),
        });
    }
    let mut expected: HashMap<QueueRole, Vec<Job>> = HashMap::new();
    for job in &jobs {
        expected.entry(job.queue()).or_default().push(job.clone());
    }
    assert_eq!(jobs.len(), 23);
    assert!(expected.values().all(|v| !v.is_empty()));

    let failures = queue.enqueue(&jobs).await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");

    for (role, url) in config.queues.iter() {
        let received = drain(&client, url).await;
        assert!(
            received.iter().all(|j| j.queue() == role),
            "{role:?} holds only its own jobs"
        );
        assert_eq!(
            sorted(received),
            sorted(expected.remove(&role).unwrap_or_default()),
            "{role:?}"
        );
    }
}

#[tokio::test]
async fn a_job_sqs_refuses_is_reported_by_its_index_and_the_rest_are_sent() {
    let (sdk, config) = common::stack().await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let queue = SqsJobQueue::new(client.clone(), config.queues.clone());

    // Job 4 is larger than SQS takes in one message (and in one batch).
    let mut jobs: Vec<Job> = (0..8).map(fetch).collect();
    jobs[4] = attendance(4, 20_000);
    jobs.push(sync(8));

    let failures = queue.enqueue(&jobs).await.unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].index, 4);
    assert!(
        matches!(failures[0].error, QueueError::Rejected { .. }),
        "{:?}",
        failures[0].error
    );
    assert!(!failures[0].error.is_retryable());

    let fetched = drain(&client, config.queues.url(QueueRole::ResultsFetch).unwrap()).await;
    assert_eq!(
        fetched.len(),
        7,
        "the other jobs of the refused batch were still sent"
    );
    assert_eq!(
        drain(
            &client,
            config.queues.url(QueueRole::EnrolmentPush).unwrap()
        )
        .await
        .len(),
        1
    );
}

#[tokio::test]
async fn an_unknown_queue_rejects_every_job_by_index() {
    let (sdk, mut config) = common::stack().await;
    config.queues.deliveries = config.queues.deliveries.map(|url| format!("{url}-missing"));
    let queue = SqsJobQueue::new(aws_sdk_sqs::Client::new(&sdk), config.queues);
    let jobs = vec![sync(0), deliver(1), fetch(2), deliver(3)];
    let failures = queue.enqueue(&jobs).await.unwrap();
    assert_eq!(
        failures.iter().map(|f| f.index).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert!(failures.iter().all(|f| !f.error.is_retryable()));
}

#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error("moodle timed out")]
    Transient,
    #[error("the course does not exist")]
    Permanent(#[source] std::io::Error),
}

impl Retryable for TestError {
    fn is_retryable(&self) -> bool {
        matches!(self, TestError::Transient)
    }
}

fn event(messages: &[(&str, String)]) -> SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|(id, body)| {
            serde_json::json!({
                "messageId": id,
                "receiptHandle": format!("handle-{id}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:lb-results-fetch",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

fn body(job: &Job) -> String {
    serde_json::to_string(job).unwrap()
}

#[tokio::test]
async fn the_batch_driver_reports_only_what_should_come_back() {
    // The driver itself needs no AWS; it is exercised here with the events Lambda sends.
    let ok = deliver(1);
    let transient = deliver(2);
    let permanent = deliver(3);
    let event = event(&[
        ("m-ok", body(&ok)),
        (
            "m-garbage",
            "{\"type\":\"deliver\",\"tenant\":\"a#b\",\"delivery\":\"secret-body\"}".to_owned(),
        ),
        ("m-not-json", "hello".to_owned()),
        ("m-transient", body(&transient)),
        ("m-permanent", body(&permanent)),
    ]);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let response = process_batch(event, 4, |job: Job| {
        let seen = seen.clone();
        async move {
            let Job::Deliver { delivery, .. } = &job else {
                unreachable!()
            };
            seen.lock().unwrap().push(delivery.to_string());
            match delivery.as_str() {
                "d2" => Err(TestError::Transient),
                "d3" => Err(TestError::Permanent(std::io::Error::other(
                    "course 7 is gone",
                ))),
                _ => Ok(()),
            }
        }
    })
    .await;
    let mut failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    failed.sort();
    assert_eq!(failed, vec!["m-garbage", "m-not-json", "m-transient"]);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        vec!["d1", "d2", "d3"],
        "undecodable messages never reach the handler"
    );
}

#[tokio::test]
async fn the_batch_driver_bounds_its_concurrency() {
    let messages: Vec<(String, String)> = (0..12)
        .map(|i| (format!("m{i}"), body(&deliver(i))))
        .collect();
    let refs: Vec<(&str, String)> = messages
        .iter()
        .map(|(id, b)| (id.as_str(), b.clone()))
        .collect();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let response = process_batch(event(&refs), 3, |_job: Job| {
        let (in_flight, peak) = (in_flight.clone(), peak.clone());
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok::<(), TestError>(())
        }
    })
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(peak.load(Ordering::SeqCst), 3);
}
