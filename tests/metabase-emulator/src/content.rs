//! Shared rendering and permission helpers for dashboards and cards (§14, §19.2–§19.4).

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::auth::{Caller, can_read_collection, can_write_collection};
use crate::http::{ApiError, ApiResult, ok};
use crate::state::{Card, Collection, DashCard, Dashboard, State, iso, location_ids};

/// §19.3: the parameter types Metabase's schema accepts.
const PARAMETER_TYPES: &[&str] = &[
    "category",
    "id",
    "text",
    "number",
    "date",
    "boolean",
    "location/city",
    "location/state",
    "location/zip_code",
    "location/country",
    "date/single",
    "date/range",
    "date/month-year",
    "date/quarter-year",
    "date/relative",
    "date/all-options",
    "temporal-unit",
    "number/=",
    "number/!=",
    "number/<=",
    "number/>=",
    "number/between",
    "string/=",
    "string/!=",
    "string/contains",
    "string/does-not-contain",
    "string/starts-with",
    "string/ends-with",
    "boolean/=",
];

/// §14: the 400 body of a malformed `embedding_params` map.
pub const EMBEDDING_PARAMS_MESSAGE: &str = "nullable value must be a valid embedding params map.";
/// §14: changing embedding while static embedding is off.
pub const EMBEDDING_DISABLED: &str = "Embedding is not enabled.";

pub fn can_read_card(state: &State, caller: &Caller, card: &Card) -> bool {
    can_read_collection(state, caller.user_id, card.collection_id)
}

pub fn can_write_card(state: &State, caller: &Caller, card: &Card) -> bool {
    can_write_collection(state, caller.user_id, card.collection_id)
}

pub fn can_read_dashboard(state: &State, caller: &Caller, dash: &Dashboard) -> bool {
    can_read_collection(state, caller.user_id, dash.collection_id)
}

pub fn can_write_dashboard(state: &State, caller: &Caller, dash: &Dashboard) -> bool {
    can_write_collection(state, caller.user_id, dash.collection_id)
}

/// A path segment that is a numeric id or a 21-character entity id.
pub fn find_dashboard_id(state: &State, reference: &str) -> Option<i64> {
    match reference.parse::<i64>() {
        Ok(id) => state.dashboards.contains_key(&id).then_some(id),
        Err(_) => state.dashboards.values().find(|d| d.entity_id == reference).map(|d| d.id),
    }
}

/// Same as [`find_dashboard_id`] for cards.
pub fn find_card_id(state: &State, reference: &str) -> Option<i64> {
    match reference.parse::<i64>() {
        Ok(id) => state.cards.contains_key(&id).then_some(id),
        Err(_) => state.cards.values().find(|c| c.entity_id == reference).map(|c| c.id),
    }
}

/// `{id, email, first_name, last_name, timestamp}` of §9.
pub fn last_edit_info(state: &State, user_id: i64, at: OffsetDateTime) -> Value {
    match state.users.get(&user_id) {
        Some(u) => json!({
            "id": u.id,
            "email": u.email,
            "first_name": u.first_name,
            "last_name": u.last_name,
            "timestamp": iso(at),
        }),
        None => Value::Null,
    }
}

/// A collection as hydrated into cards and dashboards (`collection`); `null` for the root.
pub fn collection_summary(state: &State, id: Option<i64>) -> Value {
    match id.and_then(|id| state.collections.get(&id)) {
        Some(c) => collection_core(c),
        None => Value::Null,
    }
}

/// The raw collection row (as `collection_json` renders it) plus `is_personal`.
pub fn collection_core(c: &Collection) -> Value {
    let mut v = crate::routes::collections::collection_json(c);
    v["is_personal"] = json!(c.personal_owner_id.is_some());
    v
}

/// The root pseudo-collection as `GET /api/collection/` lists it.
pub fn root_collection(state: &State, caller: &Caller) -> Value {
    crate::routes::collections::root_json(state, caller.user_id)
}

