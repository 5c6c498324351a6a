//! The collection permission graph (§11): sparse GET, partial-patch PUT with revision checks.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::auth::Superuser;
use crate::http::{ApiError, ApiResult, GraphFlags, ok, parse_body, query_pairs, query_value};
use crate::routes::permissions::ADMIN_GUARD;
use crate::state::{Access, AppState, CollectionKey, State as Db};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/collection/graph", get(get_graph).put(put_graph))
}

/// Collections that appear in the graph for `namespace`: not personal (nor inside a personal tree),
/// not archived, same namespace (§11).
fn graph_collections(state: &Db, namespace: Option<&str>) -> Vec<i64> {
    state
        .collections
        .values()
        .filter(|c| !c.archived)
        .filter(|c| c.namespace.as_deref() == namespace)
        .filter(|c| state.personal_owner_of(c.id).is_none())
        .map(|c| c.id)
        .collect()
}

fn cell_key(coll: CollectionKey) -> String {
    coll.map_or_else(|| "root".to_string(), |id| id.to_string())
}

/// The graph as `GET /api/collection/graph` returns it.
pub fn graph_json(state: &Db, namespace: Option<&str>) -> Value {
    let colls = graph_collections(state, namespace);
    let keys: Vec<CollectionKey> = std::iter::once(None).chain(colls.iter().map(|c| Some(*c))).collect();
    let admin = state.admin_group_id();
    let none_cells = state.knobs.graph_none_cells;
    let mut groups = Map::new();
    for gid in state.groups.keys().copied() {
        let mut cells = Map::new();
        for key in &keys {
            let access =
                if gid == admin { Some(Access::Write) } else { state.collection_perms.get(&(gid, *key)).copied() };
            match access {
                Some(a) => {
                    cells.insert(cell_key(*key), json!(a.as_str()));
                }
                // §17: before 0.56.13 "none" cells were listed instead of omitted.
                None if none_cells => {
                    cells.insert(cell_key(*key), json!("none"));
                }
                None => {}
            }
        }
        if !cells.is_empty() || none_cells {
            groups.insert(gid.to_string(), Value::Object(cells));
        }
    }
    json!({ "revision": state.collection_revision, "groups": groups })
}

fn namespace_param(pairs: &[(String, String)]) -> Option<String> {
    query_value(pairs, "namespace").filter(|s| !s.is_empty()).map(str::to_string)
}

async fn get_graph(State(app): State<AppState>, Superuser(_): Superuser, RawQuery(query): RawQuery) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let namespace = namespace_param(&pairs);
    let state = app.lock();
    ok(graph_json(&state, namespace.as_deref()))
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::invalid(json!({ field: message }), json!({ field: [message] }))
}

/// Parse the body's `groups` into `(group, collection) → Option<Access>` (None = "none").
fn parse_groups(groups: &Value) -> Result<BTreeMap<(i64, CollectionKey), Option<Access>>, ApiError> {
    const SHAPE: &str = "map from <integer> to map from <(root or integer)> to <enum of read, write, none>";
    let groups = groups.as_object().ok_or_else(|| invalid("groups", SHAPE))?;
    let mut out = BTreeMap::new();
    for (gid, cells) in groups {
        let gid: i64 = gid.parse().map_err(|_| invalid("groups", SHAPE))?;
        let cells = cells.as_object().ok_or_else(|| invalid("groups", SHAPE))?;
        for (key, value) in cells {
            let coll =
                if key == "root" { None } else { Some(key.parse::<i64>().map_err(|_| invalid("groups", SHAPE))?) };
            let access = match value.as_str() {
                Some("read") => Some(Access::Read),
                Some("write") => Some(Access::Write),
                Some("none") => None,
                _ => return Err(invalid("groups", SHAPE)),
            };
            out.insert((gid, coll), access);
        }
    }
    Ok(out)
}

async fn put_graph(
    State(app): State<AppState>,
    Superuser(_): Superuser,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let flags = GraphFlags::from_pairs(&pairs);
    let body = parse_body(&body)?;
    // 1. Schema.
    let cells = parse_groups(&body["groups"])?;
    if !(body["revision"].is_null() || body["revision"].is_i64()) {
        return Err(invalid("revision", "nullable integer"));
    }
    let namespace = body["namespace"].as_str().map(str::to_string).or_else(|| namespace_param(&pairs));
    let mut state = app.lock();
    // 2. Revision: must equal the current one unless forced; runs even when nothing would change.
    flags.check_revision(&body, state.collection_revision)?;
    // 3. Diff against the current graph; personal and other-namespace collections drop silently.
    let admin = state.admin_group_id();
    let mut changes: Vec<((i64, CollectionKey), Option<Access>)> = Vec::new();
    for ((gid, coll), wanted) in cells {
        if let Some(id) = coll {
            let Some(c) = state.collections.get(&id) else {
                return Err(ApiError::server("Collection does not exist."));
            };
            if state.personal_owner_of(id).is_some() || c.namespace.as_deref() != namespace.as_deref() {
                continue;
            }
        }
        if !state.groups.contains_key(&gid) {
            return Err(ApiError::server(format!("Group {gid} does not exist.")));
        }
        let current =
            if gid == admin { Some(Access::Write) } else { state.collection_perms.get(&(gid, coll)).copied() };
        if current != wanted {
            if gid == admin {
                return Err(ApiError::bad_request(ADMIN_GUARD));
            }
            changes.push(((gid, coll), wanted));
        }
    }
    if !changes.is_empty() {
        for (cell, wanted) in changes {
            match wanted {
                Some(access) => {
                    state.collection_perms.insert(cell, access);
                }
                None => {
                    state.collection_perms.remove(&cell);
                }
            }
        }
        state.collection_revision += 1;
    }
    if flags.skip_graph {
        return ok(json!({ "revision": state.collection_revision }));
    }
    ok(graph_json(&state, namespace.as_deref()))
}
