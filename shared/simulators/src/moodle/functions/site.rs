//! core_webservice_get_site_info and tool_mobile_get_config.

use serde_json::{Value, json};

use super::{Ctx, find_user, user_pic};
use crate::moodle::error::MoodleError;
use crate::moodle::params::{Desc, Ty, def, multiple_def, req};

pub fn site_info_params() -> Vec<(&'static str, Desc)> {
    vec![("serviceshortnames", multiple_def(req(Ty::Text)))]
}

pub fn site_info(ctx: &mut Ctx<'_>, _p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let user = find_user(st, ctx.me).ok_or_else(|| MoodleError::missing_record("user"))?;
    let functions: Vec<Value> = ctx
        .service_functions
        .iter()
        .map(|f| json!({"name": f, "version": st.site.version}))
        .collect();
    let features = [
        ("usecomments", 1),
        ("usetags", 1),
        ("enablenotes", 1),
        ("messaging", 1),
        ("enableblogs", 1),
        ("enablecompletion", 1),
        ("enablebadges", 1),
        ("messagingallusers", 0),
        ("enablecustomreports", 1),
        ("enableglobalsearch", 0),
        ("mnet_dispatcher_mode", 0),
    ];
    let advancedfeatures: Vec<Value> = features
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    Ok(json!({
        "sitename": st.site.sitename,
        "username": user.username,
        "firstname": user.firstname,
        "lastname": user.lastname,
        "fullname": user.fullname(),
        "lang": user.lang,
        "userid": user.id,
        "siteurl": st.site.siteurl,
        "userpictureurl": user_pic(st, "f1"),
        "functions": functions,
        "downloadfiles": 1,
        "uploadfiles": 1,
        "release": st.site.release,
        "version": st.site.version,
        "mobilecssurl": "",
        "advancedfeatures": advancedfeatures,
        "usercanmanageownfiles": true,
        "userquota": 0,
        "usermaxuploadfilesize": -1,
        "userhomepage": 1,
        "userprivateaccesskey": format!("{:032x}", 0x5151_u128 * 1_000_003 + user.id as u128),
        "siteid": 1,
        "sitecalendartype": "gregorian",
        "usercalendartype": "gregorian",
        "userissiteadmin": user.id == 2,
        "theme": "boost",
        "limitconcurrentlogins": 0,
    }))
}

pub fn mobile_config_params() -> Vec<(&'static str, Desc)> {
    vec![("section", def(Ty::AlphaNumExt, json!("")))]
}

/// `tool_mobile_get_config`: the site's public settings, all or one admin section's.
/// `locationsettings` holds the site's time zone (`timezone`) and `forcetimezone`
/// (`"99"`: not forced, users with `timezone: "99"` follow the site's).
pub fn mobile_config(ctx: &mut Ctx<'_>, p: &Value) -> Result<Value, MoodleError> {
    let st = &*ctx.st;
    let section = p.get("section").and_then(Value::as_str).unwrap_or_default();
    let general = [
        ("wwwroot", json!(st.site.siteurl)),
        ("httpswwwroot", json!(st.site.siteurl)),
        ("sitename", json!(st.site.sitename)),
        ("guestlogin", json!(0)),
        ("rememberusername", json!(2)),
        ("authloginviaemail", json!(0)),
        ("registerauth", json!("")),
        ("forgottenpasswordurl", json!("")),
        ("authinstructions", json!("")),
        ("authnoneenabled", json!(0)),
        ("enablewebservices", json!(1)),
        ("enablemobilewebservice", json!(1)),
        ("maintenanceenabled", json!(0)),
        ("maintenancemessage", json!("")),
        ("mobilecssurl", json!("")),
        ("tool_mobile_disabledfeatures", json!("")),
        (
            "launchurl",
            json!(format!("{}/admin/tool/mobile/launch.php", st.site.siteurl)),
        ),
        ("country", json!("")),
        ("agedigitalconsentverification", json!(0)),
        ("autolang", json!(1)),
        ("lang", json!("en")),
        ("langmenu", json!(1)),
        ("langlist", json!("")),
        ("locale", json!("")),
        ("tool_mobile_minimumversion", json!("")),
        ("tool_mobile_iosappid", json!("633359593")),
        ("tool_mobile_androidappid", json!("com.moodle.moodlemobile")),
        (
            "tool_mobile_setuplink",
            json!("https://download.moodle.org/mobile"),
        ),
        ("tool_mobile_qrcodetype", json!(1)),
        ("supportpage", json!("")),
        ("supportavailability", json!(1)),
    ];
    let location = [
        ("timezone", json!(st.site.timezone)),
        ("forcetimezone", json!(st.site.forcetimezone)),
    ];
    let settings: Vec<(&str, Value)> = match section {
        "" => general.into_iter().chain(location).collect(),
        "locationsettings" => location.into_iter().collect(),
        _ => Vec::new(),
    };
    let settings: Vec<Value> = settings
        .into_iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    Ok(json!({"settings": settings, "warnings": []}))
}
