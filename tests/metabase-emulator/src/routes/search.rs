//! `GET /api/search` (§19.1): permission-filtered, capped at 1000 before paging, with an optional indexing delay.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::auth::{Auth, Caller, can_read_collection, can_write_collection};
use crate::http::{ApiError, ApiResult, Paging, ok, query_pairs, query_value};
use crate::routes::listings::query_bool;
use crate::state::{AppState, State as Db, iso};

/// §19.1: every searchable model; unknown ones are a 400.
const MODELS: &[&str] = &[
    "dashboard",
    "table",
    "dataset",
    "segment",
    "collection",
    "transform",
    "document",
    "database",
    "action",
    "indexed-entity",
    "measure",
    "metric",
    "card",
];
const MODELS_MESSAGE: &str = "nullable vector of enum of dashboard, table, dataset, segment, collection, transform, document, database, action, indexed-entity, measure, metric, card";
const PERSONAL_FILTERS: &[&str] = &["all", "only", "only-mine", "exclude", "exclude-others"];
/// §19.1: `*db-max-results*`, applied before `limit`/`offset`.
pub const MAX_RESULTS: usize = 1000;
const IDS_NEED_ONE_MODEL: &str = "Filtering by ids work only when you ask for a single model";

pub fn router() -> Router<AppState> {
    Router::new().route("/api/search", get(search))
}

fn invalid(key: &str, message: &str) -> ApiError {
    ApiError::invalid(json!({ key: message }), json!({ key: [message] }))
}

/// Parsed request.
struct Params {
    terms: Vec<String>,
    archived: bool,
    personal: String,
    include_dq: bool,
    ids: Option<BTreeSet<i64>>,
}

/// A match before rendering, with its ranking keys.
struct Hit {
    model: &'static str,
    id: i64,
    name: String,
    updated_at: OffsetDateTime,
    body: Value,
}

/// `{id, name, authority_level, type}` of the item's collection; all `null` for root items.
fn search_collection(db: &Db, id: Option<i64>) -> Value {
    match id.and_then(|id| db.collections.get(&id)) {
        Some(c) => json!({
            "id": c.id,
            "name": c.name,
            "authority_level": c.authority_level,
            "type": c.collection_type,
        }),
        None => json!({ "id": null, "name": null, "authority_level": null, "type": null }),
    }
}

fn matches_terms(terms: &[String], name: &str, description: Option<&str>) -> bool {
    let hay = format!("{} {}", name.to_lowercase(), description.unwrap_or_default().to_lowercase());
    terms.iter().all(|t| hay.contains(t.as_str()))
}

/// `filter_items_in_personal_collection` applied to an item's collection.
fn personal_ok(db: &Db, caller: &Caller, filter: &str, coll: Option<i64>) -> bool {
    let owner = coll.and_then(|c| db.personal_owner_of(c));
    match filter {
        "only" => owner.is_some(),
        "only-mine" => owner == Some(caller.user_id),
        "exclude" => owner.is_none(),
        "exclude-others" => owner.is_none_or(|o| o == caller.user_id),
        _ => true,
    }
}

/// Archived search lists only trashed items the caller can write (§19.1).
fn visible(db: &Db, caller: &Caller, p: &Params, coll: Option<i64>, archived: bool) -> bool {
    if archived != p.archived {
        return false;
    }
    let allowed = if p.archived {
        can_write_collection(db, caller.user_id, coll)
    } else {
        can_read_collection(db, caller.user_id, coll)
    };
    allowed && personal_ok(db, caller, &p.personal, coll)
}

