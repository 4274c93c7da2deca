//! Linking an offering to a Moodle course, and keeping the course's dates and
//! visibility in step with the offering.

use crate::push::{PushError, moodle_connection};
use chrono::{DateTime, Utc};
use domain::learning::{CourseSchedule, LmsCategory, NewLmsCourse};
use domain::ports::{ConnectionStore, LearningSystems, LinkStore, SisStore, TenantSettingsStore};
use domain::sis::{CourseLink, Offering};
use domain::zone::TenantZone;
use domain::{ConnectionId, OfferingId, TenantId};

/// How an offering finds its course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkChoice {
    /// The course whose ID number is the offering's id ("check again" is this, again).
    FindByIdnumber,
    /// A course a person picked by its Moodle id.
    CourseId(i64),
    /// A new course: short and full name, one of Moodle's categories; dates and
    /// visibility come from the offering, the ID number is the offering's id.
    Create {
        shortname: String,
        fullname: String,
        category: i64,
    },
}

/// A new course as a person asks for it (see [`LinkChoice::Create`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseDraft {
    pub shortname: String,
    pub fullname: String,
    pub category: i64,
}

/// A link request of the wrong shape, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkRequestError {
    /// Both a course to link and a course to create (`links.create`).
    #[error("send course_id or create, not both")]
    Both,
    /// A new course's short or full name is empty or blank.
    #[error("{field} must not be empty")]
    EmptyName { field: &'static str },
}

impl LinkRequestError {
    /// The request field the refusal is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Both => "links.create",
            Self::EmptyName { field } => field,
        }
    }
}

impl LinkChoice {
    /// How a request links: a course id or a course to create, not both; with
    /// neither, the course whose ID number is the offering's id. A new
    /// course's names must not be blank.
    pub fn from_request(
        course_id: Option<i64>,
        create: Option<CourseDraft>,
    ) -> Result<Self, LinkRequestError> {
        match (course_id, create) {
            (Some(_), Some(_)) => Err(LinkRequestError::Both),
            (Some(id), None) => Ok(LinkChoice::CourseId(id)),
            (None, Some(new)) => {
                for (field, value) in [
                    ("links.create.shortname", &new.shortname),
                    ("links.create.fullname", &new.fullname),
                ] {
                    if value.trim().is_empty() {
                        return Err(LinkRequestError::EmptyName { field });
                    }
                }
                Ok(LinkChoice::Create {
                    shortname: new.shortname,
                    fullname: new.fullname,
                    category: new.category,
                })
            }
            (None, None) => Ok(LinkChoice::FindByIdnumber),
        }
    }
}

/// The ports linking uses.
pub struct Courses<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub sis: &'a dyn SisStore,
    pub links: &'a dyn LinkStore,
    pub learning: &'a dyn LearningSystems,
    /// The tenant's zone turns the offering's dates into the course's times.
    pub tenants: &'a dyn TenantSettingsStore,
}

/// A course's start and end for Moodle: local midnight (in the tenant's zone)
/// of the offering's first day, and the last second of its last day. Moodle
/// shows a course as past once `enddate` is behind it, so the course stays in
/// progress through the whole of its last day, and the end reads back as that
/// same day in the zone.
fn course_times(
    off: &Offering,
    zone: TenantZone,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    (
        off.start_date.map(|d| zone.start_of_day(d)),
        off.end_date.map(|d| zone.end_of_day(d)),
    )
}

