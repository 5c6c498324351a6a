//! Typed configuration from the environment, read once at init, with precise errors.
//!
//! Secrets never live here: they come from Secrets Manager (see `secrets`). Everything in
//! `Config` may appear in logs.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

/// Where variables come from: the process environment in functions, a map in tests (so tests
/// never mutate the global environment).
pub trait EnvSource {
    fn var(&self, key: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl EnvSource for HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

impl EnvSource for HashMap<&str, &str> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| (*v).to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {var} is not set ({hint})")]
    Missing { var: &'static str, hint: &'static str },
    #[error("environment variable {var} is invalid: {reason} (got {value:?})")]
    Invalid { var: &'static str, value: String, reason: String },
}

/// The hard ceiling on embed token lifetime: revocation waits out one cap, so it stays short.
pub const MAX_EMBED_TTL_CAP_MINUTES: u32 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The single DynamoDB table (design §5).
    pub table_name: String,
    /// Name or ARN of the Secrets Manager secret (design §8).
    pub secret_id: String,
    /// How long secrets are cached before being re-read, so a rotation propagates.
    pub secrets_ttl: Duration,
    /// Metabase as the functions reach it (may be an internal hostname).
    pub metabase_url: Url,
    /// Metabase as browsers reach it; every embed URL is built from this, never `metabase_url`.
    pub metabase_site_url: Url,
    /// Per-request timeout for Metabase calls.
    pub metabase_timeout: Duration,
    /// The dashboard/question parameter slug that carries the tenant (design §2).
    pub tenant_slug: String,
    /// Default embed token lifetime.
    pub embed_ttl_minutes: u32,
    /// Largest lifetime a caller may ask for (≤ 60).
    pub embed_ttl_cap_minutes: u32,
    /// Lifetime of the access tokens `/auth/login` issues.
    pub access_token_ttl_minutes: u32,
    /// `iss` and `aud` of access tokens.
    pub token_issuer: String,
    pub token_audience: String,
    /// EventBridge bus for change events; `None` disables them.
    pub event_bus_name: Option<String>,
    /// The analytics database bootstrap ensures is connected in Metabase (matched by name).
    pub analytics_db_name: String,
    pub analytics_db_engine: String,
    /// Metabase `site-name` set at first-time setup.
    pub metabase_site_name: String,
    /// How long bootstrap waits for Metabase to become ready.
    pub bootstrap_wait: Duration,
    /// Browser origins the functions answer CORS for (`CORS_ALLOWED_ORIGINS`, comma-separated);
    /// empty, the default, allows none. Deployed, API Gateway's CORS configuration does this job.
    pub cors_allowed_origins: Vec<String>,
    /// Open the DynamoDB and Metabase connections during init (`WARM_CONNECTIONS`). Off by
    /// default: measured, it lengthened init by more than it shortened the first request
    /// (BENCHMARKS.md, cold start).
    pub warm_connections: bool,
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// The first missing or invalid variable, named.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    /// # Errors
    /// The first missing or invalid variable, named.
    pub fn from_source(env: &impl EnvSource) -> Result<Self, ConfigError> {
        let metabase_url = url_var(
            env,
            "METABASE_URL",
            required(env, "METABASE_URL", "the Metabase base URL the functions call, e.g. http://127.0.0.1:3000")?,
        )?;
        let metabase_site_url = match non_empty(env, "METABASE_SITE_URL") {
            Some(raw) => url_var(env, "METABASE_SITE_URL", raw)?,
            None => metabase_url.clone(),
        };
        let embed_ttl_cap_minutes = ranged(env, "EMBED_TTL_CAP_MINUTES", 60, 1, MAX_EMBED_TTL_CAP_MINUTES)?;
        let embed_ttl_minutes =
            ranged(env, "EMBED_TTL_MINUTES", 10.min(embed_ttl_cap_minutes), 1, embed_ttl_cap_minutes)?;
        let tenant_slug = non_empty(env, "TENANT_SLUG").unwrap_or_else(|| "tenant_id".to_owned());
        if !tenant_slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(ConfigError::Invalid {
                var: "TENANT_SLUG",
                value: tenant_slug,
                reason: "a parameter slug uses only a-z, 0-9 and _".to_owned(),
            });
        }
        Ok(Self {
            table_name: required(env, "TABLE_NAME", "the DynamoDB table name")?,
            secret_id: required(env, "SECRET_ID", "the Secrets Manager secret name or ARN")?,
            secrets_ttl: Duration::from_secs(ranged::<u64>(env, "SECRETS_TTL_SECONDS", 300, 0, 86_400)?),
            metabase_url,
            metabase_site_url,
            metabase_timeout: Duration::from_secs(ranged::<u64>(env, "METABASE_TIMEOUT_SECONDS", 10, 1, 300)?),
            tenant_slug,
            embed_ttl_minutes,
            embed_ttl_cap_minutes,
            access_token_ttl_minutes: ranged(env, "ACCESS_TOKEN_TTL_MINUTES", 60, 1, 24 * 60)?,
            token_issuer: non_empty(env, "TOKEN_ISSUER").unwrap_or_else(|| "tenantbase".to_owned()),
            token_audience: non_empty(env, "TOKEN_AUDIENCE").unwrap_or_else(|| "tenantbase-api".to_owned()),
            event_bus_name: non_empty(env, "EVENT_BUS_NAME"),
            analytics_db_name: non_empty(env, "ANALYTICS_DB_NAME").unwrap_or_else(|| "analytics".to_owned()),
            analytics_db_engine: non_empty(env, "ANALYTICS_DB_ENGINE").unwrap_or_else(|| "postgres".to_owned()),
            metabase_site_name: non_empty(env, "METABASE_SITE_NAME").unwrap_or_else(|| "Tenantbase".to_owned()),
            bootstrap_wait: Duration::from_secs(ranged::<u64>(env, "BOOTSTRAP_WAIT_SECONDS", 300, 0, 840)?),
            cors_allowed_origins: origins(env, "CORS_ALLOWED_ORIGINS")?,
            warm_connections: flag(env, "WARM_CONNECTIONS", false)?,
        })
    }
}

