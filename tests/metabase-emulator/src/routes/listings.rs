//! Bulk listings of §19.2: `GET /api/dashboard/`, `GET /api/card/`, `GET /api/collection/`, `GET /api/collection/tree`.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use serde_json::{Value, json};

use crate::auth::{Auth, Caller, can_read_collection};
use crate::content::{
    can_read_card, can_read_dashboard, card_json, card_model, collection_listing, dashboard_row, effective_location,
    last_edit_info, root_collection,
};
use crate::http::{ApiError, ApiResult, ok, query_pairs, query_value};
use crate::state::{AppState, Collection, State as Db};

const DASHBOARD_FILTERS: &str = "nullable enum of all, mine, archived";
const CARD_FILTERS: &str =
    "nullable enum of archived, table, using_model, database, all, mine, bookmarked, using_segment";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/dashboard/", get(list_dashboards))
        .route("/api/dashboard", get(list_dashboards))
        .route("/api/card/", get(list_cards))
        .route("/api/card", get(list_cards))
        .route("/api/collection/", get(list_collections))
        .route("/api/collection", get(list_collections))
        .route("/api/collection/tree", get(collection_tree))
}

fn invalid(key: &str, message: &str) -> ApiError {
    ApiError::invalid(json!({ key: message }), json!({ key: [message] }))
}

/// A boolean query parameter (`true`/`false`); anything else is a 400 for that key.
pub fn query_bool(pairs: &[(String, String)], key: &str) -> Result<Option<bool>, ApiError> {
    match query_value(pairs, key) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(invalid(key, "nullable boolean")),
    }
}

/// `GET /api/dashboard/`: plain array, lower-case name order, no `dashcards` (§19.2, case 25).
async fn list_dashboards(State(app): State<AppState>, Auth(caller): Auth, RawQuery(query): RawQuery) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let filter = query_value(&pairs, "f").unwrap_or("all");
    if !matches!(filter, "all" | "mine" | "archived") {
        return Err(invalid("f", DASHBOARD_FILTERS));
    }
    let db = app.lock();
    let mut dashboards: Vec<_> = db
        .dashboards
        .values()
        .filter(|d| match filter {
            "archived" => d.archived,
            "mine" => !d.archived && d.creator_id == caller.user_id,
            _ => !d.archived,
        })
        .filter(|d| can_read_dashboard(&db, &caller, d))
        .collect();
    dashboards.sort_by_key(|d| (d.name.to_lowercase(), d.id));
    let items: Vec<Value> = dashboards
        .into_iter()
        .map(|d| {
            let mut v = dashboard_row(d);
            v["creator"] = db.user_summary(d.creator_id);
            v["last-edit-info"] = last_edit_info(&db, d.creator_id, d.updated_at);
            v
        })
        .collect();
    ok(json!(items))
}

/// `GET /api/card/`: full cards, dashboard questions included (§19.2).
async fn list_cards(State(app): State<AppState>, Auth(caller): Auth, RawQuery(query): RawQuery) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let filter = query_value(&pairs, "f").unwrap_or("all");
    let known = ["all", "mine", "bookmarked", "database", "table", "using_model", "using_segment", "archived"];
    if !known.contains(&filter) {
        return Err(invalid("f", CARD_FILTERS));
    }
    let needs_model = matches!(filter, "database" | "table" | "using_model" | "using_segment");
    let model_id = match query_value(&pairs, "model_id") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| invalid("model_id", "nullable value must be an integer greater than zero."))?,
        ),
    };
    if needs_model && model_id.is_none() {
        return Err(ApiError::bad_request(format!("model_id is a required parameter when filter mode is '{filter}'")));
    }
    let db = app.lock();
    let uses_card = |query: &Value, id: i64| {
        let source = format!("card__{id}");
        query["stages"][0]["source-card"].as_i64() == Some(id)
            || query["stages"][0]["source-table"].as_str() == Some(source.as_str())
    };
    let mut cards: Vec<_> = db
        .cards
        .values()
        .filter(|c| match filter {
            "archived" => c.archived,
            "mine" => !c.archived && c.creator_id == caller.user_id,
            // The emulator has no bookmarks or segments.
            "bookmarked" | "using_segment" => false,
            "database" => !c.archived && c.database_id == model_id,
            "table" => !c.archived && c.table_id == model_id,
            "using_model" => !c.archived && model_id.is_some_and(|m| uses_card(&c.dataset_query, m)),
            _ => !c.archived,
        })
        .filter(|c| can_read_card(&db, &caller, c))
        .collect();
    cards.sort_by_key(|c| (c.name.to_lowercase(), c.id));
    let items: Vec<Value> = cards.into_iter().map(|c| card_json(&db, &caller, c)).collect();
    ok(json!(items))
}

