//! CourseKey attendance and the CourseKey side of an offering: the seed's rules
//! as plain functions of their inputs (time is passed in).
//!
//! - [`convert`]: a check-in / check-out against a class becomes Present, Late or
//!   Absent, with the minutes attended (for attendance-log offerings).
//! - [`decide_adjustment`]: an absence edited in CourseKey updates ours only
//!   within `follow_adjustments_days` of the class.
//! - [`sync_status`]: Disabled / Scheduled / Failed(reason) / Synchronized.
//!
//! # Thresholds, exactly
//! With `absent_after_start_minutes = N` a student who checks in at
//! `start + N min` (to the second) is **Late**; one second later is **Absent**.
//! With `absent_before_end_minutes = M` a student who checks out at
//! `end - M min` is **Late**; one second earlier is **Absent**. Checking in at
//! exactly the class start, or out at exactly its end, is on time (**Present**
//! if both sides are on time). The worse of the two sides wins. A threshold of
//! 0 makes any lateness an absence. A check-in without a check-out is judged on
//! its check-in alone (CourseKey closes open check-ins at the class end).

use crate::connection::CourseKeySettings;
use crate::ids::{LearnerCode, OfferingId, TenantId};
use crate::zone::TenantZone;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// P / L / A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Present,
    Late,
    Absent,
}

impl Mark {
    /// The letter the SMS shows.
    pub fn letter(self) -> &'static str {
        match self {
            Mark::Present => "P",
            Mark::Late => "L",
            Mark::Absent => "A",
        }
    }
}

/// How an offering counts hours: attendance-log offerings get minutes attended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HoursType {
    /// P / L / A per class.
    #[default]
    Marks,
    /// P / L / A and the minutes attended per class.
    AttendanceLog,
}

/// One scheduled class of an offering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassSession {
    /// Our id for the class, sent to CourseKey and named in its records.
    pub code: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Why a record cannot be converted: each goes to the connection's error email.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum AttendanceError {
    #[error("the class ends before it starts")]
    ClassEndsBeforeStart,
    #[error("the check-out is before the check-in")]
    CheckOutBeforeCheckIn,
    #[error("the check-in is after the class end")]
    CheckInAfterClass,
    #[error("the check-out is before the class start")]
    CheckOutBeforeClass,
    #[error("a check-out without a check-in")]
    CheckOutWithoutCheckIn,
    #[error("the student is not enrolled in the offering")]
    UnknownStudent,
    #[error("the class is not one of the offering's classes")]
    UnknownClass,
    #[error("the offering is not synchronized with CourseKey")]
    UnknownOffering,
    #[error("the record is not a valid CourseKey attendance record")]
    Malformed,
}

/// What [`convert`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversion {
    pub mark: Mark,
    /// Whole minutes the student was in the class (check-in to check-out,
    /// clipped to the class).
    pub minutes_attended: i64,
}

fn side(delay: TimeDelta, threshold_minutes: u32) -> Mark {
    if delay <= TimeDelta::zero() {
        Mark::Present
    } else if delay <= TimeDelta::minutes(i64::from(threshold_minutes)) {
        Mark::Late
    } else {
        Mark::Absent
    }
}

/// Converts one check-in / check-out to P / L / A (see the module's thresholds).
pub fn convert(
    class: &ClassSession,
    check_in: Option<DateTime<Utc>>,
    check_out: Option<DateTime<Utc>>,
    settings: &CourseKeySettings,
) -> Result<Conversion, AttendanceError> {
    if class.end <= class.start {
        return Err(AttendanceError::ClassEndsBeforeStart);
    }
    let Some(check_in) = check_in else {
        return match check_out {
            Some(_) => Err(AttendanceError::CheckOutWithoutCheckIn),
            None => Ok(Conversion {
                mark: Mark::Absent,
                minutes_attended: 0,
            }),
        };
    };
    if check_in > class.end {
        return Err(AttendanceError::CheckInAfterClass);
    }
    if let Some(out) = check_out {
        if out < check_in {
            return Err(AttendanceError::CheckOutBeforeCheckIn);
        }
        if out < class.start {
            return Err(AttendanceError::CheckOutBeforeClass);
        }
    }
    let arrive = side(check_in - class.start, settings.absent_after_start_minutes);
    let leave = check_out.map_or(Mark::Present, |out| {
        side(class.end - out, settings.absent_before_end_minutes)
    });
    let from = check_in.max(class.start);
    let to = check_out.unwrap_or(class.end).min(class.end);
    Ok(Conversion {
        mark: arrive.max(leave),
        minutes_attended: (to - from).num_minutes().max(0),
    })
}