/// The location with unreadable ancestors removed (Metabase's `effective_location`).
pub fn effective_location(state: &State, caller: &Caller, c: &Collection) -> String {
    let ids: Vec<String> = location_ids(&c.location)
        .into_iter()
        .filter(|id| can_read_collection(state, caller.user_id, Some(*id)))
        .map(|id| id.to_string())
        .collect();
    if ids.is_empty() { "/".to_string() } else { format!("/{}/", ids.join("/")) }
}

/// A collection as the listing endpoints render it (§19.2): row plus `can_write`, `parent_id`….
pub fn collection_listing(state: &State, caller: &Caller, c: &Collection) -> Value {
    crate::routes::collections::collection_details(state, c, caller.user_id)
}

/// Legacy `dataset_query` → MBQL 5 (§19.4: storage and responses use MBQL 5 since 0.57).
pub fn to_mbql5(query: &Value) -> Value {
    if query.get("stages").is_some() || !query.is_object() {
        return query.clone();
    }
    let database = query.get("database").cloned().unwrap_or(Value::Null);
    let stage = match query.get("type").and_then(Value::as_str) {
        Some("native") => {
            let native = query.get("native").cloned().unwrap_or_else(|| json!({}));
            let mut stage = Map::new();
            stage.insert("lib/type".into(), json!("mbql.stage/native"));
            stage.insert("native".into(), native.get("query").cloned().unwrap_or(Value::Null));
            if let Some(Value::Object(rest)) = Some(native) {
                for (k, v) in rest {
                    if k != "query" {
                        stage.insert(k, v);
                    }
                }
            }
            stage.entry("template-tags").or_insert_with(|| json!({}));
            Value::Object(stage)
        }
        _ => {
            let mut stage = Map::new();
            stage.insert("lib/type".into(), json!("mbql.stage/mbql"));
            if let Some(Value::Object(inner)) = query.get("query") {
                for (k, v) in inner {
                    stage.insert(k.clone(), v.clone());
                }
            }
            Value::Object(stage)
        }
    };
    json!({ "lib/type": "mbql/query", "database": database, "stages": [stage] })
}

/// MBQL 5 → legacy, for `GET /api/card/:id?legacy-mbql=true`.
pub fn to_legacy(query: &Value) -> Value {
    let Some(stage) = query.get("stages").and_then(|s| s.get(0)) else {
        return query.clone();
    };
    let database = query.get("database").cloned().unwrap_or(Value::Null);
    let mut rest: Map<String, Value> = stage.as_object().cloned().unwrap_or_default();
    rest.remove("lib/type");
    if stage.get("lib/type").and_then(Value::as_str) == Some("mbql.stage/native") {
        let sql = rest.remove("native").unwrap_or(Value::Null);
        let mut native = Map::new();
        native.insert("query".into(), sql);
        native.extend(rest);
        json!({ "database": database, "type": "native", "native": native })
    } else {
        json!({ "database": database, "type": "query", "query": rest })
    }
}

/// `(database_id, table_id, query_type)` derived from a stored MBQL 5 query.
pub fn query_facts(query: &Value) -> (Option<i64>, Option<i64>, Option<String>) {
    let database = query.get("database").and_then(Value::as_i64);
    let stage = query.get("stages").and_then(|s| s.get(0));
    let native = stage.and_then(|s| s.get("lib/type")).and_then(Value::as_str) == Some("mbql.stage/native");
    let table = stage.and_then(|s| s.get("source-table")).and_then(Value::as_i64);
    let kind = if native { "native" } else { "query" };
    (database, table, Some(kind.to_string()))
}

/// Number of dashcards (series included) that use a card.
pub fn dashboard_count(state: &State, card_id: i64) -> usize {
    state
        .dashboards
        .values()
        .flat_map(|d| d.dashcards.iter())
        .filter(|dc| dc.card_id == Some(card_id) || dc.series.contains(&card_id))
        .count()
}

