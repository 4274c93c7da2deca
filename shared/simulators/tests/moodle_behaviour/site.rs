//! Logins, fixtures, the binary, the site's time zone.

use super::*;

// ---------------------------------------------------------------- token.php, fixtures, binary

#[tokio::test]
async fn login_token_php_exchanges_credentials_for_a_token() {
    let site = Site::sample().await;
    site.sim
        .add_login("svc.user", "Secret#123", "learnbridge_ws", "tok-from-login");
    let url = format!("{}/login/token.php", site.server.base_url);
    let post = |form: Vec<(&'static str, &'static str)>| {
        let http = site.http.clone();
        let url = url.clone();
        async move {
            let resp = http.post(url).form(&form).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            serde_json::from_str::<Value>(&resp.text().await.unwrap()).unwrap()
        }
    };
    let ok = post(vec![
        ("username", "SVC.user"),
        ("password", "Secret#123"),
        ("service", "learnbridge_ws"),
    ])
    .await;
    assert_eq!(ok, json!({"token": "tok-from-login", "privatetoken": null}));
    let bad = post(vec![
        ("username", "svc.user"),
        ("password", "nope"),
        ("service", "learnbridge_ws"),
    ])
    .await;
    assert_eq!(bad["errorcode"], "invalidlogin");
    assert_eq!(bad["error"], "Invalid login, please try again");
    assert!(bad.as_object().unwrap().contains_key("stacktrace"));
    let no_service = post(vec![
        ("username", "svc.user"),
        ("password", "Secret#123"),
        ("service", "other"),
    ])
    .await;
    assert_eq!(no_service["errorcode"], "servicenotavailable");
    let missing = post(vec![("username", "svc.user"), ("password", "Secret#123")]).await;
    assert_eq!(missing["errorcode"], "missingparam");
    // The token works for the web services.
    let v = site
        .call_with(
            "tok-from-login",
            "core_course_get_course_module",
            &[("cmid", "1")],
        )
        .await;
    assert_eq!(v["cm"]["id"], 1);
    assert!(!format!("{:?}", site.sim.calls()).contains("Secret#123"));
}

