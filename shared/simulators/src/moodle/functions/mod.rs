//! The web service functions: parameter descriptions and implementations.
//!
//! Each function runs against a draft of the state; the draft is committed only when the
//! function succeeds, so a failing row fails the whole batch as Moodle's delegated
//! transactions do.

mod completion;
mod course;
mod enrol;
mod grade;
mod site;
mod user;

use serde_json::{Number, Value, json};

use super::error::MoodleError;
use super::fixture::{Course, CourseModule, MoodleFixture, User};
use super::params::Desc;

/// What a function runs with.
pub struct Ctx<'a> {
    pub st: &'a mut MoodleFixture,
    /// The token's user.
    pub me: i64,
    /// The functions of the token's service.
    pub service_functions: Vec<String>,
    /// Unix time of the call.
    pub now: i64,
}

pub type Params = fn() -> Vec<(&'static str, Desc)>;
pub type Handler = fn(&mut Ctx<'_>, &Value) -> Result<Value, MoodleError>;

/// Functions the simulator implements.
pub const IMPLEMENTED: &[&str] = &[
    "core_webservice_get_site_info",
    "core_course_get_categories",
    "core_course_get_courses_by_field",
    "core_course_get_courses",
    "core_course_get_contents",
    "core_course_get_course_module",
    "core_course_get_course_module_by_instance",
    "core_course_create_courses",
    "core_course_update_courses",
    "core_course_delete_courses",
    "core_course_import_course",
    "core_user_get_users",
    "core_user_get_users_by_field",
    "core_user_create_users",
    "core_user_update_users",
    "core_user_delete_users",
    "core_enrol_get_enrolled_users",
    "core_enrol_get_users_courses",
    "core_enrol_get_course_enrolment_methods",
    "enrol_manual_enrol_users",
    "enrol_manual_unenrol_users",
    "gradereport_user_get_grade_items",
    "gradereport_user_get_grades_table",
    "core_grades_get_gradeitems",
    "core_grades_get_grades",
    "mod_assign_get_grades",
    "mod_quiz_get_user_best_grade",
    "core_completion_get_activities_completion_status",
    "core_completion_get_course_completion_status",
    "tool_mobile_get_config",
];

/// Functions that exist in Moodle 4.3 but that the simulator does not implement: calling
/// one outside the token's service gives `accessexception` as on a real site.
pub const OTHER_KNOWN: &[&str] = &[
    "core_course_search_courses",
    "core_course_get_recent_courses",
    "core_course_duplicate_course",
    "core_course_get_updates_since",
    "core_enrol_get_enrolled_users_with_capability",
    "core_completion_update_activity_completion_status_manually",
    "core_completion_override_activity_completion_status",
    "core_completion_mark_course_self_completed",
    "core_group_get_course_groups",
    "core_role_assign_roles",
    "core_role_unassign_roles",
    "gradereport_overview_get_course_grades",
    "mod_assign_get_assignments",
    "mod_quiz_get_quizzes_by_courses",
    "enrol_self_enrol_user",
];

/// Whether Moodle knows the function (else `invalidrecord` on `external_functions`).
pub fn exists(name: &str, old_site: bool) -> bool {
    if name == "core_grades_get_grades" {
        return old_site;
    }
    IMPLEMENTED.contains(&name) || OTHER_KNOWN.contains(&name)
}

/// The parameter description and implementation of a function.
pub fn lookup(name: &str) -> Option<(Params, Handler)> {
    let f: (Params, Handler) = match name {
        "core_webservice_get_site_info" => (site::site_info_params, site::site_info),
        "core_course_get_categories" => (course::get_categories_params, course::get_categories),
        "core_course_get_courses_by_field" => (
            course::get_courses_by_field_params,
            course::get_courses_by_field,
        ),
        "core_course_get_courses" => (course::get_courses_params, course::get_courses),
        "core_course_get_contents" => (course::get_contents_params, course::get_contents),
        "core_course_get_course_module" => {
            (course::get_course_module_params, course::get_course_module)
        }
        "core_course_get_course_module_by_instance" => (
            course::get_course_module_by_instance_params,
            course::get_course_module_by_instance,
        ),
        "core_course_create_courses" => (course::create_courses_params, course::create_courses),
        "core_course_update_courses" => (course::update_courses_params, course::update_courses),
        "core_course_delete_courses" => (course::delete_courses_params, course::delete_courses),
        "core_course_import_course" => (course::import_course_params, course::import_course),
        "core_user_get_users" => (user::get_users_params, user::get_users),
        "core_user_get_users_by_field" => {
            (user::get_users_by_field_params, user::get_users_by_field)
        }
        "core_user_create_users" => (user::create_users_params, user::create_users),
        "core_user_update_users" => (user::update_users_params, user::update_users),
        "core_user_delete_users" => (user::delete_users_params, user::delete_users),
        "core_enrol_get_enrolled_users" => {
            (enrol::get_enrolled_users_params, enrol::get_enrolled_users)
        }
        "core_enrol_get_users_courses" => {
            (enrol::get_users_courses_params, enrol::get_users_courses)
        }
        "core_enrol_get_course_enrolment_methods" => (
            enrol::get_course_enrolment_methods_params,
            enrol::get_course_enrolment_methods,
        ),
        "enrol_manual_enrol_users" => (enrol::enrol_users_params, enrol::enrol_users),
        "enrol_manual_unenrol_users" => (enrol::unenrol_users_params, enrol::unenrol_users),
        "gradereport_user_get_grade_items" => {
            (grade::get_grade_items_params, grade::get_grade_items)
        }
        "gradereport_user_get_grades_table" => (grade::grades_table_params, grade::grades_table),
        "core_grades_get_gradeitems" => (grade::get_gradeitems_params, grade::get_gradeitems),
        "core_grades_get_grades" => (grade::get_grades_params, grade::get_grades),
        "mod_assign_get_grades" => (grade::assign_get_grades_params, grade::assign_get_grades),
        "mod_quiz_get_user_best_grade" => (
            grade::quiz_get_user_best_grade_params,
            grade::quiz_get_user_best_grade,
        ),
        "core_completion_get_activities_completion_status" => (
            completion::get_activities_completion_status_params,
            completion::get_activities_completion_status,
        ),
        "core_completion_get_course_completion_status" => (
            completion::get_course_completion_status_params,
            completion::get_course_completion_status,
        ),
        "tool_mobile_get_config" => (site::mobile_config_params, site::mobile_config),
        _ => return None,
    };
    Some(f)
}

pub use completion::{is_tracked_user, run_completion_cron, update_completion_from_grade};
pub use grade::{record_quiz_attempt, regraded};

// ---------------------------------------------------------------- helpers

pub(crate) fn int(p: &Value, k: &str) -> i64 {
    p.get(k).and_then(Value::as_i64).unwrap_or(0)
}

pub(crate) fn opt_int(p: &Value, k: &str) -> Option<i64> {
    p.get(k).and_then(Value::as_i64)
}

pub(crate) fn text(p: &Value, k: &str) -> String {
    p.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub(crate) fn opt_text(p: &Value, k: &str) -> Option<String> {
    p.get(k).and_then(Value::as_str).map(str::to_owned)
}

pub(crate) fn opt_bool(p: &Value, k: &str) -> Option<bool> {
    p.get(k).and_then(Value::as_bool)
}

pub(crate) fn list<'v>(p: &'v Value, k: &str) -> &'v [Value] {
    p.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A PHP float as JSON: whole numbers without a fraction, others to 5 decimals.
pub(crate) fn num(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return json!(f as i64);
    }
    let rounded = (f * 100_000.0).round() / 100_000.0;
    Number::from_f64(rounded).map_or(Value::Null, Value::Number)
}

/// A number as Moodle formats it in text: `10` or `3.5`.
pub(crate) fn short_num(f: f64) -> String {
    if f.fract() == 0.0 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// The next midnight after `now` in the site's time zone (UTC if the name is unknown):
/// the default start date of a new course (tomorrow, as the course form proposes).
pub(crate) fn next_midnight(zone: &str, now: i64) -> i64 {
    use chrono::{Days, TimeZone};
    let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
    let Some(today) = tz.timestamp_opt(now, 0).single().map(|t| t.date_naive()) else {
        return now - now.rem_euclid(86_400) + 86_400;
    };
    today
        .checked_add_days(Days::new(1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| tz.from_local_datetime(&t).earliest())
        .map_or(now - now.rem_euclid(86_400) + 86_400, |t| t.timestamp())
}

pub(crate) fn site_url(st: &MoodleFixture) -> String {
    st.site.siteurl.clone()
}

pub(crate) fn user_pic(st: &MoodleFixture, size: &str) -> String {
    format!(
        "{}/theme/image.php/boost/core/{}/u/{size}",
        st.site.siteurl, st.site.themerev
    )
}

pub(crate) fn course_image(st: &MoodleFixture, c: &Course) -> String {
    format!(
        "{}/pluginfile.php/{}/course/generated/course.svg",
        st.site.siteurl, c.contextid
    )
}

pub(crate) fn find_course(st: &MoodleFixture, id: i64) -> Option<&Course> {
    st.courses.iter().find(|c| c.id == id)
}

pub(crate) fn find_user(st: &MoodleFixture, id: i64) -> Option<&User> {
    st.users.iter().find(|u| u.id == id && !u.deleted)
}

pub(crate) fn find_cm(st: &MoodleFixture, id: i64) -> Option<&CourseModule> {
    st.modules.iter().find(|m| m.id == id)
}

pub(crate) fn course_missing() -> MoodleError {
    MoodleError::missing_record("course")
}

/// Whether the user has any role in the course with the capability.
pub(crate) fn has_capability(st: &MoodleFixture, userid: i64, courseid: i64, cap: &str) -> bool {
    st.role_assignments
        .iter()
        .filter(|ra| ra.userid == userid && ra.courseid == courseid)
        .any(|ra| {
            st.roles
                .iter()
                .any(|r| r.id == ra.roleid && r.capabilities.iter().any(|c| c == cap))
        })
}

/// The user's enrolments in the course: `(status, instance enabled, timestart, timeend)`.
pub(crate) fn is_enrolled(
    st: &MoodleFixture,
    userid: i64,
    courseid: i64,
    onlyactive: bool,
    now: i64,
) -> bool {
    st.user_enrolments.iter().any(|ue| {
        if ue.userid != userid {
            return false;
        }
        let Some(inst) = st
            .enrol_instances
            .iter()
            .find(|e| e.id == ue.enrolid && e.courseid == courseid)
        else {
            return false;
        };
        if !onlyactive {
            return true;
        }
        let user_active = find_user(st, userid).is_some_and(|u| !u.suspended);
        user_active
            && ue.status == 0
            && inst.status == 0
            && ue.timestart <= now
            && (ue.timeend == 0 || ue.timeend > now)
    })
}

/// Courses the user is enrolled in, by id.
pub(crate) fn user_course_ids(
    st: &MoodleFixture,
    userid: i64,
    onlyactive: bool,
    now: i64,
) -> Vec<i64> {
    let mut ids: Vec<i64> = st
        .courses
        .iter()
        .filter(|c| is_enrolled(st, userid, c.id, onlyactive, now))
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    ids
}

pub(crate) fn warning(item: &str, itemid: i64, code: &str, message: impl Into<String>) -> Value {
    json!({"item": item, "itemid": itemid, "warningcode": code, "message": message.into()})
}

pub(crate) fn next_id<T>(items: &[T], id: impl Fn(&T) -> i64) -> i64 {
    items.iter().map(id).max().unwrap_or(0) + 1
}

/// Next free context id (courses and modules share them).
pub(crate) fn next_context_id(st: &MoodleFixture) -> i64 {
    let c = st.courses.iter().map(|c| c.contextid).max().unwrap_or(0);
    let m = st.modules.iter().map(|m| m.contextid).max().unwrap_or(0);
    c.max(m) + 1
}

/// Next free grade item id (course totals and activities share them).
pub(crate) fn next_grade_item_id(st: &MoodleFixture) -> i64 {
    let c = st
        .courses
        .iter()
        .filter_map(|c| c.grade_item_id)
        .max()
        .unwrap_or(0);
    let m = st
        .modules
        .iter()
        .filter_map(|m| m.grade_item_id)
        .max()
        .unwrap_or(0);
    c.max(m) + 1
}
