//! Static embedding: `/api/embed/*` and the `/embed/{dashboard,question}/{token}` pages (§15).
//!
//! Every failure on `/api/embed` is a 400 with the plain-text message (Metabase's "message-only
//! exceptions"), except a token that cannot match the route regex, which is the generic 404.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::analytics::{self, AnalyticsDb, QueryResult};
use crate::embed_params::{self, CardValues};
use crate::embed_token::{self, ResourceKind, ResourceRef, VerifiedToken};
use crate::http::{ApiError, ApiResult, json_response};
use crate::page;
use crate::state::{AppState, Card, DashCard, Dashboard, State as Db};

pub const EMBEDDING_DISABLED: &str = "Embedding is not enabled.";
pub const OBJECT_EMBEDDING_DISABLED: &str = "Embedding is not enabled for this object.";
pub const ARCHIVED: &str = "The object has been archived.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/embed/dashboard/{token}", get(dashboard))
        .route("/api/embed/dashboard/{token}/dashcard/{dashcard_id}/card/{card_id}", get(dashcard_query))
        .route("/api/embed/card/{token}", get(card))
        .route("/api/embed/card/{token}/query", get(card_query))
        .route("/embed/dashboard/{token}", get(dashboard_page))
        .route("/embed/question/{token}", get(question_page))
}

/// A failure before any JSON is produced: the 404 for route mismatches or a 400 message.
enum EmbedError {
    NoRoute,
    Message(String),
}

impl From<String> for EmbedError {
    fn from(message: String) -> Self {
        EmbedError::Message(message)
    }
}

impl From<&str> for EmbedError {
    fn from(message: &str) -> Self {
        EmbedError::Message(message.to_string())
    }
}

impl From<EmbedError> for ApiError {
    fn from(e: EmbedError) -> Self {
        match e {
            EmbedError::NoRoute => ApiError::endpoint_missing(),
            EmbedError::Message(m) => ApiError::bad_request(m),
        }
    }
}

impl EmbedError {
    /// The text an embed page shows for this failure.
    fn page_text(&self) -> &str {
        match self {
            EmbedError::NoRoute => crate::http::ENDPOINT_MISSING,
            EmbedError::Message(m) => m,
        }
    }
}

/// Steps 1–6 of §15: token checks, then the global switch (before any object lookup).
fn verify(db: &Db, token: &str, kind: ResourceKind) -> Result<VerifiedToken, EmbedError> {
    if !embed_token::looks_like_jwt(token) {
        return Err(EmbedError::NoRoute);
    }
    let secret = db.setting("embedding-secret-key");
    let verified = embed_token::verify(token, secret.as_str(), kind, db.now().unix_timestamp())?;
    if !db.setting_bool("enable-embedding-static") {
        return Err(EMBEDDING_DISABLED.into());
    }
    Ok(verified)
}

/// Step 7 for any embeddable object.
fn check_object(archived: bool, enable_embedding: bool) -> Result<(), EmbedError> {
    if archived {
        return Err(ARCHIVED.into());
    }
    if !enable_embedding {
        return Err(OBJECT_EMBEDDING_DISABLED.into());
    }
    Ok(())
}

fn find_dashboard(db: &Db, r: &ResourceRef) -> Result<Dashboard, EmbedError> {
    let found = match r {
        ResourceRef::Id(id) => db.dashboards.get(id),
        ResourceRef::EntityId(e) => db.dashboards.values().find(|d| &d.entity_id == e),
    };
    let dashboard = found.cloned().ok_or(EmbedError::from(crate::http::NOT_FOUND))?;
    check_object(dashboard.archived, dashboard.enable_embedding)?;
    Ok(dashboard)
}

fn find_card(db: &Db, r: &ResourceRef) -> Result<Card, EmbedError> {
    let found = match r {
        ResourceRef::Id(id) => db.cards.get(id),
        ResourceRef::EntityId(e) => db.cards.values().find(|c| &c.entity_id == e),
    };
    let card = found.cloned().ok_or(EmbedError::from(crate::http::NOT_FOUND))?;
    check_object(card.archived, card.enable_embedding)?;
    Ok(card)
}

