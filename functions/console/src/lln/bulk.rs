//! The bulk update grid: Use ticks, Find modified clients, Push updates.
//!
//! A push runs to its end within the one request that sends it (app's
//! `bulk_push`, several OCSAT calls in flight at once), so the page that answers
//! shows how it ended, record by record, with the counts: pushed, failed, left
//! out, and what is still to push (the grid below). There is nothing running
//! after the answer to show progress of or to stop; leaving a record out
//! (untick Use) is how a person keeps it from being sent.

use super::*;

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

/// How one record of a push ended.
pub struct OutcomeView {
    pub learner: String,
    /// In words, with its class (the colour is never the only signal).
    pub outcome: &'static str,
    pub class: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "lln_bulk.html")]
pub struct BulkPage {
    pub chrome: Chrome,
    pub rows: Vec<BulkRowView>,
    /// Record by record, how the push just sent ended.
    pub outcomes: Vec<OutcomeView>,
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
        chrome: chrome(state, who).await?,
        rows: Vec::new(),
        outcomes: Vec::new(),
        pushed: Vec::new(),
        excluded: Vec::new(),
        failed: 0,
        pushed_run: report.is_some(),
        zone: zone.name().to_owned(),
        problems: Vec::new(),
    };
    let rows = match lln(state)
        .bulk_changes(&who.tenant, chosen(state, who).await?.as_ref())
        .await
    {
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
        view.outcomes = outcomes(r);
    }
    Ok(view)
}

/// The push's records in the order of their learner codes, each with how it ended.
fn outcomes(report: &app::lln::BulkReport) -> Vec<OutcomeView> {
    let view = |learner: &LearnerCode, outcome, class, message: String| OutcomeView {
        learner: learner.to_string(),
        outcome,
        class,
        message,
    };
    let mut all: Vec<OutcomeView> = report
        .pushed
        .iter()
        .map(|l| view(l, "Pushed", "status-ok", "sent to the tool".to_owned()))
        .chain(report.failed.iter().map(|f| {
            let again = if f.retryable {
                "; try again shortly"
            } else {
                ""
            };
            view(
                &f.learner,
                "Failed",
                "status-error",
                format!("{}{again}", f.error),
            )
        }))
        .chain(report.excluded.iter().map(|l| {
            view(
                l,
                "Left out",
                "status-warning",
                "not sent; offered again in the next update".to_owned(),
            )
        }))
        .chain(report.unchanged.iter().map(|l| {
            view(
                l,
                "Nothing to send",
                "status-none",
                "not changed since its last push".to_owned(),
            )
        }))
        .collect();
    all.sort_by(|a, b| a.learner.cmp(&b.learner));
    all
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
            chosen(&state, &who).await?.as_ref(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use app::lln::{BulkFailure, BulkReport};

    fn code(c: &str) -> LearnerCode {
        LearnerCode::parse(c).unwrap()
    }

    #[test]
    fn every_record_of_a_push_has_its_outcome_in_words_in_learner_order() {
        let report = BulkReport {
            pushed: vec![code("L1")],
            excluded: vec![code("L2")],
            failed: vec![BulkFailure {
                learner: code("L0"),
                error: "the tool is unavailable".into(),
                retryable: true,
            }],
            unchanged: vec![code("L3")],
        };
        let shown: Vec<(String, &str, &str, String)> = outcomes(&report)
            .into_iter()
            .map(|o| (o.learner, o.outcome, o.class, o.message))
            .collect();
        assert_eq!(
            shown,
            vec![
                (
                    "L0".to_owned(),
                    "Failed",
                    "status-error",
                    "the tool is unavailable; try again shortly".to_owned()
                ),
                (
                    "L1".to_owned(),
                    "Pushed",
                    "status-ok",
                    "sent to the tool".to_owned()
                ),
                (
                    "L2".to_owned(),
                    "Left out",
                    "status-warning",
                    "not sent; offered again in the next update".to_owned()
                ),
                (
                    "L3".to_owned(),
                    "Nothing to send",
                    "status-none",
                    "not changed since its last push".to_owned()
                ),
            ]
        );
    }
}
