//! The offerings list (issue 19 item 3): every offering the SMS sent, read from
//! the tenant's offering index (`SisStore::offering_page`) a page at a time, with a
//! filter on id or name, each with its dates, its course per Moodle connection (or
//! "Not linked") and its CourseKey status. The CourseKey screen pages through the
//! same index ([`listing`]).

use crate::ConsoleState;
use crate::coursekey_status::{CourseKeyContext, CourseKeyStatus};
use crate::error::ConsoleError;
use crate::offerings::{LinkCell, links_of, moodle_connections};
use crate::pages::{chrome, zone};
use crate::session::SignedIn;
use crate::views::{Chrome, FieldError, render};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use domain::sis::OfferingSummary;
use domain::{OfferingId, TenantId};
use serde::Deserialize;

/// Offerings a page shows.
pub const PAGE: usize = 25;
/// The longest filter accepted.
const FILTER_MAX: usize = 100;

/// What a list's address asks: a filter, where the page starts, an offering to open.
#[derive(Deserialize, Default, Debug, Clone)]
pub struct ListQuery {
    /// Open this offering (by its id) instead of listing.
    #[serde(default)]
    pub open: String,
    /// Only offerings whose id or name contains it (ignoring case).
    #[serde(default)]
    pub q: String,
    /// The page starts after this offering id.
    #[serde(default)]
    pub after: String,
}

impl ListQuery {
    /// The first page of offerings whose id or name contains `q`.
    pub fn filtered(q: String) -> Self {
        Self {
            q,
            ..Self::default()
        }
    }
}

/// A page of a list as its template shows it: the filter, the error of a field
/// of the address, and the links to the first and the next page.
pub struct Listing {
    pub q: String,
    pub error: Option<FieldError>,
    /// The first page (with the filter) when this is a later one.
    pub first: Option<String>,
    /// The next page, when there may be more.
    pub next: Option<String>,
}

