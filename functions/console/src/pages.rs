//! The console's pages. Each reads the signed-in person's tenant from their
//! session, calls the same stores and app use cases the api's routes call, and
//! renders a view. Changes are POSTed forms checked for role, CSRF and Origin.

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::session::{self, SignInError, SignedIn};
use crate::views::{
    self, Chrome, ComingPage, ConnectionPage, ConnectionRow, ConnectionsPage, FieldError, LogRow,
    RunPage, RunRow, RunsPage, SignInPage, TestReport, render,
};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use domain::zone::TenantZone;
use domain::{Connection, ConnectionId, RunId, TenantId};
use serde::Deserialize;

type Page = Result<Html<String>, ConsoleError>;

/// Pages are never cached: they show one person's tenant.
pub async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("DENY"));
    response.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    response
}

pub(crate) fn chrome(who: &SignedIn, current: &'static str) -> Chrome {
    Chrome {
        tenant: who.tenant.to_string(),
        role: who.role,
        csrf: who.csrf.clone(),
        current,
        working_with: None,
    }
}

pub(crate) async fn zone(
    state: &ConsoleState,
    tenant: &TenantId,
) -> Result<TenantZone, ConsoleError> {
    Ok(state.api.deps.tenants.tenant_settings(tenant).await?.zone())
}

/// `/console`: the connections, or sign-in.
pub async fn home(who: Result<SignedIn, ConsoleError>) -> Redirect {
    match who {
        Ok(_) => Redirect::to("/console/connections"),
        Err(_) => Redirect::to("/console/sign-in"),
    }
}

pub async fn sign_in_form() -> Page {
    Ok(render(&SignInPage { error: None })?)
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    api_key: String,
}

