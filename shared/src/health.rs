//! `GET /health`: is Metabase reachable and ready, is the table reachable, is the secret
//! readable. Each part is checked concurrently with its own deadline.

use std::time::Duration;

use http::StatusCode;
use serde::Serialize;

use crate::deps::Deps;
use crate::metabase::{self, MetabaseHealth};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Initializing,
    Unreachable,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub status: CheckStatus,
    /// Why it is not ok; never a hostname, secret value or SDK dump.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Check {
    fn ok() -> Self {
        Self { status: CheckStatus::Ok, detail: None }
    }

    fn failed(status: CheckStatus, detail: impl Into<String>) -> Self {
        Self { status, detail: Some(detail.into()) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// `ok`, or `degraded` with `failing` naming the parts that are not ok.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<&'static str>,
    pub metabase: Check,
    pub dynamodb: Check,
    pub secret: Check,
}

impl HealthReport {
    pub fn http_status(&self) -> StatusCode {
        if self.failing.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }
    }
}

const CHECK_DEADLINE: Duration = Duration::from_secs(5);

async fn within<F: Future<Output = Check>>(check: F) -> Check {
    tokio::time::timeout(CHECK_DEADLINE, check)
        .await
        .unwrap_or_else(|_| Check::failed(CheckStatus::Unreachable, "timed out"))
}

pub async fn check(deps: &Deps) -> HealthReport {
    let metabase = within(async {
        match metabase::probe_health(&deps.http, &deps.config.metabase_url).await {
            MetabaseHealth::Ready => Check::ok(),
            MetabaseHealth::Initializing => Check::failed(CheckStatus::Initializing, "Metabase is still initializing"),
            MetabaseHealth::Unhealthy(why) => Check::failed(CheckStatus::Error, why),
            MetabaseHealth::Unreachable(why) => Check::failed(CheckStatus::Unreachable, why),
        }
    });
    let dynamodb = within(async {
        match deps.store.ping().await {
            Ok(()) => Check::ok(),
            Err(error) => {
                tracing::warn!(%error, "health: table check failed");
                Check::failed(CheckStatus::Error, format!("table {} is not reachable", deps.config.table_name))
            }
        }
    });
    let secret = within(async {
        match deps.secrets.get().await {
            Ok(_) => Check::ok(),
            Err(error) => {
                tracing::warn!(%error, "health: secret check failed");
                Check::failed(CheckStatus::Error, format!("secret {} is not readable", deps.config.secret_id))
            }
        }
    });
    let (metabase, dynamodb, secret) = tokio::join!(metabase, dynamodb, secret);
    let failing = [("metabase", &metabase), ("dynamodb", &dynamodb), ("secret", &secret)]
        .into_iter()
        .filter(|(_, c)| c.status != CheckStatus::Ok)
        .map(|(name, _)| name)
        .collect::<Vec<_>>();
    HealthReport { status: if failing.is_empty() { "ok" } else { "degraded" }, failing, metabase, dynamodb, secret }
}
