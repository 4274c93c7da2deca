//! Enrolments: manual enrol/unenrol and the enrolment lookups.

use serde_json::{Value, json};

use super::completion::course_progress;
use super::completion::update_completion_from_grade;
use super::{
    Ctx, course_image, course_missing, find_course, find_user, has_capability, int, is_enrolled,
    list, opt_bool, opt_int, text, user_course_ids, user_pic,
};
use crate::moodle::error::MoodleError;
use crate::moodle::fixture::{
    Grade, MoodleFixture, RecoveredGrades, RoleAssignment, User, UserEnrolment,
};
use crate::moodle::params::{Desc, Ty, def, multiple, multiple_def, opt, req, single};

fn roles_in_course(st: &MoodleFixture, userid: i64, courseid: i64) -> Value {
    Value::Array(
        st.role_assignments
            .iter()
            .filter(|ra| ra.userid == userid && ra.courseid == courseid)
            .filter_map(|ra| st.roles.iter().find(|r| r.id == ra.roleid))
            .map(|r| json!({"roleid": r.id, "name": r.name, "shortname": r.shortname, "sortorder": r.sortorder}))
            .collect(),
    )
}

fn enrolled_user_record(st: &MoodleFixture, u: &User, courseid: i64, now: i64) -> Value {
    let courses: Vec<Value> = user_course_ids(st, u.id, false, now)
        .iter()
        .filter_map(|id| find_course(st, *id))
        .map(|c| json!({"id": c.id, "fullname": c.fullname, "shortname": c.shortname}))
        .collect();
    json!({
        "id": u.id,
        "username": u.username,
        "firstname": u.firstname,
        "lastname": u.lastname,
        "fullname": u.fullname(),
        "email": u.email,
        "department": u.department,
        "idnumber": u.idnumber,
        "firstaccess": u.firstaccess,
        "lastaccess": u.lastaccess,
        "lastcourseaccess": st
            .user_lastaccess
            .iter()
            .find(|a| a.userid == u.id && a.courseid == courseid)
            .map_or(0, |a| a.timeaccess),
        "city": u.city,
        "country": u.country,
        "profileimageurlsmall": user_pic(st, "f2"),
        "profileimageurl": user_pic(st, "f1"),
        "roles": roles_in_course(st, u.id, courseid),
        "enrolledcourses": courses,
    })
}

pub fn get_enrolled_users_params() -> Vec<(&'static str, Desc)> {
    vec![
        ("courseid", req(Ty::Int)),
        (
            "options",
            multiple_def(single(vec![
                ("name", req(Ty::AlphaNumExt)),
                ("value", req(Ty::Text)),
            ])),
        ),
    ]
}

