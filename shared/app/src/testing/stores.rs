//! In-memory stores of connections, runs, tenants, jobs, SIS records, links
//! and mail.

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
    async fn create_connection(&self, connection: &Connection) -> Result<Written, StoreError> {
        let mut all = self.0.lock().unwrap();
        if all.iter().any(|c| {
            c.tenant == connection.tenant
                && (c.id == connection.id
                    || (connection.kind().one_per_tenant() && c.kind() == connection.kind()))
        }) {
            return Ok(Written::AlreadyDone);
        }
        all.push(connection.clone());
        Ok(Written::Done)
    }
}

type RunKey = (TenantId, ConnectionId, RunId);
/// A run's figures per offering, by name.
type OfferingFigures = BTreeMap<String, BTreeMap<String, u64>>;
/// A lease's holder and until when.
type Lease = (RunId, DateTime<Utc>);

#[derive(Default)]
pub struct MemRuns {
    pub stops: Mutex<std::collections::BTreeSet<RunKey>>,
    pub runs: Mutex<BTreeMap<RunKey, Run>>,
    pub logs: Mutex<BTreeMap<RunKey, Vec<RunLogLine>>>,
    /// Each connection's lease: its holder and until when.
    pub leases: Mutex<BTreeMap<(TenantId, ConnectionId), Lease>>,
    /// Keys given to `append_once`, per run.
    pub once: Mutex<std::collections::BTreeSet<(RunKey, String)>>,
    /// Figures set per offering, per run.
    pub per_offering: Mutex<BTreeMap<RunKey, OfferingFigures>>,
}

