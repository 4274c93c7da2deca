//! Downloads: assessments read from the tool, held open, then saved (each
//! recorded once and delivered to the SMS) or cancelled.

use super::error::LlnFlowError;
use super::service::{Lln, settings};
use crate::deliveries::create_delivery;
use chrono::{DateTime, Utc};
use domain::TenantId;
use domain::delivery::{DeliveryId, DeliveryKey, DeliveryKind};
use domain::lln::{self, AssessmentId, DownloadStatus, LlnProduct, SavedAssessment};
use domain::ports::{LlnAction, LlnDownload, LlnDownloadState, Written};
use domain::{AssessableId, ConnectionId, ConnectionKind, LearnerCode, OfferingId};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// What saving a download did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SaveReport {
    pub download: String,
    pub saved: Vec<String>,
    pub deliveries: Vec<DeliveryId>,
    /// The connection's modified date after saving.
    pub modified_since: Option<DateTime<Utc>>,
}

/// A download id: time-ordered (UTC timestamp, then 32 random bits).
pub(super) fn new_download_id(now: DateTime<Utc>) -> String {
    format!(
        "{}-{:08x}",
        now.format("%Y%m%dT%H%M%S%3fZ"),
        rand::random::<u32>()
    )
}

pub(super) fn state_name(state: LlnDownloadState) -> &'static str {
    match state {
        LlnDownloadState::Open => "open",
        LlnDownloadState::Saved => "saved",
        LlnDownloadState::Cancelled => "cancelled",
    }
}

