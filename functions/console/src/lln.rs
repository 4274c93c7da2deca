//! The LLN screens (issue 19 item 3; the seed vettrak-ocsat-lln-integration):
//! create a learner's candidate (every missing field listed), a candidate with
//! what is out of sync with the tool, the "Get results" wizard (Ok / Error /
//! Done, save or cancel), the bulk update grid (Use ticks, Find modified
//! clients, Push updates), an assessment (edit, report), the summary (filters,
//! CSV), the history and the API log (secrets masked). Every page calls app's LLN use cases ([`app::lln::Lln`],
//! the ones the api's `/v1/lln` routes call) on the tenant's only LLN connection.

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::session::SignedIn;
use crate::views::{Chrome, local_time, render};
use app::lln::{Lln, LlnFlowError};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, NaiveDate, Utc};
use domain::lln::{DownloadStatus, FieldProblem, LlnError};
use domain::ports::{LlnDownloadState, Retryable};
use domain::zone::TenantZone;
use domain::{LearnerCode, TenantId};
use serde::Deserialize;

/// The LLN routes, merged into the console's Router.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/lln", get(home))
        .route(
            "/console/lln/candidates/new",
            get(new_candidate).post(create_candidate),
        )
        .route("/console/lln/candidates/{learner}", get(candidate))
        .route(
            "/console/lln/candidates/{learner}/update",
            post(update_candidate),
        )
        .route(
            "/console/lln/downloads",
            get(download_form).post(start_download),
        )
        .route("/console/lln/bulk", get(bulk).post(bulk_push))
        .route("/console/lln/reports/summary", get(summary))
        .route("/console/lln/reports/history", get(history))
        .route("/console/lln/log", get(api_log).post(switch_logging))
        .route(
            "/console/lln/assessments/{id}",
            get(assessment).post(edit_assessment),
        )
        .route(
            "/console/lln/assessments/{id}/report",
            get(assessment_report),
        )
        .route("/console/lln/downloads/{id}", get(download))
        .route("/console/lln/downloads/{id}/save", post(save_download))
        .route("/console/lln/downloads/{id}/cancel", post(cancel_download))
}

type Page = Result<Response, ConsoleError>;

fn chrome(who: &SignedIn) -> Chrome {
    Chrome {
        tenant: who.tenant.to_string(),
        role: who.role,
        csrf: who.csrf.clone(),
        current: "LLN",
    }
}

fn lln(state: &ConsoleState) -> &Lln {
    &state.api.lln.lln
}

fn now(state: &ConsoleState) -> DateTime<Utc> {
    (state.api.deps.now)()
}

async fn zone(state: &ConsoleState, tenant: &TenantId) -> Result<TenantZone, ConsoleError> {
    Ok(state.api.deps.tenants.tenant_settings(tenant).await?.zone())
}

fn page(template: &impl Template) -> Page {
    Ok(render(template)?.into_response())
}

fn refused(template: &impl Template) -> Page {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(template)?).into_response())
}

/// A problem shown beside the form: the field at fault (as the SMS or the form
/// names it) and what to do.
#[derive(Debug, Clone)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// A learner field in words, and where to fix it.
pub fn field_label(field: &str) -> &'static str {
    match field {
        "family_name" => "Surname (family name)",
        "given_name" => "Given name",
        "other_name" => "Other name",
        "learner_code" => "Learner code",
        "date_of_birth" => "Date of birth",
        "email" => "Email",
        "username" => "OCSAT username",
        _ => "Field",
    }
}

fn issue_problems(issues: &[domain::lln::FieldIssue], code: Option<&LearnerCode>) -> Vec<Problem> {
    let fix = match code {
        Some(c) => format!(
            "set it on learner {c} in the SMS (it reaches learnbridge through PUT /v1/learners/{c}), then reload this page"
        ),
        None => "set it on the learner in the SMS, then reload this page".to_owned(),
    };
    issues
        .iter()
        .map(|i| {
            let what = match &i.problem {
                FieldProblem::Missing => "is missing".to_owned(),
                FieldProblem::Invalid { reason } => reason.clone(),
            };
            let fix = if i.field == "username" {
                "write a username without spaces".to_owned()
            } else {
                fix.clone()
            };
            Problem::new(&i.field, format!("{} {what}: {fix}", field_label(&i.field)))
        })
        .collect()
}

