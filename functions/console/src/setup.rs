//! Creating and editing a connection per kind (issue 19, item 3): the kind's
//! settings as labelled form fields, its secrets as password inputs that are
//! never echoed back (shown only masked, as the use case masks them, and left
//! unchanged when the field is left empty), and switching it on and off. Every
//! change goes through app's [`Setup`] with the api's own URL check
//! ([`api::connections::Resolved`]); every [`SetupError`] is shown under the
//! field it names.

use crate::ConsoleState;
use crate::error::ConsoleError;
use crate::session::SignedIn;
use crate::views::{Chrome, render};
use app::connections::{ConnectionChanges, ConnectionFields, MaskedConnection, Setup, SetupError};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use domain::connection::{LlnProduct, LlnSettings};
use domain::{ConnectionId, ConnectionKind, TenantId};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// The routes of this screen, merged into the console's Router.
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/connections/new", get(new_form).post(create))
        .route("/console/connections/{id}/edit", get(edit_form).post(edit))
        .route("/console/connections/{id}/enable", post(enable))
        .route("/console/connections/{id}/disable", post(disable))
}

/// Every kind a connection can be, in the order the form offers them.
pub const KINDS: &[(ConnectionKind, &str)] = &[
    (ConnectionKind::Moodle, "Moodle"),
    (ConnectionKind::Ocsat, "OCSAT"),
    (ConnectionKind::LlnRobot, "LLN Robot"),
    (ConnectionKind::CourseKey, "CourseKey"),
    (ConnectionKind::Sms, "SMS (where results are delivered)"),
];

fn kind_of(raw: &str) -> Option<ConnectionKind> {
    KINDS.iter().map(|(k, _)| *k).find(|k| k.as_str() == raw)
}

fn kind_label(kind: ConnectionKind) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("", |(_, label)| label)
}

