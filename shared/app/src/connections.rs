//! Configuring a connection ([`setup`]) and testing it.
//!
//! Testing a connection: read its secret, ask its system who it is and what
//! the secret may do there. For Moodle: the site's name, release and version
//! (`core_webservice_get_site_info`) and the functions the enabled features
//! need that the token's service lacks, by name; and the site's time zone
//! (`tool_mobile_get_config`), with a note when it is not the tenant's.

pub mod setup;

pub use setup::{
    ConnectionChanges, ConnectionFields, MaskedConnection, Setup, SetupError, UrlCheck,
};

use async_trait::async_trait;
use domain::ports::{BoxError, SecretError, SecretSource};
use domain::zone::TenantZone;
use domain::{Connection, ConnectionKind};
use secrecy::SecretString;
use serde::Serialize;

/// What a connection's system said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteReport {
    pub site_name: String,
    pub site_url: String,
    pub release: String,
    pub version: String,
    /// The account the secret acts as in that system.
    pub account: String,
    /// Functions the enabled features need that the secret may not call, by name.
    pub missing_functions: Vec<String>,
    /// Optional functions the secret may not call, by name: the test is still
    /// ok without them (Moodle: `tool_mobile_get_config`, the site's time zone).
    pub missing_optional_functions: Vec<String>,
    /// The zone the site turns its times into dates with (an IANA name), when
    /// it could be read.
    pub time_zone: Option<String>,
    /// Why the site's zone is not known, when it is not (not a failure).
    #[serde(skip)]
    pub time_zone_unknown: Option<String>,
}

/// Calls a connection's system with the secret it signs in with (an adapter
/// over a connector): the token or client secret, or a Moodle login's password.
#[async_trait]
pub trait SiteProbe: Send + Sync {
    /// Whether connections of this kind can be tested.
    fn supports(&self, kind: ConnectionKind) -> bool;
    /// Asks the system about itself. An error's message is shown to the person
    /// testing the connection, so it must say what to fix and hold no secret.
    async fn probe(
        &self,
        connection: &Connection,
        secret: SecretString,
    ) -> Result<SiteReport, BoxError>;
}

/// The outcome of a test: reached and complete, reached with functions
/// missing, or not reached (with the reason a person can act on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionTest {
    /// Reached, and every required function is available.
    pub ok: bool,
    pub site: Option<SiteReport>,
    /// Why the system could not be used, when it could not.
    pub problem: Option<String>,
    /// The tenant's time zone, beside the site's.
    pub tenant_time_zone: String,
    /// What a person should know that does not fail the test: the site's time
    /// zone differs from the tenant's, or could not be read.
    pub notes: Vec<String>,
}

