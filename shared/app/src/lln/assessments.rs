//! Saved assessments: listed, shown, edited, and one learner's report.

use super::error::LlnFlowError;
use super::service::Lln;
use chrono::{DateTime, Utc};
use domain::TenantId;
use domain::lln::{AssessmentId, LlnProduct, SavedAssessment};
use domain::ports::LlnAction;
use domain::{Connection, ConnectionId, LearnerCode};
use serde::Serialize;

/// A person's change to a saved assessment: only the fields sent change;
/// `Some(None)` clears one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssessmentEdit {
    pub status: Option<Option<String>>,
    pub staff: Option<Option<String>>,
    pub follow_up_comment: Option<Option<String>>,
}

/// Everything the "edit assessment" screen shows, for its report.
#[derive(Debug, Clone, Serialize)]
pub struct AssessmentReport {
    pub connection: ConnectionId,
    pub connection_name: String,
    pub product: &'static str,
    pub learner: LearnerCode,
    pub learner_name: Option<String>,
    pub candidate_id: String,
    pub username: Option<String>,
    pub saved: SavedAssessment,
}

impl Lln {
    /// A saved assessment.
    pub async fn assessment(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        id: &AssessmentId,
    ) -> Result<(Connection, SavedAssessment), LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let saved = self
            .store
            .assessment(tenant, &connection.id, id)
            .await?
            .ok_or_else(|| LlnFlowError::UnknownAssessment { id: id.to_string() })?;
        Ok((connection, saved))
    }

    /// Saved assessments, of one learner or all.
    pub async fn assessments(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        learner: Option<&LearnerCode>,
    ) -> Result<Vec<SavedAssessment>, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let mut all = self.store.assessments(tenant, &connection.id).await?;
        if let Some(code) = learner {
            all.retain(|a| &a.learner == code);
        }
        all.sort_by_key(|a| a.assessment.completed_at);
        Ok(all)
    }

    /// Records a person's status, staff and follow-up comment (LLN-38).
    pub async fn edit_assessment(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        id: &AssessmentId,
        edit: AssessmentEdit,
        now: DateTime<Utc>,
    ) -> Result<SavedAssessment, LlnFlowError> {
        let (connection, mut saved) = self.assessment(tenant, named, id).await?;
        let mut changed = Vec::new();
        if let Some(v) = edit.status {
            changed.push("status");
            saved.status = v;
        }
        if let Some(v) = edit.staff {
            changed.push("staff");
            saved.staff = v;
        }
        if let Some(v) = edit.follow_up_comment {
            changed.push("follow_up_comment");
            saved.follow_up_comment = v;
        }
        if changed.is_empty() {
            return Ok(saved);
        }
        self.store.update_assessment(&saved).await?;
        self.history(
            &connection,
            now,
            LlnAction::AssessmentEdited,
            Some(&saved.learner),
            format!("assessment {id}: {} changed", changed.join(", ")),
        )
        .await?;
        Ok(saved)
    }

    /// The assessment's report: everything its edit view shows (LLN-41).
    pub async fn assessment_report(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        id: &AssessmentId,
    ) -> Result<AssessmentReport, LlnFlowError> {
        let (connection, saved) = self.assessment(tenant, named, id).await?;
        let person = self.sis.learner(tenant, &saved.learner).await?;
        let invitation = self
            .store
            .invitation(tenant, &connection.id, &saved.learner)
            .await?;
        Ok(AssessmentReport {
            product: LlnProduct::from_kind(connection.kind()).map_or("", LlnProduct::name),
            connection_name: connection.name.clone(),
            connection: connection.id,
            learner: saved.learner.clone(),
            learner_name: person.map(|p| p.display_name()),
            candidate_id: saved.assessment.candidate_id.to_string(),
            username: invitation.map(|i| i.candidate.username),
            saved,
        })
    }
}
