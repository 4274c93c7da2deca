//! The [`LlnApis`] factory: one client per connection, kept while its URL and
//! settings stay the same (so its token is reused), rebuilt when they change or
//! after the tool refused its credentials.

use super::*;

/// What a cached client was built from: a change rebuilds it.
#[derive(PartialEq)]
struct Built {
    base_url: String,
    settings: LlnSettings,
}

type ClientCache = HashMap<(TenantId, ConnectionId), (Built, Arc<OcsatClient>)>;

/// Builds (and keeps, per connection, so tokens are reused) the OCSAT / LLN Robot
/// client of a connection: the client secret from `secret_name(prefix)`, the API
/// key from `field_secret_name(prefix, "api_key")`.
pub struct OcsatApis {
    secrets: Arc<dyn SecretSource>,
    secret_prefix: String,
    log: Arc<dyn LlnCallLog>,
    cache: Mutex<ClientCache>,
    egress: crate::egress::Egress,
}

impl OcsatApis {
    pub fn new(
        secrets: Arc<dyn SecretSource>,
        secret_prefix: impl Into<String>,
        log: Arc<dyn LlnCallLog>,
    ) -> Self {
        Self {
            secrets,
            secret_prefix: secret_prefix.into(),
            log,
            cache: Mutex::new(HashMap::new()),
            egress: crate::egress::Egress::PublicOnly,
        }
    }

    /// The same factory with `egress` as the rule for where its clients connect.
    pub fn with_egress(self, egress: crate::egress::Egress) -> Self {
        Self { egress, ..self }
    }

    /// The client of a connection (built if needed, or rebuilt when its URL or
    /// settings changed or the tool refused its credentials), with its concrete type.
    pub async fn client(&self, connection: &Connection) -> Result<Arc<OcsatClient>, LlnError> {
        let (ConnectionSettings::Ocsat(settings) | ConnectionSettings::LlnRobot(settings)) =
            &connection.settings
        else {
            return Err(LlnError::NotAnLlnConnection {
                connection: connection.id.to_string(),
            });
        };
        let key = (connection.tenant.clone(), connection.id.clone());
        let built = Built {
            base_url: connection.base_url.clone(),
            settings: settings.clone(),
        };
        if let Ok(cache) = self.cache.lock()
            && let Some((was, client)) = cache.get(&key)
            && *was == built
            && !client.was_refused()
        {
            return Ok(Arc::clone(client));
        }
        let kind = connection.kind();
        let auth_url = settings
            .auth_url_for(kind)
            .or_else(|| LlnProduct::from_kind(kind).map(|p| p.default_auth_url().to_owned()))
            .ok_or_else(|| LlnError::NotAnLlnConnection {
                connection: connection.id.to_string(),
            })?;
        let client_secret = self
            .secrets
            .secret(&connection.secret_name(&self.secret_prefix))
            .await
            .map_err(LlnError::Secret)?;
        let api_key = self
            .secrets
            .secret(&connection.field_secret_name(&self.secret_prefix, "api_key"))
            .await
            .map_err(LlnError::Secret)?;
        let mut client = OcsatClient::new(
            &connection.base_url,
            &auth_url,
            &settings.client_id,
            client_secret,
            api_key,
            self.egress,
        )?;
        if settings.api_logging {
            client = client.with_call_log(
                connection.tenant.clone(),
                connection.id.clone(),
                Arc::clone(&self.log),
            );
        }
        let client = Arc::new(client);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (built, Arc::clone(&client)));
        }
        Ok(client)
    }
}

#[async_trait]
impl LlnApis for OcsatApis {
    async fn for_connection(&self, connection: &Connection) -> Result<Arc<dyn LlnApi>, LlnError> {
        let client: Arc<dyn LlnApi> = self.client(connection).await?;
        Ok(client)
    }
}
