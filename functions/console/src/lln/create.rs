//! Create a candidate: every missing field listed, the username defaulted.

use super::*;

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
    pub learner: String,
}

/// Fills the create screen for a learner code (the preview: nothing is sent).
async fn fill_new(
    state: &ConsoleState,
    who: &SignedIn,
    learner: &str,
) -> Result<NewCandidatePage, ConsoleError> {
    let mut view = NewCandidatePage {
        chrome: chrome(state, who).await?,
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
    let preview = match lln(state)
        .candidate_preview(&who.tenant, chosen(state, who).await?.as_ref(), &code)
        .await
    {
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
        .create_candidate(
            &who.tenant,
            chosen(&state, &who).await?.as_ref(),
            &code,
            username,
            now(&state),
        )
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
