//! Offerings with their assessables, upserted by the SMS's own id. A change to
//! an existing offering's start date, end date or status queues a
//! `sync_offering` job, which updates the linked courses' dates and visibility.

use crate::Deps;
use crate::error::{ApiError, ErrorBody};
use crate::json::{JsonBody, Resource, check_if_match, enqueue, etag, nullable};
use app::sms_records::{Save, offering_repair, offering_save};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, NaiveDate, Utc};
use domain::sis::check;
use domain::sis::{Assessable, AssessableKind, Offering, OfferingStatus};
use domain::{OfferingId, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessableInput {
    /// The assessable's id within its offering (unit, task).
    pub id: String,
    pub name: String,
    #[schema(value_type = String, example = "unit")]
    pub kind: AssessableKind,
    /// When set, a result's start date (instead of the enrolment's).
    pub expected_start_date: Option<NaiveDate>,
}

/// An offering as the SMS sends it (the id is in the path).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferingInput {
    pub name: String,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    /// `planned`, `active` (the course is visible), `completed`, `cancelled`.
    #[schema(value_type = String, example = "active")]
    pub status: OfferingStatus,
    /// Send each new enrolment to the linked courses as it arrives.
    #[serde(default)]
    pub auto_push: bool,
    #[serde(default)]
    pub must_be_evaluated: bool,
    #[serde(default)]
    pub assessables: Vec<AssessableInput>,
}

impl Resource for OfferingInput {
    const NAME: &'static str = "offerings";
}

/// Only the fields sent change; `assessables`, when sent, replaces the list.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferingPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub start_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub end_date: Option<Option<NaiveDate>>,
    #[schema(value_type = Option<String>)]
    pub status: Option<OfferingStatus>,
    pub auto_push: Option<bool>,
    pub must_be_evaluated: Option<bool>,
    pub assessables: Option<Vec<AssessableInput>>,
}