/// What to do with an edit made in CourseKey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjustment {
    /// Ours becomes this mark.
    Apply(Mark),
    /// Ignored (and logged): edited more than `follow_adjustments_days` after the class.
    TooLate { days_after_class: i64 },
    /// Ignored: only absences are edited in CourseKey.
    NotAnAbsence,
    /// Same mark as ours: nothing to change.
    Unchanged,
}

/// An absence edited in CourseKey updates ours when the edit is made no later
/// than `follow_adjustments_days` days after the class's day, counted on the
/// tenant's calendar (`zone`): with 7 days, an edit any time on the seventh
/// day after the class still applies; one on the eighth does not.
pub fn decide_adjustment(
    current: Mark,
    edited: Mark,
    class: &ClassSession,
    edited_at: DateTime<Utc>,
    settings: &CourseKeySettings,
    zone: TenantZone,
) -> Adjustment {
    if current != Mark::Absent {
        return Adjustment::NotAnAbsence;
    }
    if edited == current {
        return Adjustment::Unchanged;
    }
    let days_after_class = (zone.date_of(edited_at) - zone.date_of(class.start)).num_days();
    if days_after_class > i64::from(settings.follow_adjustments_days) {
        return Adjustment::TooLate { days_after_class };
    }
    Adjustment::Apply(edited)
}

/// The CourseKey side of an offering: kept beside the SMS's offering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseKeyOffering {
    pub tenant: TenantId,
    pub offering: OfferingId,
    /// "Send to CourseKey".
    #[serde(default)]
    pub send_to_coursekey: bool,
    #[serde(default)]
    pub hours_type: HoursType,
    /// Instructor ids (emails never logged).
    #[serde(default)]
    pub instructors: Vec<String>,
    #[serde(default)]
    pub classes: Vec<ClassSession>,
    /// Set the first time the roster push succeeded.
    #[serde(default)]
    pub synchronized_at: Option<DateTime<Utc>>,
    /// The last push's failure, for a person to read.
    #[serde(default)]
    pub last_error: Option<String>,
    /// [`roster_fingerprint`] of what the last successful push sent: a push
    /// of the same roster makes no CourseKey call.
    #[serde(default)]
    pub pushed_fingerprint: Option<String>,
    /// The class codes the last successful push sent: one no longer scheduled
    /// is removed from CourseKey by the next push.
    #[serde(default)]
    pub pushed_classes: Vec<String>,
}

impl CourseKeyOffering {
    pub fn class(&self, code: &str) -> Option<&ClassSession> {
        self.classes.iter().find(|c| c.code == code)
    }

