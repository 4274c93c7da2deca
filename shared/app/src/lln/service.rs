//! The LLN use cases' ports, the connection they work on, its history and
//! its tool.

use super::error::LlnFlowError;
use chrono::{DateTime, Utc};
use domain::TenantId;
use domain::connection::{ConnectionSettings, LlnSettings};
use domain::lln::{LlnError, LlnProduct};
use domain::ports::{
    ConnectionStore, DeliveryStore, JobQueue, LlnAction, LlnApi, LlnApis, LlnHistoryEntry,
    LlnStore, SisStore, StoreError,
};
use domain::sis::Learner;
use domain::{Connection, ConnectionId, ConnectionKind, LearnerCode};
use std::sync::Arc;

/// The LLN use cases over their ports.
#[derive(Clone)]
pub struct Lln {
    pub connections: Arc<dyn ConnectionStore>,
    pub sis: Arc<dyn SisStore>,
    pub store: Arc<dyn LlnStore>,
    pub apis: Arc<dyn LlnApis>,
    pub deliveries: Arc<dyn DeliveryStore>,
    pub queue: Arc<dyn JobQueue>,
    /// The tenant's zone dates an assessment's completion for the SMS.
    pub tenants: Arc<dyn domain::ports::TenantSettingsStore>,
}

pub(super) fn settings(connection: &Connection) -> Result<&LlnSettings, LlnFlowError> {
    match &connection.settings {
        ConnectionSettings::Ocsat(s) | ConnectionSettings::LlnRobot(s) => Ok(s),
        _ => Err(LlnFlowError::NotLln {
            connection: connection.id.clone(),
        }),
    }
}

pub(super) fn is_lln(kind: ConnectionKind) -> bool {
    LlnProduct::from_kind(kind).is_some()
}

impl Lln {
    /// The tenant's LLN connections (OCSAT, LLN Robot), by id: the ones a
    /// person chooses from when there are several.
    pub async fn lln_connections(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<Connection>, LlnFlowError> {
        let mut lln: Vec<Connection> = self
            .connections
            .connections(tenant)
            .await?
            .into_iter()
            .filter(|c| is_lln(c.kind()))
            .collect();
        lln.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(lln)
    }

    /// The named LLN connection, or the tenant's only one when none is named.
    pub async fn connection(
        &self,
        tenant: &TenantId,
        named: Option<&ConnectionId>,
    ) -> Result<Connection, LlnFlowError> {
        if let Some(id) = named {
            let c = self
                .connections
                .connection(tenant, id)
                .await?
                .ok_or_else(|| LlnFlowError::UnknownConnection {
                    connection: id.clone(),
                })?;
            settings(&c)?;
            return Ok(c);
        }
        let mut lln = self.lln_connections(tenant).await?;
        match lln.len() {
            0 => Err(LlnFlowError::NoLlnConnection),
            1 => Ok(lln.remove(0)),
            _ => Err(LlnFlowError::SeveralLlnConnections {
                connections: lln
                    .iter()
                    .map(|c| c.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    pub(super) async fn history(
        &self,
        connection: &Connection,
        at: DateTime<Utc>,
        action: LlnAction,
        learner: Option<&LearnerCode>,
        detail: String,
    ) -> Result<(), StoreError> {
        self.store
            .record_history(&LlnHistoryEntry {
                tenant: connection.tenant.clone(),
                connection: connection.id.clone(),
                at,
                action,
                learner: learner.cloned(),
                detail,
            })
            .await
    }

    pub(super) async fn learner(
        &self,
        tenant: &TenantId,
        code: &LearnerCode,
    ) -> Result<Learner, LlnFlowError> {
        self.sis
            .learner(tenant, code)
            .await?
            .ok_or_else(|| LlnFlowError::UnknownLearner {
                learner: code.clone(),
            })
    }

    pub(super) async fn api(
        &self,
        connection: &Connection,
    ) -> Result<Arc<dyn LlnApi>, LlnFlowError> {
        Ok(self.apis.for_connection(connection).await?)
    }

    /// Tests the connection: a token and one cheap call.
    pub async fn test(&self, connection: &Connection) -> Result<(), LlnError> {
        self.apis
            .for_connection(connection)
            .await?
            .test_connection()
            .await
    }
}
