//! Users (§13, §19.6): create (invite), list, get, update, deactivate/reactivate, password, current.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use serde_json::{Value, json};

use crate::auth::{Auth, Superuser, can_write_collection};
use crate::http::{ApiError, ApiResult, Paging, ok, parse_body, query_pairs, query_value};
use crate::password;
use crate::routes::session::{issue_session, session_response};
use crate::routes::setup::{is_valid_email, non_blank};
use crate::state::{AppState, NewUser, State as Db, User, UserKind, iso, iso_opt, random_hex};

const EMAIL_IN_USE: &str = "Email address already in use.";
const EMAIL_TAKEN: &str = "Email address already associated to another user.";
const BAD_EMAIL: &str = "value must be a valid email address.";
/// Text of the last-admin guard (§10, §13); shared with membership deletion.
pub const LAST_ADMIN: &str = "You cannot remove the last member of the 'Admin' group!";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/user", get(list_users).post(create_user))
        .route("/api/user/", get(list_users).post(create_user))
        .route("/api/user/current", get(current_user))
        .route("/api/user/{id}", get(get_user).put(update_user).delete(deactivate_user))
        .route("/api/user/{id}/reactivate", put(reactivate_user))
        .route("/api/user/{id}/password", put(change_password))
}

/// The user row as Metabase returns it from `/api/user` endpoints.
pub fn user_json(state: &Db, user: &User) -> Value {
    let memberships: Vec<Value> = state
        .memberships
        .values()
        .filter(|m| m.user_id == user.id)
        .map(|m| json!({ "id": m.group_id, "is_group_manager": m.is_group_manager }))
        .collect();
    json!({
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "common_name": user.common_name(),
        "is_active": user.is_active,
        "is_superuser": state.is_superuser(user.id),
        "is_qbnewb": true,
        "date_joined": iso(user.date_joined),
        "last_login": iso_opt(user.last_login),
        "updated_at": iso(user.updated_at),
        "locale": user.locale,
        "sso_source": null,
        "login_attributes": user.login_attributes,
        "user_group_memberships": memberships,
    })
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::invalid(
            json!({ "id": "value must be an integer greater than zero." }),
            json!({ "id": ["value must be an integer greater than zero."] }),
        )
    })
}

/// Only the caller themselves or a superuser (403 otherwise).
fn check_self_or_superuser(caller_id: i64, is_superuser: bool, id: i64) -> Result<(), ApiError> {
    if caller_id == id || is_superuser { Ok(()) } else { Err(ApiError::forbidden()) }
}

async fn current_user(State(app): State<AppState>, Auth(caller): Auth) -> ApiResult {
    let state = app.lock();
    let user = state.users.get(&caller.user_id).ok_or_else(ApiError::unauthenticated)?;
    let mut body = user_json(&state, user);
    let is_api_key = user.kind == UserKind::ApiKey;
    let personal = if is_api_key { None } else { state.personal_collection_id(user.id) };
    let can_write_any =
        state.collections.values().filter(|c| !c.archived).any(|c| can_write_collection(&state, user.id, Some(c.id)))
            || can_write_collection(&state, user.id, None);
    let (can_query, can_native) = query_permissions(&state, user.id);
    let extra = json!({
        "personal_collection_id": personal,
        "group_ids": state.user_group_ids(user.id),
        "is_installer": user.is_installer,
        "has_invited_second_user": user.is_installer
            && state.users.values().filter(|u| u.kind == UserKind::Normal).count() > 1,
        "has_question_and_dashboard": !state.cards.is_empty() && !state.dashboards.is_empty(),
        "has_model": state.cards.values().any(|c| c.card_type == "model"),
        "first_login": iso(user.date_joined),
        "custom_homepage": null,
        "can_write_any_collection": can_write_any,
        "permissions": {
            "can_create_queries": can_query,
            "can_create_native_queries": can_native,
        },
    });
    if let (Value::Object(target), Value::Object(extra)) = (&mut body, extra) {
        target.extend(extra);
    }
    ok(body)
}

