//! Categories, courses, course contents and course modules; creating, updating,
//! deleting and importing courses is in `write`.

use serde_json::{Value, json};

mod write;

pub use write::*;

use super::{
    Ctx, course_image, course_missing, find_cm, find_course, int, list, next_context_id,
    next_grade_item_id, next_id, num, opt_int, opt_text, site_url, text, warning,
};
use crate::moodle::error::MoodleError;
use crate::moodle::fixture::{Course, CourseModule, EnrolInstance, MoodleFixture, Section};
use crate::moodle::params::{
    Desc, Ty, def, multiple, multiple_def, multiple_opt, opt, req, single,
};

// ---------------------------------------------------------------- categories

pub fn get_categories_params() -> Vec<(&'static str, Desc)> {
    vec![
        (
            "criteria",
            multiple_def(single(vec![
                ("key", req(Ty::AlphaNumExt)),
                ("value", req(Ty::Text)),
            ])),
        ),
        ("addsubcategories", def(Ty::Bool, json!(true))),
    ]
}

fn category_depth_path(st: &MoodleFixture, id: i64) -> (i64, String) {
    let mut chain = vec![id];
    let mut current = id;
    while let Some(parent) = st
        .categories
        .iter()
        .find(|c| c.id == current)
        .map(|c| c.parent)
        .filter(|p| *p != 0 && !chain.contains(p))
    {
        chain.push(parent);
        current = parent;
    }
    chain.reverse();
    let path: String = chain.iter().map(|c| format!("/{c}")).collect();
    (chain.len() as i64, path)
}

pub fn get_categories(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let mut cats: Vec<_> = st.categories.iter().collect();
    for crit in list(p, "criteria") {
        let key = text(crit, "key");
        let value = text(crit, "value");
        cats.retain(|c| match key.as_str() {
            "id" => c.id.to_string() == value,
            "ids" => value.split(',').any(|v| v.trim() == c.id.to_string()),
            "name" => c.name == value,
            "idnumber" => c.idnumber.as_deref() == Some(value.as_str()),
            "parent" => c.parent.to_string() == value,
            "visible" => c.visible.to_string() == value,
            "theme" => value.is_empty(),
            _ => false,
        });
        if ![
            "id", "ids", "name", "idnumber", "parent", "visible", "theme",
        ]
        .contains(&key.as_str())
        {
            return Err(MoodleError::invalid_parameter(format!(
                "The key '{key}' is not supported"
            )));
        }
    }
    if !list(p, "criteria").is_empty() && p.get("addsubcategories") == Some(&json!(true)) {
        let mut ids: Vec<i64> = cats.iter().map(|c| c.id).collect();
        let mut added = true;
        while added {
            added = false;
            for c in &st.categories {
                if ids.contains(&c.parent) && !ids.contains(&c.id) {
                    ids.push(c.id);
                    added = true;
                }
            }
        }
        cats = st
            .categories
            .iter()
            .filter(|c| ids.contains(&c.id))
            .collect();
    }
    cats.sort_by_key(|c| c.sortorder);
    let out: Vec<Value> = cats
        .iter()
        .map(|c| {
            let (depth, path) = category_depth_path(st, c.id);
            let coursecount = st.courses.iter().filter(|co| co.category == c.id).count();
            json!({
                "id": c.id,
                "name": c.name,
                "idnumber": c.idnumber,
                "description": c.description,
                "descriptionformat": c.descriptionformat,
                "parent": c.parent,
                "sortorder": c.sortorder,
                "coursecount": coursecount,
                "visible": c.visible,
                "visibleold": c.visible,
                "timemodified": c.timemodified,
                "depth": depth,
                "path": path,
                "theme": "",
            })
        })
        .collect();
    Ok(Value::Array(out))
}

// ---------------------------------------------------------------- courses

fn format_options(c: &Course, with_indentation: bool) -> Value {
    if c.is_site() {
        json!([{"name": "numsections", "value": c.numsections}])
    } else if with_indentation {
        json!([
            {"name": "hiddensections", "value": 1},
            {"name": "coursedisplay", "value": 0},
            {"name": "indentation", "value": "1"},
        ])
    } else {
        json!([
            {"name": "hiddensections", "value": 1},
            {"name": "coursedisplay", "value": 0},
        ])
    }
}

