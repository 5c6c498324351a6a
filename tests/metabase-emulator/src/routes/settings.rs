//! Settings endpoints (§7): list, raw single value, single and bulk PUT.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::{Auth, Superuser};
use crate::http::{self, ApiError, ApiResult, ok, parse_body};
use crate::settings::{self, REGISTRY, Visibility, current_value, definition, normalize_key};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/setting", get(list_settings).put(put_many))
        .route("/api/setting/", get(list_settings).put(put_many))
        .route("/api/setting/{key}", get(get_setting).put(put_setting))
}

fn env_name(key: &str) -> String {
    format!("MB_{}", key.replace('-', "_").to_uppercase())
}

async fn list_settings(State(app): State<AppState>, Superuser(_): Superuser) -> ApiResult {
    let state = app.lock();
    let items: Vec<Value> = REGISTRY
        .iter()
        .map(|d| {
            json!({
                "key": d.key,
                "value": state.settings.get(d.key).cloned().unwrap_or_else(|| {
                    if d.kind == settings::Kind::Computed {
                        current_value(&state, d.key)
                    } else {
                        Value::Null
                    }
                }),
                "is_env_setting": false,
                "env_name": env_name(d.key),
                "description": d.description,
                "default": settings::default_value(d.key),
            })
        })
        .collect();
    ok(Value::Array(items))
}

/// Strings come back as raw text (no JSON quotes), maps as JSON, `null` as an empty 204 (§7).
fn raw_value_response(value: Value) -> Response {
    match value {
        Value::Null => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Value::String(s) => http::text(StatusCode::OK, s),
        Value::Bool(_) | Value::Number(_) => http::text(StatusCode::OK, value.to_string()),
        other => http::json_response(StatusCode::OK, &other),
    }
}

async fn get_setting(State(app): State<AppState>, Auth(caller): Auth, Path(key): Path<String>) -> ApiResult {
    let key = normalize_key(&key);
    let state = app.lock();
    let Some(def) = definition(&key) else {
        return Err(if caller.is_superuser { settings::unknown_setting(&key) } else { ApiError::forbidden() });
    };
    if def.visibility == Visibility::Admin && !caller.is_superuser {
        return Err(ApiError::forbidden());
    }
    Ok(raw_value_response(current_value(&state, &key)))
}

/// Non-admins may not write any of the emulated settings (none is user-local): 403 (§7).
async fn put_setting(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult {
    let key = normalize_key(&key);
    if !caller.is_superuser {
        return Err(ApiError::forbidden());
    }
    let body = parse_body(&body)?;
    let value = body.get("value").cloned().unwrap_or(Value::Null);
    let mut state = app.lock();
    settings::write(&mut state, &key, value)?;
    http::no_content()
}

async fn put_many(State(app): State<AppState>, Superuser(_): Superuser, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let Value::Object(map) = body else {
        return Err(ApiError::invalid(
            json!({ "body": "map from <keyword> to <anything>" }),
            json!({ "body": ["invalid type"] }),
        ));
    };
    let pairs = map.into_iter().map(|(k, v)| (normalize_key(&k), v)).collect();
    let mut state = app.lock();
    settings::write_many(&mut state, pairs)?;
    http::no_content()
}
