//! Users and enrolments.

use super::{MoodleClient, refuse_site};
use crate::moodle::batch::{self, BatchOutcome};
use crate::moodle::error::MoodleError;
use crate::moodle::functions::WsFunction;
use crate::moodle::ids::*;
use crate::moodle::types::*;

impl MoodleClient {
    // ------------------------------------------------------------ users

    /// `core_user_get_users`: users matching every criterion.
    pub async fn users(&self, criteria: &[Criterion]) -> Result<UsersResponse, MoodleError> {
        self.call(
            WsFunction::GetUsers,
            &GetUsersRequest {
                criteria: criteria.to_vec(),
            },
        )
        .await
    }

    /// `core_user_get_users_by_field`, chunked by the batch size. Empty input, no call.
    pub async fn users_by_field(
        &self,
        field: UserField,
        values: &[String],
    ) -> Result<Vec<User>, MoodleError> {
        let mut users = Vec::new();
        let size = self
            .inner
            .config
            .batch_size
            .clamp(1, self.inner.config.max_input_vars.saturating_sub(4).max(1));
        // The chunks side by side: the permits bound the calls in flight.
        let requests: Vec<GetUsersByFieldRequest> = values
            .chunks(size)
            .map(|chunk| GetUsersByFieldRequest {
                field: field.name().to_owned(),
                values: chunk.to_vec(),
            })
            .collect();
        let found: Vec<Vec<User>> = futures::future::try_join_all(
            requests
                .iter()
                .map(|request| self.call(WsFunction::GetUsersByField, request)),
        )
        .await?;
        users.extend(found.into_iter().flatten());
        Ok(users)
    }

    /// `core_user_create_users`, chunked, bad records isolated.
    pub async fn create_users(&self, users: &[NewUser]) -> BatchOutcome<CreatedUser> {
        self.run_batch::<batch::CreateUsers>(users).await
    }

    /// `core_user_update_users`; per-user warnings become that user's failure.
    pub async fn update_users(&self, updates: &[UserUpdate]) -> BatchOutcome<()> {
        self.run_batch::<batch::UpdateUsers>(updates).await
    }

    // ------------------------------------------------------------ enrolments

    /// `core_enrol_get_enrolled_users`, with options such as
    /// `NameValue::new("userfields", "id,username,idnumber,email")`.
    pub async fn enrolled_users(
        &self,
        course: MoodleCourseId,
        options: &[NameValue],
    ) -> Result<Vec<EnrolledUser>, MoodleError> {
        refuse_site(course)?;
        let request = GetEnrolledUsersRequest {
            courseid: course,
            options: options.to_vec(),
        };
        self.call(WsFunction::GetEnrolledUsers, &request).await
    }

    /// `core_enrol_get_users_courses`: a user's courses with progress and completion.
    pub async fn users_courses(&self, user: MoodleUserId) -> Result<Vec<UserCourse>, MoodleError> {
        let mut courses: Vec<UserCourse> = self
            .call(
                WsFunction::GetUsersCourses,
                &GetUsersCoursesRequest {
                    userid: user,
                    returnusercount: None,
                },
            )
            .await?;
        courses.retain(|c| !c.is_site());
        Ok(courses)
    }

    /// `enrol_manual_enrol_users`, chunked, bad records isolated. Re-enrolling is a no-op.
    pub async fn enrol(&self, enrolments: &[Enrolment]) -> BatchOutcome<()> {
        self.run_batch::<batch::Enrol>(enrolments).await
    }

    /// `enrol_manual_unenrol_users`, chunked, bad records isolated. Unenrolling a
    /// non-member is a no-op. Read results and completion first.
    pub async fn unenrol(&self, unenrolments: &[Unenrolment]) -> BatchOutcome<()> {
        self.run_batch::<batch::Unenrol>(unenrolments).await
    }
}
