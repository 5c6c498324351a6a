//! The route table: one sub-router per area, the `+auth`-aware fallback of §1, and the control middleware.

pub mod api_keys;
pub mod cards;
pub mod collection_graph;
pub mod collection_items;
pub mod collections;
pub mod dashboards;
pub mod databases;
pub mod embed;
pub mod health;
pub mod listings;
pub mod permissions;
pub mod search;
pub mod session;
pub mod settings;
pub mod setup;
pub mod users;
pub mod util;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use crate::auth::identify;
use crate::http::{self, ENDPOINT_MISSING, NOT_FOUND, UNAUTHENTICATED};
use crate::state::AppState;

/// `/api/<prefix>` contexts wrapped in `+auth` (§1): unauthenticated callers get 401 before route matching.
const AUTH_PREFIXES: &[&str] = &[
    "action",
    "activity",
    "alert",
    "api-key",
    "automagic-dashboards",
    "bookmark",
    "card",
    "cards",
    "collection",
    "dashboard",
    "database",
    "dataset",
    "field",
    "model-index",
    "native-query-snippet",
    "permissions",
    "preview_embed",
    "pulse",
    "revision",
    "search",
    "segment",
    "setting",
    "table",
    "timeline",
    "timeline-event",
    "user",
];

/// The whole application with state, middleware and fallbacks.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(session::router())
        .merge(setup::router())
        .merge(api_keys::router())
        .merge(settings::router())
        .merge(util::router())
        .merge(databases::router())
        .merge(collections::router())
        .merge(collection_graph::router())
        .merge(permissions::router())
        .merge(users::router())
        .merge(dashboards::router())
        .merge(cards::router())
        .merge(collection_items::router())
        .merge(search::router())
        .merge(listings::router())
        .merge(embed::router())
        .merge(crate::control::router())
        .fallback(fallback)
        .method_not_allowed_fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::control::middleware))
        .with_state(state)
}

/// Unknown route or wrong method (§1): 401 first on `+auth` contexts, else `404 API endpoint does not exist.`
async fn fallback(State(app): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let Some(rest) = path.strip_prefix("/api/") else {
        return http::text(StatusCode::NOT_FOUND, NOT_FOUND);
    };
    let context = rest.split('/').next().unwrap_or_default();
    if AUTH_PREFIXES.contains(&context) {
        let authenticated = identify(&app.lock(), &headers).is_some();
        if !authenticated {
            return http::text(StatusCode::UNAUTHORIZED, UNAUTHENTICATED);
        }
    }
    http::text(StatusCode::NOT_FOUND, ENDPOINT_MISSING)
}