pub fn get_enrolled_users(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let course = find_course(st, int(p, "courseid")).ok_or_else(course_missing)?;
    let mut withcapability = None;
    let mut onlyactive = false;
    let mut onlysuspended = false;
    let mut userfields: Option<Vec<String>> = None;
    let mut limitfrom = 0usize;
    let mut limitnumber = 0usize;
    let mut sortby = "id".to_owned();
    let mut descending = false;
    for o in list(p, "options") {
        let value = text(o, "value");
        match text(o, "name").as_str() {
            "withcapability" => withcapability = Some(value),
            "groupid" => {}
            "onlyactive" => onlyactive = value == "1",
            "onlysuspended" => onlysuspended = value == "1",
            "userfields" => {
                userfields = Some(value.split(',').map(|s| s.trim().to_owned()).collect())
            }
            "limitfrom" => limitfrom = value.parse().unwrap_or(0),
            "limitnumber" => limitnumber = value.parse().unwrap_or(0),
            "sortby" => sortby = value,
            "sortdirection" => descending = value.eq_ignore_ascii_case("DESC"),
            other => {
                return Err(MoodleError::invalid_parameter(format!(
                    "Invalid option name: {other}"
                )));
            }
        }
    }
    let mut users: Vec<&User> = st
        .users
        .iter()
        .filter(|u| !u.deleted && is_enrolled(st, u.id, course.id, false, ctx.now))
        .filter(|u| !onlyactive || is_enrolled(st, u.id, course.id, true, ctx.now))
        .filter(|u| !onlysuspended || !is_enrolled(st, u.id, course.id, true, ctx.now))
        .filter(|u| {
            withcapability
                .as_deref()
                .is_none_or(|cap| has_capability(st, u.id, course.id, cap))
        })
        .collect();
    match sortby.as_str() {
        "firstname" => users.sort_by(|a, b| a.firstname.cmp(&b.firstname)),
        "lastname" => users.sort_by(|a, b| a.lastname.cmp(&b.lastname)),
        _ => users.sort_by_key(|u| u.id),
    }
    if descending {
        users.reverse();
    }
    let users = users.into_iter().skip(limitfrom);
    let users: Vec<&User> = if limitnumber > 0 {
        users.take(limitnumber).collect()
    } else {
        users.collect()
    };
    let out: Vec<Value> = users
        .iter()
        .map(|u| {
            let mut record = enrolled_user_record(st, u, course.id, ctx.now);
            if let (Some(fields), Value::Object(map)) = (&userfields, &mut record) {
                map.retain(|k, _| k == "id" || k == "fullname" || fields.iter().any(|f| f == k));
            }
            record
        })
        .collect();
    Ok(Value::Array(out))
}

pub fn get_users_courses_params() -> Vec<(&'static str, Desc)> {
    vec![
        ("userid", req(Ty::Int)),
        ("returnusercount", def(Ty::Bool, json!(true))),
    ]
}

pub fn get_users_courses(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let userid = int(p, "userid");
    let returnusercount = p.get("returnusercount") != Some(&json!(false));
    if find_user(st, userid).is_none() {
        return Ok(json!([]));
    }
    let out: Vec<Value> = user_course_ids(st, userid, true, ctx.now)
        .iter()
        .filter_map(|id| find_course(st, *id))
        .map(|c| {
            let tracked = super::is_tracked_user(st, userid, c.id, ctx.now);
            let completed = st
                .course_completions
                .iter()
                .any(|cc| cc.courseid == c.id && cc.userid == userid);
            let progress = if c.enablecompletion == 1 {
                course_progress(st, c.id, userid).map_or(Value::Null, super::num)
            } else {
                Value::Null
            };
            let mut v = json!({
                "id": c.id,
                "shortname": c.shortname,
                "fullname": c.fullname,
                "displayname": c.fullname,
                "idnumber": c.idnumber,
                "visible": c.visible,
                "summary": c.summary,
                "summaryformat": 1,
                "format": c.format,
                "courseimage": course_image(st, c),
                "showgrades": c.showgrades == 1,
                "lang": c.lang,
                "enablecompletion": c.enablecompletion == 1,
                "completionhascriteria": !c.completion_criteria.is_empty(),
                "completionusertracked": tracked,
                "category": c.category,
                "progress": progress,
                "completed": completed,
                "startdate": c.startdate,
                "enddate": c.enddate,
                "marker": 0,
                "lastaccess": null,
                "isfavourite": false,
                "hidden": false,
                "overviewfiles": [],
                "showactivitydates": false,
                "showcompletionconditions": true,
                "timemodified": c.timemodified,
            });
            if returnusercount {
                let count = st
                    .users
                    .iter()
                    .filter(|u| !u.deleted && is_enrolled(st, u.id, c.id, true, ctx.now))
                    .count();
                v["enrolledusercount"] = json!(count);
            }
            v
        })
        .collect();
    Ok(Value::Array(out))
}

pub fn get_course_enrolment_methods_params() -> Vec<(&'static str, Desc)> {
    vec![("courseid", req(Ty::Int))]
}

