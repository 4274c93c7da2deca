//! A connection: one configured link to one external system.
//!
//! Its settings are typed per kind, with the defaults the seeds give. The secret
//! (token, client secret, signing key) is never part of this record: it lives in
//! Secrets Manager under [`Connection::secret_name`].

use crate::ids::{ConnectionId, TenantId};
use serde::{Deserialize, Serialize};

/// Which external system a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    /// Moodle LMS over its REST web services.
    Moodle,
    /// The Online Core Skills Assessment Tool (LLN).
    Ocsat,
    /// LLN Robot, the other LLN product (one LLN connection per product per tenant).
    LlnRobot,
    /// CourseKey attendance.
    CourseKey,
    /// The tenant's own student management system: where deliveries go.
    Sms,
}

impl ConnectionKind {
    /// Every kind.
    pub const ALL: [ConnectionKind; 5] = [
        ConnectionKind::Moodle,
        ConnectionKind::Ocsat,
        ConnectionKind::LlnRobot,
        ConnectionKind::CourseKey,
        ConnectionKind::Sms,
    ];

    /// Whether the nightly sync starts a run for a connection of this kind.
    /// The SMS is a delivery target, not something we sync from on a schedule.
    pub fn is_synced_nightly(self) -> bool {
        !matches!(self, ConnectionKind::Sms)
    }

    /// The kind's name, as the API and storage spell it (its serde tag).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Moodle => "moodle",
            ConnectionKind::Ocsat => "ocsat",
            ConnectionKind::LlnRobot => "lln_robot",
            ConnectionKind::CourseKey => "course_key",
            ConnectionKind::Sms => "sms",
        }
    }

    /// Whether a tenant may have only one connection of this kind: one per LLN
    /// product ("you may only configure one integration instance for each LLN
    /// integration product"), and one CourseKey (offerings do not name a
    /// CourseKey connection: the roster and the attendance are the tenant's).
    pub fn one_per_tenant(self) -> bool {
        matches!(
            self,
            ConnectionKind::Ocsat | ConnectionKind::LlnRobot | ConnectionKind::CourseKey
        )
    }

    /// The named secrets a connection of this kind has besides its main one
    /// (Moodle token, LLN client secret, CourseKey API key, SMS signing key).
    /// Each is write-only and only ever shown masked.
    pub fn secret_fields(self) -> &'static [&'static str] {
        match self {
            ConnectionKind::Ocsat | ConnectionKind::LlnRobot => &["api_key"],
            ConnectionKind::CourseKey => &["initial_password"],
            // A Moodle connection that signs in with a username (`settings.login`).
            ConnectionKind::Moodle => &["password"],
            ConnectionKind::Sms => &[],
        }
    }
}

/// One configured link to one external system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub tenant: TenantId,
    pub id: ConnectionId,
    pub name: String,
    /// Base URL of the external system (configuration, never hard-coded).
    pub base_url: String,
    /// Disabled connections are skipped by the nightly run but can be run by hand.
    pub enabled: bool,
    /// Where a failed run or an expired delivery is reported (no personal details in the email).
    #[serde(default)]
    pub error_email: Option<String>,
    pub settings: ConnectionSettings,
}

impl Connection {
    pub fn kind(&self) -> ConnectionKind {
        self.settings.kind()
    }

    /// The Secrets Manager name holding this connection's secret.
    pub fn secret_name(&self, prefix: &str) -> String {
        format!("{prefix}/{}/{}", self.tenant, self.id)
    }

    /// The Secrets Manager name of one of the connection's further secrets
    /// (e.g. an LLN connection's `api_key`, CourseKey's `initial_password`),
    /// beside its main one. Which fields a kind has: [`ConnectionKind::secret_fields`].
    pub fn field_secret_name(&self, prefix: &str, field: &str) -> String {
        format!("{}/{field}", self.secret_name(prefix))
    }

    /// The secret the connection signs in with, and the field a person sets it
    /// through: the main secret (`secret`: a token, a client secret), or, for a
    /// Moodle connection that signs in with a username, its `password`.
    pub fn sign_in_secret(&self, prefix: &str) -> (String, &'static str) {
        match &self.settings {
            ConnectionSettings::Moodle(MoodleSettings {
                login: MoodleLogin::Password { .. },
                ..
            }) => (
                self.field_secret_name(prefix, "password"),
                "connections.secrets.password",
            ),
            _ => (self.secret_name(prefix), "connections.secret"),
        }
    }
}

/// How learnbridge signs in to a Moodle site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum MoodleLogin {
    /// A web service token, the connection's secret (recommended).
    #[default]
    Token,
    /// A Moodle account (its password is the connection's `password` secret)
    /// exchanged through `login/token.php` for a token of the external service
    /// with this short name; the token is kept and fetched again when refused.
    Password { username: String, service: String },
}

