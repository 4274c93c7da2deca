//! Exclusive-tenant alerts: participants of a course the SMS does not know.

use super::error::PushError;
use super::load::Loaded;
use super::service::{Push, line};
use chrono::{DateTime, Utc};
use domain::learning::UserLookup;
use domain::messages;
use domain::ports::LearningSystem;
use domain::sis::CourseLink;
use domain::{LearnerCode, LogLevel, RunLogLine, TenantId};
use std::collections::BTreeSet;

impl Push<'_> {
    /// Exclusive-tenant alerts: everyone enrolled in the course should be known
    /// to the SMS (the Moodle site is this tenant's alone). A participant that
    /// is neither one of the offering's accounts nor, by idnumber or username, a
    /// learner of the SMS is a warning on the run. Returns how many there were.
    pub(super) async fn unknown_participants(
        &self,
        tenant: &TenantId,
        lms: &dyn LearningSystem,
        link: &CourseLink,
        loaded: &Loaded,
        log: &mut Vec<RunLogLine>,
        now: DateTime<Utc>,
    ) -> Result<usize, PushError> {
        let ours: BTreeSet<i64> = loaded.accounts.values().map(|a| a.external_id).collect();
        let others: Vec<String> = lms
            .enrolled_users(link.course_id)
            .await?
            .into_iter()
            .filter(|id| !ours.contains(id))
            .map(|id| id.to_string())
            .collect();
        if others.is_empty() {
            return Ok(0);
        }
        let mut users = lms.users_by(UserLookup::Id, &others).await?;
        users.sort_by_key(|u| u.id);
        let mut unknown = 0;
        for user in users {
            let mut known = false;
            for candidate in [&user.idnumber, &user.username] {
                if let Ok(code) = LearnerCode::parse(candidate.trim())
                    && self.sis.learner(tenant, &code).await?.is_some()
                {
                    known = true;
                    break;
                }
            }
            if !known {
                unknown += 1;
                log.push(line(
                    LogLevel::Warning,
                    messages::unknown_participant(&user.username, user.id, link.course_id),
                    now,
                ));
            }
        }
        Ok(unknown)
    }
}