/// How a setting is entered.
#[derive(Clone, Copy)]
enum Input {
    Text,
    /// A text that may be left empty (the setting is then not set).
    Optional,
    LongText,
    Number {
        min: i64,
        max: i64,
    },
    Check,
    Select(&'static [(&'static str, &'static str)]),
    /// Several ticks, stored as a list of their values.
    Choices(&'static [(&'static str, &'static str)]),
}

/// One setting of a kind: its path in the settings (`login.username`), label
/// and help, and when it applies (`login.method` = `password`).
struct Spec {
    path: &'static str,
    label: &'static str,
    help: &'static str,
    input: Input,
    when: Option<(&'static str, &'static str)>,
}

const fn spec(path: &'static str, label: &'static str, help: &'static str, input: Input) -> Spec {
    Spec {
        path,
        label,
        help,
        input,
        when: None,
    }
}

const fn when(
    path: &'static str,
    label: &'static str,
    help: &'static str,
    input: Input,
    on: (&'static str, &'static str),
) -> Spec {
    Spec {
        path,
        label,
        help,
        input,
        when: Some(on),
    }
}

const LOGIN: &[(&str, &str)] = &[
    ("token", "Web service token (recommended)"),
    ("password", "Username and password"),
];
const NEW_USER_AUTH: &[(&str, &str)] = &[
    (
        "moodle_creates_password",
        "Moodle creates the password and emails it",
    ),
    (
        "generated_password",
        "learnbridge generates a password, changed at first login",
    ),
    ("plugin", "A Moodle authentication plugin"),
];
const MATCH_ORDER: &[(&str, &str)] = &[
    (
        "learner_code_then_fields",
        "Stored user, then learner code = ID number, then the fields below",
    ),
    (
        "username_idnumber_email",
        "Username, then ID number, then email",
    ),
];
const MATCH_FIELDS: &[(&str, &str)] = &[
    ("username", "Username"),
    ("email", "Email"),
    ("firstname", "First name"),
    ("lastname", "Last name"),
];
const LEVELS: &[(&str, &str)] = &[("unit", "Units"), ("task", "Tasks")];
const FORMATS: &[(&str, &str)] = &[
    ("json_webhook", "JSON webhook (HMAC-SHA256)"),
    ("coachview_xml", "Coachview results XML (HMAC-SHA512)"),
];

const MOODLE: &[Spec] = &[
    spec("login.method", "Sign in with", "", Input::Select(LOGIN)),
    when(
        "login.username",
        "Moodle username",
        "The Moodle account learnbridge signs in as (its password is a secret below).",
        Input::Text,
        ("login.method", "password"),
    ),
    when(
        "login.service",
        "External service short name",
        "Site administration > Server > Web services > External services.",
        Input::Text,
        ("login.method", "password"),
    ),
    spec(
        "role_id",
        "Role id for enrolments",
        "5 is Moodle's student role.",
        Input::Number {
            min: 1,
            max: 1_000_000,
        },
    ),
    spec(
        "new_user_auth.method",
        "New users sign in",
        "",
        Input::Select(NEW_USER_AUTH),
    ),
    when(
        "new_user_auth.auth",
        "Authentication plugin",
        "Its name in Moodle (only for \"A Moodle authentication plugin\").",
        Input::Text,
        ("new_user_auth.method", "plugin"),
    ),
    spec(
        "match_order",
        "Match learners with Moodle users by",
        "",
        Input::Select(MATCH_ORDER),
    ),
    spec(
        "match_learner_code_to_idnumber",
        "Match learner code with the user's ID number",
        "",
        Input::Check,
    ),
    spec(
        "match_fields",
        "Also match on (all ticked must agree)",
        "",
        Input::Choices(MATCH_FIELDS),
    ),
    spec(
        "result_levels",
        "Levels that get results",
        "",
        Input::Choices(LEVELS),
    ),
    spec(
        "record_failed_results",
        "Record failed results",
        "When off, a failing unit counts as started.",
        Input::Check,
    ),
    spec(
        "use_enrolment_start_date",
        "Use the enrolment's start date",
        "When Moodle gives only a graded date.",
        Input::Check,
    ),
    spec(
        "course_completions",
        "Read course completions",
        "",
        Input::Check,
    ),
    spec(
        "review_before_saving",
        "Review results before they are saved to the SMS",
        "",
        Input::Check,
    ),
    spec(
        "auto_push",
        "Push new enrolments as they arrive",
        "For offerings that push automatically.",
        Input::Check,
    ),
    spec(
        "exclusive_tenant_alerts",
        "Report learners the SMS does not know",
        "",
        Input::Check,
    ),
    spec(
        "unenrol_on_removal",
        "Unenrol (instead of suspend) when an enrolment is removed",
        "",
        Input::Check,
    ),
    spec(
        "unenrol_after_completion",
        "Unenrol after completion is read",
        "",
        Input::Check,
    ),
    spec(
        "batch_size",
        "Records per Moodle call",
        "1 to 1000.",
        Input::Number { min: 1, max: 1000 },
    ),
    spec(
        "max_concurrency",
        "Moodle calls at once",
        "1 to 16.",
        Input::Number { min: 1, max: 16 },
    ),
    spec(
        "default_organisation",
        "Default organisation",
        "Optional.",
        Input::Optional,
    ),
];

const LLN: &[Spec] = &[
    spec(
        "auth_url",
        "Token endpoint",
        "Prefilled with the product's; can be changed.",
        Input::Text,
    ),
    spec("client_id", "Client id", "", Input::Text),
    spec("code", "Code", "Optional.", Input::Optional),
    spec(
        "default_staff",
        "Default staff member",
        "Applied to new invitations and imported results. Optional.",
        Input::Optional,
    ),
    spec(
        "default_assessment_status",
        "Default assessment status",
        "Applied to imported results. Optional.",
        Input::Optional,
    ),
    spec(
        "api_logging",
        "Log every API call",
        "Secrets are obfuscated.",
        Input::Check,
    ),
];

const COURSE_KEY: &[Spec] = &[
    spec(
        "weeks_before_start_to_enable",
        "Weeks before start to enable",
        "0 to 104.",
        Input::Number { min: 0, max: 104 },
    ),
    spec(
        "weeks_after_end_to_disable",
        "Weeks after end to disable",
        "0 to 104.",
        Input::Number { min: 0, max: 104 },
    ),
    spec(
        "absent_after_start_minutes",
        "Absent when checked in later than (minutes after start)",
        "0 to 1440.",
        Input::Number { min: 0, max: 1440 },
    ),
    spec(
        "absent_before_end_minutes",
        "Absent when checked out earlier than (minutes before end)",
        "0 to 1440.",
        Input::Number { min: 0, max: 1440 },
    ),
    spec(
        "follow_adjustments_days",
        "Follow attendance adjustments for (days)",
        "0 to 365.",
        Input::Number { min: 0, max: 365 },
    ),
    spec(
        "send_new_program_courses",
        "Send new program courses",
        "",
        Input::Check,
    ),
    spec(
        "update_every_minutes",
        "Update the roster every (minutes)",
        "1 to 1440.",
        Input::Number { min: 1, max: 1440 },
    ),
    spec(
        "error_email_subject",
        "Incompatible-data email: subject",
        "",
        Input::Text,
    ),
    spec(
        "error_email_body",
        "Incompatible-data email: body",
        "{count} and {errors} are filled in.",
        Input::LongText,
    ),
];

const SMS: &[Spec] = &[
    spec("format", "Delivery format", "", Input::Select(FORMATS)),
    spec(
        "retry_days",
        "Retry a refused delivery for (days)",
        "Once a day; 1 to 365.",
        Input::Number { min: 1, max: 365 },
    ),
];

fn specs(kind: ConnectionKind) -> &'static [Spec] {
    match kind {
        ConnectionKind::Moodle => MOODLE,
        ConnectionKind::Ocsat | ConnectionKind::LlnRobot => LLN,
        ConnectionKind::CourseKey => COURSE_KEY,
        ConnectionKind::Sms => SMS,
    }
}

/// The main secret's label, per kind.
fn secret_label(kind: ConnectionKind) -> &'static str {
    match kind {
        ConnectionKind::Moodle => "Web service token (when signing in with a token)",
        ConnectionKind::Ocsat | ConnectionKind::LlnRobot => "Client secret",
        ConnectionKind::CourseKey => "API key",
        ConnectionKind::Sms => "Signing key",
    }
}

