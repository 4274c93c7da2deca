//! Reports: the summary (and its CSV), the history, the API log.

use super::*;

/// A day the form sent, in the tenant's zone; empty is no bound.
fn day(raw: &str, field: &str) -> Result<Option<NaiveDate>, Problem> {
    match raw.trim() {
        "" => Ok(None),
        raw => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                Problem::new(
                    field,
                    format!("{raw:?} is not a day: write it as 2026-03-01"),
                )
            }),
    }
}

/// One row of the summary, as shown.
pub struct SummaryRowView {
    pub learner: String,
    pub name: String,
    pub candidate_id: String,
    pub username: String,
    pub created_in_lln: String,
    pub assessment_id: String,
    pub assessment_name: String,
    pub completed: String,
    pub results: String,
    pub status: String,
    pub staff: String,
    pub follow_up_comment: String,
}

#[derive(Template)]
#[template(path = "lln_summary.html")]
pub struct SummaryPage {
    pub chrome: Chrome,
    pub learner: String,
    pub from: String,
    pub to: String,
    pub status: String,
    /// The filters as a query string, for the CSV link.
    pub query: String,
    pub rows: Vec<SummaryRowView>,
    pub zone: String,
    pub problems: Vec<Problem>,
}

impl SummaryPage {
    pub fn problem_of(&self, field: &str) -> Option<&str> {
        self.problems
            .iter()
            .find(|p| p.field == field)
            .map(|p| p.message.as_str())
    }
}

#[derive(Deserialize, Default)]
pub struct SummaryQuery {
    #[serde(default)]
    learner: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    format: String,
}

/// `GET /console/lln/reports/summary`: candidates with their saved assessments,
/// filtered by learner, completion days and status; `format=csv` downloads it.
pub async fn summary(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Query(q): Query<SummaryQuery>,
) -> Page {
    let zone = zone(&state, &who.tenant).await?;
    let mut problems_found = Vec::new();
    let learner = match q.learner.trim() {
        "" => None,
        raw => learner_code(raw).map_err(|p| problems_found.push(p)).ok(),
    };
    let from = day(&q.from, "from")
        .map_err(|p| problems_found.push(p))
        .ok()
        .flatten();
    let to = day(&q.to, "to")
        .map_err(|p| problems_found.push(p))
        .ok()
        .flatten();
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        problems_found.push(Problem::new("from", "from is after to"));
    }
    let status = Some(q.status.trim().to_owned()).filter(|s| !s.is_empty());
    let mut rows = Vec::new();
    if problems_found.is_empty() {
        let filter = app::lln::SummaryFilter {
            learner,
            from: from.map(|d| zone.start_of_day(d)),
            to: to.map(|d| zone.end_of_day(d)),
            status,
        };
        match lln(&state)
            .summary(&who.tenant, chosen(&state, &who).await?.as_ref(), &filter)
            .await
        {
            Ok(r) => rows = r,
            Err(e) => problems_found = problems(e, None)?,
        }
    }
    if q.format == "csv" && problems_found.is_empty() {
        return Ok((
            [
                (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    "attachment; filename=\"lln-summary.csv\"",
                ),
            ],
            app::lln::summary_csv(&rows),
        )
            .into_response());
    }
    let when = |t: Option<DateTime<Utc>>| t.map(|t| local_time(zone, t)).unwrap_or_default();
    let view = SummaryPage {
        chrome: chrome(&state, &who).await?,
        query: serde_urlencoded_query(&q),
        learner: q.learner,
        from: q.from,
        to: q.to,
        status: q.status,
        rows: rows
            .into_iter()
            .map(|r| SummaryRowView {
                learner: r.learner.to_string(),
                name: format!("{} {}", r.given_name, r.family_name)
                    .trim()
                    .to_owned(),
                candidate_id: r.candidate_id,
                username: r.username,
                created_in_lln: local_time(zone, r.created_in_lln),
                assessment_id: r.assessment_id.unwrap_or_default(),
                assessment_name: r.assessment_name.unwrap_or_default(),
                completed: when(r.completed_at),
                results: r.results.unwrap_or_default(),
                status: r.status.unwrap_or_default(),
                staff: r.staff.unwrap_or_default(),
                follow_up_comment: r.follow_up_comment.unwrap_or_default(),
            })
            .collect(),
        zone: zone.name().to_owned(),
        problems: problems_found,
    };
    if view.problems.is_empty() {
        page(&view)
    } else {
        refused(&view)
    }
}

/// The summary's filters as a query string (for its CSV link).
fn serde_urlencoded_query(q: &SummaryQuery) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("learner", q.learner.trim())
        .append_pair("from", q.from.trim())
        .append_pair("to", q.to.trim())
        .append_pair("status", q.status.trim())
        .append_pair("format", "csv")
        .finish()
}

/// One history entry, as shown.
pub struct HistoryRow {
    pub at: String,
    pub action: String,
    pub learner: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "lln_history.html")]
pub struct HistoryPage {
    pub chrome: Chrome,
    pub from: String,
    pub to: String,
    pub rows: Vec<HistoryRow>,
    pub zone: String,
    pub problems: Vec<Problem>,
}

impl HistoryPage {
    pub fn problem_of(&self, field: &str) -> Option<&str> {
        self.problems
            .iter()
            .find(|p| p.field == field)
            .map(|p| p.message.as_str())
    }
}

#[derive(Deserialize, Default)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

