//! An offering's actions (issue 19 item 3), beside its page in `offerings.rs`:
//! Transfer and the run it started, Remove from Moodle (confirm, then the
//! result), a new course in a chosen category, the linked course's activities
//! and the mapping editor, and a blocked learner's SMS record. Each calls the app
//! use case the api's route calls (`app::runs`, `app::enrolment_removal`,
//! `app::courses`, `app::results`), with the api's dependencies.

pub mod course;
pub mod learner;
pub mod mappings;
pub mod removal;
pub mod transfer;

use crate::ConsoleState;
use crate::error::ConsoleError;
use domain::{Connection, ConnectionId, ConnectionKind, TenantId};

/// One of the tenant's Moodle connections, named in a path; else not found.
pub(crate) async fn moodle_connection(
    state: &ConsoleState,
    tenant: &TenantId,
    raw: &str,
) -> Result<Connection, ConsoleError> {
    let missing =
        || ConsoleError::NotFound(format!("This tenant has no Moodle connection {raw:?}."));
    let id = ConnectionId::parse(raw.to_owned()).map_err(|_| missing())?;
    match state.api.deps.connections.connection(tenant, &id).await? {
        Some(c) if c.kind() == ConnectionKind::Moodle => Ok(c),
        _ => Err(missing()),
    }
}

/// The offering actions' routes, merged into the console's router.
pub fn routes() -> axum::Router<ConsoleState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console/offerings/{id}/transfers", post(transfer::start))
        .route(
            "/console/offerings/{id}/transfers/{connection}/{run}",
            get(transfer::page),
        )
        .route(
            "/console/offerings/{id}/removal/{connection}/{learner}",
            get(removal::page).post(removal::remove),
        )
        .route(
            "/console/offerings/{id}/courses/{connection}",
            get(course::form).post(course::create),
        )
        .route(
            "/console/offerings/{id}/activities/{connection}",
            get(mappings::page),
        )
        .route(
            "/console/offerings/{id}/activities/{connection}/{assessable}",
            post(mappings::map),
        )
        .route(
            "/console/offerings/{id}/activities/{connection}/{assessable}/remove",
            post(mappings::unmap),
        )
        .route("/console/learners/{code}", get(learner::page))
}
