//! Candidates: create, read, update and find, validated by field, usernames unique.

use super::*;

/// The body of a create or update.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateBody {
    username: Option<String>,
    email: Option<String>,
    family_name: Option<String>,
    given_name: Option<String>,
    other_name: Option<String>,
    external_id: Option<String>,
    date_of_birth: Option<String>,
}

struct Valid {
    username: String,
    email: String,
    family_name: String,
    given_name: Option<String>,
    other_name: Option<String>,
    external_id: String,
    date_of_birth: NaiveDate,
}

fn blank(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn validate(body: &CandidateBody, today: NaiveDate) -> Result<Valid, Box<Response>> {
    let mut fields = Vec::new();
    let mut required = |name: &str, value: Option<String>| {
        if value.is_none() {
            fields.push(serde_json::json!({"field": name, "message": "is required"}));
        }
        value
    };
    let family_name = required("familyName", blank(body.family_name.as_ref()));
    let external_id = required("externalId", blank(body.external_id.as_ref()));
    let dob = required("dateOfBirth", blank(body.date_of_birth.as_ref()));
    let email = required("email", blank(body.email.as_ref()));
    let username = required("username", blank(body.username.as_ref()));
    let date_of_birth = dob.and_then(|d| match NaiveDate::parse_from_str(&d, "%Y-%m-%d") {
        Ok(d) if d <= today => Some(d),
        Ok(_) => {
            fields.push(
                serde_json::json!({"field": "dateOfBirth", "message": "must not be in the future"}),
            );
            None
        }
        Err(_) => {
            fields.push(
                serde_json::json!({"field": "dateOfBirth", "message": "must be a date YYYY-MM-DD"}),
            );
            None
        }
    });
    if let Some(e) = &email
        && !e
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
    {
        fields.push(serde_json::json!({"field": "email", "message": "is not an email address"}));
    }
    if let Some(u) = &username
        && (u.chars().any(char::is_whitespace) || u.chars().count() > 100)
    {
        fields.push(serde_json::json!({"field": "username", "message": "must have no spaces and at most 100 characters"}));
    }
    match (family_name, external_id, date_of_birth, email, username) {
        (
            Some(family_name),
            Some(external_id),
            Some(date_of_birth),
            Some(email),
            Some(username),
        ) if fields.is_empty() => Ok(Valid {
            username,
            email,
            family_name,
            given_name: blank(body.given_name.as_ref()),
            other_name: blank(body.other_name.as_ref()),
            external_id,
            date_of_birth,
        }),
        _ => Err(Box::new(
            (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({
                    "error": "validation_failed",
                    "message": "the candidate is not valid",
                    "field": null,
                    "fields": fields,
                })),
            )
                .into_response(),
        )),
    }
}

/// A refusal when another candidate (not `except`) already has the username.
/// Emails may be shared: that is when the username defaults to Firstname.Surname.
fn duplicate(inner: &Inner, valid: &Valid, except: Option<&str>) -> Option<Response> {
    let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    let taken = inner
        .candidates
        .values()
        .any(|c| Some(c.id.as_str()) != except && same(&c.username, &valid.username));
    taken.then(|| {
        (
            StatusCode::CONFLICT,
            axum::Json(serde_json::json!({
                "error": "duplicate",
                "message": "another candidate has this username",
                "field": "username",
                "fields": [],
            })),
        )
            .into_response()
    })
}

fn parse_body(body: &str) -> Result<CandidateBody, Box<Response>> {
    serde_json::from_str(body).map_err(|_| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body is not a candidate",
        ))
    })
}

pub(super) async fn create_candidate(
    State(sim): State<OcsatSim>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(fault) = begin(&sim, &method, &uri) {
        return fault;
    }
    let now = Utc::now();
    let answer = (|| {
        if let Some(refused) = authorise(&sim, &headers, now) {
            return refused;
        }
        let valid = match parse_body(&body).and_then(|b| validate(&b, now.date_naive())) {
            Ok(v) => v,
            Err(refused) => return *refused,
        };
        let mut inner = sim.lock();
        if let Some(refused) = duplicate(&inner, &valid, None) {
            return refused;
        }
        inner.next_candidate += 1;
        let id = format!("c-{:06}", inner.next_candidate);
        let candidate = SimCandidate {
            id: id.clone(),
            username: valid.username,
            email: valid.email,
            family_name: valid.family_name,
            given_name: valid.given_name,
            other_name: valid.other_name,
            external_id: Some(valid.external_id),
            date_of_birth: Some(valid.date_of_birth),
            created_at: now,
            updated_at: now,
        };
        inner.candidates.insert(id, candidate.clone());
        (StatusCode::CREATED, axum::Json(candidate)).into_response()
    })();
    finish(&sim, answer)
}

pub(super) async fn get_candidate(
    State(sim): State<OcsatSim>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(fault) = begin(&sim, &method, &uri) {
        return fault;
    }
    let answer = match authorise(&sim, &headers, Utc::now()) {
        Some(refused) => refused,
        None => match sim.candidate(&id) {
            Some(c) => axum::Json(c).into_response(),
            None => error(StatusCode::NOT_FOUND, "not_found", "no such candidate"),
        },
    };
    finish(&sim, answer)
}

pub(super) async fn update_candidate(
    State(sim): State<OcsatSim>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(fault) = begin(&sim, &method, &uri) {
        return fault;
    }
    let now = Utc::now();
    let answer = (|| {
        if let Some(refused) = authorise(&sim, &headers, now) {
            return refused;
        }
        let valid = match parse_body(&body).and_then(|b| validate(&b, now.date_naive())) {
            Ok(v) => v,
            Err(refused) => return *refused,
        };
        let mut inner = sim.lock();
        if !inner.candidates.contains_key(&id) {
            return error(StatusCode::NOT_FOUND, "not_found", "no such candidate");
        }
        if let Some(refused) = duplicate(&inner, &valid, Some(&id)) {
            return refused;
        }
        let Some(candidate) = inner.candidates.get_mut(&id) else {
            return error(StatusCode::NOT_FOUND, "not_found", "no such candidate");
        };
        let updated = SimCandidate {
            id: candidate.id.clone(),
            username: valid.username,
            email: valid.email,
            family_name: valid.family_name,
            given_name: valid.given_name,
            other_name: valid.other_name,
            external_id: Some(valid.external_id),
            date_of_birth: Some(valid.date_of_birth),
            created_at: candidate.created_at,
            updated_at: candidate.updated_at,
        };
        if updated != *candidate {
            *candidate = SimCandidate {
                updated_at: now,
                ..updated
            };
        }
        axum::Json(candidate.clone()).into_response()
    })();
    finish(&sim, answer)
}

#[derive(Deserialize)]
pub(super) struct FindQuery {
    username: Option<String>,
    email: Option<String>,
}

pub(super) async fn find_candidates(
    State(sim): State<OcsatSim>,
    Query(query): Query<FindQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(fault) = begin(&sim, &method, &uri) {
        return fault;
    }
    let answer = (|| {
        if let Some(refused) = authorise(&sim, &headers, Utc::now()) {
            return refused;
        }
        let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        let items: Vec<SimCandidate> = match (&query.username, &query.email) {
            (Some(u), None) => sim
                .candidates()
                .into_iter()
                .filter(|c| same(&c.username, u))
                .collect(),
            (None, Some(e)) => sim
                .candidates()
                .into_iter()
                .filter(|c| same(&c.email, e))
                .collect(),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "validation_failed",
                    "give exactly one of username or email",
                );
            }
        };
        axum::Json(serde_json::json!({ "items": items })).into_response()
    })();
    finish(&sim, answer)
}
