//! SQS as the functions see it, in memory.

use async_trait::async_trait;
use domain::Job;
use domain::QueueRole;
use domain::ports::*;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// SQS as the functions see it: one queue per role, batches handed to
/// pollers, and the work outstanding (queued, delayed or being handled) known,
/// so the night ends when every queue is empty and every handler idle.
#[derive(Clone, Default)]
pub struct BenchQueue(Arc<QueueShared>);

#[derive(Default)]
pub struct QueueShared {
    pub state: Mutex<QueueState>,
    pub changed: Notify,
}

impl std::ops::Deref for BenchQueue {
    type Target = QueueShared;
    fn deref(&self) -> &QueueShared {
        &self.0
    }
}

#[derive(Default)]
pub struct QueueState {
    pub queues: HashMap<QueueRole, VecDeque<Job>>,
    /// Jobs queued, delayed or in a handler.
    pub outstanding: usize,
    pub sent: BTreeMap<&'static str, usize>,
    pub delayed: usize,
}

pub enum Taken {
    Batch(Vec<Job>),
    Empty,
    AllDone,
}

impl QueueShared {
    fn push(&self, job: Job) {
        let mut st = self.state.lock().unwrap();
        *st.sent.entry(job.name()).or_default() += 1;
        st.queues.entry(job.queue()).or_default().push_back(job);
        st.outstanding += 1;
        drop(st);
        self.changed.notify_waiters();
    }

    fn take(&self, role: QueueRole, max: usize) -> Taken {
        let mut st = self.state.lock().unwrap();
        let q = st.queues.entry(role).or_default();
        if q.is_empty() {
            return if st.outstanding == 0 {
                Taken::AllDone
            } else {
                Taken::Empty
            };
        }
        let n = max.min(q.len());
        Taken::Batch(q.drain(..n).collect())
    }

    /// Waits for a batch (a long poll), or for the night to be over.
    pub async fn receive(&self, role: QueueRole, max: usize) -> Option<Vec<Job>> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.take(role, max) {
                Taken::Batch(jobs) => return Some(jobs),
                Taken::AllDone => return None,
                Taken::Empty => notified.await,
            }
        }
    }

    /// A handled job leaves (a failed one was put back first).
    pub fn done(&self) {
        self.state.lock().unwrap().outstanding -= 1;
        self.changed.notify_waiters();
    }

    pub fn take_counts(&self) -> (BTreeMap<&'static str, usize>, usize) {
        let mut st = self.state.lock().unwrap();
        (
            std::mem::take(&mut st.sent),
            std::mem::take(&mut st.delayed),
        )
    }
}

#[async_trait]
impl JobQueue for BenchQueue {
    async fn enqueue(&self, jobs: &[Job]) -> Result<Vec<EnqueueFailure>, QueueError> {
        for job in jobs {
            self.push(job.clone());
        }
        Ok(Vec::new())
    }

    async fn enqueue_delayed(&self, job: &Job, delay_seconds: u32) -> Result<(), QueueError> {
        {
            let mut st = self.state.lock().unwrap();
            st.outstanding += 1;
            st.delayed += 1;
        }
        let (queue, job) = (self.clone(), job.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(
                delay_seconds.min(MAX_DELAY_SECONDS).into(),
            ))
            .await;
            queue.push(job);
            queue.done();
        });
        Ok(())
    }
}
