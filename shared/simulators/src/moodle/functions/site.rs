//! core_webservice_get_site_info.

use serde_json::{Value, json};

use super::{Ctx, find_user, user_pic};
use crate::moodle::error::MoodleError;
use crate::moodle::params::{Desc, Ty, multiple_def, req};

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
