//! Permission groups, memberships (§10) and the data permission graph (§12, 0.50+ shape).

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use serde_json::{Map, Value, json};

use crate::auth::Superuser;
use crate::http::{ApiError, ApiResult, GraphFlags, no_content, ok, parse_body, query_pairs};
use crate::routes::setup::non_blank;
use crate::routes::users::{LAST_ADMIN, is_last_admin};
use crate::state::{AppState, Group, State as Db, new_entity_id};

const DUPLICATE_GROUP: &str = "A group with that name already exists.";
/// §11/§12 guard on the Administrators group's permission rows.
pub const ADMIN_GUARD: &str = "You cannot create or revoke permissions for the 'Admin' group.";
const BLOCKED_NEEDS_TOKEN: &str = "The blocked permissions functionality is only enabled if you have a premium token with the advanced-permissions feature.";
const ALL_USERS_MEMBERSHIP: &str = "You cannot add or remove users to/from the 'All Users' group.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/permissions/group", get(list_groups).post(create_group))
        .route("/api/permissions/group/{id}", get(get_group).put(rename_group).delete(delete_group))
        .route("/api/permissions/membership", get(list_memberships).post(add_membership))
        .route("/api/permissions/membership/{id}", delete(remove_membership))
        .route("/api/permissions/membership/{id}/clear", put(clear_group))
        .route("/api/permissions/graph", get(data_graph).put(update_data_graph))
        .route("/api/permissions/graph/db/{id}", get(data_graph_for_db))
        .route("/api/permissions/graph/group/{id}", get(data_graph_for_group))
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::invalid(
            json!({ "id": "value must be an integer greater than zero." }),
            json!({ "id": ["value must be an integer greater than zero."] }),
        )
    })
}

fn member_count(state: &Db, group_id: i64) -> usize {
    state
        .memberships
        .values()
        .filter(|m| m.group_id == group_id)
        .filter(|m| state.users.get(&m.user_id).is_some_and(|u| u.is_active))
        .count()
}

fn group_json(state: &Db, group: &Group) -> Value {
    json!({
        "id": group.id,
        "name": group.name,
        "member_count": member_count(state, group.id),
        "entity_id": group.entity_id,
        "magic_group_type": group.magic_group_type,
        "is_tenant_group": false,
    })
}

/// Members of a group as `POST /api/permissions/membership` and `GET …/group/:id` list them.
fn members_json(state: &Db, group_id: i64) -> Vec<Value> {
    let mut members: Vec<Value> = state
        .memberships
        .values()
        .filter(|m| m.group_id == group_id)
        .filter_map(|m| {
            let user = state.users.get(&m.user_id).filter(|u| u.is_active)?;
            Some(json!({
                "membership_id": m.id,
                "id": user.id,
                "user_id": user.id,
                "group_id": group_id,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "common_name": user.common_name(),
                "email": user.email,
                "is_superuser": state.is_superuser(user.id),
                "is_group_manager": m.is_group_manager,
            }))
        })
        .collect();
    members.sort_by_key(|m| m["common_name"].as_str().unwrap_or_default().to_lowercase());
    members
}

fn name_taken(state: &Db, name: &str, except: Option<i64>) -> bool {
    let wanted = name.to_lowercase();
    state.groups.values().any(|g| Some(g.id) != except && g.name.to_lowercase() == wanted)
}

fn group_name_from(body: &Value) -> Result<String, ApiError> {
    non_blank(&body["name"]).map(str::to_string).ok_or_else(|| {
        ApiError::invalid(
            json!({ "name": "value must be a non-blank string." }),
            json!({ "name": ["should be at least 1 characters", "non-blank string"] }),
        )
    })
}

/// 400 on magic groups, with the group's name substituted (§10).
fn check_not_magic(group: &Group) -> Result<(), ApiError> {
    if group.magic_group_type.is_some() {
        return Err(ApiError::bad_request(format!(
            "You cannot edit or delete the '{}' permissions group!",
            group.name
        )));
    }
    Ok(())
}

