//! What the batches of one push share, and what each hands back.

use super::load::{Loaded, People};
use super::service::PushReport;
use chrono::{DateTime, Utc};
use domain::connection::MoodleSettings;
use domain::learning::{LearningError, NewLmsUser};
use domain::matching::MatchedBy;
use domain::ports::LearningSystem;
use domain::sis::{BlockReason, CourseLink, Enrolment, Learner};
use domain::zone::TenantZone;
use domain::{ConnectionId, RunId, RunLogLine, TenantId};
use secrecy::SecretString;
use std::collections::BTreeSet;

/// What every batch of one push shares.
pub(super) struct Chunk<'a> {
    pub(super) tenant: &'a TenantId,
    pub(super) connection: &'a ConnectionId,
    pub(super) run: &'a RunId,
    pub(super) settings: &'a MoodleSettings,
    pub(super) loaded: &'a Loaded,
    /// The batch's learners and their accounts (the push's `loaded` has none).
    pub(super) people: &'a People,
    pub(super) lms: &'a dyn LearningSystem,
    pub(super) link: &'a CourseLink,
    /// The course's participants, read once per push when a batch first
    /// needs them (for the users that exist: enrolled already, or not).
    pub(super) enrolled: &'a futures::lock::Mutex<Option<BTreeSet<i64>>>,
    /// Held by the batch whose look-ups are being made (one batch at a time).
    pub(super) looking: &'a futures::lock::Mutex<()>,
    pub(super) now: DateTime<Utc>,
}

impl Chunk<'_> {
    pub(super) async fn enrolled_users(&self) -> Result<BTreeSet<i64>, LearningError> {
        let mut enrolled = self.enrolled.lock().await;
        if let Some(users) = &*enrolled {
            return Ok(users.clone());
        }
        let users: BTreeSet<i64> = self
            .lms
            .enrolled_users(self.link.course_id)
            .await?
            .into_iter()
            .collect();
        *enrolled = Some(users.clone());
        Ok(users)
    }
}

/// What one batch did: its counts, the enrolments it blocked, the lines
/// still to log (warnings), and a transient failure of one of its calls.
#[derive(Default)]
pub(super) struct ChunkDone {
    pub(super) report: PushReport,
    pub(super) blocked: Vec<(Enrolment, Vec<BlockReason>)>,
    pub(super) log: Vec<RunLogLine>,
    pub(super) transient: Option<LearningError>,
}

/// Batches of one push in flight at once (see [`Push::push_offering`](super::service::Push::push_offering)).
pub(super) const CHUNKS_IN_FLIGHT: usize = 4;

/// Local midnight (in the tenant's zone) of the enrolment's start date:
/// Moodle's `timestart`, so an enrolment starting today is active all day.
pub(super) fn time_start(e: &Enrolment, zone: TenantZone) -> Option<DateTime<Utc>> {
    e.start_date.map(|d| zone.start_of_day(d))
}

/// A learner who goes to Moodle in this push, and how.
pub(super) struct Going<'a> {
    pub(super) enrolment: &'a Enrolment,
    pub(super) learner: &'a Learner,
    pub(super) user: i64,
    pub(super) created: bool,
    pub(super) password: Option<SecretString>,
    pub(super) username: Option<String>,
}

/// A learner nobody in Moodle matched: the user to create for them.
pub(super) type Create<'a> = (&'a Enrolment, &'a Learner, NewLmsUser);

/// A learner matched to an existing Moodle user, and how.
pub(super) type Existing<'a> = (&'a Enrolment, &'a Learner, i64, MatchedBy);