/// A course as `core_course_get_courses` returns it.
fn course_record(c: &Course) -> Value {
    let mut v = json!({
        "id": c.id,
        "shortname": c.shortname,
        "categoryid": c.category,
        "categorysortorder": c.sortorder,
        "fullname": c.fullname,
        "displayname": c.fullname,
        "idnumber": c.idnumber,
        "summary": c.summary,
        "summaryformat": 1,
        "format": c.format,
        "showgrades": c.showgrades,
        "newsitems": c.newsitems,
        "startdate": c.startdate,
        "enddate": c.enddate,
        "numsections": c.numsections,
        "maxbytes": 0,
        "showreports": 0,
        "visible": c.visible,
        "groupmode": c.groupmode,
        "groupmodeforce": 0,
        "defaultgroupingid": 0,
        "timecreated": c.timecreated,
        "timemodified": c.timemodified,
        "enablecompletion": c.enablecompletion,
        "completionnotify": 0,
        "lang": c.lang,
        "forcetheme": "",
        "courseformatoptions": format_options(c, false),
        "showactivitydates": false,
        "showcompletionconditions": if c.is_site() { Value::Null } else { json!(true) },
    });
    if !c.is_site() {
        v["hiddensections"] = json!(1);
    }
    v
}

pub fn get_courses_params() -> Vec<(&'static str, Desc)> {
    vec![(
        "options",
        Desc::Single(
            vec![("ids", multiple_opt(req(Ty::Int)))],
            crate::moodle::params::Req::Default(json!({})),
        ),
    )]
}

pub fn get_courses(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let ids: Vec<i64> = p
        .get("options")
        .map(|o| list(o, "ids").iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let mut courses: Vec<&Course> = if ids.is_empty() {
        // Moodle lists the real courses first and the site course last.
        let mut real: Vec<&Course> = st.courses.iter().filter(|c| !c.is_site()).collect();
        real.sort_by_key(|c| c.id);
        real.extend(st.courses.iter().filter(|c| c.is_site()));
        real
    } else {
        ids.iter().filter_map(|id| find_course(st, *id)).collect()
    };
    courses.dedup_by_key(|c| c.id);
    Ok(Value::Array(
        courses.into_iter().map(course_record).collect(),
    ))
}

fn filters() -> Value {
    let names = [
        "displayh5p",
        "activitynames",
        "mathjaxloader",
        "emoticon",
        "urltolink",
        "mediaplugin",
    ];
    Value::Array(
        names
            .iter()
            .map(|f| json!({"filter": f, "localstate": 0, "inheritedstate": 1}))
            .collect(),
    )
}

/// A course as `core_course_get_courses_by_field` returns it.
fn course_by_field_record(st: &MoodleFixture, c: &Course) -> Value {
    let categoryname = st
        .categories
        .iter()
        .find(|cat| cat.id == c.category)
        .map(|cat| cat.name.clone())
        .unwrap_or_default();
    let contacts: Vec<Value> = st
        .role_assignments
        .iter()
        .filter(|ra| ra.courseid == c.id && ra.roleid == 3)
        .filter_map(|ra| super::find_user(st, ra.userid))
        .map(|u| json!({"id": u.id, "fullname": u.fullname()}))
        .collect();
    let mut methods: Vec<String> = st
        .enrol_instances
        .iter()
        .filter(|e| e.courseid == c.id && e.status == 0)
        .map(|e| e.enrol.clone())
        .collect();
    methods.dedup();
    let mut v = json!({
        "id": c.id,
        "fullname": c.fullname,
        "displayname": c.fullname,
        "shortname": c.shortname,
        "courseimage": course_image(st, c),
        "categoryid": c.category,
        "categoryname": categoryname,
        "sortorder": c.sortorder,
        "summary": c.summary,
        "summaryformat": 1,
        "summaryfiles": [],
        "overviewfiles": [],
        "showactivitydates": false,
        "showcompletionconditions": if c.is_site() { Value::Null } else { json!(true) },
        "contacts": contacts,
        "enrollmentmethods": methods,
        "idnumber": c.idnumber,
        "format": c.format,
        "showgrades": c.showgrades,
        "newsitems": c.newsitems,
        "startdate": c.startdate,
        "enddate": c.enddate,
        "maxbytes": 0,
        "showreports": 0,
        "visible": c.visible,
        "groupmode": c.groupmode,
        "groupmodeforce": 0,
        "defaultgroupingid": 0,
        "enablecompletion": c.enablecompletion,
        "completionnotify": 0,
        "lang": c.lang,
        "theme": "",
        "marker": 0,
        "legacyfiles": 0,
        "calendartype": "",
        "timecreated": c.timecreated,
        "timemodified": c.timemodified,
        "requested": 0,
        "cacherev": c.cacherev,
        "filters": filters(),
    });
    if !c.is_site() {
        v["courseformatoptions"] = format_options(c, true);
    }
    v
}

pub fn get_courses_by_field_params() -> Vec<(&'static str, Desc)> {
    vec![
        ("field", def(Ty::AlphaNumExt, json!(""))),
        ("value", def(Ty::Text, json!(""))),
    ]
}

pub fn get_courses_by_field(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let field = text(p, "field");
    let value = text(p, "value");
    let mut courses: Vec<&Course> = st.courses.iter().collect();
    match field.as_str() {
        "" => {}
        "id" | "category" => {
            let v: i64 = value.trim().parse().unwrap_or(0);
            courses.retain(|c| {
                if field == "id" {
                    c.id == v
                } else {
                    c.category == v
                }
            });
        }
        "ids" => {
            let ids: Vec<i64> = value
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect();
            courses.retain(|c| ids.contains(&c.id));
        }
        "shortname" => courses.retain(|c| c.shortname == value),
        "idnumber" => courses.retain(|c| !value.is_empty() && c.idnumber == value),
        "sectionid" => {
            let v: i64 = value.trim().parse().unwrap_or(0);
            let course = st.sections.iter().find(|s| s.id == v).map(|s| s.course);
            courses.retain(|c| Some(c.id) == course);
        }
        _ => {
            return Err(MoodleError::invalid_parameter("Invalid field name"));
        }
    }
    courses.sort_by_key(|c| c.id);
    let out: Vec<Value> = courses
        .iter()
        .map(|c| course_by_field_record(st, c))
        .collect();
    Ok(json!({"courses": out, "warnings": []}))
}

// ---------------------------------------------------------------- contents

fn modplural(modname: &str) -> String {
    match modname {
        "quiz" => "Quizzes".into(),
        "assign" => "Assignments".into(),
        "page" => "Pages".into(),
        "lesson" => "Lessons".into(),
        "forum" => "Forums".into(),
        other => {
            let mut s = other.to_owned();
            if let Some(first) = s.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            s.push('s');
            s
        }
    }
}

fn customdata(modname: &str) -> &'static str {
    match modname {
        "quiz" => {
            r#"{"customcompletionrules":{"completionpassorattemptsexhausted":[],"completionminattempts":"0"}}"#
        }
        "assign" => r#"{"customcompletionrules":{"completionsubmit":"0"}}"#,
        _ => r#""""#,
    }
}

