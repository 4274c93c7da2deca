//! SQS: the job queue, and the driver that runs an SQS batch through a handler.

use crate::config::Queues;
use crate::error::{error_chain, is_transient, service_code};
use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchRequestEntry};
pub use domain::ports::Retryable;
use domain::ports::{EnqueueFailure, JobQueue, QueueError};
use domain::{Job, QueueRole};
use futures::FutureExt;
use futures::StreamExt;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// The most messages one `SendMessageBatch` call takes.
pub const SEND_BATCH_MAX: usize = 10;

/// One error shared by every job of a batch call that failed as a whole.
#[derive(Debug, Clone)]
pub struct SharedError(Arc<dyn std::error::Error + Send + Sync + 'static>);

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// SQS failed one entry of a batch for a reason of its own (not the sender's).
#[derive(Debug, Clone, thiserror::Error)]
#[error("SQS failed the message with {code}")]
pub struct EntryError {
    pub code: String,
}

/// [`JobQueue`] over SQS: each job goes, as JSON, to the queue of its
/// [`Job::queue`], ten per `SendMessageBatch` call.
#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: crate::sdk::LazyClient<Client>,
    queues: Queues,
}

struct Pending {
    index: usize,
    body: String,
}

/// What became of one chunk.
struct Chunk {
    failures: Vec<EnqueueFailure>,
    split: Vec<Pending>,
}

enum Outcome {
    Sent,
    Retry,
    Failed(QueueError),
}

impl SqsJobQueue {
    pub fn new(client: Client, queues: Queues) -> Self {
        Self {
            client: crate::sdk::LazyClient::ready(client),
            queues,
        }
    }

    /// Over a client built at the first send, not now (a function's init: see
    /// [`crate::sdk::LazyClient`]).
    pub fn lazy(sdk: &aws_config::SdkConfig, queues: Queues) -> Self {
        Self {
            client: crate::sdk::LazyClient::new(sdk, Client::new),
            queues,
        }
    }

