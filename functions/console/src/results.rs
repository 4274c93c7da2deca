//! The results screen (issue 19 item 3, the seed's "Resulting units/tasks" and
//! "Course completions"): download a connection's results (one offering or every
//! linked one) and stop it, see the download's counts while it imports, then
//! review: Ready, Error (with the reason), Done; adjust a result's type and
//! dates, process one or all; the completions tab when the connection reads
//! course completions. Every change calls app's use cases, as the api does.

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::pages::{chrome, zone};
use crate::session::SignedIn;
use crate::views::{Chrome, FieldError, RunRow, render};
use app::results::{ResultRef, Results, ResultsError};
use app::runs::{RunError, Runs, Stage};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use domain::connection::ConnectionSettings;
use domain::results::{Adjustment, ResultType, ReviewState};
use domain::{Connection, ConnectionKind, LearnerCode, OfferingId, RunId, TenantId};
use serde::Deserialize;

/// The results routes, merged into the console's router.
pub fn routes() -> axum::Router<ConsoleState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console/results", get(page))
        .route("/console/results/{connection}/download", post(download))
        .route("/console/results/{connection}/runs/{run}/stop", post(stop))
        .route("/console/results/{connection}/process", post(process_all))
        .route(
            "/console/results/{connection}/result/{offering}/{learner}/{assessable}",
            post(change_result),
        )
        .route(
            "/console/results/{connection}/completion/{offering}/{learner}",
            post(change_completion),
        )
}

/// The results use case over the console's stores (the offering's mapping screen uses it too).
pub(crate) fn use_case(state: &ConsoleState) -> Results<'_> {
    api::results::use_case(&state.api.deps, &state.api.results)
}

fn runs(state: &ConsoleState) -> Runs<'_> {
    api::runs::runs(&state.api.deps)
}

/// One result under review, as a row shows it.
pub struct ResultRow {
    pub offering: String,
    pub learner: String,
    pub assessable: String,
    pub result: &'static str,
    pub start_date: String,
    pub finish_date: String,
    pub grade: String,
    pub state: &'static str,
    pub error: Option<String>,
}

/// One course completion under review.
pub struct CompletionRow {
    pub offering: String,
    pub learner: String,
    pub date: String,
    pub grade: String,
    pub state: &'static str,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "results.html")]
pub struct ResultsPage {
    pub chrome: Chrome,
    /// `(id, name)` of the tenant's Moodle connections.
    pub connections: Vec<(String, String)>,
    pub connection: String,
    /// `ready`, `error`, `done` or `completions`.
    pub tab: String,
    pub completions_on: bool,
    pub results: Vec<ResultRow>,
    pub completions: Vec<CompletionRow>,
    /// The connection's newest run, with its counts.
    pub run: Option<RunRow>,
    pub counts: Vec<(String, u64)>,
    pub importing: bool,
    pub error: Option<FieldError>,
    pub notice: Option<String>,
    pub zone: String,
}

impl ResultsPage {
    pub fn state_class(state: &str) -> &'static str {
        match state {
            "ready" => "status-ok",
            "error" => "status-error",
            _ => "status-none",
        }
    }
}

fn grade(grade: Option<f64>, max: Option<f64>) -> String {
    match (grade, max) {
        (Some(g), Some(m)) => format!("{g} / {m}"),
        (Some(g), None) => g.to_string(),
        _ => "—".to_owned(),
    }
}

fn day_text(day: Option<NaiveDate>) -> String {
    day.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    connection: Option<String>,
    tab: Option<String>,
    notice: Option<String>,
}

async fn moodle_connections(
    state: &ConsoleState,
    tenant: &TenantId,
) -> Result<Vec<Connection>, ConsoleError> {
    Ok(state
        .api
        .deps
        .connections
        .connections(tenant)
        .await?
        .into_iter()
        .filter(|c| c.kind() == ConnectionKind::Moodle)
        .collect())
}

