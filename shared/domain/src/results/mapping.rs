//! Mapping: which Moodle activities an assessable is mapped to, and at which
//! levels (unit, task) a connection maps and results.

use crate::ids::{AssessableId, ConnectionId, OfferingId, TenantId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The Moodle activity types a unit or task can be mapped to (the seed's list).
pub const MAPPABLE_MODULES: [&str; 8] = [
    "assign",
    "attendance",
    "checklist",
    "h5pactivity",
    "lesson",
    "lti",
    "quiz",
    "scorm",
];

/// Whether an activity of this type (Moodle's `modname`) can be mapped.
pub fn is_mappable(modname: &str) -> bool {
    MAPPABLE_MODULES.contains(&modname)
}

/// Why a mapping was refused. Each names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error(
        "activity {cmid} is a {modname}, which cannot be mapped; only assign, attendance, checklist, h5pactivity, lesson, lti, quiz and scorm activities can"
    )]
    UnmappableType { cmid: i64, modname: String },
    #[error("activity {cmid} is not in the linked course")]
    UnknownActivity { cmid: i64 },
    #[error("assessable {assessable} is not part of the offering")]
    UnknownAssessable { assessable: AssessableId },
    #[error("an assessable must be mapped to at least one activity")]
    NoActivities,
    #[error("activity {cmid} is listed twice")]
    Duplicate { cmid: i64 },
    #[error(
        "assessable {assessable} is a {kind}, a level this connection does not map or result (result_levels)"
    )]
    LevelNotAllowed {
        assessable: AssessableId,
        kind: &'static str,
    },
}

/// One activity (course module) of a linked course, as the mapping screen lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseActivity {
    /// The course module id.
    pub cmid: i64,
    pub modname: String,
    pub name: String,
    pub mappable: bool,
}

impl CourseActivity {
    pub fn new(cmid: i64, modname: impl Into<String>, name: impl Into<String>) -> Self {
        let modname = modname.into();
        Self {
            cmid,
            mappable: is_mappable(&modname),
            modname,
            name: name.into(),
        }
    }
}

/// A mapped activity: its course module id and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedActivity {
    pub cmid: i64,
    pub modname: String,
}

/// An assessable of an offering mapped to one or more activities of the linked course.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    pub tenant: TenantId,
    pub offering: OfferingId,
    pub connection: ConnectionId,
    pub assessable: AssessableId,
    pub activities: Vec<MappedActivity>,
    pub updated_at: DateTime<Utc>,
}

/// Checks a requested mapping against the course's activities: every cmid must
/// be in the course, once, and of a mappable type.
pub fn check_mapping(
    course: &[CourseActivity],
    cmids: &[i64],
) -> Result<Vec<MappedActivity>, MappingError> {
    if cmids.is_empty() {
        return Err(MappingError::NoActivities);
    }
    let mut out: Vec<MappedActivity> = Vec::with_capacity(cmids.len());
    for &cmid in cmids {
        if out.iter().any(|a| a.cmid == cmid) {
            return Err(MappingError::Duplicate { cmid });
        }
        let activity = course
            .iter()
            .find(|a| a.cmid == cmid)
            .ok_or(MappingError::UnknownActivity { cmid })?;
        if !is_mappable(&activity.modname) {
            return Err(MappingError::UnmappableType {
                cmid,
                modname: activity.modname.clone(),
            });
        }
        out.push(MappedActivity {
            cmid,
            modname: activity.modname.clone(),
        });
    }
    Ok(out)
}

/// The name of an assessable level, as settings and errors spell it.
pub fn level_name(kind: crate::sis::AssessableKind) -> &'static str {
    match kind {
        crate::sis::AssessableKind::Unit => "unit",
        crate::sis::AssessableKind::Task => "task",
    }
}

/// An assessable can be mapped (and resulted) only at a level the
/// connection's `result_levels` lists (VM-10).
pub fn check_level(
    levels: &[crate::sis::AssessableKind],
    assessable: &crate::sis::Assessable,
) -> Result<(), MappingError> {
    if levels.contains(&assessable.kind) {
        Ok(())
    } else {
        Err(MappingError::LevelNotAllowed {
            assessable: assessable.id.clone(),
            kind: level_name(assessable.kind),
        })
    }
}