/// A full card (§19.4 response shape).
pub fn card_json(state: &State, caller: &Caller, card: &Card) -> Value {
    let mut v = json!({
        "id": card.id,
        "entity_id": card.entity_id,
        "name": card.name,
        "description": card.description,
        "display": card.display,
        "dataset_query": card.dataset_query,
        "visualization_settings": card.visualization_settings,
        "parameters": card.parameters,
        "parameter_mappings": card.parameter_mappings,
        "collection_id": card.collection_id,
        "collection": collection_summary(state, card.collection_id),
        "collection_position": card.collection_position,
        "dashboard_id": card.dashboard_id,
        "database_id": card.database_id,
        "table_id": card.table_id,
        "query_type": card.query_type,
        "type": card.card_type,
        "enable_embedding": card.enable_embedding,
        "embedding_params": card.embedding_params,
        "archived": card.archived,
        "archived_directly": card.archived_directly,
        "result_metadata": card.result_metadata,
        "cache_ttl": card.cache_ttl,
        "public_uuid": card.public_uuid,
        "creator_id": card.creator_id,
        "creator": state.user_summary(card.creator_id),
        "made_public_by_id": null,
        "can_write": can_write_card(state, caller, card),
        "dashboard_count": dashboard_count(state, card.id),
        "last-edit-info": last_edit_info(state, card.creator_id, card.updated_at),
        "created_at": iso(card.created_at),
        "updated_at": iso(card.updated_at),
    });
    if let Some(dash) = card.dashboard_id.and_then(|id| state.dashboards.get(&id)) {
        v["dashboard"] = json!({ "id": dash.id, "name": dash.name, "moderation_status": null });
    }
    v
}

/// One dashcard with its hydrated `card` and `series` (§19.3).
pub fn dashcard_json(state: &State, caller: &Caller, dc: &DashCard) -> Value {
    let render = |id: i64| match state.cards.get(&id) {
        Some(card) if can_read_card(state, caller, card) => card_json(state, caller, card),
        _ => json!({ "id": id }),
    };
    let card = dc.card_id.map_or(Value::Null, render);
    let series: Vec<Value> = dc.series.iter().map(|id| render(*id)).collect();
    json!({
        "id": dc.id,
        "dashboard_id": dc.dashboard_id,
        "card_id": dc.card_id,
        "card": card,
        "series": series,
        "parameter_mappings": dc.parameter_mappings,
        "visualization_settings": dc.visualization_settings,
        "dashboard_tab_id": dc.dashboard_tab_id,
        "row": dc.row,
        "col": dc.col,
        "size_x": dc.size_x,
        "size_y": dc.size_y,
        "action_id": dc.action_id,
        "entity_id": dc.entity_id,
        "created_at": iso(dc.created_at),
        "updated_at": iso(dc.updated_at),
    })
}

/// Dashcards that `GET /api/dashboard/:id` shows: cards in the Trash are hidden.
pub fn visible_dashcards<'a>(state: &'a State, dash: &'a Dashboard) -> Vec<&'a DashCard> {
    let mut cards: Vec<&DashCard> = dash
        .dashcards
        .iter()
        .filter(|dc| dc.card_id.is_none_or(|id| state.cards.get(&id).is_some_and(|c| !c.archived)))
        .collect();
    cards.sort_by_key(|dc| (dc.dashboard_tab_id, dc.row, dc.col, dc.id));
    cards
}

/// The raw dashboard row (§19.2 listing element, §19.4 copy response).
pub fn dashboard_row(dash: &Dashboard) -> Value {
    json!({
        "id": dash.id,
        "entity_id": dash.entity_id,
        "name": dash.name,
        "description": dash.description,
        "collection_id": dash.collection_id,
        "collection_position": dash.collection_position,
        "parameters": dash.parameters,
        "enable_embedding": dash.enable_embedding,
        "embedding_params": dash.embedding_params,
        "embedding_type": dash.embedding_type,
        "archived": dash.archived,
        "archived_directly": dash.archived_directly,
        "public_uuid": dash.public_uuid,
        "made_public_by_id": null,
        "cache_ttl": dash.cache_ttl,
        "width": dash.width,
        "auto_apply_filters": dash.auto_apply_filters,
        "creator_id": dash.creator_id,
        "position": null,
        "points_of_interest": null,
        "caveats": null,
        "show_in_getting_started": false,
        "created_at": iso(dash.created_at),
        "updated_at": iso(dash.updated_at),
    })
}