/// Exchanges a pasted API key for a session cookie, then shows the connections.
pub async fn sign_in(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, ConsoleError> {
    if !session::same_origin(&headers) {
        return Err(ConsoleError::Forbidden(
            "this form was not sent from the console's own pages (Origin)".to_owned(),
        ));
    }
    match session::sign_in(&state, &form.api_key, (state.api.deps.now)()).await? {
        Ok(id) => {
            let mut response = Redirect::to("/console/connections").into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                session::set_cookie(
                    &id,
                    state.session_length.num_seconds(),
                    session::is_local(&headers),
                ),
            );
            Ok(response)
        }
        Err(why) => {
            let status = match why {
                SignInError::Empty => axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                _ => axum::http::StatusCode::UNAUTHORIZED,
            };
            let page = SignInPage {
                error: Some(FieldError {
                    field: "api_key",
                    message: why.to_string(),
                }),
            };
            Ok((status, render(&page)?).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session (stored and cookie).
pub async fn sign_out(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    who.check_form(&method, &headers, &form.csrf)?;
    state.sessions.delete_session(&who.id_hash).await?;
    let mut response = Redirect::to("/console/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::clear_cookie(session::is_local(&headers)),
    );
    Ok(response)
}

/// A connection and its last run.
async fn row(
    state: &ConsoleState,
    connection: Connection,
    zone: TenantZone,
) -> Result<ConnectionRow, ConsoleError> {
    let deps = &state.api.deps;
    let last = deps
        .runs
        .history(&connection.tenant, &connection.id, None, None, 1)
        .await?;
    let now = (deps.now)();
    Ok(ConnectionRow {
        id: connection.id.to_string(),
        kind: connection.kind().as_str(),
        name: connection.name,
        base_url: connection.base_url,
        enabled: connection.enabled,
        last_run: last.first().map(|run| RunRow::of(run, zone, now)),
    })
}

/// The tenant's connections, each with its last run's status in colour and words.
pub async fn connections(State(state): State<ConsoleState>, who: SignedIn) -> Page {
    let (connections, unreadable) = state
        .api
        .deps
        .connections
        .connections_checked(&who.tenant)
        .await?;
    let zone = zone(&state, &who.tenant).await?;
    let rows = futures_rows(&state, connections, zone).await?;
    let unreadable = unreadable
        .into_iter()
        .map(|r| {
            let id = r.connection.map_or(r.key, |c| c.to_string());
            (id, r.reason)
        })
        .collect();
    Ok(render(&ConnectionsPage {
        chrome: chrome(&who, "Connections"),
        rows,
        unreadable,
    })?)
}

async fn futures_rows(
    state: &ConsoleState,
    connections: Vec<Connection>,
    zone: TenantZone,
) -> Result<Vec<ConnectionRow>, ConsoleError> {
    let mut rows = Vec::with_capacity(connections.len());
    for connection in connections {
        rows.push(row(state, connection, zone).await?);
    }
    Ok(rows)
}

/// One of the tenant's connections; another tenant's is "not found".
async fn load(
    state: &ConsoleState,
    tenant: &TenantId,
    id: &str,
) -> Result<Connection, ConsoleError> {
    let missing = || ConsoleError::NotFound(format!("This tenant has no connection {id:?}."));
    let id = ConnectionId::parse(id).map_err(|_| missing())?;
    state
        .api
        .deps
        .connections
        .connection(tenant, &id)
        .await?
        .ok_or_else(missing)
}

pub async fn connection(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Page {
    let connection = load(&state, &who.tenant, &id).await?;
    let zone = zone(&state, &who.tenant).await?;
    Ok(render(&ConnectionPage {
        chrome: chrome(&who, "Connections"),
        connection: row(&state, connection, zone).await?,
        test: None,
        error: None,
    })?)
}

/// Tests the connection with app's use case (as `POST /v1/connections/{id}/test`
/// does) and shows the report. The test changes nothing stored, so its report is
/// this POST's answer rather than a redirect.
pub async fn test_connection(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page {
    who.check_change(&method, &headers, &form.csrf)?;
    let connection = load(&state, &who.tenant, &id).await?;
    let zone = zone(&state, &who.tenant).await?;
    let deps = &state.api.deps;
    let outcome = app::connections::test_connection(
        &connection,
        deps.secret_source.as_ref(),
        &deps.secret_prefix,
        deps.probe.as_ref(),
        zone,
    )
    .await;
    let (test, error) = match outcome {
        Ok(t) => {
            let site = t.site.as_ref();
            (
                Some(TestReport {
                    ok: t.ok,
                    site_name: site.map(|s| s.site_name.clone()).unwrap_or_default(),
                    site_url: site.map(|s| s.site_url.clone()).unwrap_or_default(),
                    release: site.map(|s| s.release.clone()).unwrap_or_default(),
                    account: site.map(|s| s.account.clone()).unwrap_or_default(),
                    missing_functions: site
                        .map(|s| s.missing_functions.clone())
                        .unwrap_or_default(),
                    missing_optional_functions: site
                        .map(|s| s.missing_optional_functions.clone())
                        .unwrap_or_default(),
                    site_time_zone: site
                        .and_then(|s| s.time_zone.clone())
                        .unwrap_or_else(|| "not known".to_owned()),
                    tenant_time_zone: t.tenant_time_zone,
                    problem: t.problem,
                    notes: t.notes,
                }),
                None,
            )
        }
        Err(app::connections::TestError::Secret(e)) => return Err(e.into()),
        Err(e @ app::connections::TestError::NoSecret { field }) => (
            None,
            Some(FieldError {
                field,
                message: e.to_string(),
            }),
        ),
        Err(e @ app::connections::TestError::Unsupported { .. }) => (
            None,
            Some(FieldError {
                field: "kind",
                message: e.to_string(),
            }),
        ),
    };
    Ok(render(&ConnectionPage {
        chrome: chrome(&who, "Connections"),
        connection: row(&state, connection, zone).await?,
        test,
        error,
    })?)
}

#[derive(Deserialize, Default)]
pub struct RunsQuery {
    connection: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// A day the form sent, as a day in the tenant's zone; empty is no bound.
fn day(raw: &Option<String>, field: &'static str) -> Result<Option<NaiveDate>, FieldError> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| FieldError {
                field,
                message: format!("{raw:?} is not a day: write it as 2026-03-01"),
            }),
    }
}

/// The most runs one history page shows.
const HISTORY_PAGE: usize = 100;

/// A connection's runs between two days of the tenant's zone, newest first.
pub async fn runs(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Query(query): Query<RunsQuery>,
) -> Page {
    let deps = &state.api.deps;
    let connections = deps.connections.connections(&who.tenant).await?;
    let zone = zone(&state, &who.tenant).await?;
    let mut errors = Vec::new();
    let selected = query
        .connection
        .clone()
        .filter(|c| !c.is_empty())
        .or_else(|| connections.first().map(|c| c.id.to_string()))
        .unwrap_or_default();
    let chosen = connections
        .iter()
        .find(|c| c.id.as_str() == selected)
        .map(|c| c.id.clone());
    if chosen.is_none() && !connections.is_empty() {
        errors.push(FieldError {
            field: "connection",
            message: format!("this tenant has no connection {selected:?}"),
        });
    }
    let from = day(&query.from, "from")
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let to = day(&query.to, "to")
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        errors.push(FieldError {
            field: "from",
            message: "from is after to".to_owned(),
        });
    }
    let mut runs = Vec::new();
    if let (Some(id), true) = (&chosen, errors.is_empty()) {
        let now = (deps.now)();
        runs = deps
            .runs
            .history(
                &who.tenant,
                id,
                from.map(|d| zone.start_of_day(d)),
                to.map(|d| zone.end_of_day(d)),
                HISTORY_PAGE,
            )
            .await?
            .iter()
            .map(|r| RunRow::of(r, zone, now))
            .collect();
    }
    Ok(render(&RunsPage {
        chrome: chrome(&who, "Runs"),
        connections: connections
            .iter()
            .map(|c| (c.id.to_string(), c.name.clone()))
            .collect(),
        connection: selected,
        from: query.from.unwrap_or_default(),
        to: query.to.unwrap_or_default(),
        zone: zone.name().to_owned(),
        searched: chosen.is_some() || !errors.is_empty(),
        errors,
        runs,
    })?)
}

#[derive(Deserialize, Default)]
pub struct LogQuery {
    after: Option<u64>,
}

/// Lines of a run's log on one page.
pub const LOG_PAGE: usize = 100;

/// A run and one page of its log.
pub async fn run(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path((id, run)): Path<(String, String)>,
    Query(query): Query<LogQuery>,
) -> Page {
    let connection = load(&state, &who.tenant, &id).await?;
    let missing = || ConsoleError::NotFound(format!("This connection has no run {run:?}."));
    let run_id = RunId::parse(run.clone()).map_err(|_| missing())?;
    let after = query.after.unwrap_or(0);
    let deps = &state.api.deps;
    let (found, log) = tokio::try_join!(
        deps.runs.run(&who.tenant, &connection.id, &run_id),
        deps.runs
            .log_page(&who.tenant, &connection.id, &run_id, after, LOG_PAGE),
    )?;
    let found = found.ok_or_else(missing)?;
    let zone = zone(&state, &who.tenant).await?;
    let now = (deps.now)();
    Ok(render(&RunPage {
        chrome: chrome(&who, "Runs"),
        connection_name: connection.name,
        importing: found.status == domain::RunStatus::Importing,
        run: RunRow::of(&found, zone, now),
        counts: found.counts.into_iter().collect(),
        lines: log
            .lines
            .into_iter()
            .map(|(number, line)| LogRow {
                number,
                at: views::local_time(zone, line.at),
                level: views::level_label(line.level),
                message: line.message,
            })
            .collect(),
        previous: (after > 0).then(|| after.saturating_sub(LOG_PAGE as u64)),
        next: log.next,
        zone: zone.name().to_owned(),
    })?)
}

/// A screen not built yet: says so, shows nothing made up.
pub async fn coming(who: SignedIn, Path(screen): Path<String>) -> Page {
    let item = views::NAV
        .iter()
        .find(|i| i.coming && i.href.rsplit('/').next() == Some(screen.as_str()))
        .ok_or_else(|| ConsoleError::NotFound("No such screen.".to_owned()))?;
    Ok(render(&ComingPage {
        chrome: chrome(&who, item.label),
        screen: item.label.to_owned(),
    })?)
}

pub async fn not_found() -> ConsoleError {
    ConsoleError::NotFound("No such page in the console.".to_owned())
}