/// Only plugins with `get_enrol_info` (self, guest) are listed; manual never is.
pub fn get_course_enrolment_methods(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let course = find_course(st, int(p, "courseid")).ok_or_else(course_missing)?;
    let out: Vec<Value> = st
        .enrol_instances
        .iter()
        .filter(|e| e.courseid == course.id && (e.enrol == "self" || e.enrol == "guest"))
        .map(|e| {
            json!({
                "id": e.id,
                "courseid": e.courseid,
                "type": e.enrol,
                "name": if e.enrol == "self" { "Self enrolment (Student)" } else { "Guest access" },
                "status": if e.status == 0 { json!(true) } else { json!(false) },
                "wsfunction": if e.enrol == "self" { "enrol_self_get_instance_info" } else { "enrol_guest_get_instance_info" },
            })
        })
        .collect();
    Ok(Value::Array(out))
}

fn manual_instance(st: &MoodleFixture, courseid: i64) -> Option<i64> {
    st.enrol_instances
        .iter()
        .find(|e| e.courseid == courseid && e.enrol == "manual" && e.status == 0)
        .map(|e| e.id)
}

fn no_instance(courseid: i64) -> MoodleError {
    MoodleError::moodle(
        "wsnoinstance",
        format!(
            "Manual enrolment plugin instance doesn't exist or is disabled for the course (id = {courseid})"
        ),
    )
}

pub fn enrol_users_params() -> Vec<(&'static str, Desc)> {
    vec![(
        "enrolments",
        multiple(single(vec![
            ("roleid", req(Ty::Int)),
            ("userid", req(Ty::Int)),
            ("courseid", req(Ty::Int)),
            ("timestart", opt(Ty::Int)),
            ("timeend", opt(Ty::Int)),
            ("suspend", opt(Ty::Bool)),
        ])),
    )]
}

pub fn enrol_users(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let now = ctx.now;
    let st = &mut *ctx.st;
    for e in list(p, "enrolments") {
        let courseid = int(e, "courseid");
        let userid = int(e, "userid");
        let roleid = int(e, "roleid");
        if find_course(st, courseid).is_none() {
            return Err(MoodleError::invalid_parameter("Context does not exist"));
        }
        if !st.roles.iter().any(|r| r.id == roleid && r.assignable) {
            return Err(MoodleError::moodle(
                "wsusercannotassign",
                format!(
                    "You don't have the permission to assign this role ({roleid}) to this user ({userid}) in this course ({courseid})."
                ),
            ));
        }
        let instance = manual_instance(st, courseid).ok_or_else(|| no_instance(courseid))?;
        if find_user(st, userid).is_none() {
            return Err(MoodleError::coding_error(
                "User ID does not exist or is deleted!",
            ));
        }
        let status = opt_bool(e, "suspend").map(i64::from);
        match st
            .user_enrolments
            .iter_mut()
            .find(|ue| ue.enrolid == instance && ue.userid == userid)
        {
            Some(ue) => {
                // enrol_user() on an existing enrolment only updates what was given.
                if let Some(s) = status {
                    ue.status = s;
                }
                if let Some(t) = opt_int(e, "timestart") {
                    ue.timestart = t;
                }
                if let Some(t) = opt_int(e, "timeend") {
                    ue.timeend = t;
                }
            }
            None => {
                st.user_enrolments.push(UserEnrolment {
                    enrolid: instance,
                    userid,
                    status: status.unwrap_or(0),
                    timestart: opt_int(e, "timestart").unwrap_or(0),
                    timeend: opt_int(e, "timeend").unwrap_or(0),
                    timecreated: now,
                });
                if st.site.recovergradesdefault {
                    recover_gradebook_grades(st, courseid, userid, now);
                }
            }
        }
        if !st
            .role_assignments
            .iter()
            .any(|ra| ra.courseid == courseid && ra.userid == userid && ra.roleid == roleid)
        {
            st.role_assignments.push(RoleAssignment {
                courseid,
                userid,
                roleid,
            });
        }
    }
    Ok(Value::Null)
}