/// `GET /api/dashboard/:id` and the PUT response (§14, §19.3).
pub fn dashboard_json(state: &State, caller: &Caller, dash: &Dashboard) -> Value {
    let mut v = dashboard_row(dash);
    let mut tabs: Vec<_> = dash.tabs.iter().collect();
    tabs.sort_by_key(|t| (t.position, t.id));
    v["tabs"] = json!(
        tabs.iter()
            .map(|t| json!({
                "id": t.id,
                "dashboard_id": t.dashboard_id,
                "name": t.name,
                "position": t.position,
                "entity_id": t.entity_id,
                "created_at": iso(t.created_at),
                "updated_at": iso(t.updated_at),
            }))
            .collect::<Vec<_>>()
    );
    v["dashcards"] = json!(
        visible_dashcards(state, dash).into_iter().map(|dc| dashcard_json(state, caller, dc)).collect::<Vec<_>>()
    );
    v["collection"] = collection_summary(state, dash.collection_id);
    v["can_write"] = json!(can_write_dashboard(state, caller, dash));
    v["can_restore"] = json!(dash.archived && can_write_dashboard(state, caller, dash));
    v["can_delete"] = json!(dash.archived && caller.is_superuser);
    v["last-edit-info"] = last_edit_info(state, dash.creator_id, dash.updated_at);
    v["param_fields"] = json!({});
    v["param_values"] = Value::Null;
    v["collection_authority_level"] = Value::Null;
    v
}

/// Validate a `parameters` list (§19.3: each a map with string `id` and a known `type`).
pub fn check_parameters(value: &Value) -> Result<Vec<Value>, ApiError> {
    let err = || {
        ApiError::invalid(
            json!({ "parameters": "nullable sequence of parameter must be a map with :id and :type keys" }),
            json!({ "parameters": ["invalid type"] }),
        )
    };
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => {
            for p in items {
                let id_ok = p.get("id").and_then(Value::as_str).is_some();
                let type_ok = p.get("type").and_then(Value::as_str).is_some_and(|t| PARAMETER_TYPES.contains(&t));
                if !id_ok || !type_ok {
                    return Err(err());
                }
            }
            Ok(items.clone())
        }
        _ => Err(err()),
    }
}

/// Validate `embedding_params`: `null` or a map of `disabled|enabled|locked` (§14).
pub fn check_embedding_params(value: &Value) -> Result<(), ApiError> {
    let ok = match value {
        Value::Null => true,
        Value::Object(map) => map.values().all(|v| matches!(v.as_str(), Some("disabled" | "enabled" | "locked"))),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            json!({ "embedding_params": EMBEDDING_PARAMS_MESSAGE }),
            json!({ "embedding_params": ["invalid type"] }),
        ))
    }
}

/// The current embedding fields of an object.
pub struct EmbeddingFields<'a> {
    pub enable_embedding: bool,
    pub embedding_params: &'a Option<Value>,
    pub embedding_type: Option<&'a str>,
}

