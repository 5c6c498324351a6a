//! The HTTP client: authentication, timeouts, bounded retries with backoff and jitter, and
//! errors that keep Metabase's status and message for the log.

use std::fmt;
use std::time::Duration;

use http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

use super::types::*;
use crate::error::Error;
use crate::ids::MetabaseGroupId;
use crate::secrets::SecretString;

/// How a request authenticates (§1). API keys are the normal case; a session is used only to
/// create the first API key.
#[derive(Clone, Debug)]
pub enum Auth {
    Anonymous,
    ApiKey(SecretString),
    Session(SecretString),
}

/// Bounded retries: `attempts` tries in total, exponential backoff from `base_delay` capped at
/// `max_delay`, each delay scaled by a random factor in [0.5, 1) so parallel Lambdas spread out.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 4, base_delay: Duration::from_millis(200), max_delay: Duration::from_secs(3) }
    }
}

impl RetryPolicy {
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(2u32.saturating_pow(attempt)).min(self.max_delay);
        exponential.mul_f64(rand::random_range(0.5..1.0))
    }
}

/// A Metabase call that did not succeed: the request, and what came back (if anything). Bodies
/// are kept (truncated) for the log; they never go to clients (see `From<MetabaseError>`).
#[derive(Clone, Debug)]
pub struct MetabaseError {
    pub method: Method,
    pub path: String,
    /// `None` when no HTTP answer arrived (connection refused, timeout).
    pub status: Option<StatusCode>,
    /// Metabase's body: plain text or JSON, as sent.
    pub body: String,
}

impl MetabaseError {
    pub fn is_status(&self, status: u16) -> bool {
        self.status.is_some_and(|s| s.as_u16() == status)
    }

    /// The JSON body, when Metabase answered JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    fn retryable(&self, idempotent: bool) -> bool {
        match self.status {
            // Nothing arrived: safe to repeat only if the request is idempotent, or if it was
            // never sent (a refused connection).
            None => idempotent || self.body.starts_with("connect"),
            // "Still initializing" is answered before any handler runs, so it is always safe.
            Some(StatusCode::SERVICE_UNAVAILABLE) => true,
            Some(status) => idempotent && status.is_server_error(),
        }
    }
}

impl fmt::Display for MetabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "Metabase {} {} answered {}: {}", self.method, self.path, status, self.body),
            None => write!(f, "Metabase {} {} failed: {}", self.method, self.path, self.body),
        }
    }
}

impl std::error::Error for MetabaseError {}

impl From<MetabaseError> for Error {
    fn from(error: MetabaseError) -> Self {
        match error.status {
            None | Some(StatusCode::SERVICE_UNAVAILABLE) => Error::unavailable("metabase", error),
            Some(_) => Error::upstream("metabase", error),
        }
    }
}

const MAX_LOGGED_BODY: usize = 600;

/// A Metabase client bound to one base URL and one identity. Cheap to clone (the connection
/// pool is shared).
#[derive(Clone, Debug)]
pub struct MetabaseClient {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    retry: RetryPolicy,
}