/// The card fields an embed may see (Metabase's public-card selection): identity, display settings,
/// parameters and, of the query, only its type and template tags — never the SQL, collection or
/// embedding settings.
fn public_card(card: &Card) -> Value {
    let dataset_query = match analytics::parse_dataset_query(&card.dataset_query) {
        Ok(analytics::DatasetQuery::Native { template_tags, .. }) => {
            json!({"type": "native", "native": {"template-tags": template_tags}})
        }
        _ => json!({"type": "query"}),
    };
    json!({
        "id": card.id,
        "entity_id": card.entity_id,
        "name": card.name,
        "description": card.description,
        "display": card.display,
        "visualization_settings": card.visualization_settings,
        "parameters": card.parameters,
        "dataset_query": dataset_query,
    })
}

fn card_database(card: &Card) -> Option<i64> {
    card.dataset_query.get("database").and_then(Value::as_i64).or(card.database_id)
}

/// The warehouse a card's query runs on: the one of its database (the sample `analytics` database,
/// or the copy a database registered through `POST /api/database` owns); `None` when that database
/// cannot run queries here. Resolved under the state lock; the query itself runs after it.
fn warehouse_of(db: &Db, card: &Card) -> Option<Arc<AnalyticsDb>> {
    card_database(card).and_then(|id| db.databases.get(&id)).and_then(|d| d.warehouse.clone())
}

/// Runs a card's query with resolved values on its database's warehouse.
fn run_card(card: &Card, values: &CardValues, warehouse: Option<&AnalyticsDb>) -> QueryResult {
    let database = card_database(card);
    let Some(warehouse) = warehouse else {
        return QueryResult::failed(format!("database {database:?} cannot run queries here"))
            .with_context(database, card.dataset_query.clone());
    };
    warehouse.run(&card.dataset_query, &values.tags, &values.fields)
}

fn accepted(result: &QueryResult) -> Response {
    json_response(StatusCode::ACCEPTED, &result.to_json())
}

fn url_params(raw: Option<String>) -> Map<String, Value> {
    let pairs: Vec<(String, String)> =
        raw.as_deref().and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
    embed_params::url_params_from_query(&pairs)
}

fn parse_id(segment: &str) -> Result<i64, EmbedError> {
    // Metabase's route regex only admits digits here; anything else never reaches the handler.
    segment.parse::<i64>().map_err(|_| EmbedError::NoRoute)
}

/// `GET /api/embed/dashboard/:token`: no parameter checks, hidden parameters and their mappings removed.
async fn dashboard(State(app): State<AppState>, Path(token): Path<String>) -> ApiResult {
    let db = app.lock();
    let verified = verify(&db, &token, ResourceKind::Dashboard)?;
    let dashboard = find_dashboard(&db, &verified.resource)?;
    let visible =
        embed_params::visible_parameters(&dashboard.parameters, dashboard.embedding_params.as_ref(), &verified.params);
    let dashcards: Vec<Value> =
        dashboard.dashcards.iter().map(|dc| embed_dashcard(&db, &dashboard, dc, &visible, &verified.params)).collect();
    let tabs: Vec<Value> = dashboard
        .tabs
        .iter()
        .map(|t| json!({"id": t.id, "dashboard_id": t.dashboard_id, "name": t.name, "position": t.position}))
        .collect();
    let body = json!({
        "id": dashboard.id,
        "name": dashboard.name,
        "description": dashboard.description,
        "parameters": visible,
        "auto_apply_filters": dashboard.auto_apply_filters,
        "width": dashboard.width,
        "dashcards": dashcards,
        "tabs": tabs,
        "param_fields": {},
        "param_values": null,
    });
    Ok(json_response(StatusCode::OK, &body))
}

fn embed_dashcard(
    db: &Db,
    dashboard: &Dashboard,
    dc: &DashCard,
    visible: &[Value],
    token_params: &Map<String, Value>,
) -> Value {
    let mut settings = dc.visualization_settings.clone();
    if let Some(text) = settings.get("text").and_then(Value::as_str) {
        let substituted =
            embed_params::substitute_text(text, &dc.parameter_mappings, &dashboard.parameters, token_params);
        settings["text"] = Value::String(substituted);
    }
    let card = dc.card_id.and_then(|id| db.cards.get(&id)).map(public_card).unwrap_or(Value::Null);
    let series: Vec<Value> = dc.series.iter().filter_map(|id| db.cards.get(id)).map(public_card).collect();
    json!({
        "id": dc.id,
        "card_id": dc.card_id,
        "card": card,
        "dashboard_id": dc.dashboard_id,
        "dashboard_tab_id": dc.dashboard_tab_id,
        "col": dc.col,
        "row": dc.row,
        "size_x": dc.size_x,
        "size_y": dc.size_y,
        "parameter_mappings": embed_params::strip_hidden_mappings(&dc.parameter_mappings, visible),
        "visualization_settings": settings,
        "series": series,
    })
}