impl Courses<'_> {
    /// Moodle's categories, to pick one for a new course.
    pub async fn categories(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<LmsCategory>, PushError> {
        let (conn, _) = moodle_connection(self.connections, tenant, connection).await?;
        let lms = self.learning.for_connection(&conn).await?;
        Ok(lms.categories().await?)
    }

    /// Links an offering to a course and stores the link. Linking again with
    /// the same course changes nothing.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, connection = %connection, offering = %offering))]
    pub async fn link(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        offering: &OfferingId,
        choice: LinkChoice,
        now: DateTime<Utc>,
    ) -> Result<CourseLink, PushError> {
        let (conn, _) = moodle_connection(self.connections, tenant, connection).await?;
        let Some(off) = self.sis.offering(tenant, offering).await? else {
            return Err(PushError::UnknownOffering {
                tenant: tenant.clone(),
                offering: offering.clone(),
            });
        };
        let lms = self.learning.for_connection(&conn).await?;
        let course = match choice {
            LinkChoice::FindByIdnumber => lms
                .course_by_idnumber(offering.as_str())
                .await?
                .ok_or_else(|| PushError::CourseNotFound {
                    idnumber: offering.to_string(),
                })?,
            LinkChoice::CourseId(id) => lms
                .course(id)
                .await?
                .ok_or(PushError::UnknownCourse { course: id })?,
            LinkChoice::Create {
                shortname,
                fullname,
                category,
            } => {
                // A course made on an attempt whose answer was lost is found, not made twice.
                if let Some(found) = lms.course_by_idnumber(offering.as_str()).await? {
                    found
                } else {
                    if !lms.categories().await?.iter().any(|c| c.id == category) {
                        return Err(PushError::UnknownCategory { category });
                    }
                    let zone = self.tenants.tenant_settings(tenant).await?.zone();
                    let (start, end) = course_times(&off, zone);
                    lms.create_course(&NewLmsCourse {
                        shortname,
                        fullname,
                        idnumber: offering.to_string(),
                        category,
                        start,
                        end,
                        visible: off.status.course_visible(),
                    })
                    .await
                    .map_err(|f| match PushError::from(f) {
                        PushError::Refused { reason, .. } => PushError::Refused {
                            what: "course",
                            reason,
                        },
                        other => other,
                    })?
                }
            }
        };
        if let Some(existing) = self.links.link(tenant, offering, connection).await?
            && existing.course_id == course.id
        {
            return Ok(existing);
        }
        let link = CourseLink {
            tenant: tenant.clone(),
            offering: offering.clone(),
            connection: connection.clone(),
            course_id: course.id,
            course_idnumber: Some(course.idnumber).filter(|i| !i.is_empty()),
            course_shortname: Some(course.shortname),
            linked_at: now,
        };
        self.links.save_link(&link).await?;
        Ok(link)
    }

    /// The offering's dates or status changed: every linked course (one per
    /// Moodle connection) gets the offering's start and end dates and is
    /// visible only while the offering is active. Returns the courses updated.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, offering = %offering))]
    pub async fn sync_offering(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
    ) -> Result<crate::push::Synced, PushError> {
        let Some(off) = self.sis.offering(tenant, offering).await? else {
            return Err(PushError::UnknownOffering {
                tenant: tenant.clone(),
                offering: offering.clone(),
            });
        };
        let zone = self.tenants.tenant_settings(tenant).await?.zone();
        let (start, end) = course_times(&off, zone);
        let mut synced = crate::push::Synced::default();
        for conn in self.connections.connections(tenant).await? {
            if conn.kind() != domain::ConnectionKind::Moodle {
                continue;
            }
            let result = async {
                let Some(link) = self.links.link(tenant, offering, &conn.id).await? else {
                    return Ok(false);
                };
                let lms = self.learning.for_connection(&conn).await?;
                lms.update_course(&CourseSchedule {
                    course: link.course_id,
                    start,
                    end,
                    visible: off.status.course_visible(),
                })
                .await
                .map_err(|f| match PushError::from(f) {
                    PushError::Refused { reason, .. } => PushError::Refused {
                        what: "course update",
                        reason,
                    },
                    other => other,
                })?;
                Ok(true)
            }
            .await;
            synced.add(&conn.id, result)?;
        }
        tracing::info!(
            courses = synced.updated,
            refused = synced.failures.len(),
            "offering synced"
        );
        Ok(synced)
    }
}