/// §14 check order for embedding edits: a real change needs static embedding on (400), then a superuser (403).
/// Identical values are not a change and pass for any writer.
pub fn check_embedding_change(
    state: &State,
    caller: &Caller,
    body: &Value,
    current: &EmbeddingFields<'_>,
) -> Result<(), ApiError> {
    let mut changed = false;
    if let Some(v) = body.get("enable_embedding") {
        changed |= v.as_bool() != Some(current.enable_embedding);
    }
    if let Some(v) = body.get("embedding_params") {
        changed |= *v != current.embedding_params.clone().unwrap_or(Value::Null);
    }
    if let Some(v) = body.get("embedding_type") {
        changed |= v.as_str() != current.embedding_type;
    }
    if !changed {
        return Ok(());
    }
    if !state.setting_bool("enable-embedding-static") {
        return Err(ApiError::bad_request(EMBEDDING_DISABLED));
    }
    if !caller.is_superuser {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

/// `GET /api/card/embeddable` and `GET /api/dashboard/embeddable`: superuser first, then the
/// global switch (Metabase's order), then `{id, name}` of every embeddable, unarchived item.
///
/// # Errors
/// 403 for a non-superuser, 400 while static embedding is off.
pub fn embeddable_list<'a>(
    state: &State,
    caller: &Caller,
    items: impl Iterator<Item = (i64, &'a str, bool, bool)>,
) -> ApiResult {
    if !caller.is_superuser {
        return Err(ApiError::forbidden());
    }
    if !state.setting_bool("enable-embedding-static") {
        return Err(ApiError::bad_request(EMBEDDING_DISABLED));
    }
    let items: Vec<Value> = items
        .filter(|(_, _, enabled, archived)| *enabled && !*archived)
        .map(|(id, name, _, _)| json!({ "id": id, "name": name }))
        .collect();
    ok(json!(items))
}

/// A JSON value that must be a boolean when present.
pub fn check_bool(body: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid(json!({ key: "nullable boolean" }), json!({ key: ["should be a boolean"] }))),
    }
}

/// `collection_id` in a body: `null`/absent → root, a positive int (or entity id) that must exist.
/// Returns `Ok(None)` when the key is absent, `Ok(Some(None))` for root.
pub fn body_collection(state: &State, body: &Value) -> Result<Option<Option<i64>>, ApiError> {
    match body.get("collection_id") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(n)) => {
            let id = n.as_i64().filter(|id| *id > 0).ok_or_else(|| {
                ApiError::invalid(
                    json!({ "collection_id": "nullable value must be an integer greater than zero." }),
                    json!({ "collection_id": ["value must be an integer greater than zero."] }),
                )
            })?;
            if state.collections.contains_key(&id) { Ok(Some(Some(id))) } else { Err(ApiError::not_found()) }
        }
        Some(Value::String(s)) => match state.collection_by_ref(s) {
            Some(c) => Ok(Some(Some(c.id))),
            None => Err(ApiError::not_found()),
        },
        Some(_) => Err(ApiError::invalid(
            json!({ "collection_id": "nullable value must be an integer greater than zero." }),
            json!({ "collection_id": ["value must be an integer greater than zero."] }),
        )),
    }
}

/// `collection_id` in an update body (see [`body_collection`]); moving the object to another
/// collection also needs write access to that collection.
///
/// # Errors
/// The collection is invalid or missing (see [`body_collection`]), or the caller may not write it (403).
pub fn move_target(
    state: &State,
    caller: &Caller,
    body: &Value,
    current: Option<i64>,
) -> Result<Option<Option<i64>>, ApiError> {
    let target = body_collection(state, body)?;
    if let Some(target) = target {
        if target != current && !can_write_collection(state, caller.user_id, target) {
            return Err(ApiError::forbidden());
        }
    }
    Ok(target)
}

/// A required non-blank string.
pub fn non_blank<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

/// An optional string-or-null field.
pub fn opt_string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Mark a write: `updated_at` and the search index queue (§19.1).
pub fn touch_dashboard(state: &mut State, id: i64) {
    let now = state.now();
    if let Some(d) = state.dashboards.get_mut(&id) {
        d.updated_at = now;
    }
    state.note_search_write("dashboard", id);
}

/// Same as [`touch_dashboard`] for cards.
pub fn touch_card(state: &mut State, id: i64) {
    let now = state.now();
    if let Some(c) = state.cards.get_mut(&id) {
        c.updated_at = now;
    }
    state.note_search_write("card", id);
}

/// Search model of a card: `card`, `dataset` (models) or `metric`.
pub fn card_model(card: &Card) -> &'static str {
    match card.card_type.as_str() {
        "model" => "dataset",
        "metric" => "metric",
        _ => "card",
    }
}
