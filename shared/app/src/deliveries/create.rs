//! Creating a delivery (once per key) and queueing it.

use super::error::DeliveryError;
use chrono::{DateTime, Utc};
use domain::delivery::{self, Delivery, DeliveryId, DeliveryKey, Merge};
use domain::ports::{DeliveryStore, JobQueue, StoreError, Written};
use domain::{ConnectionId, Job};

pub(super) async fn enqueue_one(queue: &dyn JobQueue, job: Job) -> Result<(), DeliveryError> {
    match queue
        .enqueue(std::slice::from_ref(&job))
        .await?
        .into_iter()
        .next()
    {
        Some(failure) => Err(failure.error.into()),
        None => Ok(()),
    }
}

pub(super) fn deliver_job(d: &Delivery) -> Job {
    Job::Deliver {
        tenant: d.tenant.clone(),
        delivery: d.id.clone(),
    }
}

/// What [`create_delivery`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new delivery, queued to be sent.
    New(DeliveryId),
    /// The same delivery was already there: nothing changed.
    Unchanged(DeliveryId),
    /// Not delivered yet: it now carries the new payload.
    Replaced(DeliveryId),
    /// Already delivered: the new payload was recorded as superseded, not sent.
    Superseded {
        delivered: DeliveryId,
        superseded: DeliveryId,
    },
}

/// Creates the delivery for `key` (idempotently) and queues it; a later,
/// different payload for the same key follows "first result wins"
/// ([`delivery::merge_payload`]).
#[tracing::instrument(skip_all, fields(tenant = %key.tenant, connection = %connection))]
pub async fn create_delivery(
    store: &dyn DeliveryStore,
    queue: &dyn JobQueue,
    key: &DeliveryKey,
    connection: &ConnectionId,
    payload: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Created, DeliveryError> {
    let new = Delivery::new(key, connection.clone(), payload, now);
    if store.create(&new).await? == Written::Done {
        enqueue_one(queue, deliver_job(&new)).await?;
        return Ok(Created::New(new.id));
    }
    let existing = store
        .delivery(&new.tenant, &new.id)
        .await?
        .ok_or_else(|| DeliveryError::Changed { id: new.id.clone() })?;
    match delivery::merge_payload(&existing, &new.payload, now) {
        Merge::Unchanged => {
            // A redelivered job may find it created but never queued: queue it again.
            if existing.is_due(now) {
                enqueue_one(queue, deliver_job(&existing)).await?;
            }
            Ok(Created::Unchanged(existing.id))
        }
        Merge::Replace(replaced) => {
            store.update(&replaced, None).await.map_err(|e| match e {
                StoreError::Conflict { .. } => DeliveryError::Changed {
                    id: replaced.id.clone(),
                },
                e => e.into(),
            })?;
            if replaced.is_due(now) {
                enqueue_one(queue, deliver_job(&replaced)).await?;
            }
            Ok(Created::Replaced(replaced.id))
        }
        Merge::Supersede(superseded) => {
            store.create(&superseded).await?;
            tracing::info!(delivered = %existing.id, superseded = %superseded.id, "a later result was recorded, not sent: the first result wins");
            Ok(Created::Superseded {
                delivered: existing.id,
                superseded: superseded.id,
            })
        }
    }
}
