//! An assessment: edit and report.

use super::*;

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
    let report = match lln(state)
        .assessment_report(&who.tenant, chosen(state, who).await?.as_ref(), &id)
        .await
    {
        Ok(r) => r,
        Err(LlnFlowError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(ConsoleError::NotFound(e.to_string())),
    };
    let s = &report.saved;
    let a = &s.assessment;
    Ok(AssessmentPage {
        chrome: chrome(state, who).await?,
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
        .edit_assessment(
            &who.tenant,
            chosen(&state, &who).await?.as_ref(),
            &assessment,
            edit,
            now(&state),
        )
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
