//! In-memory ports for the use cases' own unit tests. Adapters are tested
//! against the real services (moto, simulators), never against these.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::ports::*;
use domain::{Connection, ConnectionId, Job, Run, RunId, RunLogLine, RunStatus, TenantId};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemConnections(pub Mutex<Vec<Connection>>);

#[async_trait]
impl ConnectionStore for MemConnections {
    async fn enabled_connections(&self) -> Result<Vec<Connection>, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.enabled && c.kind().is_synced_nightly())
            .cloned()
            .collect())
    }
    async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|c| &c.tenant == tenant && &c.id == id)
            .cloned())
    }
    async fn connections(&self, tenant: &TenantId) -> Result<Vec<Connection>, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|c| &c.tenant == tenant)
            .cloned()
            .collect())
    }
    async fn save_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut all = self.0.lock().unwrap();
        all.retain(|c| !(c.tenant == connection.tenant && c.id == connection.id));
        all.push(connection.clone());
        Ok(())
    }
}

type RunKey = (TenantId, ConnectionId, RunId);

#[derive(Default)]
pub struct MemRuns {
    pub runs: Mutex<BTreeMap<RunKey, Run>>,
    pub logs: Mutex<BTreeMap<RunKey, Vec<RunLogLine>>>,
}

#[async_trait]
impl RunStore for MemRuns {
    async fn start_run(&self, run: &Run) -> Result<Written, StoreError> {
        let key = (run.tenant.clone(), run.connection.clone(), run.id.clone());
        let mut runs = self.runs.lock().unwrap();
        if runs.contains_key(&key) {
            return Ok(Written::AlreadyDone);
        }
        runs.insert(key, run.clone());
        Ok(Written::Done)
    }
    async fn run(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
    ) -> Result<Option<Run>, StoreError> {
        Ok(self
            .runs
            .lock()
            .unwrap()
            .get(&(t.clone(), c.clone(), r.clone()))
            .cloned())
    }
    async fn append_log(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
        lines: &[RunLogLine],
    ) -> Result<(), StoreError> {
        self.logs
            .lock()
            .unwrap()
            .entry((t.clone(), c.clone(), r.clone()))
            .or_default()
            .extend_from_slice(lines);
        Ok(())
    }
    async fn log(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
    ) -> Result<Vec<RunLogLine>, StoreError> {
        Ok(self
            .logs
            .lock()
            .unwrap()
            .get(&(t.clone(), c.clone(), r.clone()))
            .cloned()
            .unwrap_or_default())
    }
    async fn finish_run(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
        status: RunStatus,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if let Some(run) = self
            .runs
            .lock()
            .unwrap()
            .get_mut(&(t.clone(), c.clone(), r.clone()))
        {
            run.status = status;
            run.finished_at = Some(at);
        }
        Ok(())
    }
}

/// A queue that records what it was sent and can refuse chosen indexes.
#[derive(Default)]
pub struct MemQueue {
    pub sent: Mutex<Vec<Job>>,
    pub refuse_next: Mutex<Vec<usize>>,
}

#[async_trait]
impl JobQueue for MemQueue {
    async fn enqueue(&self, jobs: &[Job]) -> Result<Vec<EnqueueFailure>, QueueError> {
        let refuse = std::mem::take(&mut *self.refuse_next.lock().unwrap());
        let mut failures = Vec::new();
        for (index, job) in jobs.iter().enumerate() {
            if refuse.contains(&index) {
                failures.push(EnqueueFailure {
                    index,
                    error: QueueError::Unavailable("throttled".into()),
                });
            } else {
                self.sent.lock().unwrap().push(job.clone());
            }
        }
        Ok(failures)
    }
}
