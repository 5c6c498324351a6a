//! Collections CRUD (§9): create under a writable parent, root, get with ancestors, update/move/archive,
//! hard delete. Items, list and tree live in `collection_items.rs` and `listings.rs`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::auth::{Auth, Superuser, can_read_collection, can_write_collection};
use crate::http::{ApiError, ApiResult, no_content, ok, parse_body};
use crate::routes::setup::non_blank;
use crate::state::{Access, AppState, Collection, State as Db, iso, new_entity_id, slugify};

const NON_BLANK: &str = "value must be a non-blank string.";
const PERSONAL_ARCHIVE: &str = "You cannot archive a Personal Collection.";
const PERSONAL_MOVE: &str = "You cannot move a Personal Collection.";
const NOT_TRASHED: &str = "Collection must be trashed before deletion.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/collection", post(create_collection))
        .route("/api/collection/", post(create_collection))
        .route("/api/collection/root", get(root_collection))
        .route("/api/collection/{id}", get(get_collection).put(update_collection).delete(delete_collection))
}

/// The raw collection row.
pub fn collection_json(coll: &Collection) -> Value {
    json!({
        "id": coll.id,
        "name": coll.name,
        "description": coll.description,
        "slug": coll.slug,
        "location": coll.location,
        "personal_owner_id": coll.personal_owner_id,
        "archived": coll.archived,
        "archived_directly": if coll.archived { json!(true) } else { Value::Null },
        "archive_operation_id": null,
        "namespace": coll.namespace,
        "authority_level": coll.authority_level,
        "type": coll.collection_type,
        "entity_id": coll.entity_id,
        "created_at": iso(coll.created_at),
        "is_sample": false,
    })
}

/// The virtual root collection as `GET /api/collection/root` shows it to `user_id`.
pub fn root_json(state: &Db, user_id: i64) -> Value {
    json!({
        "id": "root",
        "name": "Our analytics",
        "authority_level": null,
        "is_personal": false,
        "parent_id": null,
        "effective_ancestors": [],
        "effective_location": null,
        "can_write": can_write_collection(state, user_id, None),
    })
}

/// The collection row plus the hydrations of `GET /api/collection/:id` for `user_id`.
pub fn collection_details(state: &Db, coll: &Collection, user_id: i64) -> Value {
    let readable_ancestors: Vec<i64> =
        coll.ancestor_ids().into_iter().filter(|a| can_read_collection(state, user_id, Some(*a))).collect();
    let mut ancestors = vec![json!({
        "id": "root",
        "name": "Our analytics",
        "can_write": can_write_collection(state, user_id, None),
    })];
    for id in &readable_ancestors {
        if let Some(a) = state.collections.get(id) {
            ancestors.push(json!({
                "id": a.id,
                "name": a.name,
                "type": a.collection_type,
                "personal_owner_id": a.personal_owner_id,
                "authority_level": a.authority_level,
                "can_write": can_write_collection(state, user_id, Some(a.id)),
            }));
        }
    }
    let effective_location = if readable_ancestors.is_empty() {
        "/".to_string()
    } else {
        let ids: Vec<String> = readable_ancestors.iter().map(i64::to_string).collect();
        format!("/{}/", ids.join("/"))
    };
    let can_write = can_write_collection(state, user_id, Some(coll.id));
    let is_personal = state.personal_owner_of(coll.id).is_some();
    let mut body = collection_json(coll);
    let extra = json!({
        "effective_location": effective_location,
        "effective_ancestors": ancestors,
        "can_write": can_write,
        "is_personal": is_personal,
        "parent_id": coll.parent_id(),
        "can_delete": can_write && coll.archived && state.is_superuser(user_id),
        "can_restore": can_write && coll.archived,
    });
    if let (Value::Object(target), Value::Object(extra)) = (&mut body, extra) {
        target.extend(extra);
    }
    body
}

/// Resolve `:id` (number or entity id), then 404 / 403 as §9 orders them.
fn readable_collection<'a>(state: &'a Db, reference: &str, user_id: i64) -> Result<&'a Collection, ApiError> {
    let coll = state.collection_by_ref(reference).ok_or_else(ApiError::not_found)?;
    if !can_read_collection(state, user_id, Some(coll.id)) {
        return Err(ApiError::forbidden());
    }
    Ok(coll)
}