    /// Sends up to ten jobs to one queue. Entries that fail for a reason that is
    /// not the sender's fault (and whole calls that fail transiently) are tried
    /// once more; what still fails is returned by job index. When SQS refuses a
    /// call of several jobs as a whole (one job too large, say), the jobs come
    /// back in `split`, to be sent one by one so the bad one is isolated.
    async fn send_chunk(&self, url: &str, chunk: Vec<Pending>) -> Chunk {
        let mut failures = Vec::new();
        let mut pending = chunk;
        for attempt in 0..2 {
            let last_attempt = attempt == 1;
            let entries = pending
                .iter()
                .map(|p| {
                    SendMessageBatchRequestEntry::builder()
                        .id(p.index.to_string())
                        .message_body(&p.body)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>();
            let entries = match entries {
                Ok(entries) => entries,
                Err(err) => {
                    let shared = SharedError(Arc::new(err));
                    failures.extend(pending.drain(..).map(|p| EnqueueFailure {
                        index: p.index,
                        error: QueueError::Encode(Box::new(shared.clone())),
                    }));
                    break;
                }
            };
            let mut outcomes: HashMap<usize, Outcome> = HashMap::new();
            match self
                .client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(output) => {
                    for entry in output.failed {
                        if let Some((index, outcome)) = entry_outcome(entry, last_attempt) {
                            outcomes.insert(index, outcome);
                        }
                    }
                }
                Err(err) if !is_transient(&err) && pending.len() > 1 => {
                    tracing::debug!(
                        count = pending.len(),
                        "SQS refused a batch; sending its jobs one by one"
                    );
                    return Chunk {
                        failures,
                        split: pending,
                    };
                }
                Err(err) => {
                    let transient = is_transient(&err);
                    let reason = match (service_code(&err), err.message()) {
                        (Some(code), Some(message)) => format!("{code}: {message}"),
                        (Some(code), None) => code.to_owned(),
                        _ => "the request was refused".to_owned(),
                    };
                    let shared = SharedError(Arc::new(err));
                    for p in &pending {
                        let outcome = match (transient, last_attempt) {
                            (true, false) => Outcome::Retry,
                            (true, true) => {
                                Outcome::Failed(QueueError::Unavailable(Box::new(shared.clone())))
                            }
                            (false, _) => Outcome::Failed(QueueError::Rejected {
                                reason: reason.clone(),
                            }),
                        };
                        outcomes.insert(p.index, outcome);
                    }
                }
            }
            let mut retry = Vec::new();
            for p in pending {
                match outcomes.remove(&p.index).unwrap_or(Outcome::Sent) {
                    Outcome::Sent => {}
                    Outcome::Retry => retry.push(p),
                    Outcome::Failed(error) => failures.push(EnqueueFailure {
                        index: p.index,
                        error,
                    }),
                }
            }
            if retry.is_empty() {
                break;
            }
            tracing::debug!(count = retry.len(), "retrying jobs SQS did not accept");
            pending = retry;
        }
        Chunk {
            failures,
            split: Vec::new(),
        }
    }
}

/// What to do with one entry SQS failed: the sender's fault is final; any other
/// failure is tried once more. Entries are named by their job's index.
fn entry_outcome(entry: BatchResultErrorEntry, last_attempt: bool) -> Option<(usize, Outcome)> {
    let index = entry.id.parse::<usize>().ok()?;
    let outcome = if entry.sender_fault {
        let reason = match entry.message {
            Some(message) => format!("{}: {message}", entry.code),
            None => entry.code,
        };
        Outcome::Failed(QueueError::Rejected { reason })
    } else if last_attempt {
        Outcome::Failed(QueueError::Unavailable(Box::new(EntryError {
            code: entry.code,
        })))
    } else {
        Outcome::Retry
    };
    Some((index, outcome))
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn enqueue(&self, jobs: &[Job]) -> Result<Vec<EnqueueFailure>, QueueError> {
        let mut failures = Vec::new();
        let mut by_queue: HashMap<QueueRole, Vec<Pending>> = HashMap::new();
        for (index, job) in jobs.iter().enumerate() {
            match serde_json::to_string(job) {
                Ok(body) => by_queue
                    .entry(job.queue())
                    .or_default()
                    .push(Pending { index, body }),
                Err(err) => failures.push(EnqueueFailure {
                    index,
                    error: QueueError::Encode(Box::new(err)),
                }),
            }
        }
        for role in QueueRole::ALL {
            let Some(mut pending) = by_queue.remove(&role) else {
                continue;
            };
            let Some(url) = self.queues.url(role) else {
                let variable = Queues::variable(role);
                failures.extend(pending.into_iter().map(|p| EnqueueFailure {
                    index: p.index,
                    error: QueueError::Rejected {
                        reason: format!(
                            "this function may not send to the {} queue ({variable} is not set)",
                            role.name()
                        ),
                    },
                }));
                continue;
            };
            while !pending.is_empty() {
                let rest = pending.split_off(pending.len().min(SEND_BATCH_MAX));
                let chunk = self.send_chunk(url, pending).await;
                failures.extend(chunk.failures);
                for single in chunk.split {
                    failures.extend(self.send_chunk(url, vec![single]).await.failures);
                }
                pending = rest;
            }
        }
        failures.sort_by_key(|failure| failure.index);
        Ok(failures)
    }

    async fn enqueue_delayed(&self, job: &Job, delay_seconds: u32) -> Result<(), QueueError> {
        let role = job.queue();
        let Some(url) = self.queues.url(role) else {
            return Err(QueueError::Rejected {
                reason: format!(
                    "this function may not send to the {} queue ({} is not set)",
                    role.name(),
                    Queues::variable(role)
                ),
            });
        };
        let body = serde_json::to_string(job).map_err(|e| QueueError::Encode(Box::new(e)))?;
        let delay =
            i32::try_from(delay_seconds.min(domain::ports::MAX_DELAY_SECONDS)).unwrap_or(i32::MAX);
        match self
            .client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if is_transient(&err) => Err(QueueError::Unavailable(Box::new(err))),
            Err(err) => Err(QueueError::Rejected {
                reason: match (service_code(&err), err.message()) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    (Some(code), None) => code.to_owned(),
                    _ => "the request was refused".to_owned(),
                },
            }),
        }
    }
}

