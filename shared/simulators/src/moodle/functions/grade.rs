//! Grades: the user grade report and the grade lookups.

use serde_json::{Value, json};

use super::{Ctx, course_missing, find_course, find_user, int, list, num, short_num};
use crate::moodle::error::MoodleError;
use crate::moodle::fixture::{Course, CourseModule, Grade, MoodleFixture, QuizAttempt, User};
use crate::moodle::params::{Desc, Ty, def, multiple_def, opt, req};

pub fn get_grade_items_params() -> Vec<(&'static str, Desc)> {
    vec![
        ("courseid", req(Ty::Int)),
        ("userid", def(Ty::Int, json!(0))),
        ("groupid", def(Ty::Int, json!(0))),
    ]
}

fn graded_modules(st: &MoodleFixture, courseid: i64) -> Vec<&CourseModule> {
    let mut mods: Vec<&CourseModule> = st
        .modules
        .iter()
        .filter(|m| m.course == courseid && m.grade_item_id.is_some() && m.grademax.is_some())
        .collect();
    mods.sort_by_key(|m| m.grade_item_id);
    mods
}

fn grade_of(st: &MoodleFixture, cmid: i64, userid: i64) -> Option<&Grade> {
    st.grades
        .iter()
        .find(|g| g.cmid == cmid && g.userid == userid)
}

fn pct(v: f64, max: f64) -> String {
    if max <= 0.0 {
        return "-".into();
    }
    format!("{:.2} %", v / max * 100.0)
}

fn pass_icon(pass: bool) -> &'static str {
    if pass {
        "<i class=\"icon fa fa-check text-success fa-fw inline\"  title=\"Pass\" role=\"img\" aria-label=\"Pass\"></i>"
    } else {
        "<i class=\"icon fa fa-times text-danger fa-fw inline\"  title=\"Fail\" role=\"img\" aria-label=\"Fail\"></i>"
    }
}

