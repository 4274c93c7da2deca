//! Users: lookups, creation, updates, deletion.

use serde_json::{Value, json};

use super::{
    Ctx, find_user, int, list, next_id, opt_bool, opt_int, opt_text, text, user_pic, warning,
};
use crate::moodle::error::MoodleError;
use crate::moodle::fixture::{CustomField, MoodleFixture, User};
use crate::moodle::params::{Desc, Ty, def, multiple, multiple_opt, opt, req, single};

/// A user as `core_user_get_users(_by_field)` returns it.
pub(crate) fn user_record(st: &MoodleFixture, u: &User) -> Value {
    let mut v = json!({
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
        "auth": u.auth,
        "suspended": u.suspended,
        "confirmed": u.confirmed,
        "lang": u.lang,
        "theme": u.theme,
        "timezone": u.timezone,
        "mailformat": u.mailformat,
        "profileimageurlsmall": user_pic(st, "f2"),
        "profileimageurl": user_pic(st, "f1"),
    });
    // Empty city and country are left out.
    if !u.city.is_empty() {
        v["city"] = json!(u.city);
    }
    if !u.country.is_empty() {
        v["country"] = json!(u.country);
    }
    if !u.institution.is_empty() {
        v["institution"] = json!(u.institution);
    }
    if !u.customfields.is_empty() {
        v["customfields"] = Value::Array(
            u.customfields
                .iter()
                .map(|f| json!({"type": "text", "value": f.value, "displayvalue": f.value, "name": f.kind, "shortname": f.kind}))
                .collect(),
        );
    }
    v
}

pub fn get_users_params() -> Vec<(&'static str, Desc)> {
    vec![(
        "criteria",
        multiple(single(vec![
            ("key", req(Ty::AlphaNumExt)),
            ("value", req(Ty::Text)),
        ])),
    )]
}

pub fn get_users(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let mut warnings = Vec::new();
    let mut users: Vec<&User> = st
        .users
        .iter()
        .filter(|u| !u.deleted && u.id != 1)
        .collect();
    for crit in list(p, "criteria") {
        let key = text(crit, "key");
        let value = text(crit, "value");
        let matches = |u: &User| -> Option<bool> {
            Some(match key.as_str() {
                "id" => u.id.to_string() == value,
                "username" => u.username == value.to_lowercase(),
                "email" => like(&u.email, &value),
                "idnumber" => u.idnumber == value,
                "firstname" => like(&u.firstname, &value),
                "lastname" => like(&u.lastname, &value),
                "auth" => u.auth == value,
                _ => return None,
            })
        };
        if matches(&User::default()).is_none() {
            warnings.push(json!({
                "item": key,
                "warningcode": "invalidfieldparameter",
                "message": format!("The search key '{key}' is not supported, look at the web service documentation"),
            }));
            users.clear();
            continue;
        }
        users.retain(|u| matches(u) == Some(true));
    }
    let out: Vec<Value> = users.iter().map(|u| user_record(st, u)).collect();
    Ok(json!({"users": out, "warnings": warnings}))
}

