//! In-memory results and deliveries stores, for the results use case's tests
//! and its benchmark.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::delivery::{Attempt, Delivery, DeliveryId, DeliveryState};
use domain::ports::{DeliveryStore, ResultStore, StoreError, Written};
use domain::results::{
    Mapping, OfferingProgress, RetryEntry, ReviewState, StoredCompletion, StoredResult,
};
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A connection's watermark and the reads to retry.
pub type Progress = (Option<DateTime<Utc>>, Vec<RetryEntry>);

#[derive(Default)]
pub struct MemResults {
    pub mappings: Mutex<Vec<Mapping>>,
    pub results: Mutex<BTreeMap<(OfferingId, LearnerCode, AssessableId), StoredResult>>,
    /// Each connection's watermark and retry set.
    pub progress: Mutex<BTreeMap<(TenantId, ConnectionId), Progress>>,
    pub completions: Mutex<BTreeMap<(OfferingId, LearnerCode), StoredCompletion>>,
    /// Offerings downloaded on their own: their watermark and retry set.
    pub offering_progress: Mutex<BTreeMap<(TenantId, ConnectionId, OfferingId), OfferingProgress>>,
}

impl MemResults {
    /// A connection's watermark and retry set (none yet: no watermark, no retries).
    pub fn progress_of(&self, t: &TenantId, c: &ConnectionId) -> Progress {
        self.progress
            .lock()
            .unwrap()
            .get(&(t.clone(), c.clone()))
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait]
impl ResultStore for MemResults {
    async fn save_mapping(&self, m: &Mapping) -> Result<(), StoreError> {
        let mut all = self.mappings.lock().unwrap();
        all.retain(|x| !(x.offering == m.offering && x.assessable == m.assessable));
        all.push(m.clone());
        Ok(())
    }
    async fn delete_mapping(
        &self,
        _t: &TenantId,
        o: &OfferingId,
        c: &ConnectionId,
        a: &AssessableId,
    ) -> Result<(), StoreError> {
        self.mappings
            .lock()
            .unwrap()
            .retain(|m| !(&m.offering == o && &m.connection == c && &m.assessable == a));
        Ok(())
    }
    async fn mappings(
        &self,
        _t: &TenantId,
        o: &OfferingId,
        c: &ConnectionId,
    ) -> Result<Vec<Mapping>, StoreError> {
        Ok(self
            .mappings
            .lock()
            .unwrap()
            .iter()
            .filter(|m| &m.offering == o && &m.connection == c)
            .cloned()
            .collect())
    }
    async fn save_result(&self, r: &StoredResult) -> Result<(), StoreError> {
        self.results.lock().unwrap().insert(
            (r.offering.clone(), r.learner.clone(), r.assessable.clone()),
            r.clone(),
        );
        Ok(())
    }
    async fn result(
        &self,
        _t: &TenantId,
        o: &OfferingId,
        l: &LearnerCode,
        a: &AssessableId,
    ) -> Result<Option<StoredResult>, StoreError> {
        Ok(self
            .results
            .lock()
            .unwrap()
            .get(&(o.clone(), l.clone(), a.clone()))
            .cloned())
    }
    async fn results(
        &self,
        _t: &TenantId,
        o: &OfferingId,
    ) -> Result<Vec<StoredResult>, StoreError> {
        Ok(self
            .results
            .lock()
            .unwrap()
            .values()
            .filter(|r| &r.offering == o)
            .cloned()
            .collect())
    }
    async fn results_by_state(
        &self,
        _t: &TenantId,
        c: &ConnectionId,
        s: ReviewState,
        limit: usize,
    ) -> Result<Vec<StoredResult>, StoreError> {
        Ok(self
            .results
            .lock()
            .unwrap()
            .values()
            .filter(|r| &r.connection == c && r.state == s)
            .take(limit)
            .cloned()
            .collect())
    }
    async fn watermark(
        &self,
        t: &TenantId,
        c: &ConnectionId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.progress_of(t, c).0)
    }
    async fn save_watermark(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.progress
            .lock()
            .unwrap()
            .insert((t.clone(), c.clone()), (Some(at), Vec::new()));
        Ok(())
    }
    async fn retries(&self, t: &TenantId, c: &ConnectionId) -> Result<Vec<RetryEntry>, StoreError> {
        Ok(self.progress_of(t, c).1)
    }
    async fn save_progress(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        at: DateTime<Utc>,
        retries: &[RetryEntry],
    ) -> Result<(), StoreError> {
        self.progress
            .lock()
            .unwrap()
            .insert((t.clone(), c.clone()), (Some(at), retries.to_vec()));
        Ok(())
    }
    async fn offering_progress(
        &self,
        t: &TenantId,
        c: &ConnectionId,
    ) -> Result<Vec<OfferingProgress>, StoreError> {
        Ok(self
            .offering_progress
            .lock()
            .unwrap()
            .iter()
            .filter(|((pt, pc, _), _)| pt == t && pc == c)
            .map(|(_, p)| p.clone())
            .collect())
    }
    async fn save_offering_progress(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        progress: &OfferingProgress,
    ) -> Result<(), StoreError> {
        self.offering_progress.lock().unwrap().insert(
            (t.clone(), c.clone(), progress.offering.clone()),
            progress.clone(),
        );
        Ok(())
    }
    async fn save_completion(&self, c: &StoredCompletion) -> Result<(), StoreError> {
        self.completions
            .lock()
            .unwrap()
            .insert((c.offering.clone(), c.learner.clone()), c.clone());
        Ok(())
    }
    async fn completion(
        &self,
        _t: &TenantId,
        o: &OfferingId,
        l: &LearnerCode,
    ) -> Result<Option<StoredCompletion>, StoreError> {
        Ok(self
            .completions
            .lock()
            .unwrap()
            .get(&(o.clone(), l.clone()))
            .cloned())
    }
    async fn completions(
        &self,
        _t: &TenantId,
        o: &OfferingId,
    ) -> Result<Vec<StoredCompletion>, StoreError> {
        Ok(self
            .completions
            .lock()
            .unwrap()
            .values()
            .filter(|c| &c.offering == o)
            .cloned()
            .collect())
    }
    async fn completions_by_state(
        &self,
        _t: &TenantId,
        c: &ConnectionId,
        s: ReviewState,
        limit: usize,
    ) -> Result<Vec<StoredCompletion>, StoreError> {
        Ok(self
            .completions
            .lock()
            .unwrap()
            .values()
            .filter(|x| &x.connection == c && x.state == s)
            .take(limit)
            .cloned()
            .collect())
    }
}

