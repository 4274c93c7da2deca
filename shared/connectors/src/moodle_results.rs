//! The results download's reads ([`GradeSource`]) over a Moodle site: the
//! grade report for every learner in one call, a module's pass grade,
//! activity and course completion, and the unenrolment Smartosh's mode does.

use crate::moodle::types::{
    ActivityCompletion as WireCompletion, CompletionState as WireState, GradeItem, moodle_time,
};
use crate::moodle::types::{EnrolledUser, NameValue};
use crate::moodle::{CourseModuleId, MoodleCourseId, MoodleError, MoodleUserId};
use crate::moodle_gateway::{MoodleGateway, MoodleGateways};
use async_trait::async_trait;
use domain::Connection;
use domain::learning::LearningError;
use domain::ports::{GradeSource, GradeSources};
use domain::results::{
    ActivityCompletion, CompletionState, CourseActivity, CourseCompletionRead, CriterionStatus,
    ItemGrade, LearnerGrades, Participant,
};
use std::sync::Arc;

fn call_error(e: MoodleError) -> LearningError {
    if e.is_retryable() {
        LearningError::Unavailable(Box::new(e))
    } else {
        LearningError::Refused(Box::new(e))
    }
}

/// An activity's grade item as the domain reads it; none for the course
/// total, categories and items without a course module.
fn item_grade(item: &GradeItem) -> Option<ItemGrade> {
    if item.is_course_total() {
        return None;
    }
    Some(ItemGrade {
        cmid: item.cmid?.0,
        grade: item.graderaw,
        max_grade: item.grademax,
        hidden: item.gradeishidden.unwrap_or(false) || item.gradehiddenbydate.unwrap_or(false),
        scale: item.scaleid.is_some_and(|s| s > 0),
        overridden: item.gradeisoverridden.unwrap_or(false),
        graded_at: moodle_time(item.gradedategraded),
        submitted_at: moodle_time(item.gradedatesubmitted),
    })
}

/// The fields the import identifies participants by, and their last course access.
const PARTICIPANT_FIELDS: &str = "id,username,idnumber,lastcourseaccess";

fn participant(u: &EnrolledUser) -> Participant {
    Participant {
        user: u.id.get(),
        username: u.username.clone().unwrap_or_default(),
        idnumber: u.idnumber.clone().unwrap_or_default(),
        last_access: moodle_time(u.lastcourseaccess),
    }
}

fn completion(c: &WireCompletion) -> Option<(i64, ActivityCompletion)> {
    let state = match c.state {
        WireState::Incomplete => CompletionState::Incomplete,
        WireState::Complete => CompletionState::Complete,
        WireState::CompletePass => CompletionState::CompletePass,
        WireState::CompleteFail => CompletionState::CompleteFail,
        WireState::Unknown(_) => return None,
    };
    Some((
        c.cmid.0,
        ActivityCompletion {
            state,
            completed_at: c.completed_at(),
        },
    ))
}

#[async_trait]
impl GradeSource for MoodleGateway {
    async fn course_activities(&self, course: i64) -> Result<Vec<CourseActivity>, LearningError> {
        let sections = self
            .client()
            .course_contents(MoodleCourseId(course))
            .await
            .map_err(call_error)?;
        Ok(sections
            .iter()
            .flat_map(|s| &s.modules)
            .map(|m| CourseActivity::new(m.id.0, m.modname.clone(), m.name.clone()))
            .collect())
    }

    async fn course_grades(&self, course: i64) -> Result<Vec<LearnerGrades>, LearningError> {
        let answer = self
            .client()
            .grade_items(MoodleCourseId(course), None)
            .await
            .map_err(call_error)?;
        Ok(answer
            .usergrades
            .iter()
            .map(|u| LearnerGrades {
                user: u.userid.0,
                items: u.gradeitems.iter().filter_map(item_grade).collect(),
                course_total: u
                    .gradeitems
                    .iter()
                    .find(|i| i.is_course_total())
                    .and_then(|i| i.graderaw),
                course_max: u
                    .gradeitems
                    .iter()
                    .find(|i| i.is_course_total())
                    .and_then(|i| i.grademax),
            })
            .collect())
    }

    async fn pass_grade(&self, cmid: i64) -> Result<Option<f64>, LearningError> {
        let answer = self
            .client()
            .course_module(CourseModuleId(cmid))
            .await
            .map_err(call_error)?;
        Ok(answer.cm.pass_grade())
    }