pub(super) fn results_text(a: &lln::Assessment) -> String {
    a.results
        .iter()
        .map(|r| {
            let parts: Vec<String> = [
                r.level.clone(),
                r.score.map(|s| s.to_string()),
                r.band.clone(),
            ]
            .into_iter()
            .flatten()
            .collect();
            format!("{}: {}", r.skill, parts.join(" / "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The delivery payload of a saved assessment: everything its edit view shows,
/// and `completed_on`, the completion's day in the tenant's `zone`.
pub fn delivery_payload(
    saved: &SavedAssessment,
    product: Option<LlnProduct>,
    zone: domain::zone::TenantZone,
) -> serde_json::Value {
    let a = &saved.assessment;
    serde_json::json!({
        "completed_on": zone.date_of(a.completed_at).to_string(),
        "product": product.map(LlnProduct::name),
        "assessment_id": a.id,
        "candidate_id": a.candidate_id,
        "name": a.name,
        "skills": a.skills,
        "completed_at": a.completed_at,
        "sitting_ids": a.sitting_ids,
        "results": a.results,
        "status": saved.status,
        "staff": saved.staff,
        "follow_up_comment": saved.follow_up_comment,
        "saved_at": saved.saved_at,
    })
}

impl Lln {
    /// Downloads the assessments modified after the stored modified date (or
    /// `modified_after`, a person's override), for every candidate or one
    /// learner's, classifies each Ok / Error / Done and holds the download open
    /// (LLN-29..34).
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn download(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        learner: Option<&LearnerCode>,
        modified_after: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<LlnDownload, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let only = match learner {
            Some(code) => Some(
                self.store
                    .invitation(tenant, &connection.id, code)
                    .await?
                    .ok_or_else(|| LlnFlowError::NoCandidate {
                        learner: code.clone(),
                    })?
                    .candidate
                    .candidate_id,
            ),
            None => None,
        };
        let stored = self.store.modified_since(tenant, &connection.id).await?;
        let since = modified_after.or(stored);
        let api = self.api(&connection).await?;
        let mut assessments = api
            .assessments_after(since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH))
            .await?;
        if let Some(candidate) = &only {
            assessments.retain(|a| &a.candidate_id == candidate);
        }
        let candidates: HashMap<_, _> = self
            .store
            .invitations(tenant, &connection.id)
            .await?
            .into_iter()
            .map(|i| (i.candidate.candidate_id, i.candidate.learner))
            .collect();
        let saved: HashSet<AssessmentId> = self
            .store
            .assessments(tenant, &connection.id)
            .await?
            .into_iter()
            .map(|s| s.assessment.id)
            .collect();
        let items = lln::classify_download(assessments, &candidates, &saved);
        let download = LlnDownload {
            tenant: tenant.clone(),
            connection: connection.id.clone(),
            id: new_download_id(now),
            learner: learner.cloned(),
            modified_after: since,
            overridden: modified_after.is_some(),
            items,
            state: LlnDownloadState::Open,
            created_at: now,
            closed_at: None,
        };
        self.store.create_download(&download).await?;
        let count =
            |f: fn(&DownloadStatus) -> bool| download.items.iter().filter(|i| f(&i.status)).count();
        self.history(
            &connection,
            now,
            LlnAction::AssessmentsDownloaded,
            learner,
            format!(
                "download {}: {} assessments ({} ok, {} error, {} done)",
                download.id,
                download.items.len(),
                count(|s| matches!(s, DownloadStatus::Ok)),
                count(|s| matches!(s, DownloadStatus::Error { .. })),
                count(|s| matches!(s, DownloadStatus::Done)),
            ),
        )
        .await?;
        Ok(download)
    }

    /// A download as stored.
    pub async fn get_download(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        id: &str,
    ) -> Result<LlnDownload, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        self.store
            .download(tenant, &connection.id, id)
            .await?
            .ok_or_else(|| LlnFlowError::UnknownDownload { id: id.to_owned() })
    }

    pub(super) async fn sms(&self, tenant: &TenantId) -> Result<ConnectionId, LlnFlowError> {
        self.connections
            .connections(tenant)
            .await?
            .into_iter()
            .find(|c| c.kind() == ConnectionKind::Sms && c.enabled)
            .map(|c| c.id)
            .ok_or(LlnFlowError::NoSms)
    }

    /// Saves an open download (LLN-35, 37, 39, 40): each Ok assessment is recorded
    /// once with the connection's default status and staff and delivered to the
    /// SMS; the modified date advances (for a download of every candidate). A
    /// save interrupted half-way can be repeated: what was saved stays, once.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, download = %id))]
    pub async fn save_download(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<SaveReport, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let settings = settings(&connection)?.clone();
        let download = self.get_download(tenant, Some(&connection.id), id).await?;
        if download.state != LlnDownloadState::Open {
            return Err(LlnFlowError::DownloadClosed {
                id: id.to_owned(),
                state: state_name(download.state),
            });
        }
        let sms = self.sms(tenant).await?;
        let zone = self.tenants.tenant_settings(tenant).await?.zone();
        let product = LlnProduct::from_kind(connection.kind());
        let offering =
            OfferingId::parse(connection.id.as_str()).map_err(|source| LlnFlowError::BadId {
                id: connection.id.to_string(),
                source,
            })?;
        let mut report = SaveReport {
            download: download.id.clone(),
            saved: Vec::new(),
            deliveries: Vec::new(),
            modified_since: None,
        };
        for item in &download.items {
            let (DownloadStatus::Ok, Some(learner)) = (&item.status, &item.learner) else {
                continue;
            };
            let new = SavedAssessment::new(
                tenant.clone(),
                connection.id.clone(),
                learner.clone(),
                item.assessment.clone(),
                &settings,
                now,
            );
            let saved = match self.store.save_assessment(&new).await? {
                Written::Done => new,
                // Saved before (a repeated save): deliver what was stored.
                Written::AlreadyDone => self
                    .store
                    .assessment(tenant, &connection.id, &new.assessment.id)
                    .await?
                    .unwrap_or(new),
            };
            let assessable =
                AssessableId::parse(saved.assessment.id.as_str()).map_err(|source| {
                    LlnFlowError::BadId {
                        id: saved.assessment.id.to_string(),
                        source,
                    }
                })?;
            let key = DeliveryKey {
                tenant: tenant.clone(),
                learner: learner.clone(),
                offering: offering.clone(),
                assessable: Some(assessable),
                kind: DeliveryKind::LlnAssessment,
            };
            let created = create_delivery(
                self.deliveries.as_ref(),
                self.queue.as_ref(),
                &key,
                &sms,
                delivery_payload(&saved, product, zone),
                now,
            )
            .await?;
            report.deliveries.push(match created {
                crate::deliveries::Created::New(id)
                | crate::deliveries::Created::Unchanged(id)
                | crate::deliveries::Created::Replaced(id) => id,
                crate::deliveries::Created::Superseded { delivered, .. } => delivered,
            });
            self.history(
                &connection,
                now,
                LlnAction::AssessmentSaved,
                Some(learner),
                format!("assessment {} saved", saved.assessment.id),
            )
            .await?;
            report.saved.push(saved.assessment.id.to_string());
        }
        let current = self.store.modified_since(tenant, &connection.id).await?;
        report.modified_since = current;
        if download.learner.is_none()
            && let Some(next) = lln::next_modified_since(current, &download.items)
            && Some(next) != current
        {
            self.store
                .save_modified_since(tenant, &connection.id, next)
                .await?;
            report.modified_since = Some(next);
        }
        self.store
            .close_download(tenant, &connection.id, id, LlnDownloadState::Saved, now)
            .await?;
        self.history(
            &connection,
            now,
            LlnAction::DownloadSaved,
            download.learner.as_ref(),
            format!("download {id}: {} assessments saved", report.saved.len()),
        )
        .await?;
        Ok(report)
    }

    /// Cancels an open download (LLN-36): nothing is saved, the modified date
    /// stays, so the next download brings the same assessments again.
    pub async fn cancel_download(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<LlnDownload, LlnFlowError> {
        let connection = self.connection(tenant, named).await?;
        let download = self.get_download(tenant, Some(&connection.id), id).await?;
        if download.state != LlnDownloadState::Open {
            return Err(LlnFlowError::DownloadClosed {
                id: id.to_owned(),
                state: state_name(download.state),
            });
        }
        self.store
            .close_download(tenant, &connection.id, id, LlnDownloadState::Cancelled, now)
            .await?;
        self.history(
            &connection,
            now,
            LlnAction::DownloadCancelled,
            download.learner.as_ref(),
            format!("download {id} cancelled: nothing saved"),
        )
        .await?;
        self.get_download(tenant, Some(&connection.id), id).await
    }
}
