//! `core_webservice_get_site_info`.

use crate::moodle::ids::{MoodleCourseId, MoodleUserId};
use serde::{Deserialize, Serialize};

/// No parameters.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct NoParams {}

/// The answer of `core_webservice_get_site_info`. `userprivateaccesskey` is
/// deliberately not read: it is a credential.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SiteInfo {
    pub sitename: String,
    pub username: String,
    #[serde(default)]
    pub firstname: String,
    #[serde(default)]
    pub lastname: String,
    #[serde(default)]
    pub fullname: String,
    #[serde(default)]
    pub lang: String,
    pub userid: MoodleUserId,
    pub siteurl: String,
    #[serde(default)]
    pub userpictureurl: String,
    /// The functions in the token's external service.
    #[serde(default)]
    pub functions: Vec<SiteFunction>,
    #[serde(default)]
    pub downloadfiles: Option<i64>,
    #[serde(default)]
    pub uploadfiles: Option<i64>,
    /// e.g. `4.3 (Build: 20231009)`.
    #[serde(default)]
    pub release: String,
    /// e.g. `2023100900`.
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub mobilecssurl: Option<String>,
    #[serde(default)]
    pub advancedfeatures: Vec<AdvancedFeature>,
    #[serde(default)]
    pub usercanmanageownfiles: Option<bool>,
    #[serde(default)]
    pub userquota: Option<i64>,
    #[serde(default)]
    pub usermaxuploadfilesize: Option<i64>,
    #[serde(default)]
    pub userhomepage: Option<i64>,
    /// The site course's id (1).
    #[serde(default)]
    pub siteid: Option<MoodleCourseId>,
    #[serde(default)]
    pub sitecalendartype: Option<String>,
    #[serde(default)]
    pub usercalendartype: Option<String>,
    #[serde(default)]
    pub userissiteadmin: Option<bool>,
    #[serde(default)]
    pub theme: Option<String>,
    #[serde(default)]
    pub limitconcurrentlogins: Option<i64>,
}

impl SiteInfo {
    /// Whether the token's service includes a function.
    pub fn has_function(&self, name: &str) -> bool {
        self.functions.iter().any(|f| f.name == name)
    }

    /// Whether a site-wide feature (e.g. `enablecompletion`) is on.
    pub fn feature_enabled(&self, name: &str) -> bool {
        self.advancedfeatures
            .iter()
            .any(|f| f.name == name && f.value != 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SiteFunction {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AdvancedFeature {
    pub name: String,
    pub value: i64,
}

/// What "test connection" shows: who the site is and what the token's service lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionReport {
    pub site_name: String,
    pub site_url: String,
    pub release: String,
    pub version: String,
    /// The Moodle account the token acts as.
    pub username: String,
    /// Required functions missing from the token's service, by name, in the
    /// order they were asked for.
    pub missing_functions: Vec<String>,
    /// The site's time zone, when the service lets the token read it.
    pub time_zone: SiteTimeZone,
}

/// `tool_mobile_get_config` with `section=locationsettings`: the site's
/// `timezone` and `forcetimezone` (`99`: not forced, each user's own applies).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MobileConfig {
    #[serde(default)]
    pub settings: Vec<ConfigSetting>,
}

/// One `{name, value}` of `tool_mobile_get_config` (values are text).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConfigSetting {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// The zone a Moodle site turns its epochs into dates with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SiteTimeZone {
    /// The site's default zone (`timezone`), or the forced one (`forcetimezone`).
    Zone { name: String, forced: bool },
    /// `timezone` is `99`: the web server's own zone, which Moodle does not tell.
    ServerDefault,
    /// `tool_mobile_get_config` is not in the token's service (it is optional).
    NotAllowed,
    /// The call failed (Moodle's words; no secret in them).
    Unreadable { reason: String },
}

impl MobileConfig {
    fn value(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.value.trim())
    }

    /// The zone dates on the site are in: a forced zone (all users) wins over
    /// the site's default; `99` in `timezone` is the server's zone.
    pub fn time_zone(&self) -> SiteTimeZone {
        match (self.value("forcetimezone"), self.value("timezone")) {
            (Some(forced), _) if !forced.is_empty() && forced != "99" => SiteTimeZone::Zone {
                name: forced.to_owned(),
                forced: true,
            },
            (_, Some(zone)) if !zone.is_empty() && zone != "99" => SiteTimeZone::Zone {
                name: zone.to_owned(),
                forced: false,
            },
            _ => SiteTimeZone::ServerDefault,
        }
    }
}

impl ConnectionReport {
    pub fn is_complete(&self) -> bool {
        self.missing_functions.is_empty()
    }
}