fn page_href(path: &str, q: &str, after: Option<&OfferingId>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    if let Some(after) = after {
        query.append_pair("after", after.as_str());
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// One page of the tenant's offerings as `query` asks (at most [`PAGE`]), and the
/// links around it; a bad filter or page start names its field and lists nothing.
pub async fn listing(
    state: &ConsoleState,
    tenant: &TenantId,
    path: &str,
    query: ListQuery,
) -> Result<(Listing, Vec<OfferingSummary>), ConsoleError> {
    let q = query.q.trim().to_owned();
    let mut listing = Listing {
        q: q.clone(),
        error: None,
        first: None,
        next: None,
    };
    if q.chars().count() > FILTER_MAX {
        listing.error = Some(FieldError {
            field: "q",
            message: format!("a filter is at most {FILTER_MAX} characters"),
        });
        return Ok((listing, vec![]));
    }
    let after = match query.after.trim() {
        "" => None,
        raw => match OfferingId::parse(raw) {
            Ok(id) => Some(id),
            Err(e) => {
                listing.error = Some(FieldError {
                    field: "after",
                    message: format!("the page's start is not an offering id: {e}"),
                });
                return Ok((listing, vec![]));
            }
        },
    };
    let page = state
        .api
        .deps
        .sis
        .offering_page(tenant, &q, after.as_ref(), PAGE)
        .await?;
    listing.first = after.is_some().then(|| page_href(path, &q, None));
    listing.next = page.next.as_ref().map(|n| page_href(path, &q, Some(n)));
    Ok((listing, page.offerings))
}

/// Rows a page reads at once (each a few store reads).
const ROW_CONCURRENCY: usize = 8;

/// A page's rows, each read by `row` ([`ROW_CONCURRENCY`] at a time), in the
/// page's order; the first error ends the page.
pub async fn rows_in_order<T, F, Fut>(
    offerings: Vec<OfferingSummary>,
    row: F,
) -> Result<Vec<T>, ConsoleError>
where
    F: Fn(OfferingSummary) -> Fut,
    Fut: std::future::Future<Output = Result<T, ConsoleError>>,
{
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(offerings)
        .map(row)
        .buffered(ROW_CONCURRENCY)
        .try_collect()
        .await
}

/// An offering's dates as the lists show them.
pub fn dates(start: Option<NaiveDate>, end: Option<NaiveDate>) -> String {
    let day = |d: Option<NaiveDate>| d.map_or_else(|| "—".to_owned(), |d| d.to_string());
    format!("{} to {}", day(start), day(end))
}

pub struct OfferingRow {
    pub id: String,
    pub name: String,
    pub dates: String,
    pub links: Vec<LinkCell>,
    pub coursekey: CourseKeyStatus,
}

#[derive(Template)]
#[template(path = "offerings_list.html")]
pub struct OfferingsPage {
    pub chrome: Chrome,
    pub moodle: Vec<(String, String)>,
    pub listing: Listing,
    pub rows: Vec<OfferingRow>,
    /// The "open by id" field's value and error.
    pub open: String,
    pub open_error: Option<FieldError>,
}

/// Every offering the SMS sent, a page at a time; `open` goes to one offering.
pub async fn offerings(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Query(query): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let deps = &state.api.deps;
    let open = query.open.trim().to_owned();
    let mut open_error = None;
    if !open.is_empty() {
        match OfferingId::parse(open.as_str()) {
            Ok(id) if deps.sis.offering(&who.tenant, &id).await?.is_some() => {
                return Ok(Redirect::to(&format!("/console/offerings/{id}")).into_response());
            }
            Ok(id) => {
                open_error = Some(FieldError {
                    field: "open",
                    message: format!("this tenant has no offering {id}"),
                });
            }
            Err(e) => {
                open_error = Some(FieldError {
                    field: "open",
                    message: e.to_string(),
                });
            }
        }
    }
    let moodle = moodle_connections(deps.connections.connections(&who.tenant).await?);
    let zone = zone(&state, &who.tenant).await?;
    let context = CourseKeyContext::load(&state, &who.tenant, zone).await?;
    let (listing, offerings) = listing(&state, &who.tenant, "/console/offerings", query).await?;
    let (state_ref, tenant, moodle_ref, context) = (&state, &who.tenant, &moodle, &context);
    let rows: Vec<OfferingRow> = rows_in_order(offerings, |o| async move {
        let (links, coursekey) = tokio::try_join!(
            links_of(state_ref, tenant, &o.id, moodle_ref),
            context.status(state_ref, tenant, &o.id),
        )?;
        Ok(OfferingRow {
            id: o.id.to_string(),
            name: o.name,
            dates: dates(o.start_date, o.end_date),
            links,
            coursekey: coursekey.0,
        })
    })
    .await?;
    let status = if open_error.is_some() || listing.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = OfferingsPage {
        chrome: chrome(&who, "Offerings"),
        moodle: moodle
            .iter()
            .map(|c| (c.id.to_string(), c.name.clone()))
            .collect(),
        listing,
        rows,
        open,
        open_error,
    };
    Ok((status, render(&page)?).into_response())
}

/// The offerings list's route, merged into the console's router.
pub fn routes() -> axum::Router<ConsoleState> {
    axum::Router::new().route("/console/offerings", axum::routing::get(offerings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_keep_the_filter_and_encode_it() {
        let after = OfferingId::parse("OCC-25").unwrap();
        assert_eq!(
            page_href("/console/offerings", "", None),
            "/console/offerings"
        );
        assert_eq!(
            page_href("/console/offerings", "first aid&x", Some(&after)),
            "/console/offerings?q=first+aid%26x&after=OCC-25"
        );
        assert_eq!(
            dates(None, NaiveDate::from_ymd_opt(2027, 3, 31)),
            "— to 2027-03-31"
        );
    }
}
