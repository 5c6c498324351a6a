//! Dashboards: create, get, partial PUT with the dashcard/tab diff, copy, embedding changes (§14, §19.3, §19.4).

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use crate::auth::{Auth, Caller, can_write_collection};
use crate::content::{
    EmbeddingFields, body_collection, can_read_card, can_read_dashboard, can_write_dashboard, card_json, check_bool,
    check_embedding_change, check_embedding_params, check_parameters, dashboard_json, dashboard_row, embeddable_list,
    find_dashboard_id, move_target, non_blank, opt_string, touch_card, touch_dashboard,
};
use crate::http::{ApiError, ApiResult, ok, parse_body};
use crate::state::{AppState, Card, DashCard, Dashboard, DashboardTab, State as Db, new_entity_id};

/// §19.4: the tab rule of the dashcard diff.
pub const EVERY_CARD_NEEDS_TAB: &str = "This dashboard has tab, makes sure every card has a tab";
/// §14: shallow copies cannot share dashboard questions.
pub const SHALLOW_COPY_DQ: &str =
    "You cannot do a shallow copy of this dashboard because it contains Dashboard Questions.";
/// Not quoted by the contract; worded after Metabase's check on foreign dashboard questions.
const FOREIGN_DASHBOARD_QUESTION: &str =
    "Invalid dashboard-internal card: a Dashboard Question can only be added to its own Dashboard.";
const DASHCARDS_SCHEMA: &str = "nullable sequence of map where {:id -> <integer>, :row -> <integer greater than or equal to zero>, :col -> <integer greater than or equal to zero>, :size_x -> <integer greater than zero>, :size_y -> <integer greater than zero>}";
const TABS_SCHEMA: &str = "nullable sequence of map where {:id -> <integer>, :name -> <non-blank string>}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/dashboard", post(create_dashboard))
        .route("/api/dashboard/embeddable", get(embeddable))
        .route("/api/dashboard/{id}", get(get_dashboard).put(update_dashboard))
        .route("/api/dashboard/{id}/copy", post(copy_dashboard))
        .route("/api/dashboard/{id}/cards", put(update_cards))
}

fn schema_error(key: &str, message: &str) -> ApiError {
    ApiError::invalid(json!({ key: message }), json!({ key: [message] }))
}

async fn create_dashboard(State(app): State<AppState>, Auth(caller): Auth, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    if non_blank(&body, "name").is_none() {
        return Err(schema_error("name", "value must be a non-blank string."));
    }
    let parameters = check_parameters(body.get("parameters").unwrap_or(&Value::Null))?;
    let mut db = app.lock();
    let collection_id = body_collection(&db, &body)?.unwrap_or(None);
    if !can_write_collection(&db, caller.user_id, collection_id) {
        return Err(ApiError::forbidden());
    }
    let now = db.now();
    let id = db.next_id("dashboard");
    db.dashboards.insert(
        id,
        Dashboard {
            id,
            name: body["name"].as_str().unwrap_or_default().to_string(),
            description: opt_string(&body["description"]),
            collection_id,
            collection_position: body["collection_position"].as_i64(),
            creator_id: caller.user_id,
            parameters,
            enable_embedding: false,
            embedding_params: None,
            embedding_type: None,
            archived: false,
            archived_directly: false,
            public_uuid: None,
            cache_ttl: body["cache_ttl"].as_i64(),
            width: "fixed".into(),
            auto_apply_filters: true,
            tabs: Vec::new(),
            dashcards: Vec::new(),
            entity_id: new_entity_id(),
            created_at: now,
            updated_at: now,
        },
    );
    db.note_search_write("dashboard", id);
    ok(dashboard_json(&db, &caller, &db.dashboards[&id]))
}

async fn get_dashboard(State(app): State<AppState>, Auth(caller): Auth, Path(reference): Path<String>) -> ApiResult {
    let db = app.lock();
    let id = find_dashboard_id(&db, &reference).ok_or_else(ApiError::not_found)?;
    let dash = &db.dashboards[&id];
    if !can_read_dashboard(&db, &caller, dash) {
        return Err(ApiError::forbidden());
    }
    ok(dashboard_json(&db, &caller, dash))
}

