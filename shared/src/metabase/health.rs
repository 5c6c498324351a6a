//! Talking to Metabase over HTTP (contract: `metabase-api.md`).

use serde::Deserialize;
use url::Url;

/// What `GET /api/health` says (§2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetabaseHealth {
    Ready,
    /// 503 `{"status":"initializing"}`: up, still starting.
    Initializing,
    /// Answered, but not healthy (e.g. 503 app-db unreachable); the HTTP status and status text.
    Unhealthy(String),
    /// No HTTP answer at all: connection refused, DNS failure or timeout.
    Unreachable(String),
}

#[derive(Deserialize)]
struct HealthBody {
    status: String,
}

/// Probes `GET {base}/api/health`. The reason strings never contain the URL, so they are safe
/// to return to clients.
pub async fn probe_health(http: &reqwest::Client, base: &Url) -> MetabaseHealth {
    let url = match base.join("api/health") {
        Ok(url) => url,
        Err(e) => return MetabaseHealth::Unreachable(format!("invalid Metabase URL: {e}")),
    };
    let response = match http.get(url).send().await {
        Ok(response) => response,
        Err(e) if e.is_timeout() => return MetabaseHealth::Unreachable("timed out".to_owned()),
        Err(e) if e.is_connect() => {
            return MetabaseHealth::Unreachable("connection refused or host unreachable".to_owned());
        }
        Err(_) => return MetabaseHealth::Unreachable("request failed".to_owned()),
    };
    let status = response.status();
    let body = response.json::<HealthBody>().await.map(|b| b.status).unwrap_or_default();
    match (status.as_u16(), body.as_str()) {
        (200, "ok") => MetabaseHealth::Ready,
        (503, "initializing") => MetabaseHealth::Initializing,
        (code, "") => MetabaseHealth::Unhealthy(format!("HTTP {code}")),
        (code, text) => {
            MetabaseHealth::Unhealthy(format!("HTTP {code}: {}", text.chars().take(80).collect::<String>()))
        }
    }
}