async fn list_groups(State(app): State<AppState>, Superuser(_): Superuser) -> ApiResult {
    let state = app.lock();
    let mut groups: Vec<&Group> = state.groups.values().collect();
    groups.sort_by_key(|g| (g.name.to_lowercase(), g.id));
    ok(Value::Array(groups.into_iter().map(|g| group_json(&state, g)).collect()))
}

async fn create_group(State(app): State<AppState>, Superuser(_): Superuser, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let name = group_name_from(&body)?;
    let mut state = app.lock();
    if name_taken(&state, &name, None) {
        return Err(ApiError::bad_request(DUPLICATE_GROUP));
    }
    let id = state.next_id("group");
    state.groups.insert(id, Group { id, name, magic_group_type: None, entity_id: new_entity_id() });
    let db_ids: Vec<i64> = state.databases.keys().copied().collect();
    for db_id in db_ids {
        let perms = state.derived_data_perms(db_id);
        state.data_perms.entry(id).or_default().insert(db_id, perms);
    }
    let group = &state.groups[&id];
    ok(group_json(&state, group))
}

async fn get_group(State(app): State<AppState>, Superuser(_): Superuser, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let state = app.lock();
    let group = state.groups.get(&id).ok_or_else(ApiError::not_found)?;
    let mut body = group_json(&state, group);
    body["members"] = Value::Array(members_json(&state, id));
    ok(body)
}

async fn rename_group(
    State(app): State<AppState>,
    Superuser(_): Superuser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let id = parse_id(&id)?;
    let body = parse_body(&body)?;
    let name = group_name_from(&body)?;
    let mut state = app.lock();
    let group = state.groups.get(&id).ok_or_else(ApiError::not_found)?;
    check_not_magic(group)?;
    if name_taken(&state, &name, Some(id)) {
        return Err(ApiError::bad_request(DUPLICATE_GROUP));
    }
    if let Some(group) = state.groups.get_mut(&id) {
        group.name = name;
    }
    let group = &state.groups[&id];
    ok(group_json(&state, group))
}

async fn delete_group(State(app): State<AppState>, Superuser(_): Superuser, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let mut state = app.lock();
    let group = state.groups.get(&id).ok_or_else(ApiError::not_found)?;
    check_not_magic(group)?;
    state.groups.remove(&id);
    state.memberships.retain(|_, m| m.group_id != id);
    state.collection_perms.retain(|(g, _), _| *g != id);
    state.data_perms.remove(&id);
    // Keys of a deleted group stay readable as data, but act with no group permissions.
    no_content()
}

async fn list_memberships(State(app): State<AppState>, Superuser(_): Superuser) -> ApiResult {
    let state = app.lock();
    let mut out: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for m in state.memberships.values() {
        out.entry(m.user_id).or_default().push(json!({
            "membership_id": m.id,
            "group_id": m.group_id,
            "user_id": m.user_id,
            "is_group_manager": m.is_group_manager,
        }));
    }
    let map: Map<String, Value> = out.into_iter().map(|(uid, list)| (uid.to_string(), Value::Array(list))).collect();
    ok(Value::Object(map))
}

async fn add_membership(State(app): State<AppState>, Superuser(_): Superuser, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let (Some(group_id), Some(user_id)) =
        (body["group_id"].as_i64().filter(|v| *v > 0), body["user_id"].as_i64().filter(|v| *v > 0))
    else {
        let mut errors = Map::new();
        for key in ["group_id", "user_id"] {
            if body[key].as_i64().filter(|v| *v > 0).is_none() {
                errors.insert(key.into(), json!("value must be an integer greater than zero."));
            }
        }
        let errors = Value::Object(errors);
        return Err(ApiError::invalid(errors.clone(), crate::routes::setup::specific_errors(&errors)));
    };
    let mut state = app.lock();
    if !state.groups.contains_key(&group_id) || !state.users.contains_key(&user_id) {
        return Err(ApiError::not_found());
    }
    if group_id == state.all_users_group_id() {
        return Err(ApiError::bad_request(ALL_USERS_MEMBERSHIP));
    }
    let manager = body["is_group_manager"].as_bool().unwrap_or(false);
    state.add_membership(user_id, group_id, manager);
    ok(Value::Array(members_json(&state, group_id)))
}