fn named_secret_label(name: &str) -> &'static str {
    match name {
        "password" => "Moodle password (when signing in with a username)",
        "api_key" => "API key",
        "initial_password" => "Initial password of new CourseKey users",
        _ => "Secret",
    }
}

/// What the form sent (or, to show a stored connection, what it holds), by field name.
#[derive(Default)]
pub struct Values(HashMap<String, Vec<String>>);

impl Values {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            map.entry(k).or_default().push(v);
        }
        Self(map)
    }
    fn one(&self, name: &str) -> &str {
        self.0
            .get(name)
            .and_then(|v| v.first())
            .map_or("", String::as_str)
    }
    fn has(&self, name: &str, value: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| v.iter().any(|x| x == value))
    }
    fn set(&mut self, name: String, value: String) {
        self.0.insert(name, vec![value]);
    }

    /// A stored connection's fields as the form shows them (no secret).
    fn of_connection(connection: &domain::Connection) -> Self {
        let mut values = Self::of_settings(&connection.settings);
        values.set("name".into(), connection.name.clone());
        values.set("base_url".into(), connection.base_url.clone());
        values.set(
            "error_email".into(),
            connection.error_email.clone().unwrap_or_default(),
        );
        if connection.enabled {
            values.set("enabled".into(), "on".into());
        }
        values
    }

    fn of_settings(settings: &domain::connection::ConnectionSettings) -> Self {
        let mut values = Self::default();
        let json = serde_json::to_value(settings).unwrap_or(Value::Null);
        for s in specs(settings.kind()) {
            let pointer = format!("/{}", s.path.replace('.', "/"));
            let name = format!("settings.{}", s.path);
            match json.pointer(&pointer) {
                Some(Value::Bool(true)) => values.set(name, "on".into()),
                Some(Value::Number(n)) => values.set(name, n.to_string()),
                Some(Value::String(t)) => values.set(name, t.clone()),
                Some(Value::Array(list)) => {
                    values.0.insert(
                        name,
                        list.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect(),
                    );
                }
                _ => {}
            }
        }
        values
    }
}

/// The settings the form sent, as the use case takes them; or the fields at fault.
fn settings_from(
    kind: ConnectionKind,
    values: &Values,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut settings = Map::new();
    let mut errors = Vec::new();
    for s in specs(kind) {
        if let Some((on, is)) = s.when
            && values.one(&format!("settings.{on}")) != is
        {
            continue;
        }
        let name = format!("settings.{}", s.path);
        let raw = values.one(&name).trim();
        let value = match s.input {
            Input::Text | Input::LongText => Value::from(values.one(&name)),
            Input::Optional if raw.is_empty() => Value::Null,
            Input::Optional => Value::from(raw),
            Input::Check => Value::from(values.has(&name, "on")),
            Input::Select(_) => Value::from(raw),
            Input::Choices(options) => Value::Array(
                options
                    .iter()
                    .filter(|(v, _)| values.has(&name, v))
                    .map(|(v, _)| Value::from(*v))
                    .collect(),
            ),
            Input::Number { .. } => match raw.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    errors.push(FieldError {
                        field: name.clone(),
                        message: format!("{:?} is not a whole number", raw),
                    });
                    continue;
                }
            },
        };
        insert_at(&mut settings, s.path, value);
    }
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(errors)
    }
}

