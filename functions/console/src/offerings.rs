//! The offerings screens (issue 19 item 3): the tenant's offerings with their
//! course link per Moodle connection and CourseKey status; an offering's links
//! (find by ID number), its transfer preview; its CourseKey
//! attendance. Its actions (Transfer, Remove from Moodle, a new course, the
//! mapping editor, a blocked learner's record) are in [`crate::offering`]. Every read and change goes through the stores and the app use
//! cases the api's links, linking, preview and coursekey routes call.

use crate::ConsoleState;
use crate::coursekey_status::{CourseKeyStatus, SendFlag, coursekey_status};
use crate::error::ConsoleError;
use crate::pages::{chrome, zone};
use crate::session::SignedIn;
use crate::views::{Chrome, FieldError, render};
use app::courses::LinkChoice;
use app::push::{Push, PushError};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::sis::{Offering, TransferStatus};
use domain::{Connection, ConnectionId, ConnectionKind, OfferingId, TenantId};
use serde::Deserialize;

type Page = Result<Html<String>, ConsoleError>;

/// One course link cell: the connection and its course, or "not linked".
pub struct LinkCell {
    pub connection: String,
    pub connection_name: String,
    pub course: Option<String>,
}

pub(crate) fn moodle_connections(all: Vec<Connection>) -> Vec<Connection> {
    all.into_iter()
        .filter(|c| c.kind() == ConnectionKind::Moodle)
        .collect()
}

pub(crate) fn dates(offering: &Offering) -> String {
    let day = |d: Option<chrono::NaiveDate>| d.map_or_else(|| "—".to_owned(), |d| d.to_string());
    format!("{} to {}", day(offering.start_date), day(offering.end_date))
}

pub(crate) async fn links_of(
    state: &ConsoleState,
    tenant: &TenantId,
    offering: &OfferingId,
    moodle: &[Connection],
) -> Result<Vec<LinkCell>, ConsoleError> {
    let mut cells = Vec::with_capacity(moodle.len());
    for c in moodle {
        let link = state.api.deps.links.link(tenant, offering, &c.id).await?;
        cells.push(LinkCell {
            connection: c.id.to_string(),
            connection_name: c.name.clone(),
            course: link.map(|l| {
                format!(
                    "course {}{}",
                    l.course_id,
                    l.course_shortname
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                )
            }),
        });
    }
    Ok(cells)
}

/// One enrolment in the transfer preview.
pub struct PreviewLine {
    pub learner: String,
    pub label: &'static str,
    pub class: &'static str,
    pub reasons: Vec<String>,
}

impl PreviewLine {
    fn of(learner: String, status: &TransferStatus) -> Self {
        let (label, class, reasons) = match status {
            TransferStatus::Ready => ("Ready", "transfer-ready", vec![]),
            TransferStatus::Transferred => ("Transferred", "transfer-done", vec![]),
            TransferStatus::Removed => ("Removed", "transfer-done", vec![]),
            TransferStatus::Blocked { reasons } => (
                "Blocked",
                "transfer-blocked",
                reasons.iter().map(|r| r.message()).collect(),
            ),
        };
        Self {
            learner,
            label,
            class,
            reasons,
        }
    }
}

/// An offering's state on one Moodle connection.
pub struct ConnectionSection {
    pub id: String,
    pub name: String,
    pub course: Option<String>,
    /// The preview's lines, or why Moodle could not be asked.
    pub preview: Result<Vec<PreviewLine>, String>,
}

pub struct AttendanceLine {
    pub learner: String,
    pub class_code: String,
    pub mark: &'static str,
    pub word: &'static str,
    pub recorded: String,
}

#[derive(Template)]
#[template(path = "offering.html")]
pub struct OfferingPage {
    pub chrome: Chrome,
    pub id: String,
    pub name: String,
    pub dates: String,
    pub sections: Vec<ConnectionSection>,
    pub coursekey: CourseKeyStatus,
    pub send_to_coursekey: SendFlag,
    pub attendance: Vec<AttendanceLine>,
    pub zone: String,
    pub error: Option<FieldError>,
}

/// What a failed preview says, as the api's preview route words it.
pub(crate) fn preview_problem(e: &PushError) -> String {
    moodle_problem(e, "look-up")
}

/// A use case's error that may be a failed Moodle call.
pub(crate) trait MoodleFailure: domain::ports::Retryable + std::error::Error {
    /// The Moodle error it is, if it is one.
    fn learning(&self) -> Option<&domain::learning::LearningError>;
}

impl MoodleFailure for PushError {
    fn learning(&self) -> Option<&domain::learning::LearningError> {
        match self {
            PushError::Learning(l) => Some(l),
            _ => None,
        }
    }
}

impl MoodleFailure for app::results::ResultsError {
    fn learning(&self) -> Option<&domain::learning::LearningError> {
        match self {
            app::results::ResultsError::Learning(l) => Some(l),
            _ => None,
        }
    }
}

/// What a failed Moodle call says on a page, whichever use case made it:
/// `call` names what Moodle refused ("call", "look-up"). A missing secret and
/// an unreachable Moodle say what to do; a refusal gives Moodle's words.
pub(crate) fn moodle_problem(e: &impl MoodleFailure, call: &str) -> String {
    if matches!(
        e.learning(),
        Some(domain::learning::LearningError::Secret(_))
    ) {
        "the connection has no secret yet; set it first".to_owned()
    } else if e.is_retryable() {
        "Moodle could not be reached; try again shortly".to_owned()
    } else {
        format!(
            "Moodle refused the {call}; test the connection: {}",
            app::push::error_text(e)
        )
    }
}