fn non_empty(env: &impl EnvSource, var: &str) -> Option<String> {
    env.var(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn required(env: &impl EnvSource, var: &'static str, hint: &'static str) -> Result<String, ConfigError> {
    non_empty(env, var).ok_or(ConfigError::Missing { var, hint })
}

fn url_var(_env: &impl EnvSource, var: &'static str, raw: String) -> Result<Url, ConfigError> {
    let url = Url::parse(&raw).map_err(|e| ConfigError::Invalid { var, value: raw.clone(), reason: e.to_string() })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::Invalid { var, value: raw, reason: "expected an http(s) URL with a host".to_owned() });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::Invalid { var, value: raw, reason: "a base URL has no query or fragment".to_owned() });
    }
    Ok(url)
}

/// A comma-separated list of exact origins (`scheme://host[:port]`); no wildcard, since every
/// allowed origin can call the API with its users' tokens.
fn origins(env: &impl EnvSource, var: &'static str) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = non_empty(env, var) else { return Ok(Vec::new()) };
    let mut origins = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let invalid = |reason: &str| ConfigError::Invalid { var, value: entry.to_owned(), reason: reason.to_owned() };
        let url = Url::parse(entry).map_err(|_| invalid("expected an origin such as https://app.example.com"))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host().is_none()
            || url.origin().ascii_serialization() != entry
        {
            return Err(invalid("expected an exact origin: http(s)://host[:port], no path, no trailing slash, no *"));
        }
        origins.push(entry.to_owned());
    }
    Ok(origins)
}

fn flag(env: &impl EnvSource, var: &'static str, default: bool) -> Result<bool, ConfigError> {
    match non_empty(env, var).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
        Some(v) => Err(ConfigError::Invalid { var, value: v, reason: "expected true or false".to_owned() }),
    }
}

