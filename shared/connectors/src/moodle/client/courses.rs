//! Categories and courses: find, read, create, update, import.

use super::{MoodleClient, refuse_site};
use crate::moodle::batch::{self, BatchOutcome};
use crate::moodle::error::MoodleError;
use crate::moodle::functions::WsFunction;
use crate::moodle::ids::*;
use crate::moodle::types::*;
use serde::de::IgnoredAny;

impl MoodleClient {
    // ------------------------------------------------------------ categories and courses

    /// `core_course_get_categories`; no criteria means every category.
    pub async fn categories(&self, criteria: Vec<Criterion>) -> Result<Vec<Category>, MoodleError> {
        let request = GetCategoriesRequest {
            criteria,
            addsubcategories: None,
        };
        self.call(WsFunction::GetCategories, &request).await
    }

    /// The category with this idnumber, if any.
    pub async fn category_by_idnumber(
        &self,
        idnumber: &str,
    ) -> Result<Option<Category>, MoodleError> {
        let found = self
            .categories(vec![Criterion::new("idnumber", idnumber)])
            .await?;
        Ok(found.into_iter().next())
    }

    /// `core_course_get_courses_by_field`; `None` lists every course. The site
    /// course is removed from the answer.
    pub async fn courses_by_field(
        &self,
        search: Option<(CourseField, &str)>,
    ) -> Result<CoursesByField, MoodleError> {
        let request = match search {
            Some((field, value)) => GetCoursesByFieldRequest {
                field: Some(field.name().to_owned()),
                value: Some(value.to_owned()),
            },
            None => GetCoursesByFieldRequest::default(),
        };
        let mut answer: CoursesByField = self.call(WsFunction::GetCoursesByField, &request).await?;
        answer.courses.retain(|c| !c.is_site());
        Ok(answer)
    }

    /// The course with this idnumber (how an offering finds its linked course).
    pub async fn course_by_idnumber(
        &self,
        idnumber: &str,
    ) -> Result<Option<CourseSummary>, MoodleError> {
        let answer = self
            .courses_by_field(Some((CourseField::Idnumber, idnumber)))
            .await?;
        Ok(answer.courses.into_iter().next())
    }

    /// `core_course_get_courses`; no ids means every course. Never includes the site course.
    pub async fn courses(&self, ids: &[MoodleCourseId]) -> Result<Vec<Course>, MoodleError> {
        let request = GetCoursesRequest {
            options: GetCoursesOptions {
                ids: ids.iter().copied().filter(|c| !c.is_site()).collect(),
            },
        };
        if !ids.is_empty() && request.options.ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut courses: Vec<Course> = self.call(WsFunction::GetCourses, &request).await?;
        courses.retain(|c| !c.is_site());
        Ok(courses)
    }

    /// `core_course_get_contents`: sections and their modules.
    pub async fn course_contents(
        &self,
        course: MoodleCourseId,
    ) -> Result<Vec<CourseSection>, MoodleError> {
        refuse_site(course)?;
        self.call(
            WsFunction::GetContents,
            &GetContentsRequest {
                courseid: course,
                options: Vec::new(),
            },
        )
        .await
    }

    /// `core_course_get_course_module`: idnumber, completion and pass grade of one activity.
    pub async fn course_module(
        &self,
        cmid: CourseModuleId,
    ) -> Result<CourseModuleResponse, MoodleError> {
        self.call(
            WsFunction::GetCourseModule,
            &GetCourseModuleRequest { cmid },
        )
        .await
    }

    /// `core_course_create_courses`, chunked, bad records isolated.
    pub async fn create_courses(&self, courses: &[NewCourse]) -> BatchOutcome<CreatedCourse> {
        self.run_batch::<batch::CreateCourses>(courses).await
    }

    /// `core_course_update_courses`; per-course warnings become that course's failure.
    pub async fn update_courses(&self, updates: &[CourseUpdate]) -> BatchOutcome<()> {
        self.run_batch::<batch::UpdateCourses>(updates).await
    }

    /// `core_course_import_course`: copies the activities of `from` into `to`.
    /// Not retried unless certainly not run: a repeat would copy them twice.
    pub async fn import_course(
        &self,
        from: MoodleCourseId,
        to: MoodleCourseId,
        delete_content: bool,
    ) -> Result<(), MoodleError> {
        refuse_site(from)?;
        refuse_site(to)?;
        let request = ImportCourseRequest {
            importfrom: from,
            importto: to,
            deletecontent: delete_content,
            options: Vec::new(),
        };
        let _: IgnoredAny = self.call(WsFunction::ImportCourse, &request).await?;
        Ok(())
    }
}