/// Builds the page for a connection and tab, with an error to show (or none).
async fn build(
    state: &ConsoleState,
    who: &SignedIn,
    connection: Option<String>,
    tab: Option<String>,
    error: Option<FieldError>,
    notice: Option<String>,
) -> Result<ResultsPage, ConsoleError> {
    let connections = moodle_connections(state, &who.tenant).await?;
    let chosen = connection
        .filter(|c| !c.is_empty())
        .and_then(|c| connections.iter().find(|k| k.id.as_str() == c))
        .or_else(|| connections.first())
        .cloned();
    let zone = zone(state, &who.tenant).await?;
    let completions_on = matches!(
        chosen.as_ref().map(|c| &c.settings),
        Some(ConnectionSettings::Moodle(m)) if m.course_completions
    );
    let mut tab = tab.unwrap_or_else(|| "ready".to_owned());
    if tab == "completions" && !completions_on {
        tab = "ready".to_owned();
    }
    let mut page = ResultsPage {
        chrome: chrome(who, "Results"),
        connections: connections
            .iter()
            .map(|c| (c.id.to_string(), c.name.clone()))
            .collect(),
        connection: chosen
            .as_ref()
            .map(|c| c.id.to_string())
            .unwrap_or_default(),
        tab: tab.clone(),
        completions_on,
        results: Vec::new(),
        completions: Vec::new(),
        run: None,
        counts: Vec::new(),
        importing: false,
        error,
        notice,
        zone: zone.name().to_owned(),
    };
    let Some(connection) = chosen else {
        return Ok(page);
    };
    let deps = &state.api.deps;
    let newest = deps
        .runs
        .history(&who.tenant, &connection.id, None, None, 1)
        .await?;
    if let Some(run) = newest.first() {
        page.importing = run.status == domain::RunStatus::Importing;
        page.counts = run.counts.iter().map(|(k, v)| (k.clone(), *v)).collect();
        page.run = Some(RunRow::of(run, zone, (deps.now)()));
    }
    let limit = app::results::list_limit(None);
    if tab == "completions" {
        page.completions = use_case(state)
            .list_completions(&who.tenant, &connection.id, ReviewState::Ready, limit)
            .await
            .map_err(store_error)?
            .into_iter()
            .chain(
                use_case(state)
                    .list_completions(&who.tenant, &connection.id, ReviewState::Error, limit)
                    .await
                    .map_err(store_error)?,
            )
            .chain(
                use_case(state)
                    .list_completions(&who.tenant, &connection.id, ReviewState::Done, limit)
                    .await
                    .map_err(store_error)?,
            )
            .map(|c| CompletionRow {
                offering: c.offering.to_string(),
                learner: c.learner.to_string(),
                date: zone.date_of(c.completed_at).format("%Y-%m-%d").to_string(),
                grade: grade(c.grade, c.grade_max),
                state: c.state.as_str(),
                error: c.error,
            })
            .collect();
    } else {
        let review = app::results::review_state(Some(tab.as_str())).unwrap_or(ReviewState::Ready);
        page.tab = review.as_str().to_owned();
        page.results = use_case(state)
            .list(&who.tenant, &connection.id, review, limit)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|r| ResultRow {
                offering: r.offering.to_string(),
                learner: r.learner.to_string(),
                assessable: r.assessable.to_string(),
                result: r.result.as_str(),
                start_date: day_text(r.start_date),
                finish_date: day_text(r.finish_date),
                grade: grade(r.grade, r.grade_max),
                state: r.state.as_str(),
                error: r.error,
            })
            .collect();
    }
    Ok(page)
}

/// A listing's error: only the store fails a list.
fn store_error(e: ResultsError) -> ConsoleError {
    match e {
        ResultsError::Store(e) => e.into(),
        e => ConsoleError::NotFound(e.to_string()),
    }
}

/// `/console/results?connection=..&tab=ready|error|done|completions`.
pub async fn page(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Query(q): Query<PageQuery>,
) -> Result<Response, ConsoleError> {
    let page = build(&state, &who, q.connection, q.tab, None, q.notice).await?;
    Ok(render(&page)?.into_response())
}