/// Step 8 and the §19.3 run-time rule for one dashcard: the values its card receives.
fn dashcard_values(
    dashboard: &Dashboard,
    dc: &DashCard,
    card: &Card,
    token_params: &Map<String, Value>,
    url: &Map<String, Value>,
) -> Result<CardValues, EmbedError> {
    let merged = embed_params::check_and_merge(dashboard.embedding_params.as_ref(), token_params, url)?;
    let by_id = embed_params::values_by_parameter_id(&dashboard.parameters, &merged)?;
    let tags = analytics::parse_dataset_query(&card.dataset_query).map(|q| q.template_tags()).unwrap_or_default();
    Ok(embed_params::resolve_card_values(&dc.parameter_mappings, card.id, &by_id, &tags))
}

/// `GET /api/embed/dashboard/:token/dashcard/:dashcard-id/card/:card-id` → 202 query results.
async fn dashcard_query(
    State(app): State<AppState>,
    Path((token, dashcard_id, card_id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let (warehouse, card, values) = {
        let db = app.lock();
        let dashcard_id = parse_id(&dashcard_id)?;
        let card_id = parse_id(&card_id)?;
        let verified = verify(&db, &token, ResourceKind::Dashboard)?;
        let dashboard = find_dashboard(&db, &verified.resource)?;
        let url = url_params(raw);
        // Parameter checks come before the dashcard lookup, so they fail the same way for every card.
        embed_params::check_and_merge(dashboard.embedding_params.as_ref(), &verified.params, &url)
            .map_err(EmbedError::from)?;
        let dc = dashboard
            .dashcards
            .iter()
            .find(|dc| dc.id == dashcard_id)
            .filter(|dc| dc.card_id == Some(card_id) || dc.series.contains(&card_id))
            .ok_or(EmbedError::from(crate::http::NOT_FOUND))?;
        let card = db.cards.get(&card_id).cloned().ok_or(EmbedError::from(crate::http::NOT_FOUND))?;
        let values = dashcard_values(&dashboard, dc, &card, &verified.params, &url)?;
        (warehouse_of(&db, &card), card, values)
    };
    Ok(accepted(&run_card(&card, &values, warehouse.as_deref())))
}

/// The card's parameters as embeds see them: stored ones plus those synthesised from template tags
/// (§19.4 `template-tag-parameters`), a stored parameter winning over a tag of the same slug.
pub fn card_parameters(card: &Card) -> Vec<Value> {
    let mut params = card.parameters.clone();
    let tags = analytics::parse_dataset_query(&card.dataset_query).map(|q| q.template_tags()).unwrap_or_default();
    for (name, tag) in &tags {
        let tag_type = tag.get("type").and_then(Value::as_str).unwrap_or_default();
        let widget = tag.get("widget-type").and_then(Value::as_str);
        if tag_type == "dimension" && widget == Some("none") {
            continue;
        }
        if !matches!(tag_type, "text" | "number" | "date" | "boolean" | "dimension") {
            continue;
        }
        if params.iter().any(|p| p.get("slug").and_then(Value::as_str) == Some(name.as_str())) {
            continue;
        }
        let param_type = match (widget, tag_type) {
            (Some(w), _) => w.to_string(),
            (None, "date") => "date/single".to_string(),
            (None, "number") => "number/=".to_string(),
            _ => "category".to_string(),
        };
        let wrapper = if tag_type == "dimension" { "dimension" } else { "variable" };
        let mut p = json!({
            "id": tag.get("id").cloned().unwrap_or(Value::Null),
            "type": param_type,
            "target": [wrapper, ["template-tag", name]],
            "name": tag.get("display-name").cloned().unwrap_or_else(|| json!(name)),
            "slug": name,
            "default": tag.get("default").cloned().unwrap_or(Value::Null),
        });
        if let Some(required) = tag.get("required") {
            p["required"] = required.clone();
        }
        params.push(p);
    }
    params
}

/// Step 8 for a card embed: the whitelist, then each value goes where its parameter points.
fn card_values(
    card: &Card,
    token_params: &Map<String, Value>,
    url: &Map<String, Value>,
) -> Result<CardValues, EmbedError> {
    let merged = embed_params::check_and_merge(card.embedding_params.as_ref(), token_params, url)?;
    let tags = analytics::parse_dataset_query(&card.dataset_query).map(|q| q.template_tags()).unwrap_or_default();
    let params = card_parameters(card);
    // Reuse the dashcard resolution: treat each parameter as mapped onto this card by its own target.
    let mut by_id = Map::new();
    let mut mappings = Vec::new();
    for (i, p) in params.iter().enumerate() {
        let Some(slug) = p.get("slug").and_then(Value::as_str) else {
            continue;
        };
        let Some(value) = merged.get(slug) else {
            continue;
        };
        let key = format!("p{i}");
        by_id.insert(key.clone(), value.clone());
        mappings.push(json!({"parameter_id": key, "card_id": card.id, "target": p.get("target")}));
    }
    Ok(embed_params::resolve_card_values(&mappings, card.id, &by_id, &tags))
}

/// `GET /api/embed/card/:token`.
async fn card(State(app): State<AppState>, Path(token): Path<String>) -> ApiResult {
    let db = app.lock();
    let verified = verify(&db, &token, ResourceKind::Question)?;
    let card = find_card(&db, &verified.resource)?;
    let visible =
        embed_params::visible_parameters(&card_parameters(&card), card.embedding_params.as_ref(), &verified.params);
    let mut body = public_card(&card);
    body["parameters"] = Value::Array(visible);
    body["param_values"] = Value::Null;
    body["param_fields"] = Value::Null;
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /api/embed/card/:token/query` → 202 query results.
async fn card_query(State(app): State<AppState>, Path(token): Path<String>, RawQuery(raw): RawQuery) -> ApiResult {
    let (warehouse, card, values) = {
        let db = app.lock();
        let verified = verify(&db, &token, ResourceKind::Question)?;
        let card = find_card(&db, &verified.resource)?;
        let values = card_values(&card, &verified.params, &url_params(raw))?;
        (warehouse_of(&db, &card), card, values)
    };
    Ok(accepted(&run_card(&card, &values, warehouse.as_deref())))
}

fn html(body: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// A dashboard name and, per data card, its title, card and resolved values.
type DashboardRun = (String, Vec<(String, Card, CardValues, Option<Arc<AnalyticsDb>>)>);

/// `GET /embed/dashboard/{token}`: the iframe page. Like Metabase's SPA it always answers 200 and shows
/// the error text when the token or the parameters are rejected.
async fn dashboard_page(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    let built = (|| -> Result<DashboardRun, EmbedError> {
        let db = app.lock();
        let verified = verify(&db, &token, ResourceKind::Dashboard)?;
        let dashboard = find_dashboard(&db, &verified.resource)?;
        let none = Map::new();
        let mut cards = Vec::new();
        for dc in &dashboard.dashcards {
            let Some(card) = dc.card_id.and_then(|id| db.cards.get(&id)) else {
                continue;
            };
            let values = dashcard_values(&dashboard, dc, card, &verified.params, &none)?;
            cards.push((card.name.clone(), card.clone(), values, warehouse_of(&db, card)));
        }
        Ok((dashboard.name, cards))
    })();
    match built {
        Ok((name, cards)) => {
            let results: Vec<(String, QueryResult)> = cards
                .into_iter()
                .map(|(title, card, values, w)| (title, run_card(&card, &values, w.as_deref())))
                .collect();
            html(page::dashboard_page(&name, &results))
        }
        Err(e) => html(page::error_page(e.page_text())),
    }
}

/// `GET /embed/question/{token}`.
async fn question_page(State(app): State<AppState>, Path(token): Path<String>) -> Response {
    let built = (|| -> Result<(Option<Arc<AnalyticsDb>>, Card, CardValues), EmbedError> {
        let db = app.lock();
        let verified = verify(&db, &token, ResourceKind::Question)?;
        let card = find_card(&db, &verified.resource)?;
        let values = card_values(&card, &verified.params, &Map::new())?;
        Ok((warehouse_of(&db, &card), card, values))
    })();
    match built {
        Ok((warehouse, card, values)) => {
            html(page::question_page(&card.name, &run_card(&card, &values, warehouse.as_deref())))
        }
        Err(e) => html(page::error_page(e.page_text())),
    }
}
