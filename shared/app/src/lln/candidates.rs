//! A learner's candidate: created (or an earlier create adopted), shown and
//! updated in the tool.

use super::error::LlnFlowError;
use super::service::{Lln, settings};
use chrono::{DateTime, Utc};
use domain::TenantId;
use domain::lln::{
    self, CandidateFields, FieldDiff, FieldIssue, LlnCandidate, LlnError, RemoteCandidate,
    UsernameRule,
};
use domain::ports::{LlnAction, LlnApi, LlnInvitation};
use domain::{Connection, ConnectionId, LearnerCode};
use serde::Serialize;

/// A learner's candidate as the "edit candidate" screen shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateView {
    pub connection: ConnectionId,
    pub invitation: LlnInvitation,
    /// What would be pushed now (None when the learner has issues).
    pub current: Option<CandidateFields>,
    /// What keeps the learner from being pushed, every field at once.
    pub issues: Vec<FieldIssue>,
    /// The candidate as the tool holds it (None: the tool no longer has it).
    pub remote: Option<RemoteCandidate>,
    /// Every shared field that differs between the learner and the tool.
    pub out_of_sync: Vec<FieldDiff>,
}

/// What "create candidate" would push for a learner (see [`Lln::candidate_preview`]).
#[derive(Debug, Clone)]
pub struct CandidatePreview {
    pub connection: ConnectionId,
    pub learner: domain::sis::Learner,
    /// The fields with the default username, or every issue at once.
    pub fields: Result<CandidateFields, lln::CandidateIssues>,
    /// The candidate the learner already has in this connection.
    pub existing: Option<LlnInvitation>,
}

impl Lln {
    /// Creates the learner's candidate in the tool (LLN-15..20, LLN-08): every
    /// missing required field listed at once; the username as given, else the
    /// learner's email, else `Firstname.Surname` when another candidate of the
    /// connection has that email or the tool already has it as a username. An
    /// earlier create whose answer was lost is recognised and adopted.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, learner = %learner))]
    pub async fn create_candidate(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        learner: &LearnerCode,
        username: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<LlnInvitation, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let settings = settings(&connection)?.clone();
        let person = self.learner(tenant, learner).await?;
        if let Some(existing) = self
            .store
            .invitation(tenant, &connection.id, learner)
            .await?
        {
            return Err(LlnFlowError::AlreadyInvited {
                learner: learner.clone(),
                candidate: existing.candidate.candidate_id.to_string(),
            });
        }
        let email_unique = self.email_unique(&connection, &person).await?;
        let rule = match username {
            Some(given) => UsernameRule::Given(given),
            None => UsernameRule::Default { email_unique },
        };
        let fields = lln::candidate_fields(&person, rule).map_err(LlnFlowError::Issues)?;
        let api = self.api(&connection).await?;
        let (remote, fields) = match self.create_or_adopt(api.as_ref(), &fields).await {
            Err(LlnFlowError::Tool(LlnError::Duplicate { field }))
                if field == "username"
                    && username.is_none()
                    && matches!(rule, UsernameRule::Default { email_unique: true }) =>
            {
                // The tool has the email as someone's username: Firstname.Surname.
                let fields = lln::candidate_fields(
                    &person,
                    UsernameRule::Default {
                        email_unique: false,
                    },
                )
                .map_err(LlnFlowError::Issues)?;
                (self.create_or_adopt(api.as_ref(), &fields).await?, fields)
            }
            other => (other?, fields),
        };
        let invitation = LlnInvitation {
            candidate: LlnCandidate::pushed(
                tenant.clone(),
                connection.id.clone(),
                &remote,
                fields,
                now,
            ),
            staff: settings.default_staff.clone(),
        };
        self.store.save_invitation(&invitation).await?;
        self.history(
            &connection,
            now,
            LlnAction::CandidateCreated,
            Some(learner),
            format!("candidate {} created", remote.id),
        )
        .await?;
        tracing::info!(candidate = %remote.id, "LLN candidate created");
        Ok(invitation)
    }

    /// Whether the learner's email is shared with no other candidate of the
    /// connection (the tool refusing the email as a username is handled after a
    /// create): the default username is then the email, else `Firstname.Surname`.
    async fn email_unique(
        &self,
        connection: &Connection,
        person: &domain::sis::Learner,
    ) -> Result<bool, LlnFlowError> {
        Ok(match person.email.as_deref().map(str::trim) {
            Some(email) if !email.is_empty() => self
                .store
                .invitations_with_email(&connection.tenant, &connection.id, email)
                .await?
                .iter()
                .all(|i| i.candidate.learner == person.code),
            _ => true,
        })
    }

