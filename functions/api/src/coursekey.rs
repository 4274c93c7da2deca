//! CourseKey per offering: its CourseKey side (send flag, hours type,
//! instructors, classes), its synchronization status, and its attendance.
//!
//! - `GET /v1/offerings/{offering}/coursekey`: the settings and the status
//!   (`disabled`, `scheduled`, `failed` with `reason`, `synchronized`).
//! - `PUT /v1/offerings/{offering}/coursekey`: sets them and, when marked, queues a
//!   `push_coursekey_roster` job; unmarking send-to-CourseKey on an offering already
//!   synchronized is refused (409).
//! - `GET /v1/offerings/{offering}/attendance`: P / L / A per class and learner.
//! - `GET|PUT /v1/programmes/{programme}/courses/{course}/coursekey`: the
//!   send-to-CourseKey option of a course in a programme's course list; a new
//!   offering of that course (its first `PUT .../coursekey` naming the
//!   `programme` and leaving `send_to_coursekey` out) inherits it, and a course
//!   never set follows the connection's `send_new_program_courses`.
//! - `GET /v1/connections/{connection}/coursekey/errors`: the CourseKey records
//!   refused by validation, each with its reason, so a person sees what was not
//!   imported (the same reasons the error email lists).
//!
//! The routes take their adapters ([`CourseKeyApi`], a part of [`crate::AppState`])
//! as `State` and read the tenant the API key middleware puts in the request.

use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use domain::attendance::{
    Attendance, ClassSession, HoursType, ProgrammeCourse, RejectedRecord, SyncStatus,
    programme_send_default,
};
use domain::connection::CourseKeySettings;
use domain::ports::{AttendanceStore, ConnectionStore, JobQueue, SisStore};
use domain::{ConnectionId, ConnectionKind, OfferingId, TenantId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The adapters the CourseKey routes need.
#[derive(Clone)]
pub struct CourseKeyApi {
    pub connections: Arc<dyn ConnectionStore>,
    pub sis: Arc<dyn SisStore>,
    pub attendance: Arc<dyn AttendanceStore>,
    /// Where a roster push is queued after a change (enrolment-push queue).
    pub queue: Arc<dyn JobQueue>,
    /// The tenant's zone: "today" for the sync window.
    pub tenants: Arc<dyn domain::ports::TenantSettingsStore>,
    pub now: fn() -> DateTime<Utc>,
}

/// The marking use case over these adapters (also the console's Send to
/// CourseKey form).
pub fn marking(api: &CourseKeyApi) -> app::marking::Marking<'_> {
    app::marking::Marking {
        connections: api.connections.as_ref(),
        attendance: api.attendance.as_ref(),
        sis: api.sis.as_ref(),
        queue: api.queue.as_ref(),
    }
}

/// The routes under `/v1`, added to `router` behind the API key check (see
/// [`crate::router::app`]).
pub fn routes(router: Router<crate::AppState>) -> Router<crate::AppState> {
    router
        .route(
            "/v1/offerings/{offering}/coursekey",
            get(get_coursekey).put(put_coursekey),
        )
        .route("/v1/offerings/{offering}/attendance", get(list_attendance))
        .route(
            "/v1/connections/{connection}/coursekey/errors",
            get(list_rejected_records),
        )
        .route(
            "/v1/programmes/{programme}/courses/{course}/coursekey",
            get(get_programme_course).put(put_programme_course),
        )
}

