//! Offerings with their assessables, upserted by the SMS's own id. A change to
//! an existing offering's start date, end date or status queues a
//! `sync_offering` job, which updates the linked courses' dates and visibility.

use crate::Deps;
use crate::error::{ApiError, ErrorBody};
use crate::json::{self, JsonBody, Resource, check_if_match, enqueue, etag, nullable};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, NaiveDate, Utc};
use domain::sis::{Assessable, AssessableKind, Offering, OfferingStatus};
use domain::{AssessableId, Job, OfferingId, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use utoipa::ToSchema;

const NAME_MAX: usize = 255;
/// More assessables than this in one offering is a mistake, not a course.
const ASSESSABLES_MAX: usize = 500;

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
    if input.len() > ASSESSABLES_MAX {
        return Err(ApiError::unprocessable(
            "offerings.assessables",
            format!("at most {ASSESSABLES_MAX} assessables are allowed"),
        ));
    }
    let mut seen = HashSet::new();
    input
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let field = format!("offerings.assessables[{i}]");
            let id = AssessableId::parse(a.id)
                .map_err(|e| ApiError::bad_request(&format!("{field}.id"), e.to_string()))?;
            if !seen.insert(id.clone()) {
                return Err(ApiError::unprocessable(
                    &format!("{field}.id"),
                    format!("assessable {id} appears more than once"),
                ));
            }
            json::text(&format!("{field}.name"), &a.name, NAME_MAX)?;
            Ok(Assessable {
                id,
                name: a.name,
                kind: a.kind,
                expected_start_date: a.expected_start_date,
            })
        })
        .collect()
}

fn validate(offering: &Offering) -> Result<(), ApiError> {
    json::text("offerings.name", &offering.name, NAME_MAX)?;
    if offering.name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "offerings.name",
            "the name must not be empty",
        ));
    }
    for (field, date) in [
        ("offerings.start_date", offering.start_date),
        ("offerings.end_date", offering.end_date),
    ] {
        if let Some(Err(range)) = date.map(domain::limits::check_date) {
            return Err(ApiError::unprocessable(field, range.to_string()));
        }
    }
    for (i, a) in offering.assessables.iter().enumerate() {
        if let Some(Err(range)) = a.expected_start_date.map(domain::limits::check_date) {
            return Err(ApiError::unprocessable(
                &format!("offerings.assessables[{i}].expected_start_date"),
                range.to_string(),
            ));
        }
    }
    if let (Some(start), Some(end)) = (offering.start_date, offering.end_date)
        && end < start
    {
        return Err(ApiError::unprocessable(
            "offerings.end_date",
            "the end date is before the start date",
        ));
    }
    Ok(())
}

/// What Moodle's course holds of an offering: its dates and visibility.
fn course_fields_differ(a: &Offering, b: &Offering) -> bool {
    a.start_date != b.start_date || a.end_date != b.end_date || a.status != b.status
}

fn same_content(a: &Offering, b: &Offering) -> bool {
    Offering {
        updated_at: b.updated_at,
        ..a.clone()
    } == *b
}

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
    validate(&after)?;
    let status = if before.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    if let Some(before) = &before
        && same_content(before, &after)
    {
        return Ok(respond(status, before.clone()));
    }
    deps.sis.save_offering(&after).await?;
    if let Some(before) = &before
        && course_fields_differ(before, &after)
    {
        enqueue(
            deps,
            &[Job::SyncOffering {
                tenant: after.tenant.clone(),
                offering: after.id.clone(),
            }],
        )
        .await?;
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

/// Writes an offering over its unreadable stored record: what changed is not
/// known, so its courses are synced as after a change of dates.
async fn repair(deps: &Deps, after: Offering) -> Result<Response, ApiError> {
    validate(&after)?;
    deps.sis.save_offering(&after).await?;
    enqueue(
        deps,
        &[Job::SyncOffering {
            tenant: after.tenant.clone(),
            offering: after.id.clone(),
        }],
    )
    .await?;
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
