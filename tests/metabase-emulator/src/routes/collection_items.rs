//! `GET /api/collection/:id/items` and `/api/collection/root/items` (§9, §19.2): the paged, per-collection lister.

use std::cmp::Ordering;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::auth::{Auth, Caller, can_read_collection, can_write_collection};
use crate::content::{card_model, dashboard_count, effective_location, last_edit_info};
use crate::http::{ApiError, ApiResult, Paging, ok, query_pairs, query_value};
use crate::routes::listings::query_bool;
use crate::state::{AppState, State as Db};

/// §9: every model the endpoint accepts; the emulator stores only the first five.
const MODELS: &[&str] = &[
    "collection",
    "dataset",
    "metric",
    "card",
    "dashboard",
    "pulse",
    "snippet",
    "timeline",
    "document",
    "table",
    "transform",
    "no_models",
];
const MODELS_MESSAGE: &str = "nullable vector of enum of collection, dataset, metric, card, dashboard, pulse, snippet, timeline, document, table, transform, no_models";
/// What an unfiltered request reports in `models`.
const DEFAULT_MODELS: &[&str] = &["collection", "dataset", "metric", "card", "dashboard", "pulse", "timeline"];
const SORT_COLUMNS: &[&str] = &["name", "last_edited_at", "last_edited_by", "model", "description"];

pub fn router() -> Router<AppState> {
    Router::new().route("/api/collection/{id}/items", get(items))
}

fn invalid(key: &str, message: &str) -> ApiError {
    ApiError::invalid(json!({ key: message }), json!({ key: [message] }))
}

/// One listed item with the keys used for sorting.
struct Item {
    model: &'static str,
    id: i64,
    name: String,
    description: Option<String>,
    edited_at: OffsetDateTime,
    editor: String,
    body: Value,
}

fn base_item(
    db: &Db,
    caller: &Caller,
    model: &'static str,
    id: i64,
    name: &str,
    collection: Option<i64>,
    archived: bool,
) -> Value {
    let can_write = can_write_collection(db, caller.user_id, collection);
    json!({
        "id": id,
        "name": name,
        "model": model,
        "collection_id": collection,
        "archived": archived,
        "can_write": can_write,
        "can_delete": archived && caller.is_superuser,
        "can_restore": archived && can_write,
    })
}