/// Settings, typed per kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectionSettings {
    Moodle(MoodleSettings),
    Ocsat(LlnSettings),
    LlnRobot(LlnSettings),
    CourseKey(CourseKeySettings),
    Sms(SmsSettings),
}

impl ConnectionSettings {
    pub fn kind(&self) -> ConnectionKind {
        match self {
            ConnectionSettings::Moodle(_) => ConnectionKind::Moodle,
            ConnectionSettings::Ocsat(_) => ConnectionKind::Ocsat,
            ConnectionSettings::LlnRobot(_) => ConnectionKind::LlnRobot,
            ConnectionSettings::CourseKey(_) => ConnectionKind::CourseKey,
            ConnectionSettings::Sms(_) => ConnectionKind::Sms,
        }
    }
}

/// How a user that learnbridge creates in Moodle signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum NewUserAuth {
    /// Moodle creates the password and emails the learner (`createpassword=1`).
    #[default]
    MoodleCreatesPassword,
    /// learnbridge generates a password, sends it in the registration email, and
    /// Moodle forces a change at first login (the Smartosh way).
    GeneratedPassword,
    /// A named Moodle authentication plugin (e.g. the SMS's own SSO plugin).
    Plugin { auth: String },
}

/// How learners are matched with existing Moodle users before one is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOrder {
    /// VETtrak: stored Moodle user id, then learner code = idnumber, then the field rules.
    LearnerCodeThenFields,
    /// Smartosh: identifier = username, identifier = idnumber, then email.
    UsernameIdnumberEmail,
}

/// Fields that can be combined (AND) to match a learner with a Moodle user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchField {
    Username,
    Email,
    Firstname,
    Lastname,
}

/// Moodle connection settings (VETtrak's and Smartosh's options together).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MoodleSettings {
    /// How learnbridge signs in: a token, or a username and password.
    pub login: MoodleLogin,
    /// Moodle role id used to enrol learners; 5 is Moodle's student role.
    pub role_id: i64,
    pub new_user_auth: NewUserAuth,
    pub match_order: MatchOrder,
    /// Match learner code with the Moodle user's idnumber.
    pub match_learner_code_to_idnumber: bool,
    /// Extra fields, combined with AND, checked before a user is created.
    pub match_fields: Vec<MatchField>,
    /// Record Failed results; when off, a failing unit counts as Started.
    pub record_failed_results: bool,
    /// Use the enrolment's start date when Moodle gives only a graded date.
    pub use_enrolment_start_date: bool,
    /// Read course completions and complete the enrolment.
    pub course_completions: bool,
    /// Results wait for a person's review before they are saved to the SMS.
    pub review_before_saving: bool,
    /// Push each new enrolment of an auto-push offering as it arrives.
    pub auto_push: bool,
    /// Report learners enrolled in Moodle courses that the SMS does not know.
    pub exclusive_tenant_alerts: bool,
    /// Unenrol (instead of suspend) when an enrolment is removed or completed.
    pub unenrol_on_removal: bool,
    /// Smartosh mode: after completion is read, unenrol the learner from the course.
    pub unenrol_after_completion: bool,
    /// Records per Moodle call (kept under the site's max_input_vars).
    pub batch_size: usize,
    /// Moodle calls in flight at once for this site.
    pub max_concurrency: usize,
    pub default_organisation: Option<String>,
    /// The assessable levels (VETtrak's "transfer levels": unit, task) that can
    /// be mapped and resulted through this connection; every level by default.
    pub result_levels: Vec<crate::sis::AssessableKind>,
}

impl MoodleSettings {
    /// Whether assessables of this kind can be mapped and resulted.
    pub fn allows_level(&self, kind: crate::sis::AssessableKind) -> bool {
        self.result_levels.contains(&kind)
    }
}

impl Default for MoodleSettings {
    fn default() -> Self {
        Self {
            login: MoodleLogin::Token,
            role_id: 5,
            new_user_auth: NewUserAuth::default(),
            match_order: MatchOrder::LearnerCodeThenFields,
            match_learner_code_to_idnumber: true,
            match_fields: Vec::new(),
            record_failed_results: true,
            use_enrolment_start_date: false,
            course_completions: true,
            review_before_saving: true,
            auto_push: false,
            exclusive_tenant_alerts: false,
            unenrol_on_removal: true,
            unenrol_after_completion: false,
            batch_size: 100,
            max_concurrency: 4,
            default_organisation: None,
            result_levels: vec![
                crate::sis::AssessableKind::Unit,
                crate::sis::AssessableKind::Task,
            ],
        }
    }
}