/// The notes on a site's zone against the tenant's.
fn zone_notes(site: &SiteReport, tenant: TenantZone) -> Vec<String> {
    match (&site.time_zone, &site.time_zone_unknown) {
        (Some(zone), _) if zone != tenant.name() => vec![format!(
            "The site's time zone is {zone} but the tenant's is {tenant}: learnbridge dates results, completions and enrolments by the tenant's zone, so a day here and a day in Moodle can differ. Set time_zone in PUT /v1/settings to {zone} if the provider works in it."
        )],
        (Some(_), _) => Vec::new(),
        (None, Some(why)) => vec![format!(
            "The site's time zone was not checked against the tenant's ({tenant}): {why}"
        )],
        (None, None) => Vec::new(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("connections of kind {kind:?} cannot be tested")]
    Unsupported { kind: ConnectionKind },
    /// The secret it signs in with is not set (`field`: where a person sets it).
    #[error("the connection has no secret to sign in with yet; set {field} first")]
    NoSecret { field: &'static str },
    #[error("the connection's secret could not be read")]
    Secret(#[source] SecretError),
}

impl TestError {
    pub fn is_retryable(&self) -> bool {
        match self {
            TestError::Secret(e) => domain::ports::Retryable::is_retryable(e),
            _ => false,
        }
    }
}

/// Tests one connection with the secret stored for it.
#[tracing::instrument(skip_all, fields(tenant = %connection.tenant, connection = %connection.id))]
pub async fn test_connection(
    connection: &Connection,
    secrets: &dyn SecretSource,
    secret_prefix: &str,
    probe: &dyn SiteProbe,
    tenant_zone: TenantZone,
) -> Result<ConnectionTest, TestError> {
    let kind = connection.kind();
    if !probe.supports(kind) {
        return Err(TestError::Unsupported { kind });
    }
    let (name, field) = connection.sign_in_secret(secret_prefix);
    let secret = match secrets.secret(&name).await {
        Ok(secret) => secret,
        Err(SecretError::NotFound { .. }) => return Err(TestError::NoSecret { field }),
        Err(e) => return Err(TestError::Secret(e)),
    };
    match probe.probe(connection, secret).await {
        Ok(site) => {
            tracing::info!(missing = site.missing_functions.len(), "connection tested");
            Ok(ConnectionTest {
                ok: site.missing_functions.is_empty(),
                notes: zone_notes(&site, tenant_zone),
                site: Some(site),
                problem: None,
                tenant_time_zone: tenant_zone.name().to_owned(),
            })
        }
        Err(error) => {
            tracing::warn!(
                error = &*error as &dyn std::error::Error,
                "connection test failed"
            );
            Ok(ConnectionTest {
                ok: false,
                site: None,
                problem: Some(error.to_string()),
                tenant_time_zone: tenant_zone.name().to_owned(),
                notes: Vec::new(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::connection::{ConnectionSettings, MoodleSettings, SmsSettings};
    use secrecy::ExposeSecret;
    use std::sync::Mutex;

    struct OneSecret(Option<&'static str>);

    #[async_trait]
    impl SecretSource for OneSecret {
        async fn secret(&self, name: &str) -> Result<SecretString, SecretError> {
            assert_eq!(name, "lb/connections/acme/moodle");
            self.0
                .map(SecretString::from)
                .ok_or_else(|| SecretError::NotFound { name: name.into() })
        }
    }

    #[derive(Default)]
    struct FakeProbe {
        missing: Vec<String>,
        zone: Option<&'static str>,
        fail: bool,
        seen: Mutex<Vec<String>>,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("Moodle refused the web service token: check the token in the connection")]
    struct Refused;

    #[async_trait]
    impl SiteProbe for FakeProbe {
        fn supports(&self, kind: ConnectionKind) -> bool {
            kind == ConnectionKind::Moodle
        }
        async fn probe(
            &self,
            _connection: &Connection,
            secret: SecretString,
        ) -> Result<SiteReport, BoxError> {
            self.seen
                .lock()
                .unwrap()
                .push(secret.expose_secret().to_owned());
            if self.fail {
                return Err(Box::new(Refused));
            }
            Ok(SiteReport {
                site_name: "LMS".into(),
                site_url: "http://lms".into(),
                release: "4.3".into(),
                version: "2023100900".into(),
                account: "ws".into(),
                missing_functions: self.missing.clone(),
                missing_optional_functions: Vec::new(),
                time_zone: self.zone.map(str::to_owned),
                time_zone_unknown: self
                    .zone
                    .is_none()
                    .then(|| "tool_mobile_get_config is not in the token's service".to_owned()),
            })
        }
    }

    fn moodle() -> Connection {
        Connection {
            tenant: domain::TenantId::parse("acme").unwrap(),
            id: domain::ConnectionId::parse("moodle").unwrap(),
            name: "LMS".into(),
            base_url: "http://lms".into(),
            enabled: true,
            error_email: None,
            settings: ConnectionSettings::Moodle(MoodleSettings::default()),
        }
    }

    #[tokio::test]
    async fn a_complete_site_is_ok_and_the_probe_gets_the_stored_secret() {
        let probe = FakeProbe::default();
        let test = test_connection(
            &moodle(),
            &OneSecret(Some("tok")),
            "lb/connections",
            &probe,
            TenantZone::UTC,
        )
        .await
        .unwrap();
        assert!(test.ok);
        assert_eq!(test.site.unwrap().release, "4.3");
        assert_eq!(*probe.seen.lock().unwrap(), ["tok"]);
    }

    #[tokio::test]
    async fn the_sites_zone_is_shown_and_a_different_one_is_a_note_not_a_failure() {
        let sydney = TenantZone::parse("Australia/Sydney").unwrap();
        let probe = FakeProbe {
            zone: Some("Australia/Sydney"),
            ..FakeProbe::default()
        };
        let secret = OneSecret(Some("tok"));
        let same = test_connection(&moodle(), &secret, "lb/connections", &probe, sydney)
            .await
            .unwrap();
        assert!(same.ok);
        assert_eq!(
            same.site.unwrap().time_zone.as_deref(),
            Some("Australia/Sydney")
        );
        assert!(same.notes.is_empty(), "{:?}", same.notes);
        let utc = test_connection(
            &moodle(),
            &secret,
            "lb/connections",
            &probe,
            TenantZone::UTC,
        )
        .await
        .unwrap();
        assert!(utc.ok, "a different zone does not fail the test");
        assert_eq!(utc.tenant_time_zone, "UTC");
        assert_eq!(utc.notes.len(), 1);
        assert!(utc.notes[0].contains("Australia/Sydney") && utc.notes[0].contains("UTC"));
        let unknown = FakeProbe::default();
        let test = test_connection(&moodle(), &secret, "lb/connections", &unknown, sydney)
            .await
            .unwrap();
        assert!(test.ok, "the zone is optional");
        assert!(
            test.notes[0].contains("tool_mobile_get_config"),
            "{:?}",
            test.notes
        );
    }

    #[tokio::test]
    async fn missing_functions_make_the_test_fail_by_name() {
        let probe = FakeProbe {
            missing: vec!["core_user_create_users".into()],
            ..FakeProbe::default()
        };
        let test = test_connection(
            &moodle(),
            &OneSecret(Some("tok")),
            "lb/connections",
            &probe,
            TenantZone::UTC,
        )
        .await
        .unwrap();
        assert!(!test.ok);
        assert_eq!(
            test.site.unwrap().missing_functions,
            ["core_user_create_users"]
        );
    }

    #[tokio::test]
    async fn an_unreachable_site_is_an_outcome_with_a_reason() {
        let probe = FakeProbe {
            fail: true,
            ..FakeProbe::default()
        };
        let test = test_connection(
            &moodle(),
            &OneSecret(Some("tok")),
            "lb/connections",
            &probe,
            TenantZone::UTC,
        )
        .await
        .unwrap();
        assert!(!test.ok);
        assert!(test.problem.unwrap().contains("check the token"));
    }

    #[tokio::test]
    async fn no_secret_or_an_unsupported_kind_is_an_error() {
        let probe = FakeProbe::default();
        let err = test_connection(
            &moodle(),
            &OneSecret(None),
            "lb/connections",
            &probe,
            TenantZone::UTC,
        )
        .await
        .unwrap_err();
        assert!(matches!(
            err,
            TestError::NoSecret {
                field: "connections.secret"
            }
        ));
        let sms = Connection {
            settings: ConnectionSettings::Sms(SmsSettings::default()),
            ..moodle()
        };
        let err = test_connection(
            &sms,
            &OneSecret(Some("x")),
            "lb/connections",
            &probe,
            TenantZone::UTC,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, TestError::Unsupported { .. }));
        assert!(!err.is_retryable());
    }
}