/// Whether any of the user's groups may build queries / native queries on some database (§12).
fn query_permissions(state: &Db, user_id: i64) -> (bool, bool) {
    if state.is_superuser(user_id) {
        return (true, true);
    }
    let mut query = false;
    let mut native = false;
    for gid in state.user_group_ids(user_id) {
        for perms in state.data_perms.get(&gid).into_iter().flat_map(|dbs| dbs.values()) {
            match perms.get("create-queries").and_then(Value::as_str) {
                Some("query-builder-and-native") => {
                    query = true;
                    native = true;
                }
                Some("query-builder") => query = true,
                Some(_) => {}
                None if perms.get("create-queries").is_some_and(Value::is_object) => query = true,
                None => {}
            }
        }
    }
    (query, native)
}

async fn list_users(State(app): State<AppState>, Superuser(_): Superuser, RawQuery(query): RawQuery) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let paging = Paging::from_query(&pairs)?;
    let status = match query_value(&pairs, "status") {
        Some(s @ ("active" | "deactivated" | "all")) => s.to_string(),
        Some(_) => {
            return Err(ApiError::invalid(
                json!({ "status": "nullable enum of active, deactivated, all" }),
                json!({ "status": ["should be either active, deactivated or all"] }),
            ));
        }
        None if query_value(&pairs, "include_deactivated") == Some("true") => "all".into(),
        None => "active".into(),
    };
    let text = query_value(&pairs, "query").map(str::to_lowercase);
    let group_id = query_value(&pairs, "group_id").and_then(|g| g.parse::<i64>().ok());
    let state = app.lock();
    let mut users: Vec<&User> = state
        .users
        .values()
        .filter(|u| u.kind == UserKind::Normal)
        .filter(|u| match status.as_str() {
            "active" => u.is_active,
            "deactivated" => !u.is_active,
            _ => true,
        })
        .filter(|u| {
            text.as_deref().is_none_or(|q| {
                [u.first_name.as_deref(), u.last_name.as_deref(), Some(u.email.as_str())]
                    .into_iter()
                    .flatten()
                    .any(|field| field.to_lowercase().contains(q))
            })
        })
        .filter(|u| group_id.is_none_or(|g| state.user_group_ids(u.id).contains(&g)))
        .collect();
    users.sort_by_key(|u| {
        (
            u.last_name.clone().unwrap_or_default().to_lowercase(),
            u.first_name.clone().unwrap_or_default().to_lowercase(),
            u.id,
        )
    });
    let total = users.len();
    let data: Vec<Value> = paging.apply(users).into_iter().map(|u| user_json(&state, u)).collect();
    ok(json!({
        "data": data,
        "total": total,
        "limit": paging.limit_json(),
        "offset": paging.offset_json(),
    }))
}

/// Group ids from `user_group_memberships: [{"id": gid, "is_group_manager"?}]`; 400 when malformed.
fn membership_group_ids(state: &Db, value: &Value) -> Result<Vec<(i64, bool)>, ApiError> {
    let malformed = || {
        ApiError::invalid(
            json!({ "user_group_memberships": "nullable sequence of map where {:id -> <integer greater than zero>, :is_group_manager (optional) -> <nullable boolean>}" }),
            json!({ "user_group_memberships": ["invalid type"] }),
        )
    };
    let items = value.as_array().ok_or_else(malformed)?;
    let mut out = Vec::new();
    for item in items {
        let gid = item["id"].as_i64().filter(|g| *g > 0).ok_or_else(malformed)?;
        if !state.groups.contains_key(&gid) {
            return Err(ApiError::not_found());
        }
        out.push((gid, item["is_group_manager"].as_bool().unwrap_or(false)));
    }
    Ok(out)
}

