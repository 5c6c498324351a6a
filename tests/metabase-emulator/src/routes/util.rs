//! `GET /api/util/random_token` (§7): a fresh 64-hex secret, no auth.

use axum::Router;
use axum::routing::get;
use serde_json::json;

use crate::http::{ApiResult, ok};
use crate::state::{AppState, random_hex};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/util/random_token", get(random_token))
}

async fn random_token() -> ApiResult {
    ok(json!({ "token": random_hex(32) }))
}