/// What a use case's refusal shows: the fields at fault, or the page's error.
fn problems(e: LlnFlowError, code: Option<&LearnerCode>) -> Result<Vec<Problem>, ConsoleError> {
    use LlnFlowError as E;
    let message = e.to_string();
    Ok(match e {
        E::Store(s) => return Err(s.into()),
        E::Issues(i) => issue_problems(&i.issues, code),
        E::Tool(LlnError::Invalid { issues }) => issue_problems(&issues, code),
        E::Tool(LlnError::Duplicate { field }) => vec![Problem::new(
            &field,
            format!("{message}: choose another {}", field_label(&field)),
        )],
        E::Tool(t) if t.is_retryable() => vec![Problem::new(
            "connection",
            format!("{t}; nothing was changed, try again shortly"),
        )],
        E::Tool(t) => vec![Problem::new("connection", t.to_string())],
        E::Delivery(d) => vec![Problem::new("sms", d.to_string())],
        E::NoLlnConnection
        | E::SeveralLlnConnections { .. }
        | E::UnknownConnection { .. }
        | E::NotLln { .. }
        | E::NoSms => vec![Problem::new("connection", message)],
        E::UnknownLearner { .. } | E::AlreadyInvited { .. } | E::NoCandidate { .. } => {
            vec![Problem::new("learner", message)]
        }
        E::UnknownDownload { .. } | E::DownloadClosed { .. } => {
            vec![Problem::new("download", message)]
        }
        E::UnknownAssessment { .. } | E::BadId { .. } => vec![Problem::new("assessment", message)],
    })
}

/// A form carrying only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

fn learner_code(raw: &str) -> Result<LearnerCode, Problem> {
    LearnerCode::parse(raw.trim()).map_err(|e| Problem::new("learner", e.to_string()))
}

// ---- home ----

/// A candidate in the home page's list.
pub struct CandidateRow {
    pub learner: String,
    pub candidate_id: String,
    pub username: String,
    pub last_pushed: String,
    pub flagged: bool,
}

/// The LLN connection the screens work on.
pub struct ConnectionInfo {
    pub id: String,
    pub name: String,
    pub product: &'static str,
}

#[derive(Template)]
#[template(path = "lln.html")]
pub struct HomePage {
    pub chrome: Chrome,
    pub connection: Option<ConnectionInfo>,
    pub modified_since: String,
    pub zone: String,
    pub problems: Vec<Problem>,
    pub candidates: Vec<CandidateRow>,
}

/// `/console/lln`: the LLN connection, its candidates and the ways in.
pub async fn home(State(state): State<ConsoleState>, who: SignedIn) -> Page {
    let zone = zone(&state, &who.tenant).await?;
    let lln = lln(&state);
    let mut home = HomePage {
        chrome: chrome(&who),
        connection: None,
        modified_since: String::new(),
        zone: zone.name().to_owned(),
        problems: Vec::new(),
        candidates: Vec::new(),
    };
    let connection = match lln.connection(&who.tenant, None).await {
        Ok(c) => c,
        Err(e) => {
            home.problems = problems(e, None)?;
            return page(&home);
        }
    };
    let (since, mut invitations) = tokio::try_join!(
        lln.store.modified_since(&who.tenant, &connection.id),
        lln.store.invitations(&who.tenant, &connection.id),
    )?;
    invitations.sort_by(|a, b| a.candidate.learner.cmp(&b.candidate.learner));
    home.modified_since = since.map_or_else(
        || "never: the first download brings every assessment".to_owned(),
        |t| local_time(zone, t),
    );
    home.candidates = invitations
        .into_iter()
        .map(|i| CandidateRow {
            learner: i.candidate.learner.to_string(),
            candidate_id: i.candidate.candidate_id.to_string(),
            username: i.candidate.username,
            last_pushed: local_time(zone, i.candidate.last_pushed_at),
            flagged: i.candidate.needs_update,
        })
        .collect();
    home.connection = Some(ConnectionInfo {
        id: connection.id.to_string(),
        name: connection.name.clone(),
        product: domain::lln::LlnProduct::from_kind(connection.kind())
            .map_or("", domain::lln::LlnProduct::name),
    });
    page(&home)
}

// ---- create a candidate ----

/// One required or optional field of the create screen, with its value.
pub struct FieldRow {
    pub field: &'static str,
    pub label: &'static str,
    pub value: String,
    pub required: bool,
    /// Why it keeps the learner from being a candidate.
    pub problem: Option<String>,
}