impl MetabaseClient {
    pub fn new(http: reqwest::Client, base: Url, auth: Auth) -> Self {
        Self { http, base, auth, retry: RetryPolicy::default() }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The same client under another identity.
    pub fn as_auth(&self, auth: Auth) -> Self {
        Self { auth, ..self.clone() }
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Sends one request with retries. `idempotent` decides whether 5xx answers and timeouts
    /// may be retried (a POST that may have been applied must not be repeated blindly).
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<(StatusCode, String), MetabaseError> {
        let mut attempt = 0;
        loop {
            let result = self.send_once(method.clone(), path, query, body).await;
            match result {
                Ok(answer) => return Ok(answer),
                Err(error) if attempt + 1 < self.retry.attempts && error.retryable(idempotent) => {
                    let delay = self.retry.delay(attempt);
                    tracing::debug!(%error, attempt, ?delay, "retrying Metabase call");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    pub(crate) async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(StatusCode, String), MetabaseError> {
        let failure = |status: Option<StatusCode>, body: String| MetabaseError {
            method: method.clone(),
            path: path.to_owned(),
            status,
            body,
        };
        let url = self.base.join(path.trim_start_matches('/')).map_err(|e| failure(None, format!("bad path: {e}")))?;
        let mut request = self.http.request(method.clone(), url).query(query);
        request = match &self.auth {
            Auth::Anonymous => request,
            Auth::ApiKey(key) => request.header("x-api-key", key.expose()),
            Auth::Session(id) => request.header("x-metabase-session", id.expose()),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            let why = if e.is_connect() {
                "connect: connection refused or host unreachable"
            } else if e.is_timeout() {
                "timed out"
            } else {
                "request failed"
            };
            failure(None, why.to_owned())
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|_| failure(Some(status), "unreadable body".to_owned()))?;
        if status.is_success() {
            Ok((status, text))
        } else {
            Err(failure(Some(status), text.chars().take(MAX_LOGGED_BODY).collect()))
        }
    }

    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<T, MetabaseError> {
        let (status, text) = self.send(method.clone(), path, query, body, idempotent).await?;
        let text = if text.is_empty() { "null" } else { text.as_str() };
        serde_json::from_str(text).map_err(|e| MetabaseError {
            method,
            path: path.to_owned(),
            status: Some(status),
            body: format!("unexpected response shape: {e}"),
        })
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, MetabaseError> {
        self.call(Method::GET, path, &[], None, true).await
    }

    pub(crate) async fn put(&self, path: &str, body: &Value) -> Result<Value, MetabaseError> {
        self.call(Method::PUT, path, &[], Some(body), true).await
    }

    pub(crate) async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, MetabaseError> {
        self.call(Method::POST, path, &[], Some(body), false).await
    }

    pub(crate) fn to_value<T: Serialize>(value: &T) -> Value {
        serde_json::to_value(value).unwrap_or(Value::Null)
    }

    // --- §3–§6: setup, sessions, API keys -------------------------------------------------------

    pub async fn session_properties(&self) -> Result<SessionProperties, MetabaseError> {
        self.get("api/session/properties").await
    }

    /// `POST /api/setup`. Safe to repeat: a second call is answered 403 (or 400 on the token once
    /// newer versions cleared it), both of which mean "already set up".
    pub async fn setup(&self, request: &SetupRequest) -> Result<SetupOutcome, MetabaseError> {
        match self.call::<Value>(Method::POST, "api/setup", &[], Some(&Self::to_value(request)), true).await {
            Ok(_) => Ok(SetupOutcome::Created),
            Err(e) if e.is_status(403) => Ok(SetupOutcome::AlreadySetUp),
            Err(e) if e.is_status(400) && e.json().is_some_and(|b| b["errors"]["token"].is_string()) => {
                Ok(SetupOutcome::AlreadySetUp)
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /api/session`: a session id for `email`. Never retried (each failure counts
    /// towards Metabase's login throttle, §5).
    pub async fn login(&self, email: &str, password: &SecretString) -> Result<SecretString, MetabaseError> {
        #[derive(serde::Deserialize)]
        struct Session {
            id: SecretString,
        }
        let body = json!({"username": email, "password": password.expose()});
        let (status, text) = self.send_once(Method::POST, "api/session", &[], Some(&body)).await?;
        serde_json::from_str::<Session>(&text).map(|s| s.id).map_err(|_| MetabaseError {
            method: Method::POST,
            path: "api/session".to_owned(),
            status: Some(status),
            body: "unexpected response shape".to_owned(),
        })
    }

    /// `DELETE /api/session` for this client's session.
    pub async fn logout(&self) -> Result<(), MetabaseError> {
        self.call::<Value>(Method::DELETE, "api/session", &[], None, true).await.map(|_| ())
    }

    pub async fn current_user(&self) -> Result<CurrentUser, MetabaseError> {
        self.get("api/user/current").await
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeySummary>, MetabaseError> {
        self.get("api/api-key").await
    }

    pub async fn create_api_key(&self, group: MetabaseGroupId, name: &str) -> Result<CreatedApiKey, MetabaseError> {
        self.post("api/api-key", &json!({"group_id": group, "name": name})).await
    }

    pub async fn regenerate_api_key(&self, id: u64) -> Result<CreatedApiKey, MetabaseError> {
        self.call(Method::PUT, &format!("api/api-key/{id}/regenerate"), &[], None, false).await
    }

    // --- §7 settings, §8 databases ----------------------------------------------------------------

    /// `PUT /api/setting/:key` (204).
    pub async fn set_setting(&self, key: &str, value: Value) -> Result<(), MetabaseError> {
        self.put(&format!("api/setting/{key}"), &json!({ "value": value })).await.map(|_| ())
    }

    /// `GET /api/database`, accepting both the modern `{data, total}` and the old array shape.
    pub async fn databases(&self) -> Result<Vec<DatabaseSummary>, MetabaseError> {
        let value: Value = self.get("api/database").await?;
        let list = value.get("data").cloned().unwrap_or(value);
        serde_json::from_value(list).map_err(|e| MetabaseError {
            method: Method::GET,
            path: "api/database".to_owned(),
            status: Some(StatusCode::OK),
            body: format!("unexpected response shape: {e}"),
        })
    }

    pub async fn create_database(&self, database: &NewDatabase) -> Result<DatabaseSummary, MetabaseError> {
        let body = json!({"name": database.name, "engine": database.engine, "details": database.details.expose()});
        self.post("api/database", &body).await
    }

    // --- §10 groups, §11–§12 graphs ---------------------------------------------------------------

    pub async fn groups(&self) -> Result<Vec<PermissionGroup>, MetabaseError> {
        self.get("api/permissions/group").await
    }

    pub async fn collection_graph(&self) -> Result<CollectionGraph, MetabaseError> {
        self.get("api/collection/graph").await
    }

    /// Applies a sparse patch; `409` (stale revision) is returned as an error for the caller to
    /// re-read and retry. `skip-graph` keeps the answer small.
    pub async fn put_collection_graph(
        &self,
        patch: &GraphPatch<std::collections::BTreeMap<String, String>>,
    ) -> Result<(), MetabaseError> {
        let query = [("skip-graph", "true".to_owned())];
        self.call::<Value>(Method::PUT, "api/collection/graph", &query, Some(&Self::to_value(patch)), true)
            .await
            .map(|_| ())
    }

    pub async fn data_graph(&self) -> Result<DataPermissionGraph, MetabaseError> {
        self.get("api/permissions/graph").await
    }

    pub async fn put_data_graph(
        &self,
        patch: &GraphPatch<std::collections::BTreeMap<String, std::collections::BTreeMap<String, Value>>>,
    ) -> Result<(), MetabaseError> {
        let query = [("skip-graph", "true".to_owned())];
        self.call::<Value>(Method::PUT, "api/permissions/graph", &query, Some(&Self::to_value(patch)), true)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy =
            RetryPolicy { attempts: 5, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
        for _ in 0..50 {
            let first = policy.delay(0);
            assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(100), "{first:?}");
            let late = policy.delay(10);
            assert!(late >= Duration::from_millis(500) && late < Duration::from_secs(1), "{late:?}");
        }
    }

    #[test]
    fn only_safe_failures_are_retried() {
        let error = |status: Option<u16>, body: &str| MetabaseError {
            method: Method::POST,
            path: "api/x".into(),
            status: status.map(|s| StatusCode::from_u16(s).unwrap()),
            body: body.into(),
        };
        assert!(error(Some(503), "Metabase is still initializing").retryable(false));
        assert!(error(Some(500), "boom").retryable(true));
        assert!(!error(Some(500), "boom").retryable(false), "a POST that may have applied is not repeated");
        assert!(!error(Some(400), "bad").retryable(true));
        assert!(error(None, "connect: refused").retryable(false), "never sent");
        assert!(!error(None, "timed out").retryable(false));
        assert!(error(None, "timed out").retryable(true));
    }

    #[test]
    fn upstream_errors_map_to_502_and_503_without_detail() {
        let unavailable: Error =
            MetabaseError { method: Method::GET, path: "api/health".into(), status: None, body: "connect".into() }
                .into();
        assert_eq!(unavailable.status().as_u16(), 503);
        let upstream: Error = MetabaseError {
            method: Method::GET,
            path: "api/x".into(),
            status: Some(StatusCode::INTERNAL_SERVER_ERROR),
            body: "secret detail".into(),
        }
        .into();
        assert_eq!(upstream.status().as_u16(), 502);
        assert!(!upstream.public_message().contains("secret detail"));
    }
}
