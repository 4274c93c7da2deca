#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;
use crate::testing::MemConnections;
use std::sync::Mutex;

#[derive(Default)]
struct MemSecrets(Mutex<BTreeMap<String, String>>);

#[async_trait]
impl SecretSink for MemSecrets {
    async fn put_secret(&self, name: &str, value: &SecretString) -> Result<(), SecretError> {
        self.0
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.expose_secret().to_owned());
        Ok(())
    }
}

#[async_trait]
impl SecretSource for MemSecrets {
    async fn secret(&self, name: &str) -> Result<SecretString, SecretError> {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .map(|v| SecretString::from(v.clone()))
            .ok_or_else(|| SecretError::NotFound { name: name.into() })
    }
}

/// Refuses any URL naming `internal`.
struct NoInternal;

#[async_trait]
impl UrlCheck for NoInternal {
    async fn check(&self, url: &str) -> Result<(), String> {
        if url.contains("internal") {
            Err("it is an internal address".to_owned())
        } else {
            Ok(())
        }
    }
}

#[derive(Default)]
struct World {
    connections: MemConnections,
    secrets: MemSecrets,
}

impl World {
    fn setup(&self) -> Setup<'_> {
        Setup {
            connections: &self.connections,
            secret_sink: &self.secrets,
            secret_source: &self.secrets,
            secret_prefix: "lb",
            urls: &NoInternal,
        }
    }
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn id(s: &str) -> ConnectionId {
    ConnectionId::parse(s).unwrap()
}

fn fields(kind: ConnectionKind, base_url: &str) -> ConnectionFields {
    ConnectionFields {
        kind,
        name: "Site".into(),
        base_url: base_url.into(),
        enabled: true,
        error_email: None,
        settings: serde_json::Map::new(),
        secret: Some(SecretString::from("a-much-longer-token-1234")),
        secrets: BTreeMap::new(),
    }
}

fn field_of(e: SetupError) -> String {
    match e {
        SetupError::Invalid { field, .. } | SetupError::Unusable { field, .. } => field,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_created_connection_is_stored_with_its_secret_shown_masked() {
    let world = World::default();
    let made = world
        .setup()
        .create(
            &tenant(),
            id("lms"),
            fields(ConnectionKind::Moodle, "https://lms.example"),
        )
        .await
        .unwrap();
    assert_eq!(made.secret.as_deref(), Some("****1234"), "masked");
    assert_eq!(
        world.secrets.0.lock().unwrap().get("lb/acme/lms").unwrap(),
        "a-much-longer-token-1234"
    );
    assert_eq!(world.connections.0.lock().unwrap().len(), 1);
    let again = world
        .setup()
        .create(
            &tenant(),
            id("lms"),
            fields(ConnectionKind::Moodle, "https://lms.example"),
        )
        .await
        .unwrap_err();
    assert!(matches!(again, SetupError::Exists { .. }), "{again:?}");
}

#[tokio::test]
async fn an_lln_connection_is_prefilled_and_one_per_product() {
    let world = World::default();
    let made = world
        .setup()
        .create(&tenant(), id("ocsat"), fields(ConnectionKind::Ocsat, ""))
        .await
        .unwrap();
    assert_eq!(
        made.connection.base_url,
        LlnProduct::Ocsat.default_api_url()
    );
    let ConnectionSettings::Ocsat(s) = &made.connection.settings else {
        panic!("an OCSAT connection")
    };
    assert_eq!(s.auth_url, LlnProduct::Ocsat.default_auth_url());
    let second = world
        .setup()
        .create(&tenant(), id("ocsat2"), fields(ConnectionKind::Ocsat, ""))
        .await
        .unwrap_err();
    assert!(
        matches!(&second, SetupError::OnePerTenant { other, .. } if other.as_str() == "ocsat"),
        "{second:?}"
    );
    assert!(
        second
            .to_string()
            .contains("only one connection per LLN product")
    );
    // Nothing of the refused one is stored, its secret neither.
    assert_eq!(world.connections.0.lock().unwrap().len(), 1);
    assert!(
        !world
            .secrets
            .0
            .lock()
            .unwrap()
            .contains_key("lb/acme/ocsat2")
    );
}

#[tokio::test]
async fn bad_fields_settings_urls_and_secrets_are_refused_naming_the_field() {
    let world = World::default();
    let setup = world.setup();
    let mut blank = fields(ConnectionKind::Moodle, "https://lms.example");
    blank.name = " ".into();
    let e = setup.create(&tenant(), id("a"), blank).await.unwrap_err();
    assert_eq!(field_of(e), "connections.name");
    let e = setup
        .create(
            &tenant(),
            id("a"),
            fields(ConnectionKind::Moodle, "ftp://x"),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(e), "connections.base_url");
    let e = setup
        .create(
            &tenant(),
            id("a"),
            fields(ConnectionKind::Moodle, "https://internal.example"),
        )
        .await
        .unwrap_err();
    assert!(matches!(&e, SetupError::Unusable { .. }));
    assert_eq!(field_of(e), "connections.base_url");
    let mut role = fields(ConnectionKind::Moodle, "https://lms.example");
    role.settings.insert("role_id".into(), 0.into());
    let e = setup.create(&tenant(), id("a"), role).await.unwrap_err();
    assert_eq!(field_of(e), "connections.settings.role_id");
    let mut named = fields(ConnectionKind::Moodle, "https://lms.example");
    named
        .secrets
        .insert("api_key".into(), SecretString::from("k"));
    let e = setup.create(&tenant(), id("a"), named).await.unwrap_err();
    assert_eq!(field_of(e), "connections.secrets.api_key");
    let mut typo = fields(ConnectionKind::Moodle, "https://lms.example");
    typo.settings.insert("role_id".into(), "five".into());
    let e = setup.create(&tenant(), id("a"), typo).await.unwrap_err();
    assert!(
        matches!(&e, SetupError::Settings(e) if e.to_string().contains("expected i64")),
        "{e:?}"
    );
    assert!(world.connections.0.lock().unwrap().is_empty());
    assert!(world.secrets.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_change_merges_settings_and_a_replace_keeps_the_kind() {
    let world = World::default();
    let setup = world.setup();
    let mut input = fields(ConnectionKind::Moodle, "https://lms.example");
    input.settings.insert("role_id".into(), 7.into());
    input.settings.insert("batch_size".into(), 10.into());
    setup.create(&tenant(), id("lms"), input).await.unwrap();
    let mut settings = serde_json::Map::new();
    settings.insert("batch_size".into(), 20.into());
    settings.insert("role_id".into(), serde_json::Value::Null);
    let changed = setup
        .change(
            &tenant(),
            &id("lms"),
            ConnectionChanges {
                settings: Some(settings),
                ..ConnectionChanges::default()
            },
        )
        .await
        .unwrap();
    let ConnectionSettings::Moodle(m) = &changed.connection.settings else {
        panic!("a Moodle connection")
    };
    assert_eq!((m.batch_size, m.role_id), (20, 5), "merged; null = default");
    let e = setup
        .replace(&tenant(), id("lms"), fields(ConnectionKind::Ocsat, ""))
        .await
        .unwrap_err();
    assert!(matches!(e, SetupError::KindChange { .. }), "{e:?}");
    let e = setup
        .replace(
            &tenant(),
            id("nope"),
            fields(ConnectionKind::Moodle, "https://lms.example"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, SetupError::NotFound { .. }), "{e:?}");
    let off = setup
        .set_enabled(&tenant(), &id("lms"), false)
        .await
        .unwrap();
    assert!(!off.connection.enabled);
}
