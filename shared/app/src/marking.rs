//! Marking an offering "send to CourseKey": the flag (as sent, as stored, or
//! the programme's default), the un-mark refused once synchronised, and the
//! roster push queued for a marked offering.

use domain::attendance::{
    ClassSession, CourseKeyOffering, HoursType, ProgrammeCourse, SendFlagError,
    programme_send_default,
};
use domain::connection::{ConnectionSettings, CourseKeySettings};
use domain::ports::{AttendanceStore, ConnectionStore, JobQueue, QueueError, SisStore, StoreError};
use domain::{ConnectionId, Job, OfferingId, TenantId};

/// The ports marking uses.
pub struct Marking<'a> {
    pub connections: &'a dyn ConnectionStore,
    pub attendance: &'a dyn AttendanceStore,
    pub sis: &'a dyn SisStore,
    pub queue: &'a dyn JobQueue,
}

/// What a person sets on an offering's CourseKey side.
#[derive(Debug, Clone)]
pub struct MarkInput {
    /// Left out: as stored, or for a new one the programme course's flag, else
    /// the connection's "send new programme courses" setting.
    pub send_to_coursekey: Option<bool>,
    /// The programme and course it delivers, as sent (checked after the offering is found).
    pub programme: Option<(String, String)>,
    pub hours_type: HoursType,
    pub instructors: Vec<String>,
    pub classes: Vec<ClassSession>,
}

#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    #[error("offering {offering} does not exist")]
    UnknownOffering { offering: OfferingId },
    /// Un-marking an offering CourseKey already has (a 409 for a person).
    #[error(transparent)]
    Programme(#[from] domain::IdError),
    #[error(transparent)]
    Unmark(#[from] SendFlagError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the roster push could not be queued")]
    Queue(#[source] QueueError),
}

/// The tenant's CourseKey connection (its first, by id) and its settings.
pub async fn coursekey_connection(
    connections: &dyn ConnectionStore,
    tenant: &TenantId,
) -> Result<Option<(ConnectionId, CourseKeySettings)>, StoreError> {
    let connections = connections.connections(tenant).await?;
    Ok(connections.into_iter().find_map(|c| match c.settings {
        ConnectionSettings::CourseKey(s) => Some((c.id, s)),
        _ => None,
    }))
}

impl Marking<'_> {
    /// Stores the offering's CourseKey side and, when it is marked and the
    /// tenant has a CourseKey connection, queues its roster push.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, offering = %offering))]
    pub async fn mark(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        input: MarkInput,
    ) -> Result<CourseKeyOffering, MarkError> {
        if self.sis.offering(tenant, offering).await?.is_none() {
            return Err(MarkError::UnknownOffering {
                offering: offering.clone(),
            });
        }
        let programme = input
            .programme
            .map(|(programme, course)| ProgrammeCourse::parse(programme, course))
            .transpose()?;
        let existing = self.attendance.coursekey_offering(tenant, offering).await?;
        let send = match (input.send_to_coursekey, &existing) {
            (Some(send), _) => send,
            (None, Some(known)) => known.send_to_coursekey,
            (None, None) => {
                let flag = match &programme {
                    Some(pc) => self.attendance.programme_course_send(tenant, pc).await?,
                    None => None,
                };
                let settings = coursekey_connection(self.connections, tenant)
                    .await?
                    .map(|(_, s)| s)
                    .unwrap_or_default();
                programme_send_default(programme.as_ref(), flag, &settings)
            }
        };
        let mut ck = existing.unwrap_or(CourseKeyOffering {
            tenant: tenant.clone(),
            offering: offering.clone(),
            send_to_coursekey: false,
            hours_type: HoursType::default(),
            instructors: vec![],
            classes: vec![],
            synchronized_at: None,
            last_error: None,
            pushed_fingerprint: None,
            pushed_classes: vec![],
        });
        ck.set_send(send)?;
        ck.hours_type = input.hours_type;
        ck.instructors = input.instructors;
        ck.classes = input.classes;
        self.attendance.save_coursekey_offering(&ck).await?;
        if ck.send_to_coursekey
            && let Some((connection, _)) = coursekey_connection(self.connections, tenant).await?
        {
            let job = Job::PushCourseKeyRoster {
                tenant: tenant.clone(),
                connection,
                offering: offering.clone(),
            };
            let failures = self
                .queue
                .enqueue(std::slice::from_ref(&job))
                .await
                .map_err(MarkError::Queue)?;
            if let Some(failure) = failures.into_iter().next() {
                return Err(MarkError::Queue(failure.error));
            }
        }
        Ok(ck)
    }
}