    async fn activities_completion(
        &self,
        course: i64,
        user: i64,
    ) -> Result<Vec<(i64, ActivityCompletion)>, LearningError> {
        let answer = self
            .client()
            .activities_completion(MoodleCourseId(course), MoodleUserId(user))
            .await
            .map_err(call_error)?;
        Ok(answer.statuses.iter().filter_map(completion).collect())
    }

    async fn course_completion(
        &self,
        course: i64,
        user: i64,
    ) -> Result<CourseCompletionRead, LearningError> {
        let answer = match self
            .client()
            .course_completion(MoodleCourseId(course), MoodleUserId(user))
            .await
        {
            Ok(answer) => answer,
            // A course without completion criteria: nothing to complete, no
            // criteria (the download says so once per course).
            Err(MoodleError::Other { errorcode, .. }) if errorcode == "nocriteriaset" => {
                return Ok(CourseCompletionRead::default());
            }
            // Moodle tracks completion only for active enrolments: a learner
            // whose enrolment has not started, is suspended or is gone has
            // none (the samples: `usernotenroled`, or `notenroled` when the
            // learner is the token's own user).
            Err(MoodleError::NotEnrolled { .. }) => {
                return Ok(CourseCompletionRead {
                    untracked: true,
                    ..CourseCompletionRead::default()
                });
            }
            Err(e) => return Err(call_error(e)),
        };
        let status = answer.completionstatus;
        Ok(CourseCompletionRead {
            untracked: false,
            completed: status.completed,
            criteria: status
                .completions
                .iter()
                .map(|c| CriterionStatus {
                    complete: c.complete,
                    completed_at: moodle_time(c.timecompleted),
                })
                .collect(),
        })
    }

    async fn unenrol(&self, course: i64, user: i64) -> Result<(), LearningError> {
        domain::ports::LearningSystem::unenrol(self, course, user)
            .await
            .map_err(|e| match e {
                domain::learning::RecordFailure::Failed(e) => e,
                domain::learning::RecordFailure::Refused(reason) => {
                    LearningError::Refused(reason.message().into())
                }
            })
    }

    async fn participants(&self, course: i64) -> Result<Vec<Participant>, LearningError> {
        let users = self
            .client()
            .enrolled_users(
                MoodleCourseId(course),
                &[NameValue::new("userfields", PARTICIPANT_FIELDS)],
            )
            .await
            .map_err(call_error)?;
        Ok(users.iter().map(participant).collect())
    }
}

#[async_trait]
impl GradeSources for MoodleGateways {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<Arc<dyn GradeSource>, LearningError> {
        let gateway: Arc<dyn GradeSource> = self.gateway(connection).await?;
        Ok(gateway)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(json: serde_json::Value) -> GradeItem {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn grade_items_become_item_grades() {
        let quiz = item(serde_json::json!({
            "id": 5, "itemtype": "mod", "itemmodule": "quiz", "cmid": 12,
            "graderaw": 7.5, "gradedategraded": 1_772_000_000, "gradeishidden": true,
            "gradeisoverridden": true, "scaleid": 3
        }));
        let g = item_grade(&quiz).unwrap();
        assert_eq!((g.cmid, g.grade), (12, Some(7.5)));
        assert!(g.hidden && g.overridden && g.scale);
        assert!(g.graded_at.is_some() && g.submitted_at.is_none());
        let total = item(serde_json::json!({"id": 1, "itemtype": "course", "graderaw": 80.0}));
        assert!(item_grade(&total).is_none());
        let manual = item(serde_json::json!({"id": 2, "itemtype": "manual"}));
        assert!(
            item_grade(&manual).is_none(),
            "no course module: not mappable"
        );
    }

    #[test]
    fn enrolled_users_become_participants() {
        let u: EnrolledUser = serde_json::from_value(serde_json::json!({
            "id": 4, "fullname": "Sam Student", "username": "occ.student1",
            "idnumber": "S4", "lastcourseaccess": 1_772_000_000
        }))
        .unwrap();
        let p = participant(&u);
        assert_eq!(
            (p.user, p.username.as_str(), p.idnumber.as_str()),
            (4, "occ.student1", "S4")
        );
        assert!(p.last_access.is_some());
        let never: EnrolledUser =
            serde_json::from_value(serde_json::json!({"id": 5, "lastcourseaccess": 0})).unwrap();
        assert_eq!(participant(&never).last_access, None, "0: never accessed");
    }
}
