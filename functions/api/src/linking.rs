//! Linking an offering to a Moodle course — the course whose ID number is the
//! offering's id, a course a person picked, or a new course — and the Moodle
//! categories a new course can go in. Over `app::courses::Courses`.

use crate::Deps;
use crate::error::{ApiError, ErrorBody};
use crate::json::{JsonBody, Resource};
use crate::links::LinkView;
use crate::offerings;
use app::courses::{CourseDraft, Courses, LinkChoice, LinkRequestError};
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
    /// The category's ID number in Moodle (`""` when it has none).
    pub idnumber: String,
    pub parent: i64,
}

/// The courses use case over the deployment's ports (also the console's link and
/// new-course forms).
pub fn courses(deps: &Deps) -> Courses<'_> {
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
    let create = request.create.map(|new| CourseDraft {
        shortname: new.shortname,
        fullname: new.fullname,
        category: new.category,
    });
    let choice = LinkChoice::from_request(request.course_id, create).map_err(|e| match e {
        LinkRequestError::Both => ApiError::unprocessable(e.field(), e.to_string()),
        LinkRequestError::EmptyName { field } => ApiError::bad_request(field, e.to_string()),
    })?;
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
                idnumber: c.idnumber,
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
    use app::enrolment_removal::{RemovalRequest, RemovalRequestError as E};
    let field = "removal.connection";
    let connection = RemovalRequest {
        connections: deps.connections.as_ref(),
        sis: deps.sis.as_ref(),
        links: deps.links.as_ref(),
        queue: deps.queue.as_ref(),
    }
    .request(&tenant, &offering, &learner, request.connection)
    .await
    .map_err(|e| match e {
        E::BadConnection(e) => ApiError::bad_request(field, e.to_string()),
        E::NoConnection { .. } => ApiError::not_found(field, e.to_string()),
        E::NotMoodle { .. } => ApiError::unprocessable(field, e.to_string()),
        E::NotEnrolled { .. } => ApiError::not_found("learner_code", e.to_string()),
        E::NotTransferred { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "not_transferred",
            Some(field),
            e.to_string(),
        ),
        E::Store(e) => e.into(),
        E::NotQueued(e) if e.is_retryable() => ApiError::unavailable(),
        E::NotQueued(_) => ApiError::internal(),
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RemovalQueued {
            offering: offering.to_string(),
            learner: learner.to_string(),
            connection: connection.to_string(),
        }),
    ))
}

/// The Moodle user to link a learner to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// A Moodle user id (e.g. the one a blocked transfer names as holding the
    /// learner's email).
    pub moodle_user_id: i64,
}

impl Resource for AccountInput {
    const NAME: &'static str = "accounts";
}

/// A learner's Moodle account in one connection.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub learner: String,
    pub connection: String,
    pub moodle_user_id: i64,
    /// learnbridge created the Moodle user (rather than a person or a match linked it).
    pub created_by_us: bool,
    pub linked_at: chrono::DateTime<chrono::Utc>,
}

/// "Link them": make a Moodle user the learner's account in a Moodle
/// connection. The user must exist in Moodle, and be no other learner's
/// account there. The transfer preview then shows the learner ready, and the
/// next transfer enrols that user.
#[utoipa::path(
    put,
    path = "/v1/learners/{code}/accounts/{connection}",
    tag = "links",
    params(
        ("code" = String, Path, description = "The learner's code"),
        ("connection" = String, Path, description = "The Moodle connection"),
    ),
    request_body = AccountInput,
    responses(
        (status = 200, description = "Linked", body = AccountView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such learner, connection or Moodle user", body = ErrorBody),
        (status = 409, description = "Another learner's account already", body = ErrorBody),
        (status = 422, description = "Not a Moodle connection", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn link_account(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path((code, connection)): Path<(String, String)>,
    JsonBody(input): JsonBody<AccountInput>,
) -> Result<Json<AccountView>, ApiError> {
    let code = domain::LearnerCode::parse(code)?;
    let connection = ConnectionId::parse(connection)?;
    if input.moodle_user_id < 1 {
        return Err(ApiError::bad_request(
            "accounts.moodle_user_id",
            "a Moodle user id is a positive number",
        ));
    }
    let learners = app::learners::Learners {
        connections: deps.connections.as_ref(),
        sis: deps.sis.as_ref(),
        links: deps.links.as_ref(),
        learning: deps.learning.as_ref(),
    };
    let account = learners
        .link_account(
            &tenant,
            &code,
            &connection,
            input.moodle_user_id,
            (deps.now)(),
        )
        .await
        .map_err(|e| {
            let message = e.to_string();
            match e {
                PushError::UnknownConnection { .. } => {
                    ApiError::not_found("connection_id", message)
                }
                PushError::NotMoodle { .. } => ApiError::unprocessable("connection_id", message),
                PushError::UnknownLearner { .. } => ApiError::not_found("learner_code", message),
                PushError::UnknownMoodleUser { .. } => {
                    ApiError::not_found("accounts.moodle_user_id", message)
                }
                PushError::AccountHeld { .. } => {
                    ApiError::conflict(Some("accounts.moodle_user_id"), message)
                }
                other => api_error(other),
            }
        })?;
    Ok(Json(AccountView {
        learner: account.learner.to_string(),
        connection: account.connection.to_string(),
        moodle_user_id: account.external_id,
        created_by_us: account.created_by_us,
        linked_at: account.linked_at,
    }))
}
