//! Creating, updating, deleting and importing courses.

use super::*;

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
                .unwrap_or_else(|| crate::moodle::functions::next_midnight(&st.site.timezone, now)),
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
