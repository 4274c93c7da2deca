//! The deliveries screen (issue 19 item 3): the tenant's deliveries to the SMS
//! by state, each with its attempts (time and the SMS's answer) and next try;
//! resend now and cancel (admin) through app's use cases, as the api does.
//! Expired ones (given up after the retry window) are counted in a banner at
//! the top and marked in words on their rows.

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::pages::{chrome, zone};
use crate::session::SignedIn;
use crate::views::{Chrome, FieldError, local_time, render};
use app::deliveries::{self, DeliveryError};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use domain::ConnectionKind;
use domain::delivery::{AttemptOutcome, DeliveryId, DeliveryState};
use serde::Deserialize;

/// The most deliveries one state's list shows, and the most expired ones counted.
const PAGE: usize = 200;

/// The deliveries routes, merged into the console's router.
pub fn routes() -> axum::Router<ConsoleState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/console/deliveries", get(page))
        .route("/console/deliveries/{id}/{action}", post(change))
}

/// One attempt, as a person reads it.
pub struct AttemptRow {
    pub n: u32,
    pub at: String,
    pub answer: String,
}

/// One delivery in the list.
pub struct DeliveryRow {
    pub id: String,
    pub kind: &'static str,
    pub learner: String,
    pub offering: String,
    pub assessable: String,
    pub state: &'static str,
    pub expired: bool,
    pub attempts: Vec<AttemptRow>,
    pub next_try: String,
    pub last_error: String,
    /// Resend and cancel apply (not delivered, cancelled or superseded).
    pub open: bool,
}

#[derive(Template)]
#[template(path = "deliveries.html")]
pub struct DeliveriesPage {
    pub chrome: Chrome,
    pub state: String,
    pub states: Vec<&'static str>,
    pub rows: Vec<DeliveryRow>,
    /// Expired deliveries of the tenant (at most [`PAGE`] counted).
    pub expired: usize,
    pub retry_days: u32,
    pub has_sms: bool,
    pub error: Option<FieldError>,
    pub notice: Option<String>,
    pub zone: String,
}

impl DeliveriesPage {
    pub fn state_class(state: &str) -> &'static str {
        match state {
            "delivered" => "status-ok",
            "pending" => "status-importing",
            "failed" | "expired" | "paused" => "status-error",
            _ => "status-none",
        }
    }
}

fn outcome_words(outcome: AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::RetryNextDay => "refused, tried again the next day",
        AttemptOutcome::RetrySoon => "not answered, tried again soon",
        AttemptOutcome::Failed => "refused for good",
        AttemptOutcome::Misconfigured => {
            "credentials refused: paused until the connection is fixed"
        }
    }
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    state: Option<String>,
    notice: Option<String>,
}

