//! The linked course's activities (each with its type and whether it can be
//! mapped) and the offering's mappings (assessable ↔ activities), with an editor
//! for an admin: `app::results::Results::activities`, `::map` and `::unmap`, as the
//! api's `GET .../links/{connection}/activities` and `PUT` / `DELETE
//! .../mappings/{connection}/{assessable}`.

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::offerings::{load_offering, moodle_problem};
use crate::pages::chrome;
use crate::session::SignedIn;
use crate::views::{Chrome, FieldError, render};
use app::results::ResultsError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::results::{CourseActivity, MappingError};
use domain::sis::{AssessableKind, Offering};
use domain::{AssessableId, Connection};

use crate::results::use_case;

pub struct ActivityRow {
    pub cmid: i64,
    pub name: String,
    pub modname: String,
    pub mappable: bool,
    /// The assessables mapped to it.
    pub mapped_to: Vec<String>,
}

/// A box of the mapping editor.
pub struct Choice {
    pub cmid: i64,
    pub name: String,
    pub modname: String,
    pub checked: bool,
}

/// One assessable and the activities it is mapped to.
pub struct AssessableRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    /// The mappable activities, ticked when mapped (the editor's boxes).
    pub choices: Vec<Choice>,
    /// Its mapping as words: "Quiz 1 (quiz, 12)".
    pub mapped_names: Vec<String>,
}

#[derive(Template)]
#[template(path = "offering_activities.html")]
pub struct ActivitiesPage {
    pub chrome: Chrome,
    pub offering: String,
    pub offering_name: String,
    pub connection: String,
    pub connection_name: String,
    /// The course's activities, or why they could not be read.
    pub activities: Result<Vec<ActivityRow>, String>,
    pub assessables: Vec<AssessableRow>,
    pub error: Option<FieldError>,
    /// The assessable the error is about.
    pub error_assessable: String,
}

async fn activities(
    state: &ConsoleState,
    offering: &Offering,
    connection: &Connection,
) -> Result<Result<Vec<CourseActivity>, String>, ConsoleError> {
    let source = match state.api.results.grades.for_connection(connection).await {
        Ok(source) => source,
        Err(e) => return Ok(Err(moodle_problem(&ResultsError::from(e), "call"))),
    };
    match use_case(state)
        .activities(
            source.as_ref(),
            &offering.tenant,
            &offering.id,
            &connection.id,
        )
        .await
    {
        Ok(all) => Ok(Ok(all)),
        Err(ResultsError::Store(e)) => Err(e.into()),
        Err(e @ ResultsError::NotLinked { .. }) => {
            Ok(Err(format!("{e}: link it first on the offering's page")))
        }
        Err(e) => Ok(Err(moodle_problem(&e, "call"))),
    }
}