    /// Changes "Send to CourseKey": once synchronized it cannot be unmarked.
    pub fn set_send(&mut self, send: bool) -> Result<(), SendFlagError> {
        if !send && self.synchronized_at.is_some() {
            return Err(SendFlagError::AlreadySynchronized);
        }
        self.send_to_coursekey = send;
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendFlagError {
    #[error("send to CourseKey cannot be unmarked once the offering was synchronized")]
    AlreadySynchronized,
}

/// The "Synchronization with CourseKey" status of an offering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SyncStatus {
    /// Not marked, or more than `weeks_after_end_to_disable` weeks after the end.
    Disabled,
    /// Marked, but `weeks_before_start_to_enable` weeks before the start has not come.
    Scheduled,
    /// Inside the window but cannot be (or was not) pushed: the reason.
    Failed { reason: String },
    /// Pushed.
    Synchronized,
}

/// Whether today is inside the sync window: from `start - weeks_before` to
/// `end + weeks_after` inclusive. An offering without dates is never inside.
pub fn in_window(
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    today: NaiveDate,
    settings: &CourseKeySettings,
) -> WindowPosition {
    let (Some(start), Some(end)) = (start, end) else {
        return WindowPosition::NoDates;
    };
    // Checked: a window reaching past what a date can hold is open to the end of time
    // (a tenant's odd setting or date must never panic the roster tick of every tenant).
    let weeks = |n: u32| chrono::Days::new(u64::from(n).saturating_mul(7));
    let opens = start
        .checked_sub_days(weeks(settings.weeks_before_start_to_enable))
        .unwrap_or(NaiveDate::MIN);
    let closes = end
        .checked_add_days(weeks(settings.weeks_after_end_to_disable))
        .unwrap_or(NaiveDate::MAX);
    if today < opens {
        WindowPosition::Before
    } else if today > closes {
        WindowPosition::After
    } else {
        WindowPosition::Inside
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowPosition {
    Before,
    Inside,
    After,
    NoDates,
}

/// The offering's status from the flag, the window, its instructors and classes,
/// and the last push.
pub fn sync_status(
    ck: &CourseKeyOffering,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    today: NaiveDate,
    settings: &CourseKeySettings,
) -> SyncStatus {
    if !ck.send_to_coursekey {
        return SyncStatus::Disabled;
    }
    match in_window(start, end, today, settings) {
        WindowPosition::Before => return SyncStatus::Scheduled,
        WindowPosition::After => return SyncStatus::Disabled,
        WindowPosition::NoDates => {
            return SyncStatus::Failed {
                reason: "the offering has no start or end date".into(),
            };
        }
        WindowPosition::Inside => {}
    }
    if ck.instructors.is_empty() {
        return SyncStatus::Failed {
            reason: "the offering needs at least one instructor".into(),
        };
    }
    if ck.classes.is_empty() {
        return SyncStatus::Failed {
            reason: "the offering needs at least one scheduled class".into(),
        };
    }
    if let Some(reason) = &ck.last_error {
        return SyncStatus::Failed {
            reason: reason.clone(),
        };
    }
    if ck.synchronized_at.is_some() {
        SyncStatus::Synchronized
    } else {
        SyncStatus::Scheduled
    }
}

/// The roster one push sends: everything CourseKey is told about an offering.
#[derive(Debug, Clone, Copy)]
pub struct Roster<'a> {
    pub title: &'a str,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub instructors: &'a [String],
    /// Each enrolled learner and whether they are dropped (withdrawn).
    pub students: &'a [(&'a crate::sis::Learner, bool)],
    pub classes: &'a [ClassSession],
}

