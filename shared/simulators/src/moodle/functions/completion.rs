//! Activity and course completion, and the completion "cron".

use serde_json::{Value, json};

use super::course::{activity_link, completion_details, completion_state};
use super::{Ctx, course_missing, find_course, find_user, has_capability, int, is_enrolled};
use crate::moodle::error::MoodleError;
use crate::moodle::fixture::{
    ActivityCompletion, CourseCompletion, CriteriaCompletion, MoodleFixture,
};
use crate::moodle::params::{Desc, Ty, req};

/// `completion_info::is_tracked_user`: an active enrolment and a role that is in completion reports.
pub fn is_tracked_user(st: &MoodleFixture, userid: i64, courseid: i64, now: i64) -> bool {
    is_enrolled(st, userid, courseid, true, now)
        && has_capability(st, userid, courseid, "moodle/course:isincompletionreports")
}

/// Percentage of tracked activities complete (1 or 2), `None` without tracked activities.
pub(crate) fn course_progress(st: &MoodleFixture, courseid: i64, userid: i64) -> Option<f64> {
    let tracked: Vec<i64> = st
        .modules
        .iter()
        .filter(|m| m.course == courseid && m.completion > 0)
        .map(|m| m.id)
        .collect();
    if tracked.is_empty() {
        return None;
    }
    let done = tracked
        .iter()
        .filter(|cmid| matches!(completion_state(st, **cmid, userid).0, 1 | 2))
        .count();
    Some(done as f64 / tracked.len() as f64 * 100.0)
}

/// Grade-based automatic completion: Moodle updates it as soon as the grade changes.
pub fn update_completion_from_grade(st: &mut MoodleFixture, userid: i64, cmid: i64, at: i64) {
    let Some(cm) = st.modules.iter().find(|m| m.id == cmid) else {
        return;
    };
    if cm.completion != 2 || !(cm.completionusegrade || cm.completionpassgrade) {
        return;
    }
    let grade = st
        .grades
        .iter()
        .find(|g| g.cmid == cmid && g.userid == userid)
        .and_then(|g| g.grade);
    let state: u8 = match (grade, cm.gradepass.filter(|p| *p > 0.0)) {
        (None, _) => 0,
        (Some(g), Some(pass)) => {
            if g >= pass {
                2
            } else {
                3
            }
        }
        (Some(_), None) => 1,
    };
    // The completion record is written (and its time moves) only when the state changes.
    let current = st
        .activity_completions
        .iter()
        .find(|a| a.cmid == cmid && a.userid == userid)
        .map_or(0, |a| a.state);
    if current != state {
        set_state(st, userid, cmid, state, at);
    }
}

pub(crate) fn set_state(st: &mut MoodleFixture, userid: i64, cmid: i64, state: u8, at: i64) {
    match st
        .activity_completions
        .iter_mut()
        .find(|a| a.cmid == cmid && a.userid == userid)
    {
        Some(a) => {
            a.state = state;
            a.timemodified = at;
        }
        None => st.activity_completions.push(ActivityCompletion {
            cmid,
            userid,
            state,
            timemodified: at,
        }),
    }
}

/// The completion cron: marks criteria and courses complete from activity completion.
pub fn run_completion_cron(st: &mut MoodleFixture, now: i64) {
    let courses: Vec<(i64, i64, Vec<i64>)> = st
        .courses
        .iter()
        .filter(|c| c.enablecompletion == 1 && !c.completion_criteria.is_empty())
        .map(|c| {
            (
                c.id,
                c.completion_aggregation,
                c.completion_criteria.clone(),
            )
        })
        .collect();
    for (courseid, aggregation, criteria) in courses {
        let users: Vec<i64> = st
            .users
            .iter()
            .filter(|u| !u.deleted && is_tracked_user(st, u.id, courseid, now))
            .map(|u| u.id)
            .collect();
        for userid in users {
            for cmid in &criteria {
                let done = st
                    .activity_completions
                    .iter()
                    .find(|a| a.cmid == *cmid && a.userid == userid && matches!(a.state, 1 | 2));
                if let Some(a) = done {
                    let time = a.timemodified;
                    if !st
                        .criteria_completions
                        .iter()
                        .any(|c| c.courseid == courseid && c.userid == userid && c.cmid == *cmid)
                    {
                        st.criteria_completions.push(CriteriaCompletion {
                            courseid,
                            userid,
                            cmid: *cmid,
                            timecompleted: time,
                        });
                    }
                }
            }
            let met: Vec<i64> = st
                .criteria_completions
                .iter()
                .filter(|c| {
                    c.courseid == courseid && c.userid == userid && criteria.contains(&c.cmid)
                })
                .map(|c| c.timecompleted)
                .collect();
            let complete = if aggregation == 2 {
                !met.is_empty()
            } else {
                met.len() == criteria.len()
            };
            let already = st
                .course_completions
                .iter()
                .any(|c| c.courseid == courseid && c.userid == userid);
            if complete && !already {
                st.course_completions.push(CourseCompletion {
                    courseid,
                    userid,
                    timecompleted: met.iter().copied().max().unwrap_or(now),
                });
            }
        }
    }
}