/// The completion rule details of an activity for a user (`cm_completion_details`).
pub(crate) fn completion_details(st: &MoodleFixture, cm: &CourseModule, userid: i64) -> Value {
    if cm.completion != 2 {
        return json!([]);
    }
    let graded = st
        .grades
        .iter()
        .find(|g| g.cmid == cm.id && g.userid == userid)
        .and_then(|g| g.grade);
    let pass = match (graded, cm.gradepass) {
        (Some(g), Some(p)) if p > 0.0 => Some(g >= p),
        _ => None,
    };
    let mut details = Vec::new();
    if cm.completionusegrade {
        let status = match (graded, pass) {
            (None, _) => 0,
            (Some(_), Some(true)) => 2,
            (Some(_), _) => 1,
        };
        details.push(json!({"rulename": "completionusegrade", "rulevalue": {"status": status, "description": "Receive a grade"}}));
    }
    if cm.completionpassgrade {
        let status = match pass {
            None => 0,
            Some(true) => 2,
            Some(false) => 3,
        };
        details.push(json!({"rulename": "completionpassgrade", "rulevalue": {"status": status, "description": "Receive a passing grade"}}));
    }
    Value::Array(details)
}

/// `(state, timecompleted)` of an activity for a user.
pub(crate) fn completion_state(st: &MoodleFixture, cmid: i64, userid: i64) -> (u8, i64) {
    st.activity_completions
        .iter()
        .find(|a| a.cmid == cmid && a.userid == userid)
        // `timecompleted` is when the record last changed: with state 0 too (a reset).
        .map_or((0, 0), |a| (a.state, a.timemodified))
}

