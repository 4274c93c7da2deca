//! Each kind's settings and secrets as form fields: names, labels, kinds of input.

use super::*;

pub(super) fn kind_of(raw: &str) -> Option<ConnectionKind> {
    KINDS.iter().map(|(k, _)| *k).find(|k| k.as_str() == raw)
}

pub(super) fn kind_label(kind: ConnectionKind) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("", |(_, label)| label)
}

/// How a setting is entered.
#[derive(Clone, Copy)]
pub(super) enum Input {
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
pub(super) struct Spec {
    pub(super) path: &'static str,
    pub(super) label: &'static str,
    pub(super) help: &'static str,
    pub(super) input: Input,
    pub(super) when: Option<(&'static str, &'static str)>,
}

pub(super) const fn spec(
    path: &'static str,
    label: &'static str,
    help: &'static str,
    input: Input,
) -> Spec {
    Spec {
        path,
        label,
        help,
        input,
        when: None,
    }
}

pub(super) const fn when(
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

pub(super) const LOGIN: &[(&str, &str)] = &[
    ("token", "Web service token (recommended)"),
    ("password", "Username and password"),
];
pub(super) const NEW_USER_AUTH: &[(&str, &str)] = &[
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
pub(super) const MATCH_ORDER: &[(&str, &str)] = &[
    (
        "learner_code_then_fields",
        "Stored user, then learner code = ID number, then the fields below",
    ),
    (
        "username_idnumber_email",
        "Username, then ID number, then email",
    ),
];
pub(super) const MATCH_FIELDS: &[(&str, &str)] = &[
    ("username", "Username"),
    ("email", "Email"),
    ("firstname", "First name"),
    ("lastname", "Last name"),
];
pub(super) const LEVELS: &[(&str, &str)] = &[("unit", "Units"), ("task", "Tasks")];
pub(super) const FORMATS: &[(&str, &str)] = &[
    ("json_webhook", "JSON webhook (HMAC-SHA256)"),
    ("coachview_xml", "Coachview results XML (HMAC-SHA512)"),
];

pub(super) const MOODLE: &[Spec] = &[
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

pub(super) const LLN: &[Spec] = &[
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

pub(super) const COURSE_KEY: &[Spec] = &[
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

pub(super) const SMS: &[Spec] = &[
    spec("format", "Delivery format", "", Input::Select(FORMATS)),
    spec(
        "retry_days",
        "Retry a refused delivery for (days)",
        "Once a day; 1 to 365.",
        Input::Number { min: 1, max: 365 },
    ),
];

pub(super) fn specs(kind: ConnectionKind) -> &'static [Spec] {
    match kind {
        ConnectionKind::Moodle => MOODLE,
        ConnectionKind::Ocsat | ConnectionKind::LlnRobot => LLN,
        ConnectionKind::CourseKey => COURSE_KEY,
        ConnectionKind::Sms => SMS,
    }
}

/// The main secret's label, per kind.
pub(super) fn secret_label(kind: ConnectionKind) -> &'static str {
    match kind {
        ConnectionKind::Moodle => "Web service token (when signing in with a token)",
        ConnectionKind::Ocsat | ConnectionKind::LlnRobot => "Client secret",
        ConnectionKind::CourseKey => "API key",
        ConnectionKind::Sms => "Signing key",
    }
}

pub(super) fn named_secret_label(name: &str) -> &'static str {
    match name {
        "password" => "Moodle password (when signing in with a username)",
        "api_key" => "API key",
        "initial_password" => "Initial password of new CourseKey users",
        _ => "Secret",
    }
}
