//! app::settings::save: a refused setting is named and nothing is stored; a
//! good one is stored with its zone spelled as the tz database spells it.

#![allow(clippy::unwrap_used)]

use app::settings::{SaveSettingsError, save};
use app::testing::MemTenants;
use domain::TenantId;
use domain::ports::TenantSettingsStore;
use domain::tenant::TenantSettings;

#[tokio::test]
async fn settings_are_checked_then_stored() {
    let tenants = MemTenants::default();
    let acme = TenantId::parse("acme").unwrap();
    let bad = TenantSettings {
        time_zone: "Mars/Olympus".into(),
        ..TenantSettings::default()
    };
    match save(&tenants, &acme, bad).await {
        Err(SaveSettingsError::Invalid(e)) => assert_eq!(e.field, "time_zone"),
        other => panic!("refused by name: {other:?}"),
    }
    assert_eq!(
        tenants.tenant_settings(&acme).await.unwrap(),
        TenantSettings::default()
    );
    let good = TenantSettings {
        time_zone: " Australia/Sydney ".into(),
        run_history_days: Some(90),
        ..TenantSettings::default()
    };
    let stored = save(&tenants, &acme, good).await.unwrap();
    assert_eq!(stored.time_zone, "Australia/Sydney");
    assert_eq!(tenants.tenant_settings(&acme).await.unwrap(), stored);
}
