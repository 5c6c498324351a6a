//! Cards (saved questions, models, metrics): create, get, partial PUT, embeddable list (§14, §19.4).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::analytics::{DatasetQuery, parse_dataset_query};
use crate::auth::{Auth, can_write_collection};
use crate::content::{
    EmbeddingFields, body_collection, card_json, check_bool, check_embedding_change, check_embedding_params,
    check_parameters, embeddable_list, find_card_id, move_target, non_blank, opt_string, query_facts, to_legacy,
    to_mbql5, touch_card, touch_dashboard,
};
use crate::http::{ApiError, ApiResult, ok, parse_body, query_pairs, query_value};
use crate::state::{AppState, Card, DashCard, State as Db, new_entity_id};

const NON_BLANK: &str = "value must be a non-blank string.";
const MAP: &str = "value must be a map.";
const CARD_TYPES: &[&str] = &["question", "model", "metric"];
/// Not quoted by the contract; worded after Metabase's check on dashboard questions.
const DASHBOARD_QUESTION_COLLECTION: &str =
    "Dashboard Questions must be saved in the same collection as their Dashboard.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/card", post(create_card))
        .route("/api/card/embeddable", get(embeddable))
        .route("/api/card/{id}", get(get_card).put(update_card))
}

/// Collect malli-style errors for the body keys that are present (or required).
struct Errors {
    errors: Map<String, Value>,
    specific: Map<String, Value>,
}

impl Errors {
    fn new() -> Self {
        Errors { errors: Map::new(), specific: Map::new() }
    }
    fn add(&mut self, key: &str, message: &str) {
        self.errors.insert(key.into(), json!(message));
        self.specific.insert(key.into(), json!([message]));
    }
    fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(Value::Object(self.errors), Value::Object(self.specific)))
        }
    }
}

/// Shared schema checks of POST (`required`) and PUT (only keys present).
fn validate_card_body(body: &Value, required: bool) -> Result<(), ApiError> {
    if !body.is_object() {
        let mut e = Errors::new();
        e.add("name", NON_BLANK);
        return e.finish();
    }
    let mut e = Errors::new();
    for key in ["name", "display"] {
        let present = body.get(key).is_some();
        if (required || present) && non_blank(body, key).is_none() {
            e.add(key, NON_BLANK);
        }
    }
    for key in ["dataset_query", "visualization_settings"] {
        let present = body.get(key).is_some();
        if (required || present) && !body.get(key).is_some_and(Value::is_object) {
            e.add(key, MAP);
        }
    }
    if let Some(t) = body.get("type").filter(|t| !t.is_null()) {
        if !t.as_str().is_some_and(|t| CARD_TYPES.contains(&t)) {
            e.add("type", "nullable enum of question, model, metric");
        }
    }
    e.finish()?;
    if let Some(p) = body.get("parameters") {
        check_parameters(p)?;
    }
    if let Some(p) = body.get("embedding_params") {
        check_embedding_params(p)?;
    }
    check_bool(body, "enable_embedding")?;
    check_bool(body, "archived")?;
    Ok(())
}

/// §19.4: a field filter must point at a field of the query's own database.
fn check_field_filters(db: &Db, query: &Value) -> Result<(), ApiError> {
    let Ok(DatasetQuery::Native { database, template_tags, .. }) = parse_dataset_query(query) else {
        return Ok(());
    };
    for tag in template_tags.values() {
        if tag.get("type").and_then(Value::as_str) != Some("dimension") {
            continue;
        }
        let Some(field_id) = tag.get("dimension").and_then(|d| d.get(1)).and_then(Value::as_i64) else {
            continue;
        };
        let owner = db.databases.values().find(|d| d.tables.iter().any(|t| t.fields.iter().any(|f| f.id == field_id)));
        if let (Some(owner), Some(database)) = (owner, database) {
            if owner.id != database {
                return Err(ApiError::bad_request(format!(
                    "Invalid Field Filter: Field {field_id} belongs to Database {}, but the query is against Database {database}",
                    owner.id
                )));
            }
        }
    }
    Ok(())
}

async fn create_card(State(app): State<AppState>, Auth(caller): Auth, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    validate_card_body(&body, true)?;
    let mut db = app.lock();
    let mut collection_id = body_collection(&db, &body)?.unwrap_or(None);
    let dashboard_id = match body.get("dashboard_id") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let id = v.as_i64().ok_or_else(|| {
                ApiError::invalid(
                    json!({ "dashboard_id": "nullable value must be an integer greater than zero." }),
                    json!({ "dashboard_id": ["value must be an integer greater than zero."] }),
                )
            })?;
            let dash = db.dashboards.get(&id).ok_or_else(ApiError::not_found)?;
            // A dashboard question lives in its dashboard's collection.
            if body.get("collection_id").is_some_and(|c| !c.is_null()) && collection_id != dash.collection_id {
                return Err(ApiError::bad_request(DASHBOARD_QUESTION_COLLECTION));
            }
            collection_id = dash.collection_id;
            Some(id)
        }
    };
    if !can_write_collection(&db, caller.user_id, collection_id) {
        return Err(ApiError::forbidden());
    }
    let dataset_query = to_mbql5(&body["dataset_query"]);
    check_field_filters(&db, &dataset_query)?;
    let (database_id, table_id, query_type) = query_facts(&dataset_query);
    let now = db.now();
    let id = db.next_id("card");
    let card = Card {
        id,
        name: body["name"].as_str().unwrap_or_default().to_string(),
        description: opt_string(&body["description"]),
        display: body["display"].as_str().unwrap_or_default().to_string(),
        dataset_query,
        visualization_settings: body["visualization_settings"].clone(),
        parameters: body.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default(),
        parameter_mappings: body.get("parameter_mappings").and_then(Value::as_array).cloned().unwrap_or_default(),
        collection_id,
        collection_position: body["collection_position"].as_i64(),
        dashboard_id,
        card_type: body["type"].as_str().unwrap_or("question").to_string(),
        query_type,
        enable_embedding: false,
        embedding_params: None,
        archived: false,
        archived_directly: false,
        database_id,
        table_id,
        result_metadata: body.get("result_metadata").filter(|v| !v.is_null()).cloned(),
        cache_ttl: body["cache_ttl"].as_i64(),
        creator_id: caller.user_id,
        public_uuid: None,
        entity_id: new_entity_id(),
        created_at: now,
        updated_at: now,
    };
    db.cards.insert(id, card);
    db.note_search_write("card", id);
    if let Some(dash_id) = dashboard_id {
        place_on_dashboard(&mut db, dash_id, id, body["dashboard_tab_id"].as_i64());
    }
    let card = &db.cards[&id];
    ok(card_json(&db, &caller, card))
}