/// Puts `value` at a dotted path (`login.username`), making the objects on the way.
fn insert_at(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let inner = map
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                insert_at(inner, rest, value);
            }
        }
    }
}

/// The form field a [`SetupError`] names (`connections.settings.role_id` is
/// the field `settings.role_id`), with its message; `None` for failures that
/// are not a person's input.
fn field_error(e: SetupError) -> Result<FieldError, ConsoleError> {
    let (field, message) = match e {
        SetupError::Invalid { field, message } | SetupError::Unusable { field, message } => {
            (field, message)
        }
        SetupError::Settings(e) => {
            let path = e.path().to_string();
            (
                format!("connections.settings.{path}"),
                e.inner().to_string(),
            )
        }
        e @ SetupError::Exists { .. } => ("connections.id".to_owned(), e.to_string()),
        e @ (SetupError::OnePerTenant { .. } | SetupError::KindChange { .. }) => {
            ("connections.kind".to_owned(), e.to_string())
        }
        e @ SetupError::NotFound { .. } => return Err(ConsoleError::NotFound(e.to_string())),
        SetupError::Store(e) => return Err(e.into()),
        SetupError::Secret(e) => return Err(e.into()),
        SetupError::Encode(_) => {
            return Err(ConsoleError::NotFound(
                "the stored settings could not be read; repair them through PUT /v1/connections/{id}".to_owned(),
            ));
        }
    };
    let name = field.strip_prefix("connections.").unwrap_or(&field);
    Ok(FieldError {
        field: name.to_owned(),
        message,
    })
}

/// One field as the template draws it.
pub struct FormField {
    pub name: String,
    pub id: String,
    pub label: &'static str,
    pub help: String,
    /// `text`, `textarea`, `number`, `checkbox`, `select`, `choices`.
    pub input: &'static str,
    pub value: String,
    pub checked: bool,
    pub min: String,
    pub max: String,
    /// `(value, label, chosen)`.
    pub options: Vec<(String, String, bool)>,
    pub error: Option<String>,
}

/// A secret's field: never a value, only the stored one masked.
pub struct SecretField {
    pub name: String,
    pub id: String,
    pub label: &'static str,
    /// `****abcd`, or `None` when none is stored (or on a new connection).
    pub masked: Option<String>,
    pub error: Option<String>,
}

/// A field the form got wrong: its name as the form sends it, and what to do.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn css_id(name: &str) -> String {
    name.replace('.', "-")
}

fn error_for(errors: &[FieldError], name: &str) -> Option<String> {
    errors
        .iter()
        .find(|e| e.field == name)
        .map(|e| e.message.clone())
}

fn setting_fields(kind: ConnectionKind, values: &Values, errors: &[FieldError]) -> Vec<FormField> {
    specs(kind)
        .iter()
        .map(|s| {
            let name = format!("settings.{}", s.path);
            let raw = values.one(&name).to_owned();
            let mut help = s.help.to_owned();
            if let Some((on, is)) = s.when {
                let option = specs(kind)
                    .iter()
                    .find(|o| o.path == on)
                    .and_then(|o| match o.input {
                        Input::Select(opts) => opts.iter().find(|(v, _)| *v == is).map(|(_, l)| *l),
                        _ => None,
                    })
                    .unwrap_or(is);
                help = format!("Only used with \u{201c}{option}\u{201d}. {help}");
            }
            let (input, min, max, options) = match s.input {
                Input::Text | Input::Optional => ("text", String::new(), String::new(), vec![]),
                Input::LongText => ("textarea", String::new(), String::new(), vec![]),
                Input::Number { min, max } => ("number", min.to_string(), max.to_string(), vec![]),
                Input::Check => ("checkbox", String::new(), String::new(), vec![]),
                Input::Select(opts) => (
                    "select",
                    String::new(),
                    String::new(),
                    opts.iter()
                        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned(), raw == *v))
                        .collect(),
                ),
                Input::Choices(opts) => (
                    "choices",
                    String::new(),
                    String::new(),
                    opts.iter()
                        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned(), values.has(&name, v)))
                        .collect(),
                ),
            };
            FormField {
                id: css_id(&name),
                error: error_for(errors, &name),
                checked: values.has(&name, "on"),
                value: raw,
                name,
                label: s.label,
                help,
                input,
                min,
                max,
                options,
            }
        })
        .collect()
}

