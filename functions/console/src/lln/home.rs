//! The LLN home page: the connection, its candidates and the ways in.

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