/// Whether `c` sits in another user's personal tree.
fn in_other_personal(db: &Db, caller: &Caller, c: &Collection) -> bool {
    db.personal_owner_of(c.id).is_some_and(|owner| owner != caller.user_id)
}

fn namespace_matches(c: &Collection, namespace: Option<&str>) -> bool {
    c.namespace.as_deref() == namespace.filter(|n| !n.is_empty())
}

/// `GET /api/collection/`: root first, then readable collections, official first then by name (§19.2, case 26).
async fn list_collections(State(app): State<AppState>, Auth(caller): Auth, RawQuery(query): RawQuery) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let archived = query_bool(&pairs, "archived")?.unwrap_or(false);
    let personal_only = query_bool(&pairs, "personal-only")?.unwrap_or(false);
    let exclude_others = query_bool(&pairs, "exclude-other-user-collections")?.unwrap_or(false);
    let namespace = query_value(&pairs, "namespace");
    let db = app.lock();
    let mut colls: Vec<&Collection> = db
        .collections
        .values()
        .filter(|c| c.archived == archived)
        .filter(|c| namespace_matches(c, namespace))
        .filter(|c| can_read_collection(&db, caller.user_id, Some(c.id)))
        .filter(|c| !personal_only || c.personal_owner_id.is_some())
        .filter(|c| !exclude_others || !in_other_personal(&db, &caller, c))
        .collect();
    colls.sort_by_key(|c| (c.authority_level.as_deref() != Some("official"), c.name.to_lowercase(), c.id));
    let mut items = Vec::new();
    if !archived && !personal_only {
        items.push(root_collection(&db, &caller));
    }
    items.extend(colls.into_iter().map(|c| collection_listing(&db, &caller, c)));
    ok(json!(items))
}

/// Card-ish models directly in a collection (`here` of the tree; never dashboards).
fn cardish_models_in(db: &Db, coll: i64) -> BTreeSet<&'static str> {
    db.cards
        .values()
        .filter(|c| c.collection_id == Some(coll) && !c.archived && c.dashboard_id.is_none())
        .map(card_model)
        .collect()
}

/// `GET /api/collection/tree`: nested `children`; `here`/`below` never contain `dashboard` (§19.2, case 26).
async fn collection_tree(State(app): State<AppState>, Auth(caller): Auth, RawQuery(query): RawQuery) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let exclude_archived = query_bool(&pairs, "exclude-archived")?.unwrap_or(false);
    let exclude_others = query_bool(&pairs, "exclude-other-user-collections")?.unwrap_or(false);
    let shallow = query_bool(&pairs, "shallow")?.unwrap_or(false);
    let namespace = query_value(&pairs, "namespace");
    let parent = match query_value(&pairs, "collection-id") {
        None | Some("root") => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| invalid("collection-id", "nullable value must be an integer greater than zero."))?,
        ),
    };
    let db = app.lock();
    let visible: Vec<&Collection> = db
        .collections
        .values()
        .filter(|c| !exclude_archived || !c.archived)
        .filter(|c| namespace_matches(c, namespace))
        .filter(|c| can_read_collection(&db, caller.user_id, Some(c.id)))
        .filter(|c| !exclude_others || !in_other_personal(&db, &caller, c))
        .collect();
    // A collection hangs under its nearest readable ancestor (its effective location).
    let effective_parent = |c: &Collection| -> Option<i64> {
        crate::state::location_ids(&effective_location(&db, &caller, c)).last().copied()
    };
    fn build(
        db: &Db,
        caller: &Caller,
        visible: &[&Collection],
        parent_of: &dyn Fn(&Collection) -> Option<i64>,
        parent: Option<i64>,
        recurse: bool,
    ) -> (Vec<Value>, BTreeSet<&'static str>) {
        let mut nodes: Vec<&&Collection> = visible.iter().filter(|c| parent_of(c) == parent).collect();
        nodes.sort_by_key(|c| (c.name.to_lowercase(), c.id));
        let mut all_models = BTreeSet::new();
        let mut out = Vec::new();
        for c in nodes {
            let here = cardish_models_in(db, c.id);
            let (children, below) = if recurse {
                build(db, caller, visible, parent_of, Some(c.id), true)
            } else {
                (Vec::new(), BTreeSet::new())
            };
            let mut v = collection_listing(db, caller, c);
            v["here"] = json!(here);
            v["below"] = json!(below);
            v["children"] = json!(children);
            all_models.extend(here);
            all_models.extend(below);
            out.push(v);
        }
        (out, all_models)
    }
    let (tree, _) = build(&db, &caller, &visible, &effective_parent, parent, !shallow);
    ok(json!(tree))
}
