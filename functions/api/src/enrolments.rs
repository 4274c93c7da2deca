//! Enrolments: a learner in an offering, upserted by the two SMS ids. A new
//! enrolment of an auto-push offering queues a `push_offering` job (trigger
//! `auto_push`) for every enabled connection whose settings allow auto-push
//! and that has a course linked to the offering.

use crate::Deps;
use crate::error::{ApiError, ErrorBody};
use crate::json::{JsonBody, Resource, check_if_match, enqueue, etag, nullable};
use crate::learners::{learner_not_found, parse_code};
use crate::offerings;
use app::sms_records::{EnrolmentSave, enrolment_save};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, NaiveDate, Utc};
use domain::sis::{Enrolment, EnrolmentState, Offering};
use domain::{Job, LearnerCode, OfferingId, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentInput {
    /// `not_called` (default), `in_progress`, `completed`, `withdrawn`.
    #[serde(default = "not_called")]
    #[schema(value_type = String, example = "not_called")]
    pub state: EnrolmentState,
    /// The learner's start in the course (Moodle's enrolment start).
    pub start_date: Option<NaiveDate>,
    /// Set when the enrolment is called (the session date).
    pub session_date: Option<NaiveDate>,
}

fn not_called() -> EnrolmentState {
    EnrolmentState::NotCalled
}

impl Resource for EnrolmentInput {
    const NAME: &'static str = "enrolments";
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentPatch {
    #[schema(value_type = Option<String>)]
    pub state: Option<EnrolmentState>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub start_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub session_date: Option<Option<NaiveDate>>,
}

impl Resource for EnrolmentPatch {
    const NAME: &'static str = "enrolments";
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentView {
    pub learner: String,
    pub offering: String,
    #[schema(value_type = String)]
    pub state: EnrolmentState,
    pub start_date: Option<NaiveDate>,
    pub session_date: Option<NaiveDate>,
    pub updated_at: DateTime<Utc>,
}

impl From<Enrolment> for EnrolmentView {
    fn from(e: Enrolment) -> Self {
        Self {
            learner: e.learner.to_string(),
            offering: e.offering.to_string(),
            state: e.state,
            start_date: e.start_date,
            session_date: e.session_date,
            updated_at: e.updated_at,
        }
    }
}

fn respond(status: StatusCode, enrolment: Enrolment) -> Response {
    let tag = etag(enrolment.updated_at);
    (
        status,
        [(header::ETAG, tag)],
        Json(EnrolmentView::from(enrolment)),
    )
        .into_response()
}

fn enrolment_not_found(offering: &OfferingId, learner: &LearnerCode) -> ApiError {
    ApiError::not_found(
        "learner_code",
        format!("learner {learner} is not enrolled in offering {offering}"),
    )
}

/// The push jobs a new enrolment of `offering` starts ([`app::sms_records::auto_push_jobs`]).
async fn auto_push_jobs(deps: &Deps, offering: &Offering) -> Result<Vec<Job>, ApiError> {
    Ok(
        app::sms_records::auto_push_jobs(deps.connections.as_ref(), deps.links.as_ref(), offering)
            .await?,
    )
}

async fn store(
    deps: &Deps,
    offering: &Offering,
    before: Option<Enrolment>,
    after: Enrolment,
) -> Result<Response, ApiError> {
    domain::sis::check::enrolment(offering, &after)?;
    let status = if before.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let EnrolmentSave::Store { auto_push } = enrolment_save(before.as_ref(), &after) else {
        if let Some(before) = before {
            return Ok(respond(status, before));
        }
        return Ok(respond(status, after));
    };
    deps.sis.save_enrolment(&after).await?;
    if auto_push {
        let jobs = auto_push_jobs(deps, offering).await?;
        enqueue(deps, &jobs).await?;
    }
    tracing::info!(offering = %after.offering, learner = %after.learner, created = before.is_none(), "enrolment saved");
    Ok(respond(status, after))
}

/// Create or replace an enrolment.
#[utoipa::path(
    put,
    path = "/v1/offerings/{id}/enrolments/{code}",
    tag = "enrolments",
    params(
        ("id" = String, Path, description = "The offering's id"),
        ("code" = String, Path, description = "The learner's code"),
    ),
    request_body = EnrolmentInput,
    responses(
        (status = 201, description = "Created (queues an auto-push)", body = EnrolmentView),
        (status = 200, description = "Replaced", body = EnrolmentView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such offering or learner", body = ErrorBody),
        (status = 409, description = "If-Match does not match", body = ErrorBody),
        (status = 422, description = "Starts after the offering ends", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn put_enrolment(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path((offering, code)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(input): JsonBody<EnrolmentInput>,
) -> Result<Response, ApiError> {
    let offering = offerings::parse_id(offering)?;
    let code = parse_code(code)?;
    let offering = offerings::load(&deps, &tenant, &offering).await?;
    if deps.sis.learner(&tenant, &code).await?.is_none() {
        return Err(learner_not_found(&code));
    }
    let before = deps.sis.enrolment(&tenant, &offering.id, &code).await?;
    check_if_match(&headers, before.as_ref().map(|e| e.updated_at))?;
    let after = Enrolment {
        tenant,
        learner: code,
        offering: offering.id.clone(),
        state: input.state,
        start_date: input.start_date,
        session_date: input.session_date,
        updated_at: (deps.now)(),
    };
    store(&deps, &offering, before, after).await
}

/// Change some of an enrolment's fields.
#[utoipa::path(
    patch,
    path = "/v1/offerings/{id}/enrolments/{code}",
    tag = "enrolments",
    params(
        ("id" = String, Path, description = "The offering's id"),
        ("code" = String, Path, description = "The learner's code"),
    ),
    request_body = EnrolmentPatch,
    responses(
        (status = 200, description = "Updated", body = EnrolmentView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such enrolment", body = ErrorBody),
        (status = 409, description = "If-Match does not match", body = ErrorBody),
        (status = 422, description = "Starts after the offering ends", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn patch_enrolment(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path((offering, code)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(patch): JsonBody<EnrolmentPatch>,
) -> Result<Response, ApiError> {
    let offering = offerings::parse_id(offering)?;
    let code = parse_code(code)?;
    let offering = offerings::load(&deps, &tenant, &offering).await?;
    let before = deps
        .sis
        .enrolment(&tenant, &offering.id, &code)
        .await?
        .ok_or_else(|| enrolment_not_found(&offering.id, &code))?;
    check_if_match(&headers, Some(before.updated_at))?;
    let mut after = before.clone();
    if let Some(v) = patch.state {
        after.state = v;
    }
    if let Some(v) = patch.start_date {
        after.start_date = v;
    }
    if let Some(v) = patch.session_date {
        after.session_date = v;
    }
    after.updated_at = (deps.now)();
    store(&deps, &offering, Some(before), after).await
}

/// One enrolment.
#[utoipa::path(
    get,
    path = "/v1/offerings/{id}/enrolments/{code}",
    tag = "enrolments",
    params(
        ("id" = String, Path, description = "The offering's id"),
        ("code" = String, Path, description = "The learner's code"),
    ),
    responses(
        (status = 200, description = "The enrolment", body = EnrolmentView),
        (status = 404, description = "No such enrolment", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get_enrolment(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path((offering, code)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let offering = offerings::parse_id(offering)?;
    let code = parse_code(code)?;
    let enrolment = deps
        .sis
        .enrolment(&tenant, &offering, &code)
        .await?
        .ok_or_else(|| enrolment_not_found(&offering, &code))?;
    Ok(respond(StatusCode::OK, enrolment))
}

/// An offering's enrolments.
#[utoipa::path(
    get,
    path = "/v1/offerings/{id}/enrolments",
    tag = "enrolments",
    params(("id" = String, Path, description = "The offering's id")),
    responses(
        (status = 200, description = "The offering's enrolments", body = [EnrolmentView]),
        (status = 404, description = "No such offering", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list_enrolments(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(offering): Path<String>,
) -> Result<Json<Vec<EnrolmentView>>, ApiError> {
    let offering = offerings::parse_id(offering)?;
    let offering = offerings::load(&deps, &tenant, &offering).await?;
    let enrolments = deps.sis.enrolments(&tenant, &offering.id).await?;
    Ok(Json(
        enrolments.into_iter().map(EnrolmentView::from).collect(),
    ))
}

/// A learner's enrolments, across offerings.
#[utoipa::path(
    get,
    path = "/v1/learners/{code}/enrolments",
    tag = "enrolments",
    params(("code" = String, Path, description = "The learner's code")),
    responses(
        (status = 200, description = "The learner's enrolments", body = [EnrolmentView]),
        (status = 404, description = "No such learner", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn learner_enrolments(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(code): Path<String>,
) -> Result<Json<Vec<EnrolmentView>>, ApiError> {
    let code = parse_code(code)?;
    if deps.sis.learner(&tenant, &code).await?.is_none() {
        return Err(learner_not_found(&code));
    }
    let enrolments = deps.sis.learner_enrolments(&tenant, &code).await?;
    Ok(Json(
        enrolments.into_iter().map(EnrolmentView::from).collect(),
    ))
}
