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
    /// Optional functions (see [`crate::moodle::OPTIONAL_FUNCTIONS`]) missing
    /// from the token's service, by name: reported, but the site is usable.
    pub missing_optional_functions: Vec<String>,
}

impl ConnectionReport {
    pub fn is_complete(&self) -> bool {
        self.missing_functions.is_empty()
    }
}
