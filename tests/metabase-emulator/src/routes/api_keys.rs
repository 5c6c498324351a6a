//! API keys (§6): superuser-only CRUD; each key acts as a hidden `api-key` user in All Users + its group.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::auth::{Caller, Superuser, hash_api_key};
use crate::http::{self, ApiError, ApiResult, no_content, ok, parse_body};
use crate::routes::setup::{non_blank, specific_errors};
use crate::state::{ApiKey, AppState, NewUser, State as Db, UserKind, iso, random_hex};

const DUPLICATE_NAME: &str = "An API key with this name already exists.";
/// Total length of an unmasked key: `mb_` + 44 base64 characters.
const KEY_LEN: usize = 47;
const PREFIX_LEN: usize = 7;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/api-key", get(list_keys).post(create_key))
        .route("/api/api-key/", get(list_keys).post(create_key))
        .route("/api/api-key/count", get(count_keys))
        .route("/api/api-key/{id}", put(update_key).delete(delete_key))
        .route("/api/api-key/{id}/regenerate", put(regenerate_key))
}

/// A new key `mb_` + base64 of 32 random bytes, with a prefix no other key uses.
fn generate_key(state: &Db) -> String {
    loop {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes[..]);
        let key = format!("mb_{}", STANDARD.encode(bytes));
        if !state.api_keys.values().any(|k| k.prefix == key[..PREFIX_LEN]) {
            return key;
        }
    }
}

fn masked(prefix: &str) -> String {
    format!("{prefix}{}", "*".repeat(KEY_LEN - PREFIX_LEN))
}

fn key_json(state: &Db, key: &ApiKey) -> Value {
    let group_name = state.groups.get(&key.group_id).map(|g| g.name.clone());
    let updated_by = state
        .users
        .get(&key.updated_by_id)
        .map(|u| json!({ "id": u.id, "common_name": u.common_name() }))
        .unwrap_or(Value::Null);
    json!({
        "id": key.id,
        "name": key.name,
        "group": { "id": key.group_id, "name": group_name },
        "masked_key": masked(&key.prefix),
        "created_at": iso(key.created_at),
        "updated_at": iso(key.updated_at),
        "updated_by": updated_by,
    })
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// Validate `name` (non-blank, ≤ 254) and `group_id` (positive int); `required` for POST.
fn validate(body: &Value, required: bool) -> Result<(Option<String>, Option<i64>), ApiError> {
    let mut errors = Map::new();
    let name = match body.get("name").filter(|v| !v.is_null()) {
        None if !required => None,
        v => match v.and_then(non_blank).filter(|s| s.chars().count() <= 254) {
            Some(s) => Some(s.to_string()),
            None => {
                errors.insert("name".into(), json!("value must be a non-blank string."));
                None
            }
        },
    };
    let group_id = match body.get("group_id").filter(|v| !v.is_null()) {
        None if !required => None,
        v => match v.and_then(Value::as_i64).filter(|g| *g > 0) {
            Some(g) => Some(g),
            None => {
                errors.insert("group_id".into(), json!("value must be an integer greater than zero."));
                None
            }
        },
    };
    if !errors.is_empty() {
        let errors = Value::Object(errors);
        return Err(ApiError::invalid(errors.clone(), specific_errors(&errors)));
    }
    Ok((name, group_id))
}

async fn create_key(State(app): State<AppState>, Superuser(caller): Superuser, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let (Some(name), Some(group_id)) = validate(&body, true)? else {
        return Err(ApiError::server("name and group_id are required"));
    };
    let mut state = app.lock();
    if !state.groups.contains_key(&group_id) {
        return Err(ApiError::not_found());
    }
    if state.api_keys.values().any(|k| k.name == name) {
        return Err(ApiError::field("name", DUPLICATE_NAME));
    }
    let key = generate_key(&state);
    let user_id = state.create_user(NewUser {
        email: format!("api-key-user-{}@api-key.invalid", uuid::Uuid::new_v4()),
        first_name: Some(name.clone()),
        last_name: None,
        password: random_hex(16),
        kind: UserKind::ApiKey,
        superuser: false,
        is_installer: false,
        login_attributes: None,
    });
    state.add_membership(user_id, group_id, false);
    let id = state.next_id("api_key");
    let now = state.now();
    let record = ApiKey {
        id,
        name,
        user_id,
        group_id,
        prefix: key[..PREFIX_LEN].to_string(),
        key_hash: hash_api_key(&key),
        created_at: now,
        updated_at: now,
        updated_by_id: caller.user_id,
    };
    let mut body = key_json(&state, &record);
    body["unmasked_key"] = json!(key);
    state.api_keys.insert(id, record);
    ok(body)
}

async fn list_keys(State(app): State<AppState>, Superuser(_): Superuser) -> ApiResult {
    let state = app.lock();
    let keys: Vec<Value> = state.api_keys.values().map(|k| key_json(&state, k)).collect();
    ok(Value::Array(keys))
}

/// A bare number is not a collection, so it is sent as text (§1).
async fn count_keys(State(app): State<AppState>, Superuser(_): Superuser) -> ApiResult {
    let count = app.lock().api_keys.len();
    Ok(http::text(StatusCode::OK, count.to_string()))
}

fn touch(state: &mut Db, id: i64, caller: &Caller) {
    let now = state.now();
    if let Some(k) = state.api_keys.get_mut(&id) {
        k.updated_at = now;
        k.updated_by_id = caller.user_id;
    }
}

async fn update_key(
    State(app): State<AppState>,
    Superuser(caller): Superuser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = parse_id(&id)?;
    let body = parse_body(&body)?;
    let (name, group_id) = validate(&body, false)?;
    let mut state = app.lock();
    let key = state.api_keys.get(&id).cloned().ok_or_else(ApiError::not_found)?;
    if let Some(name) = &name {
        if state.api_keys.values().any(|k| k.id != id && &k.name == name) {
            return Err(ApiError::field("name", DUPLICATE_NAME));
        }
    }
    if let Some(gid) = group_id {
        if !state.groups.contains_key(&gid) {
            return Err(ApiError::not_found());
        }
        let all_users = state.all_users_group_id();
        state.memberships.retain(|_, m| m.user_id != key.user_id || m.group_id == all_users);
        state.add_membership(key.user_id, gid, false);
    }
    if let Some(k) = state.api_keys.get_mut(&id) {
        if let Some(name) = name {
            k.name = name;
        }
        if let Some(gid) = group_id {
            k.group_id = gid;
        }
    }
    touch(&mut state, id, &caller);
    let key = &state.api_keys[&id];
    ok(key_json(&state, key))
}

async fn regenerate_key(
    State(app): State<AppState>,
    Superuser(caller): Superuser,
    Path(id): Path<String>,
) -> ApiResult {
    let id = parse_id(&id)?;
    let mut state = app.lock();
    if !state.api_keys.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    let key = generate_key(&state);
    let prefix = key[..PREFIX_LEN].to_string();
    if let Some(k) = state.api_keys.get_mut(&id) {
        k.prefix = prefix.clone();
        k.key_hash = hash_api_key(&key);
    }
    touch(&mut state, id, &caller);
    ok(json!({
        "id": id,
        "unmasked_key": key,
        "masked_key": masked(&prefix),
        "prefix": prefix,
    }))
}

async fn delete_key(State(app): State<AppState>, Superuser(_): Superuser, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let mut state = app.lock();
    let key = state.api_keys.remove(&id).ok_or_else(ApiError::not_found)?;
    if let Some(user) = state.users.get_mut(&key.user_id) {
        user.is_active = false;
    }
    no_content()
}