async fn build(
    state: &ConsoleState,
    who: &SignedIn,
    wanted: Option<String>,
    error: Option<FieldError>,
    notice: Option<String>,
) -> Result<DeliveriesPage, ConsoleError> {
    let deps = &state.api.deps;
    let zone = zone(state, &who.tenant).await?;
    let sms: Vec<_> = deps
        .connections
        .connections(&who.tenant)
        .await?
        .into_iter()
        .filter(|c| c.kind() == ConnectionKind::Sms)
        .collect();
    let mut error = error;
    let shown = match wanted.as_deref().filter(|s| !s.is_empty()) {
        None => DeliveryState::Pending,
        Some(s) => DeliveryState::parse(s).unwrap_or_else(|e| {
            error.get_or_insert(FieldError {
                field: "state",
                message: e.to_string(),
            });
            DeliveryState::Pending
        }),
    };
    let retry_days = sms
        .iter()
        .find_map(|c| match &c.settings {
            domain::connection::ConnectionSettings::Sms(s) => Some(s.retry_days),
            _ => None,
        })
        .unwrap_or(30);
    let mut expired = 0;
    let mut rows = Vec::new();
    for connection in &sms {
        expired += deps
            .deliveries
            .by_state(&who.tenant, &connection.id, DeliveryState::Expired, PAGE)
            .await?
            .len();
        for d in deps
            .deliveries
            .by_state(&who.tenant, &connection.id, shown, PAGE)
            .await?
        {
            let attempts = deps
                .deliveries
                .attempts(&who.tenant, &d.id)
                .await?
                .into_iter()
                .map(|a| AttemptRow {
                    n: a.n,
                    at: local_time(zone, a.at),
                    answer: format!(
                        "{}{}{}",
                        a.status.map(|s| format!("HTTP {s}: ")).unwrap_or_default(),
                        outcome_words(a.outcome),
                        a.message.map(|m| format!(" — {m}")).unwrap_or_default()
                    ),
                })
                .collect();
            rows.push(DeliveryRow {
                id: d.id.to_string(),
                kind: d.kind.as_str(),
                learner: d.learner.to_string(),
                offering: d.offering.to_string(),
                assessable: d.assessable.map(|a| a.to_string()).unwrap_or_default(),
                state: d.state.as_str(),
                expired: d.state == DeliveryState::Expired,
                attempts,
                next_try: if d.state == DeliveryState::Pending {
                    local_time(zone, d.next_attempt_at)
                } else {
                    "—".to_owned()
                },
                last_error: d.last_error.unwrap_or_default(),
                open: matches!(
                    d.state,
                    DeliveryState::Pending
                        | DeliveryState::Paused
                        | DeliveryState::Failed
                        | DeliveryState::Expired
                ),
            });
        }
    }
    Ok(DeliveriesPage {
        chrome: chrome(who, "Deliveries"),
        state: shown.as_str().to_owned(),
        states: DeliveryState::ALL.iter().map(|s| s.as_str()).collect(),
        rows,
        expired,
        retry_days,
        has_sms: !sms.is_empty(),
        error,
        notice,
        zone: zone.name().to_owned(),
    })
}

/// `/console/deliveries?state=pending|delivered|failed|expired|paused|cancelled|superseded`.
pub async fn page(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Query(q): Query<PageQuery>,
) -> Result<Response, ConsoleError> {
    let page = build(&state, &who, q.state, None, q.notice).await?;
    let status = if page.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, render(&page)?).into_response())
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    /// The list the form was on, to come back to.
    #[serde(default)]
    state: String,
}

/// `resend` (due now, queued) or `cancel` (never tried again).
pub async fn change(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, ConsoleError> {
    who.check_change(&method, &headers, &form.csrf)?;
    let missing = || ConsoleError::NotFound(format!("This tenant has no delivery {id:?}."));
    let delivery = DeliveryId::parse(id.clone()).map_err(|_| missing())?;
    let deps = &state.api.deps;
    let outcome = match action.as_str() {
        "resend" => {
            deliveries::resend_now(
                deps.deliveries.as_ref(),
                deps.queue.as_ref(),
                &who.tenant,
                &delivery,
                (deps.now)(),
            )
            .await
        }
        "cancel" => deliveries::cancel(deps.deliveries.as_ref(), &who.tenant, &delivery).await,
        _ => return Err(ConsoleError::NotFound("No such change.".to_owned())),
    };
    let back_to = DeliveryState::parse(&form.state)
        .unwrap_or(DeliveryState::Pending)
        .as_str();
    match outcome {
        Ok(d) => {
            let notice = format!("Delivery {} is now {}", d.id, d.state.as_str());
            let notice: String = notice
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
                .map(|c| if c == ' ' { '+' } else { c })
                .collect();
            Ok(Redirect::to(&format!(
                "/console/deliveries?state={back_to}&notice={notice}"
            ))
            .into_response())
        }
        Err(DeliveryError::NotFound { .. }) => Err(missing()),
        Err(e @ (DeliveryError::Refused(_) | DeliveryError::Changed { .. })) => {
            let page = build(
                &state,
                &who,
                Some(back_to.to_owned()),
                Some(FieldError {
                    field: "state",
                    message: e.to_string(),
                }),
                None,
            )
            .await?;
            Ok((StatusCode::CONFLICT, render(&page)?).into_response())
        }
        Err(DeliveryError::Store(e)) => Err(e.into()),
        Err(e) => {
            tracing::error!(
                error = &e as &dyn std::error::Error,
                "delivery change failed"
            );
            Err(ConsoleError::Forbidden(
                "the delivery could not be changed now; try again shortly".to_owned(),
            ))
        }
    }
}
