//! The bulk update: the candidates whose learner changed, pushed together.

use super::error::LlnFlowError;
use super::service::Lln;
use chrono::{DateTime, Utc};
use domain::TenantId;
use domain::lln::{self, CandidateFields, CandidateIssues, FieldIssue, UsernameRule};
use domain::ports::{LlnAction, LlnInvitation, Retryable};
use domain::sis::Learner;
use domain::{Connection, ConnectionId, LearnerCode};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// OCSAT calls a bulk update makes at once.
pub const BULK_PUSH_CONCURRENCY: usize = 8;

/// One learner in the bulk update grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BulkRow {
    pub learner: LearnerCode,
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
    pub candidate_id: String,
    pub username: String,
    /// When the tool created the candidate, and last updated it.
    pub created_in_lln: DateTime<Utc>,
    pub updated_in_lln: DateTime<Utc>,
    pub last_pushed_at: DateTime<Utc>,
    /// `ok`, or `issues` (see `issues`).
    pub status: &'static str,
    pub issues: Vec<FieldIssue>,
    /// Left out of an earlier bulk update.
    pub flagged: bool,
    /// Ticked by default when Ok.
    pub selected: bool,
}

/// What a bulk push did, record by record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BulkReport {
    pub pushed: Vec<LearnerCode>,
    /// Left out: flagged, offered again in the next bulk update.
    pub excluded: Vec<LearnerCode>,
    pub failed: Vec<BulkFailure>,
    /// Selected, but not in the bulk update (nothing changed since the last
    /// push, or no candidate): nothing sent.
    pub unchanged: Vec<LearnerCode>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BulkFailure {
    pub learner: LearnerCode,
    pub error: String,
    /// Worth trying again later (the tool was unavailable).
    pub retryable: bool,
}

