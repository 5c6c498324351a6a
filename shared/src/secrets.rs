//! Secrets: one JSON secret in Secrets Manager (design §8), held in a redacting type and cached
//! with a TTL so a rotation propagates without a redeploy.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};

/// A value that must never be printed. `Debug` and `Display` show `[redacted]`; the value is
/// reachable only through [`Secret::expose`], which makes every use greppable.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

pub type SecretString = Secret<String>;

/// The contents of the application secret (a JSON object in Secrets Manager).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSecrets {
    /// Metabase administrator used for first-time setup and to create the API key.
    pub metabase_admin_email: String,
    pub metabase_admin_password: SecretString,
    /// Admin API key (`mb_…`); empty until bootstrap has created it.
    #[serde(default)]
    pub metabase_api_key: SecretString,
    /// Metabase's `embedding-secret-key`: 64 lowercase hex characters.
    pub embedding_secret_key: SecretString,
    /// HS256 key for Tenantbase's own access tokens.
    pub access_token_signing_key: SecretString,
    /// Server-to-server key of the SaaS backend (`X-Api-Key`); may choose tenant keys.
    pub operator_api_key: SecretString,
    /// Connection `details` for the analytics database (host, port, dbname, user, password…),
    /// used by bootstrap only when that database is not yet connected in Metabase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics_db_details: Option<Secret<serde_json::Map<String, serde_json::Value>>>,
}

/// Where secrets are read from and written to.
pub trait SecretsSource: Send + Sync {
    fn read(&self) -> impl Future<Output = Result<AppSecrets>> + Send;
    fn write(&self, secrets: &AppSecrets) -> impl Future<Output = Result<()>> + Send;
}

/// The real Secrets Manager secret.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManager {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self { client, secret_id: secret_id.into() }
    }

    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }
}