#[allow(clippy::too_many_arguments)]
fn common_item(
    db: &Db,
    caller: &Caller,
    model: &str,
    id: i64,
    name: &str,
    description: Option<&str>,
    archived: bool,
    coll: Option<i64>,
    creator_id: i64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
) -> Value {
    let creator = db.users.get(&creator_id).map(|u| u.common_name());
    json!({
        "model": model,
        "id": id,
        "name": name,
        "description": description,
        "archived": archived,
        "collection": search_collection(db, coll),
        "creator_id": creator_id,
        "creator_common_name": creator,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at),
        "last_edited_at": iso(updated_at),
        "last_editor_id": creator_id,
        "last_editor_common_name": creator,
        "bookmark": false,
        "can_write": can_write_collection(db, caller.user_id, coll),
        "moderated_status": null,
        "scores": [],
        "context": null,
    })
}

/// Every permitted hit for `wanted` models, before the cap.
fn collect_hits(db: &Db, caller: &Caller, p: &Params, wanted: &dyn Fn(&str) -> bool) -> Vec<Hit> {
    let mut hits = Vec::new();
    let id_ok = |id: i64| p.ids.as_ref().is_none_or(|ids| ids.contains(&id));
    if wanted("dashboard") {
        for d in db.dashboards.values() {
            if !id_ok(d.id)
                || !db.is_search_indexed("dashboard", d.id)
                || !matches_terms(&p.terms, &d.name, d.description.as_deref())
                || !visible(db, caller, p, d.collection_id, d.archived)
            {
                continue;
            }
            let mut body = common_item(
                db,
                caller,
                "dashboard",
                d.id,
                &d.name,
                d.description.as_deref(),
                d.archived,
                d.collection_id,
                d.creator_id,
                d.created_at,
                d.updated_at,
            );
            body["collection_position"] = json!(d.collection_position);
            body["display"] = Value::Null;
            body["dashboardcard_count"] = json!(d.dashcards.len());
            body["database_id"] = Value::Null;
            hits.push(Hit { model: "dashboard", id: d.id, name: d.name.clone(), updated_at: d.updated_at, body });
        }
    }
    for c in db.cards.values() {
        let model = crate::content::card_model(c);
        if !wanted(model) || !id_ok(c.id) || !db.is_search_indexed("card", c.id) {
            continue;
        }
        if let Some(dash_id) = c.dashboard_id {
            // Dashboard questions only on request, and only once placed on a dashcard (§19.1).
            let placed = db
                .dashboards
                .get(&dash_id)
                .is_some_and(|d| d.dashcards.iter().any(|dc| dc.card_id == Some(c.id) || dc.series.contains(&c.id)));
            if !p.include_dq || !placed {
                continue;
            }
        }
        if !matches_terms(&p.terms, &c.name, c.description.as_deref())
            || !visible(db, caller, p, c.collection_id, c.archived)
        {
            continue;
        }
        let mut body = common_item(
            db,
            caller,
            model,
            c.id,
            &c.name,
            c.description.as_deref(),
            c.archived,
            c.collection_id,
            c.creator_id,
            c.created_at,
            c.updated_at,
        );
        body["collection_position"] = json!(c.collection_position);
        body["display"] = json!(c.display);
        body["dashboardcard_count"] = json!(crate::content::dashboard_count(db, c.id));
        body["database_id"] = json!(c.database_id);
        if let Some(dash) = c.dashboard_id.and_then(|id| db.dashboards.get(&id)) {
            body["dashboard"] = json!({ "id": dash.id, "name": dash.name, "moderation_status": null });
        }
        hits.push(Hit { model, id: c.id, name: c.name.clone(), updated_at: c.updated_at, body });
    }
    if wanted("collection") {
        for c in db.collections.values() {
            if !id_ok(c.id)
                || !db.is_search_indexed("collection", c.id)
                || !matches_terms(&p.terms, &c.name, c.description.as_deref())
                || c.namespace.is_some()
                || !visible(db, caller, p, Some(c.id), c.archived)
            {
                continue;
            }
            let creator = c.personal_owner_id.unwrap_or_default();
            let mut body = common_item(
                db,
                caller,
                "collection",
                c.id,
                &c.name,
                c.description.as_deref(),
                c.archived,
                c.parent_id(),
                creator,
                c.created_at,
                c.created_at,
            );
            body["collection_position"] = Value::Null;
            body["display"] = Value::Null;
            body["database_id"] = Value::Null;
            body["location"] = json!(c.location);
            body["personal_owner_id"] = json!(c.personal_owner_id);
            body["authority_level"] = json!(c.authority_level);
            body["type"] = json!(c.collection_type);
            hits.push(Hit { model: "collection", id: c.id, name: c.name.clone(), updated_at: c.created_at, body });
        }
    }
    hits
}