/// Schema of the `dashcards`/`cards` and `tabs` lists (400 before any lookup).
fn validate_layout(dashcards: Option<&Value>, tabs: Option<&Value>, key: &str) -> Result<(), ApiError> {
    if let Some(list) = dashcards.filter(|v| !v.is_null()) {
        let ok = list.as_array().is_some_and(|items| {
            items.iter().all(|dc| {
                let int = |k: &str, min: i64| dc.get(k).and_then(Value::as_i64).is_some_and(|v| v >= min);
                dc.get("id").and_then(Value::as_i64).is_some()
                    && int("row", 0)
                    && int("col", 0)
                    && int("size_x", 1)
                    && int("size_y", 1)
                    && dc.get("card_id").is_none_or(|c| c.is_null() || c.as_i64().is_some())
            })
        });
        if !ok {
            return Err(schema_error(key, DASHCARDS_SCHEMA));
        }
    }
    if let Some(list) = tabs.filter(|v| !v.is_null()) {
        let ok = list.as_array().is_some_and(|items| {
            items.iter().all(|t| {
                t.get("id").and_then(Value::as_i64).is_some()
                    && t.get("name").and_then(Value::as_str).is_some_and(|n| !n.trim().is_empty())
            })
        });
        if !ok {
            return Err(schema_error("tabs", TABS_SCHEMA));
        }
    }
    Ok(())
}

