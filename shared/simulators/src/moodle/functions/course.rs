//! Categories, courses, course contents and course modules.

use serde_json::{Value, json};

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

// ---------------------------------------------------------------- create / update / delete

fn course_fields(create: bool) -> Vec<(&'static str, Desc)> {
    let name = |t: Ty| if create { req(t) } else { opt(t) };
    let mut fields = Vec::new();
    if !create {
        fields.push(("id", req(Ty::Int)));
    }
    fields.extend([
        ("fullname", name(Ty::Text)),
        ("shortname", name(Ty::Text)),
        ("categoryid", name(Ty::Int)),
        ("idnumber", opt(Ty::Text)),
        ("summary", opt(Ty::Text)),
        (
            "summaryformat",
            if create {
                def(Ty::Int, json!(1))
            } else {
                opt(Ty::Int)
            },
        ),
        (
            "format",
            if create {
                def(Ty::AlphaNumExt, json!("topics"))
            } else {
                opt(Ty::AlphaNumExt)
            },
        ),
        ("showgrades", opt(Ty::Int)),
        ("newsitems", opt(Ty::Int)),
        ("startdate", opt(Ty::Int)),
        ("enddate", opt(Ty::Int)),
        ("numsections", opt(Ty::Int)),
        ("maxbytes", opt(Ty::Int)),
        ("showreports", opt(Ty::Int)),
        ("visible", opt(Ty::Int)),
        ("hiddensections", opt(Ty::Int)),
        ("groupmode", opt(Ty::Int)),
        ("groupmodeforce", opt(Ty::Int)),
        ("defaultgroupingid", opt(Ty::Int)),
        ("enablecompletion", opt(Ty::Int)),
        ("completionnotify", opt(Ty::Int)),
        ("lang", opt(Ty::AlphaNumExt)),
        ("forcetheme", opt(Ty::AlphaNumExt)),
        (
            "courseformatoptions",
            multiple_opt(single(vec![
                ("name", req(Ty::AlphaNumExt)),
                ("value", req(Ty::Text)),
            ])),
        ),
        (
            "customfields",
            multiple_opt(single(vec![
                ("shortname", req(Ty::AlphaNumExt)),
                ("value", req(Ty::Text)),
            ])),
        ),
    ]);
    fields
}

pub fn create_courses_params() -> Vec<(&'static str, Desc)> {
    vec![("courses", multiple(single(course_fields(true))))]
}

fn shortname_taken(name: &str) -> MoodleError {
    MoodleError::moodle(
        "shortnametaken",
        format!("Short name is already used for another course ({name})"),
    )
}

fn idnumber_taken(idnumber: &str) -> MoodleError {
    MoodleError::moodle(
        "courseidnumbertaken",
        format!("ID number is already used for another course ({idnumber})"),
    )
}

fn add_module(
    st: &mut MoodleFixture,
    courseid: i64,
    section: i64,
    template: &CourseModule,
    now: i64,
) -> i64 {
    let id = next_id(&st.modules, |m| m.id);
    let instance = st
        .modules
        .iter()
        .filter(|m| m.modname == template.modname)
        .map(|m| m.instance)
        .max()
        .unwrap_or(0)
        + 1;
    let contextid = next_context_id(st);
    let grade_item_id = template.grade_item_id.map(|_| next_grade_item_id(st));
    st.modules.push(CourseModule {
        id,
        course: courseid,
        section,
        instance,
        contextid,
        grade_item_id,
        added: now,
        ..template.clone()
    });
    id
}

/// Sections 0..=n of a course, creating the missing ones.
fn ensure_section(st: &mut MoodleFixture, courseid: i64, num: i64) -> i64 {
    if let Some(s) = st
        .sections
        .iter()
        .find(|s| s.course == courseid && s.section == num)
    {
        return s.id;
    }
    let id = next_id(&st.sections, |s| s.id);
    st.sections.push(Section {
        id,
        course: courseid,
        section: num,
        name: if num == 0 {
            "General".into()
        } else {
            format!("Topic {num}")
        },
    });
    id
}

