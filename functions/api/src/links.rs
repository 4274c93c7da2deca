//! An offering's course links, its per-enrolment transfer status, and
//! "transfer enrolments now" (a `push_offering` job, trigger `manual`).

use crate::Deps;
use crate::error::{ApiError, ErrorBody};
use crate::json::Query;
use crate::json::{JsonBody, Resource};
use crate::offerings;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use domain::sis::{CourseLink, Transfer, TransferStatus};
use domain::{Connection, ConnectionId, ConnectionKind, TenantId, Trigger};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    pub offering: String,
    pub connection: String,
    /// The Moodle course id.
    pub course_id: i64,
    pub course_idnumber: Option<String>,
    pub course_shortname: Option<String>,
    pub linked_at: DateTime<Utc>,
}

impl From<CourseLink> for LinkView {
    fn from(l: CourseLink) -> Self {
        Self {
            offering: l.offering.to_string(),
            connection: l.connection.to_string(),
            course_id: l.course_id,
            course_idnumber: l.course_idnumber,
            course_shortname: l.course_shortname,
            linked_at: l.linked_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The connection (a Moodle site) to transfer the offering's enrolments to.
    pub connection: String,
}

impl Resource for TransferRequest {
    const NAME: &'static str = "transfers";
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferStarted {
    pub offering: String,
    pub connection: String,
    /// The run that records the transfer; read it at
    /// `/v1/connections/{connection}/runs/{run}`.
    pub run: String,
    #[schema(value_type = String, example = "manual")]
    pub trigger: Trigger,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferView {
    pub learner: String,
    pub connection: String,
    /// `{"status": "ready" | "transferred" | "removed"}` or
    /// `{"status": "blocked", "reasons": [{"reason": ...}]}`.
    #[schema(value_type = Object)]
    pub status: TransferStatus,
    /// What to fix, for a blocked transfer.
    pub messages: Vec<String>,
    pub external_user: Option<i64>,
    pub transferred_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Why the last removal did not happen (the learner is still in the
    /// course; the removal is tried again).
    pub removal_error: Option<String>,
}

impl From<Transfer> for TransferView {
    fn from(t: Transfer) -> Self {
        let messages = match &t.status {
            TransferStatus::Blocked { reasons } => reasons.iter().map(|r| r.message()).collect(),
            _ => Vec::new(),
        };
        Self {
            learner: t.learner.to_string(),
            connection: t.connection.to_string(),
            status: t.status,
            messages,
            external_user: t.external_user,
            transferred_at: t.transferred_at,
            updated_at: t.updated_at,
            removal_error: t.removal_error,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConnectionQuery {
    /// The connection's id.
    pub connection: Option<String>,
}

pub(crate) async fn connection(
    deps: &Deps,
    tenant: &TenantId,
    field: &str,
    id: Option<String>,
) -> Result<Connection, ApiError> {
    let id = id.ok_or_else(|| ApiError::bad_request(field, "name the connection"))?;
    let id = ConnectionId::parse(id).map_err(|e| ApiError::bad_request(field, e.to_string()))?;
    deps.connections
        .connection(tenant, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(field, format!("connection {id} does not exist")))
}

/// [`connection`], which must be a Moodle connection ([`require_moodle`]).
pub(crate) async fn moodle_connection(
    deps: &Deps,
    tenant: &TenantId,
    field: &str,
    id: Option<String>,
) -> Result<Connection, ApiError> {
    let connection = connection(deps, tenant, field, id).await?;
    require_moodle(&connection, field)?;
    Ok(connection)
}

/// A route about Moodle courses, users or activities refuses a connection of any
/// other kind with 422 naming `field` (never a 502 from a gateway that cannot exist).
pub(crate) fn require_moodle(connection: &Connection, field: &str) -> Result<(), ApiError> {
    if connection.kind() == ConnectionKind::Moodle {
        return Ok(());
    }
    Err(ApiError::unprocessable(
        field,
        format!(
            "connection {} is a {} connection; this route works with a Moodle connection",
            connection.id,
            connection.kind().as_str()
        ),
    ))
}

/// The courses an offering is linked to, one per connection.
#[utoipa::path(
    get,
    path = "/v1/offerings/{id}/links",
    tag = "links",
    params(("id" = String, Path, description = "The offering's id")),
    responses(
        (status = 200, description = "The offering's links", body = [LinkView]),
        (status = 404, description = "No such offering", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list_links(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(offering): Path<String>,
) -> Result<Json<Vec<LinkView>>, ApiError> {
    let offering = offerings::parse_id(offering)?;
    let offering = offerings::load(&deps, &tenant, &offering).await?;
    let mut links = Vec::new();
    for connection in deps.connections.connections(&tenant).await? {
        if let Some(link) = deps
            .links
            .link(&tenant, &offering.id, &connection.id)
            .await?
        {
            links.push(LinkView::from(link));
        }
    }
    Ok(Json(links))
}

/// Transfer an offering's enrolments to a connection now.
#[utoipa::path(
    post,
    path = "/v1/offerings/{id}/transfers",
    tag = "links",
    params(("id" = String, Path, description = "The offering's id")),
    request_body = TransferRequest,
    responses(
        (status = 202, description = "Queued", body = TransferStarted),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such offering or connection", body = ErrorBody),
        (status = 422, description = "The connection is not a learning system", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn start_transfer(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(offering): Path<String>,
    JsonBody(request): JsonBody<TransferRequest>,
) -> Result<(StatusCode, Json<TransferStarted>), ApiError> {
    use app::runs::RunError;
    let offering = offerings::parse_id(offering)?;
    let field = "transfers.connection";
    let (run, connection) = crate::runs::runs(&deps)
        .transfer(&tenant, &offering, request.connection)
        .await
        .map_err(|e| match e {
            RunError::NoOffering { offering } => offerings::offering_not_found(&offering),
            RunError::BadConnection(e) => ApiError::bad_request(field, e.to_string()),
            RunError::NoConnection { .. } => ApiError::not_found(field, e.to_string()),
            RunError::NotMoodle { .. } => ApiError::unprocessable(field, e.to_string()),
            e => crate::runs::run_error(e),
        })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TransferStarted {
            offering: offering.to_string(),
            connection: connection.to_string(),
            run: run.to_string(),
            trigger: Trigger::Manual,
        }),
    ))
}

/// Each enrolment's last transfer to a connection: ready, transferred,
/// blocked (with every reason), removed.
#[utoipa::path(
    get,
    path = "/v1/offerings/{id}/transfers",
    tag = "links",
    params(("id" = String, Path, description = "The offering's id"), ConnectionQuery),
    responses(
        (status = 200, description = "The offering's transfers", body = [TransferView]),
        (status = 400, description = "No or a bad connection", body = ErrorBody),
        (status = 404, description = "No such offering or connection", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list_transfers(
    State(deps): State<Deps>,
    Extension(tenant): Extension<TenantId>,
    Path(offering): Path<String>,
    Query(query): Query<ConnectionQuery>,
) -> Result<Json<Vec<TransferView>>, ApiError> {
    let offering = offerings::parse_id(offering)?;
    let offering = offerings::load(&deps, &tenant, &offering).await?;
    let connection = moodle_connection(&deps, &tenant, "connection", query.connection).await?;
    let transfers = deps
        .links
        .transfers(&tenant, &connection.id, &offering.id)
        .await?;
    Ok(Json(
        transfers.into_iter().map(TransferView::from).collect(),
    ))
}