#[derive(Template)]
#[template(path = "lln_candidate_new.html")]
pub struct NewCandidatePage {
    pub chrome: Chrome,
    pub learner: String,
    /// The learner's name, when found.
    pub name: Option<String>,
    pub fields: Vec<FieldRow>,
    pub username: String,
    pub default_username: String,
    pub existing: Option<String>,
    pub problems: Vec<Problem>,
}

impl NewCandidatePage {
    pub fn problem_of(&self, field: &str) -> Option<&str> {
        self.problems
            .iter()
            .find(|p| p.field == field)
            .map(|p| p.message.as_str())
    }
}

#[derive(Deserialize, Default)]
pub struct LearnerQuery {
    #[serde(default)]
    learner: String,
}

/// Fills the create screen for a learner code (the preview: nothing is sent).
async fn fill_new(
    state: &ConsoleState,
    who: &SignedIn,
    learner: &str,
) -> Result<NewCandidatePage, ConsoleError> {
    let mut view = NewCandidatePage {
        chrome: chrome(who),
        learner: learner.trim().to_owned(),
        name: None,
        fields: Vec::new(),
        username: String::new(),
        default_username: String::new(),
        existing: None,
        problems: Vec::new(),
    };
    if view.learner.is_empty() {
        return Ok(view);
    }
    let code = match learner_code(learner) {
        Ok(c) => c,
        Err(p) => {
            view.problems.push(p);
            return Ok(view);
        }
    };
    let preview = match lln(state).candidate_preview(&who.tenant, None, &code).await {
        Ok(p) => p,
        Err(e) => {
            view.problems = problems(e, Some(&code))?;
            return Ok(view);
        }
    };
    let person = &preview.learner;
    view.name = Some(person.display_name());
    let issues = match &preview.fields {
        Ok(f) => {
            view.default_username = f.username.clone();
            Vec::new()
        }
        Err(i) => issue_problems(&i.issues, Some(&code)),
    };
    let problem = |field: &str| {
        issues
            .iter()
            .find(|p| p.field == field)
            .map(|p| p.message.clone())
    };
    let row = |field: &'static str, value: Option<String>, required: bool| FieldRow {
        field,
        label: field_label(field),
        value: value.unwrap_or_default(),
        required,
        problem: problem(field),
    };
    view.fields = vec![
        row("family_name", Some(person.family_name.clone()), true),
        row("given_name", Some(person.given_name.clone()), false),
        row("other_name", person.middle_name.clone(), false),
        row("learner_code", Some(person.code.to_string()), true),
        row(
            "date_of_birth",
            person.date_of_birth.map(|d| d.to_string()),
            true,
        ),
        row("email", person.email.clone(), true),
    ];
    view.username = view.default_username.clone();
    view.existing = preview
        .existing
        .map(|i| i.candidate.candidate_id.to_string());
    view.problems = issues;
    Ok(view)
}

/// `GET /console/lln/candidates/new?learner=...`: what would be pushed, every
/// missing field listed by name with what to fix, the username defaulted.
pub async fn new_candidate(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Query(query): Query<LearnerQuery>,
) -> Page {
    page(&fill_new(&state, &who, &query.learner).await?)
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    learner: String,
    #[serde(default)]
    username: String,
    /// The username the screen defaulted to: sent back unchanged, the use case
    /// chooses it itself (and falls back to `Firstname.Surname` if the tool has it).
    #[serde(default)]
    default_username: String,
}

/// Creates the candidate through the use case; a refusal names every field.
pub async fn create_candidate(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Page {
    who.check_change(&method, &headers, &form.csrf)?;
    let mut view = fill_new(&state, &who, &form.learner).await?;
    let code = match learner_code(&form.learner) {
        Ok(c) => c,
        Err(p) => {
            view.problems = vec![p];
            return refused(&view);
        }
    };
    let typed = form.username.trim();
    let username = (typed != form.default_username.trim() || form.default_username.is_empty())
        .then_some(typed);
    match lln(&state)
        .create_candidate(&who.tenant, None, &code, username, now(&state))
        .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/console/lln/candidates/{code}?created=1")).into_response())
        }
        Err(e) => {
            view.problems = problems(e, Some(&code))?;
            view.username = typed.to_owned();
            refused(&view)
        }
    }
}

// ---- a candidate and its out-of-sync fields ----