fn module_record(st: &MoodleFixture, cm: &CourseModule, me: i64, now: i64) -> Value {
    let url = format!("{}/mod/{}/view.php?id={}", site_url(st), cm.modname, cm.id);
    let mut v = json!({
        "id": cm.id,
        "url": url,
        "name": cm.name,
        "instance": cm.instance,
        "contextid": cm.contextid,
        "visible": cm.visible,
        "uservisible": true,
        "visibleoncoursepage": 1,
        "modicon": format!("{}/theme/image.php/boost/{}/{}/monologo?filtericon=1", st.site.siteurl, cm.modname, st.site.themerev),
        "modname": cm.modname,
        "modplural": modplural(&cm.modname),
        "availability": null,
        "indent": 0,
        "onclick": "",
        "afterlink": null,
        "customdata": customdata(&cm.modname),
        "noviewlink": false,
        "completion": cm.completion,
        "downloadcontent": 1,
        "dates": [],
        "groupmode": 0,
    });
    if cm.modname == "forum" {
        v["activitybadge"] = json!([]);
    }
    if cm.completion > 0 {
        let (state, time) = completion_state(st, cm.id, me);
        v["completiondata"] = json!({
            "state": state,
            "timecompleted": time,
            "overrideby": null,
            "valueused": false,
            "hascompletion": true,
            "isautomatic": cm.completion == 2,
            "istrackeduser": super::is_tracked_user(st, me, cm.course, now),
            "uservisible": true,
            "details": completion_details(st, cm, me),
        });
    }
    if cm.modname == "page" {
        v["contents"] = json!([{
            "type": "file",
            "filename": "index.html",
            "filepath": "/",
            "filesize": 0,
            "fileurl": format!("{}/webservice/pluginfile.php/{}/mod_page/content/index.html?forcedownload=1", st.site.siteurl, cm.contextid),
            "timecreated": null,
            "timemodified": cm.added,
            "sortorder": 1,
            "userid": null,
            "author": null,
            "license": null,
        }]);
        v["contentsinfo"] = json!({
            "filescount": 1,
            "filessize": 0,
            "lastmodified": cm.added,
            "mimetypes": [],
            "repositorytype": "",
        });
    }
    v
}

pub fn get_contents_params() -> Vec<(&'static str, Desc)> {
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

pub fn get_contents(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let course = find_course(st, int(p, "courseid")).ok_or_else(course_missing)?;
    let mut sections: Vec<&Section> = st
        .sections
        .iter()
        .filter(|s| s.course == course.id)
        .collect();
    sections.sort_by_key(|s| s.section);
    let out: Vec<Value> = sections
        .iter()
        .map(|s| {
            let modules: Vec<Value> = st
                .modules
                .iter()
                .filter(|m| m.section == s.id)
                .map(|m| module_record(st, m, ctx.me, ctx.now))
                .collect();
            json!({
                "id": s.id,
                "name": s.name,
                "visible": 1,
                "summary": "",
                "summaryformat": 1,
                "section": s.section,
                "hiddenbynumsections": 0,
                "uservisible": true,
                "modules": modules,
            })
        })
        .collect();
    Ok(Value::Array(out))
}

// ---------------------------------------------------------------- course modules

fn cm_record(st: &MoodleFixture, cm: &CourseModule) -> Value {
    let sectionnum = st
        .sections
        .iter()
        .find(|s| s.id == cm.section)
        .map_or(0, |s| s.section);
    let mut v = json!({
        "id": cm.id,
        "course": cm.course,
        "module": cm.module,
        "name": cm.name,
        "modname": cm.modname,
        "instance": cm.instance,
        "section": cm.section,
        "sectionnum": sectionnum,
        "groupmode": 0,
        "groupingid": 0,
        "completion": cm.completion,
        "idnumber": cm.idnumber,
        "added": cm.added,
        "score": 0,
        "indent": 0,
        "visible": cm.visible,
        "visibleoncoursepage": 1,
        "visibleold": cm.visible,
        "completiongradeitemnumber": if cm.completionusegrade { json!(0) } else { Value::Null },
        "completionpassgrade": i64::from(cm.completionpassgrade),
        "completionview": 0,
        "completionexpected": 0,
        "showdescription": 0,
        "downloadcontent": 1,
        "availability": null,
    });
    if let Some(max) = cm.grademax {
        v["grade"] = num(max);
        v["gradepass"] = json!(format!("{:.2}", cm.gradepass.unwrap_or(0.0)));
        v["gradecat"] = json!(1);
    }
    v
}

pub fn get_course_module_params() -> Vec<(&'static str, Desc)> {
    vec![("cmid", req(Ty::Int))]
}

pub fn get_course_module(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let cm = find_cm(st, int(p, "cmid")).ok_or_else(MoodleError::missing_record_unknown)?;
    Ok(json!({"cm": cm_record(st, cm), "warnings": []}))
}

pub fn get_course_module_by_instance_params() -> Vec<(&'static str, Desc)> {
    vec![("module", req(Ty::AlphaNumExt)), ("instance", req(Ty::Int))]
}

pub fn get_course_module_by_instance(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let module = text(p, "module");
    let instance = int(p, "instance");
    let cm = st
        .modules
        .iter()
        .find(|m| m.modname == module && m.instance == instance)
        .ok_or_else(MoodleError::missing_record_unknown)?;
    Ok(json!({"cm": cm_record(st, cm), "warnings": []}))
}

/// Used by other modules: a grade-item-bearing activity's url for completion criteria.
pub(crate) fn activity_link(st: &MoodleFixture, cm: &CourseModule) -> String {
    format!(
        "<a href=\"{}/mod/{}/view.php?id={}\">{}</a>",
        site_url(st),
        cm.modname,
        cm.id,
        cm.name
    )
}