async fn activities_page(
    state: &ConsoleState,
    who: &SignedIn,
    offering: Offering,
    connection: Connection,
    error: Option<(String, FieldError)>,
) -> Result<Html<String>, ConsoleError> {
    let mappings = state
        .api
        .results
        .results
        .mappings(&who.tenant, &offering.id, &connection.id)
        .await?;
    let found = activities(state, &offering, &connection).await?;
    let name_of = |cmid: i64, modname: &str| {
        found
            .as_ref()
            .ok()
            .and_then(|all| all.iter().find(|a| a.cmid == cmid))
            .map_or_else(
                || format!("activity {cmid} ({modname})"),
                |a| format!("{} ({}, {cmid})", a.name, a.modname),
            )
    };
    let assessables = offering
        .assessables
        .iter()
        .map(|a| {
            let mapping = mappings.iter().find(|m| m.assessable == a.id);
            let mapped: Vec<(i64, String)> = mapping
                .map(|m| {
                    m.activities
                        .iter()
                        .map(|x| (x.cmid, x.modname.clone()))
                        .collect()
                })
                .unwrap_or_default();
            AssessableRow {
                id: a.id.to_string(),
                name: a.name.clone(),
                kind: match a.kind {
                    AssessableKind::Unit => "unit",
                    AssessableKind::Task => "task",
                },
                mapped_names: mapped.iter().map(|(c, m)| name_of(*c, m)).collect(),
                choices: found
                    .as_ref()
                    .map(|all| {
                        all.iter()
                            .filter(|x| x.mappable)
                            .map(|x| Choice {
                                cmid: x.cmid,
                                name: x.name.clone(),
                                modname: x.modname.clone(),
                                checked: mapped.iter().any(|(c, _)| *c == x.cmid),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect::<Vec<_>>();
    let activities = found.map(|all| {
        all.into_iter()
            .map(|a| ActivityRow {
                mapped_to: mappings
                    .iter()
                    .filter(|m| m.activities.iter().any(|x| x.cmid == a.cmid))
                    .map(|m| m.assessable.to_string())
                    .collect(),
                cmid: a.cmid,
                name: a.name,
                modname: a.modname,
                mappable: a.mappable,
            })
            .collect()
    });
    let (error_assessable, error) = match error {
        Some((a, e)) => (a, Some(e)),
        None => (String::new(), None),
    };
    Ok(render(&ActivitiesPage {
        chrome: chrome(who, "Offerings"),
        offering: offering.id.to_string(),
        offering_name: offering.name,
        connection: connection.id.to_string(),
        connection_name: connection.name,
        activities,
        assessables,
        error,
        error_assessable,
    })?)
}

/// The activities and the mappings, with the editor for an admin.
pub async fn page(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path((id, connection)): Path<(String, String)>,
) -> Result<Html<String>, ConsoleError> {
    let offering = load_offering(&state, &who.tenant, &id).await?;
    let connection = super::moodle_connection(&state, &who.tenant, &connection).await?;
    activities_page(&state, &who, offering, connection, None).await
}

/// Maps an assessable to the activities ticked (replacing its mapping).
pub async fn map(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path((id, connection, assessable)): Path<(String, String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    who.check_change(&method, &headers, csrf)?;
    let offering = load_offering(&state, &who.tenant, &id).await?;
    let connection = super::moodle_connection(&state, &who.tenant, &connection).await?;
    let field_error = |field: &'static str, message: String| {
        Some((assessable.clone(), FieldError { field, message }))
    };
    let mut cmids = Vec::new();
    let mut error = None;
    for (_, raw) in pairs.iter().filter(|(k, _)| k == "activities") {
        match raw.trim().parse::<i64>() {
            Ok(cmid) => cmids.push(cmid),
            Err(_) => {
                error = field_error("activities", format!("{raw:?} is not an activity id"));
            }
        }
    }
    if error.is_none() {
        match AssessableId::parse(assessable.clone()) {
            Err(e) => error = field_error("assessable", e.to_string()),
            Ok(assessable_id) => {
                let source = state.api.results.grades.for_connection(&connection).await;
                let mapped = match source {
                    Err(e) => Err(ResultsError::from(e)),
                    Ok(source) => {
                        use_case(&state)
                            .map(
                                source.as_ref(),
                                &who.tenant,
                                &offering.id,
                                &connection.id,
                                &assessable_id,
                                &cmids,
                                (state.api.deps.now)(),
                            )
                            .await
                    }
                };
                error = match mapped {
                    Ok(_) => {
                        return Ok(Redirect::to(&format!(
                            "/console/offerings/{}/activities/{}#mapping-{}",
                            offering.id, connection.id, assessable_id
                        ))
                        .into_response());
                    }
                    Err(ResultsError::Store(e)) => return Err(e.into()),
                    Err(ResultsError::Mapping(
                        e @ (MappingError::LevelNotAllowed { .. }
                        | MappingError::UnknownAssessable { .. }),
                    )) => field_error("assessable", e.to_string()),
                    Err(ResultsError::Mapping(e)) => field_error("activities", e.to_string()),
                    Err(e @ ResultsError::NotLinked { .. }) => {
                        field_error("connection", e.to_string())
                    }
                    Err(e) => field_error("connection", moodle_problem(&e, "call")),
                };
            }
        }
    }
    let page = activities_page(&state, &who, offering, connection, error).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(serde::Deserialize)]
pub struct UnmapForm {
    #[serde(default)]
    csrf: String,
}

/// Removes an assessable's mapping.
pub async fn unmap(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path((id, connection, assessable)): Path<(String, String, String)>,
    Form(form): Form<UnmapForm>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let offering = load_offering(&state, &who.tenant, &id).await?;
    let connection = super::moodle_connection(&state, &who.tenant, &connection).await?;
    let error = match AssessableId::parse(assessable.clone()) {
        Err(e) => FieldError {
            field: "assessable",
            message: e.to_string(),
        },
        Ok(assessable_id) => match use_case(&state)
            .unmap(&who.tenant, &offering.id, &connection.id, &assessable_id)
            .await
        {
            Ok(()) => {
                return Ok(Redirect::to(&format!(
                    "/console/offerings/{}/activities/{}#mapping-{}",
                    offering.id, connection.id, assessable_id
                ))
                .into_response());
            }
            Err(ResultsError::Store(e)) => return Err(e.into()),
            Err(e) => FieldError {
                field: "connection",
                message: e.to_string(),
            },
        },
    };
    let page = activities_page(
        &state,
        &who,
        offering,
        connection,
        Some((assessable, error)),
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