/// A shared field: the SMS's value, the tool's, and whether they differ.
pub struct SyncRow {
    pub field: &'static str,
    pub label: &'static str,
    pub ours: String,
    pub theirs: String,
    pub differs: bool,
}

#[derive(Template)]
#[template(path = "lln_candidate.html")]
pub struct CandidatePage {
    pub chrome: Chrome,
    pub learner: String,
    pub connection: String,
    pub candidate_id: String,
    pub username: String,
    pub staff: String,
    pub created_in_lln: String,
    pub updated_in_lln: String,
    pub last_pushed: String,
    pub in_tool: bool,
    pub rows: Vec<SyncRow>,
    pub out_of_sync: usize,
    pub problems: Vec<Problem>,
    pub notice: Option<&'static str>,
    pub zone: String,
    /// The learner's saved assessments: id, name, completed.
    pub assessments: Vec<(String, String, String)>,
}

impl CandidatePage {
    pub fn problem_of(&self, field: &str) -> Option<&str> {
        self.problems
            .iter()
            .find(|p| p.field == field)
            .map(|p| p.message.as_str())
    }
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    created: Option<String>,
    updated: Option<String>,
}

async fn fill_candidate(
    state: &ConsoleState,
    who: &SignedIn,
    raw: &str,
) -> Result<CandidatePage, ConsoleError> {
    let missing = || ConsoleError::NotFound(format!("No learner {raw:?}."));
    let code = LearnerCode::parse(raw).map_err(|_| missing())?;
    let zone = zone(state, &who.tenant).await?;
    let view = match lln(state).candidate(&who.tenant, None, &code).await {
        Ok(v) => v,
        Err(e @ (LlnFlowError::NoCandidate { .. } | LlnFlowError::UnknownLearner { .. })) => {
            return Err(ConsoleError::NotFound(format!(
                "{e}. Create it from LLN › Create a candidate."
            )));
        }
        Err(e) => {
            let p = problems(e, Some(&code))?;
            return Err(ConsoleError::NotFound(
                p.into_iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
    };
    let assessments = match lln(state).assessments(&who.tenant, None, Some(&code)).await {
        Ok(list) => list
            .into_iter()
            .map(|a| {
                (
                    a.assessment.id.to_string(),
                    a.assessment.name,
                    local_time(zone, a.assessment.completed_at),
                )
            })
            .collect(),
        Err(LlnFlowError::Store(e)) => return Err(e.into()),
        Err(_) => Vec::new(),
    };
    let c = &view.invitation.candidate;
    let theirs = view.remote.as_ref().map(|r| &r.fields);
    let ours = view.current.as_ref();
    type Get = fn(&domain::lln::CandidateFields) -> Option<String>;
    let fields: [(&'static str, Get); 7] = [
        ("family_name", |f| Some(f.family_name.clone())),
        ("given_name", |f| f.given_name.clone()),
        ("other_name", |f| f.other_name.clone()),
        ("learner_code", |f| Some(f.learner_code.to_string())),
        ("date_of_birth", |f| Some(f.date_of_birth.to_string())),
        ("email", |f| Some(f.email.clone())),
        ("username", |f| Some(f.username.clone())),
    ];
    let rows = fields
        .iter()
        .map(|&(field, get)| SyncRow {
            field,
            label: field_label(field),
            ours: ours.and_then(get).unwrap_or_default(),
            theirs: theirs.and_then(get).unwrap_or_default(),
            differs: view.out_of_sync.iter().any(|d| d.field == field),
        })
        .collect();
    Ok(CandidatePage {
        chrome: chrome(who),
        learner: code.to_string(),
        connection: view.connection.to_string(),
        candidate_id: c.candidate_id.to_string(),
        username: c.username.clone(),
        staff: view.invitation.staff.clone().unwrap_or_default(),
        created_in_lln: local_time(zone, c.created_in_lln),
        updated_in_lln: local_time(zone, c.updated_in_lln),
        last_pushed: local_time(zone, c.last_pushed_at),
        in_tool: view.remote.is_some(),
        rows,
        out_of_sync: view.out_of_sync.len(),
        problems: issue_problems(&view.issues, Some(&code)),
        notice: None,
        zone: zone.name().to_owned(),
        assessments,
    })
}

/// `GET /console/lln/candidates/{learner}`: the candidate, and every shared
/// field that differs between the SMS and the tool ("Out of sync").
pub async fn candidate(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(learner): Path<String>,
    Query(notice): Query<NoticeQuery>,
) -> Page {
    let mut view = fill_candidate(&state, &who, &learner).await?;
    view.notice = if notice.created.is_some() {
        Some("Candidate created in the LLN tool.")
    } else if notice.updated.is_some() {
        Some("Candidate updated in the LLN tool.")
    } else {
        None
    };
    page(&view)
}

#[derive(Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
}

/// Pushes the learner's current fields (and the username shown) to the tool.
pub async fn update_candidate(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(learner): Path<String>,
    Form(form): Form<UpdateForm>,
) -> Page {
    who.check_change(&method, &headers, &form.csrf)?;
    let mut view = fill_candidate(&state, &who, &learner).await?;
    let code = LearnerCode::parse(learner.as_str())
        .map_err(|_| ConsoleError::NotFound(format!("No learner {learner:?}.")))?;
    let username = form.username.trim();
    match lln(&state)
        .update_candidate(&who.tenant, None, &code, Some(username), now(&state))
        .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/console/lln/candidates/{code}?updated=1")).into_response())
        }
        Err(e) => {
            view.problems = problems(e, Some(&code))?;
            view.username = username.to_owned();
            refused(&view)
        }
    }
}

// ---- the results download ("Get results") ----

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
        chrome: chrome(who),
        default_day: String::new(),
        last_check: "never: every assessment is downloaded".to_owned(),
        modified_since: String::new(),
        learner: learner.trim().to_owned(),
        zone: zone.name().to_owned(),
        problems: Vec::new(),
    };
    match lln.connection(&who.tenant, None).await {
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
            None,
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
    let d = match lln.get_download(&who.tenant, None, id).await {
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
        chrome: chrome(who),
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
        .save_download(&who.tenant, None, &id, now(&state))
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
        .cancel_download(&who.tenant, None, &id, now(&state))
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

// ---- the bulk update grid ----

/// One changed candidate in the bulk update grid.
pub struct BulkRowView {
    pub learner: String,
    pub name: String,
    pub email: String,
    pub candidate_id: String,
    pub username: String,
    pub created_in_lln: String,
    pub updated_in_lln: String,
    /// `Ok` or `Issues`, with its class.
    pub status: &'static str,
    pub class: &'static str,
    /// The issues to fix, or the push's error.
    pub message: String,
    pub flagged: bool,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "lln_bulk.html")]
pub struct BulkPage {
    pub chrome: Chrome,
    pub rows: Vec<BulkRowView>,
    pub pushed: Vec<String>,
    pub excluded: Vec<String>,
    pub failed: usize,
    pub pushed_run: bool,
    pub zone: String,
    pub problems: Vec<Problem>,
}

async fn fill_bulk(
    state: &ConsoleState,
    who: &SignedIn,
    report: Option<&app::lln::BulkReport>,
) -> Result<BulkPage, ConsoleError> {
    let zone = zone(state, &who.tenant).await?;
    let mut view = BulkPage {
        chrome: chrome(who),
        rows: Vec::new(),
        pushed: Vec::new(),
        excluded: Vec::new(),
        failed: 0,
        pushed_run: report.is_some(),
        zone: zone.name().to_owned(),
        problems: Vec::new(),
    };
    let rows = match lln(state).bulk_changes(&who.tenant, None).await {
        Ok((_, rows)) => rows,
        Err(e) => {
            view.problems = problems(e, None)?;
            return Ok(view);
        }
    };
    let failure =
        |code: &LearnerCode| report.and_then(|r| r.failed.iter().find(|f| &f.learner == code));
    view.rows = rows
        .into_iter()
        .map(|r| {
            let failed = failure(&r.learner);
            let mut message = issue_problems(&r.issues, Some(&r.learner))
                .into_iter()
                .map(|p| p.message)
                .collect::<Vec<_>>()
                .join("; ");
            if let Some(f) = failed {
                message = format!("Not pushed: {}", f.error);
            }
            let (status, class) = match (r.status, failed) {
                (_, Some(_)) => ("Error", "status-error"),
                ("ok", None) => ("Ok", "status-ok"),
                _ => ("Issues", "status-error"),
            };
            BulkRowView {
                learner: r.learner.to_string(),
                name: format!("{} {}", r.given_name, r.family_name)
                    .trim()
                    .to_owned(),
                email: r.email.clone().unwrap_or_default(),
                candidate_id: r.candidate_id.clone(),
                username: r.username.clone(),
                created_in_lln: local_time(zone, r.created_in_lln),
                updated_in_lln: local_time(zone, r.updated_in_lln),
                status,
                class,
                message,
                flagged: r.flagged,
                selected: r.selected,
            }
        })
        .collect();
    if let Some(r) = report {
        view.pushed = r.pushed.iter().map(ToString::to_string).collect();
        view.excluded = r.excluded.iter().map(ToString::to_string).collect();
        view.failed = r.failed.len();
    }
    Ok(view)
}

/// `GET /console/lln/bulk`: every candidate whose learner changed since its last
/// push (or was left out last time), ticked when Ok. Loading it again is "Find
/// modified clients".
pub async fn bulk(State(state): State<ConsoleState>, who: SignedIn) -> Page {
    page(&fill_bulk(&state, &who, None).await?)
}

/// Push updates: the ticked rows are pushed, the unticked ones left out (and
/// offered again next time); errors are shown in the grid afterwards.
pub async fn bulk_push(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Page {
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    who.check_change(&method, &headers, value("csrf"))?;
    let codes = |name: &str| -> Result<Vec<LearnerCode>, Problem> {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| {
                LearnerCode::parse(v.as_str()).map_err(|e| Problem::new(name, e.to_string()))
            })
            .collect()
    };
    let (selected, offered) = match (codes("use"), codes("offered")) {
        (Ok(s), Ok(o)) => (s, o),
        (Err(p), _) | (_, Err(p)) => {
            let mut view = fill_bulk(&state, &who, None).await?;
            view.problems = vec![p];
            return refused(&view);
        }
    };
    let excluded: Vec<LearnerCode> = offered
        .into_iter()
        .filter(|o| !selected.contains(o))
        .collect();
    match lln(&state)
        .bulk_push(
            &who.tenant,
            None,
            Some(selected.as_slice()),
            &excluded,
            now(&state),
        )
        .await
    {
        Ok(report) => page(&fill_bulk(&state, &who, Some(&report)).await?),
        Err(e) => {
            let mut view = fill_bulk(&state, &who, None).await?;
            view.problems = problems(e, None)?;
            refused(&view)
        }
    }
}

// ---- an assessment: edit and report ----

/// The most characters a status, staff or comment takes (as the api allows).
const TEXT_MAX: usize = 2000;

/// One skill's result, as shown.
pub struct SkillRow {
    pub skill: String,
    pub level: String,
    pub score: String,
    pub band: String,
}

#[derive(Template)]
#[template(path = "lln_assessment.html")]
pub struct AssessmentPage {
    pub chrome: Chrome,
    pub id: String,
    pub name: String,
    pub skills: String,
    pub completed: String,
    pub sitting_ids: String,
    pub results: Vec<SkillRow>,
    pub learner: String,
    pub learner_name: String,
    pub candidate_id: String,
    pub username: String,
    pub connection: String,
    pub product: &'static str,
    pub saved_at: String,
    pub status: String,
    pub staff: String,
    pub follow_up_comment: String,
    pub zone: String,
    pub problems: Vec<Problem>,
    pub notice: Option<&'static str>,
}

impl AssessmentPage {
    pub fn problem_of(&self, field: &str) -> Option<&str> {
        self.problems
            .iter()
            .find(|p| p.field == field)
            .map(|p| p.message.as_str())
    }
}

/// The same facts, as a printable report (LLN-41).
#[derive(Template)]
#[template(path = "lln_assessment_report.html")]
pub struct AssessmentReportPage {
    pub a: AssessmentPage,
}

async fn fill_assessment(
    state: &ConsoleState,
    who: &SignedIn,
    raw: &str,
) -> Result<AssessmentPage, ConsoleError> {
    let missing = || ConsoleError::NotFound(format!("No saved assessment {raw:?}."));
    let id = domain::lln::AssessmentId::parse(raw).map_err(|_| missing())?;
    let zone = zone(state, &who.tenant).await?;
    let report = match lln(state).assessment_report(&who.tenant, None, &id).await {
        Ok(r) => r,
        Err(LlnFlowError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(ConsoleError::NotFound(e.to_string())),
    };
    let s = &report.saved;
    let a = &s.assessment;
    Ok(AssessmentPage {
        chrome: chrome(who),
        id: a.id.to_string(),
        name: a.name.clone(),
        skills: a.skills.join(", "),
        completed: local_time(zone, a.completed_at),
        sitting_ids: a.sitting_ids.join(", "),
        results: a
            .results
            .iter()
            .map(|r| SkillRow {
                skill: r.skill.clone(),
                level: r.level.clone().unwrap_or_default(),
                score: r.score.map(|s| s.to_string()).unwrap_or_default(),
                band: r.band.clone().unwrap_or_default(),
            })
            .collect(),
        learner: s.learner.to_string(),
        learner_name: report.learner_name.clone().unwrap_or_default(),
        candidate_id: report.candidate_id.clone(),
        username: report.username.clone().unwrap_or_default(),
        connection: report.connection_name.clone(),
        product: report.product,
        saved_at: local_time(zone, s.saved_at),
        status: s.status.clone().unwrap_or_default(),
        staff: s.staff.clone().unwrap_or_default(),
        follow_up_comment: s.follow_up_comment.clone().unwrap_or_default(),
        zone: zone.name().to_owned(),
        problems: Vec::new(),
        notice: None,
    })
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

/// `GET /console/lln/assessments/{id}`: the assessment with its status, LLN
/// staff and follow-up comment (editable by an admin).
pub async fn assessment(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<SavedQuery>,
) -> Page {
    let mut view = fill_assessment(&state, &who, &id).await?;
    if query.saved.is_some() {
        view.notice = Some("Saved.");
    }
    page(&view)
}

/// `GET /console/lln/assessments/{id}/report`: the assessment's report.
pub async fn assessment_report(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Page {
    let a = fill_assessment(&state, &who, &id).await?;
    page(&AssessmentReportPage { a })
}

#[derive(Deserialize)]
pub struct AssessmentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    staff: String,
    #[serde(default)]
    follow_up_comment: String,
}

fn text_field(field: &str, value: &str) -> Result<Option<String>, Problem> {
    let value = value.trim();
    if value.chars().count() > TEXT_MAX {
        return Err(Problem::new(
            field,
            format!("at most {TEXT_MAX} characters are allowed"),
        ));
    }
    if value.chars().any(domain::ids::is_control_or_bidi) {
        return Err(Problem::new(
            field,
            "control and bidirectional formatting characters are not allowed",
        ));
    }
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// Records the status, LLN staff and follow-up comment (empty clears one).
pub async fn edit_assessment(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<AssessmentForm>,
) -> Page {
    who.check_change(&method, &headers, &form.csrf)?;
    let mut view = fill_assessment(&state, &who, &id).await?;
    let fields = [
        ("status", &form.status),
        ("staff", &form.staff),
        ("follow_up_comment", &form.follow_up_comment),
    ];
    let mut values = Vec::new();
    for (field, value) in fields {
        match text_field(field, value) {
            Ok(v) => values.push(v),
            Err(p) => view.problems.push(p),
        }
    }
    if !view.problems.is_empty() {
        view.status = form.status;
        view.staff = form.staff;
        view.follow_up_comment = form.follow_up_comment;
        return refused(&view);
    }
    let mut values = values.into_iter();
    let edit = app::lln::AssessmentEdit {
        status: Some(values.next().flatten()),
        staff: Some(values.next().flatten()),
        follow_up_comment: Some(values.next().flatten()),
    };
    let assessment = domain::lln::AssessmentId::parse(id.as_str())
        .map_err(|_| ConsoleError::NotFound(format!("No saved assessment {id:?}.")))?;
    match lln(&state)
        .edit_assessment(&who.tenant, None, &assessment, edit, now(&state))
        .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/console/lln/assessments/{id}?saved=1")).into_response())
        }
        Err(e) => {
            view.problems = problems(e, None)?;
            refused(&view)
        }
    }
}

// ---- reports: the summary (and its CSV), the history, the API log ----

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
        match lln(&state).summary(&who.tenant, None, &filter).await {
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
        chrome: chrome(&who),
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
        chrome: chrome(&who),
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
            None,
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
        chrome: chrome(who),
        connection: String::new(),
        logging: false,
        calls: Vec::new(),
        zone: zone.name().to_owned(),
        problems: Vec::new(),
    };
    let lln = lln(state);
    let connection = match lln.connection(&who.tenant, None).await {
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
    let outcome = match lln.connection(&who.tenant, None).await {
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