/// OCSAT / LLN Robot connection settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct LlnSettings {
    /// The OAuth2 token endpoint (prefilled, editable).
    pub auth_url: String,
    pub client_id: String,
    /// Staff member applied to new invitations and imported results.
    pub default_staff: Option<String>,
    /// Assessment status applied to imported results.
    pub default_assessment_status: Option<String>,
    /// Log every API call (secrets obfuscated) for support.
    pub api_logging: bool,
    /// The integration's optional code (the seed's "Code (optional)"; the
    /// required name is the connection's `name`).
    pub code: Option<String>,
}

impl LlnSettings {
    /// The settings a new connection of an LLN kind starts with: the product's
    /// token endpoint prefilled (editable). `None` for kinds that are not LLN.
    /// The API URL is the connection's `base_url`:
    /// [`LlnProduct::default_api_url`].
    pub fn defaults_for(kind: ConnectionKind) -> Option<Self> {
        let product = LlnProduct::from_kind(kind)?;
        Some(Self {
            auth_url: product.default_auth_url().to_owned(),
            ..Self::default()
        })
    }

    /// The token endpoint to use: the configured one, else the product's default.
    pub fn auth_url_for(&self, kind: ConnectionKind) -> Option<String> {
        let configured = self.auth_url.trim();
        if configured.is_empty() {
            LlnProduct::from_kind(kind).map(|p| p.default_auth_url().to_owned())
        } else {
            Some(configured.to_owned())
        }
    }
}

/// CourseKey connection settings, with GEGI's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CourseKeySettings {
    pub weeks_before_start_to_enable: u32,
    pub weeks_after_end_to_disable: u32,
    /// Checked in later than this after class start: absent (within it: late).
    pub absent_after_start_minutes: u32,
    /// Checked out earlier than this before class end: absent (within it: late).
    pub absent_before_end_minutes: u32,
    pub follow_adjustments_days: u32,
    pub send_new_program_courses: bool,
    /// Minutes between roster updates; at least 1.
    pub update_every_minutes: u32,
    /// Subject of the email about incompatible data received from CourseKey
    /// (sent to the connection's `error_email`).
    pub error_email_subject: String,
    /// Its body; `{count}` and `{errors}` (record ids and reasons, no names) are filled in.
    pub error_email_body: String,
}

impl Default for CourseKeySettings {
    fn default() -> Self {
        Self {
            weeks_before_start_to_enable: 3,
            weeks_after_end_to_disable: 2,
            absent_after_start_minutes: 15,
            absent_before_end_minutes: 15,
            follow_adjustments_days: 7,
            send_new_program_courses: false,
            update_every_minutes: 15,
            error_email_subject: "Incompatible data received from CourseKey".into(),
            error_email_body:
                "{count} CourseKey attendance record(s) could not be imported:\n{errors}".into(),
        }
    }
}

/// How results reach the SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryFormat {
    /// JSON, HMAC-SHA256 over the raw body with a timestamp header.
    #[default]
    JsonWebhook,
    /// Coachview's generic results XML, `X-WebHook-Signature` = HMAC-SHA512.
    CoachviewXml,
}

/// The SMS (delivery target) settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsSettings {
    pub format: DeliveryFormat,
    /// Days a refused delivery is retried, once a day.
    pub retry_days: u32,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            format: DeliveryFormat::default(),
            retry_days: 30,
        }
    }
}

/// The LLN product a connection talks to. A tenant has at most one connection per product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlnProduct {
    Ocsat,
    LlnRobot,
}

impl LlnProduct {
    /// The product of an LLN connection kind; `None` for every other kind.
    pub fn from_kind(kind: ConnectionKind) -> Option<Self> {
        match kind {
            ConnectionKind::Ocsat => Some(LlnProduct::Ocsat),
            ConnectionKind::LlnRobot => Some(LlnProduct::LlnRobot),
            ConnectionKind::Moodle | ConnectionKind::CourseKey | ConnectionKind::Sms => None,
        }
    }

    pub fn kind(self) -> ConnectionKind {
        match self {
            LlnProduct::Ocsat => ConnectionKind::Ocsat,
            LlnProduct::LlnRobot => ConnectionKind::LlnRobot,
        }
    }