async fn search(State(app): State<AppState>, Auth(caller): Auth, RawQuery(query): RawQuery) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let mut models: Vec<&'static str> = Vec::new();
    for (_, m) in pairs.iter().filter(|(k, _)| k == "models") {
        let known = MODELS.iter().find(|x| **x == m.as_str()).ok_or_else(|| invalid("models", MODELS_MESSAGE))?;
        if !models.contains(known) {
            models.push(known);
        }
    }
    let archived = query_bool(&pairs, "archived")?.unwrap_or(false);
    let include_dq = query_bool(&pairs, "include_dashboard_questions")?.unwrap_or(false);
    let available = query_bool(&pairs, "calculate_available_models")?.unwrap_or(false);
    let personal = query_value(&pairs, "filter_items_in_personal_collection").unwrap_or("all");
    if !PERSONAL_FILTERS.contains(&personal) {
        return Err(invalid(
            "filter_items_in_personal_collection",
            "nullable enum of all, only, only-mine, exclude, exclude-others",
        ));
    }
    let mut ids = BTreeSet::new();
    for (_, v) in pairs.iter().filter(|(k, _)| k == "ids") {
        let id = v
            .parse::<i64>()
            .map_err(|_| invalid("ids", "nullable vector of value must be an integer greater than zero."))?;
        ids.insert(id);
    }
    let ids = (!ids.is_empty()).then_some(ids);
    if ids.is_some() && models.len() != 1 {
        return Err(ApiError::bad_request(IDS_NEED_ONE_MODEL));
    }
    let paging = Paging::from_query(&pairs)?;
    let terms: Vec<String> =
        query_value(&pairs, "q").unwrap_or_default().split_whitespace().map(str::to_lowercase).collect();
    let params = Params { terms, archived, personal: personal.to_string(), include_dq, ids };

    let db = app.lock();
    let wanted = |m: &str| models.is_empty() || models.contains(&m);
    let mut hits = collect_hits(&db, &caller, &params, &wanted);
    // Stand-in for Metabase's relevance score: exact, then prefix name matches, then most recent.
    let q = params.terms.join(" ");
    hits.sort_by(|a, b| {
        let rank = |h: &Hit| {
            let name = h.name.to_lowercase();
            if q.is_empty() {
                2
            } else if name == q {
                0
            } else if name.starts_with(&q) {
                1
            } else {
                2
            }
        };
        rank(a)
            .cmp(&rank(b))
            .then_with(|| b.updated_at.cmp(&a.updated_at))
            .then_with(|| a.model.cmp(b.model))
            .then_with(|| b.id.cmp(&a.id))
    });
    hits.truncate(MAX_RESULTS);
    let total = hits.len();
    let data: Vec<Value> = paging.apply(hits).into_iter().map(|h| h.body).collect();
    let searched: Vec<&str> = if models.is_empty() { MODELS.to_vec() } else { models.clone() };
    let mut body = json!({
        "data": data,
        "total": total,
        "limit": paging.limit_json(),
        "offset": paging.offset_json(),
        "models": searched,
        "table_db_id": null,
        "engine": "search.engine/appdb",
    });
    if available {
        let everything = |_: &str| true;
        let found: BTreeSet<&str> = collect_hits(&db, &caller, &params, &everything).iter().map(|h| h.model).collect();
        body["available_models"] = json!(found);
    }
    ok(body)
}