pub fn create_courses(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let now = ctx.now;
    let st = &mut *ctx.st;
    let mut out = Vec::new();
    for c in list(p, "courses") {
        let categoryid = int(c, "categoryid");
        if !st.categories.iter().any(|cat| cat.id == categoryid) {
            return Err(MoodleError::moodle(
                "errorcatcontextnotvalid",
                format!(
                    "You cannot execute functions in the category context (category id:{categoryid}). The context error message was: Invalid parameter value detected"
                ),
            ));
        }
        let shortname = text(c, "shortname");
        if st.courses.iter().any(|x| x.shortname == shortname) {
            return Err(shortname_taken(&shortname));
        }
        let idnumber = text(c, "idnumber");
        if !idnumber.is_empty() && st.courses.iter().any(|x| x.idnumber == idnumber) {
            return Err(idnumber_taken(&idnumber));
        }
        let id = next_id(&st.courses, |x| x.id);
        let in_category = st
            .courses
            .iter()
            .filter(|x| x.category == categoryid)
            .count() as i64;
        let cat_sort = st
            .categories
            .iter()
            .find(|cat| cat.id == categoryid)
            .map_or(10000, |cat| cat.sortorder);
        let contextid = next_context_id(st);
        let grade_item_id = next_grade_item_id(st);
        let numsections = opt_int(c, "numsections").unwrap_or(4);
        let newsitems = opt_int(c, "newsitems").unwrap_or(5);
        st.courses.push(Course {
            id,
            category: categoryid,
            sortorder: cat_sort + in_category + 1,
            fullname: text(c, "fullname"),
            shortname: shortname.clone(),
            idnumber,
            summary: text(c, "summary"),
            format: opt_text(c, "format").unwrap_or_else(|| "topics".into()),
            showgrades: opt_int(c, "showgrades").unwrap_or(1),
            newsitems,
            startdate: opt_int(c, "startdate")
                .unwrap_or_else(|| super::next_midnight(&st.site.timezone, now)),
            enddate: opt_int(c, "enddate").unwrap_or(0),
            numsections,
            visible: opt_int(c, "visible").unwrap_or(1),
            groupmode: opt_int(c, "groupmode").unwrap_or(0),
            timecreated: now,
            timemodified: now,
            enablecompletion: opt_int(c, "enablecompletion").unwrap_or(1),
            lang: text(c, "lang"),
            cacherev: now,
            contextid,
            grade_item_id: Some(grade_item_id),
            grade_category_id: None,
            completion_aggregation: 1,
            completion_criteria: Vec::new(),
        });
        for num in 0..=numsections {
            ensure_section(st, id, num);
        }
        for plugin in st.site.default_enrol_plugins.clone() {
            let eid = next_id(&st.enrol_instances, |e| e.id);
            st.enrol_instances.push(EnrolInstance {
                id: eid,
                courseid: id,
                enrol: plugin,
                status: 0,
                roleid: 5,
            });
        }
        if newsitems > 0 {
            let general = ensure_section(st, id, 0);
            let forum = CourseModule {
                module: 9,
                modname: "forum".into(),
                name: "Announcements".into(),
                ..CourseModule::default()
            };
            add_module(st, id, general, &forum, now);
        }
        out.push(json!({"id": id, "shortname": shortname}));
    }
    Ok(Value::Array(out))
}

pub fn update_courses_params() -> Vec<(&'static str, Desc)> {
    vec![("courses", multiple(single(course_fields(false))))]
}

pub fn update_courses(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let now = ctx.now;
    let st = &mut *ctx.st;
    let mut warnings = Vec::new();
    for c in list(p, "courses") {
        let id = int(c, "id");
        let Some(pos) = st.courses.iter().position(|x| x.id == id) else {
            let e = course_missing();
            warnings.push(warning("course", id, &e.errorcode, e.message));
            continue;
        };
        if let Some(cat) = opt_int(c, "categoryid")
            && !st.categories.iter().any(|x| x.id == cat)
        {
            let e = MoodleError::missing_record("course_categories");
            warnings.push(warning("course", id, &e.errorcode, e.message));
            continue;
        }
        if let Some(shortname) = opt_text(c, "shortname")
            && st
                .courses
                .iter()
                .any(|x| x.id != id && x.shortname == shortname)
        {
            let e = shortname_taken(&shortname);
            warnings.push(warning("course", id, &e.errorcode, e.message));
            continue;
        }
        if let Some(idnumber) = opt_text(c, "idnumber")
            && !idnumber.is_empty()
            && st
                .courses
                .iter()
                .any(|x| x.id != id && x.idnumber == idnumber)
        {
            let e = idnumber_taken(&idnumber);
            warnings.push(warning("course", id, &e.errorcode, e.message));
            continue;
        }
        let course = &mut st.courses[pos];
        if let Some(v) = opt_text(c, "fullname") {
            course.fullname = v;
        }
        if let Some(v) = opt_text(c, "shortname") {
            course.shortname = v;
        }
        if let Some(v) = opt_int(c, "categoryid") {
            course.category = v;
        }
        if let Some(v) = opt_text(c, "idnumber") {
            course.idnumber = v;
        }
        if let Some(v) = opt_text(c, "summary") {
            course.summary = v;
        }
        if let Some(v) = opt_text(c, "format") {
            course.format = v;
        }
        if let Some(v) = opt_int(c, "showgrades") {
            course.showgrades = v;
        }
        if let Some(v) = opt_int(c, "newsitems") {
            course.newsitems = v;
        }
        if let Some(v) = opt_int(c, "startdate") {
            course.startdate = v;
        }
        if let Some(v) = opt_int(c, "enddate") {
            course.enddate = v;
        }
        if let Some(v) = opt_int(c, "numsections") {
            course.numsections = v;
        }
        if let Some(v) = opt_int(c, "visible") {
            course.visible = v;
        }
        if let Some(v) = opt_int(c, "groupmode") {
            course.groupmode = v;
        }
        if let Some(v) = opt_int(c, "enablecompletion") {
            course.enablecompletion = v;
        }
        if let Some(v) = opt_text(c, "lang") {
            course.lang = v;
        }
        course.timemodified = now;
    }
    Ok(json!({"warnings": warnings}))
}