impl MemRuns {
    /// The run with its counts merged as the store's readers see them.
    fn merged(&self, run: &Run) -> Run {
        let key = (run.tenant.clone(), run.connection.clone(), run.id.clone());
        let mut run = run.clone();
        if let Some(per) = self.per_offering.lock().unwrap().get(&key) {
            run.counts = domain::run::merged_counts(&run.counts, per);
        }
        run
    }
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
        let run = self
            .runs
            .lock()
            .unwrap()
            .get(&(t.clone(), c.clone(), r.clone()))
            .cloned();
        Ok(run.map(|run| self.merged(&run)))
    }
    async fn set_offering_counts(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
        offering: &str,
        counts: &[(&str, u64)],
    ) -> Result<(), StoreError> {
        self.per_offering
            .lock()
            .unwrap()
            .entry((t.clone(), c.clone(), r.clone()))
            .or_default()
            .insert(
                offering.to_owned(),
                counts.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect(),
            );
        Ok(())
    }
    async fn append_log(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
        lines: &[RunLogLine],
    ) -> Result<(), StoreError> {
        let key = (t.clone(), c.clone(), r.clone());
        if let Some(run) = self.runs.lock().unwrap().get_mut(&key) {
            run.log = run.log.plus(domain::LogTally::of(lines));
        }
        self.logs
            .lock()
            .unwrap()
            .entry(key)
            .or_default()
            .extend_from_slice(lines);
        Ok(())
    }
    async fn append_once(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
        key: &str,
        lines: &[RunLogLine],
        counts: &[(&str, u64)],
    ) -> Result<bool, StoreError> {
        let run = (t.clone(), c.clone(), r.clone());
        if !self.once.lock().unwrap().insert((run, key.to_owned())) {
            return Ok(false);
        }
        self.add_counts(t, c, r, counts).await?;
        self.append_log(t, c, r, lines).await?;
        Ok(true)
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
    async fn request_stop(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
    ) -> Result<bool, StoreError> {
        let key = (t.clone(), c.clone(), r.clone());
        if !self.runs.lock().unwrap().contains_key(&key) {
            return Ok(false);
        }
        self.stops.lock().unwrap().insert(key);
        Ok(true)
    }
    async fn history(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Run>, StoreError> {
        let mut runs: Vec<Run> = self
            .runs
            .lock()
            .unwrap()
            .values()
            .filter(|r| &r.tenant == t && &r.connection == c)
            .filter(|r| {
                from.is_none_or(|f| r.started_at >= f) && to.is_none_or(|e| r.started_at <= e)
            })
            .cloned()
            .collect();
        runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        runs.truncate(limit);
        Ok(runs.iter().map(|r| self.merged(r)).collect())
    }
    async fn stop_requested(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
    ) -> Result<bool, StoreError> {
        Ok(self
            .stops
            .lock()
            .unwrap()
            .contains(&(t.clone(), c.clone(), r.clone())))
    }
    async fn acquire_lease(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<domain::LeaseOutcome, StoreError> {
        let mut leases = self.leases.lock().unwrap();
        let key = (t.clone(), c.clone());
        let taken_from = match leases.get(&key) {
            Some((holder, held_until)) if holder != r && *held_until >= now => {
                return Ok(domain::LeaseOutcome::Busy {
                    holder: holder.clone(),
                    until: *held_until,
                });
            }
            Some((holder, _)) if holder != r => Some(holder.clone()),
            _ => None,
        };
        leases.insert(key, (r.clone(), until));
        Ok(domain::LeaseOutcome::Acquired { until, taken_from })
    }
    async fn release_lease(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
    ) -> Result<(), StoreError> {
        let mut leases = self.leases.lock().unwrap();
        let key = (t.clone(), c.clone());
        if leases.get(&key).is_some_and(|(holder, _)| holder == r) {
            leases.remove(&key);
        }
        Ok(())
    }
    async fn add_counts(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        r: &RunId,
        counts: &[(&str, u64)],
    ) -> Result<(), StoreError> {
        if let Some(run) = self
            .runs
            .lock()
            .unwrap()
            .get_mut(&(t.clone(), c.clone(), r.clone()))
        {
            for (name, n) in counts {
                *run.counts.entry((*name).to_owned()).or_default() += n;
            }
        }
        Ok(())
    }
}

/// Tenant settings in memory (the defaults until saved).
#[derive(Default)]
pub struct MemTenants(pub Mutex<BTreeMap<TenantId, domain::tenant::TenantSettings>>);

#[async_trait]
impl TenantSettingsStore for MemTenants {
    async fn tenant_settings(
        &self,
        t: &TenantId,
    ) -> Result<domain::tenant::TenantSettings, StoreError> {
        Ok(self.0.lock().unwrap().get(t).cloned().unwrap_or_default())
    }
    async fn save_tenant_settings(
        &self,
        t: &TenantId,
        settings: &domain::tenant::TenantSettings,
    ) -> Result<(), StoreError> {
        self.0.lock().unwrap().insert(t.clone(), settings.clone());
        Ok(())
    }
}

/// A queue that records what it was sent and can refuse chosen indexes.
#[derive(Default)]
pub struct MemQueue {
    pub sent: Mutex<Vec<Job>>,
    pub refuse_next: Mutex<Vec<usize>>,
    /// Jobs sent with a delay, and the delay in seconds.
    pub delayed: Mutex<Vec<(Job, u32)>>,
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
    async fn enqueue_delayed(&self, job: &Job, delay_seconds: u32) -> Result<(), QueueError> {
        self.delayed
            .lock()
            .unwrap()
            .push((job.clone(), delay_seconds.min(MAX_DELAY_SECONDS)));
        Ok(())
    }
}

/// The SMS's records, in memory.
#[derive(Default)]
pub struct MemSis {
    pub learners: Mutex<BTreeMap<(TenantId, domain::LearnerCode), domain::sis::Learner>>,
    pub offerings: Mutex<BTreeMap<(TenantId, domain::OfferingId), domain::sis::Offering>>,
    pub enrolments: Mutex<
        BTreeMap<(TenantId, domain::OfferingId, domain::LearnerCode), domain::sis::Enrolment>,
    >,
}

#[async_trait]
impl SisStore for MemSis {
    async fn learner(
        &self,
        t: &TenantId,
        code: &domain::LearnerCode,
    ) -> Result<Option<domain::sis::Learner>, StoreError> {
        Ok(self
            .learners
            .lock()
            .unwrap()
            .get(&(t.clone(), code.clone()))
            .cloned())
    }
    async fn learners(
        &self,
        t: &TenantId,
        codes: &[domain::LearnerCode],
    ) -> Result<Vec<domain::sis::Learner>, StoreError> {
        let all = self.learners.lock().unwrap();
        Ok(codes
            .iter()
            .filter_map(|c| all.get(&(t.clone(), c.clone())).cloned())
            .collect())
    }
    async fn save_learner(&self, l: &domain::sis::Learner) -> Result<(), StoreError> {
        self.learners
            .lock()
            .unwrap()
            .insert((l.tenant.clone(), l.code.clone()), l.clone());
        Ok(())
    }
    async fn offering(
        &self,
        t: &TenantId,
        id: &domain::OfferingId,
    ) -> Result<Option<domain::sis::Offering>, StoreError> {
        Ok(self
            .offerings
            .lock()
            .unwrap()
            .get(&(t.clone(), id.clone()))
            .cloned())
    }
    async fn offering_page(
        &self,
        t: &TenantId,
        filter: &str,
        after: Option<&domain::OfferingId>,
        limit: usize,
    ) -> Result<domain::ports::OfferingPage, StoreError> {
        let all = self.offerings.lock().unwrap();
        let mut found: Vec<domain::sis::OfferingSummary> = all
            .iter()
            .filter(|((tenant, id), o)| {
                tenant == t
                    && after.is_none_or(|after| id > after)
                    && domain::sis::offering_matches(id, &o.name, filter)
            })
            .map(|(_, o)| domain::sis::OfferingSummary::from(o))
            .take(limit + 1)
            .collect();
        let next = (found.len() > limit).then(|| {
            found.truncate(limit);
            found.last().map(|o| o.id.clone())
        });
        Ok(domain::ports::OfferingPage {
            offerings: found,
            next: next.flatten(),
        })
    }
    async fn save_offering(&self, o: &domain::sis::Offering) -> Result<(), StoreError> {
        self.offerings
            .lock()
            .unwrap()
            .insert((o.tenant.clone(), o.id.clone()), o.clone());
        Ok(())
    }
    async fn enrolment(
        &self,
        t: &TenantId,
        o: &domain::OfferingId,
        l: &domain::LearnerCode,
    ) -> Result<Option<domain::sis::Enrolment>, StoreError> {
        Ok(self
            .enrolments
            .lock()
            .unwrap()
            .get(&(t.clone(), o.clone(), l.clone()))
            .cloned())
    }
    async fn enrolments(
        &self,
        t: &TenantId,
        o: &domain::OfferingId,
    ) -> Result<Vec<domain::sis::Enrolment>, StoreError> {
        Ok(self
            .enrolments
            .lock()
            .unwrap()
            .values()
            .filter(|e| &e.tenant == t && &e.offering == o)
            .cloned()
            .collect())
    }
    async fn enrolment_page(
        &self,
        t: &TenantId,
        o: &domain::OfferingId,
        after: Option<&domain::LearnerCode>,
        limit: usize,
    ) -> Result<domain::ports::EnrolmentPage, StoreError> {
        let all = self.enrolments.lock().unwrap();
        let mut rest = all
            .values()
            .filter(|e| &e.tenant == t && &e.offering == o)
            .filter(|e| after.is_none_or(|after| &e.learner > after));
        let enrolments: Vec<_> = rest.by_ref().take(limit.max(1)).cloned().collect();
        let next = match rest.next() {
            Some(_) => enrolments.last().map(|e| e.learner.clone()),
            None => None,
        };
        Ok(domain::ports::EnrolmentPage { enrolments, next })
    }
    async fn learner_enrolments(
        &self,
        t: &TenantId,
        l: &domain::LearnerCode,
    ) -> Result<Vec<domain::sis::Enrolment>, StoreError> {
        Ok(self
            .enrolments
            .lock()
            .unwrap()
            .values()
            .filter(|e| &e.tenant == t && &e.learner == l)
            .cloned()
            .collect())
    }
    async fn save_enrolment(&self, e: &domain::sis::Enrolment) -> Result<(), StoreError> {
        self.enrolments.lock().unwrap().insert(
            (e.tenant.clone(), e.offering.clone(), e.learner.clone()),
            e.clone(),
        );
        Ok(())
    }
}

type AccountKey = (TenantId, ConnectionId, domain::LearnerCode);
type TransferKey = (
    TenantId,
    ConnectionId,
    domain::OfferingId,
    domain::LearnerCode,
);

/// Links, accounts and transfers, in memory.
#[derive(Default)]
pub struct MemLinks {
    pub links:
        Mutex<BTreeMap<(TenantId, domain::OfferingId, ConnectionId), domain::sis::CourseLink>>,
    pub accounts: Mutex<BTreeMap<AccountKey, domain::sis::ExternalAccount>>,
    pub transfers: Mutex<BTreeMap<TransferKey, domain::sis::Transfer>>,
}

#[async_trait]
impl LinkStore for MemLinks {
    async fn accounts_by_external_id(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        external_id: i64,
    ) -> Result<Vec<domain::sis::ExternalAccount>, StoreError> {
        Ok(self
            .accounts
            .lock()
            .unwrap()
            .values()
            .filter(|a| &a.tenant == t && &a.connection == c && a.external_id == external_id)
            .cloned()
            .collect())
    }
    async fn link(
        &self,
        t: &TenantId,
        o: &domain::OfferingId,
        c: &ConnectionId,
    ) -> Result<Option<domain::sis::CourseLink>, StoreError> {
        Ok(self
            .links
            .lock()
            .unwrap()
            .get(&(t.clone(), o.clone(), c.clone()))
            .cloned())
    }
    async fn links(
        &self,
        t: &TenantId,
        c: &ConnectionId,
    ) -> Result<Vec<domain::sis::CourseLink>, StoreError> {
        Ok(self
            .links
            .lock()
            .unwrap()
            .values()
            .filter(|l| &l.tenant == t && &l.connection == c)
            .cloned()
            .collect())
    }
    async fn save_link(&self, l: &domain::sis::CourseLink) -> Result<(), StoreError> {
        self.links.lock().unwrap().insert(
            (l.tenant.clone(), l.offering.clone(), l.connection.clone()),
            l.clone(),
        );
        Ok(())
    }
    async fn account(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        l: &domain::LearnerCode,
    ) -> Result<Option<domain::sis::ExternalAccount>, StoreError> {
        Ok(self
            .accounts
            .lock()
            .unwrap()
            .get(&(t.clone(), c.clone(), l.clone()))
            .cloned())
    }
    async fn accounts(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        learners: &[domain::LearnerCode],
    ) -> Result<Vec<domain::sis::ExternalAccount>, StoreError> {
        let all = self.accounts.lock().unwrap();
        Ok(learners
            .iter()
            .filter_map(|l| all.get(&(t.clone(), c.clone(), l.clone())).cloned())
            .collect())
    }
    async fn save_account(&self, a: &domain::sis::ExternalAccount) -> Result<Written, StoreError> {
        let mut all = self.accounts.lock().unwrap();
        let key = (a.tenant.clone(), a.connection.clone(), a.learner.clone());
        if all.contains_key(&key) {
            return Ok(Written::AlreadyDone);
        }
        all.insert(key, a.clone());
        Ok(Written::Done)
    }
    async fn replace_account(&self, a: &domain::sis::ExternalAccount) -> Result<(), StoreError> {
        self.accounts.lock().unwrap().insert(
            (a.tenant.clone(), a.connection.clone(), a.learner.clone()),
            a.clone(),
        );
        Ok(())
    }
    async fn transfer(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        o: &domain::OfferingId,
        l: &domain::LearnerCode,
    ) -> Result<Option<domain::sis::Transfer>, StoreError> {
        Ok(self
            .transfers
            .lock()
            .unwrap()
            .get(&(t.clone(), c.clone(), o.clone(), l.clone()))
            .cloned())
    }
    async fn transfers(
        &self,
        t: &TenantId,
        c: &ConnectionId,
        o: &domain::OfferingId,
    ) -> Result<Vec<domain::sis::Transfer>, StoreError> {
        Ok(self
            .transfers
            .lock()
            .unwrap()
            .values()
            .filter(|x| &x.tenant == t && &x.connection == c && &x.offering == o)
            .cloned()
            .collect())
    }
    async fn save_transfer(&self, x: &domain::sis::Transfer) -> Result<(), StoreError> {
        self.transfers.lock().unwrap().insert(
            (
                x.tenant.clone(),
                x.connection.clone(),
                x.offering.clone(),
                x.learner.clone(),
            ),
            x.clone(),
        );
        Ok(())
    }
}

/// A mailer that keeps what it was asked to send.
#[derive(Default)]
pub struct MemMailer(pub Mutex<Vec<Email>>);

#[async_trait]
impl Mailer for MemMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.0.lock().unwrap().push(email.clone());
        Ok(())
    }
}