impl Resource for OfferingPatch {
    const NAME: &'static str = "offerings";
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfferingView {
    pub id: String,
    pub name: String,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    #[schema(value_type = String)]
    pub status: OfferingStatus,
    pub auto_push: bool,
    pub must_be_evaluated: bool,
    pub assessables: Vec<AssessableInput>,
    pub updated_at: DateTime<Utc>,
}

impl From<Offering> for OfferingView {
    fn from(o: Offering) -> Self {
        Self {
            id: o.id.to_string(),
            name: o.name,
            start_date: o.start_date,
            end_date: o.end_date,
            status: o.status,
            auto_push: o.auto_push,
            must_be_evaluated: o.must_be_evaluated,
            assessables: o
                .assessables
                .into_iter()
                .map(|a| AssessableInput {
                    id: a.id.to_string(),
                    name: a.name,
                    kind: a.kind,
                    expected_start_date: a.expected_start_date,
                })
                .collect(),
            updated_at: o.updated_at,
        }
    }
}

fn assessables(input: Vec<AssessableInput>) -> Result<Vec<Assessable>, ApiError> {
    let drafts = input
        .into_iter()
        .map(|a| check::AssessableDraft {
            id: a.id,
            name: a.name,
            kind: a.kind,
            expected_start_date: a.expected_start_date,
        })
        .collect();
    Ok(check::assessables(drafts)?)
}

/// An offering's id from the path.
pub(crate) fn parse_id(id: String) -> Result<OfferingId, ApiError> {
    Ok(OfferingId::parse(id)?)
}

pub(crate) fn offering_not_found(id: &OfferingId) -> ApiError {
    ApiError::not_found("offering_id", format!("offering {id} does not exist"))
}

pub(crate) async fn load(
    deps: &Deps,
    tenant: &TenantId,
    id: &OfferingId,
) -> Result<Offering, ApiError> {
    deps.sis
        .offering(tenant, id)
        .await?
        .ok_or_else(|| offering_not_found(id))
}

fn respond(status: StatusCode, offering: Offering) -> Response {
    let tag = etag(offering.updated_at);
    (
        status,
        [(header::ETAG, tag)],
        Json(OfferingView::from(offering)),
    )
        .into_response()
}

async fn store(
    deps: &Deps,
    before: Option<Offering>,
    after: Offering,
) -> Result<Response, ApiError> {
    check::offering(&after)?;
    let status = if before.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let Save::Store { sync } = offering_save(before.as_ref(), &after) else {
        if let Some(before) = before {
            return Ok(respond(status, before));
        }
        return Ok(respond(status, after));
    };
    deps.sis.save_offering(&after).await?;
    if let Some(job) = sync {
        enqueue(deps, &[job]).await?;
    }
    tracing::info!(offering = %after.id, created = before.is_none(), assessables = after.assessables.len(), "offering saved");
    Ok(respond(status, after))
}

/// Create or replace an offering and its assessables.
#[utoipa::path(
    put,
    path = "/v1/offerings/{id}",
    tag = "offerings",
    params(("id" = String, Path, description = "The offering's id in the SMS")),
    request_body = OfferingInput,
    responses(
        (status = 201, description = "Created", body = OfferingView),
        (status = 200, description = "Replaced", body = OfferingView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 409, description = "If-Match does not match", body = ErrorBody),
        (status = 422, description = "End before start, duplicate assessable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn put_offering(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(input): JsonBody<OfferingInput>,
) -> Result<Response, ApiError> {
    let id = parse_id(id)?;
    // A stored record that cannot be read is replaced by this one (the repair).
    let (before, unreadable) = match deps.sis.offering(&tenant, &id).await {
        Ok(before) => (before, false),
        Err(domain::ports::StoreError::Corrupt { .. }) => {
            tracing::warn!(offering = %id, "repairing an offering whose stored record could not be read");
            (None, true)
        }
        Err(e) => return Err(e.into()),
    };
    check_if_match(&headers, before.as_ref().map(|o| o.updated_at))?;
    let after = Offering {
        tenant,
        id,
        name: input.name,
        start_date: input.start_date,
        end_date: input.end_date,
        status: input.status,
        auto_push: input.auto_push,
        must_be_evaluated: input.must_be_evaluated,
        assessables: assessables(input.assessables)?,
        updated_at: (deps.now)(),
    };
    if unreadable {
        return repair(&deps, after).await;
    }
    store(&deps, before, after).await
}

/// Writes an offering over its unreadable stored record ([`offering_repair`]).
async fn repair(deps: &Deps, after: Offering) -> Result<Response, ApiError> {
    check::offering(&after)?;
    deps.sis.save_offering(&after).await?;
    if let Save::Store { sync: Some(job) } = offering_repair(&after) {
        enqueue(deps, &[job]).await?;
    }
    tracing::info!(offering = %after.id, "offering repaired");
    Ok(respond(StatusCode::OK, after))
}

/// Change some of an offering's fields.
#[utoipa::path(
    patch,
    path = "/v1/offerings/{id}",
    tag = "offerings",
    params(("id" = String, Path, description = "The offering's id in the SMS")),
    request_body = OfferingPatch,
    responses(
        (status = 200, description = "Updated", body = OfferingView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such offering", body = ErrorBody),
        (status = 409, description = "If-Match does not match", body = ErrorBody),
        (status = 422, description = "End before start", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn patch_offering(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(patch): JsonBody<OfferingPatch>,
) -> Result<Response, ApiError> {
    let id = parse_id(id)?;
    let before = load(&deps, &tenant, &id).await?;
    check_if_match(&headers, Some(before.updated_at))?;
    let mut after = before.clone();
    if let Some(v) = patch.name {
        after.name = v;
    }
    if let Some(v) = patch.start_date {
        after.start_date = v;
    }
    if let Some(v) = patch.end_date {
        after.end_date = v;
    }
    if let Some(v) = patch.status {
        after.status = v;
    }
    if let Some(v) = patch.auto_push {
        after.auto_push = v;
    }
    if let Some(v) = patch.must_be_evaluated {
        after.must_be_evaluated = v;
    }
    if let Some(v) = patch.assessables {
        after.assessables = assessables(v)?;
    }
    after.updated_at = (deps.now)();
    store(&deps, Some(before), after).await
}

/// One offering with its assessables.
#[utoipa::path(
    get,
    path = "/v1/offerings/{id}",
    tag = "offerings",
    params(("id" = String, Path, description = "The offering's id in the SMS")),
    responses(
        (status = 200, description = "The offering", body = OfferingView),
        (status = 404, description = "No such offering", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get_offering(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(id)?;
    Ok(respond(StatusCode::OK, load(&deps, &tenant, &id).await?))
}