/// SQL `LIKE` without case (PostgreSQL's `ILIKE`, how Moodle searches emails and names):
/// `%` matches any run of characters, `_` any one character.
pub(crate) fn like(field: &str, pattern: &str) -> bool {
    let field: Vec<char> = field.to_lowercase().chars().collect();
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    // Classic wildcard matching with backtracking to the last `%`.
    let (mut f, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while f < field.len() {
        if p < pattern.len() && (pattern[p] == '_' || pattern[p] == field[f]) {
            f += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '%' {
            star = Some((p, f));
            p += 1;
        } else if let Some((sp, sf)) = star {
            p = sp + 1;
            f = sf + 1;
            star = Some((sp, sf + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

pub fn get_users_by_field_params() -> Vec<(&'static str, Desc)> {
    vec![
        ("field", req(Ty::AlphaNumExt)),
        ("values", multiple(req(Ty::Text))),
    ]
}

pub fn get_users_by_field(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let field = text(p, "field");
    let values: Vec<String> = list(p, "values")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let matches = |u: &User| -> bool {
        values.iter().any(|v| match field.as_str() {
            "id" => u.id.to_string() == *v,
            "username" => u.username == *v,
            "email" => u.email == *v,
            "idnumber" => u.idnumber == *v,
            _ => false,
        })
    };
    if !["id", "username", "email", "idnumber"].contains(&field.as_str()) {
        return Err(MoodleError::invalid_parameter(format!(
            "The search field '{field}' is not supported, look at the web service documentation"
        )));
    }
    // Each value as Moodle keeps it, or the whole call is refused (a username
    // in capitals included: Moodle does not fold it).
    if field == "username" {
        let extended = st.site.extendedusernamechars;
        if let Some(value) = values
            .iter()
            .find(|v| crate::moodle::params::clean_username(v, extended) != **v)
        {
            let cleaned = crate::moodle::params::clean_username(value, extended);
            return Err(MoodleError::invalid_parameter(format!(
                "The field 'username' value is invalid: {value}(cleaned value: {cleaned})"
            )));
        }
    }
    let mut users: Vec<&User> = st
        .users
        .iter()
        .filter(|u| !u.deleted && matches(u))
        .collect();
    users.sort_by_key(|u| u.id);
    Ok(Value::Array(
        users.iter().map(|u| user_record(st, u)).collect(),
    ))
}

fn user_fields(create: bool) -> Vec<(&'static str, Desc)> {
    let mut fields = Vec::new();
    if create {
        fields.extend([
            ("createpassword", opt(Ty::Bool)),
            ("username", req(Ty::Username)),
            ("auth", def(Ty::AlphaNumExt, json!("manual"))),
            ("password", opt(Ty::Text)),
            ("firstname", req(Ty::Text)),
            ("lastname", req(Ty::Text)),
            ("email", req(Ty::Text)),
        ]);
    } else {
        fields.extend([
            ("id", req(Ty::Int)),
            ("username", opt(Ty::Username)),
            ("auth", opt(Ty::AlphaNumExt)),
            ("suspended", opt(Ty::Bool)),
            ("password", opt(Ty::Text)),
            ("firstname", opt(Ty::Text)),
            ("lastname", opt(Ty::Text)),
            ("email", opt(Ty::Text)),
        ]);
    }
    fields.extend([
        ("maildisplay", opt(Ty::Int)),
        ("city", opt(Ty::Text)),
        ("country", opt(Ty::AlphaNumExt)),
        ("timezone", opt(Ty::Text)),
        ("description", opt(Ty::Text)),
        ("firstnamephonetic", opt(Ty::Text)),
        ("lastnamephonetic", opt(Ty::Text)),
        ("middlename", opt(Ty::Text)),
        ("alternatename", opt(Ty::Text)),
        ("interests", opt(Ty::Text)),
        (
            "idnumber",
            if create {
                def(Ty::Text, json!(""))
            } else {
                opt(Ty::Text)
            },
        ),
        ("institution", opt(Ty::Text)),
        ("department", opt(Ty::Text)),
        ("phone1", opt(Ty::Text)),
        ("phone2", opt(Ty::Text)),
        ("address", opt(Ty::Text)),
        ("lang", opt(Ty::AlphaNumExt)),
        ("calendartype", opt(Ty::AlphaNumExt)),
        ("theme", opt(Ty::AlphaNumExt)),
        ("mailformat", opt(Ty::Int)),
        (
            "customfields",
            multiple_opt(single(vec![
                ("type", req(Ty::AlphaNumExt)),
                ("value", req(Ty::Text)),
            ])),
        ),
        (
            "preferences",
            multiple_opt(single(vec![
                ("type", req(Ty::Text)),
                ("value", req(Ty::Text)),
            ])),
        ),
    ]);
    if !create {
        fields.push(("userpicture", opt(Ty::Int)));
    }
    fields
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(' ')
}

fn email_taken(st: &MoodleFixture, email: &str, except: i64) -> bool {
    st.users
        .iter()
        .any(|u| u.id != except && !u.deleted && u.email.eq_ignore_ascii_case(email))
}

/// Moodle's default password policy; the errors as `check_password_policy` lists them.
fn password_policy_errors(password: &str) -> String {
    let mut out = String::new();
    if password.chars().count() < 8 {
        out.push_str("<div>Passwords must be at least 8 characters long.</div>");
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        out.push_str("<div>Passwords must have at least 1 digit(s).</div>");
    }
    if !password.chars().any(char::is_lowercase) {
        out.push_str("<div>Passwords must have at least 1 lower case letter(s).</div>");
    }
    if !password.chars().any(char::is_uppercase) {
        out.push_str("<div>Passwords must have at least 1 upper case letter(s).</div>");
    }
    if !password.chars().any(|c| !c.is_alphanumeric()) {
        out.push_str(
            "<div>The password must have at least 1 special character(s) such as *, -, or #.</div>",
        );
    }
    out
}

const AUTH_PLUGINS: &[&str] = &[
    "manual",
    "nologin",
    "email",
    "oauth2",
    "ldap",
    "saml2",
    "db",
    "cas",
    "shibboleth",
    "webservice",
    "lti",
];

pub fn create_users_params() -> Vec<(&'static str, Desc)> {
    vec![("users", multiple(single(user_fields(true))))]
}

pub fn create_users(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &mut *ctx.st;
    let mut out = Vec::new();
    for u in list(p, "users") {
        let username = text(u, "username");
        let auth = text(u, "auth");
        if !AUTH_PLUGINS.contains(&auth.as_str()) {
            return Err(MoodleError::invalid_parameter(format!(
                "Invalid authentication type: {auth}"
            )));
        }
        if st
            .users
            .iter()
            .any(|x| !x.deleted && x.username == username)
        {
            return Err(MoodleError::invalid_parameter(format!(
                "Username already exists: {username}"
            )));
        }
        let createpassword = opt_bool(u, "createpassword").unwrap_or(false);
        let password = opt_text(u, "password");
        if !createpassword && password.as_deref().is_none_or(str::is_empty) {
            return Err(MoodleError::invalid_parameter(
                "Invalid password: you must provide a password, or set createpassword.",
            ));
        }
        let email = text(u, "email");
        if !valid_email(&email) {
            return Err(MoodleError::invalid_parameter(format!(
                "Email address is invalid: {email}"
            )));
        }
        if !st.site.allowaccountssameemail && email_taken(st, &email, 0) {
            return Err(MoodleError::invalid_parameter(format!(
                "Email address already exists: {email}"
            )));
        }
        if st.site.passwordpolicy && !createpassword && auth == "manual" {
            let errors = password_policy_errors(password.as_deref().unwrap_or_default());
            if !errors.is_empty() {
                return Err(MoodleError::new(
                    "moodle_exception",
                    &errors,
                    format!("error/{errors}"),
                ));
            }
        }
        let id = next_id(&st.users, |x| x.id);
        st.users.push(User {
            id,
            username: username.clone(),
            password: password.unwrap_or_default(),
            firstname: text(u, "firstname"),
            lastname: text(u, "lastname"),
            email,
            idnumber: text(u, "idnumber"),
            auth,
            lang: opt_text(u, "lang").unwrap_or_else(|| "en".into()),
            theme: text(u, "theme"),
            timezone: opt_text(u, "timezone").unwrap_or_else(|| "99".into()),
            mailformat: opt_int(u, "mailformat").unwrap_or(1),
            city: text(u, "city"),
            country: text(u, "country"),
            department: text(u, "department"),
            institution: text(u, "institution"),
            customfields: custom_fields(u),
            ..User::default()
        });
        out.push(json!({"id": id, "username": username}));
    }
    Ok(Value::Array(out))
}

fn custom_fields(u: &Value) -> Vec<CustomField> {
    list(u, "customfields")
        .iter()
        .map(|f| CustomField {
            kind: text(f, "type"),
            value: text(f, "value"),
        })
        .collect()
}

pub fn update_users_params() -> Vec<(&'static str, Desc)> {
    vec![("users", multiple(single(user_fields(false))))]
}

pub fn update_users(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &mut *ctx.st;
    let mut warnings = Vec::new();
    for u in list(p, "users") {
        let id = int(u, "id");
        let Some(pos) = st.users.iter().position(|x| x.id == id && !x.deleted) else {
            warnings.push(warning("user", id, "invaliduserid", "Invalid user ID"));
            continue;
        };
        if let Some(email) = opt_text(u, "email")
            && email != st.users[pos].email
        {
            if !valid_email(&email) {
                warnings.push(warning(
                    "user",
                    id,
                    "useremailinvalid",
                    "Invalid email address",
                ));
                continue;
            }
            if !st.site.allowaccountssameemail && email_taken(st, &email, id) {
                warnings.push(warning(
                    "user",
                    id,
                    "useremailduplicate",
                    "Duplicate address",
                ));
                continue;
            }
        }
        if let Some(username) = opt_text(u, "username")
            && st
                .users
                .iter()
                .any(|x| x.id != id && !x.deleted && x.username == username)
        {
            // The unique index on username fails the write.
            warnings.push(warning(
                "user",
                id,
                "dmlwriteexception",
                "Error writing to database",
            ));
            continue;
        }
        let user = &mut st.users[pos];
        if let Some(v) = opt_text(u, "username") {
            user.username = v;
        }
        if let Some(v) = opt_text(u, "auth") {
            user.auth = v;
        }
        if let Some(v) = opt_bool(u, "suspended") {
            user.suspended = v;
        }
        if let Some(v) = opt_text(u, "password") {
            user.password = v;
        }
        if let Some(v) = opt_text(u, "firstname") {
            user.firstname = v;
        }
        if let Some(v) = opt_text(u, "lastname") {
            user.lastname = v;
        }
        if let Some(v) = opt_text(u, "email") {
            user.email = v;
        }
        if let Some(v) = opt_text(u, "idnumber") {
            user.idnumber = v;
        }
        if let Some(v) = opt_text(u, "city") {
            user.city = v;
        }
        if let Some(v) = opt_text(u, "country") {
            user.country = v;
        }
        if let Some(v) = opt_text(u, "department") {
            user.department = v;
        }
        if let Some(v) = opt_text(u, "institution") {
            user.institution = v;
        }
        if let Some(v) = opt_text(u, "lang") {
            user.lang = v;
        }
        if let Some(v) = opt_text(u, "timezone") {
            user.timezone = v;
        }
        if let Some(v) = opt_int(u, "mailformat") {
            user.mailformat = v;
        }
        let fields = custom_fields(u);
        for f in fields {
            match user.customfields.iter_mut().find(|x| x.kind == f.kind) {
                Some(existing) => existing.value = f.value,
                None => user.customfields.push(f),
            }
        }
    }
    Ok(json!({"warnings": warnings}))
}

pub fn delete_users_params() -> Vec<(&'static str, Desc)> {
    vec![("userids", multiple(req(Ty::Int)))]
}

pub fn delete_users(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let me = ctx.me;
    let now = ctx.now;
    let st = &mut *ctx.st;
    for id in list(p, "userids").iter().filter_map(Value::as_i64) {
        if find_user(st, id).is_none() {
            return Err(MoodleError::missing_record("user"));
        }
        if id <= 2 || id == me {
            return Err(MoodleError::moodle(
                "useradminodelete",
                "Admin users cannot be deleted",
            ));
        }
        // delete_user() unenrols the user everywhere: their gradebook grades go too.
        let mut courses: Vec<i64> = st
            .user_enrolments
            .iter()
            .filter(|ue| ue.userid == id)
            .filter_map(|ue| {
                st.enrol_instances
                    .iter()
                    .find(|e| e.id == ue.enrolid)
                    .map(|e| e.courseid)
            })
            .collect();
        courses.sort_unstable();
        courses.dedup();
        st.user_enrolments.retain(|ue| ue.userid != id);
        st.role_assignments.retain(|ra| ra.userid != id);
        for courseid in courses {
            super::enrol::delete_gradebook_grades(st, courseid, id, now);
        }
        if let Some(user) = st.users.iter_mut().find(|u| u.id == id) {
            user.deleted = true;
            user.username = format!("{}.{}", user.email, user.id);
            user.email = String::new();
            user.idnumber = String::new();
        }
    }
    Ok(Value::Null)
}