async fn remove_membership(State(app): State<AppState>, Superuser(_): Superuser, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let mut state = app.lock();
    let membership = state.memberships.get(&id).cloned().ok_or_else(ApiError::not_found)?;
    if membership.group_id == state.all_users_group_id() {
        return Err(ApiError::bad_request(ALL_USERS_MEMBERSHIP));
    }
    if membership.group_id == state.admin_group_id() && is_last_admin(&state, membership.user_id) {
        return Err(ApiError::bad_request(LAST_ADMIN));
    }
    state.memberships.remove(&id);
    no_content()
}

async fn clear_group(State(app): State<AppState>, Superuser(_): Superuser, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let mut state = app.lock();
    let group = state.groups.get(&id).ok_or_else(ApiError::not_found)?;
    if group.magic_group_type.is_some() {
        return Err(ApiError::bad_request(format!("You cannot clear the members of the '{}' group!", group.name)));
    }
    state.memberships.retain(|_, m| m.group_id != id);
    no_content()
}

// ----- data permission graph (§12) -----

/// Full rights synthesised for Administrators on every database.
fn admin_db_perms() -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("view-data".to_string(), json!("unrestricted")),
        ("create-queries".to_string(), json!("query-builder-and-native")),
        ("download".to_string(), json!({ "schemas": "full" })),
        ("data-model".to_string(), json!({ "schemas": "all" })),
        ("details".to_string(), json!("yes")),
    ])
}

/// Least-permissive values are elided from graph output (§12).
fn is_least_permissive(perm: &str, value: &Value) -> bool {
    match perm {
        "create-queries" => value == "no",
        "details" => value == "no",
        "download" | "data-model" => value == &json!({ "schemas": "none" }),
        _ => false,
    }
}

fn group_db_perms(state: &Db, group_id: i64, db_id: i64) -> BTreeMap<String, Value> {
    if group_id == state.admin_group_id() {
        return admin_db_perms();
    }
    state.data_perms.get(&group_id).and_then(|dbs| dbs.get(&db_id)).cloned().unwrap_or_default()
}

fn group_graph(state: &Db, group_id: i64, only_db: Option<i64>) -> Value {
    let mut dbs = Map::new();
    for db_id in state.databases.keys().copied() {
        if only_db.is_some_and(|d| d != db_id) {
            continue;
        }
        let perms: Map<String, Value> =
            group_db_perms(state, group_id, db_id).into_iter().filter(|(k, v)| !is_least_permissive(k, v)).collect();
        if !perms.is_empty() {
            dbs.insert(db_id.to_string(), Value::Object(perms));
        }
    }
    Value::Object(dbs)
}

fn graph_json(state: &Db, groups: &[i64], only_db: Option<i64>) -> Value {
    let groups: Map<String, Value> =
        groups.iter().map(|gid| (gid.to_string(), group_graph(state, *gid, only_db))).collect();
    json!({ "revision": state.data_revision, "groups": groups })
}

async fn data_graph(State(app): State<AppState>, Superuser(_): Superuser) -> ApiResult {
    let state = app.lock();
    let groups: Vec<i64> = state.groups.keys().copied().collect();
    ok(graph_json(&state, &groups, None))
}

async fn data_graph_for_db(State(app): State<AppState>, Superuser(_): Superuser, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let state = app.lock();
    let groups: Vec<i64> = state.groups.keys().copied().collect();
    ok(graph_json(&state, &groups, Some(id)))
}

async fn data_graph_for_group(
    State(app): State<AppState>,
    Superuser(_): Superuser,
    Path(id): Path<String>,
) -> ApiResult {
    let id = parse_id(&id)?;
    let state = app.lock();
    ok(graph_json(&state, &[id], None))
}

fn invalid_graph(detail: &str) -> ApiError {
    ApiError::bad_request(format!("Cannot parse permissions graph because it is invalid: {detail}"))
}

