//! Learners, upserted by the SMS's own code: `PUT` creates or replaces,
//! `PATCH` changes only the fields sent. A change to a field that reaches
//! Moodle (username, names, email, archived) queues a `sync_learner` job, which
//! updates the learner's accounts (and suspends an archived learner).

use crate::Deps;
use crate::error::{ApiError, ErrorBody};
use crate::json::{JsonBody, Resource, check_if_match, enqueue, etag, nullable};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, NaiveDate, Utc};
use domain::sis::Learner;
use domain::{LearnerCode, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A learner as the SMS sends it (the code is in the path).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LearnerInput {
    /// The SMS's username, when it has one.
    pub username: Option<String>,
    /// May be empty: the transfer preview then blocks the learner with a reason.
    #[serde(default)]
    pub given_name: String,
    pub middle_name: Option<String>,
    /// May be empty: the transfer preview then blocks the learner with a reason.
    #[serde(default)]
    pub family_name: String,
    /// Stored as sent; the transfer preview reports a missing or invalid one.
    pub email: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    /// Inactive in the SMS: the learner's Moodle users are suspended.
    #[serde(default)]
    pub archived: bool,
    /// No emails to this learner.
    #[serde(default)]
    pub email_opt_out: bool,
}

impl Resource for LearnerInput {
    const NAME: &'static str = "learners";
}

/// Only the fields sent change; `null` clears an optional field.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LearnerPatch {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub username: Option<Option<String>>,
    pub given_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub middle_name: Option<Option<String>>,
    pub family_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub date_of_birth: Option<Option<NaiveDate>>,
    pub archived: Option<bool>,
    pub email_opt_out: Option<bool>,
}

impl Resource for LearnerPatch {
    const NAME: &'static str = "learners";
}

/// A learner as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LearnerView {
    pub code: String,
    pub username: Option<String>,
    pub given_name: String,
    pub middle_name: Option<String>,
    pub family_name: String,
    pub email: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub archived: bool,
    pub email_opt_out: bool,
    pub updated_at: DateTime<Utc>,
}

impl From<Learner> for LearnerView {
    fn from(l: Learner) -> Self {
        Self {
            code: l.code.to_string(),
            username: l.username,
            given_name: l.given_name,
            middle_name: l.middle_name,
            family_name: l.family_name,
            email: l.email,
            date_of_birth: l.date_of_birth,
            archived: l.archived,
            email_opt_out: l.email_opt_out,
            updated_at: l.updated_at,
        }
    }
}

pub(crate) fn parse_code(code: String) -> Result<LearnerCode, ApiError> {
    Ok(LearnerCode::parse(code)?)
}

pub(crate) fn learner_not_found(code: &LearnerCode) -> ApiError {
    ApiError::not_found("learner_code", format!("learner {code} does not exist"))
}

fn respond(status: StatusCode, learner: Learner) -> Response {
    let tag = etag(learner.updated_at);
    (
        status,
        [(header::ETAG, tag)],
        Json(LearnerView::from(learner)),
    )
        .into_response()
}

/// Saves the learner unless nothing changed, and queues a sync when a field
/// Moodle holds changed.
async fn store(deps: &Deps, before: Option<Learner>, after: Learner) -> Result<Response, ApiError> {
    // "The future" starts tomorrow in the tenant's zone: a learner born today
    // in Sydney is not refused while UTC is still on yesterday.
    let zone = deps.tenants.tenant_settings(&after.tenant).await?.zone();
    domain::sis::check::learner(&after, zone.today((deps.now)()))?;
    let status = if before.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let app::sms_records::Save::Store { sync } =
        app::sms_records::learner_save(before.as_ref(), &after)
    else {
        if let Some(before) = before {
            return Ok(respond(status, before));
        }
        return Ok(respond(status, after));
    };
    deps.sis.save_learner(&after).await?;
    if let Some(job) = sync {
        enqueue(deps, &[job]).await?;
    }
    tracing::info!(learner = %after.code, created = before.is_none(), "learner saved");
    Ok(respond(status, after))
}

/// Create or replace a learner.
#[utoipa::path(
    put,
    path = "/v1/learners/{code}",
    tag = "learners",
    params(("code" = String, Path, description = "The learner's code in the SMS")),
    request_body = LearnerInput,
    responses(
        (status = 201, description = "Created", body = LearnerView),
        (status = 200, description = "Replaced", body = LearnerView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 409, description = "If-Match does not match", body = ErrorBody),
        (status = 422, description = "Semantically wrong", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn put_learner(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(code): Path<String>,
    headers: HeaderMap,
    JsonBody(input): JsonBody<LearnerInput>,
) -> Result<Response, ApiError> {
    let code = parse_code(code)?;
    let before = deps.sis.learner(&tenant, &code).await?;
    check_if_match(&headers, before.as_ref().map(|l| l.updated_at))?;
    let after = Learner {
        tenant,
        code,
        username: input.username,
        given_name: input.given_name,
        middle_name: input.middle_name,
        family_name: input.family_name,
        email: input.email,
        date_of_birth: input.date_of_birth,
        archived: input.archived,
        email_opt_out: input.email_opt_out,
        updated_at: (deps.now)(),
    };
    store(&deps, before, after).await
}

/// Change some of a learner's fields.
#[utoipa::path(
    patch,
    path = "/v1/learners/{code}",
    tag = "learners",
    params(("code" = String, Path, description = "The learner's code in the SMS")),
    request_body = LearnerPatch,
    responses(
        (status = 200, description = "Updated", body = LearnerView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such learner", body = ErrorBody),
        (status = 409, description = "If-Match does not match", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn patch_learner(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(code): Path<String>,
    headers: HeaderMap,
    JsonBody(patch): JsonBody<LearnerPatch>,
) -> Result<Response, ApiError> {
    let code = parse_code(code)?;
    let before = deps
        .sis
        .learner(&tenant, &code)
        .await?
        .ok_or_else(|| learner_not_found(&code))?;
    check_if_match(&headers, Some(before.updated_at))?;
    let mut after = before.clone();
    if let Some(v) = patch.username {
        after.username = v;
    }
    if let Some(v) = patch.given_name {
        after.given_name = v;
    }
    if let Some(v) = patch.middle_name {
        after.middle_name = v;
    }
    if let Some(v) = patch.family_name {
        after.family_name = v;
    }
    if let Some(v) = patch.email {
        after.email = v;
    }
    if let Some(v) = patch.date_of_birth {
        after.date_of_birth = v;
    }
    if let Some(v) = patch.archived {
        after.archived = v;
    }
    if let Some(v) = patch.email_opt_out {
        after.email_opt_out = v;
    }
    after.updated_at = (deps.now)();
    store(&deps, Some(before), after).await
}

/// One learner.
#[utoipa::path(
    get,
    path = "/v1/learners/{code}",
    tag = "learners",
    params(("code" = String, Path, description = "The learner's code in the SMS")),
    responses(
        (status = 200, description = "The learner", body = LearnerView),
        (status = 404, description = "No such learner", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get_learner(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let code = parse_code(code)?;
    let learner = deps
        .sis
        .learner(&tenant, &code)
        .await?
        .ok_or_else(|| learner_not_found(&code))?;
    Ok(respond(StatusCode::OK, learner))
}
