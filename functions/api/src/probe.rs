//! The connection test's adapter: asks a Moodle site about itself with the
//! connection's token (or its username and password, exchanged for one),
//! through the Moodle connector; and [`Probes`], which tests OCSAT and LLN
//! Robot connections through the LLN connector.

use app::connections::{SiteProbe, SiteReport};
use async_trait::async_trait;
use connectors::egress::Egress;
use connectors::moodle::types::SiteTimeZone;
use connectors::moodle::{Feature, MoodleAuth, MoodleClient, MoodleConfig, RetryPolicy};
use domain::connection::{ConnectionSettings, LlnProduct};
use domain::ports::{BoxError, LlnApis};
use domain::{Connection, ConnectionKind};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

/// Tests Moodle connections. One call, no retries, and a timeout well below
/// the api's 29 s, so a person gets an answer while they wait.
#[derive(Debug, Clone)]
pub struct MoodleProbe {
    pub timeout: Duration,
    /// Where it may connect (public https only unless the deployment allows
    /// internal URLs).
    pub egress: Egress,
}

impl MoodleProbe {
    pub fn new(egress: Egress) -> Self {
        Self {
            timeout: Duration::from_secs(15),
            egress,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("connection {0} is not a Moodle connection")]
struct NotMoodle(String);

#[async_trait]
impl SiteProbe for MoodleProbe {
    fn supports(&self, kind: ConnectionKind) -> bool {
        kind == ConnectionKind::Moodle
    }

    async fn probe(
        &self,
        connection: &Connection,
        secret: SecretString,
    ) -> Result<SiteReport, BoxError> {
        let ConnectionSettings::Moodle(settings) = &connection.settings else {
            return Err(Box::new(NotMoodle(connection.id.to_string())));
        };
        let config = MoodleConfig {
            timeout: self.timeout,
            retry: RetryPolicy::none(),
            egress: self.egress,
            ..MoodleConfig::from_settings(connection.base_url.clone(), settings)
        };
        let client = MoodleClient::new(config, MoodleAuth::for_login(&settings.login, secret))?;
        let required = connectors::moodle::required_functions(&Feature::enabled_by(settings));
        let report = client.test_connection(&required).await?;
        let (time_zone, time_zone_unknown) = match report.time_zone {
            SiteTimeZone::Zone { name, .. } => (Some(name), None),
            SiteTimeZone::ServerDefault => (
                None,
                Some("the site's time zone is the web server's (timezone 99), which Moodle does not tell".to_owned()),
            ),
            SiteTimeZone::NotAllowed => (
                None,
                Some("tool_mobile_get_config is not in the token's service (optional: add it to read the site's zone)".to_owned()),
            ),
            SiteTimeZone::Unreadable { reason } => (
                None,
                Some(format!("tool_mobile_get_config failed: {reason}")),
            ),
        };
        Ok(SiteReport {
            site_name: report.site_name,
            site_url: report.site_url,
            release: report.release,
            version: report.version,
            account: report.username,
            missing_functions: report.missing_functions,
            missing_optional_functions: report.missing_optional_functions,
            time_zone,
            time_zone_unknown,
        })
    }
}

/// The connection test for every kind: Moodle through its probe, OCSAT and
/// LLN Robot through the LLN connector (a token and one cheap call).
pub struct Probes {
    pub moodle: Arc<dyn SiteProbe>,
    pub lln: Arc<dyn LlnApis>,
}

#[async_trait]
impl SiteProbe for Probes {
    fn supports(&self, kind: ConnectionKind) -> bool {
        LlnProduct::from_kind(kind).is_some() || self.moodle.supports(kind)
    }

    async fn probe(
        &self,
        connection: &Connection,
        secret: SecretString,
    ) -> Result<SiteReport, BoxError> {
        let Some(product) = LlnProduct::from_kind(connection.kind()) else {
            return self.moodle.probe(connection, secret).await;
        };
        let client_id = match &connection.settings {
            ConnectionSettings::Ocsat(s) | ConnectionSettings::LlnRobot(s) => s.client_id.clone(),
            _ => String::new(),
        };
        let api = self.lln.for_connection(connection).await?;
        api.test_connection().await?;
        Ok(SiteReport {
            site_name: product.name().to_owned(),
            site_url: connection.base_url.clone(),
            release: String::new(),
            version: String::new(),
            account: client_id,
            missing_functions: Vec::new(),
            missing_optional_functions: Vec::new(),
            time_zone: None,
            time_zone_unknown: None,
        })
    }
}