async fn items(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(reference): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let mut models: Vec<&str> = Vec::new();
    for (_, m) in pairs.iter().filter(|(k, _)| k == "models") {
        if !MODELS.contains(&m.as_str()) {
            return Err(invalid("models", MODELS_MESSAGE));
        }
        if !models.contains(&m.as_str()) {
            models.push(m.as_str());
        }
    }
    let archived = query_bool(&pairs, "archived")?.unwrap_or(false);
    let show_dq = query_bool(&pairs, "show_dashboard_questions")?.unwrap_or(false);
    query_bool(&pairs, "official_collections_first")?;
    let pinned = query_value(&pairs, "pinned_state").unwrap_or("all");
    if !matches!(pinned, "all" | "is_pinned" | "is_not_pinned") {
        return Err(invalid("pinned_state", "nullable enum of all, is_pinned, is_not_pinned"));
    }
    let sort_column = query_value(&pairs, "sort_column").unwrap_or("name");
    if !SORT_COLUMNS.contains(&sort_column) {
        return Err(invalid(
            "sort_column",
            "nullable enum of name, last_edited_at, last_edited_by, model, description",
        ));
    }
    let descending = match query_value(&pairs, "sort_direction") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(invalid("sort_direction", "nullable enum of asc, desc")),
    };
    let paging = Paging::from_query(&pairs)?;

    let db = app.lock();
    let coll: Option<i64> = if reference == "root" {
        None
    } else {
        let c = db.collection_by_ref(&reference).ok_or_else(ApiError::not_found)?;
        if !can_read_collection(&db, caller.user_id, Some(c.id)) {
            return Err(ApiError::forbidden());
        }
        Some(c.id)
    };
    let wanted = |m: &str| models.is_empty() || models.contains(&m);
    let pin_ok = |pos: Option<i64>| match pinned {
        "is_pinned" => pos.is_some(),
        "is_not_pinned" => pos.is_none(),
        _ => true,
    };
    // Root content needs read on root; child collections are listed by their own permission.
    let content_readable = can_read_collection(&db, caller.user_id, coll);
    let mut out: Vec<Item> = Vec::new();

    if wanted("collection") {
        let location = match coll {
            None => "/".to_string(),
            Some(id) => format!("{}{id}/", db.collections[&id].location),
        };
        for c in db.collections.values() {
            let is_child = c.location == location;
            // Personal collections are not items of the root (§9: they sit outside "Our analytics").
            if !is_child || c.archived != archived || (coll.is_none() && c.personal_owner_id.is_some()) {
                continue;
            }
            if !can_read_collection(&db, caller.user_id, Some(c.id)) || c.namespace.is_some() {
                continue;
            }
            let mut body = base_item(&db, &caller, "collection", c.id, &c.name, coll, c.archived);
            body["description"] = json!(c.description);
            body["entity_id"] = json!(c.entity_id);
            body["collection_position"] = Value::Null;
            body["location"] = json!(c.location);
            body["effective_location"] = json!(effective_location(&db, &caller, c));
            body["authority_level"] = json!(c.authority_level);
            body["type"] = json!(c.collection_type);
            body["personal_owner_id"] = json!(c.personal_owner_id);
            let here: Vec<&str> = db
                .cards
                .values()
                .filter(|k| k.collection_id == Some(c.id) && !k.archived && k.dashboard_id.is_none())
                .map(card_model)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            body["here"] = json!(here);
            body["below"] = json!([]);
            body["last-edit-info"] = Value::Null;
            out.push(Item {
                model: "collection",
                id: c.id,
                name: c.name.clone(),
                description: c.description.clone(),
                edited_at: c.created_at,
                editor: String::new(),
                body,
            });
        }
    }
    if content_readable && wanted("dashboard") {
        for d in db.dashboards.values() {
            if d.collection_id != coll || d.archived != archived || !pin_ok(d.collection_position) {
                continue;
            }
            let mut body = base_item(&db, &caller, "dashboard", d.id, &d.name, coll, d.archived);
            body["description"] = json!(d.description);
            body["entity_id"] = json!(d.entity_id);
            body["collection_position"] = json!(d.collection_position);
            body["location"] = Value::Null;
            body["last_used_at"] = Value::Null;
            body["moderated_status"] = Value::Null;
            body["last-edit-info"] = last_edit_info(&db, d.creator_id, d.updated_at);
            out.push(Item {
                model: "dashboard",
                id: d.id,
                name: d.name.clone(),
                description: d.description.clone(),
                edited_at: d.updated_at,
                editor: db.users.get(&d.creator_id).map(|u| u.common_name()).unwrap_or_default(),
                body,
            });
        }
    }
    if content_readable {
        for c in db.cards.values() {
            let model = card_model(c);
            if !wanted(model) || c.collection_id != coll || c.archived != archived {
                continue;
            }
            if (c.dashboard_id.is_some() && !show_dq) || !pin_ok(c.collection_position) {
                continue;
            }
            let mut body = base_item(&db, &caller, model, c.id, &c.name, coll, c.archived);
            body["description"] = json!(c.description);
            body["entity_id"] = json!(c.entity_id);
            body["collection_position"] = json!(c.collection_position);
            body["display"] = json!(c.display);
            body["database_id"] = json!(c.database_id);
            body["dashboard_id"] = json!(c.dashboard_id);
            body["fully_parameterized"] = json!(true);
            body["dashboard_count"] = json!(dashboard_count(&db, c.id));
            body["moderated_status"] = Value::Null;
            body["last_used_at"] = Value::Null;
            body["last-edit-info"] = last_edit_info(&db, c.creator_id, c.updated_at);
            if let Some(dash) = c.dashboard_id.and_then(|id| db.dashboards.get(&id)) {
                body["dashboard"] = json!({ "id": dash.id, "name": dash.name, "moderation_status": null });
            }
            out.push(Item {
                model,
                id: c.id,
                name: c.name.clone(),
                description: c.description.clone(),
                edited_at: c.updated_at,
                editor: db.users.get(&c.creator_id).map(|u| u.common_name()).unwrap_or_default(),
                body,
            });
        }
    }

    let key_order = |a: &Item, b: &Item| -> Ordering {
        let primary = match sort_column {
            "last_edited_at" => a.edited_at.cmp(&b.edited_at),
            "last_edited_by" => a.editor.to_lowercase().cmp(&b.editor.to_lowercase()),
            "model" => a.model.cmp(b.model),
            "description" => {
                a.description.as_deref().map(str::to_lowercase).cmp(&b.description.as_deref().map(str::to_lowercase))
            }
            _ => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
        };
        let primary = if descending { primary.reverse() } else { primary };
        primary
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.model.cmp(b.model))
            .then_with(|| a.id.cmp(&b.id))
    };
    out.sort_by(key_order);
    let total = out.len();
    let data: Vec<Value> = paging.apply(out).into_iter().map(|i| i.body).collect();
    let reported: Vec<&str> = if models.is_empty() { DEFAULT_MODELS.to_vec() } else { models };
    ok(json!({
        "total": total,
        "data": data,
        "models": reported,
        "limit": paging.limit_json(),
        "offset": paging.offset_json(),
    }))
}