pub fn delete_courses_params() -> Vec<(&'static str, Desc)> {
    vec![("courseids", multiple(req(Ty::Int)))]
}

pub fn delete_courses(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &mut *ctx.st;
    let mut warnings = Vec::new();
    for id in list(p, "courseids").iter().filter_map(Value::as_i64) {
        match st.courses.iter().find(|c| c.id == id) {
            None => warnings.push(warning(
                "course",
                id,
                "unknowncourseidnumber",
                format!("Unknown course ID {id}"),
            )),
            Some(c) if c.is_site() => {
                return Err(MoodleError::invalid_parameter(
                    "You cannot delete the site course",
                ));
            }
            Some(_) => remove_course(st, id),
        }
    }
    Ok(json!({"warnings": warnings}))
}

fn remove_course(st: &mut MoodleFixture, id: i64) {
    let cms: Vec<i64> = st
        .modules
        .iter()
        .filter(|m| m.course == id)
        .map(|m| m.id)
        .collect();
    let instances: Vec<i64> = st
        .enrol_instances
        .iter()
        .filter(|e| e.courseid == id)
        .map(|e| e.id)
        .collect();
    st.courses.retain(|c| c.id != id);
    st.sections.retain(|s| s.course != id);
    st.modules.retain(|m| m.course != id);
    st.enrol_instances.retain(|e| e.courseid != id);
    st.user_enrolments
        .retain(|ue| !instances.contains(&ue.enrolid));
    st.role_assignments.retain(|ra| ra.courseid != id);
    st.grades.retain(|g| !cms.contains(&g.cmid));
    st.activity_completions.retain(|a| !cms.contains(&a.cmid));
    st.criteria_completions.retain(|c| c.courseid != id);
    st.course_completions.retain(|c| c.courseid != id);
}

// ---------------------------------------------------------------- import

pub fn import_course_params() -> Vec<(&'static str, Desc)> {
    vec![
        ("importfrom", req(Ty::Int)),
        ("importto", req(Ty::Int)),
        ("deletecontent", def(Ty::Int, json!(0))),
        (
            "options",
            multiple_def(single(vec![
                ("name", req(Ty::AlphaNumExt)),
                ("value", req(Ty::Text)),
            ])),
        ),
    ]
}

pub fn import_course(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let now = ctx.now;
    let st = &mut *ctx.st;
    let from = int(p, "importfrom");
    let to = int(p, "importto");
    let deletecontent = int(p, "deletecontent");
    if deletecontent != 0 && deletecontent != 1 {
        return Err(MoodleError::moodle(
            "invalidextparam",
            format!("Invalid external api parameter: deletecontent = {deletecontent}"),
        ));
    }
    let invalid = || {
        MoodleError::moodle(
            "invalidcourseid",
            "You are trying to use an invalid course ID",
        )
    };
    if find_course(st, from).is_none() || find_course(st, to).is_none() {
        return Err(invalid());
    }
    if deletecontent == 1 {
        let cms: Vec<i64> = st
            .modules
            .iter()
            .filter(|m| m.course == to)
            .map(|m| m.id)
            .collect();
        st.modules.retain(|m| m.course != to);
        st.grades.retain(|g| !cms.contains(&g.cmid));
        st.activity_completions.retain(|a| !cms.contains(&a.cmid));
    }
    let mut sources: Vec<(i64, CourseModule)> = st
        .modules
        .iter()
        .filter(|m| m.course == from && m.modname != "forum")
        .map(|m| {
            let num = st
                .sections
                .iter()
                .find(|s| s.id == m.section)
                .map_or(0, |s| s.section);
            (num, m.clone())
        })
        .collect();
    sources.sort_by_key(|(num, m)| (*num, m.id));
    let mut criteria_map = Vec::new();
    for (num, cm) in sources {
        let section = ensure_section(st, to, num);
        let new_id = add_module(st, to, section, &cm, now);
        criteria_map.push((cm.id, new_id));
    }
    let from_criteria = find_course(st, from)
        .map(|c| c.completion_criteria.clone())
        .unwrap_or_default();
    if let Some(target) = st.courses.iter_mut().find(|c| c.id == to) {
        if target.completion_criteria.is_empty() {
            target.completion_criteria = from_criteria
                .iter()
                .filter_map(|old| criteria_map.iter().find(|(o, _)| o == old).map(|(_, n)| *n))
                .collect();
        }
        target.timemodified = now;
    }
    Ok(Value::Null)
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