    /// The product's name, as people know it.
    pub fn name(self) -> &'static str {
        match self {
            LlnProduct::Ocsat => "OCSAT",
            LlnProduct::LlnRobot => "LLN Robot",
        }
    }

    /// The API URL a new connection is prefilled with (the connection's `base_url`).
    /// To be confirmed against the real product at onboarding (docs/connectors/ocsat.md).
    pub fn default_api_url(self) -> &'static str {
        match self {
            LlnProduct::Ocsat => "https://api.ocsat.vic.gov.au/v1",
            LlnProduct::LlnRobot => "https://api.llnrobot.com.au/v1",
        }
    }

    /// The OAuth2 token endpoint a new connection is prefilled with.
    pub fn default_auth_url(self) -> &'static str {
        match self {
            LlnProduct::Ocsat => "https://auth.ocsat.vic.gov.au/oauth2/token",
            LlnProduct::LlnRobot => "https://api.llnrobot.com.au/oauth2/token",
        }
    }
}

impl std::fmt::Display for LlnProduct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_levels_default_to_every_level_and_limit_what_is_resulted() {
        use crate::sis::AssessableKind::{Task, Unit};
        // A connection stored before the setting existed keeps every level.
        let old: MoodleSettings = serde_json::from_str(r#"{"role_id":5}"#).unwrap();
        let cases: [(&str, bool, bool); 4] = [
            (r#"{"role_id":5}"#, true, true),
            (r#"{"result_levels":["unit"]}"#, true, false),
            (r#"{"result_levels":["task"]}"#, false, true),
            (r#"{"result_levels":[]}"#, false, false),
        ];
        assert_eq!(old.result_levels, vec![Unit, Task]);
        for (json, unit, task) in cases {
            let s: MoodleSettings = serde_json::from_str(json).unwrap();
            assert_eq!(
                (s.allows_level(Unit), s.allows_level(Task)),
                (unit, task),
                "{json}"
            );
        }
        let bad = serde_json::from_str::<MoodleSettings>(r#"{"result_levels":["module"]}"#);
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("unknown variant `module`")
        );
    }

    #[test]
    fn defaults_follow_the_seeds() {
        let moodle = MoodleSettings::default();
        assert_eq!(moodle.role_id, 5);
        assert_eq!(moodle.batch_size, 100);
        let ck = CourseKeySettings::default();
        assert_eq!(
            (
                ck.weeks_before_start_to_enable,
                ck.weeks_after_end_to_disable,
                ck.follow_adjustments_days
            ),
            (3, 2, 7)
        );
        assert_eq!(SmsSettings::default().retry_days, 30);
    }

    #[test]
    fn settings_round_trip_with_their_kind_tag() {
        let settings: ConnectionSettings =
            serde_json::from_str(r#"{"kind":"moodle","role_id":9}"#).unwrap();
        assert_eq!(settings.kind(), ConnectionKind::Moodle);
        let ConnectionSettings::Moodle(m) = &settings else {
            panic!("not moodle")
        };
        assert_eq!(m.role_id, 9);
        assert_eq!(
            m.batch_size, 100,
            "unspecified settings take their defaults"
        );
    }

    #[test]
    fn unknown_settings_are_refused_by_name() {
        let err = serde_json::from_str::<ConnectionSettings>(r#"{"kind":"moodle","roleid":9}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `roleid`"), "{err}");
    }

    #[test]
    fn lln_settings_are_prefilled_per_product_and_stay_editable() {
        let cases = [
            (ConnectionKind::Ocsat, Some(LlnProduct::Ocsat)),
            (ConnectionKind::LlnRobot, Some(LlnProduct::LlnRobot)),
            (ConnectionKind::Moodle, None),
            (ConnectionKind::Sms, None),
        ];
        for (kind, product) in cases {
            let defaults = LlnSettings::defaults_for(kind);
            assert_eq!(
                defaults.as_ref().map(|s| s.auth_url.as_str()),
                product.map(|p| p.default_auth_url()),
                "{kind:?}"
            );
            assert_eq!(
                LlnSettings::default().auth_url_for(kind).as_deref(),
                product.map(|p| p.default_auth_url()),
                "an empty auth URL falls back to the product's"
            );
        }
        let edited = LlnSettings {
            auth_url: " https://idp.example/token ".into(),
            ..LlnSettings::default()
        };
        assert_eq!(
            edited.auth_url_for(ConnectionKind::Ocsat).as_deref(),
            Some("https://idp.example/token")
        );
        let err = serde_json::from_str::<ConnectionSettings>(r#"{"kind":"ocsat","authurl":"x"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `authurl`"), "{err}");
    }

    #[test]
    fn a_kinds_name_is_its_serde_tag() {
        for kind in [
            ConnectionKind::Moodle,
            ConnectionKind::Ocsat,
            ConnectionKind::LlnRobot,
            ConnectionKind::CourseKey,
            ConnectionKind::Sms,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn the_sms_is_not_synced_nightly() {
        assert!(!ConnectionKind::Sms.is_synced_nightly());
        assert!(ConnectionKind::Moodle.is_synced_nightly());
    }
}
