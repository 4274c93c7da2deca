//! The results download ("Get results"): Ok / Error / Done, save or cancel.

use super::*;

#[derive(Template)]
#[template(path = "lln_download_new.html")]
pub struct DownloadFormPage {
    pub chrome: Chrome,
    /// The last check's day in the tenant's zone (empty: never checked).
    pub default_day: String,
    pub last_check: String,
    pub modified_since: String,
    pub learner: String,
    pub zone: String,
    pub problems: Vec<Problem>,
}

impl DownloadFormPage {
    pub fn problem_of(&self, field: &str) -> Option<&str> {
        self.problems
            .iter()
            .find(|p| p.field == field)
            .map(|p| p.message.as_str())
    }
}

async fn fill_download_form(
    state: &ConsoleState,
    who: &SignedIn,
    learner: &str,
) -> Result<DownloadFormPage, ConsoleError> {
    let zone = zone(state, &who.tenant).await?;
    let lln = lln(state);
    let mut view = DownloadFormPage {
        chrome: chrome(state, who).await?,
        default_day: String::new(),
        last_check: "never: every assessment is downloaded".to_owned(),
        modified_since: String::new(),
        learner: learner.trim().to_owned(),
        zone: zone.name().to_owned(),
        problems: Vec::new(),
    };
    match lln
        .connection(&who.tenant, chosen(state, who).await?.as_ref())
        .await
    {
        Ok(c) => {
            if let Some(since) = lln.store.modified_since(&who.tenant, &c.id).await? {
                view.default_day = zone.date_of(since).to_string();
                view.last_check = local_time(zone, since);
            }
        }
        Err(e) => view.problems = problems(e, None)?,
    }
    view.modified_since = view.default_day.clone();
    Ok(view)
}

/// `GET /console/lln/downloads`: the wizard's first step, the Modified-since day
/// defaulted to the last check.
pub async fn download_form(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Query(query): Query<LearnerQuery>,
) -> Page {
    page(&fill_download_form(&state, &who, &query.learner).await?)
}

#[derive(Deserialize)]
pub struct DownloadForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    modified_since: String,
    #[serde(default)]
    default_day: String,
    #[serde(default)]
    learner: String,
}

/// Get results: downloads through the use case, then shows the grid.
pub async fn start_download(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Form(form): Form<DownloadForm>,
) -> Page {
    who.check_change(&method, &headers, &form.csrf)?;
    let mut view = fill_download_form(&state, &who, &form.learner).await?;
    view.modified_since = form.modified_since.trim().to_owned();
    let zone = zone(&state, &who.tenant).await?;
    let day = view.modified_since.as_str();
    // The day shown is the last check's: unchanged, the stored instant is used as
    // it is; another day starts at midnight in the tenant's zone; none is everything.
    let modified_after = if day == form.default_day.trim() {
        None
    } else if day.is_empty() {
        Some(DateTime::<Utc>::UNIX_EPOCH)
    } else {
        match NaiveDate::parse_from_str(day, "%Y-%m-%d") {
            Ok(d) => Some(zone.start_of_day(d)),
            Err(_) => {
                view.problems = vec![Problem::new(
                    "modified_since",
                    format!("{day:?} is not a day: write it as 2026-03-01"),
                )];
                return refused(&view);
            }
        }
    };
    let learner = match form.learner.trim() {
        "" => None,
        raw => match learner_code(raw) {
            Ok(c) => Some(c),
            Err(p) => {
                view.problems = vec![p];
                return refused(&view);
            }
        },
    };
    match lln(&state)
        .download(
            &who.tenant,
            chosen(&state, &who).await?.as_ref(),
            learner.as_ref(),
            modified_after,
            now(&state),
        )
        .await
    {
        Ok(d) => Ok(Redirect::to(&format!("/console/lln/downloads/{}", d.id)).into_response()),
        Err(e) => {
            view.problems = problems(e, learner.as_ref())?;
            refused(&view)
        }
    }
}