fn secret_fields(
    kind: ConnectionKind,
    masked: Option<&MaskedConnection>,
    errors: &[FieldError],
) -> Vec<SecretField> {
    let mut fields = vec![SecretField {
        name: "secret".into(),
        id: "secret".into(),
        label: secret_label(kind),
        masked: masked.and_then(|m| m.secret.clone()),
        error: error_for(errors, "secret"),
    }];
    for name in kind.secret_fields() {
        let full = format!("secrets.{name}");
        fields.push(SecretField {
            id: css_id(&full),
            error: error_for(errors, &full),
            masked: masked.and_then(|m| m.secrets.get(*name).cloned().flatten()),
            name: full,
            label: named_secret_label(name),
        });
    }
    fields
}

#[derive(Template)]
#[template(path = "connection_form.html")]
pub struct ConnectionFormPage {
    pub chrome: Chrome,
    /// `None`: a new connection.
    pub editing: Option<String>,
    pub enabled: bool,
    pub kind: &'static str,
    pub kind_label: &'static str,
    /// `(kind, label)` for a new connection's kind picker.
    pub kinds: Vec<(&'static str, &'static str)>,
    pub id: String,
    pub name: String,
    pub base_url: String,
    pub base_url_help: String,
    pub error_email: String,
    pub new_enabled: bool,
    pub top_errors: Vec<FieldError>,
    pub fields: Vec<FormField>,
    pub secrets: Vec<SecretField>,
    pub errors: Vec<FieldError>,
    /// Just saved: the page says so.
    pub saved: bool,
}

impl ConnectionFormPage {
    pub fn error_of(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

fn chrome(who: &SignedIn) -> Chrome {
    Chrome {
        tenant: who.tenant.to_string(),
        role: who.role,
        csrf: who.csrf.clone(),
        current: "Connections",
    }
}

#[allow(clippy::too_many_arguments)]
fn page(
    who: &SignedIn,
    kind: ConnectionKind,
    editing: Option<&str>,
    enabled: bool,
    values: &Values,
    masked: Option<&MaskedConnection>,
    errors: Vec<FieldError>,
) -> ConnectionFormPage {
    let base_url_help = match LlnProduct::from_kind(kind) {
        Some(p) => format!(
            "The {p} API; prefilled with the product's ({}), can be changed.",
            p.default_api_url()
        ),
        None => "Where the system is reached, e.g. https://moodle.example.edu.au.".to_owned(),
    };
    ConnectionFormPage {
        chrome: chrome(who),
        editing: editing.map(str::to_owned),
        enabled,
        kind: kind.as_str(),
        kind_label: kind_label(kind),
        kinds: KINDS.iter().map(|(k, l)| (k.as_str(), *l)).collect(),
        id: values.one("id").to_owned(),
        name: values.one("name").to_owned(),
        base_url: values.one("base_url").to_owned(),
        base_url_help,
        error_email: values.one("error_email").to_owned(),
        new_enabled: values.has("enabled", "on"),
        top_errors: errors
            .iter()
            .filter(|e| e.field == "form")
            .cloned()
            .collect(),
        fields: setting_fields(kind, values, &errors),
        secrets: secret_fields(kind, masked, &errors),
        errors,
        saved: false,
    }
}

fn urls(state: &ConsoleState) -> api::connections::Resolved {
    api::connections::Resolved(state.api.deps.egress)
}

fn setup<'a>(state: &'a ConsoleState, urls: &'a api::connections::Resolved) -> Setup<'a> {
    api::connections::with_setup(&state.api.deps, urls)
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    kind: Option<String>,
}

/// `/console/connections/new?kind=ocsat`: the form of a kind, with its
/// defaults (OCSAT and LLN Robot: the product's URLs prefilled).
pub async fn new_form(
    who: SignedIn,
    Query(query): Query<NewQuery>,
) -> Result<Response, ConsoleError> {
    if !who.role.may_change() {
        return Err(ConsoleError::Forbidden(
            "you are signed in with a viewer key: it reads only; sign in with an admin key to create a connection".to_owned(),
        ));
    }
    let kind = query
        .kind
        .as_deref()
        .and_then(kind_of)
        .unwrap_or(ConnectionKind::Moodle);
    let settings = app::connections::setup::settings_of(kind, Map::new())
        .map_err(|_| ConsoleError::NotFound("No such kind.".to_owned()))?;
    let mut values = Values::of_settings(&settings);
    if let Some(product) = LlnProduct::from_kind(kind) {
        values.set("base_url".into(), product.default_api_url().to_owned());
        if let Some(lln) = LlnSettings::defaults_for(kind) {
            values.set("settings.auth_url".into(), lln.auth_url);
        }
    }
    values.set("enabled".into(), "on".into());
    let p = page(&who, kind, None, true, &values, None, Vec::new());
    Ok(render(&p)?.into_response())
}

fn secrets_from(
    kind: ConnectionKind,
    values: &Values,
) -> (Option<SecretString>, BTreeMap<String, SecretString>) {
    let given = |name: &str| {
        let raw = values.one(name);
        (!raw.is_empty()).then(|| SecretString::from(raw.to_owned()))
    };
    let secrets = kind
        .secret_fields()
        .iter()
        .filter_map(|n| given(&format!("secrets.{n}")).map(|s| ((*n).to_owned(), s)))
        .collect();
    (given("secret"), secrets)
}

fn optional(raw: &str) -> Option<String> {
    let raw = raw.trim();
    (!raw.is_empty()).then(|| raw.to_owned())
}

fn refused(p: &ConnectionFormPage) -> Result<Response, ConsoleError> {
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(p)?).into_response())
}

