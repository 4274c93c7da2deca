//! Grades and completion: what the results download reads.

use super::{MoodleClient, refuse_site};
use crate::moodle::error::MoodleError;
use crate::moodle::functions::WsFunction;
use crate::moodle::ids::*;
use crate::moodle::types::*;
use std::sync::atomic::Ordering;

impl MoodleClient {
    // ------------------------------------------------------------ grades and completion

    /// `gradereport_user_get_grade_items`; `user: None` asks for every graded user (`userid=0`).
    pub async fn grade_items(
        &self,
        course: MoodleCourseId,
        user: Option<MoodleUserId>,
    ) -> Result<GradeItemsResponse, MoodleError> {
        refuse_site(course)?;
        let request = GetGradeItemsRequest {
            courseid: course,
            userid: Some(user.unwrap_or(MoodleUserId(0))),
            groupid: None,
        };
        self.call(WsFunction::GetGradeItems, &request).await
    }

    /// `core_grades_get_grades`: only for old sites (gone in Moodle 4.x).
    pub async fn legacy_grades(
        &self,
        course: MoodleCourseId,
        users: &[MoodleUserId],
    ) -> Result<LegacyGradesResponse, MoodleError> {
        refuse_site(course)?;
        let request = LegacyGetGradesRequest {
            courseid: course,
            component: None,
            activityid: None,
            userids: users.to_vec(),
        };
        self.call(WsFunction::LegacyGetGrades, &request).await
    }

    /// Grades of a course (one learner, or all with `None`), from
    /// `gradereport_user_get_grade_items`, or from `core_grades_get_grades` when
    /// the site's service lacks the former (remembered for this client).
    pub async fn course_grades(
        &self,
        course: MoodleCourseId,
        user: Option<MoodleUserId>,
    ) -> Result<CourseGrades, MoodleError> {
        if !self.inner.legacy_grades.load(Ordering::Relaxed) {
            match self.grade_items(course, user).await {
                Ok(answer) => {
                    return Ok(CourseGrades {
                        learners: answer
                            .usergrades
                            .into_iter()
                            .map(LearnerGrades::from)
                            .collect(),
                        warnings: answer.warnings,
                        source: WsFunction::GetGradeItems,
                    });
                }
                Err(
                    e @ (MoodleError::FunctionNotInService { .. }
                    | MoodleError::UnknownFunction { .. }),
                ) => {
                    return self.legacy_course_grades(course, user, e).await;
                }
                Err(e) => return Err(e),
            }
        }
        let missing = MoodleError::FunctionNotInService {
            function: WsFunction::GetGradeItems.name().to_owned(),
            message: "not in the token's service".to_owned(),
            debuginfo: None,
        };
        self.legacy_course_grades(course, user, missing).await
    }

    async fn legacy_course_grades(
        &self,
        course: MoodleCourseId,
        user: Option<MoodleUserId>,
        why: MoodleError,
    ) -> Result<CourseGrades, MoodleError> {
        let users: Vec<MoodleUserId> = match user {
            Some(u) => vec![u],
            None => self
                .enrolled_users(course, &[NameValue::new("userfields", "id")])
                .await?
                .into_iter()
                .map(|u| u.id)
                .collect(),
        };
        let mut learners = Vec::new();
        for chunk in users.chunks(self.inner.config.batch_size.max(1)) {
            match self.legacy_grades(course, chunk).await {
                Ok(answer) => learners.extend(legacy_to_learners(answer)),
                // The old function is not there either: the grade report's absence is the news.
                Err(
                    MoodleError::FunctionNotInService { .. } | MoodleError::UnknownFunction { .. },
                ) => {
                    self.inner.legacy_grades.store(false, Ordering::Relaxed);
                    return Err(why);
                }
                Err(e) => return Err(e),
            }
            self.inner.legacy_grades.store(true, Ordering::Relaxed);
        }
        Ok(CourseGrades {
            learners,
            warnings: Vec::new(),
            source: WsFunction::LegacyGetGrades,
        })
    }

    /// `core_completion_get_activities_completion_status`.
    pub async fn activities_completion(
        &self,
        course: MoodleCourseId,
        user: MoodleUserId,
    ) -> Result<ActivitiesCompletion, MoodleError> {
        refuse_site(course)?;
        self.call(
            WsFunction::GetActivitiesCompletionStatus,
            &CompletionRequest {
                courseid: course,
                userid: user,
            },
        )
        .await
    }

    /// `core_completion_get_course_completion_status` (lags grades until Moodle's cron runs).
    pub async fn course_completion(
        &self,
        course: MoodleCourseId,
        user: MoodleUserId,
    ) -> Result<CourseCompletionResponse, MoodleError> {
        refuse_site(course)?;
        self.call(
            WsFunction::GetCourseCompletionStatus,
            &CompletionRequest {
                courseid: course,
                userid: user,
            },
        )
        .await
    }
}

/// A course's grades, with the function they came from and Moodle's warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct CourseGrades {
    pub learners: Vec<LearnerGrades>,
    pub warnings: Vec<MoodleWarning>,
    pub source: WsFunction,
}