async fn create_user(State(app): State<AppState>, Superuser(_): Superuser, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let email = non_blank(&body["email"])
        .filter(|e| is_valid_email(e))
        .ok_or_else(|| ApiError::invalid(json!({ "email": BAD_EMAIL }), json!({ "email": [BAD_EMAIL] })))?
        .to_string();
    let mut state = app.lock();
    let memberships = if body["user_group_memberships"].is_null() {
        Vec::new()
    } else {
        membership_group_ids(&state, &body["user_group_memberships"])?
    };
    if state.user_by_email(&email).is_some() {
        return Err(ApiError::field("email", EMAIL_IN_USE));
    }
    // §13: `password` is not in the declared schema; the newest Metabase strips it, so an invited
    // user always gets a random password and must have one set with PUT /api/user/:id/password.
    let user_id = state.create_user(NewUser {
        email,
        first_name: body["first_name"].as_str().map(str::to_string),
        last_name: body["last_name"].as_str().map(str::to_string),
        password: random_hex(16),
        kind: UserKind::Normal,
        superuser: false,
        is_installer: false,
        login_attributes: body.get("login_attributes").filter(|v| v.is_object()).cloned(),
    });
    for (gid, manager) in memberships {
        state.add_membership(user_id, gid, manager);
    }
    let user = &state.users[&user_id];
    ok(user_json(&state, user))
}

async fn get_user(State(app): State<AppState>, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    check_self_or_superuser(caller.user_id, caller.is_superuser, id)?;
    let state = app.lock();
    let user = state.users.get(&id).ok_or_else(ApiError::not_found)?;
    ok(user_json(&state, user))
}

/// True when removing `user_id` from Administrators would leave it without an active member.
pub fn is_last_admin(state: &Db, user_id: i64) -> bool {
    let admin = state.admin_group_id();
    let others = state
        .memberships
        .values()
        .filter(|m| m.group_id == admin && m.user_id != user_id)
        .filter(|m| state.users.get(&m.user_id).is_some_and(|u| u.is_active))
        .count();
    state.is_superuser(user_id) && others == 0
}

async fn update_user(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = parse_id(&id)?;
    let body = parse_body(&body)?;
    check_self_or_superuser(caller.user_id, caller.is_superuser, id)?;
    let mut state = app.lock();
    // §13: only active users can be updated.
    if !state.users.get(&id).is_some_and(|u| u.is_active) {
        return Err(ApiError::not_found());
    }
    if let Some(email) = body.get("email").filter(|v| !v.is_null()) {
        let email = non_blank(email).filter(|e| is_valid_email(e)).ok_or_else(|| {
            ApiError::invalid(json!({ "email": format!("nullable {BAD_EMAIL}") }), json!({ "email": [BAD_EMAIL] }))
        })?;
        if state.user_by_email(email).is_some_and(|u| u.id != id) {
            return Err(ApiError::field("email", EMAIL_TAKEN));
        }
    }
    // Group changes are superuser-only; a non-admin's attempt is ignored like Metabase does.
    let mut new_groups: Option<Vec<(i64, bool)>> = None;
    if caller.is_superuser {
        let admin = state.admin_group_id();
        if !body["user_group_memberships"].is_null() {
            new_groups = Some(membership_group_ids(&state, &body["user_group_memberships"])?);
        }
        if let Some(flag) = body["is_superuser"].as_bool() {
            match &mut new_groups {
                Some(groups) => {
                    if groups.iter().any(|(g, _)| *g == admin) != flag {
                        return Err(ApiError::bad_request(
                            "Superuser status must match membership in the Administrators group.",
                        ));
                    }
                }
                None => {
                    let mut groups: Vec<(i64, bool)> = state
                        .memberships
                        .values()
                        .filter(|m| m.user_id == id && m.group_id != admin)
                        .map(|m| (m.group_id, m.is_group_manager))
                        .collect();
                    if flag {
                        groups.push((admin, false));
                    }
                    new_groups = Some(groups);
                }
            }
        }
        if let Some(groups) = &new_groups {
            let keeps_admin = groups.iter().any(|(g, _)| *g == admin);
            if !keeps_admin && is_last_admin(&state, id) {
                return Err(ApiError::bad_request(LAST_ADMIN));
            }
        }
    }
    let now = state.now();
    if let Some(user) = state.users.get_mut(&id) {
        if let Some(email) = body["email"].as_str() {
            user.email = email.to_string();
        }
        for (key, slot) in [("first_name", &mut user.first_name), ("last_name", &mut user.last_name)] {
            if let Some(v) = body.get(key) {
                *slot = v.as_str().map(str::to_string);
            }
        }
        if let Some(v) = body.get("locale") {
            user.locale = v.as_str().map(str::to_string);
        }
        if let Some(v) = body.get("login_attributes") {
            user.login_attributes = v.is_object().then(|| v.clone());
        }
        user.updated_at = now;
    }
    if let Some(groups) = new_groups {
        let all_users = state.all_users_group_id();
        state.memberships.retain(|_, m| m.user_id != id || m.group_id == all_users);
        for (gid, manager) in groups {
            if gid != all_users {
                state.add_membership(id, gid, manager);
            }
        }
    }
    let user = &state.users[&id];
    ok(user_json(&state, user))
}