/// Creates a connection from the form; on success shows it, else the form
/// again with every error under its field (secrets are never sent back).
pub async fn create(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let values = Values::from_pairs(pairs);
    who.check_change(&method, &headers, values.one("csrf"))?;
    let Some(kind) = kind_of(values.one("kind")) else {
        let p = page(
            &who,
            ConnectionKind::Moodle,
            None,
            true,
            &values,
            None,
            vec![FieldError {
                field: "kind".to_owned(),
                message: "choose a kind".to_owned(),
            }],
        );
        return refused(&p);
    };
    let page_with = |errors| page(&who, kind, None, true, &values, None, errors);
    let id = match ConnectionId::parse(values.one("id").trim()) {
        Ok(id) => id,
        Err(e) => {
            return refused(&page_with(vec![FieldError {
                field: "id".to_owned(),
                message: e.to_string(),
            }]));
        }
    };
    let settings = match settings_from(kind, &values) {
        Ok(s) => s,
        Err(errors) => return refused(&page_with(errors)),
    };
    let (secret, secrets) = secrets_from(kind, &values);
    let fields = ConnectionFields {
        kind,
        name: values.one("name").trim().to_owned(),
        base_url: values.one("base_url").trim().to_owned(),
        enabled: values.has("enabled", "on"),
        error_email: optional(values.one("error_email")),
        settings,
        secret,
        secrets,
    };
    let urls = urls(&state);
    match setup(&state, &urls).create(&who.tenant, id, fields).await {
        Ok(made) => Ok(Redirect::to(&format!(
            "/console/connections/{}/edit?saved=1",
            made.connection.id
        ))
        .into_response()),
        Err(e) => refused(&page_with(vec![field_error(e)?])),
    }
}

fn connection_id(id: &str) -> Result<ConnectionId, ConsoleError> {
    ConnectionId::parse(id)
        .map_err(|_| ConsoleError::NotFound(format!("This tenant has no connection {id:?}.")))
}

