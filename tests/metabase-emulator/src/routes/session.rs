//! Login, logout and setup detection: `/api/session` and `/api/session/properties` (§3, §5).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::auth::{MaybeCaller, session_id_from_headers};
use crate::http::{self, ApiError, ApiResult, ok, parse_body};
use crate::routes::setup::{non_blank, specific_errors};
use crate::settings::{max_visibility, properties};
use crate::state::{AppState, Session, State as Db, UserKind, verify_password};
use crate::throttle;

const NON_BLANK: &str = "value must be a non-blank string.";
const PASSWORD_MISMATCH: &str = "did not match stored password";
const ACCOUNT_DISABLED: &str = "Your account is disabled.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/session", post(login).delete(logout))
        .route("/api/session/properties", get(session_properties))
}

/// Create a session for `user_id` and stamp `last_login`; returns the session id.
pub fn issue_session(state: &mut Db, user_id: i64) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let now = state.now();
    state.sessions.insert(id.clone(), Session { id: id.clone(), user_id, created_at: now });
    if let Some(user) = state.users.get_mut(&user_id) {
        user.last_login = Some(now);
    }
    id
}

/// `200 {"id": session}` plus the `metabase.SESSION` cookie.
pub fn session_response(session_id: &str) -> Response {
    let mut response = http::json_response(StatusCode::OK, &json!({ "id": session_id }));
    let cookie = format!("metabase.SESSION={session_id};HttpOnly;Path=/;SameSite=Lax");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Client address for the per-IP throttler: first `X-Forwarded-For` hop, else the peer address.
fn client_ip(headers: &HeaderMap, peer: SocketAddr) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| peer.ip().to_string())
}

async fn login(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let mut errors = Map::new();
    for key in ["username", "password"] {
        if non_blank(&body[key]).is_none() {
            errors.insert(key.into(), json!(NON_BLANK));
        }
    }
    if !errors.is_empty() {
        let errors = Value::Object(errors);
        return Err(ApiError::invalid(errors.clone(), specific_errors(&errors)));
    }
    let username = body["username"].as_str().unwrap_or_default().to_string();
    let password = body["password"].as_str().unwrap_or_default();
    let mut state = app.lock();

    if !state.knobs.disable_session_throttle {
        let now = state.now();
        let ip = client_ip(&headers, peer);
        let user_key = username.to_lowercase();
        let by_ip = throttle::wait_seconds(&mut state.login_attempts_by_ip, &ip, throttle::IP_THRESHOLD, now);
        let by_user =
            throttle::wait_seconds(&mut state.login_attempts_by_username, &user_key, throttle::USERNAME_THRESHOLD, now);
        throttle::record(&mut state.login_attempts_by_ip, &ip, now);
        throttle::record(&mut state.login_attempts_by_username, &user_key, now);
        // §5: the throttler's 400 is rewrapped to 401 by the login endpoint in current versions.
        if let Some(wait) = by_ip.into_iter().chain(by_user).max() {
            return Err(ApiError::json(
                StatusCode::UNAUTHORIZED,
                json!({ "errors": { "username": throttle::message(wait) } }),
            ));
        }
    }

    let user = state
        .user_by_email(&username)
        .filter(|u| u.kind == UserKind::Normal)
        .filter(|u| verify_password(&u.password_hash, password))
        .cloned();
    let Some(user) = user else {
        return Err(ApiError::json(StatusCode::UNAUTHORIZED, json!({ "errors": { "password": PASSWORD_MISMATCH } })));
    };
    if !user.is_active {
        return Err(ApiError::json(StatusCode::UNAUTHORIZED, json!({ "errors": { "_error": ACCOUNT_DISABLED } })));
    }
    let session_id = issue_session(&mut state, user.id);
    Ok(session_response(&session_id))
}

/// `DELETE /api/session`: 204, or 404 `Not found.` without a known session (§5).
async fn logout(State(app): State<AppState>, headers: HeaderMap) -> ApiResult {
    let session_id = session_id_from_headers(&headers).ok_or_else(ApiError::not_found)?;
    let mut state = app.lock();
    state.sessions.remove(&session_id).ok_or_else(ApiError::not_found)?;
    http::no_content()
}

async fn session_properties(State(app): State<AppState>, MaybeCaller(caller): MaybeCaller) -> ApiResult {
    let state = app.lock();
    let max = max_visibility(caller.is_some(), caller.as_ref().is_some_and(|c| c.is_superuser));
    ok(Value::Object(properties(&state, max)))
}