impl Lln {
    /// The bulk update grid (LLN-23..25, 27): every learner whose shared fields
    /// changed since the last push, or who was left out of the previous bulk
    /// update, each Ok (selected) or with the issues to fix. Calling it again is
    /// "find modified clients".
    pub async fn bulk_changes(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
    ) -> Result<(ConnectionId, Vec<BulkRow>), LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let rows = self.changed_rows(&connection).await?;
        Ok((
            connection.id,
            rows.into_iter().map(|(row, _, _)| row).collect(),
        ))
    }

    pub(super) async fn changed_rows(
        &self,
        connection: &Connection,
    ) -> Result<Vec<(BulkRow, LlnInvitation, Option<CandidateFields>)>, LlnFlowError> {
        let invitations = self
            .store
            .invitations(&connection.tenant, &connection.id)
            .await?;
        let codes: Vec<LearnerCode> = invitations
            .iter()
            .map(|i| i.candidate.learner.clone())
            .collect();
        let learners: HashMap<LearnerCode, Learner> = self
            .sis
            .learners(&connection.tenant, &codes)
            .await?
            .into_iter()
            .map(|l| (l.code.clone(), l))
            .collect();
        let mut rows = Vec::new();
        for invitation in invitations {
            let c = &invitation.candidate;
            let Some(person) = learners.get(&c.learner) else {
                continue;
            };
            let current = lln::candidate_fields(person, UsernameRule::Given(&c.username));
            let (status, issues, fields) = match current {
                Ok(fields) if c.needs_push(&fields) => ("ok", Vec::new(), Some(fields)),
                Ok(_) => continue,
                // Issues count as a change only when the learner changed since the push.
                Err(e) if c.needs_update || person.updated_at > c.last_pushed_at => {
                    ("issues", e.issues, None)
                }
                Err(_) => continue,
            };
            rows.push((
                BulkRow {
                    learner: c.learner.clone(),
                    given_name: person.given_name.clone(),
                    family_name: person.family_name.clone(),
                    email: person.email.clone(),
                    candidate_id: c.candidate_id.to_string(),
                    username: c.username.clone(),
                    created_in_lln: c.created_in_lln,
                    updated_in_lln: c.updated_in_lln,
                    last_pushed_at: c.last_pushed_at,
                    status,
                    issues,
                    flagged: c.needs_update,
                    selected: status == "ok",
                },
                invitation,
                fields,
            ));
        }
        Ok(rows)
    }

    /// Pushes the bulk update (LLN-26, 28): the selected changed learners (all
    /// Ok ones when `selected` is None) except the excluded; the ones left out
    /// stay flagged for the next bulk update. Every record is tried; errors are
    /// reported per record afterwards.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn bulk_push(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        selected: Option<&[LearnerCode]>,
        excluded: &[LearnerCode],
        now: DateTime<Utc>,
    ) -> Result<BulkReport, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let rows = self.changed_rows(&connection).await?;
        let excluded: BTreeSet<&LearnerCode> = excluded.iter().collect();
        let selected: Option<BTreeSet<&LearnerCode>> = selected.map(|s| s.iter().collect());
        let api = self.api(&connection).await?;
        let mut report = BulkReport::default();
        let mut pushes = Vec::new();
        for (row, invitation, fields) in rows {
            let chosen = !excluded.contains(&row.learner)
                && selected.as_ref().is_none_or(|s| s.contains(&row.learner));
            if !chosen {
                if !invitation.candidate.needs_update {
                    let mut flagged = invitation.clone();
                    flagged.candidate.needs_update = true;
                    self.store.save_invitation(&flagged).await?;
                }
                self.history(
                    &connection,
                    now,
                    LlnAction::CandidateExcluded,
                    Some(&row.learner),
                    "left out of the bulk update; offered again next time".into(),
                )
                .await?;
                report.excluded.push(row.learner);
                continue;
            }
            let Some(fields) = fields else {
                let error = CandidateIssues { issues: row.issues }.to_string();
                report.failed.push(BulkFailure {
                    learner: row.learner,
                    error,
                    retryable: false,
                });
                continue;
            };
            pushes.push((row.learner, invitation, fields));
        }
        // OCSAT calls in flight at once: a bulk update of hundreds of learners
        // finishes within the API's time rather than one call after another.
        let (connection, api) = (&connection, api.as_ref());
        let outcomes: Vec<(LearnerCode, Result<_, LlnFlowError>)> =
            futures::stream::iter(pushes.into_iter().map(
                |(learner, invitation, fields)| async move {
                    let outcome = self
                        .push_one(connection, api, &invitation, fields, now)
                        .await;
                    (learner, outcome)
                },
            ))
            .buffer_unordered(BULK_PUSH_CONCURRENCY)
            .collect()
            .await;
        for (learner, outcome) in outcomes {
            match outcome {
                Ok(_) => report.pushed.push(learner),
                Err(LlnFlowError::Store(e)) => return Err(e.into()),
                Err(e) => {
                    self.history(
                        connection,
                        now,
                        LlnAction::CandidatePushFailed,
                        Some(&learner),
                        e.to_string(),
                    )
                    .await?;
                    report.failed.push(BulkFailure {
                        learner,
                        retryable: e.is_retryable(),
                        error: e.to_string(),
                    });
                }
            }
        }
        report.pushed.sort();
        report.failed.sort_by(|a, b| a.learner.cmp(&b.learner));
        if let Some(selected) = &selected {
            let offered: BTreeSet<&LearnerCode> = report
                .pushed
                .iter()
                .chain(&report.excluded)
                .chain(report.failed.iter().map(|f| &f.learner))
                .collect();
            report.unchanged = selected
                .iter()
                .filter(|l| !offered.contains(*l) && !excluded.contains(*l))
                .map(|l| (*l).clone())
                .collect();
        }
        tracing::info!(
            pushed = report.pushed.len(),
            excluded = report.excluded.len(),
            failed = report.failed.len(),
            "LLN bulk update"
        );
        Ok(report)
    }
}
