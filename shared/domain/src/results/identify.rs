//! Learner identification (SM-33): who is who among a course's participants.

use crate::ids::LearnerCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A participant of a Moodle course, as the import identifies it (Moodle:
/// `core_enrol_get_enrolled_users` with the `userfields` option, one call per course).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Participant {
    /// The learning system's user id.
    pub user: i64,
    pub username: String,
    pub idnumber: String,
    /// When the user last accessed the course (Moodle's `lastcourseaccess`; none: never).
    pub last_access: Option<DateTime<Utc>>,
}

/// A learner of the offering as the import knows them: code, SMS username, and
/// the Moodle account stored at export (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownLearner {
    pub code: LearnerCode,
    pub username: Option<String>,
    pub stored: Option<i64>,
}

/// How a participant was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifiedBy {
    /// The Moodle account stored when the learner was exported.
    Stored,
    /// The participant's idnumber is the learner code.
    Idnumber,
    /// The participant's username is the learner's SMS username.
    Username,
}

/// Who is who among a course's participants (SM-33).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identified {
    /// Moodle user id -> learner, with how.
    pub by_user: std::collections::HashMap<i64, (LearnerCode, IdentifiedBy)>,
    /// Learners with no stored account whom more than one participant could be
    /// (or who share a participant with another learner): not guessed, left out.
    pub ambiguous: Vec<LearnerCode>,
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Identifies the offering's learners among the course's participants: the
/// account stored at export wins; a learner without one is the single
/// participant (not already someone's) whose idnumber is the learner code, else
/// the single one whose username is the learner's username (Moodle lowercases
/// usernames). Two candidates, or two learners for one participant, identify
/// nobody: a person must link them.
pub fn identify(participants: &[Participant], learners: &[KnownLearner]) -> Identified {
    let mut out = Identified::default();
    for l in learners {
        if let Some(user) = l.stored {
            out.by_user
                .insert(user, (l.code.clone(), IdentifiedBy::Stored));
        }
    }
    let mut claims: std::collections::HashMap<i64, Vec<(LearnerCode, IdentifiedBy)>> =
        std::collections::HashMap::new();
    for l in learners.iter().filter(|l| l.stored.is_none()) {
        let free = |p: &&Participant| !out.by_user.contains_key(&p.user);
        let by_idnumber: Vec<&Participant> = participants
            .iter()
            .filter(free)
            .filter(|p| !p.idnumber.trim().is_empty() && p.idnumber.trim() == l.code.as_str())
            .collect();
        let by_username: Vec<&Participant> = match &l.username {
            Some(u) if !u.trim().is_empty() => participants
                .iter()
                .filter(free)
                .filter(|p| norm(&p.username) == norm(u))
                .collect(),
            _ => Vec::new(),
        };
        let (found, how) = if by_idnumber.is_empty() {
            (by_username, IdentifiedBy::Username)
        } else {
            (by_idnumber, IdentifiedBy::Idnumber)
        };
        match found.as_slice() {
            [] => {}
            [one] => claims
                .entry(one.user)
                .or_default()
                .push((l.code.clone(), how)),
            _ => out.ambiguous.push(l.code.clone()),
        }
    }
    for (user, mut who) in claims {
        if who.len() == 1
            && let Some(one) = who.pop()
        {
            out.by_user.insert(user, one);
        } else {
            out.ambiguous.extend(who.into_iter().map(|(code, _)| code));
        }
    }
    out.ambiguous.sort();
    out
}