/// Optional positive-integer parent id; `Err` carries the 400.
fn parse_parent(value: &Value) -> Result<Option<i64>, ApiError> {
    match value {
        Value::Null => Ok(None),
        v => v.as_i64().filter(|id| *id > 0).map(Some).ok_or_else(|| {
            ApiError::invalid(
                json!({ "parent_id": "nullable value must be an integer greater than zero." }),
                json!({ "parent_id": ["value must be an integer greater than zero."] }),
            )
        }),
    }
}

/// Copy-at-creation (§11): the new collection gets its parent's cells, or root's when top level;
/// nothing inside a personal tree. Returns whether any cell was written.
pub fn copy_parent_permissions(state: &mut Db, coll_id: i64, parent: Option<i64>) {
    if state.personal_owner_of(coll_id).is_some() {
        return;
    }
    let admin = state.admin_group_id();
    let inherited: Vec<(i64, Access)> = state
        .collection_perms
        .iter()
        .filter(|((g, c), _)| *c == parent && *g != admin)
        .map(|((g, _), a)| (*g, *a))
        .collect();
    for (gid, access) in inherited {
        state.collection_perms.insert((gid, Some(coll_id)), access);
    }
}

async fn create_collection(State(app): State<AppState>, Auth(caller): Auth, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let Some(name) = non_blank(&body["name"]).map(str::to_string) else {
        return Err(ApiError::invalid(json!({ "name": NON_BLANK }), json!({ "name": [NON_BLANK] })));
    };
    let description = match &body["description"] {
        Value::Null => None,
        v => Some(non_blank(v).map(str::to_string).ok_or_else(|| {
            ApiError::invalid(
                json!({ "description": format!("nullable {NON_BLANK}") }),
                json!({ "description": [NON_BLANK] }),
            )
        })?),
    };
    let parent = parse_parent(&body["parent_id"])?;
    let mut state = app.lock();
    let location = match parent {
        None => "/".to_string(),
        Some(pid) => {
            let p = state.collections.get(&pid).ok_or_else(ApiError::not_found)?;
            format!("{}{}/", p.location, p.id)
        }
    };
    if !can_write_collection(&state, caller.user_id, parent) {
        return Err(ApiError::forbidden());
    }
    let id = state.next_id("collection");
    let created_at = state.now();
    state.collections.insert(
        id,
        Collection {
            id,
            slug: slugify(&name),
            name,
            description,
            location,
            personal_owner_id: None,
            archived: false,
            entity_id: new_entity_id(),
            namespace: body["namespace"].as_str().map(str::to_string),
            authority_level: body["authority_level"].as_str().map(str::to_string),
            collection_type: body["type"].as_str().map(str::to_string),
            created_at,
        },
    );
    copy_parent_permissions(&mut state, id, parent);
    // §11/§17: since ~0.56 a (non-personal) creation bumps the collection-graph revision.
    if state.knobs.creation_bumps_revision && state.personal_owner_of(id).is_none() {
        state.collection_revision += 1;
    }
    state.note_search_write("collection", id);
    let coll = &state.collections[&id];
    ok(collection_json(coll))
}

async fn root_collection(State(app): State<AppState>, Auth(caller): Auth) -> ApiResult {
    let state = app.lock();
    ok(root_json(&state, caller.user_id))
}

async fn get_collection(State(app): State<AppState>, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    let state = app.lock();
    let coll = readable_collection(&state, &id, caller.user_id)?;
    ok(collection_details(&state, coll, caller.user_id))
}

/// Ids of `coll_id` and every collection below it.
fn subtree(state: &Db, coll_id: i64) -> Vec<i64> {
    let Some(coll) = state.collections.get(&coll_id) else {
        return Vec::new();
    };
    let prefix = format!("{}{}/", coll.location, coll.id);
    let mut ids = vec![coll_id];
    ids.extend(state.collections.values().filter(|c| c.location.starts_with(&prefix)).map(|c| c.id));
    ids
}

