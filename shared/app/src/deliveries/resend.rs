//! A person's "resend now" and "cancel".

use super::create::{deliver_job, enqueue_one};
use super::error::DeliveryError;
use chrono::{DateTime, Utc};
use domain::TenantId;
use domain::delivery::{self, Delivery, DeliveryId};
use domain::ports::{DeliveryStore, JobQueue, StoreError};

async fn load(
    store: &dyn DeliveryStore,
    tenant: &TenantId,
    id: &DeliveryId,
) -> Result<Delivery, DeliveryError> {
    store
        .delivery(tenant, id)
        .await?
        .ok_or_else(|| DeliveryError::NotFound { id: id.clone() })
}

fn conflict_to_changed(id: &DeliveryId) -> impl FnOnce(StoreError) -> DeliveryError + '_ {
    move |e| match e {
        StoreError::Conflict { .. } => DeliveryError::Changed { id: id.clone() },
        e => e.into(),
    }
}

/// A person's "resend now": the delivery becomes due now, with a fresh retry
/// window, and is queued. Returns it as stored.
#[tracing::instrument(skip_all, fields(tenant = %tenant, delivery = %id))]
pub async fn resend_now(
    store: &dyn DeliveryStore,
    queue: &dyn JobQueue,
    tenant: &TenantId,
    id: &DeliveryId,
    now: DateTime<Utc>,
) -> Result<Delivery, DeliveryError> {
    let current = load(store, tenant, id).await?;
    let due = delivery::resend_now(&current, now)?;
    store
        .update(&due, None)
        .await
        .map_err(conflict_to_changed(id))?;
    enqueue_one(queue, deliver_job(&due)).await?;
    Ok(Delivery {
        version: due.version.saturating_add(1),
        ..due
    })
}

/// A person's "cancel": the delivery is never tried again.
#[tracing::instrument(skip_all, fields(tenant = %tenant, delivery = %id))]
pub async fn cancel(
    store: &dyn DeliveryStore,
    tenant: &TenantId,
    id: &DeliveryId,
) -> Result<Delivery, DeliveryError> {
    let current = load(store, tenant, id).await?;
    let cancelled = delivery::cancel(&current)?;
    if cancelled == current {
        return Ok(current);
    }
    store
        .update(&cancelled, None)
        .await
        .map_err(conflict_to_changed(id))?;
    Ok(Delivery {
        version: cancelled.version.saturating_add(1),
        ..cancelled
    })
}