/// A fingerprint of a roster: the same for the same title, dates, instructors,
/// students (their names, email and dropped flag) and classes whatever their
/// order; different when any of them changes. Not a secret and not personal
/// data (a hash), so it can be stored beside the offering.
pub fn roster_fingerprint(roster: &Roster<'_>) -> String {
    let mut instructors: Vec<&str> = roster.instructors.iter().map(String::as_str).collect();
    instructors.sort_unstable();
    instructors.dedup();
    let mut students: Vec<_> = roster
        .students
        .iter()
        .map(|(l, dropped)| {
            (
                l.code.as_str(),
                l.given_name.as_str(),
                l.family_name.as_str(),
                l.email.as_deref(),
                *dropped,
            )
        })
        .collect();
    students.sort_unstable();
    let mut classes: Vec<_> = roster
        .classes
        .iter()
        .map(|c| (c.code.as_str(), c.start, c.end))
        .collect();
    classes.sort_unstable();
    let canonical = serde_json::json!([
        roster.title,
        roster.start,
        roster.end,
        instructors,
        students,
        classes
    ])
    .to_string();
    // Two 64-bit FNV-1a hashes with different offsets: 128 bits, enough that two
    // different rosters of one offering never share a fingerprint in practice.
    let fnv = |offset: u64| {
        canonical.bytes().fold(offset, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    )
}

/// Whether a connection's roster tick is due at `now`: never ticked, or at
/// least `every_minutes` since the last tick (a retried tick for the same time,
/// or an older one, is not).
pub fn roster_tick_due(
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    every_minutes: u32,
) -> bool {
    last.is_none_or(|last| now - last >= TimeDelta::minutes(i64::from(every_minutes.max(1))))
}

/// Whether a tick pushes this marked offering: inside its sync window today
/// (a Scheduled offering whose window has opened is inside too).
pub fn roster_push_due(
    ck: &CourseKeyOffering,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    today: NaiveDate,
    settings: &CourseKeySettings,
) -> bool {
    ck.send_to_coursekey && in_window(start, end, today, settings) == WindowPosition::Inside
}

/// A CourseKey record refused by validation, kept beside the raw record so a
/// person can see what was not imported and why (ids only, no names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedRecord {
    pub tenant: TenantId,
    pub connection: crate::ids::ConnectionId,
    pub record_id: String,
    /// Why, as a code (`{"reason": "unknown_student"}`, ...).
    pub error: AttendanceError,
    /// Why, for a person.
    pub message: String,
    /// The ids the record named, when it could be read.
    #[serde(default)]
    pub course_id: Option<String>,
    #[serde(default)]
    pub class_id: Option<String>,
    #[serde(default)]
    pub student_id: Option<String>,
    pub rejected_at: DateTime<Utc>,
}

/// A course in a programme's course list (GEGI: a program's course; each new
/// education group of the programme gets an offering of it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProgrammeCourse {
    pub programme: String,
    pub course: String,
}

impl ProgrammeCourse {
    /// Both ids are checked like every other id (no `#`, 1 to 64 characters),
    /// the error naming `programme` or `course`.
    pub fn parse(
        programme: impl Into<String>,
        course: impl Into<String>,
    ) -> Result<Self, crate::ids::IdError> {
        let (programme, course) = (programme.into(), course.into());
        crate::ids::check_id("programme", &programme)?;
        crate::ids::check_id("course", &course)?;
        Ok(Self { programme, course })
    }
}

/// Send-to-CourseKey for a new offering (CK-13, CK-14): an offering of a
/// programme course inherits the flag set on that course in the programme's
/// course list; a course the list has no flag for yet (a new programme course)
/// is marked when the connection's `send_new_program_courses` is on. An offering
/// outside any programme starts unmarked.
pub fn programme_send_default(
    programme: Option<&ProgrammeCourse>,
    course_flag: Option<bool>,
    settings: &CourseKeySettings,
) -> bool {
    match (programme, course_flag) {
        (None, _) => false,
        (Some(_), Some(flag)) => flag,
        (Some(_), None) => settings.send_new_program_courses,
    }
}

/// One converted attendance, stored per offering, class and learner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attendance {
    pub tenant: TenantId,
    pub offering: OfferingId,
    pub class_code: String,
    pub learner: LearnerCode,
    pub mark: Mark,
    /// Only for attendance-log offerings.
    #[serde(default)]
    pub minutes_attended: Option<i64>,
    /// The CourseKey record this came from (the latest applied).
    pub record_id: String,
    pub recorded_at: DateTime<Utc>,
}

/// One line of the system journal: every attendance change, and every edit ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub tenant: TenantId,
    pub offering: OfferingId,
    pub at: DateTime<Utc>,
    pub record_id: String,
    pub class_code: String,
    pub learner: LearnerCode,
    /// The mark before (none: first record for this class and learner).
    pub from: Option<Mark>,
    pub to: Mark,
    #[serde(default)]
    pub minutes_attended: Option<i64>,
    /// What happened, for a person (no names).
    pub note: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