/// The push use case as the transfer preview uses it (it sends no email).
pub(crate) fn preview_use_case(state: &ConsoleState) -> Push<'_> {
    api::preview::push(&state.api.deps)
}

pub(crate) async fn load_offering(
    state: &ConsoleState,
    tenant: &TenantId,
    id: &str,
) -> Result<Offering, ConsoleError> {
    let missing = || ConsoleError::NotFound(format!("This tenant has no offering {id:?}."));
    let id = OfferingId::parse(id).map_err(|_| missing())?;
    state
        .api
        .deps
        .sis
        .offering(tenant, &id)
        .await?
        .ok_or_else(missing)
}

pub(crate) async fn offering_page(
    state: &ConsoleState,
    who: &SignedIn,
    offering: Offering,
    error: Option<FieldError>,
) -> Page {
    let deps = &state.api.deps;
    let tenant = &who.tenant;
    let zone = zone(state, tenant).await?;
    let moodle = moodle_connections(deps.connections.connections(tenant).await?);
    let push = preview_use_case(state);
    let cells = links_of(state, tenant, &offering.id, &moodle).await?;
    let mut sections = Vec::with_capacity(cells.len());
    for cell in cells {
        let preview = if cell.course.is_some() {
            let id = ConnectionId::parse(cell.connection.clone())
                .map_err(|e| ConsoleError::NotFound(e.to_string()))?;
            match push.preview(tenant, &id, &offering.id).await {
                Ok(rows) => Ok(rows
                    .into_iter()
                    .map(|r| PreviewLine::of(r.learner.to_string(), &r.status))
                    .collect()),
                Err(PushError::Store(e)) => return Err(e.into()),
                Err(e) => Err(preview_problem(&e)),
            }
        } else {
            Ok(Vec::new())
        };
        sections.push(ConnectionSection {
            id: cell.connection,
            name: cell.connection_name,
            course: cell.course,
            preview,
        });
    }
    let (coursekey, send_to_coursekey) =
        coursekey_status(state, tenant, &offering.id, zone).await?;
    let attendance = state
        .api
        .coursekey
        .attendance
        .attendances(tenant, &offering.id)
        .await?
        .into_iter()
        .map(|a| AttendanceLine {
            learner: a.learner.to_string(),
            class_code: a.class_code,
            mark: a.mark.letter(),
            word: match a.mark {
                domain::attendance::Mark::Present => "present",
                domain::attendance::Mark::Late => "late",
                domain::attendance::Mark::Absent => "absent",
            },
            recorded: crate::views::local_time(zone, a.recorded_at),
        })
        .collect();
    Ok(render(&OfferingPage {
        chrome: chrome(who, "Offerings"),
        id: offering.id.to_string(),
        name: offering.name.clone(),
        dates: dates(&offering),
        sections,
        coursekey,
        send_to_coursekey,
        attendance,
        zone: zone.name().to_owned(),
        error,
    })?)
}

/// An offering: its course per Moodle connection, the transfer preview, CourseKey.
pub async fn offering(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Page {
    let offering = load_offering(&state, &who.tenant, &id).await?;
    offering_page(&state, &who, offering, None).await
}

#[derive(Deserialize)]
pub struct ConnectionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    connection: String,
}

/// The connection a form names, one of the tenant's; else the field's error.
fn form_connection(raw: &str) -> Result<ConnectionId, FieldError> {
    ConnectionId::parse(raw.to_owned()).map_err(|e| FieldError {
        field: "connection",
        message: e.to_string(),
    })
}

/// Links the offering to the course whose ID number is the offering's id ("Find
/// by ID number", and "Check again"), with `app::courses::Courses::link` as
/// `POST /v1/offerings/{id}/links` does.
pub async fn link(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ConnectionForm>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let offering = load_offering(&state, &who.tenant, &id).await?;
    let deps = &state.api.deps;
    let error = match form_connection(&form.connection) {
        Err(e) => e,
        Ok(connection) => {
            match api::linking::courses(deps)
                .link(
                    &who.tenant,
                    &connection,
                    &offering.id,
                    LinkChoice::FindByIdnumber,
                    (deps.now)(),
                )
                .await
            {
                Ok(_) => {
                    return Ok(Redirect::to(&format!("/console/offerings/{}", offering.id))
                        .into_response());
                }
                Err(PushError::Store(e)) => return Err(e.into()),
                Err(e @ PushError::CourseNotFound { .. }) => FieldError {
                    field: "course",
                    message: format!(
                        "{e}: give the Moodle course the ID number {} and check again",
                        offering.id
                    ),
                },
                Err(e) => FieldError {
                    field: "connection",
                    message: e.to_string(),
                },
            }
        }
    };
    let page = offering_page(&state, &who, offering, Some(error)).await?;
    Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// The offerings screens' routes, merged into the console's router.
pub fn routes() -> axum::Router<ConsoleState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console/offerings/{id}", get(offering))
        .route("/console/offerings/{id}/link", post(link))
}