    /// What "create candidate" would push for a learner, before anything is
    /// sent (the console's create screen): the learner, the fields with the
    /// default username (as [`Lln::create_candidate`] chooses it), or every
    /// missing or invalid field at once; and the candidate it already has.
    pub async fn candidate_preview(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        learner: &LearnerCode,
    ) -> Result<CandidatePreview, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let person = self.learner(tenant, learner).await?;
        let existing = self
            .store
            .invitation(tenant, &connection.id, learner)
            .await?;
        let email_unique = self.email_unique(&connection, &person).await?;
        let fields = lln::candidate_fields(&person, UsernameRule::Default { email_unique });
        Ok(CandidatePreview {
            connection: connection.id,
            learner: person,
            fields,
            existing,
        })
    }

    pub(super) async fn create_or_adopt(
        &self,
        api: &dyn LlnApi,
        fields: &CandidateFields,
    ) -> Result<RemoteCandidate, LlnFlowError> {
        match api.create_candidate(fields).await {
            Ok(remote) => Ok(remote),
            Err(LlnError::Duplicate { field }) => {
                match api.find_candidate(&fields.username, &fields.email).await? {
                    Some(found) if found.fields.learner_code == fields.learner_code => Ok(found),
                    _ => Err(LlnError::Duplicate { field }.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The learner's candidate with what is out of sync with the tool, field by
    /// field (LLN-21).
    pub async fn candidate(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        learner: &LearnerCode,
    ) -> Result<CandidateView, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let invitation = self
            .store
            .invitation(tenant, &connection.id, learner)
            .await?
            .ok_or_else(|| LlnFlowError::NoCandidate {
                learner: learner.clone(),
            })?;
        let person = self.learner(tenant, learner).await?;
        let current =
            lln::candidate_fields(&person, UsernameRule::Given(&invitation.candidate.username));
        let remote = self
            .api(&connection)
            .await?
            .candidate(&invitation.candidate.candidate_id)
            .await?;
        let out_of_sync = match (&current, &remote) {
            (Ok(ours), Some(theirs)) => lln::out_of_sync(ours, &theirs.fields),
            _ => Vec::new(),
        };
        let (current, issues) = match current {
            Ok(f) => (Some(f), Vec::new()),
            Err(e) => (None, e.issues),
        };
        Ok(CandidateView {
            connection: connection.id,
            invitation,
            current,
            issues,
            remote,
            out_of_sync,
        })
    }

    pub(super) async fn push_one(
        &self,
        connection: &Connection,
        api: &dyn LlnApi,
        invitation: &LlnInvitation,
        fields: CandidateFields,
        now: DateTime<Utc>,
    ) -> Result<LlnInvitation, LlnFlowError> {
        let remote = api
            .update_candidate(&invitation.candidate.candidate_id, &fields)
            .await?;
        let updated = LlnInvitation {
            candidate: LlnCandidate::pushed(
                connection.tenant.clone(),
                connection.id.clone(),
                &remote,
                fields,
                now,
            ),
            staff: invitation.staff.clone(),
        };
        self.store.save_invitation(&updated).await?;
        self.history(
            connection,
            now,
            LlnAction::CandidateUpdated,
            Some(&updated.candidate.learner),
            format!("candidate {} updated", remote.id),
        )
        .await?;
        Ok(updated)
    }

    /// Pushes the learner's current shared fields to the tool (LLN-22); the
    /// username stays the candidate's unless a new one is given.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, learner = %learner))]
    pub async fn update_candidate(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        learner: &LearnerCode,
        username: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<LlnInvitation, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let invitation = self
            .store
            .invitation(tenant, &connection.id, learner)
            .await?
            .ok_or_else(|| LlnFlowError::NoCandidate {
                learner: learner.clone(),
            })?;
        let person = self.learner(tenant, learner).await?;
        let rule = UsernameRule::Given(username.unwrap_or(&invitation.candidate.username));
        let fields = lln::candidate_fields(&person, rule).map_err(LlnFlowError::Issues)?;
        let api = self.api(&connection).await?;
        match self
            .push_one(&connection, api.as_ref(), &invitation, fields, now)
            .await
        {
            Ok(updated) => Ok(updated),
            Err(e) => {
                self.history(
                    &connection,
                    now,
                    LlnAction::CandidatePushFailed,
                    Some(learner),
                    e.to_string(),
                )
                .await?;
                Err(e)
            }
        }
    }
}
