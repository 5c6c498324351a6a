//! The resources every function builds once at init and borrows in each invocation.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metabase::{Auth, MetabaseClient};
use crate::secrets::{CachedSecrets, SecretsManager};
use crate::store::Store;

/// The longest init waits for the connection warm-up.
const WARM_UP_LIMIT: std::time::Duration = std::time::Duration::from_millis(1500);

pub struct Deps {
    pub config: Config,
    pub store: Store,
    pub secrets: CachedSecrets<SecretsManager>,
    /// One connection pool for every Metabase call of this sandbox.
    pub http: reqwest::Client,
    /// Wall-clock time for token claims and lockouts; tests swap in a `ManualClock`.
    pub clock: Arc<dyn Clock>,
    /// Change events (discovery), used only when `config.event_bus_name` is set.
    pub events: aws_sdk_eventbridge::Client,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps").field("config", &self.config).field("store", &self.store).finish_non_exhaustive()
    }
}

impl Deps {
    /// Reads configuration, builds the AWS and HTTP clients, and warms the secret cache.
    ///
    /// # Errors
    /// Configuration is missing or invalid, or the HTTP client cannot be built.
    pub async fn init() -> Result<Arc<Self>> {
        let deps = Self::build(Config::from_env()?, &crate::aws::load().await)?;
        // Warm the cache (and, when configured, the connections) during init, concurrently; a
        // failure here is not fatal, the first request retries and /health reports it.
        let secret = async {
            if let Err(error) = deps.secrets.get().await {
                tracing::warn!(%error, "could not read the application secret at init");
            }
        };
        futures::join!(secret, deps.warm_connections());
        Ok(Arc::new(deps))
    }

    /// Opens a DynamoDB and a Metabase connection (a `GetItem` of a key that never exists and
    /// `GET /api/health`), so the first request finds both pools and the SDK's credentials and
    /// endpoint already resolved. Does nothing unless `config.warm_connections`; never fails.
    pub async fn warm_connections(&self) {
        if !self.config.warm_connections {
            return;
        }
        let dynamodb = async {
            if let Err(error) = self.store.get::<serde_json::Value>("WARMUP", "WARMUP").await {
                tracing::debug!(%error, "DynamoDB warm-up failed");
            }
        };
        let metabase = crate::metabase::probe_health(&self.http, &self.config.metabase_url);
        // Bounded: an unreachable Metabase (bootstrap runs while it starts) must not hold init.
        let warm = async { futures::join!(dynamodb, metabase) };
        match tokio::time::timeout(WARM_UP_LIMIT, warm).await {
            Ok(((), health)) => tracing::debug!(?health, "connections warmed"),
            Err(_) => tracing::debug!("connection warm-up took too long; left to the first request"),
        }
    }

    /// Builds the clients for `config` without touching the network.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn build(config: Config, sdk: &aws_config::SdkConfig) -> Result<Self> {
        let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), &config.table_name);
        let secrets = CachedSecrets::new(
            SecretsManager::new(aws_sdk_secretsmanager::Client::new(sdk), &config.secret_id),
            config.secrets_ttl,
        );
        let http = reqwest::Client::builder()
            .timeout(config.metabase_timeout)
            .connect_timeout(std::time::Duration::from_secs(3))
            .build()
            .map_err(Error::internal)?;
        let events = aws_sdk_eventbridge::Client::new(sdk);
        Ok(Self { config, store, secrets, http, clock: Arc::new(SystemClock), events })
    }

    /// A Metabase client with the given identity.
    pub fn metabase(&self, auth: Auth) -> MetabaseClient {
        MetabaseClient::new(self.http.clone(), self.config.metabase_url.clone(), auth)
    }

    /// A Metabase client authenticated with the admin API key from the secret.
    ///
    /// # Errors
    /// The secret is unreadable, or bootstrap has not stored an API key yet (503: retry later).
    pub async fn metabase_admin(&self) -> Result<MetabaseClient> {
        let secrets = self.secrets.get().await?;
        if secrets.metabase_api_key.expose().is_empty() {
            return Err(Error::unavailable("metabase", "no Metabase API key in the secret yet: bootstrap has not run"));
        }
        Ok(self.metabase(Auth::ApiKey(secrets.metabase_api_key.clone())))
    }
}
