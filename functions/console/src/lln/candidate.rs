//! A candidate and its out-of-sync fields; update.

use super::*;

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
    let view = match lln(state)
        .candidate(&who.tenant, chosen(state, who).await?.as_ref(), &code)
        .await
    {
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
    let assessments = match lln(state)
        .assessments(&who.tenant, chosen(state, who).await?.as_ref(), Some(&code))
        .await
    {
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
        chrome: chrome(state, who).await?,
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
        .update_candidate(
            &who.tenant,
            chosen(&state, &who).await?.as_ref(),
            &code,
            Some(username),
            now(&state),
        )
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