/// One downloaded assessment in the grid.
pub struct ItemRow {
    pub assessment: String,
    pub learner: String,
    pub candidate: String,
    pub name: String,
    pub completed: String,
    pub results: String,
    /// `Ok`, `Error` or `Done`, with its class.
    pub status: &'static str,
    pub class: &'static str,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "lln_download.html")]
pub struct DownloadPage {
    pub chrome: Chrome,
    pub id: String,
    pub state: &'static str,
    pub open: bool,
    pub learner: String,
    pub modified_after: String,
    pub overridden: bool,
    pub created: String,
    pub closed: String,
    pub items: Vec<ItemRow>,
    pub ok: usize,
    pub errors: usize,
    pub done: usize,
    pub modified_since: String,
    pub zone: String,
    pub problems: Vec<Problem>,
}

async fn fill_download(
    state: &ConsoleState,
    who: &SignedIn,
    id: &str,
) -> Result<DownloadPage, ConsoleError> {
    let zone = zone(state, &who.tenant).await?;
    let lln = lln(state);
    let d = match lln
        .get_download(&who.tenant, chosen(state, who).await?.as_ref(), id)
        .await
    {
        Ok(d) => d,
        Err(LlnFlowError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(ConsoleError::NotFound(e.to_string())),
    };
    let since = lln.store.modified_since(&who.tenant, &d.connection).await?;
    let items: Vec<ItemRow> = d
        .items
        .iter()
        .map(|i| {
            let a = &i.assessment;
            let (status, class, reason) = match &i.status {
                DownloadStatus::Ok => ("Ok", "status-ok", String::new()),
                DownloadStatus::Error { reason } => ("Error", "status-error", reason.clone()),
                DownloadStatus::Done => ("Done", "status-none", String::new()),
            };
            ItemRow {
                assessment: a.id.to_string(),
                learner: i
                    .learner
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                candidate: a.candidate_id.to_string(),
                name: a.name.clone(),
                completed: local_time(zone, a.completed_at),
                results: a
                    .results
                    .iter()
                    .map(|r| {
                        format!(
                            "{}: {}",
                            r.skill,
                            [
                                r.level.clone(),
                                r.score.map(|s| s.to_string()),
                                r.band.clone()
                            ]
                            .into_iter()
                            .flatten()
                            .collect::<Vec<_>>()
                            .join(" / ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                status,
                class,
                reason,
            }
        })
        .collect();
    let count = |s: &str| items.iter().filter(|i| i.status == s).count();
    Ok(DownloadPage {
        chrome: chrome(state, who).await?,
        id: d.id.clone(),
        state: match d.state {
            LlnDownloadState::Open => "Open: not saved yet",
            LlnDownloadState::Saved => "Saved",
            LlnDownloadState::Cancelled => "Cancelled: nothing saved",
        },
        open: d.state == LlnDownloadState::Open,
        learner: d
            .learner
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        modified_after: d
            .modified_after
            .map_or_else(|| "the beginning".to_owned(), |t| local_time(zone, t)),
        overridden: d.overridden,
        created: local_time(zone, d.created_at),
        closed: d.closed_at.map(|t| local_time(zone, t)).unwrap_or_default(),
        ok: count("Ok"),
        errors: count("Error"),
        done: count("Done"),
        items,
        modified_since: since.map_or_else(|| "never".to_owned(), |t| local_time(zone, t)),
        zone: zone.name().to_owned(),
        problems: Vec::new(),
    })
}

/// `GET /console/lln/downloads/{id}`: the results grid, Ok (green) / Error
/// (red, the reason written out) / Done, with Save results and Cancel while open.
pub async fn download(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Page {
    page(&fill_download(&state, &who, &id).await?)
}

/// Save results: the Ok assessments recorded and delivered, the date advanced.
pub async fn save_download(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page {
    who.check_change(&method, &headers, &form.csrf)?;
    let outcome = lln(&state)
        .save_download(
            &who.tenant,
            chosen(&state, &who).await?.as_ref(),
            &id,
            now(&state),
        )
        .await;
    close(&state, &who, &id, outcome.map(|_| ())).await
}

/// Cancel: nothing saved, the date stays.
pub async fn cancel_download(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Page {
    who.check_change(&method, &headers, &form.csrf)?;
    let outcome = lln(&state)
        .cancel_download(
            &who.tenant,
            chosen(&state, &who).await?.as_ref(),
            &id,
            now(&state),
        )
        .await;
    close(&state, &who, &id, outcome.map(|_| ())).await
}

async fn close(
    state: &ConsoleState,
    who: &SignedIn,
    id: &str,
    outcome: Result<(), LlnFlowError>,
) -> Page {
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/console/lln/downloads/{id}")).into_response()),
        Err(e) => {
            let mut view = fill_download(state, who, id).await?;
            view.problems = problems(e, None)?;
            refused(&view)
        }
    }
}