/// Runs every message of an SQS batch through `handler`, at most `concurrency`
/// at a time, and reports the messages SQS should deliver again:
///
/// - a body that is not a [`Job`]: reported, so after five receives SQS moves it
///   to the dead-letter queue, where its alarm makes it visible. Only the message
///   id and the error's position are logged, never the body;
/// - a retryable error: reported, so SQS delivers it again;
/// - a permanent error: logged with its chain and acknowledged (the handler is
///   expected to have recorded it where a person sees it).
///
/// A message without an id cannot be named in the response; an empty id makes
/// Lambda retry the whole batch, which at-least-once handlers tolerate.
pub async fn process_batch<F, Fut, E>(
    event: SqsEvent,
    concurrency: usize,
    handler: F,
) -> SqsBatchResponse
where
    F: Fn(Job) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Retryable + std::error::Error + 'static,
{
    process_batch_or_give_up(event, concurrency, handler, |_, _, _| async {}).await
}

/// How many times SQS hands a job out before its queue's redrive moves it to
/// the dead-letter queue (every queue's `maxReceiveCount` in infra/template.yaml;
/// devstack's template test checks they agree).
pub const MAX_RECEIVE_COUNT: u32 = 5;

/// As [`process_batch`]; when a job fails transiently on its last receive
/// ([`MAX_RECEIVE_COUNT`]), before SQS moves it to the dead-letter queue,
/// `give_up(job, reason, receives)` records why where a person sees it (the
/// job's run), so nothing is dead-lettered without a reason.
pub async fn process_batch_or_give_up<F, Fut, E, G, GFut>(
    event: SqsEvent,
    concurrency: usize,
    handler: F,
    give_up: G,
) -> SqsBatchResponse
where
    F: Fn(Job) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Retryable + std::error::Error + 'static,
    G: Fn(Job, String, u32) -> GFut,
    GFut: Future<Output = ()>,
{
    let handler = &handler;
    let give_up = &give_up;
    let redeliver: Vec<Option<String>> = futures::stream::iter(event.records)
        .map(|message| process_message(message, handler, give_up))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    for message_id in redeliver.into_iter().flatten() {
        response.add_failure(message_id);
    }
    response
}