async fn update_collection(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let mut state = app.lock();
    let coll = readable_collection(&state, &id, caller.user_id)?.clone();
    if !can_write_collection(&state, caller.user_id, Some(coll.id)) {
        return Err(ApiError::forbidden());
    }
    if let Some(v) = body.get("name") {
        if non_blank(v).is_none() {
            return Err(ApiError::invalid(
                json!({ "name": format!("nullable {NON_BLANK}") }),
                json!({ "name": [NON_BLANK] }),
            ));
        }
    }
    let is_personal_root = coll.personal_owner_id.is_some();
    let archive = body["archived"].as_bool();
    if is_personal_root && archive == Some(true) {
        return Err(ApiError::bad_request(PERSONAL_ARCHIVE));
    }
    // A move: `parent_id` present and different from the current parent.
    let new_parent = if body.get("parent_id").is_some() {
        let parent = parse_parent(&body["parent_id"])?;
        (parent != coll.parent_id()).then_some(parent)
    } else {
        None
    };
    if let Some(parent) = new_parent {
        if is_personal_root {
            return Err(ApiError::bad_request(PERSONAL_MOVE));
        }
        if let Some(pid) = parent {
            if !state.collections.contains_key(&pid) {
                return Err(ApiError::not_found());
            }
            if subtree(&state, coll.id).contains(&pid) {
                return Err(ApiError::bad_request(
                    "You cannot move a Collection into itself or into one of its descendants.",
                ));
            }
        }
        if !can_write_collection(&state, caller.user_id, parent) {
            return Err(ApiError::forbidden());
        }
    }

    let members = subtree(&state, coll.id);
    let was_personal = state.personal_owner_of(coll.id).is_some();
    if let Some(parent) = new_parent {
        let new_location = match parent {
            None => "/".to_string(),
            Some(pid) => {
                let p = &state.collections[&pid];
                format!("{}{}/", p.location, p.id)
            }
        };
        let old_prefix = format!("{}{}/", coll.location, coll.id);
        let new_prefix = format!("{new_location}{}/", coll.id);
        for cid in &members {
            if let Some(c) = state.collections.get_mut(cid) {
                if c.id == coll.id {
                    c.location = new_location.clone();
                } else if let Some(rest) = c.location.strip_prefix(&old_prefix) {
                    c.location = format!("{new_prefix}{rest}");
                }
            }
        }
        let now_personal = state.personal_owner_of(coll.id).is_some();
        if was_personal != now_personal {
            if now_personal {
                state.collection_perms.retain(|(_, c), _| !c.is_some_and(|c| members.contains(&c)));
            } else {
                for cid in &members {
                    let parent_of = state.collections[cid].parent_id();
                    copy_parent_permissions(&mut state, *cid, parent_of);
                }
            }
            if state.knobs.creation_bumps_revision {
                state.collection_revision += 1;
            }
        }
    }
    if let Some(flag) = archive {
        for cid in &members {
            if let Some(c) = state.collections.get_mut(cid) {
                c.archived = flag;
            }
        }
    }
    if let Some(c) = state.collections.get_mut(&coll.id) {
        if let Some(name) = non_blank(&body["name"]) {
            c.name = name.to_string();
            c.slug = slugify(name);
        }
        if let Some(v) = body.get("description") {
            c.description = non_blank(v).map(str::to_string);
        }
        if let Some(v) = body.get("type") {
            c.collection_type = v.as_str().map(str::to_string);
        }
        if let Some(v) = body.get("authority_level") {
            c.authority_level = v.as_str().map(str::to_string);
        }
    }
    state.note_search_write("collection", coll.id);
    let coll = &state.collections[&coll.id];
    ok(collection_details(&state, coll, caller.user_id))
}

async fn delete_collection(State(app): State<AppState>, Superuser(_): Superuser, Path(id): Path<String>) -> ApiResult {
    let mut state = app.lock();
    let coll = state.collection_by_ref(&id).cloned().ok_or_else(ApiError::not_found)?;
    if !coll.archived {
        return Err(ApiError::bad_request(NOT_TRASHED));
    }
    let members = subtree(&state, coll.id);
    for cid in &members {
        state.collections.remove(cid);
    }
    state.collection_perms.retain(|(_, c), _| !c.is_some_and(|c| members.contains(&c)));
    let in_deleted = |c: Option<i64>| c.is_some_and(|c| members.contains(&c));
    state.dashboards.retain(|_, d| !in_deleted(d.collection_id));
    state.cards.retain(|_, c| !in_deleted(c.collection_id));
    no_content()
}