/// Validate one perm-type value; `Ok(None)` means "ignored" (legacy keys).
fn check_perm_value(perm: &str, value: &Value) -> Result<Option<Value>, ApiError> {
    let valid = match perm {
        "view-data" => {
            matches!(value.as_str(), Some("unrestricted" | "blocked" | "legacy-no-self-service")) || value.is_object()
        }
        "create-queries" => {
            matches!(value.as_str(), Some("query-builder-and-native" | "query-builder" | "no")) || value.is_object()
        }
        "download" => {
            matches!(value["schemas"].as_str(), Some("full" | "limited" | "none")) || value["schemas"].is_object()
        }
        "data-model" => matches!(value["schemas"].as_str(), Some("all" | "none")) || value["schemas"].is_object(),
        "details" => matches!(value.as_str(), Some("yes" | "no")),
        "transforms" => matches!(value.as_str(), Some("yes" | "no")),
        // §12: legacy `data`/`native`/`schemas` keys pass the schema but are ignored on 0.50+.
        "data" | "native" | "schemas" => return Ok(None),
        _ => false,
    };
    if valid {
        Ok(Some(value.clone()))
    } else {
        Err(invalid_graph(&format!("{{:{perm} [\"invalid value {value}\"]}}")))
    }
}

fn contains_blocked(value: &Value) -> bool {
    match value {
        Value::String(s) => s == "blocked",
        Value::Object(map) => map.values().any(contains_blocked),
        _ => false,
    }
}

async fn update_data_graph(
    State(app): State<AppState>,
    Superuser(_): Superuser,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let flags = GraphFlags::from_pairs(&pairs);
    let body = parse_body(&body)?;
    let Some(groups) = body["groups"].as_object() else {
        return Err(ApiError::invalid(
            json!({ "groups": "map from <integer> to map" }),
            json!({ "groups": ["missing required key"] }),
        ));
    };
    let mut state = app.lock();

    // 1. Schema: every value must parse; then the combination rule.
    let mut patch: Vec<(i64, i64, String, Value)> = Vec::new();
    for (gid, dbs) in groups {
        let gid: i64 = gid.parse().map_err(|_| invalid_graph("group ids must be integers"))?;
        let dbs = dbs.as_object().ok_or_else(|| invalid_graph("group value must be a map"))?;
        for (db_id, perms) in dbs {
            let db_id: i64 = db_id.parse().map_err(|_| invalid_graph("database ids must be integers"))?;
            let perms = perms.as_object().ok_or_else(|| invalid_graph("database value must be a map"))?;
            for (perm, value) in perms {
                if let Some(value) = check_perm_value(perm, value)? {
                    patch.push((gid, db_id, perm.clone(), value));
                }
            }
        }
    }
    let mut next = state.data_perms.clone();
    let admin = state.admin_group_id();
    let mut admin_touched = false;
    for (gid, db_id, perm, value) in &patch {
        if *gid == admin {
            admin_touched |= admin_db_perms().get(perm) != Some(value);
            continue;
        }
        next.entry(*gid).or_default().entry(*db_id).or_default().insert(perm.clone(), value.clone());
    }
    for (gid, dbs) in &next {
        for (db_id, perms) in dbs {
            let blocked = perms.get("view-data").is_some_and(|v| v == "blocked");
            let native = perms.get("create-queries").is_some_and(|v| v == "query-builder-and-native");
            if blocked && native {
                return Err(invalid_graph(&format!(
                    "group {gid}, database {db_id}: query-builder-and-native requires view-data other than blocked"
                )));
            }
        }
    }
    // 2. Revision check (before anything is applied), §11/§12.
    flags.check_revision(&body, state.data_revision)?;
    // 3. Guards on what would actually be written.
    if admin_touched {
        return Err(ApiError::bad_request(ADMIN_GUARD));
    }
    if patch.iter().any(|(g, _, _, v)| *g != admin && contains_blocked(v)) {
        return Err(ApiError::text(StatusCode::PAYMENT_REQUIRED, BLOCKED_NEEDS_TOKEN));
    }
    for (gid, _, _, _) in &patch {
        if !state.groups.contains_key(gid) {
            return Err(ApiError::server(format!("Group {gid} does not exist.")));
        }
    }
    state.data_perms = next;
    state.data_revision += 1;
    if flags.skip_graph {
        return ok(json!({ "revision": state.data_revision }));
    }
    let mut sent: Vec<i64> = groups.keys().filter_map(|g| g.parse().ok()).collect();
    sent.sort_unstable();
    sent.dedup();
    ok(graph_json(&state, &sent, None))
}