pub fn unenrol_users_params() -> Vec<(&'static str, Desc)> {
    vec![(
        "enrolments",
        multiple(single(vec![
            ("userid", req(Ty::Int)),
            ("courseid", req(Ty::Int)),
            ("roleid", opt(Ty::Int)),
        ])),
    )]
}

pub fn unenrol_users(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let now = ctx.now;
    let st = &mut *ctx.st;
    for e in list(p, "enrolments") {
        let courseid = int(e, "courseid");
        let userid = int(e, "userid");
        if find_course(st, courseid).is_none() {
            return Err(course_missing());
        }
        let instance = manual_instance(st, courseid).ok_or_else(|| no_instance(courseid))?;
        if find_user(st, userid).is_none() {
            return Err(MoodleError::invalid_parameter(format!(
                "User id not exist: {userid}"
            )));
        }
        st.user_enrolments
            .retain(|ue| !(ue.enrolid == instance && ue.userid == userid));
        let still_enrolled = st.user_enrolments.iter().any(|ue| {
            ue.userid == userid
                && st
                    .enrol_instances
                    .iter()
                    .any(|i| i.id == ue.enrolid && i.courseid == courseid)
        });
        if !still_enrolled {
            st.role_assignments
                .retain(|ra| !(ra.courseid == courseid && ra.userid == userid));
            delete_gradebook_grades(st, courseid, userid, now);
        }
    }
    Ok(Value::Null)
}

/// `grade_user_unenrol`: the last enrolment in the course is gone, so are the user's
/// gradebook grades there (kept in grade history for `recovergradesdefault`); grade-based
/// activity completion follows the deleted grades (back to state 0, its time moving).
pub(crate) fn delete_gradebook_grades(
    st: &mut MoodleFixture,
    courseid: i64,
    userid: i64,
    now: i64,
) {
    let cmids: Vec<i64> = st
        .modules
        .iter()
        .filter(|m| m.course == courseid)
        .map(|m| m.id)
        .collect();
    let (gone, kept): (Vec<Grade>, Vec<Grade>) = std::mem::take(&mut st.grades)
        .into_iter()
        .partition(|g| g.userid == userid && cmids.contains(&g.cmid));
    st.grades = kept;
    st.grade_history
        .retain(|g| !(g.userid == userid && cmids.contains(&g.cmid)));
    st.grade_history.extend(gone.iter().cloned());
    st.recovered_grades
        .retain(|r| !(r.courseid == courseid && r.userid == userid));
    for g in gone {
        update_completion_from_grade(st, userid, g.cmid, now);
    }
}

/// `grade_recover_history_grades`: a new enrolment with `recovergradesdefault` on brings
/// back the gradebook grades deleted at the last unenrolment (when the user has none).
fn recover_gradebook_grades(st: &mut MoodleFixture, courseid: i64, userid: i64, now: i64) {
    let cmids: Vec<i64> = st
        .modules
        .iter()
        .filter(|m| m.course == courseid)
        .map(|m| m.id)
        .collect();
    if st
        .grades
        .iter()
        .any(|g| g.userid == userid && cmids.contains(&g.cmid))
    {
        return;
    }
    let (back, rest): (Vec<Grade>, Vec<Grade>) = std::mem::take(&mut st.grade_history)
        .into_iter()
        .partition(|g| g.userid == userid && cmids.contains(&g.cmid));
    st.grade_history = rest;
    if back.is_empty() {
        return;
    }
    for mut g in back {
        g.timesubmitted = g.timesubmitted.or(Some(g.timegraded));
        let cmid = g.cmid;
        st.grades.push(g);
        update_completion_from_grade(st, userid, cmid, now);
    }
    st.recovered_grades.push(RecoveredGrades {
        courseid,
        userid,
        at: now,
    });
}