pub fn get_activities_completion_status_params() -> Vec<(&'static str, Desc)> {
    vec![("courseid", req(Ty::Int)), ("userid", req(Ty::Int))]
}

/// Moodle 4.3 does not check enrolment here: a user who is not tracked gets the statuses
/// with `istrackeduser: false`.
pub fn get_activities_completion_status(
    ctx: &mut Ctx<'_>,
    p: &Value,
) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let course = find_course(st, int(p, "courseid")).ok_or_else(course_missing)?;
    let user =
        find_user(st, int(p, "userid")).ok_or_else(|| MoodleError::missing_record("user"))?;
    let tracked = is_tracked_user(st, user.id, course.id, ctx.now);
    let statuses: Vec<Value> = st
        .modules
        .iter()
        .filter(|m| m.course == course.id && m.completion > 0)
        .map(|m| {
            let (state, time) = completion_state(st, m.id, user.id);
            json!({
                "cmid": m.id,
                "modname": m.modname,
                "instance": m.instance,
                "state": state,
                "timecompleted": time,
                "tracking": m.completion,
                "overrideby": null,
                "valueused": false,
                "hascompletion": true,
                "isautomatic": m.completion == 2,
                "istrackeduser": tracked,
                "uservisible": true,
                "details": completion_details(st, m, user.id),
            })
        })
        .collect();
    Ok(json!({"statuses": statuses, "warnings": []}))
}

pub fn get_course_completion_status_params() -> Vec<(&'static str, Desc)> {
    vec![("courseid", req(Ty::Int)), ("userid", req(Ty::Int))]
}

pub fn get_course_completion_status(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let course = find_course(st, int(p, "courseid")).ok_or_else(course_missing)?;
    let user =
        find_user(st, int(p, "userid")).ok_or_else(|| MoodleError::missing_record("user"))?;
    if course.enablecompletion != 1 {
        return Err(MoodleError::moodle(
            "cannotviewreport",
            "You cannot view this report",
        ));
    }
    if !is_tracked_user(st, user.id, course.id, ctx.now) {
        return Err(if user.id == ctx.me {
            MoodleError::moodle("notenroled", "You are not enrolled in this course")
        } else {
            MoodleError::moodle("usernotenroled", "User is not enrolled in this course")
        });
    }
    if course.completion_criteria.is_empty() {
        return Err(MoodleError::moodle(
            "nocriteriaset",
            "No completion criteria set for this course",
        ));
    }
    let completions: Vec<Value> = course
        .completion_criteria
        .iter()
        .filter_map(|cmid| st.modules.iter().find(|m| m.id == *cmid))
        .map(|cm| {
            let done = st
                .criteria_completions
                .iter()
                .find(|c| c.courseid == course.id && c.userid == user.id && c.cmid == cm.id);
            let mut requirement = Vec::new();
            if cm.completion == 1 {
                requirement.push("Marking complete");
            }
            if cm.completionusegrade {
                requirement.push("Achieving grade");
            }
            if cm.completionpassgrade {
                requirement.push("Achieving passing grade");
            }
            json!({
                "type": 4,
                "title": "Activity completion",
                "status": if done.is_some() { "Yes" } else { "No" },
                "complete": done.is_some(),
                "timecompleted": done.map(|d| d.timecompleted),
                "details": {
                    "type": "Activity completion",
                    "criteria": activity_link(st, cm),
                    "requirement": requirement.join(", "),
                    "status": "",
                },
            })
        })
        .collect();
    let completed = st
        .course_completions
        .iter()
        .any(|c| c.courseid == course.id && c.userid == user.id);
    Ok(json!({
        "completionstatus": {
            "completed": completed,
            "aggregation": course.completion_aggregation,
            "completions": completions,
        },
        "warnings": [],
    }))
}