async fn deactivate_user(State(app): State<AppState>, Superuser(_): Superuser, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let mut state = app.lock();
    let now = state.now();
    let user = state.users.get_mut(&id).ok_or_else(ApiError::not_found)?;
    user.is_active = false;
    user.updated_at = now;
    state.sessions.retain(|_, s| s.user_id != id);
    ok(json!({ "success": true }))
}

async fn reactivate_user(State(app): State<AppState>, Superuser(_): Superuser, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let mut state = app.lock();
    let now = state.now();
    let user = state.users.get_mut(&id).ok_or_else(ApiError::not_found)?;
    if user.is_active {
        return Err(ApiError::json(
            StatusCode::BAD_REQUEST,
            json!({ "message": "Not able to reactivate an active user" }),
        ));
    }
    user.is_active = true;
    user.updated_at = now;
    let user = &state.users[&id];
    ok(user_json(&state, user))
}

/// `PUT /api/user/:id/password`: complexity-checked; a non-admin changing their own password must
/// send the right `old_password`. All of the user's sessions end; the caller changing their own
/// password gets a fresh session cookie, as Metabase does.
async fn change_password(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = parse_id(&id)?;
    let body = parse_body(&body)?;
    check_self_or_superuser(caller.user_id, caller.is_superuser, id)?;
    let mut state = app.lock();
    let new_password = body["password"].as_str().unwrap_or_default().to_string();
    if !password::is_valid(&new_password, &state.knobs) {
        return Err(ApiError::invalid(
            json!({ "password": password::TOO_COMMON }),
            json!({ "password": [password::TOO_COMMON] }),
        ));
    }
    let user = state.users.get(&id).filter(|u| u.is_active).ok_or_else(ApiError::not_found)?;
    if !caller.is_superuser {
        let old = body["old_password"].as_str().unwrap_or_default();
        if !crate::state::verify_password(&user.password_hash, old) {
            return Err(ApiError::field("old_password", "Invalid password"));
        }
    }
    let now = state.now();
    if let Some(user) = state.users.get_mut(&id) {
        user.password_hash = crate::state::hash_password(&new_password);
        user.updated_at = now;
    }
    state.sessions.retain(|_, s| s.user_id != id);
    if caller.user_id == id && caller.session_id.is_some() {
        let session_id = issue_session(&mut state, id);
        let mut response = session_response(&session_id);
        *response.body_mut() = axum::body::Body::from(json!({ "success": true }).to_string());
        return Ok(response);
    }
    ok(json!({ "success": true }))
}