async fn masked(
    state: &ConsoleState,
    tenant: &TenantId,
    id: &ConnectionId,
) -> Result<MaskedConnection, ConsoleError> {
    let urls = urls(state);
    setup(state, &urls)
        .connection(tenant, id)
        .await
        .map_err(|e| match field_error(e) {
            Ok(f) => ConsoleError::NotFound(f.message),
            Err(e) => e,
        })
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

/// A connection's settings, secrets masked; an admin changes them here.
pub async fn edit_form(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<SavedQuery>,
) -> Result<Response, ConsoleError> {
    let id = connection_id(&id)?;
    let current = masked(&state, &who.tenant, &id).await?;
    let values = Values::of_connection(&current.connection);
    let mut p = page(
        &who,
        current.connection.kind(),
        Some(id.as_str()),
        current.connection.enabled,
        &values,
        Some(&current),
        Vec::new(),
    );
    p.saved = query.saved.is_some();
    Ok(render(&p)?.into_response())
}

/// Changes a connection's fields (settings merged; a secret left empty stays).
pub async fn edit(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let values = Values::from_pairs(pairs);
    who.check_change(&method, &headers, values.one("csrf"))?;
    let id = connection_id(&id)?;
    let current = masked(&state, &who.tenant, &id).await?;
    let kind = current.connection.kind();
    let enabled = current.connection.enabled;
    let page_with = |errors| {
        page(
            &who,
            kind,
            Some(id.as_str()),
            enabled,
            &values,
            Some(&current),
            errors,
        )
    };
    let settings = match settings_from(kind, &values) {
        Ok(s) => s,
        Err(errors) => return refused(&page_with(errors)),
    };
    let (secret, secrets) = secrets_from(kind, &values);
    let changes = ConnectionChanges {
        name: Some(values.one("name").trim().to_owned()),
        base_url: Some(values.one("base_url").trim().to_owned()),
        enabled: None,
        error_email: Some(optional(values.one("error_email"))),
        settings: Some(settings),
        secret,
        secrets,
    };
    let urls = urls(&state);
    match setup(&state, &urls).change(&who.tenant, &id, changes).await {
        Ok(_) => {
            Ok(Redirect::to(&format!("/console/connections/{id}/edit?saved=1")).into_response())
        }
        Err(e) => refused(&page_with(vec![field_error(e)?])),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn switch(
    state: &ConsoleState,
    who: &SignedIn,
    method: &Method,
    headers: &HeaderMap,
    id: &str,
    csrf: &str,
    enabled: bool,
) -> Result<Response, ConsoleError> {
    who.check_change(method, headers, csrf)?;
    let id = connection_id(id)?;
    let urls = urls(state);
    setup(state, &urls)
        .set_enabled(&who.tenant, &id, enabled)
        .await
        .map_err(|e| match field_error(e) {
            Ok(f) => ConsoleError::NotFound(f.message),
            Err(e) => e,
        })?;
    Ok(Redirect::to(&format!("/console/connections/{id}")).into_response())
}

pub async fn enable(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    switch(&state, &who, &method, &headers, &id, &form.csrf, true).await
}

pub async fn disable(
    State(state): State<ConsoleState>,
    who: SignedIn,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    switch(&state, &who, &method, &headers, &id, &form.csrf, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Values {
        Values::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_kinds_defaults_go_round_the_form_unchanged() {
        for (kind, _) in KINDS {
            let defaults = app::connections::setup::settings_of(*kind, Map::new()).unwrap();
            let sent = settings_from(*kind, &Values::of_settings(&defaults)).unwrap();
            assert_eq!(
                app::connections::setup::settings_of(*kind, sent).unwrap(),
                defaults,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn moodle_login_fields_apply_only_to_their_method_and_numbers_name_their_field() {
        let token = settings_from(
            ConnectionKind::Moodle,
            &values(&[
                ("settings.login.method", "token"),
                ("settings.login.username", "ignored"),
                ("settings.role_id", "5"),
                ("settings.batch_size", "100"),
                ("settings.max_concurrency", "4"),
            ]),
        )
        .unwrap();
        assert_eq!(token["login"], serde_json::json!({"method": "token"}));
        let bad = settings_from(
            ConnectionKind::Moodle,
            &values(&[("settings.role_id", "five")]),
        )
        .unwrap_err();
        assert_eq!(bad[0].field, "settings.role_id");
    }

    #[test]
    fn setup_errors_name_the_forms_field() {
        let e = field_error(SetupError::Unusable {
            field: "connections.settings.login.username".into(),
            message: "name the user".into(),
        })
        .unwrap();
        assert_eq!(e.field, "settings.login.username");
        let e = field_error(SetupError::Invalid {
            field: "connections.secrets.password".into(),
            message: "x".into(),
        })
        .unwrap();
        assert_eq!(e.field, "secrets.password");
    }
}
