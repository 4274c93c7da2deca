//! Mapping an offering's assessables to the linked course's activities.

use super::error::{ResultsError, moodle_settings};
use super::service::Results;
use chrono::{DateTime, Utc};
use domain::ports::GradeSource;
use domain::results::{self, CourseActivity, MappedActivity, Mapping, MappingError};
use domain::sis::CourseLink;
use domain::{AssessableId, ConnectionId, OfferingId, TenantId};

impl Results<'_> {
    /// A linked course's activities, with their type and whether they can be mapped.
    pub async fn activities(
        &self,
        source: &dyn GradeSource,
        tenant: &TenantId,
        offering: &OfferingId,
        connection: &ConnectionId,
    ) -> Result<Vec<CourseActivity>, ResultsError> {
        let link = self.require_link(tenant, offering, connection).await?;
        Ok(source.course_activities(link.course_id).await?)
    }

    pub(super) async fn require_link(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        connection: &ConnectionId,
    ) -> Result<CourseLink, ResultsError> {
        self.links
            .link(tenant, offering, connection)
            .await?
            .ok_or_else(|| ResultsError::NotLinked {
                offering: offering.clone(),
                connection: connection.clone(),
            })
    }

    /// Maps an assessable to activities of the linked course; a type that
    /// cannot be mapped is refused by name.
    #[allow(clippy::too_many_arguments)]
    pub async fn map(
        &self,
        source: &dyn GradeSource,
        tenant: &TenantId,
        offering: &OfferingId,
        connection: &ConnectionId,
        assessable: &AssessableId,
        cmids: &[i64],
        now: DateTime<Utc>,
    ) -> Result<Mapping, ResultsError> {
        let link = self.require_link(tenant, offering, connection).await?;
        let stored = self.sis.offering(tenant, offering).await?.ok_or_else(|| {
            ResultsError::UnknownOffering {
                offering: offering.clone(),
            }
        })?;
        let Some(found) = stored.assessables.iter().find(|a| &a.id == assessable) else {
            return Err(MappingError::UnknownAssessable {
                assessable: assessable.clone(),
            }
            .into());
        };
        let conn = self
            .connections
            .connection(tenant, connection)
            .await?
            .ok_or_else(|| ResultsError::UnknownConnection {
                connection: connection.clone(),
            })?;
        results::check_level(&moodle_settings(&conn)?.result_levels, found)?;
        let course = source.course_activities(link.course_id).await?;
        let activities: Vec<MappedActivity> = results::check_mapping(&course, cmids)?;
        let mapping = Mapping {
            tenant: tenant.clone(),
            offering: offering.clone(),
            connection: connection.clone(),
            assessable: assessable.clone(),
            activities,
            updated_at: now,
        };
        self.results.save_mapping(&mapping).await?;
        Ok(mapping)
    }

    /// Removes an assessable's mapping: its results are no longer read from
    /// the course (those read already stay). The connection must be one of the
    /// tenant's Moodle connections; an assessable not mapped changes nothing.
    pub async fn unmap(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        connection: &ConnectionId,
        assessable: &AssessableId,
    ) -> Result<(), ResultsError> {
        let conn = self
            .connections
            .connection(tenant, connection)
            .await?
            .ok_or_else(|| ResultsError::UnknownConnection {
                connection: connection.clone(),
            })?;
        moodle_settings(&conn)?;
        self.results
            .delete_mapping(tenant, offering, connection, assessable)
            .await?;
        Ok(())
    }
}