fn ranged<T>(env: &impl EnvSource, var: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Copy + std::fmt::Display,
{
    let Some(raw) = non_empty(env, var) else {
        return Ok(default);
    };
    match raw.parse::<T>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(ConfigError::Invalid { var, value: raw, reason: format!("expected an integer from {min} to {max}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("TABLE_NAME", "tenantbase"),
            ("SECRET_ID", "tenantbase/app"),
            ("METABASE_URL", "http://127.0.0.1:3000"),
        ])
    }

    #[test]
    fn defaults_apply_when_only_required_vars_are_set() {
        let config = Config::from_source(&base()).unwrap();
        assert_eq!(config.tenant_slug, "tenant_id");
        assert_eq!(config.embed_ttl_minutes, 10);
        assert_eq!(config.embed_ttl_cap_minutes, 60);
        assert_eq!(config.access_token_ttl_minutes, 60);
        assert_eq!(config.metabase_site_url, config.metabase_url);
        assert_eq!(config.secrets_ttl, Duration::from_secs(300));
        assert_eq!(config.event_bus_name, None);
        assert!(config.cors_allowed_origins.is_empty(), "no origin is allowed unless configured");
        assert!(!config.warm_connections);
    }

    #[test]
    fn warm_connections_is_a_flag() {
        for (value, expected) in [("false", false), ("0", false), ("OFF", false), ("true", true), ("1", true)] {
            let mut env = base();
            env.insert("WARM_CONNECTIONS", value);
            assert_eq!(Config::from_source(&env).unwrap().warm_connections, expected, "{value}");
        }
        let mut env = base();
        env.insert("WARM_CONNECTIONS", "sometimes");
        assert!(matches!(Config::from_source(&env), Err(ConfigError::Invalid { var: "WARM_CONNECTIONS", .. })));
    }

    #[test]
    fn cors_origins_are_a_comma_separated_list_of_exact_origins() {
        let mut env = base();
        env.insert("CORS_ALLOWED_ORIGINS", " http://127.0.0.1:8080, https://app.example.com ,");
        let config = Config::from_source(&env).unwrap();
        assert_eq!(config.cors_allowed_origins, ["http://127.0.0.1:8080", "https://app.example.com"]);
    }

    #[test]
    fn each_missing_required_var_is_named() {
        for var in ["TABLE_NAME", "SECRET_ID", "METABASE_URL"] {
            let mut env = base();
            env.remove(var);
            let err = Config::from_source(&env).unwrap_err();
            assert!(matches!(err, ConfigError::Missing { var: v, .. } if v == var), "{err}");
            assert!(err.to_string().contains(var));
        }
        let mut blank = base();
        blank.insert("TABLE_NAME", "   ");
        assert!(matches!(Config::from_source(&blank), Err(ConfigError::Missing { var: "TABLE_NAME", .. })));
    }

    #[test]
    fn invalid_values_are_rejected_with_the_variable_and_value() {
        let cases = [
            ("METABASE_URL", "not a url"),
            ("METABASE_URL", "ftp://example.com"),
            ("METABASE_SITE_URL", "https://analytics.example.com/?x=1"),
            ("EMBED_TTL_CAP_MINUTES", "61"),
            ("EMBED_TTL_CAP_MINUTES", "0"),
            ("EMBED_TTL_MINUTES", "ten"),
            ("ACCESS_TOKEN_TTL_MINUTES", "-5"),
            ("TENANT_SLUG", "Tenant-Id"),
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com/"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com/path"),
            ("CORS_ALLOWED_ORIGINS", "app.example.com"),
        ];
        for (var, value) in cases {
            let mut env = base();
            env.insert(var, value);
            let err = Config::from_source(&env).unwrap_err();
            match &err {
                ConfigError::Invalid { var: v, value: got, .. } => {
                    assert_eq!(*v, var);
                    assert_eq!(got, value);
                }
                other => panic!("{var}={value}: expected Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn default_ttl_may_not_exceed_the_cap() {
        let mut env = base();
        env.insert("EMBED_TTL_CAP_MINUTES", "5");
        let config = Config::from_source(&env).unwrap();
        assert_eq!((config.embed_ttl_minutes, config.embed_ttl_cap_minutes), (5, 5));
        env.insert("EMBED_TTL_MINUTES", "6");
        assert!(matches!(Config::from_source(&env), Err(ConfigError::Invalid { var: "EMBED_TTL_MINUTES", .. })));
    }

    #[test]
    fn public_site_url_is_separate_from_the_internal_url() {
        let mut env = base();
        env.insert("METABASE_URL", "http://metabase.internal:3000");
        env.insert("METABASE_SITE_URL", "https://analytics.example.com");
        let config = Config::from_source(&env).unwrap();
        assert_eq!(config.metabase_site_url.as_str(), "https://analytics.example.com/");
        assert_eq!(config.metabase_url.host_str(), Some("metabase.internal"));
    }
}