/// The page again with a form's error, answered 422.
async fn refused(
    state: &ConsoleState,
    who: &SignedIn,
    connection: &str,
    tab: Option<String>,
    error: FieldError,
) -> Result<Response, ConsoleError> {
    let page = build(
        state,
        who,
        Some(connection.to_owned()),
        tab,
        Some(error),
        None,
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

fn back(connection: &str, tab: &str, notice: &str) -> Response {
    let notice: String = form_urlencoded_notice(notice);
    Redirect::to(&format!(
        "/console/results?connection={connection}&tab={tab}&notice={notice}"
    ))
    .into_response()
}

/// A notice for the query string: letters, digits and spaces (as `+`) only.
fn form_urlencoded_notice(notice: &str) -> String {
    notice
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .map(|c| if c == ' ' { '+' } else { c })
        .collect()
}

async fn moodle(
    state: &ConsoleState,
    tenant: &TenantId,
    id: &str,
) -> Result<Connection, ConsoleError> {
    moodle_connections(state, tenant)
        .await?
        .into_iter()
        .find(|c| c.id.as_str() == id)
        .ok_or_else(|| {
            ConsoleError::NotFound(format!("This tenant has no Moodle connection {id:?}."))
        })
}

#[derive(Deserialize)]
pub struct DownloadForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    offering: String,
}

/// Starts a results download (import only) for one offering or every linked one.
pub async fn download(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(connection): Path<String>,
    Form(form): Form<DownloadForm>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let conn = moodle(&state, &who.tenant, &connection).await?;
    let offering = Some(form.offering.trim().to_owned()).filter(|o| !o.is_empty());
    let started = runs(&state)
        .start(
            &who.tenant,
            &conn.id,
            Stage::Import,
            offering,
            (state.api.deps.now)(),
        )
        .await;
    match started {
        Ok(_) => Ok(back(&connection, "ready", "Download started")),
        Err(RunError::Store(e)) => Err(e.into()),
        Err(e @ (RunError::BadOffering(_) | RunError::NoOffering { .. })) => {
            refused(
                &state,
                &who,
                &connection,
                None,
                FieldError {
                    field: "offering",
                    message: e.to_string(),
                },
            )
            .await
        }
        Err(e) => {
            refused(
                &state,
                &who,
                &connection,
                None,
                FieldError {
                    field: "connection",
                    message: e.to_string(),
                },
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Asks the running download to stop.
pub async fn stop(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path((connection, run)): Path<(String, String)>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let conn = moodle(&state, &who.tenant, &connection).await?;
    let run = RunId::parse(run.clone())
        .map_err(|_| ConsoleError::NotFound(format!("This connection has no run {run:?}.")))?;
    match runs(&state).stop(&who.tenant, &conn.id, &run).await {
        Ok(()) => Ok(back(
            &connection,
            "ready",
            "Stop asked the download stops before its next offering",
        )),
        Err(RunError::Store(e)) => Err(e.into()),
        Err(e) => {
            refused(
                &state,
                &who,
                &connection,
                None,
                FieldError {
                    field: "run",
                    message: e.to_string(),
                },
            )
            .await
        }
    }
}

/// A use case's refusal as the form's error; a store failure is the error page.
fn form_error(e: ResultsError, default_field: &'static str) -> Result<FieldError, ConsoleError> {
    match e {
        ResultsError::Store(e) => Err(e.into()),
        e => Ok(FieldError {
            field: e.field().unwrap_or(default_field),
            message: e.to_string(),
        }),
    }
}

/// Processes every Ready result and completion of the connection.
pub async fn process_all(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(connection): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let conn = moodle(&state, &who.tenant, &connection).await?;
    match use_case(&state)
        .process_all(&who.tenant, &conn.id, (state.api.deps.now)())
        .await
    {
        Ok(done) => Ok(back(
            &connection,
            "done",
            &format!(
                "Processed {} results and {} completions",
                done.results, done.completions
            ),
        )),
        Err(e) => {
            let error = form_error(e, "results")?;
            refused(&state, &who, &connection, None, error).await
        }
    }
}

#[derive(Deserialize)]
pub struct ResultForm {
    #[serde(default)]
    csrf: String,
    /// `save` (the type and dates) or `process`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    start_date: String,
    #[serde(default)]
    finish_date: String,
    #[serde(default)]
    tab: String,
}

fn form_day(raw: &str, field: &'static str) -> Result<Option<NaiveDate>, FieldError> {
    match raw.trim() {
        "" => Ok(None),
        raw => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| FieldError {
                field,
                message: format!("{raw:?} is not a day: write it as 2026-03-01"),
            }),
    }
}

fn result_type(raw: &str) -> Result<Option<ResultType>, FieldError> {
    match raw.trim() {
        "" => Ok(None),
        "started" => Ok(Some(ResultType::Started)),
        "passed" => Ok(Some(ResultType::Passed)),
        "failed" => Ok(Some(ResultType::Failed)),
        other => Err(FieldError {
            field: "result",
            message: format!("{other:?} is not a result type: use started, passed or failed"),
        }),
    }
}

/// Saves a result's type and dates, or processes it (Add).
pub async fn change_result(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path((connection, offering, learner, assessable)): Path<(String, String, String, String)>,
    Form(form): Form<ResultForm>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let _conn = moodle(&state, &who.tenant, &connection).await?;
    let tab = Some(form.tab.clone()).filter(|t| !t.is_empty());
    let key = match ResultRef::parse(offering, learner, assessable) {
        Ok(k) => k,
        Err(e) => {
            let error = form_error(e, "result")?;
            return refused(&state, &who, &connection, tab, error).await;
        }
    };
    let now = (state.api.deps.now)();
    let outcome = if form.action == "process" {
        use_case(&state)
            .process(
                &who.tenant,
                &key.offering,
                &key.learner,
                &key.assessable,
                now,
            )
            .await
    } else {
        let change = match (
            result_type(&form.result),
            form_day(&form.start_date, "start_date"),
            form_day(&form.finish_date, "finish_date"),
        ) {
            (Ok(result), Ok(start_date), Ok(finish_date)) => Adjustment {
                result,
                start_date,
                finish_date,
            },
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                return refused(&state, &who, &connection, tab, e).await;
            }
        };
        use_case(&state)
            .adjust(
                &who.tenant,
                &key.offering,
                &key.learner,
                &key.assessable,
                &change,
                now,
            )
            .await
    };
    match outcome {
        Ok(r) => {
            let what = if form.action == "process" {
                "processed"
            } else {
                "saved"
            };
            Ok(back(
                &connection,
                r.state.as_str(),
                &format!("Result of {} for {} {what}", r.learner, r.assessable),
            ))
        }
        Err(e) => {
            let error = form_error(e, "result")?;
            refused(&state, &who, &connection, tab, error).await
        }
    }
}

#[derive(Deserialize)]
pub struct CompletionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    date: String,
}

/// Changes a course completion's date, or processes it.
pub async fn change_completion(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path((connection, offering, learner)): Path<(String, String, String)>,
    Form(form): Form<CompletionForm>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let _conn = moodle(&state, &who.tenant, &connection).await?;
    let tab = Some("completions".to_owned());
    let ids = OfferingId::parse(offering).and_then(|o| LearnerCode::parse(learner).map(|l| (o, l)));
    let (offering, learner) = match ids {
        Ok(ids) => ids,
        Err(e) => {
            let error = FieldError {
                field: e.field(),
                message: e.to_string(),
            };
            return refused(&state, &who, &connection, tab, error).await;
        }
    };
    let now = (state.api.deps.now)();
    let outcome = if form.action == "process" {
        use_case(&state)
            .process_completion(&who.tenant, &offering, &learner, now)
            .await
    } else {
        let date = match form_day(&form.date, "date") {
            Ok(Some(d)) => d,
            Ok(None) => {
                let error = FieldError {
                    field: "date",
                    message: "write the day the course was completed, as 2026-03-01".to_owned(),
                };
                return refused(&state, &who, &connection, tab, error).await;
            }
            Err(e) => return refused(&state, &who, &connection, tab, e).await,
        };
        use_case(&state)
            .adjust_completion(&who.tenant, &offering, &learner, date, now)
            .await
    };
    match outcome {
        Ok(c) => Ok(back(
            &connection,
            "completions",
            &format!("Completion of {} {}", c.learner, c.state.as_str()),
        )),
        Err(e) => {
            let error = form_error(e, "completion")?;
            refused(&state, &who, &connection, tab, error).await
        }
    }
}
