//! Scheduler event -> `app::dispatch::dispatch_nightly` ("nightly") or
//! `app::roster::dispatch_roster_updates` ("coursekey_roster", every minute).

use crate::Deps;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The input EventBridge Scheduler sends (see infra/template.yaml):
/// `{"schedule": "nightly", "scheduled_time": "<aws.scheduler.scheduled-time>"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledInvocation {
    pub schedule: String,
    /// The time the schedule was due; run ids derive from it, so a retried
    /// invocation names the same runs. Absent when invoked by hand: now is used.
    #[serde(default)]
    pub scheduled_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    pub queued: usize,
    pub already_finished: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("nightly-sync handles the \"nightly\" and \"coursekey_roster\" schedules, not {0:?}")]
    UnknownSchedule(String),
    #[error(transparent)]
    Dispatch(#[from] app::dispatch::DispatchError),
    #[error(transparent)]
    RosterTick(#[from] app::roster::RosterTickError),
}

/// Starts tonight's runs. An error makes the Scheduler retry the invocation,
/// which is safe: runs already queued for this schedule time are not duplicated.
pub async fn handle(
    deps: &Deps,
    event: ScheduledInvocation,
    now: DateTime<Utc>,
) -> Result<Response, HandlerError> {
    let scheduled_at = event.scheduled_time.unwrap_or(now);
    match event.schedule.as_str() {
        "nightly" => {}
        // The CourseKey roster tick: `queued` pushes; `already_finished` counts the
        // connections not due (ticked less than update_every_minutes ago, or retried).
        "coursekey_roster" => {
            let report = app::roster::dispatch_roster_updates(
                deps.connections.as_ref(),
                deps.attendance.as_ref(),
                deps.sis.as_ref(),
                deps.queue.as_ref(),
                deps.tenants.as_ref(),
                scheduled_at,
            )
            .await?;
            return Ok(Response {
                queued: report.queued.len(),
                already_finished: report.not_due,
            });
        }
        _ => return Err(HandlerError::UnknownSchedule(event.schedule)),
    }
    let report = app::dispatch::dispatch_nightly(
        deps.connections.as_ref(),
        deps.runs.as_ref(),
        deps.queue.as_ref(),
        deps.tenants.as_ref(),
        scheduled_at,
        now,
    )
    .await?;
    Ok(Response {
        queued: report.queued.len(),
        already_finished: report.already_finished,
    })
}