/// One `usergrades` entry of the user report.
fn user_grades(st: &MoodleFixture, course: &Course, user: &User) -> Value {
    let mods = graded_modules(st, course.id);
    let values: Vec<(&CourseModule, Option<&Grade>)> = mods
        .iter()
        .map(|m| (*m, grade_of(st, m.id, user.id)))
        .collect();
    let has_any = values
        .iter()
        .any(|(_, g)| g.and_then(|g| g.grade).is_some());
    let graded_max: f64 = values
        .iter()
        .filter(|(_, g)| g.and_then(|g| g.grade).is_some())
        .filter_map(|(m, _)| m.grademax)
        .sum();
    let all_max: f64 = mods.iter().filter_map(|m| m.grademax).sum();
    let catid = course.grade_category();
    // Grades restored from history and not regraded since: no aggregation weights yet.
    let recovered = st
        .recovered_grades
        .iter()
        .find(|r| r.courseid == course.id && r.userid == user.id);
    let mut items = Vec::new();
    for (m, g) in &values {
        let max = m.grademax.unwrap_or(0.0);
        let value = g.and_then(|g| g.grade);
        let feedback = g.map(|g| g.feedback.clone()).unwrap_or_default();
        let formatted = match value {
            None => "-".to_owned(),
            Some(v) => match m.gradepass.filter(|p| *p > 0.0) {
                Some(pass) => format!("{}{v:.2}", pass_icon(v >= pass)),
                None => format!("{v:.2}"),
            },
        };
        let mut item = json!({
            "id": m.grade_item_id,
            "itemname": m.name,
            "itemtype": "mod",
            "itemmodule": m.modname,
            "iteminstance": m.instance,
            "itemnumber": 0,
            "idnumber": m.idnumber,
            "categoryid": catid,
            "outcomeid": null,
            "scaleid": null,
            "locked": false,
            "cmid": m.id,
            "graderaw": value.map_or(Value::Null, num),
            "gradedatesubmitted": value.and(g.and_then(|g| g.timesubmitted)),
            "gradedategraded": value.and(g.map(|g| g.timegraded)),
            "gradehiddenbydate": false,
            "gradeneedsupdate": false,
            "gradeishidden": false,
            "gradeislocked": false,
            "gradeisoverridden": false,
            "gradeformatted": formatted,
            "grademin": 0,
            "grademax": num(max),
            "rangeformatted": format!("0&ndash;{}", short_num(max)),
            "percentageformatted": value.map_or_else(|| "-".to_owned(), |v| pct(v, max)),
            "feedback": feedback,
            "feedbackformat": if !has_any { 0 } else if feedback.is_empty() { 2 } else { 1 },
        });
        if has_any && recovered.is_none() {
            match value {
                Some(_) => {
                    let w = if graded_max > 0.0 {
                        max / graded_max
                    } else {
                        0.0
                    };
                    item["weightraw"] = num((w * 100_000.0).round() / 100_000.0);
                    item["weightformatted"] = json!(format!("{:.2} %", w * 100.0));
                }
                None => {
                    item["weightraw"] = json!(0);
                    item["weightformatted"] = json!("0.00 %");
                    item["status"] = json!("novalue");
                }
            }
        }
        items.push(item);
    }
    let total: Option<f64> = has_any.then(|| {
        values
            .iter()
            .filter_map(|(_, g)| g.and_then(|g| g.grade))
            .sum()
    });
    let course_max = if has_any { graded_max } else { all_max };
    let last_graded = values
        .iter()
        .filter(|(_, g)| g.and_then(|g| g.grade).is_some())
        .filter_map(|(_, g)| g.map(|g| g.timegraded))
        .max();
    // Restored grades: the course total was written at the recovery, with the items'
    // submission date.
    let (total_submitted, total_graded) = match recovered {
        Some(r) if has_any => (
            values
                .iter()
                .filter(|(_, g)| g.and_then(|g| g.grade).is_some())
                .filter_map(|(_, g)| g.and_then(|g| g.timesubmitted))
                .max(),
            Some(r.at),
        ),
        _ => (None, last_graded),
    };
    items.push(json!({
        "id": course.grade_item_id,
        "itemname": null,
        "itemtype": "course",
        "itemmodule": null,
        "iteminstance": catid,
        "itemnumber": null,
        "idnumber": null,
        "categoryid": null,
        "outcomeid": null,
        "scaleid": null,
        "locked": false,
        "graderaw": total.map_or(Value::Null, num),
        "gradedatesubmitted": total_submitted,
        "gradedategraded": total_graded,
        "gradehiddenbydate": false,
        "gradeneedsupdate": false,
        "gradeishidden": false,
        "gradeislocked": false,
        "gradeisoverridden": false,
        "gradeformatted": total.map_or_else(|| "-".to_owned(), |t| format!("{t:.2}")),
        "grademin": 0,
        "grademax": num(course_max),
        "rangeformatted": format!("0&ndash;{}", short_num(course_max)),
        "percentageformatted": total.map_or_else(|| "-".to_owned(), |t| pct(t, course_max)),
        "feedback": "",
        "feedbackformat": if has_any { 2 } else { 0 },
    }));
    json!({
        "courseid": course.id,
        "courseidnumber": course.idnumber,
        "userid": user.id,
        "userfullname": user.fullname(),
        "useridnumber": user.idnumber,
        "maxdepth": 2,
        "gradeitems": items,
    })
}

/// Users with a gradebook role (students, not teachers) and an active enrolment.
pub(crate) fn graded_users(st: &MoodleFixture, courseid: i64, now: i64) -> Vec<&User> {
    let mut users: Vec<&User> = st
        .users
        .iter()
        .filter(|u| !u.deleted && super::is_enrolled(st, u.id, courseid, true, now))
        .filter(|u| {
            st.role_assignments.iter().any(|ra| {
                ra.userid == u.id
                    && ra.courseid == courseid
                    && st.site.gradebookroles.contains(&ra.roleid)
            })
        })
        .collect();
    users.sort_by(|a, b| (&a.lastname, &a.firstname, a.id).cmp(&(&b.lastname, &b.firstname, b.id)));
    users
}

pub fn get_grade_items(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let course = find_course(st, int(p, "courseid")).ok_or_else(course_missing)?;
    let userid = int(p, "userid");
    let users: Vec<&User> = if userid == 0 {
        graded_users(st, course.id, ctx.now)
    } else {
        vec![find_user(st, userid).ok_or_else(|| MoodleError::missing_record("user"))?]
    };
    let out: Vec<Value> = users.iter().map(|u| user_grades(st, course, u)).collect();
    Ok(json!({"usergrades": out, "warnings": []}))
}

pub fn get_gradeitems_params() -> Vec<(&'static str, Desc)> {
    vec![("courseid", req(Ty::Int))]
}

