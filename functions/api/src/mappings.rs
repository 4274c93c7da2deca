//! Mapping an offering's assessables to activities of its linked course: list
//! the course's activities (type, and whether it can be mapped), map one
//! assessable to one or more of them, list the mappings, remove one.

use crate::error::ApiError;
use crate::results::{ResultsDeps, api_error, use_case};
use crate::{AppState, Deps};
use app::results::ResultsError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Extension, Json, Router};
use domain::results::{CourseActivity, Mapping, MappingError};
use domain::{AssessableId, ConnectionId, OfferingId, TenantId};
use serde::{Deserialize, Serialize};

/// The activity mapping routes under `/v1`, added to `router` (see [`crate::router::app`]).
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    router
        .route(
            "/v1/offerings/{id}/links/{connection}/activities",
            get(list_activities),
        )
        .route(
            "/v1/offerings/{id}/mappings/{connection}",
            get(list_mappings),
        )
        .route(
            "/v1/offerings/{id}/mappings/{connection}/{assessable}",
            put(map_assessable).delete(unmap_assessable),
        )
}

/// An activity of the linked course.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActivityView {
    pub cmid: i64,
    /// Moodle's module type (`quiz`, `assign`, `forum`, ...).
    pub modname: String,
    pub name: String,
    /// Only assign, attendance, checklist, h5pactivity, lesson, lti, quiz and scorm can be mapped.
    pub mappable: bool,
}

impl From<CourseActivity> for ActivityView {
    fn from(a: CourseActivity) -> Self {
        Self {
            cmid: a.cmid,
            modname: a.modname,
            name: a.name,
            mappable: a.mappable,
        }
    }
}

async fn connection(
    deps: &Deps,
    tenant: &TenantId,
    raw: String,
) -> Result<domain::Connection, ApiError> {
    let id = ConnectionId::parse(raw)?;
    let connection = deps
        .connections
        .connection(tenant, &id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("connection", format!("connection {id} does not exist"))
        })?;
    // Activities and their mappings are Moodle's.
    crate::links::require_moodle(&connection, "connection")?;
    Ok(connection)
}

#[utoipa::path(get, path = "/v1/offerings/{id}/links/{connection}/activities", tag = "results", responses((status = 200, body = [ActivityView]), (status = 404, body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn list_activities(
    State(deps): State<Deps>,
    State(results): State<ResultsDeps>,
    Extension(tenant): Extension<TenantId>,
    Path((id, conn)): Path<(String, String)>,
) -> Result<Json<Vec<ActivityView>>, ApiError> {
    let offering = OfferingId::parse(id)?;
    let connection = connection(&deps, &tenant, conn).await?;
    let source = results
        .grades
        .for_connection(&connection)
        .await
        .map_err(|e| api_error(e.into()))?;
    let activities = use_case(&deps, &results)
        .activities(source.as_ref(), &tenant, &offering, &connection.id)
        .await
        .map_err(api_error)?;
    Ok(Json(
        activities.into_iter().map(ActivityView::from).collect(),
    ))
}

/// The activities (course module ids) an assessable is mapped to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MapBody {
    pub activities: Vec<i64>,
}

impl crate::json::Resource for MapBody {
    const NAME: &'static str = "mappings";
}

/// A mapping as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MappingView {
    pub assessable: String,
    pub activities: Vec<MappedView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MappedView {
    pub cmid: i64,
    pub modname: String,
}

impl From<Mapping> for MappingView {
    fn from(m: Mapping) -> Self {
        Self {
            assessable: m.assessable.to_string(),
            activities: m
                .activities
                .into_iter()
                .map(|a| MappedView {
                    cmid: a.cmid,
                    modname: a.modname,
                })
                .collect(),
        }
    }
}

#[utoipa::path(put, path = "/v1/offerings/{id}/mappings/{connection}/{assessable}", tag = "results", request_body = MapBody, responses((status = 200, body = MappingView), (status = 404, body = crate::error::ErrorBody), (status = 422, description = "An activity cannot be mapped (the message names its type), or the assessable is of a level the connection's `result_levels` leaves out (field `assessable`)", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn map_assessable(
    State(deps): State<Deps>,
    State(results): State<ResultsDeps>,
    Extension(tenant): Extension<TenantId>,
    Path((id, conn, assessable)): Path<(String, String, String)>,
    crate::json::JsonBody(body): crate::json::JsonBody<MapBody>,
) -> Result<Json<MappingView>, ApiError> {
    let offering = OfferingId::parse(id)?;
    let assessable = AssessableId::parse(assessable)?;
    let connection = connection(&deps, &tenant, conn).await?;
    let source = results
        .grades
        .for_connection(&connection)
        .await
        .map_err(|e| api_error(e.into()))?;
    let mapping = use_case(&deps, &results)
        .map(
            source.as_ref(),
            &tenant,
            &offering,
            &connection.id,
            &assessable,
            &body.activities,
            (deps.now)(),
        )
        .await
        .map_err(|e| match e {
            // The assessable's level, not the activities, is what is wrong (VM-10).
            ResultsError::Mapping(e @ MappingError::LevelNotAllowed { .. }) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "level_not_allowed",
                Some("assessable"),
                e.to_string(),
            ),
            e => api_error(e),
        })?;
    Ok(Json(mapping.into()))
}

#[utoipa::path(get, path = "/v1/offerings/{id}/mappings/{connection}", tag = "results", responses((status = 200, body = [MappingView])), security(("api_key" = [])))]
pub async fn list_mappings(
    State(deps): State<Deps>,
    State(results): State<ResultsDeps>,
    Extension(tenant): Extension<TenantId>,
    Path((id, conn)): Path<(String, String)>,
) -> Result<Json<Vec<MappingView>>, ApiError> {
    let offering = OfferingId::parse(id)?;
    let connection = ConnectionId::parse(conn)?;
    // A connection of another kind has no activities to map: say so (one that does
    // not exist, or is another tenant's, simply has no mappings).
    if let Some(other) = deps.connections.connection(&tenant, &connection).await? {
        crate::links::require_moodle(&other, "connection")?;
    }
    let mappings = results
        .results
        .mappings(&tenant, &offering, &connection)
        .await?;
    Ok(Json(mappings.into_iter().map(MappingView::from).collect()))
}

/// Remove an assessable's mapping: its results are no longer read from the course
/// (results read already stay). Removing one that is not mapped changes nothing.
#[utoipa::path(delete, path = "/v1/offerings/{id}/mappings/{connection}/{assessable}", tag = "results", responses((status = 204, description = "Not mapped (any more)"), (status = 400, body = crate::error::ErrorBody), (status = 404, description = "No such connection", body = crate::error::ErrorBody), (status = 422, description = "Not a Moodle connection", body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn unmap_assessable(
    State(deps): State<Deps>,
    State(results): State<ResultsDeps>,
    Extension(tenant): Extension<TenantId>,
    Path((id, conn, assessable)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let offering = OfferingId::parse(id)?;
    let assessable = AssessableId::parse(assessable)?;
    let connection = connection(&deps, &tenant, conn).await?;
    use_case(&deps, &results)
        .unmap(&tenant, &offering, &connection.id, &assessable)
        .await
        .map_err(api_error)?;
    Ok(StatusCode::NO_CONTENT)
}
