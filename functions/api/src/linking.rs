//! Linking an offering to a Moodle course — the course whose ID number is the
//! offering's id, a course a person picked, or a new course — and the Moodle
//! categories a new course can go in. Over `app::courses::Courses`.

use crate::Deps;
use crate::error::{ApiError, ErrorBody};
use crate::json::{JsonBody, Resource};
use crate::links::LinkView;
use crate::offerings;
use app::courses::{Courses, LinkChoice};
use app::push::PushError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use domain::ports::Retryable;
use domain::{ConnectionId, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new Moodle course for the offering. Its dates and visibility come from the
/// offering, its ID number is the offering's id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCourse {
    pub shortname: String,
    pub fullname: String,
    /// One of the site's categories (`GET /v1/connections/{id}/categories`).
    pub category: i64,
}

/// How to link: with neither `course_id` nor `create`, the course whose ID
/// number is the offering's id is found ("check again" is this, again).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The Moodle connection.
    pub connection: String,
    /// Link this Moodle course.
    #[serde(default)]
    pub course_id: Option<i64>,
    /// Create a course and link it.
    #[serde(default)]
    pub create: Option<NewCourse>,
}

impl Resource for LinkRequest {
    const NAME: &'static str = "links";
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    pub id: i64,
    pub name: String,
    pub parent: i64,
}

fn courses(deps: &Deps) -> Courses<'_> {
    Courses {
        connections: deps.connections.as_ref(),
        sis: deps.sis.as_ref(),
        links: deps.links.as_ref(),
        learning: deps.learning.as_ref(),
        tenants: deps.tenants.as_ref(),
    }
}

/// Maps a use-case error to the API's answer, naming the field a person should look at.
fn api_error(error: PushError) -> ApiError {
    let message = error.to_string();
    match error {
        PushError::Store(e) => e.into(),
        PushError::UnknownConnection { .. } => ApiError::not_found("links.connection", message),
        PushError::NotMoodle { .. } => ApiError::unprocessable("links.connection", message),
        PushError::UnknownOffering { .. } => ApiError::not_found("offering_id", message),
        PushError::CourseNotFound { .. } => ApiError::not_found("links.course_id", message),
        PushError::UnknownCourse { .. } => ApiError::not_found("links.course_id", message),
        PushError::UnknownCategory { .. } => {
            ApiError::unprocessable("links.create.category", message)
        }
        PushError::Refused { reason, .. } => {
            ApiError::unprocessable("links.create", reason.message())
        }
        PushError::Learning(e) => {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "Moodle call failed while linking"
            );
            let status = if e.is_retryable() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_GATEWAY
            };
            ApiError::new(
                status,
                "learning_system",
                Some("links.connection"),
                format!("{e}; test the connection for details"),
            )
        }
        other => {
            tracing::error!(error = &other as &dyn std::error::Error, "linking failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                None,
                "the request could not be completed",
            )
        }
    }
}

