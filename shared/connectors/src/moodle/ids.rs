//! Moodle's numeric ids as newtypes, so a user id cannot be passed where a course id is meant.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! moodle_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }
    };
}

moodle_id!(
    /// A Moodle user (`user.id`).
    MoodleUserId
);
moodle_id!(
    /// A Moodle course (`course.id`). Id 1 is the site course, never a real course.
    MoodleCourseId
);
moodle_id!(
    /// A course module (`cmid`): one activity in a course.
    CourseModuleId
);
moodle_id!(
    /// A course category.
    MoodleCategoryId
);
moodle_id!(
    /// A role (5 is the student role on a standard site).
    MoodleRoleId
);

impl MoodleCourseId {
    /// The site course: the front page, id 1, format `site`.
    pub const SITE: MoodleCourseId = MoodleCourseId(1);

    /// Whether this is the site course (never a real course).
    pub fn is_site(self) -> bool {
        self == Self::SITE
    }
}

impl MoodleRoleId {
    /// The student role on a standard Moodle site.
    pub const STUDENT: MoodleRoleId = MoodleRoleId(5);
}
