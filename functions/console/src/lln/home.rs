//! The LLN home page: the connection (and, when the tenant has several, the
//! choice of the one to work with), its candidates and the ways in.

use super::*;

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

/// An LLN connection a person may choose to work with.
pub struct ConnectionChoice {
    pub id: String,
    pub name: String,
    pub product: &'static str,
    /// The one the LLN screens work with now.
    pub current: bool,
}

pub(super) fn product(connection: &domain::Connection) -> &'static str {
    domain::lln::LlnProduct::from_kind(connection.kind()).map_or("", domain::lln::LlnProduct::name)
}

#[derive(Template)]
#[template(path = "lln.html")]
pub struct HomePage {
    pub chrome: Chrome,
    pub connection: Option<ConnectionInfo>,
    /// The tenant's LLN connections when there are several (else empty).
    pub choices: Vec<ConnectionChoice>,
    pub modified_since: String,
    pub zone: String,
    pub problems: Vec<Problem>,
    pub candidates: Vec<CandidateRow>,
}

/// `/console/lln`: the LLN connection, its candidates and the ways in.
pub async fn home(State(state): State<ConsoleState>, who: SignedIn) -> Page {
    page(&home_page(&state, &who).await?)
}

async fn home_page(state: &ConsoleState, who: &SignedIn) -> Result<HomePage, ConsoleError> {
    let zone = zone(state, &who.tenant).await?;
    let lln = lln(state);
    let mut home = HomePage {
        chrome: chrome(state, who).await?,
        connection: None,
        choices: Vec::new(),
        modified_since: String::new(),
        zone: zone.name().to_owned(),
        problems: Vec::new(),
        candidates: Vec::new(),
    };
    let chosen = chosen(state, who).await?;
    let all = match lln.lln_connections(&who.tenant).await {
        Ok(all) => all,
        Err(e) => {
            home.problems = problems(e, None)?;
            return Ok(home);
        }
    };
    let connection = lln.connection(&who.tenant, chosen.as_ref()).await;
    if all.len() > 1 {
        let current = connection.as_ref().ok().map(|c| c.id.clone());
        home.choices = all
            .iter()
            .map(|c| ConnectionChoice {
                id: c.id.to_string(),
                name: c.name.clone(),
                product: product(c),
                current: current.as_ref() == Some(&c.id),
            })
            .collect();
    }
    let connection = match connection {
        Ok(c) => c,
        Err(e) => {
            home.problems = problems(e, None)?;
            return Ok(home);
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
        product: product(&connection),
    });
    Ok(home)
}

/// The choice of the LLN connection to work with.
#[derive(Deserialize)]
pub struct ChooseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    connection: String,
}

/// `POST /console/lln/connection`: remembers, with the session, the LLN
/// connection the LLN screens work with. Choosing what to read changes no
/// data, so a viewer may choose too; only the tenant's own LLN connections can
/// be chosen.
pub async fn choose_connection(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Form(form): Form<ChooseForm>,
) -> Page {
    who.check_form(&method, &headers, &form.csrf)?;
    let refuse = |message: String| Problem::new("connection", message);
    let problem = match ConnectionId::parse(form.connection.trim()) {
        Err(e) => Some(refuse(e.to_string())),
        Ok(id) => match lln(&state).connection(&who.tenant, Some(&id)).await {
            Ok(c) => {
                state
                    .sessions
                    .choose_lln(&who.id_hash, &c.id, who.expires)
                    .await?;
                None
            }
            Err(e) => problems(e, None)?.into_iter().next(),
        },
    };
    match problem {
        None => Ok(Redirect::to("/console/lln").into_response()),
        Some(p) => {
            let mut home = home_page(&state, &who).await?;
            home.problems.push(p);
            refused(&home)
        }
    }
}