impl SecretsSource for SecretsManager {
    async fn read(&self) -> Result<AppSecrets> {
        let output = self.client.get_secret_value().secret_id(&self.secret_id).send().await.map_err(|e| {
            Error::unavailable("secrets manager", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
        })?;
        let raw = output
            .secret_string()
            .ok_or_else(|| Error::internal(format!("secret {} has no string value", self.secret_id)))?;
        parse_secret(&self.secret_id, raw)
    }

    async fn write(&self, secrets: &AppSecrets) -> Result<()> {
        let body = serde_json::to_string(secrets).map_err(Error::internal)?;
        self.client.put_secret_value().secret_id(&self.secret_id).secret_string(body).send().await.map_err(|e| {
            Error::unavailable("secrets manager", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
        })?;
        Ok(())
    }
}

/// Parses the secret JSON without ever echoing its content: serde's messages can quote the
/// offending value, so only the position and error category are kept.
fn parse_secret(secret_id: &str, raw: &str) -> Result<AppSecrets> {
    serde_json::from_str(raw).map_err(|e| {
        let missing =
            e.to_string().strip_prefix("missing field ").map(|rest| rest.split(' ').next().unwrap_or("").to_owned());
        match missing {
            Some(field) => Error::internal(format!("secret {secret_id} lacks the field {field}")),
            None => Error::internal(format!(
                "secret {secret_id} is not the expected JSON object ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )),
        }
    })
}

struct Cached {
    value: Arc<AppSecrets>,
    read_at: std::time::Instant,
}

/// Secrets cached for `ttl`, re-read after expiry. One refresh at a time; if a refresh fails
/// while a previous value exists, the previous value keeps serving (logged) so a Secrets
/// Manager hiccup does not take the API down.
pub struct CachedSecrets<S, C = SystemClock> {
    source: S,
    ttl: Duration,
    clock: C,
    cached: Mutex<Option<Cached>>,
}

impl<S, C> fmt::Debug for CachedSecrets<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedSecrets").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl<S: SecretsSource> CachedSecrets<S, SystemClock> {
    pub fn new(source: S, ttl: Duration) -> Self {
        Self::with_clock(source, ttl, SystemClock)
    }
}

impl<S: SecretsSource, C: Clock> CachedSecrets<S, C> {
    pub fn with_clock(source: S, ttl: Duration, clock: C) -> Self {
        Self { source, ttl, clock, cached: Mutex::new(None) }
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    /// The current secrets, from cache while fresh.
    ///
    /// # Errors
    /// Secrets Manager is unreachable and nothing is cached, or the secret is malformed.
    pub async fn get(&self) -> Result<Arc<AppSecrets>> {
        let mut cached = self.cached.lock().await;
        let now = self.clock.now();
        if let Some(entry) = cached.as_ref()
            && now.saturating_duration_since(entry.read_at) < self.ttl
        {
            return Ok(entry.value.clone());
        }
        match self.source.read().await {
            Ok(fresh) => {
                let value = Arc::new(fresh);
                *cached = Some(Cached { value: value.clone(), read_at: now });
                Ok(value)
            }
            Err(error) => match cached.as_ref() {
                Some(stale) => {
                    tracing::warn!(%error, "secret refresh failed; serving the previous value");
                    Ok(stale.value.clone())
                }
                None => Err(error),
            },
        }
    }

    /// Writes new secrets and caches them (used when bootstrap stores the API key).
    ///
    /// # Errors
    /// Secrets Manager refused the write.
    pub async fn put(&self, secrets: AppSecrets) -> Result<Arc<AppSecrets>> {
        let mut cached = self.cached.lock().await;
        self.source.write(&secrets).await?;
        let value = Arc::new(secrets);
        *cached = Some(Cached { value: value.clone(), read_at: self.clock.now() });
        Ok(value)
    }

    /// Forces the next `get` to re-read.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(crate) fn sample(api_key: &str) -> AppSecrets {
        AppSecrets {
            metabase_admin_email: "admin@example.com".into(),
            metabase_admin_password: Secret::new("correct horse battery 9".into()),
            metabase_api_key: Secret::new(api_key.into()),
            embedding_secret_key: Secret::new("ab".repeat(32)),
            access_token_signing_key: Secret::new("signing-key-value-0123456789".into()),
            operator_api_key: Secret::new("operator-key-value-0123456789".into()),
            analytics_db_details: None,
        }
    }

    #[test]
    fn debug_and_display_never_show_secret_values() {
        let secrets = sample("mb_supersecretapikeyvalue");
        let debug = format!("{secrets:?} {:?} {}", secrets.metabase_api_key, secrets.operator_api_key);
        for value in [
            "mb_supersecretapikeyvalue",
            "correct horse battery 9",
            &"ab".repeat(32),
            "signing-key-value-0123456789",
            "operator-key-value-0123456789",
        ] {
            assert!(!debug.contains(value), "{value} leaked in {debug}");
        }
        assert!(debug.contains("[redacted]"));
        assert!(debug.contains("admin@example.com"), "non-secret fields stay visible");
    }

    #[test]
    fn malformed_secret_errors_do_not_echo_the_content() {
        let raw = r#"{"metabase_admin_email": 42, "metabase_admin_password": "hunter2-password"}"#;
        let message = parse_secret("app", raw).unwrap_err().to_string();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!message.contains("42"), "{message}");
        let missing = parse_secret("app", r#"{"metabase_admin_email": "a@b.c"}"#).unwrap_err().to_string();
        assert!(missing.contains("lacks the field"), "{missing}");
    }

    /// A counting in-memory source for the cache logic; the real source is tested against moto
    /// in `tests/secrets_moto.rs`.
    struct Counting {
        reads: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
    }

    impl SecretsSource for Counting {
        async fn read(&self) -> Result<AppSecrets> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(Error::unavailable("secrets manager", "down"));
            }
            let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(sample(&format!("mb_key_{n}")))
        }
        async fn write(&self, _: &AppSecrets) -> Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn cache_serves_until_ttl_then_rereads_and_survives_a_failed_refresh() {
        let clock = ManualClock::new();
        let source = Counting { reads: AtomicUsize::new(0), fail: false.into() };
        let cache = CachedSecrets::with_clock(source, Duration::from_secs(60), clock.clone());
        assert_eq!(cache.get().await.unwrap().metabase_api_key.expose(), "mb_key_1");
        clock.advance(Duration::from_secs(59));
        assert_eq!(cache.get().await.unwrap().metabase_api_key.expose(), "mb_key_1");
        clock.advance(Duration::from_secs(1));
        assert_eq!(cache.get().await.unwrap().metabase_api_key.expose(), "mb_key_2");
        cache.source().fail.store(true, Ordering::SeqCst);
        clock.advance(Duration::from_secs(61));
        assert_eq!(cache.get().await.unwrap().metabase_api_key.expose(), "mb_key_2");
        cache.invalidate().await;
        assert!(cache.get().await.is_err(), "nothing cached and the source is down");
    }
}