/// Handles one message; returns its id when SQS should deliver it again.
async fn process_message<F, Fut, E, G, GFut>(
    message: SqsMessage,
    handler: &F,
    give_up: &G,
) -> Option<String>
where
    F: Fn(Job) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Retryable + std::error::Error + 'static,
    G: Fn(Job, String, u32) -> GFut,
    GFut: Future<Output = ()>,
{
    let receives: u32 = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let message_id = message.message_id.unwrap_or_default();
    let Some(body) = message.body else {
        tracing::warn!(%message_id, "SQS message has no body; it will go to the dead-letter queue");
        return Some(message_id);
    };
    let job: Job = match serde_json::from_str(&body) {
        Ok(job) => job,
        Err(err) => {
            // serde_json's message can quote the body, so only its position is logged.
            tracing::warn!(
                %message_id,
                category = ?err.classify(),
                line = err.line(),
                column = err.column(),
                "SQS message is not a job; it will go to the dead-letter queue"
            );
            return Some(message_id);
        }
    };
    let tenant = job.tenant().clone();
    let name = job.name();
    let kept = job.clone();
    // A job that panics fails alone: the batch's other jobs are answered.
    let outcome = match std::panic::AssertUnwindSafe(handler(job))
        .catch_unwind()
        .await
    {
        Ok(outcome) => outcome,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(%message_id, %tenant, job = name, panic = %what, "job panicked; SQS will deliver it again, then to the dead-letter queue");
            if receives >= MAX_RECEIVE_COUNT {
                give_up(kept, format!("the job panicked ({what})"), receives).await;
            }
            return Some(message_id);
        }
    };
    match outcome {
        Ok(()) => None,
        Err(err) if err.is_retryable() && receives >= MAX_RECEIVE_COUNT => {
            let reason = error_chain(&err);
            tracing::error!(%message_id, %tenant, receives, error = %reason, "job failed on its last receive; recorded, then SQS moves it to the dead-letter queue");
            give_up(kept, reason, receives).await;
            Some(message_id)
        }
        Err(err) if err.is_retryable() => {
            tracing::warn!(%message_id, %tenant, receives, error = %error_chain(&err), "job failed transiently; SQS will retry it");
            Some(message_id)
        }
        Err(err) => {
            tracing::error!(%message_id, %tenant, error = %error_chain(&err), "job failed permanently; acknowledged");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(id: &str, sender_fault: bool, code: &str) -> BatchResultErrorEntry {
        BatchResultErrorEntry::builder()
            .id(id)
            .sender_fault(sender_fault)
            .code(code)
            .build()
            .unwrap()
    }

    #[test]
    fn a_sender_fault_is_final_and_keeps_its_index() {
        let Some((7, Outcome::Failed(error))) =
            entry_outcome(failed("7", true, "InvalidMessageContents"), false)
        else {
            panic!("expected a final failure of job 7");
        };
        assert!(
            matches!(&error, QueueError::Rejected { reason } if reason == "InvalidMessageContents")
        );
        assert!(!error.is_retryable());
    }

    #[test]
    fn a_service_fault_is_retried_once_then_reported_as_transient() {
        assert!(matches!(
            entry_outcome(failed("3", false, "InternalError"), false),
            Some((3, Outcome::Retry))
        ));
        let Some((3, Outcome::Failed(error))) =
            entry_outcome(failed("3", false, "InternalError"), true)
        else {
            panic!("expected a failure of job 3 after the retry");
        };
        assert!(error.is_retryable());
    }

    #[test]
    fn an_entry_that_is_not_ours_is_ignored() {
        assert!(entry_outcome(failed("x", true, "Whatever"), false).is_none());
    }

    #[derive(Debug, thiserror::Error)]
    #[error("Moodle is unavailable")]
    struct Transient;
    impl Retryable for Transient {
        fn is_retryable(&self) -> bool {
            true
        }
    }

    fn batch(receives: &[u32]) -> SqsEvent {
        let job = serde_json::json!({"type": "sync_learner", "tenant": "acme", "learner": "L1"});
        let records: Vec<serde_json::Value> = receives
            .iter()
            .enumerate()
            .map(|(i, n)| {
                serde_json::json!({
                    "messageId": format!("m{i}"),
                    "body": job.to_string(),
                    "attributes": {"ApproximateReceiveCount": n.to_string()},
                    "messageAttributes": {},
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    #[tokio::test]
    async fn a_job_failing_on_its_last_receive_is_given_up_with_its_reason_once() {
        let given_up = std::sync::Mutex::new(Vec::new());
        let response = process_batch_or_give_up(
            batch(&[1, MAX_RECEIVE_COUNT - 1, MAX_RECEIVE_COUNT]),
            4,
            |_| async { Err::<(), _>(Transient) },
            |job, reason, receives| {
                given_up
                    .lock()
                    .unwrap()
                    .push((job.name(), reason, receives));
                async {}
            },
        )
        .await;
        // Every one goes back to SQS (the last to its dead-letter queue)...
        assert_eq!(response.batch_item_failures.len(), 3);
        // ...and only the last is recorded, with why.
        assert_eq!(
            *given_up.lock().unwrap(),
            vec![(
                "sync_learner",
                "Moodle is unavailable".to_owned(),
                MAX_RECEIVE_COUNT
            )]
        );
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let response = process_batch(batch(&[1, 1]), 1, |job| {
            let first = matches!(&job, Job::SyncLearner { .. });
            async move {
                static SEEN: std::sync::atomic::AtomicBool =
                    std::sync::atomic::AtomicBool::new(false);
                if first && !SEEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    panic!("a poisoned record");
                }
                Ok::<(), Transient>(())
            }
        })
        .await;
        assert_eq!(
            response.batch_item_failures.len(),
            1,
            "only the panicking job is retried"
        );
    }
}
