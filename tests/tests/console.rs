//! The console in a real browser (headless Chromium over WebDriver) over the local
//! stack: moto with IAM enforced (the console runs under its own role from
//! infra/template.yaml) and the Moodle simulator. Each step asserts on what the
//! page shows and on what is stored; each screen is saved as a screenshot under
//! target/console-screenshots.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use cloud::testing::connection;
use domain::ConnectionKind::Moodle;
use domain::ports::{ApiKeyStore, Role, RunStore, SessionStore, TenantSettingsStore};
use domain::{ConnectionId, TenantId};
use fantoccini::Locator;
use simulators::moodle::MoodleSim;
use tests::browser::Browser;

/// A key of `role` for `tenant`, saved as create-api-key saves it.
async fn key_with_role(
    system: &devstack::runner::LocalSystem,
    tenant: &TenantId,
    role: Role,
) -> String {
    tests::api_key_as(system, tenant, "console test", role)
        .await
        .0
}

use tests::browser::sessions;

#[tokio::test]
async fn a_person_signs_in_tests_a_connection_and_reads_a_run_log_and_tenants_and_roles_hold() {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let moodle = sim.start().await.unwrap();
    let acme = TenantId::parse("acme").unwrap();
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = moodle.base_url.clone();
    conn.name = "Acme Moodle".into();
    tests::seed_moodle_offering(
        &system,
        &conn,
        "OCC-1001",
        2,
        &[("X1234567", "Ana", "Ruiz", Some("ana.ruiz@example.com"))],
    )
    .await;
    // A second tenant with a connection of its own.
    let mut other = connection("globex", "globex-moodle", Moodle, true);
    other.base_url = moodle.base_url.clone();
    other.name = "Globex Moodle".into();
    tests::seed_moodle_offering(&system, &other, "OCC-2001", 2, &[]).await;
    // A real run for acme: the nightly schedule, then the queues.
    system.fire_nightly(Utc::now()).await.unwrap();
    assert_eq!(system.drain().await.unwrap().failed, 0);
    let acme_runs = stores
        .runs
        .history(&acme, &conn.id, None, None, 10)
        .await
        .unwrap();
    assert_eq!(acme_runs.len(), 1, "one nightly run for acme");
    let run = &acme_runs[0];
    let log = stores.runs.log(&acme, &conn.id, &run.id).await.unwrap();
    assert!(!log.is_empty());

    let base = tests::serve(system.api_router().await.unwrap()).await;
    let admin = tests::api_key(&system, &acme).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    let store = sessions(&system).await;

    // Sign-in: a wrong key names the field and stores nothing.
    c.goto(&format!("{base}/console/sign-in")).await.unwrap();
    browser.screenshot("sign-in").await;
    browser.fill("#api_key", "lb_not-a-key").await;
    browser.click("form button[type=submit]").await;
    assert!(
        browser
            .text(".field-error")
            .await
            .contains("api_key: this API key is not known")
    );
    assert!(
        c.get_named_cookie("lb_console").await.is_err(),
        "no session for a wrong key"
    );

    // Sign-in with the admin key: a session stored under the id's hash only.
    let id = browser.sign_in(&base, &admin).await;
    let session = store
        .session(&console::session::id_hash(&id), Utc::now())
        .await
        .unwrap()
        .expect("a stored session");
    assert_eq!(
        (session.tenant.as_str(), session.role),
        ("acme", Role::Admin)
    );
    assert!(session.expires > Utc::now() + chrono::TimeDelta::hours(7));
    assert!(
        !c.source().await.unwrap().contains(&admin),
        "the key never shows in the page"
    );

    // Connections: acme's only, with its last run's status in words and colour.
    let row = browser.text("tr[data-connection=moodle-main]").await;
    assert!(
        row.contains("Acme Moodle") && row.contains(run.status.label()),
        "{row}"
    );
    let class = c
        .find(Locator::Css("tr[data-connection=moodle-main] .status"))
        .await
        .unwrap()
        .attr("class")
        .await
        .unwrap()
        .unwrap();
    assert!(
        class.contains(console::views::status_class(run.status)),
        "{class}"
    );
    assert!(
        c.find(Locator::Css("tr[data-connection=globex-moodle]"))
            .await
            .is_err(),
        "never another tenant's"
    );
    browser.screenshot("connections").await;

    // Test connection: the site, its time zone, the missing functions by name.
    c.find(Locator::LinkText("Acme Moodle"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#test-connection"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let report = browser.text("#test-report").await;
    let site = app::connections::test_connection(
        &conn,
        &stores.secrets,
        &system.config.secret_prefix,
        &api::probe::MoodleProbe::new(domain::egress::Egress::AllowInternal),
        stores.tenants.tenant_settings(&acme).await.unwrap().zone(),
    )
    .await
    .unwrap()
    .site
    .expect("the simulator answers");
    assert!(report.contains(&site.site_name), "{report}");
    assert_eq!(
        browser.text("#site-time-zone").await,
        site.time_zone.clone().unwrap_or_else(|| "not known".into())
    );
    for missing in &site.missing_functions {
        assert!(
            report.contains(missing.as_str()),
            "{missing} named: {report}"
        );
    }
    browser.screenshot("connection-test").await;

    // Runs: history by connection and days, then the run's log.
    let zone = stores.tenants.tenant_settings(&acme).await.unwrap().zone();
    let today = zone.today(Utc::now());
    c.goto(&format!(
        "{base}/console/runs?connection=moodle-main&from={today}&to={today}"
    ))
    .await
    .unwrap();
    let runs = browser.text("#runs").await;
    assert!(runs.contains(run.status.label()), "{runs}");
    browser.screenshot("runs").await;
    c.goto(&format!(
        "{base}/console/runs?connection=moodle-main&from=2026-13-01"
    ))
    .await
    .unwrap();
    assert!(
        browser.text(".field-error").await.starts_with("from:"),
        "the field is named"
    );
    c.goto(&format!("{base}/console/runs?connection=moodle-main"))
        .await
        .unwrap();
    browser.click(&format!("tr[data-run='{}'] a", run.id)).await;
    assert_eq!(browser.text("#run-status").await, run.status.label());
    let shown = browser.text("#log").await;
    for line in log.iter().take(5) {
        assert!(
            shown.contains(&line.message),
            "log line shown: {}",
            line.message
        );
    }
    browser.screenshot("run-log").await;

    // A POST without the CSRF token, or from another site, is refused.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let test_url = format!("{base}/console/connections/moodle-main/test");
    let cookie = format!("lb_console={id}");
    let refused = http
        .post(&test_url)
        .header("cookie", &cookie)
        .header("origin", &base)
        .form(&[("csrf", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("csrf"));
    let refused = http
        .post(&test_url)
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .form(&[("csrf", session.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "another site's form");

    // Sign-out ends the stored session; its cookie no longer opens a page.
    browser.sign_out().await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/sign-in")
    );
    assert!(
        store
            .session(&console::session::id_hash(&id), Utc::now())
            .await
            .unwrap()
            .is_none()
    );
    let after = http
        .get(format!("{base}/console/connections"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303, "back to sign-in");

    // A viewer: no change button, its POST refused by the console and the api alike.
    let viewer = key_with_role(&system, &acme, Role::Viewer).await;
    let id = browser.sign_in(&base, &viewer).await;
    assert_eq!(browser.text("#role").await, "viewer (reads only)");
    c.goto(&format!("{base}/console/connections/moodle-main"))
        .await
        .unwrap();
    assert!(
        c.find(Locator::Css("#test-connection")).await.is_err(),
        "a viewer sees no change button"
    );
    assert!(
        c.find(Locator::Css("main form")).await.is_err(),
        "nor any change form"
    );
    browser.screenshot("viewer-connection").await;
    let csrf = store
        .session(&console::session::id_hash(&id), Utc::now())
        .await
        .unwrap()
        .unwrap()
        .csrf;
    let refused = http
        .post(&test_url)
        .header("cookie", format!("lb_console={id}"))
        .header("origin", &base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("viewer key"));
    let api = http
        .post(format!("{base}/v1/connections/moodle-main/test"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 403);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["field"], "role", "{body}");
    let api = http
        .get(format!("{base}/v1/connections"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200, "a viewer reads");
    browser.sign_out().await;

    // A revoked key ends its sessions.
    let id = browser.sign_in(&base, &admin).await;
    let key_id = stores
        .api_keys
        .list_keys(&acme)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.role == Role::Admin)
        .unwrap()
        .id;
    assert!(
        stores
            .api_keys
            .revoke_key(&acme, &key_id, Utc::now())
            .await
            .unwrap()
    );
    c.goto(&format!("{base}/console/connections"))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/sign-in"),
        "revoked: signed out"
    );
    assert!(
        store
            .session(&console::session::id_hash(&id), Utc::now())
            .await
            .unwrap()
            .is_none()
    );

    // A second tenant never sees the first's connections or runs.
    let globex = TenantId::parse("globex").unwrap();
    let globex_key = tests::api_key(&system, &globex).await;
    browser.sign_in(&base, &globex_key).await;
    assert!(browser.text("#connections").await.contains("Globex Moodle"));
    assert!(
        c.find(Locator::Css("tr[data-connection=moodle-main]"))
            .await
            .is_err()
    );
    c.goto(&format!("{base}/console/connections/moodle-main"))
        .await
        .unwrap();
    assert!(
        c.source()
            .await
            .unwrap()
            .contains("This tenant has no connection")
    );
    c.goto(&format!(
        "{base}/console/connections/moodle-main/runs/{}",
        run.id
    ))
    .await
    .unwrap();
    assert!(
        c.source()
            .await
            .unwrap()
            .contains("This tenant has no connection")
    );
    c.goto(&format!("{base}/console/runs?connection=moodle-main"))
        .await
        .unwrap();
    assert!(
        browser
            .text(".field-error")
            .await
            .starts_with("connection:")
    );
    assert!(
        !c.source().await.unwrap().contains(run.id.as_str()),
        "acme's run never shown"
    );
    let globex_conn = ConnectionId::parse("globex-moodle").unwrap();
    assert!(
        stores
            .runs
            .history(&globex, &globex_conn, None, None, 10)
            .await
            .unwrap()
            .iter()
            .all(|r| r.tenant == globex)
    );
    browser.screenshot("second-tenant").await;
    browser.client.clone().close().await.unwrap();
}