pub fn get_gradeitems(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let course = find_course(st, int(p, "courseid")).ok_or_else(course_missing)?;
    let items: Vec<Value> = graded_modules(st, course.id)
        .iter()
        .map(|m| {
            json!({
                "id": m.grade_item_id.map(|id| id.to_string()),
                "itemname": m.name,
                "category": course.fullname,
            })
        })
        .collect();
    Ok(json!({"gradeItems": items, "warnings": []}))
}

/// `core_grades_get_grades` as old (3.x) sites answer it.
pub fn get_grades_params() -> Vec<(&'static str, Desc)> {
    vec![
        ("courseid", req(Ty::Int)),
        ("component", def(Ty::Text, json!(""))),
        ("activityid", opt(Ty::Int)),
        ("userids", multiple_def(req(Ty::Int))),
    ]
}

pub fn get_grades(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let course = find_course(st, int(p, "courseid")).ok_or_else(course_missing)?;
    let activity = p.get("activityid").and_then(Value::as_i64);
    let component = super::text(p, "component");
    let userids: Vec<i64> = list(p, "userids")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    let users: Vec<i64> = if userids.is_empty() {
        graded_users(st, course.id, ctx.now)
            .iter()
            .map(|u| u.id)
            .collect()
    } else {
        userids
    };
    let items: Vec<Value> = graded_modules(st, course.id)
        .iter()
        .filter(|m| activity.is_none_or(|a| a == m.id))
        .filter(|m| component.is_empty() || component == format!("mod_{}", m.modname))
        .map(|m| {
            let grades: Vec<Value> = users
                .iter()
                .map(|uid| {
                    let g = grade_of(st, m.id, *uid);
                    let value = g.and_then(|g| g.grade);
                    json!({
                        "userid": uid,
                        "grade": value.map_or(Value::Null, num),
                        "locked": false,
                        "hidden": false,
                        "overridden": false,
                        "feedback": g.map(|g| g.feedback.clone()).unwrap_or_default(),
                        "feedbackformat": 1,
                        "usermodified": 2,
                        "datesubmitted": g.and_then(|g| g.timesubmitted),
                        "dategraded": value.and(g.map(|g| g.timegraded)),
                        "str_grade": value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
                        "str_long_grade": value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2} / {:.2}", m.grademax.unwrap_or(0.0))),
                        "str_feedback": g.map(|g| g.feedback.clone()).unwrap_or_default(),
                    })
                })
                .collect();
            json!({
                "activityid": m.id.to_string(),
                "itemnumber": 0,
                "scaleid": 0,
                "name": m.name,
                "grademin": 0,
                "grademax": num(m.grademax.unwrap_or(0.0)),
                "gradepass": num(m.gradepass.unwrap_or(0.0)),
                "locked": false,
                "hidden": false,
                "grades": grades,
            })
        })
        .collect();
    Ok(json!({"items": items, "outcomes": []}))
}

pub fn assign_get_grades_params() -> Vec<(&'static str, Desc)> {
    vec![
        (
            "assignmentids",
            crate::moodle::params::multiple(req(Ty::Int)),
        ),
        ("since", def(Ty::Int, json!(0))),
    ]
}

pub fn assign_get_grades(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let since = int(p, "since");
    let mut assignments = Vec::new();
    let mut warnings = Vec::new();
    let mut next = 1;
    for id in list(p, "assignmentids").iter().filter_map(Value::as_i64) {
        let Some(cm) = st
            .modules
            .iter()
            .find(|m| m.modname == "assign" && m.instance == id)
        else {
            warnings.push(json!({"item": "assignment", "itemid": id, "warningcode": "3", "message": "No grades found"}));
            continue;
        };
        // The assignment keeps its own record when the gradebook copy is deleted.
        let grades: Vec<Value> = st
            .grades
            .iter()
            .chain(&st.grade_history)
            .filter(|g| g.cmid == cm.id && g.timegraded >= since)
            .filter_map(|g| {
                let value = g.grade?;
                let v = json!({
                    "id": next,
                    "userid": g.userid,
                    "attemptnumber": 0,
                    "timecreated": g.timegraded,
                    "timemodified": g.timegraded,
                    "grader": 2,
                    "grade": format!("{value:.5}"),
                });
                next += 1;
                Some(v)
            })
            .collect();
        if grades.is_empty() {
            warnings.push(json!({"item": "assignment", "itemid": id, "warningcode": "3", "message": "No grades found"}));
        } else {
            assignments.push(json!({"assignmentid": id, "grades": grades}));
        }
    }
    Ok(json!({"assignments": assignments, "warnings": warnings}))
}