/// What a person sets on an offering.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CourseKeyInput {
    /// Left out: unchanged for a known offering; for a new one, the default of
    /// its `programme` course (see `/v1/programmes/...`), else unmarked.
    #[serde(default)]
    pub send_to_coursekey: Option<bool>,
    /// The programme course this offering is of: `{"programme", "course"}`.
    #[serde(default)]
    pub programme: Option<ProgrammeCourseRef>,
    /// `hours` (default) or `attendance_log`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub hours_type: HoursType,
    #[serde(default)]
    pub instructors: Vec<String>,
    /// `{"code", "start", "end"}` for each scheduled class.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub classes: Vec<ClassSession>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeCourseRef {
    pub programme: String,
    pub course: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CourseKeyView {
    pub offering: String,
    pub send_to_coursekey: bool,
    #[schema(value_type = String)]
    pub hours_type: HoursType,
    pub instructors: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub classes: Vec<ClassSession>,
    pub synchronized_at: Option<DateTime<Utc>>,
    /// `{"status": "disabled" | "scheduled" | "synchronized"}` or `{"status": "failed", "reason": ...}`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub status: SyncStatus,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttendanceList {
    pub offering: String,
    /// Each learner's mark per class: `present`, `late` or `absent`, with minutes for attendance-log offerings.
    #[schema(value_type = Vec<Object>)]
    pub attendance: Vec<Attendance>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RejectedList {
    pub connection: String,
    /// Each refused record: `record_id`, `error` (`{"reason": "unknown_student"}`, ...),
    /// `message`, the `course_id` / `class_id` / `student_id` it named, `rejected_at`.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<RejectedRecord>,
}

/// The tenant's CourseKey connection (its first) and settings.
async fn coursekey_connection(
    api: &CourseKeyApi,
    tenant: &TenantId,
) -> Result<Option<(ConnectionId, CourseKeySettings)>, ApiError> {
    Ok(app::marking::coursekey_connection(api.connections.as_ref(), tenant).await?)
}

/// The tenant's CourseKey settings, or the defaults.
async fn settings(api: &CourseKeyApi, tenant: &TenantId) -> Result<CourseKeySettings, ApiError> {
    Ok(coursekey_connection(api, tenant)
        .await?
        .map(|(_, s)| s)
        .unwrap_or_default())
}

async fn view(
    api: &CourseKeyApi,
    tenant: &TenantId,
    offering: &OfferingId,
) -> Result<CourseKeyView, ApiError> {
    let settings = settings(api, tenant).await?;
    let zone = api.tenants.tenant_settings(tenant).await?.zone();
    let today = zone.today((api.now)());
    let Some((ck, status)) = app::roster::status(
        api.attendance.as_ref(),
        api.sis.as_ref(),
        &settings,
        tenant,
        offering,
        today,
    )
    .await?
    else {
        return Ok(CourseKeyView {
            offering: offering.to_string(),
            send_to_coursekey: false,
            hours_type: HoursType::default(),
            instructors: vec![],
            classes: vec![],
            synchronized_at: None,
            status: SyncStatus::Disabled,
        });
    };
    Ok(CourseKeyView {
        offering: offering.to_string(),
        send_to_coursekey: ck.send_to_coursekey,
        hours_type: ck.hours_type,
        instructors: ck.instructors,
        classes: ck.classes,
        synchronized_at: ck.synchronized_at,
        status,
    })
}

/// An offering's CourseKey settings and sync status (Disabled, Scheduled, Failed with the reason, Synchronized).
#[utoipa::path(get, path = "/v1/offerings/{offering}/coursekey", tag = "coursekey",
    params(("offering" = String, Path, description = "The offering's id")),
    responses((status = 200, body = CourseKeyView), (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_coursekey(
    State(api): State<CourseKeyApi>,
    Extension(tenant): Extension<TenantId>,
    Path(offering): Path<String>,
) -> Result<Json<CourseKeyView>, ApiError> {
    let offering = OfferingId::parse(offering)?;
    Ok(Json(view(&api, &tenant, &offering).await?))
}

/// Mark (or unmark) an offering for CourseKey with its instructors and classes; a marked
/// offering's roster is queued for push. Unmarking once synchronized is refused.
#[utoipa::path(put, path = "/v1/offerings/{offering}/coursekey", tag = "coursekey",
    params(("offering" = String, Path, description = "The offering's id")),
    request_body = CourseKeyInput,
    responses((status = 200, body = CourseKeyView), (status = 400, body = crate::error::ErrorBody),
               (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn put_coursekey(
    State(api): State<CourseKeyApi>,
    Extension(tenant): Extension<TenantId>,
    Path(offering): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<CourseKeyView>, ApiError> {
    let offering = OfferingId::parse(offering)?;
    let input: CourseKeyInput = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "body",
            format!(
                "the body is not a CourseKey offering (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let marking = marking(&api);
    let input = app::marking::MarkInput {
        send_to_coursekey: input.send_to_coursekey,
        programme: input.programme.map(|p| (p.programme, p.course)),
        hours_type: input.hours_type,
        instructors: input.instructors,
        classes: input.classes,
    };
    marking
        .mark(&tenant, &offering, input)
        .await
        .map_err(|e| match e {
            app::marking::MarkError::Invalid { field, message } => {
                ApiError::bad_request(&field, message)
            }
            app::marking::MarkError::UnknownOffering { offering } => {
                ApiError::not_found("offering", format!("offering {offering} does not exist"))
            }
            app::marking::MarkError::Programme(e) => e.into(),
            app::marking::MarkError::Unmark(e) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                Some("send_to_coursekey"),
                e.to_string(),
            ),
            app::marking::MarkError::Store(e) => e.into(),
            app::marking::MarkError::Queue(e) => queue_error(e),
        })?;
    Ok(Json(view(&api, &tenant, &offering).await?))
}

fn queue_error(e: domain::ports::QueueError) -> ApiError {
    tracing::error!(
        error = &e as &dyn std::error::Error,
        "a roster push could not be queued"
    );
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        None,
        "saved, but the roster push could not be queued; save again shortly",
    )
}

/// An offering's attendance, as converted from CourseKey's records.
#[utoipa::path(get, path = "/v1/offerings/{offering}/attendance", tag = "coursekey",
    params(("offering" = String, Path, description = "The offering's id")),
    responses((status = 200, body = AttendanceList), (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn list_attendance(
    State(api): State<CourseKeyApi>,
    Extension(tenant): Extension<TenantId>,
    Path(offering): Path<String>,
) -> Result<Json<AttendanceList>, ApiError> {
    let offering = OfferingId::parse(offering)?;
    let attendance = api.attendance.attendances(&tenant, &offering).await?;
    Ok(Json(AttendanceList {
        offering: offering.to_string(),
        attendance,
    }))
}

/// The CourseKey records a connection refused (unknown learner or class,
/// inconsistent times, malformed), each with its reason.
#[utoipa::path(get, path = "/v1/connections/{connection}/coursekey/errors", tag = "coursekey",
    params(("connection" = String, Path, description = "The CourseKey connection's id")),
    responses((status = 200, body = RejectedList), (status = 404, body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn list_rejected_records(
    State(api): State<CourseKeyApi>,
    Extension(tenant): Extension<TenantId>,
    Path(connection): Path<String>,
) -> Result<Json<RejectedList>, ApiError> {
    let connection = ConnectionId::parse(connection)?;
    match api.connections.connection(&tenant, &connection).await? {
        None => {
            return Err(ApiError::not_found(
                "connection",
                format!("CourseKey connection {connection} does not exist"),
            ));
        }
        Some(c) if c.kind() != ConnectionKind::CourseKey => {
            return Err(ApiError::unprocessable(
                "connection",
                format!(
                    "connection {connection} is a {} connection; this route works with a CourseKey connection",
                    c.kind().as_str()
                ),
            ));
        }
        Some(_) => {}
    }
    let records = api
        .attendance
        .rejected_records(&tenant, &connection)
        .await?;
    Ok(Json(RejectedList {
        connection: connection.to_string(),
        records,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeCourseInput {
    pub send_to_coursekey: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProgrammeCourseView {
    pub programme: String,
    pub course: String,
    /// As set on the programme's course list; null when never set.
    pub send_to_coursekey: Option<bool>,
    /// What a new offering of this course gets: the flag, or when never set,
    /// the connection's `send_new_program_courses`.
    pub new_offerings_marked: bool,
}

async fn programme_view(
    api: &CourseKeyApi,
    tenant: &TenantId,
    pc: ProgrammeCourse,
) -> Result<ProgrammeCourseView, ApiError> {
    let flag = api.attendance.programme_course_send(tenant, &pc).await?;
    let marked = programme_send_default(Some(&pc), flag, &settings(api, tenant).await?);
    Ok(ProgrammeCourseView {
        programme: pc.programme,
        course: pc.course,
        send_to_coursekey: flag,
        new_offerings_marked: marked,
    })
}

/// A programme course's send-to-CourseKey option, and what its new offerings get.
#[utoipa::path(get, path = "/v1/programmes/{programme}/courses/{course}/coursekey", tag = "coursekey",
    params(("programme" = String, Path, description = "The programme's id"),
           ("course" = String, Path, description = "The course's id in the programme")),
    responses((status = 200, body = ProgrammeCourseView), (status = 400, body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn get_programme_course(
    State(api): State<CourseKeyApi>,
    Extension(tenant): Extension<TenantId>,
    Path((programme, course)): Path<(String, String)>,
) -> Result<Json<ProgrammeCourseView>, ApiError> {
    let pc = ProgrammeCourse::parse(programme, course)?;
    Ok(Json(programme_view(&api, &tenant, pc).await?))
}

/// Sets a programme course's send-to-CourseKey option: new offerings of the
/// course inherit it (offerings already known keep theirs).
#[utoipa::path(put, path = "/v1/programmes/{programme}/courses/{course}/coursekey", tag = "coursekey",
    params(("programme" = String, Path, description = "The programme's id"),
           ("course" = String, Path, description = "The course's id in the programme")),
    request_body = ProgrammeCourseInput,
    responses((status = 200, body = ProgrammeCourseView), (status = 400, body = crate::error::ErrorBody)),
    security(("api_key" = [])))]
pub async fn put_programme_course(
    State(api): State<CourseKeyApi>,
    Extension(tenant): Extension<TenantId>,
    Path((programme, course)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<ProgrammeCourseView>, ApiError> {
    let pc = ProgrammeCourse::parse(programme, course)?;
    let input: ProgrammeCourseInput = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "send_to_coursekey",
            format!(
                "the body must be {{\"send_to_coursekey\": true|false}} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    api.attendance
        .save_programme_course_send(&tenant, &pc, input.send_to_coursekey)
        .await?;
    Ok(Json(programme_view(&api, &tenant, pc).await?))
}