#[test]
fn fixtures_round_trip_through_json() {
    let sample = MoodleFixture::sample_site();
    let json = serde_json::to_string(&sample).unwrap();
    let sim = MoodleSim::from_json(&json).unwrap();
    assert_eq!(sim.snapshot(), sample);
    let sydney = MoodleFixture::sample_site_sydney();
    let sim = MoodleSim::from_json(&serde_json::to_string(&sydney).unwrap()).unwrap();
    assert_eq!(sim.snapshot(), sydney);
    // A service given by name and functions only is enabled and open to every user.
    let sim =
        MoodleSim::from_json(r#"{"services": [{"shortname": "s", "functions": []}]}"#).unwrap();
    let service = &sim.snapshot().services[0];
    assert!(service.enabled && !service.restricted);
    // A sparse fixture gets an empty site's defaults.
    let sim = MoodleSim::from_json(r#"{"users": [{"id": 2, "username": "admin"}], "tokens": [{"token": "t", "userid": 2, "service": "s"}]}"#).unwrap();
    let snap = sim.snapshot();
    assert!(snap.courses.iter().any(|c| c.id == 1 && c.format == "site"));
    assert_eq!(snap.roles.len(), 8);
    assert!(MoodleSim::from_json("{\"users\": 3}").is_err());
}

#[tokio::test]
async fn the_binary_prints_its_url_and_serves_the_sample_site() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_simulators"))
        .args(["--moodle-port", "0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = line.strip_prefix("moodle ").unwrap();
    assert!(base.starts_with("http://127.0.0.1:"));
    let body = reqwest::Client::new()
        .post(format!("{base}/webservice/rest/server.php"))
        .form(&[
            ("wstoken", SAMPLE_TOKEN),
            ("wsfunction", "core_webservice_get_site_info"),
            ("moodlewsrestformat", "json"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Moodle Acceptance Peer"));
    child.kill().await.unwrap();
}

#[tokio::test]
async fn login_token_php_checks_services_and_their_authorised_users() {
    use simulators::moodle::Service;
    let site = Site::with(MoodleSim::sample_site_sydney()).await;
    // A service open to every user: a user's token is issued once and given again.
    site.sim.add_service(Service::new(
        "reports",
        &["core_webservice_get_site_info", "tool_mobile_get_config"],
    ));
    assert!(site.sim.set_password("smp.update", "Other#2026pw"));
    let form = [
        ("username", "smp.update"),
        ("password", "Other#2026pw"),
        ("service", "reports"),
    ];
    let first = token_php(&site, &form).await;
    let token = first["token"].as_str().unwrap().to_owned();
    assert_eq!(first["privatetoken"], Value::Null);
    assert_eq!(token_php(&site, &form).await["token"], token.as_str());
    assert_eq!(site.sim.token_for(313, "reports"), token);
    let info = site
        .call_with(&token, "core_webservice_get_site_info", &[])
        .await;
    assert_eq!(info["userid"], 313);
    // The old password no longer works.
    let old = token_php(
        &site,
        &[
            ("username", "smp.update"),
            ("password", "Sample#2026pw"),
            ("service", "reports"),
        ],
    )
    .await;
    assert_eq!(errorcode(&old), "invalidlogin");
    // Restricted: only its authorised users; disabled: not available.
    site.sim.add_service(
        Service::new("reports", &["core_webservice_get_site_info"]).restricted_to(&[2]),
    );
    let refused = token_php(&site, &form).await;
    assert_eq!(errorcode(&refused), "usernotallowed");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("reports's allowed users")
    );
    let mut disabled = Service::new("reports", &["core_webservice_get_site_info"]);
    disabled.enabled = false;
    site.sim.add_service(disabled);
    assert_eq!(
        errorcode(&token_php(&site, &form).await),
        "servicenotavailable"
    );
}

#[tokio::test]
async fn the_site_time_zone_is_set_by_name_and_reported_by_tool_mobile_get_config() {
    let site = Site::with(MoodleSim::sample_site_sydney()).await;
    let zone = |v: &Value| v["settings"][0]["value"].as_str().unwrap().to_owned();
    let section = [("section", "locationsettings")];
    let v = site.call("tool_mobile_get_config", &section).await;
    assert_eq!(zone(&v), "Australia/Sydney");
    site.sim.set_timezone("America/Los_Angeles").unwrap();
    let v = site.call("tool_mobile_get_config", &section).await;
    assert_eq!(zone(&v), "America/Los_Angeles");
    let err = site.sim.set_timezone("Mars/Olympus_Mons").unwrap_err();
    assert!(err.to_string().contains("Mars/Olympus_Mons"));
    assert_eq!(site.sim.timezone(), "America/Los_Angeles");
    // Without a section: every public setting, the location ones included.
    let all = site.call("tool_mobile_get_config", &[]).await;
    let names: Vec<&str> = all["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"sitename") && names.contains(&"timezone"));
    // A service may leave the function out (the first recorded site's does).
    let first = Site::sample().await;
    let v = first.call("tool_mobile_get_config", &section).await;
    assert_eq!(errorcode(&v), "accessexception");
}

#[tokio::test]
async fn a_new_course_starts_at_the_next_midnight_of_the_site_time_zone() {
    let site = Site::with(MoodleSim::sample_site_sydney()).await;
    // 2026-12-01 13:10 UTC = 2026-12-02 00:10 in Sydney: the next midnight there is
    // 2026-12-03 00:00 AEDT = 2026-12-02 13:00 UTC.
    site.sim.set_now(Some(1_796_130_600));
    let v = site
        .call(
            "core_course_create_courses",
            &[
                ("courses[0][fullname]", "Tz"),
                ("courses[0][shortname]", "TZ-1"),
                ("courses[0][categoryid]", "5"),
            ],
        )
        .await;
    let id = v[0]["id"].as_i64().unwrap();
    let course = site
        .sim
        .snapshot()
        .courses
        .into_iter()
        .find(|c| c.id == id)
        .unwrap();
    assert_eq!(course.startdate, 1_796_216_400);
}

#[tokio::test]
async fn the_binary_serves_the_sydney_site_with_the_time_zone_and_recovery_flags() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_simulators"))
        .args([
            "--moodle-site",
            "sydney",
            "--moodle-timezone",
            "Europe/Madrid",
            "--moodle-recover-grades",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let base = line.strip_prefix("moodle ").unwrap();
    let v: Value = reqwest::Client::new()
        .post(format!("{base}/webservice/rest/server.php"))
        .form(&[
            ("wstoken", SAMPLE_TOKEN),
            ("wsfunction", "tool_mobile_get_config"),
            ("moodlewsrestformat", "json"),
            ("section", "locationsettings"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["settings"][0]["value"], "Europe/Madrid");
    child.kill().await.unwrap();
    // An unknown zone is refused by name.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_simulators"))
        .args(["--moodle-timezone", "Nowhere/Atlantis"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Nowhere/Atlantis"));
}