pub fn quiz_get_user_best_grade_params() -> Vec<(&'static str, Desc)> {
    vec![("quizid", req(Ty::Int)), ("userid", def(Ty::Int, json!(0)))]
}

pub fn quiz_get_user_best_grade(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let quizid = int(p, "quizid");
    let userid = match int(p, "userid") {
        0 => ctx.me,
        id => id,
    };
    let cm = st
        .modules
        .iter()
        .find(|m| m.modname == "quiz" && m.instance == quizid)
        .ok_or_else(|| MoodleError::missing_record("quiz"))?;
    // The quiz keeps its best grade when the gradebook copy is deleted.
    let grade = grade_of(st, cm.id, userid)
        .or_else(|| {
            st.grade_history
                .iter()
                .find(|g| g.cmid == cm.id && g.userid == userid)
        })
        .and_then(|g| g.grade);
    let mut out = json!({"hasgrade": grade.is_some(), "warnings": []});
    if let Some(g) = grade {
        out["grade"] = num(g);
    }
    if let Some(pass) = cm.gradepass.filter(|p| *p > 0.0) {
        out["gradetopass"] = num(pass);
    }
    Ok(out)
}

pub fn grades_table_params() -> Vec<(&'static str, Desc)> {
    get_grade_items_params()
}

fn cell(class: &str, column: &str, content: String, headers: &str) -> Value {
    json!({"class": format!("{class} column-{column}"), "content": content, "headers": format!("{headers} {column}")})
}

/// `gradereport_user_get_grades_table`: the report as HTML table cells.
pub fn grades_table(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let course = find_course(st, int(p, "courseid")).ok_or_else(course_missing)?;
    let userid = int(p, "userid");
    let users: Vec<&User> = if userid == 0 {
        graded_users(st, course.id, ctx.now)
    } else {
        vec![find_user(st, userid).ok_or_else(|| MoodleError::missing_record("user"))?]
    };
    let catid = course.grade_category();
    let mut tables = Vec::new();
    for user in users {
        let ug = user_grades(st, course, user);
        let items = ug["gradeitems"].as_array().cloned().unwrap_or_default();
        let uid = user.id;
        let cat = format!("cat_{catid}_{uid}");
        let course_max = items
            .last()
            .and_then(|i| i["grademax"].as_f64())
            .unwrap_or(0.0);
        let mut rows = vec![
            json!({
                "itemname": {
                    "class": "level1 d1 b1b b1t category column-itemname",
                    "colspan": 8,
                    "content": format!("<div class=\"d-flex category-content\">\n    <span>{}</span>\n</div>", course.fullname),
                    "id": cat,
                },
                "parentcategories": [],
            }),
            json!({"leader": {"class": "level1 d1 b1t b2b b1l", "rowspan": items.len() + 1}, "parentcategories": [catid]}),
        ];
        for item in &items {
            let is_course = item["itemtype"] == "course";
            let level = if is_course {
                "level1 d1 baggt b2b"
            } else {
                "level2 item b1b"
            };
            let row_id = format!("row_{}_{uid}", item["id"]);
            let headers = format!("{cat} {row_id}");
            let name = item["itemname"].as_str().unwrap_or_default();
            let module = item["itemmodule"].as_str().unwrap_or_default();
            let itemname = if is_course {
                "<div class=\"courseitem d-flex align-items-center\"><span class=\"gradeitemheader \" title=\"Course total\" tabindex=\"0\">Course total</span></div>".to_owned()
            } else {
                format!(
                    "<div class=\"item d-flex align-items-center\"><a title=\"Link to {module} activity {name}\" class=\"gradeitemheader \" href=\"{}/mod/{module}/view.php?id={}\">{name}</a></div>",
                    st.site.siteurl, item["cmid"]
                )
            };
            let graded = item["graderaw"].as_f64();
            let weight = match (is_course, item["weightformatted"].as_str()) {
                (false, Some(w)) if item["status"] == "novalue" => format!("{w}<br>( Empty )"),
                (false, Some(w)) => w.to_owned(),
                _ => "-".to_owned(),
            };
            let formatted = item["gradeformatted"].as_str().unwrap_or("-").to_owned();
            let passclass = if formatted.contains("title=\"Pass\"") {
                " gradepass"
            } else if formatted.contains("title=\"Fail\"") {
                " gradefail"
            } else {
                " "
            };
            let contribution = match (is_course, graded) {
                (true, _) => "-".to_owned(),
                (false, Some(g)) if course_max > 0.0 => format!("{:.2} %", g / course_max * 100.0),
                (false, _) if item.get("weightraw").is_some() => "0.00 %".to_owned(),
                _ => "-".to_owned(),
            };
            let feedback = match item["feedback"].as_str() {
                Some(f) if !f.is_empty() => f.to_owned(),
                _ => "&nbsp;".to_owned(),
            };
            rows.push(json!({
                "itemname": {"class": format!("{level} column-itemname"), "colspan": 1, "content": itemname, "id": row_id},
                "weight": cell(&format!("{level} itemcenter "), "weight", weight, &headers).as_object().map(|o| weight_headers(o, uid)).unwrap_or_default(),
                "grade": cell(&format!("{level} itemcenter {passclass}"), "grade", formatted, &headers).as_object().map(|o| weight_headers(o, uid)).unwrap_or_default(),
                "range": cell(&format!("{level} itemcenter "), "range", item["rangeformatted"].as_str().unwrap_or_default().to_owned(), &headers).as_object().map(|o| weight_headers(o, uid)).unwrap_or_default(),
                "percentage": cell(&format!("{level} itemcenter "), "percentage", item["percentageformatted"].as_str().unwrap_or("-").to_owned(), &headers).as_object().map(|o| weight_headers(o, uid)).unwrap_or_default(),
                "feedback": cell(&format!("{level} feedbacktext"), "feedback", feedback, &headers).as_object().map(|o| weight_headers(o, uid)).unwrap_or_default(),
                "contributiontocoursetotal": cell(&format!("{level} itemcenter "), "contributiontocoursetotal", contribution, &headers).as_object().map(|o| weight_headers(o, uid)).unwrap_or_default(),
                "parentcategories": [catid],
            }));
        }
        tables.push(json!({
            "courseid": course.id,
            "userid": uid,
            "userfullname": user.fullname(),
            "maxdepth": 2,
            "tabledata": rows,
        }));
    }
    Ok(json!({"tables": tables, "warnings": []}))
}