/// 0.53+: a new dashboard question is added below the dashboard's existing cards.
fn place_on_dashboard(db: &mut Db, dash_id: i64, card_id: i64, tab_id: Option<i64>) {
    let dashcard_id = db.next_id("dashcard");
    let now = db.now();
    let Some(dash) = db.dashboards.get_mut(&dash_id) else {
        return;
    };
    let tab = tab_id
        .filter(|t| dash.tabs.iter().any(|tab| tab.id == *t))
        .or_else(|| dash.tabs.iter().min_by_key(|t| t.position).map(|t| t.id));
    let row =
        dash.dashcards.iter().filter(|dc| dc.dashboard_tab_id == tab).map(|dc| dc.row + dc.size_y).max().unwrap_or(0);
    dash.dashcards.push(DashCard {
        id: dashcard_id,
        dashboard_id: dash_id,
        card_id: Some(card_id),
        dashboard_tab_id: tab,
        row,
        col: 0,
        size_x: 12,
        size_y: 6,
        parameter_mappings: Vec::new(),
        series: Vec::new(),
        visualization_settings: json!({}),
        action_id: None,
        entity_id: new_entity_id(),
        created_at: now,
        updated_at: now,
    });
    touch_dashboard(db, dash_id);
}

async fn get_card(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(reference): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let db = app.lock();
    let id = find_card_id(&db, &reference).ok_or_else(ApiError::not_found)?;
    let card = &db.cards[&id];
    if !crate::content::can_read_card(&db, &caller, card) {
        return Err(ApiError::forbidden());
    }
    let mut v = card_json(&db, &caller, card);
    let pairs = query_pairs(query.as_deref());
    if query_value(&pairs, "legacy-mbql") == Some("true") {
        v["dataset_query"] = to_legacy(&card.dataset_query);
    }
    ok(v)
}

async fn update_card(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(reference): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    validate_card_body(&body, false)?;
    let mut db = app.lock();
    let id = find_card_id(&db, &reference).ok_or_else(ApiError::not_found)?;
    let card = db.cards[&id].clone();
    if !crate::content::can_write_card(&db, &caller, &card) {
        return Err(ApiError::forbidden());
    }
    let target = move_target(&db, &caller, &body, card.collection_id)?;
    check_embedding_change(
        &db,
        &caller,
        &body,
        &EmbeddingFields {
            enable_embedding: card.enable_embedding,
            embedding_params: &card.embedding_params,
            embedding_type: None,
        },
    )?;
    let new_query = body.get("dataset_query").map(to_mbql5);
    if let Some(q) = &new_query {
        check_field_filters(&db, q)?;
    }
    let c = db.cards.get_mut(&id).ok_or_else(ApiError::not_found)?;
    if let Some(name) = body.get("name").and_then(Value::as_str) {
        c.name = name.to_string();
    }
    if let Some(v) = body.get("description") {
        c.description = opt_string(v);
    }
    if let Some(v) = body.get("display").and_then(Value::as_str) {
        c.display = v.to_string();
    }
    if let Some(q) = new_query {
        let (database_id, table_id, query_type) = query_facts(&q);
        c.dataset_query = q;
        c.database_id = database_id;
        c.table_id = table_id;
        c.query_type = query_type;
    }
    if let Some(v) = body.get("visualization_settings") {
        c.visualization_settings = v.clone();
    }
    if let Some(v) = body.get("parameters") {
        c.parameters = v.as_array().cloned().unwrap_or_default();
    }
    if let Some(v) = body.get("parameter_mappings") {
        c.parameter_mappings = v.as_array().cloned().unwrap_or_default();
    }
    if let Some(t) = body.get("type").and_then(Value::as_str) {
        c.card_type = t.to_string();
    }
    if let Some(target) = target {
        c.collection_id = target;
    }
    if let Some(v) = body.get("collection_position") {
        c.collection_position = v.as_i64();
    }
    if let Some(v) = body.get("cache_ttl") {
        c.cache_ttl = v.as_i64();
    }
    if let Some(v) = body.get("enable_embedding").and_then(Value::as_bool) {
        c.enable_embedding = v;
    }
    if let Some(v) = body.get("embedding_params") {
        c.embedding_params = (!v.is_null()).then(|| v.clone());
    }
    if let Some(v) = body.get("archived").and_then(Value::as_bool) {
        c.archived = v;
        c.archived_directly = v;
    }
    touch_card(&mut db, id);
    ok(card_json(&db, &caller, &db.cards[&id]))
}

async fn embeddable(State(app): State<AppState>, Auth(caller): Auth) -> ApiResult {
    let db = app.lock();
    let cards = db.cards.values().map(|c| (c.id, c.name.as_str(), c.enable_embedding, c.archived));
    embeddable_list(&db, &caller, cards)
}
