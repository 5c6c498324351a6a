//! Health checks (§2): `/api/health`, `/livez`, `/readyz`. The initialising 503 is in `control.rs`.

use axum::Router;
use axum::routing::get;
use serde_json::json;

use crate::http::{ApiResult, ok};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/health", get(health)).route("/livez", get(health)).route("/readyz", get(health))
}

async fn health() -> ApiResult {
    ok(json!({ "status": "ok" }))
}