/// Moodle suffixes the column header id with the user id (`weight4`).
fn weight_headers(cell: &serde_json::Map<String, Value>, uid: i64) -> Value {
    let mut cell = cell.clone();
    if let Some(Value::String(h)) = cell.get_mut("headers") {
        h.push_str(&uid.to_string());
    }
    Value::Object(cell)
}

/// A change to a user's grade in the course regrades it: restored grades get weights.
pub fn regraded(st: &mut MoodleFixture, userid: i64, cmid: i64) {
    if let Some(course) = st.modules.iter().find(|m| m.id == cmid).map(|m| m.course) {
        st.recovered_grades
            .retain(|r| !(r.courseid == course && r.userid == userid));
    }
}

/// A finished quiz attempt (numbered after the user's others). Grading method highest:
/// the gradebook grade is the best attempt's, dated by the latest attempt (Moodle's
/// `quiz_get_user_grades`: `max(timefinish)`); grade-based completion follows at once.
pub fn record_quiz_attempt(st: &mut MoodleFixture, mut attempt: QuizAttempt) -> i64 {
    let (cmid, userid) = (attempt.cmid, attempt.userid);
    attempt.attempt = st
        .quiz_attempts
        .iter()
        .filter(|a| a.cmid == cmid && a.userid == userid)
        .count() as i64
        + 1;
    let number = attempt.attempt;
    st.quiz_attempts.push(attempt);
    let mine: Vec<&QuizAttempt> = st
        .quiz_attempts
        .iter()
        .filter(|a| a.cmid == cmid && a.userid == userid)
        .collect();
    let best = mine.iter().map(|a| a.grade).fold(f64::MIN, f64::max);
    let last = mine.iter().map(|a| a.timefinish).max().unwrap_or(0);
    regraded(st, userid, cmid);
    match st
        .grades
        .iter_mut()
        .find(|g| g.cmid == cmid && g.userid == userid)
    {
        Some(g) => {
            g.grade = Some(best);
            g.timegraded = last;
            g.timesubmitted = Some(last);
        }
        None => st.grades.push(Grade {
            cmid,
            userid,
            grade: Some(best),
            feedback: String::new(),
            timegraded: last,
            timesubmitted: Some(last),
        }),
    }
    super::update_completion_from_grade(st, userid, cmid, last);
    number
}
