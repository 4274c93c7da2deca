//! The CourseKey screen (issue 19 item 3, GEGI's "Synchronization with CourseKey
//! Status"): every offering of the tenant's offering index, a page at a time, with
//! its status (Disabled / Scheduled / Failed with the reason written out and on
//! hover / Synchronized, each a word and a colour), whether it is marked "Send to
//! CourseKey", a link to its attendance, and for an admin the mark / unmark form.
//! The form (also on an offering's page) calls `app::marking::Marking::set_send`,
//! the use case behind the api's `PUT /v1/offerings/{id}/coursekey`: a marked
//! offering's roster push is queued, and the every-minute roster tick pushes it
//! again whenever something changed.

use crate::ConsoleState;
use crate::coursekey_status::{CourseKeyContext, CourseKeyStatus, SendFlag};
use crate::error::ConsoleError;
use crate::offerings_list::{self, ListQuery, Listing};
use crate::pages::{chrome, zone};
use crate::session::SignedIn;
use crate::views::{Chrome, FieldError, render};
use app::marking::MarkError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use domain::OfferingId;
use serde::Deserialize;

pub struct CourseKeyRow {
    pub id: String,
    pub name: String,
    pub dates: String,
    pub status: CourseKeyStatus,
    pub send: SendFlag,
}

#[derive(Template)]
#[template(path = "coursekey.html")]
pub struct CourseKeyPage {
    pub chrome: Chrome,
    pub connection: Option<String>,
    pub listing: Listing,
    pub rows: Vec<CourseKeyRow>,
    pub error: Option<FieldError>,
    /// The offering the error is about.
    pub error_offering: String,
}

async fn page(
    state: &ConsoleState,
    who: &SignedIn,
    query: ListQuery,
    error: Option<(FieldError, String)>,
) -> Result<Response, ConsoleError> {
    let zone = zone(state, &who.tenant).await?;
    let context = CourseKeyContext::load(state, &who.tenant, zone).await?;
    let (listing, offerings) =
        offerings_list::listing(state, &who.tenant, "/console/coursekey", query).await?;
    let context = &context;
    let rows = offerings_list::rows_in_order(offerings, |o| async move {
        let (status, send) = context.status(state, &who.tenant, &o.id).await?;
        Ok(CourseKeyRow {
            id: o.id.to_string(),
            name: o.name,
            dates: offerings_list::dates(o.start_date, o.end_date),
            status,
            send,
        })
    })
    .await?;
    let failed = error.is_some() || listing.error.is_some();
    let (error, error_offering) = error.map_or((None, String::new()), |(e, o)| (Some(e), o));
    let page = CourseKeyPage {
        chrome: chrome(who, "CourseKey"),
        connection: context.connection.as_ref().map(ToString::to_string),
        listing,
        rows,
        error,
        error_offering,
    };
    let status = if failed {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, render(&page)?).into_response())
}

/// The CourseKey screen.
pub async fn coursekey(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Query(query): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    page(&state, &who, query, None).await
}

#[derive(Deserialize)]
pub struct SendForm {
    #[serde(default)]
    csrf: String,
    /// `true` marks, `false` unmarks.
    #[serde(default)]
    send_to_coursekey: String,
    /// `offering`: back to the offering's page; anything else: the CourseKey screen.
    #[serde(default)]
    back: String,
}

/// Marks or unmarks an offering "Send to CourseKey" (`Marking::set_send`), then
/// shows the page the form was on; a refusal is shown on the CourseKey screen,
/// naming the field, with the offering it is about.
pub async fn send(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<SendForm>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let refused =
        |field: &'static str, message: String| Some((FieldError { field, message }, id.clone()));
    let error = match (
        OfferingId::parse(id.as_str()),
        form.send_to_coursekey.as_str(),
    ) {
        (Err(e), _) => refused("offering", e.to_string()),
        (Ok(_), raw) if raw != "true" && raw != "false" => refused(
            "send_to_coursekey",
            format!("must be true (mark) or false (unmark), not {raw:?}"),
        ),
        (Ok(offering), raw) => {
            match api::coursekey::marking(&state.api.coursekey)
                .set_send(&who.tenant, &offering, raw == "true")
                .await
            {
                Ok(_) => {
                    let to = if form.back == "offering" {
                        format!("/console/offerings/{offering}#coursekey")
                    } else {
                        format!("/console/coursekey?q={offering}")
                    };
                    return Ok(Redirect::to(&to).into_response());
                }
                Err(MarkError::Store(e)) => return Err(e.into()),
                Err(MarkError::UnknownOffering { offering }) => refused(
                    "offering",
                    format!("this tenant has no offering {offering}"),
                ),
                Err(MarkError::Unmark(e)) => refused("send_to_coursekey", e.to_string()),
                Err(MarkError::Queue(e)) => {
                    tracing::error!(
                        error = &e as &dyn std::error::Error,
                        "a roster push could not be queued"
                    );
                    refused(
                        "send_to_coursekey",
                        "saved, but the roster push could not be queued; the roster tick \
                         sends it within the connection's update interval, or save again shortly"
                            .to_owned(),
                    )
                }
                Err(MarkError::Invalid { message, .. }) => refused(
                    "send_to_coursekey",
                    format!(
                        "the offering's CourseKey side as the SMS sent it is refused ({message}); \
                         send it again through the API"
                    ),
                ),
                Err(MarkError::Programme(e)) => refused("send_to_coursekey", e.to_string()),
            }
        }
    };
    let query = ListQuery::filtered(id.clone());
    page(&state, &who, query, error).await
}

/// The CourseKey screen's routes, merged into the console's router.
pub fn routes() -> axum::Router<ConsoleState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console/coursekey", get(coursekey))
        .route("/console/coursekey/{id}/send", post(send))
}