#[derive(Default)]
pub struct MemDeliveries(pub Mutex<BTreeMap<DeliveryId, Delivery>>);

#[async_trait]
impl DeliveryStore for MemDeliveries {
    async fn create(&self, d: &Delivery) -> Result<Written, StoreError> {
        let mut all = self.0.lock().unwrap();
        if all.contains_key(&d.id) {
            return Ok(Written::AlreadyDone);
        }
        all.insert(d.id.clone(), d.clone());
        Ok(Written::Done)
    }
    async fn delivery(
        &self,
        _t: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        Ok(self.0.lock().unwrap().get(id).cloned())
    }
    async fn due(&self, _now: DateTime<Utc>, _limit: usize) -> Result<Vec<Delivery>, StoreError> {
        Ok(Vec::new())
    }
    async fn by_state(
        &self,
        _t: &TenantId,
        _c: &ConnectionId,
        _s: DeliveryState,
        _limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        Ok(Vec::new())
    }
    async fn attempts(&self, _t: &TenantId, _id: &DeliveryId) -> Result<Vec<Attempt>, StoreError> {
        Ok(Vec::new())
    }
    async fn update(&self, d: &Delivery, _a: Option<&Attempt>) -> Result<(), StoreError> {
        self.0.lock().unwrap().insert(d.id.clone(), d.clone());
        Ok(())
    }
}