/// Check a card a dashcard refers to (§19.4): 404 unknown, 404 archived (JSON), 400 foreign dashboard question, 403 unreadable.
fn check_dashcard_card(db: &Db, caller: &Caller, dash_id: i64, card_id: i64) -> Result<(), ApiError> {
    let card = db.cards.get(&card_id).ok_or_else(ApiError::not_found)?;
    if card.archived {
        return Err(archived_error());
    }
    if card.dashboard_id.is_some_and(|d| d != dash_id) {
        return Err(ApiError::bad_request(FOREIGN_DASHBOARD_QUESTION));
    }
    if !can_read_card(db, caller, card) {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

fn series_ids(dc: &Value) -> Vec<i64> {
    dc.get("series")
        .and_then(Value::as_array)
        .map(|s| s.iter().filter_map(|x| x.get("id").and_then(Value::as_i64)).collect())
        .unwrap_or_default()
}

/// 404 JSON of `api/check-not-archived`.
fn archived_error() -> ApiError {
    ApiError::json(
        StatusCode::NOT_FOUND,
        json!({ "message": "The object has been archived.", "error_code": "archived" }),
    )
}

/// The complete-set diff of §19.4 for tabs and dashcards. Validates everything before changing anything.
/// As in Metabase, the layout is only touched when `dashcards` is sent; `tabs` missing then means "no tabs".
fn apply_layout(
    db: &mut Db,
    caller: &Caller,
    dash_id: i64,
    dashcards: Option<&Vec<Value>>,
    tabs: Option<&Vec<Value>>,
) -> Result<bool, ApiError> {
    let Some(cards) = dashcards else {
        return Ok(false);
    };
    let empty = Vec::new();
    let tabs = tabs.unwrap_or(&empty);
    let dash = db.dashboards.get(&dash_id).ok_or_else(ApiError::not_found)?;
    if dash.archived {
        return Err(archived_error());
    }
    let existing_tabs: BTreeSet<i64> = dash.tabs.iter().map(|t| t.id).collect();
    let existing_cards: BTreeSet<i64> = dash.dashcards.iter().map(|d| d.id).collect();
    for t in tabs {
        let id = t["id"].as_i64().unwrap_or_default();
        if id > 0 && !existing_tabs.contains(&id) {
            return Err(ApiError::not_found());
        }
    }
    let tab_refs: BTreeSet<i64> = tabs.iter().filter_map(|t| t["id"].as_i64()).collect();
    // With exactly one tab, cards without a tab land on it; with more, each card must name one.
    let single_tab = if tabs.len() == 1 { tabs[0]["id"].as_i64() } else { None };
    let tab_of = |dc: &Value| dc.get("dashboard_tab_id").and_then(Value::as_i64).or(single_tab);
    if !tabs.is_empty() && cards.iter().any(|dc| tab_of(dc).is_none()) {
        return Err(ApiError::bad_request(EVERY_CARD_NEEDS_TAB));
    }
    for dc in cards {
        let id = dc["id"].as_i64().unwrap_or_default();
        if id > 0 && !existing_cards.contains(&id) {
            return Err(ApiError::not_found());
        }
        if let Some(tab) = tab_of(dc) {
            if !tabs.is_empty() && !tab_refs.contains(&tab) {
                return Err(ApiError::not_found());
            }
        }
        let card_ids = dc["card_id"].as_i64().into_iter().chain(series_ids(dc));
        for card_id in card_ids {
            check_dashcard_card(db, caller, dash_id, card_id)?;
        }
    }

    // Everything is valid: apply.
    let now = db.now();
    let mut tab_ids: BTreeMap<i64, i64> = BTreeMap::new();
    for t in tabs {
        let id = t["id"].as_i64().unwrap_or_default();
        let real = if id < 0 { db.next_id("dashboard_tab") } else { id };
        tab_ids.insert(id, real);
    }
    let mut new_card_ids: BTreeMap<i64, i64> = BTreeMap::new();
    for dc in cards {
        let id = dc["id"].as_i64().unwrap_or_default();
        if id < 0 && !new_card_ids.contains_key(&id) {
            let real = db.next_id("dashcard");
            new_card_ids.insert(id, real);
        }
    }
    let dash = db.dashboards.get_mut(&dash_id).ok_or_else(ApiError::not_found)?;
    let old_tabs: BTreeMap<i64, DashboardTab> = dash.tabs.drain(..).map(|t| (t.id, t)).collect();
    for (position, t) in tabs.iter().enumerate() {
        let id = tab_ids[&t["id"].as_i64().unwrap_or_default()];
        let name = t["name"].as_str().unwrap_or_default().to_string();
        let tab = match old_tabs.get(&id) {
            Some(old) => {
                let changed = old.name != name || old.position != position as i64;
                DashboardTab {
                    name,
                    position: position as i64,
                    updated_at: if changed { now } else { old.updated_at },
                    ..old.clone()
                }
            }
            None => DashboardTab {
                id,
                dashboard_id: dash_id,
                name,
                position: position as i64,
                entity_id: new_entity_id(),
                created_at: now,
                updated_at: now,
            },
        };
        dash.tabs.push(tab);
    }
    let old: BTreeMap<i64, DashCard> = dash.dashcards.drain(..).map(|d| (d.id, d)).collect();
    for dc in cards {
        let id = dc["id"].as_i64().unwrap_or_default();
        let real = if id < 0 { new_card_ids[&id] } else { id };
        let base = old.get(&real).cloned().unwrap_or_else(|| DashCard {
            id: real,
            dashboard_id: dash_id,
            card_id: None,
            dashboard_tab_id: None,
            row: 0,
            col: 0,
            size_x: 1,
            size_y: 1,
            parameter_mappings: Vec::new(),
            series: Vec::new(),
            visualization_settings: json!({}),
            action_id: None,
            entity_id: new_entity_id(),
            created_at: now,
            updated_at: now,
        });
        let mut next = base.clone();
        next.card_id = dc["card_id"].as_i64();
        next.dashboard_tab_id = tab_of(dc).filter(|_| !tabs.is_empty()).and_then(|t| tab_ids.get(&t).copied());
        next.row = dc["row"].as_i64().unwrap_or_default();
        next.col = dc["col"].as_i64().unwrap_or_default();
        next.size_x = dc["size_x"].as_i64().unwrap_or(1);
        next.size_y = dc["size_y"].as_i64().unwrap_or(1);
        if let Some(m) = dc.get("parameter_mappings") {
            next.parameter_mappings = m.as_array().cloned().unwrap_or_default();
        }
        if dc.get("series").is_some() {
            next.series = series_ids(dc);
        }
        if let Some(vs) = dc.get("visualization_settings") {
            next.visualization_settings = if vs.is_null() { json!({}) } else { vs.clone() };
        }
        if let Some(a) = dc.get("action_id") {
            next.action_id = a.as_i64();
        }
        let changed = serde_json::to_value(&next).ok() != serde_json::to_value(&base).ok();
        if changed && id > 0 {
            next.updated_at = now;
        }
        dash.dashcards.push(next);
    }
    Ok(true)
}

/// Validate `name`, `parameters`, embedding keys and layout of a PUT body.
fn validate_update_body(body: &Value) -> Result<(), ApiError> {
    if body.get("name").is_some() && non_blank(body, "name").is_none() {
        return Err(schema_error("name", "value must be a non-blank string."));
    }
    if let Some(p) = body.get("parameters") {
        check_parameters(p)?;
    }
    if let Some(p) = body.get("embedding_params") {
        check_embedding_params(p)?;
    }
    check_bool(body, "enable_embedding")?;
    check_bool(body, "archived")?;
    if let Some(w) = body.get("width") {
        if !matches!(w.as_str(), Some("fixed" | "full")) {
            return Err(schema_error("width", "enum of fixed, full"));
        }
    }
    if let Some(t) = body.get("embedding_type").filter(|t| !t.is_null()) {
        if !t.is_string() {
            return Err(schema_error("embedding_type", "nullable string"));
        }
    }
    validate_layout(body.get("dashcards"), body.get("tabs"), "dashcards")
}

async fn update_dashboard(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(reference): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let body = if body.is_null() { json!({}) } else { body };
    validate_update_body(&body)?;
    let mut db = app.lock();
    let id = find_dashboard_id(&db, &reference).ok_or_else(ApiError::not_found)?;
    let dash = db.dashboards[&id].clone();
    if !can_write_dashboard(&db, &caller, &dash) {
        return Err(ApiError::forbidden());
    }
    let target = move_target(&db, &caller, &body, dash.collection_id)?;
    check_embedding_change(
        &db,
        &caller,
        &body,
        &EmbeddingFields {
            enable_embedding: dash.enable_embedding,
            embedding_params: &dash.embedding_params,
            embedding_type: dash.embedding_type.as_deref(),
        },
    )?;
    let dashcards = body.get("dashcards").and_then(Value::as_array);
    let tabs = body.get("tabs").and_then(Value::as_array);
    let layout_changed = apply_layout(&mut db, &caller, id, dashcards, tabs)?;

    let d = db.dashboards.get_mut(&id).ok_or_else(ApiError::not_found)?;
    let before = dashboard_row(d);
    if let Some(v) = body.get("name").and_then(Value::as_str) {
        d.name = v.to_string();
    }
    if let Some(v) = body.get("description") {
        d.description = opt_string(v);
    }
    if let Some(v) = body.get("parameters") {
        d.parameters = v.as_array().cloned().unwrap_or_default();
    }
    if let Some(v) = body.get("enable_embedding").and_then(Value::as_bool) {
        d.enable_embedding = v;
    }
    if let Some(v) = body.get("embedding_params") {
        d.embedding_params = (!v.is_null()).then(|| v.clone());
    }
    if let Some(v) = body.get("embedding_type") {
        d.embedding_type = opt_string(v);
    }
    if let Some(v) = body.get("archived").and_then(Value::as_bool) {
        d.archived = v;
        d.archived_directly = v;
    }
    if let Some(target) = target {
        d.collection_id = target;
    }
    if let Some(v) = body.get("collection_position") {
        d.collection_position = v.as_i64();
    }
    if let Some(v) = body.get("cache_ttl") {
        d.cache_ttl = v.as_i64();
    }
    if let Some(v) = body.get("width").and_then(Value::as_str) {
        d.width = v.to_string();
    }
    if let Some(v) = body.get("auto_apply_filters").and_then(Value::as_bool) {
        d.auto_apply_filters = v;
    }
    let changed = layout_changed || dashboard_row(d) != before;
    let (collection_id, archived) = (d.collection_id, d.archived);
    // Dashboard questions follow their dashboard: same collection, trashed and restored with it.
    let questions: Vec<i64> = db.cards.values().filter(|c| c.dashboard_id == Some(id)).map(|c| c.id).collect();
    for card_id in questions {
        let Some(card) = db.cards.get_mut(&card_id) else { continue };
        let follows = card.collection_id != collection_id || (card.archived != archived && !card.archived_directly);
        if follows {
            card.collection_id = collection_id;
            if !card.archived_directly {
                card.archived = archived;
            }
            touch_card(&mut db, card_id);
        }
    }
    if changed {
        touch_dashboard(&mut db, id);
    }
    ok(dashboard_json(&db, &caller, &db.dashboards[&id]))
}

/// Deprecated `PUT /api/dashboard/:id/cards` (`{cards, tabs}` → `{cards, tabs}`).
async fn update_cards(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(reference): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    if !body.get("cards").is_some_and(Value::is_array) {
        return Err(schema_error("cards", DASHCARDS_SCHEMA));
    }
    validate_layout(body.get("cards"), body.get("tabs"), "cards")?;
    let mut db = app.lock();
    let id = find_dashboard_id(&db, &reference).ok_or_else(ApiError::not_found)?;
    if !can_write_dashboard(&db, &caller, &db.dashboards[&id]) {
        return Err(ApiError::forbidden());
    }
    let cards = body.get("cards").and_then(Value::as_array);
    let tabs = body.get("tabs").and_then(Value::as_array);
    apply_layout(&mut db, &caller, id, cards, tabs)?;
    touch_dashboard(&mut db, id);
    let full = dashboard_json(&db, &caller, &db.dashboards[&id]);
    ok(json!({ "cards": full["dashcards"], "tabs": full["tabs"] }))
}

/// Virtual cards a copy keeps (§19.4): text, heading, iframe.
fn copyable_virtual(dc: &DashCard) -> bool {
    let display = dc.visualization_settings["virtual_card"]["display"].as_str();
    matches!(display, Some("text" | "heading" | "iframe"))
}

async fn copy_dashboard(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(reference): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let body = if body.is_null() { json!({}) } else { body };
    if body.get("name").is_some_and(|n| !n.is_null()) && non_blank(&body, "name").is_none() {
        return Err(schema_error("name", "nullable value must be a non-blank string."));
    }
    let deep = check_bool(&body, "is_deep_copy")?.unwrap_or(false);
    let mut db = app.lock();
    let source_id = find_dashboard_id(&db, &reference).ok_or_else(ApiError::not_found)?;
    let source = db.dashboards[&source_id].clone();
    if !can_read_dashboard(&db, &caller, &source) {
        return Err(ApiError::forbidden());
    }
    // §19.4: the copy goes where the request says; omitted means root, not the source collection.
    let target = body_collection(&db, &body)?.unwrap_or(None);
    if !can_write_collection(&db, caller.user_id, target) {
        return Err(ApiError::forbidden());
    }
    let has_dq = source
        .dashcards
        .iter()
        .any(|dc| dc.card_id.and_then(|id| db.cards.get(&id)).is_some_and(|c| c.dashboard_id == Some(source_id)));
    if has_dq && !deep {
        return Err(ApiError::bad_request(SHALLOW_COPY_DQ));
    }

    let now = db.now();
    let new_id = db.next_id("dashboard");
    let mut tab_map: BTreeMap<i64, i64> = BTreeMap::new();
    let mut tabs = Vec::new();
    for t in &source.tabs {
        let id = db.next_id("dashboard_tab");
        tab_map.insert(t.id, id);
        tabs.push(DashboardTab {
            id,
            dashboard_id: new_id,
            name: t.name.clone(),
            position: t.position,
            entity_id: new_entity_id(),
            created_at: now,
            updated_at: now,
        });
    }

    let mut card_map: BTreeMap<i64, i64> = BTreeMap::new();
    let mut uncopied: Vec<Value> = Vec::new();
    let mut dashcards = Vec::new();
    for dc in &source.dashcards {
        if dc.action_id.is_some() {
            continue;
        }
        let Some(card_id) = dc.card_id else {
            if copyable_virtual(dc) {
                let id = db.next_id("dashcard");
                dashcards.push(DashCard {
                    id,
                    dashboard_id: new_id,
                    dashboard_tab_id: dc.dashboard_tab_id.and_then(|t| tab_map.get(&t).copied()),
                    parameter_mappings: dc.parameter_mappings.clone(),
                    entity_id: new_entity_id(),
                    created_at: now,
                    updated_at: now,
                    ..dc.clone()
                });
            }
            continue;
        };
        let usable = |db: &Db, id: i64| db.cards.get(&id).is_some_and(|c| !c.archived && can_read_card(db, &caller, c));
        if !usable(&db, card_id) {
            let shown = match db.cards.get(&card_id) {
                Some(c) if can_read_card(&db, &caller, c) => card_json(&db, &caller, c),
                _ => json!({ "id": card_id }),
            };
            uncopied.push(shown);
            continue;
        }
        let series: Vec<i64> = dc.series.iter().copied().filter(|id| usable(&db, *id)).collect();
        let mut ids = vec![card_id];
        ids.extend(series.iter().copied());
        for id in ids {
            if card_map.contains_key(&id) {
                continue;
            }
            let card = &db.cards[&id];
            let is_dq = card.dashboard_id == Some(source_id);
            let copy = is_dq || (deep && card.card_type != "model");
            let mapped = if copy { copy_card(&mut db, &caller, id, target, is_dq.then_some(new_id)) } else { id };
            card_map.insert(id, mapped);
        }
        let map = |id: i64| card_map.get(&id).copied().unwrap_or(id);
        let mappings = dc
            .parameter_mappings
            .iter()
            .map(|m| {
                let mut m = m.clone();
                if let Some(cid) = m.get("card_id").and_then(Value::as_i64) {
                    m["card_id"] = json!(map(cid));
                }
                m
            })
            .collect();
        let id = db.next_id("dashcard");
        dashcards.push(DashCard {
            id,
            dashboard_id: new_id,
            card_id: Some(map(card_id)),
            dashboard_tab_id: dc.dashboard_tab_id.and_then(|t| tab_map.get(&t).copied()),
            parameter_mappings: mappings,
            series: series.iter().map(|s| map(*s)).collect(),
            entity_id: new_entity_id(),
            created_at: now,
            updated_at: now,
            ..dc.clone()
        });
    }

    let dash = Dashboard {
        id: new_id,
        name: non_blank(&body, "name").map_or_else(|| source.name.clone(), str::to_string),
        description: match body.get("description") {
            Some(v) => opt_string(v),
            None => source.description.clone(),
        },
        collection_id: target,
        collection_position: body["collection_position"].as_i64(),
        creator_id: caller.user_id,
        parameters: source.parameters.clone(),
        enable_embedding: false,
        embedding_params: None,
        embedding_type: None,
        archived: false,
        archived_directly: false,
        public_uuid: None,
        cache_ttl: source.cache_ttl,
        width: source.width.clone(),
        auto_apply_filters: source.auto_apply_filters,
        tabs,
        dashcards,
        entity_id: new_entity_id(),
        created_at: now,
        updated_at: now,
    };
    let mut row = dashboard_row(&dash);
    db.dashboards.insert(new_id, dash);
    db.note_search_write("dashboard", new_id);
    if !uncopied.is_empty() {
        row["uncopied"] = json!(uncopied);
    }
    ok(row)
}

/// Duplicate a card into `target` (§19.4); same collection → ` - Duplicate` suffix.
fn copy_card(db: &mut Db, caller: &Caller, id: i64, target: Option<i64>, dashboard: Option<i64>) -> i64 {
    let now = db.now();
    let new_id = db.next_id("card");
    let source = db.cards[&id].clone();
    let name = if source.collection_id == target && dashboard.is_none() {
        format!("{} - Duplicate", source.name)
    } else {
        source.name.clone()
    };
    let card = Card {
        id: new_id,
        name,
        collection_id: target,
        collection_position: None,
        dashboard_id: dashboard,
        enable_embedding: false,
        embedding_params: None,
        archived: false,
        archived_directly: false,
        creator_id: caller.user_id,
        public_uuid: None,
        entity_id: new_entity_id(),
        created_at: now,
        updated_at: now,
        ..source
    };
    db.cards.insert(new_id, card);
    db.note_search_write("card", new_id);
    new_id
}

async fn embeddable(State(app): State<AppState>, Auth(caller): Auth) -> ApiResult {
    let db = app.lock();
    let dashboards = db.dashboards.values().map(|d| (d.id, d.name.as_str(), d.enable_embedding, d.archived));
    embeddable_list(&db, &caller, dashboards)
}