/// A history action in words.
pub fn action_label(action: domain::ports::LlnAction) -> &'static str {
    use domain::ports::LlnAction as A;
    match action {
        A::CandidateCreated => "Candidate created",
        A::CandidateUpdated => "Candidate updated",
        A::CandidatePushFailed => "Candidate push failed",
        A::CandidateExcluded => "Left out of a bulk update",
        A::AssessmentsDownloaded => "Results downloaded",
        A::AssessmentSaved => "Assessment saved",
        A::DownloadSaved => "Download saved",
        A::DownloadCancelled => "Download cancelled",
        A::AssessmentEdited => "Assessment edited",
        A::ApiLoggingSwitched => "API logging switched",
    }
}

/// `GET /console/lln/reports/history`: the audit trail between two days of the
/// tenant's zone (today by default).
pub async fn history(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Query(q): Query<RangeQuery>,
) -> Page {
    let zone = zone(&state, &who.tenant).await?;
    let today = zone.today(now(&state)).to_string();
    let from_raw = q.from.unwrap_or_else(|| today.clone());
    let to_raw = q.to.unwrap_or(today);
    let mut view = HistoryPage {
        chrome: chrome(&state, &who).await?,
        from: from_raw.clone(),
        to: to_raw.clone(),
        rows: Vec::new(),
        zone: zone.name().to_owned(),
        problems: Vec::new(),
    };
    let from = day(&from_raw, "from")
        .map_err(|p| view.problems.push(p))
        .ok()
        .flatten();
    let to = day(&to_raw, "to")
        .map_err(|p| view.problems.push(p))
        .ok()
        .flatten();
    let (Some(from), Some(to)) = (from, to) else {
        if view.problems.is_empty() {
            view.problems
                .push(Problem::new("from", "both days are required"));
        }
        return refused(&view);
    };
    if from > to {
        view.problems.push(Problem::new("from", "from is after to"));
        return refused(&view);
    }
    match lln(&state)
        .history_between(
            &who.tenant,
            chosen(&state, &who).await?.as_ref(),
            zone.start_of_day(from),
            zone.end_of_day(to),
        )
        .await
    {
        Ok(entries) => {
            view.rows = entries
                .into_iter()
                .map(|e| HistoryRow {
                    at: local_time(zone, e.at),
                    action: action_label(e.action).to_owned(),
                    learner: e.learner.map(|l| l.to_string()).unwrap_or_default(),
                    detail: e.detail,
                })
                .collect();
            page(&view)
        }
        Err(e) => {
            view.problems = problems(e, None)?;
            refused(&view)
        }
    }
}

/// One logged call to the LLN tool (already obfuscated by the connector).
pub struct CallRow {
    pub at: String,
    pub method: String,
    pub url: String,
    pub status: String,
    pub duration_ms: u64,
    pub request_headers: String,
    pub request_body: String,
    pub response_body: String,
}

#[derive(Template)]
#[template(path = "lln_log.html")]
pub struct LogPage {
    pub chrome: Chrome,
    pub connection: String,
    pub logging: bool,
    pub calls: Vec<CallRow>,
    pub zone: String,
    pub problems: Vec<Problem>,
}

/// `GET /console/lln/log`: the API call log of the LLN connection, secrets
/// masked, with the switch that turns logging on or off.
pub async fn api_log(State(state): State<ConsoleState>, who: SignedIn) -> Page {
    page(&fill_log(&state, &who).await?)
}

async fn fill_log(state: &ConsoleState, who: &SignedIn) -> Result<LogPage, ConsoleError> {
    let zone = zone(state, &who.tenant).await?;
    let mut view = LogPage {
        chrome: chrome(state, who).await?,
        connection: String::new(),
        logging: false,
        calls: Vec::new(),
        zone: zone.name().to_owned(),
        problems: Vec::new(),
    };
    let lln = lln(state);
    let connection = match lln
        .connection(&who.tenant, chosen(state, who).await?.as_ref())
        .await
    {
        Ok(c) => c,
        Err(e) => {
            view.problems = problems(e, None)?;
            return Ok(view);
        }
    };
    view.logging = match &connection.settings {
        domain::connection::ConnectionSettings::Ocsat(s)
        | domain::connection::ConnectionSettings::LlnRobot(s) => s.api_logging,
        _ => false,
    };
    view.connection = connection.id.to_string();
    match lln.api_log(&who.tenant, &connection.id).await {
        Ok(calls) => {
            view.calls = calls
                .into_iter()
                .rev()
                .map(|c| CallRow {
                    at: local_time(zone, c.at),
                    method: c.method,
                    url: c.url,
                    status: c.response_status.map_or_else(
                        || c.error.clone().unwrap_or_else(|| "no answer".to_owned()),
                        |s| s.to_string(),
                    ),
                    duration_ms: c.duration_ms,
                    request_headers: c
                        .request_headers
                        .iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    request_body: c.request_body.unwrap_or_default(),
                    response_body: c.response_body.unwrap_or_default(),
                })
                .collect();
        }
        Err(e) => view.problems = problems(e, None)?,
    }
    Ok(view)
}

#[derive(Deserialize)]
pub struct LoggingForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enabled: String,
}

/// Turns the connection's API call logging on or off.
pub async fn switch_logging(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Form(form): Form<LoggingForm>,
) -> Page {
    who.check_change(&method, &headers, &form.csrf)?;
    let on = match form.enabled.as_str() {
        "on" => true,
        "off" => false,
        _ => {
            let mut view = fill_log(&state, &who).await?;
            view.problems = vec![Problem::new("enabled", "choose on or off")];
            return refused(&view);
        }
    };
    let lln = lln(&state);
    let outcome = match lln
        .connection(&who.tenant, chosen(&state, &who).await?.as_ref())
        .await
    {
        Ok(c) => lln
            .set_api_logging(&who.tenant, &c.id, on, now(&state))
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/console/lln/log").into_response()),
        Err(e) => {
            let mut view = fill_log(&state, &who).await?;
            view.problems = problems(e, None)?;
            refused(&view)
        }
    }
}