/// Link an offering to a Moodle course (find by ID number, pick one, or create one).
#[utoipa::path(
    post,
    path = "/v1/offerings/{id}/links",
    tag = "links",
    params(("id" = String, Path, description = "The offering's id")),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "Linked (linking again to the same course changes nothing)", body = LinkView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such offering, connection or course", body = ErrorBody),
        (status = 422, description = "Not a Moodle connection, unknown category, or both course_id and create", body = ErrorBody),
        (status = 502, description = "Moodle refused the call", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn link_offering(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(offering): Path<String>,
    JsonBody(request): JsonBody<LinkRequest>,
) -> Result<Json<LinkView>, ApiError> {
    let offering = offerings::parse_id(offering)?;
    let connection = ConnectionId::parse(request.connection)
        .map_err(|e| ApiError::bad_request("links.connection", e.to_string()))?;
    let choice = match (request.course_id, request.create) {
        (Some(_), Some(_)) => {
            return Err(ApiError::unprocessable(
                "links.create",
                "send course_id or create, not both",
            ));
        }
        (Some(id), None) => LinkChoice::CourseId(id),
        (None, Some(new)) => {
            for (field, value) in [
                ("links.create.shortname", &new.shortname),
                ("links.create.fullname", &new.fullname),
            ] {
                if value.trim().is_empty() {
                    return Err(ApiError::bad_request(
                        field,
                        format!("{field} must not be empty"),
                    ));
                }
            }
            LinkChoice::Create {
                shortname: new.shortname,
                fullname: new.fullname,
                category: new.category,
            }
        }
        (None, None) => LinkChoice::FindByIdnumber,
    };
    let link = courses(&deps)
        .link(&tenant, &connection, &offering, choice, (deps.now)())
        .await
        .map_err(api_error)?;
    Ok(Json(link.into()))
}

/// The Moodle categories of a connection's site, to choose one for a new course.
#[utoipa::path(
    get,
    path = "/v1/connections/{id}/categories",
    tag = "links",
    params(("id" = String, Path, description = "The connection's id")),
    responses(
        (status = 200, description = "The site's categories", body = [CategoryView]),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 502, description = "Moodle refused the call", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list_categories(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(connection): Path<String>,
) -> Result<Json<Vec<CategoryView>>, ApiError> {
    let connection = ConnectionId::parse(connection)?;
    let categories = courses(&deps)
        .categories(&tenant, &connection)
        .await
        .map_err(api_error)?;
    Ok(Json(
        categories
            .into_iter()
            .map(|c| CategoryView {
                id: c.id,
                name: c.name,
                parent: c.parent,
            })
            .collect(),
    ))
}

/// Which connection's course to remove an enrolment from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemovalRequest {
    pub connection: String,
}

impl Resource for RemovalRequest {
    const NAME: &'static str = "removal";
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RemovalQueued {
    pub offering: String,
    pub learner: String,
    pub connection: String,
}

/// Remove a transferred enrolment from the connection's Moodle course. The
/// learner's grades and completion are read first; then they are unenrolled (or
/// suspended, per the connection's `unenrol_on_removal`). Editing an enrolment
/// in the SMS never changes Moodle by itself: this is the explicit action.
#[utoipa::path(
    post,
    path = "/v1/offerings/{id}/enrolments/{code}/removal",
    tag = "links",
    params(
        ("id" = String, Path, description = "The offering's id"),
        ("code" = String, Path, description = "The learner's code"),
    ),
    request_body = RemovalRequest,
    responses(
        (status = 202, description = "Queued", body = RemovalQueued),
        (status = 404, description = "No such offering, enrolment or connection", body = ErrorBody),
        (status = 409, description = "The enrolment was never transferred to that connection, or was removed already", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn remove_enrolment(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path((offering, code)): Path<(String, String)>,
    JsonBody(request): JsonBody<RemovalRequest>,
) -> Result<(StatusCode, Json<RemovalQueued>), ApiError> {
    let offering = offerings::parse_id(offering)?;
    let learner = domain::LearnerCode::parse(code)?;
    let connection = crate::links::moodle_connection(
        &deps,
        &tenant,
        "removal.connection",
        Some(request.connection),
    )
    .await?
    .id;
    if deps
        .sis
        .enrolment(&tenant, &offering, &learner)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(
            "learner_code",
            format!("learner {learner} is not enrolled in offering {offering}"),
        ));
    }
    let transfer = deps
        .links
        .transfer(&tenant, &connection, &offering, &learner)
        .await?;
    if !matches!(
        transfer.map(|t| t.status),
        Some(domain::sis::TransferStatus::Transferred)
    ) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_transferred",
            Some("removal.connection"),
            format!(
                "the enrolment is not in connection {connection}'s course (never transferred, or removed already)"
            ),
        ));
    }
    crate::json::enqueue(
        &deps,
        &[domain::Job::RemoveEnrolment {
            tenant,
            connection: connection.clone(),
            offering: offering.clone(),
            learner: learner.clone(),
        }],
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RemovalQueued {
            offering: offering.to_string(),
            learner: learner.to_string(),
            connection: connection.to_string(),
        }),
    ))
}
