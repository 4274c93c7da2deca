//! A new Moodle course for an offering that is not linked, in a category chosen
//! from the Moodle site's categories, created and linked at once
//! (`app::courses::Courses` with `LinkChoice::Create`, as
//! `POST /v1/offerings/{id}/links` with `create` does; the categories as
//! `GET /v1/connections/{id}/categories` reads them).

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::offerings::{load_offering, moodle_problem};
use crate::pages::chrome;
use crate::session::SignedIn;
use crate::views::{Chrome, FieldError, render};
use app::courses::{CourseDraft, Courses, LinkChoice, LinkRequestError};
use app::push::PushError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::sis::Offering;
use domain::{Connection, TenantId};
use serde::Deserialize;

fn courses(state: &ConsoleState) -> Courses<'_> {
    api::linking::courses(&state.api.deps)
}

/// A category as the form lists it: its path of names from the top.
pub struct CategoryOption {
    pub id: i64,
    pub label: String,
}

#[derive(Template)]
#[template(path = "offering_course.html")]
pub struct CoursePage {
    pub chrome: Chrome,
    pub offering: String,
    pub offering_name: String,
    pub dates: String,
    pub connection: String,
    pub connection_name: String,
    /// The site's categories, or why Moodle could not list them.
    pub categories: Result<Vec<CategoryOption>, String>,
    pub shortname: String,
    pub fullname: String,
    pub category: String,
    pub error: Option<FieldError>,
    /// Linked already: nothing to create.
    pub linked: Option<i64>,
}

impl CoursePage {
    pub fn error_of(&self, field: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

async fn categories(
    state: &ConsoleState,
    tenant: &TenantId,
    connection: &Connection,
) -> Result<Result<Vec<CategoryOption>, String>, ConsoleError> {
    match courses(state).categories(tenant, &connection.id).await {
        Ok(all) => {
            let name = |id: i64| all.iter().find(|c| c.id == id);
            let options = all
                .iter()
                .map(|c| {
                    let mut path = vec![c.name.clone()];
                    let mut parent = c.parent;
                    // A category's parents, to the top (bounded: Moodle's tree has no cycle).
                    for _ in 0..16 {
                        let Some(p) = name(parent) else { break };
                        path.push(p.name.clone());
                        parent = p.parent;
                    }
                    path.reverse();
                    let mut label = path.join(" / ");
                    if !c.idnumber.is_empty() {
                        label.push_str(&format!(" (ID number {})", c.idnumber));
                    }
                    CategoryOption { id: c.id, label }
                })
                .collect();
            Ok(Ok(options))
        }
        Err(PushError::Store(e)) => Err(e.into()),
        Err(e) => Ok(Err(moodle_problem(&e, "call"))),
    }
}

struct Draft {
    shortname: String,
    fullname: String,
    category: String,
}

async fn course_page(
    state: &ConsoleState,
    who: &SignedIn,
    offering: Offering,
    connection: Connection,
    draft: Draft,
    error: Option<FieldError>,
) -> Result<Html<String>, ConsoleError> {
    let linked = state
        .api
        .deps
        .links
        .link(&who.tenant, &offering.id, &connection.id)
        .await?
        .map(|l| l.course_id);
    let categories = if linked.is_some() {
        Ok(Vec::new())
    } else {
        categories(state, &who.tenant, &connection).await?
    };
    Ok(render(&CoursePage {
        chrome: chrome(who, "Offerings"),
        offering: offering.id.to_string(),
        dates: crate::offerings::dates(&offering),
        offering_name: offering.name,
        connection: connection.id.to_string(),
        connection_name: connection.name,
        categories,
        shortname: draft.shortname,
        fullname: draft.fullname,
        category: draft.category,
        error,
        linked,
    })?)
}

/// The form: short and full names (the offering's id and name to start with)
/// and the site's categories.
pub async fn form(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path((id, connection)): Path<(String, String)>,
) -> Result<Html<String>, ConsoleError> {
    let offering = load_offering(&state, &who.tenant, &id).await?;
    let connection = super::moodle_connection(&state, &who.tenant, &connection).await?;
    let draft = Draft {
        shortname: offering.id.to_string(),
        fullname: offering.name.clone(),
        category: String::new(),
    };
    course_page(&state, &who, offering, connection, draft, None).await
}

#[derive(Deserialize)]
pub struct CourseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    shortname: String,
    #[serde(default)]
    fullname: String,
    #[serde(default)]
    category: String,
}

/// Creates the course in the chosen category and links it; back to the offering.
pub async fn create(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path((id, connection)): Path<(String, String)>,
    Form(form): Form<CourseForm>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let offering = load_offering(&state, &who.tenant, &id).await?;
    let connection = super::moodle_connection(&state, &who.tenant, &connection).await?;
    let error = match form.category.trim().parse::<i64>() {
        Err(_) => FieldError {
            field: "category",
            message: "choose one of the site's categories".to_owned(),
        },
        Ok(category) => {
            let draft = CourseDraft {
                shortname: form.shortname.trim().to_owned(),
                fullname: form.fullname.trim().to_owned(),
                category,
            };
            match LinkChoice::from_request(None, Some(draft)) {
                Err(e @ LinkRequestError::EmptyName { .. }) => FieldError {
                    field: if e.field().ends_with("shortname") {
                        "shortname"
                    } else {
                        "fullname"
                    },
                    message: e.to_string().replace("links.create.", ""),
                },
                Err(e) => FieldError {
                    field: "category",
                    message: e.to_string(),
                },
                Ok(choice) => match courses(&state)
                    .link(
                        &who.tenant,
                        &connection.id,
                        &offering.id,
                        choice,
                        (state.api.deps.now)(),
                    )
                    .await
                {
                    Ok(_) => {
                        return Ok(Redirect::to(&format!("/console/offerings/{}", offering.id))
                            .into_response());
                    }
                    Err(PushError::Store(e)) => return Err(e.into()),
                    Err(e @ PushError::UnknownCategory { .. }) => FieldError {
                        field: "category",
                        message: e.to_string(),
                    },
                    Err(PushError::Refused { reason, .. }) => FieldError {
                        field: "shortname",
                        message: format!(
                            "Moodle refused the course: {}; a course's short name must be unique on the site",
                            reason.message()
                        ),
                    },
                    Err(e) => FieldError {
                        field: "connection",
                        message: moodle_problem(&e, "call"),
                    },
                },
            }
        }
    };
    let draft = Draft {
        shortname: form.shortname,
        fullname: form.fullname,
        category: form.category,
    };
    let page = course_page(&state, &who, offering, connection, draft, Some(error)).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
