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

/// Most classes accepted for one offering.
pub const CLASSES_MAX: usize = 1000;
/// Most instructors accepted for one offering.
pub const INSTRUCTORS_MAX: usize = 100;

impl MarkInput {
    /// What CourseKey could not take, naming the field (`classes`, `instructors`,
    /// `instructors[i]`, `classes[i].code`, `classes[i]`): too many classes or
    /// instructors, an id or class code that cannot be a path segment, a class
    /// outside the supported dates or ending before it starts.
    pub fn check(&self) -> Result<(), MarkError> {
        let invalid = |field: String, message: String| MarkError::Invalid { field, message };
        if self.classes.len() > CLASSES_MAX {
            return Err(invalid(
                "classes".into(),
                format!("at most {CLASSES_MAX} classes"),
            ));
        }
        if self.instructors.len() > INSTRUCTORS_MAX {
            return Err(invalid(
                "instructors".into(),
                format!("at most {INSTRUCTORS_MAX} instructors"),
            ));
        }
        for (i, instructor) in self.instructors.iter().enumerate() {
            if let Err(problem) = domain::ids::check_external_code(instructor) {
                return Err(invalid(
                    format!("instructors[{i}]"),
                    format!("an instructor id {problem}"),
                ));
            }
        }
        for (i, class) in self.classes.iter().enumerate() {
            if let Err(problem) = domain::ids::check_external_code(&class.code) {
                return Err(invalid(
                    format!("classes[{i}].code"),
                    format!("a class code {problem}"),
                ));
            }
            if let Err(range) = domain::limits::check_instant(class.start)
                .and(domain::limits::check_instant(class.end))
            {
                return Err(invalid(
                    format!("classes[{i}]"),
                    format!("a class's start and end: {range}"),
                ));
            }
            if class.end <= class.start {
                return Err(invalid(
                    format!("classes[{i}]"),
                    "a class must end after it starts".into(),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    /// A field of the input CourseKey could not take.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
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
        input.check()?;
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

    /// Marks (`true`) or unmarks an offering "Send to CourseKey" and changes
    /// nothing else of its CourseKey side (hours type, instructors and classes
    /// stay as the SMS sent them): the console's Send to CourseKey form. As
    /// [`Marking::mark`]: unmarking an offering CourseKey already has is
    /// refused, and a marked offering's roster push is queued.
    pub async fn set_send(
        &self,
        tenant: &TenantId,
        offering: &OfferingId,
        send: bool,
    ) -> Result<CourseKeyOffering, MarkError> {
        let existing = self.attendance.coursekey_offering(tenant, offering).await?;
        let input = match existing {
            Some(known) => MarkInput {
                send_to_coursekey: Some(send),
                programme: None,
                hours_type: known.hours_type,
                instructors: known.instructors,
                classes: known.classes,
            },
            None => MarkInput {
                send_to_coursekey: Some(send),
                programme: None,
                hours_type: HoursType::default(),
                instructors: vec![],
                classes: vec![],
            },
        };
        self.mark(tenant, offering, input).await
    }
}
