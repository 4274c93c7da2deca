//! The console's connection setup, tenant settings and API key screens in a real
//! browser (headless Chromium over WebDriver) over the local stack: moto with IAM
//! enforced and the Moodle simulator. Each step asserts on what the page shows and
//! on what is stored (the connection, its secret in the secret store, the
//! settings, the key's state, the api's answer); each screen is saved as a
//! screenshot under target/console-screenshots.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use domain::connection::{ConnectionSettings, LlnProduct, MoodleLogin};
use domain::ports::{ApiKeyStore, ConnectionStore, KeyState, Role, TenantSettingsStore};
use domain::{ConnectionId, TenantId};
use fantoccini::Locator;
use secrecy::ExposeSecret;
use simulators::moodle::MoodleSim;
use tests::browser::Browser;

/// A key of `role` for `tenant` with `label`, saved as create-api-key saves it.
async fn key_with_role(
    system: &devstack::runner::LocalSystem,
    tenant: &TenantId,
    role: Role,
    label: &str,
) -> (String, String) {
    tests::api_key_as(system, tenant, label, role).await
}

#[tokio::test]
async fn an_admin_creates_and_edits_connections_with_masked_secrets_sets_settings_and_revokes_a_key()
 {
    let system = tests::local_system().await;
    let stores = system.stores();
    let sim = MoodleSim::sample_site();
    let moodle = sim.start().await.unwrap();
    let acme = TenantId::parse("acme").unwrap();
    let base = tests::serve(system.api_router().await.unwrap()).await;
    let admin = tests::api_key(&system, &acme).await;
    let browser = Browser::start().await;
    let c = &browser.client;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    browser.sign_in(&base, &admin).await;

    // OCSAT: the form comes prefilled with the product's API and token URLs.
    browser.click("#new-connection").await;
    c.goto(&format!("{base}/console/connections/new?kind=ocsat"))
        .await
        .unwrap();
    assert_eq!(
        browser.value("#base_url").await,
        LlnProduct::Ocsat.default_api_url()
    );
    assert_eq!(
        browser.value("#settings-auth_url").await,
        LlnProduct::Ocsat.default_auth_url()
    );
    assert!(c.find(Locator::Css("#secrets-api_key")).await.is_ok());
    browser.screenshot("connection-new-ocsat").await;

    // A Moodle connection with a token: stored, the token in the secret store only.
    let token = "a3f9c2d1e8b7a6f5c4d3e2f1a0b9c8d7";
    c.goto(&format!("{base}/console/connections/new?kind=moodle"))
        .await
        .unwrap();
    browser.fill("#id", "moodle-new").await;
    browser.fill("#name", "Acme Moodle").await;
    browser.fill("#base_url", &moodle.base_url).await;
    browser.fill("#error_email", "ops@acme.example").await;
    browser.fill("#settings-role_id", "5").await;
    browser.click("#settings-auto_push").await;
    browser.fill("#secret", token).await;
    browser.screenshot("connection-new-moodle").await;
    browser.click("#save").await;
    browser.text("#saved").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/console/connections/moodle-new/edit",
        "{}",
        c.source().await.unwrap()
    );
    assert_eq!(browser.text("#saved").await, "Saved.");
    let id = ConnectionId::parse("moodle-new").unwrap();
    let stored = stores
        .connections
        .connection(&acme, &id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.name, "Acme Moodle");
    assert_eq!(stored.base_url, moodle.base_url);
    assert_eq!(stored.error_email.as_deref(), Some("ops@acme.example"));
    assert!(stored.enabled);
    let ConnectionSettings::Moodle(settings) = &stored.settings else {
        panic!("a Moodle connection: {stored:?}");
    };
    assert!(settings.auto_push, "the ticked setting is stored");
    assert_eq!(settings.role_id, 5);
    let secret_name = stored.secret_name(&system.config.secret_prefix);
    assert_eq!(
        stores
            .secrets
            .get(&secret_name)
            .await
            .unwrap()
            .expose_secret(),
        token
    );
    let html = c.source().await.unwrap();
    assert!(!html.contains(token), "the token never shows in the page");
    assert_eq!(browser.text("#secret-masked").await, "****c8d7");
    assert_eq!(browser.text("#secrets-password-masked").await, "none");
    browser.screenshot("connection-edit").await;

    // A field error names its field, and nothing changes.
    let option = c
        .find(Locator::Css(
            "#settings-login-method option[value=password]",
        ))
        .await
        .unwrap();
    option.click().await.unwrap();
    browser.fill("#settings-login-service", "learnbridge").await;
    browser.click("#save").await;
    let error = browser.text("#settings-login-username-error").await;
    assert!(
        error.starts_with("settings.login.username:"),
        "the field is named: {error}"
    );
    assert!(!c.source().await.unwrap().contains(token));
    browser.screenshot("connection-field-error").await;
    let unchanged = stores
        .connections
        .connection(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged, stored, "a refused form changes nothing");

    // Edit: the name changes, the secret left empty stays.
    c.goto(&format!("{base}/console/connections/moodle-new/edit"))
        .await
        .unwrap();
    browser.fill("#name", "Acme Moodle (live)").await;
    browser.click("#save").await;
    assert_eq!(browser.text("#saved").await, "Saved.");
    let edited = stores
        .connections
        .connection(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(edited.name, "Acme Moodle (live)");
    assert!(matches!(
        &edited.settings,
        ConnectionSettings::Moodle(m) if m.auto_push && m.login == MoodleLogin::Token
    ));
    assert_eq!(
        stores
            .secrets
            .get(&secret_name)
            .await
            .unwrap()
            .expose_secret(),
        token,
        "an empty secret field keeps the stored secret"
    );
    assert_eq!(browser.text("#secret-masked").await, "****c8d7");

    // Disable, then enable again.
    browser.click("#switch").await;
    browser.text("#edit-connection").await;
    assert!(
        !stores
            .connections
            .connection(&acme, &id)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    c.goto(&format!("{base}/console/connections/moodle-new/edit"))
        .await
        .unwrap();
    assert!(browser.text("#enabled-state").await.starts_with("Disabled"));
    browser.click("#switch").await;
    browser.text("#edit-connection").await;
    assert!(
        stores
            .connections
            .connection(&acme, &id)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );

    // Settings: an unknown zone is named; a good change is stored.
    browser.click("nav a[href='/console/settings']").await;
    browser.fill("#time_zone", "Mars/Olympus").await;
    browser.click("#save").await;
    assert!(
        browser
            .text("#settings-error")
            .await
            .starts_with("time_zone:")
    );
    assert_eq!(
        stores
            .tenants
            .tenant_settings(&acme)
            .await
            .unwrap()
            .time_zone,
        "UTC"
    );
    browser.fill("#time_zone", "Australia/Sydney").await;
    browser.fill("#run_history_days", "45").await;
    browser
        .fill("#subject", "Run {run} of {connection_name} failed")
        .await;
    browser.click("#save").await;
    assert_eq!(browser.text("#saved").await, "Saved.");
    let settings = stores.tenants.tenant_settings(&acme).await.unwrap();
    assert_eq!(settings.time_zone, "Australia/Sydney");
    assert_eq!(settings.run_history_days, Some(45));
    assert_eq!(
        settings.run_error_email.subject,
        "Run {run} of {connection_name} failed"
    );
    browser.screenshot("settings").await;

    // API keys: listed with label and role; one revoked after confirming, then
    // refused by the api.
    let (doomed, doomed_hash) = key_with_role(&system, &acme, Role::Viewer, "old laptop").await;
    let doomed_id = domain::ports::api_key_id(&doomed_hash);
    let before = http
        .get(format!("{base}/v1/connections"))
        .bearer_auth(&doomed)
        .send()
        .await
        .unwrap();
    assert_eq!(before.status(), 200);
    browser.click("nav a[href='/console/api-keys']").await;
    let row = browser.text(&format!("tr[data-key='{doomed_id}']")).await;
    assert!(
        row.contains("old laptop") && row.contains("viewer") && row.contains("Active"),
        "{row}"
    );
    assert!(!c.source().await.unwrap().contains(&admin));
    browser.screenshot("api-keys").await;
    browser
        .click(&format!("tr[data-key='{doomed_id}'] a.revoke"))
        .await;
    browser.screenshot("api-key-revoke").await;
    assert!(matches!(
        stores.api_keys.key_state(&doomed_hash).await.unwrap(),
        KeyState::Active(..)
    ));
    browser.click("#confirm-revoke").await;
    assert!(browser.text("#revoked").await.contains(&doomed_id));
    let row = browser.text(&format!("tr[data-key='{doomed_id}']")).await;
    assert!(row.contains("Revoked"), "{row}");
    assert!(matches!(
        stores.api_keys.key_state(&doomed_hash).await.unwrap(),
        KeyState::Revoked
    ));
    let after = http
        .get(format!("{base}/v1/connections"))
        .bearer_auth(&doomed)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 403, "a revoked key is refused by the api");
    browser.sign_out().await;

    // A viewer sees no change button and its POSTs are refused.
    let (viewer, _) = key_with_role(&system, &acme, Role::Viewer, "reader").await;
    let session = browser.sign_in(&base, &viewer).await;
    assert!(c.find(Locator::Css("#new-connection")).await.is_err());
    c.goto(&format!("{base}/console/connections/moodle-new/edit"))
        .await
        .unwrap();
    assert!(c.find(Locator::Css("main form")).await.is_err());
    assert_eq!(browser.text("dd.masked").await, "****c8d7");
    assert!(!c.source().await.unwrap().contains(token));
    browser.screenshot("viewer-connection-settings").await;
    c.goto(&format!("{base}/console/settings")).await.unwrap();
    assert!(c.find(Locator::Css("main form")).await.is_err());
    c.goto(&format!("{base}/console/api-keys")).await.unwrap();
    assert!(c.find(Locator::Css("a.revoke")).await.is_err());
    let csrf = tests::browser::csrf_of(&system, &session).await;
    let admin_id = domain::ports::api_key_id(&tests_admin_hash(&system, &admin).await);
    let revoke_admin = format!("/console/api-keys/{admin_id}/revoke");
    for (path, form) in [
        (
            "/console/connections/moodle-new/edit",
            vec![("csrf", csrf.as_str()), ("name", "Hijacked")],
        ),
        (
            "/console/connections/moodle-new/disable",
            vec![("csrf", csrf.as_str())],
        ),
        (
            "/console/settings",
            vec![("csrf", csrf.as_str()), ("time_zone", "UTC")],
        ),
        (revoke_admin.as_str(), vec![("csrf", csrf.as_str())]),
    ] {
        let refused = http
            .post(format!("{base}{path}"))
            .header("cookie", format!("lb_console={session}"))
            .header("origin", &base)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "{path}");
    }
    let still = stores
        .connections
        .connection(&acme, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(still.enabled && still.name == "Acme Moodle (live)");
    assert_eq!(
        stores
            .tenants
            .tenant_settings(&acme)
            .await
            .unwrap()
            .time_zone,
        "Australia/Sydney"
    );
    assert!(matches!(
        stores
            .api_keys
            .key_state(&tests_admin_hash(&system, &admin).await)
            .await
            .unwrap(),
        KeyState::Active(_, Role::Admin)
    ));
}

/// The stored hash of a key.
async fn tests_admin_hash(system: &devstack::runner::LocalSystem, key: &str) -> String {
    let pepper = system
        .stores()
        .secrets
        .get(system.config.api_key_pepper_secret.as_deref().unwrap())
        .await
        .unwrap();
    app::auth::hash_api_key(pepper.expose_secret().as_bytes(), key)
}
