//! Databases (§8): `{data,total}` listing, get, create with a connection test, delete.
//!
//! Connection-test rule (the emulator cannot reach real servers): `postgres` needs non-blank
//! `host` and `dbname` (or `db`) and a `port` that is a number 1–65535 when given; `h2` and `sqlite`
//! need a non-blank `db`. Any other engine fails the test. Failures answer 400 with the driver-style
//! map `{"message": …, "errors": {<field>: …}}`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::auth::{Auth, Superuser};
use crate::http::{ApiError, ApiResult, no_content, ok, parse_body, query_pairs};
use crate::routes::setup::{non_blank, specific_errors};
use crate::state::{AppState, Database, State as Db, Table, iso};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/database", get(list_databases).post(create_database))
        .route("/api/database/", get(list_databases).post(create_database))
        .route("/api/database/{id}", get(get_database).delete(delete_database))
}

fn table_json(table: &Table, with_fields: bool) -> Value {
    let mut body = json!({
        "id": table.id,
        "db_id": table.db_id,
        "name": table.name,
        "display_name": table.display_name,
        "schema": table.schema,
        "entity_type": "entity/GenericTable",
        "active": true,
        "visibility_type": null,
    });
    if with_fields {
        body["fields"] = Value::Array(
            table
                .fields
                .iter()
                .map(|f| {
                    json!({
                        "id": f.id,
                        "table_id": f.table_id,
                        "name": f.name,
                        "display_name": f.display_name,
                        "base_type": f.base_type,
                        "effective_type": f.base_type,
                        "semantic_type": f.semantic_type,
                        "database_type": f.database_type,
                        "active": true,
                    })
                })
                .collect(),
        );
    }
    body
}

/// `include` is `tables` or `tables.fields`; `details` only for superusers (§8).
pub fn database_json(db: &Database, include: Option<&str>, show_details: bool) -> Value {
    let mut body = json!({
        "id": db.id,
        "name": db.name,
        "engine": db.engine,
        "is_sample": db.is_sample,
        "is_full_sync": db.is_full_sync,
        "is_on_demand": db.is_on_demand,
        "auto_run_queries": db.auto_run_queries,
        "is_audit": false,
        "is_attached_dwh": false,
        "features": ["basic-aggregations", "native-parameters", "nested-queries", "standard-deviation-aggregations"],
        "native_permissions": "write",
        "initial_sync_status": "complete",
        "timezone": "UTC",
        "cache_ttl": null,
        "description": null,
        "created_at": iso(db.created_at),
        "updated_at": iso(db.updated_at),
    });
    if show_details {
        body["details"] = db.details.clone();
    }
    match include {
        Some("tables") => {
            body["tables"] = Value::Array(db.tables.iter().map(|t| table_json(t, false)).collect());
        }
        Some("tables.fields") => {
            body["tables"] = Value::Array(db.tables.iter().map(|t| table_json(t, true)).collect());
        }
        _ => {}
    }
    body
}

/// Whether a (non-admin) user's groups can see the database at all (`view-data` not blocked).
fn can_see(state: &Db, user_id: i64, db_id: i64) -> bool {
    state.is_superuser(user_id)
        || state.user_group_ids(user_id).iter().any(|g| {
            state
                .data_perms
                .get(g)
                .and_then(|dbs| dbs.get(&db_id))
                .and_then(|p| p.get("view-data"))
                .is_some_and(|v| v != "blocked")
        })
}

async fn list_databases(State(app): State<AppState>, Auth(caller): Auth, RawQuery(query): RawQuery) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let include = pairs.iter().find(|(k, _)| k == "include").map(|(_, v)| v.as_str());
    let saved = pairs.iter().any(|(k, v)| k == "saved" && v == "true");
    let state = app.lock();
    let mut data: Vec<Value> = state
        .databases
        .values()
        .filter(|db| can_see(&state, caller.user_id, db.id))
        .map(|db| database_json(db, include, caller.is_superuser))
        .collect();
    if saved {
        data.push(json!({ "id": -1337, "name": "Saved Questions", "is_saved_questions": true, "engine": null, "features": ["basic-aggregations", "nested-queries"] }));
    }
    let total = data.len();
    ok(json!({ "data": data, "total": total }))
}

async fn get_database(
    State(app): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let include = pairs.iter().find(|(k, _)| k == "include").map(|(_, v)| v.as_str());
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    let state = app.lock();
    let db = state.databases.get(&id).ok_or_else(ApiError::not_found)?;
    if !can_see(&state, caller.user_id, id) {
        return Err(ApiError::forbidden());
    }
    ok(database_json(db, include, caller.is_superuser))
}

/// The emulator's connection test; `Err` is the driver-style error map.
fn test_connection(engine: &str, details: &Map<String, Value>) -> Result<(), Value> {
    let blank = |key: &str| details.get(key).and_then(non_blank).is_none();
    let mut errors = Map::new();
    match engine {
        "postgres" => {
            if blank("host") {
                errors.insert("host".into(), json!("Check your host settings"));
            }
            if blank("dbname") && blank("db") {
                errors.insert("dbname".into(), json!("Check your database name settings"));
            }
            if let Some(port) = details.get("port").filter(|p| !p.is_null()) {
                let ok_port = port
                    .as_u64()
                    .or_else(|| port.as_str().and_then(|s| s.parse().ok()))
                    .is_some_and(|p| (1..=65535).contains(&p));
                if !ok_port {
                    errors.insert("port".into(), json!("Check your port settings"));
                }
            }
        }
        "h2" | "sqlite" => {
            if blank("db") {
                errors.insert("db".into(), json!("Check your database file settings"));
            }
        }
        other => {
            return Err(json!({
                "message": format!("Unable to connect: no driver for engine {other}"),
                "errors": { "engine": "Invalid engine" },
            }));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let field = errors.keys().next().cloned().unwrap_or_default();
    let message = errors[&field].as_str().unwrap_or_default().to_string();
    let mut message = message;
    message.push('.');
    Err(json!({ "message": message, "errors": errors }))
}

async fn create_database(State(app): State<AppState>, Superuser(_): Superuser, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let mut errors = Map::new();
    if non_blank(&body["name"]).is_none() {
        errors.insert("name".into(), json!("value must be a non-blank string."));
    }
    if non_blank(&body["engine"]).is_none() {
        errors.insert("engine".into(), json!("value must be a valid database engine."));
    }
    if !body["details"].is_object() {
        errors.insert("details".into(), json!("value must be a map."));
    }
    if !errors.is_empty() {
        let errors = Value::Object(errors);
        return Err(ApiError::invalid(errors.clone(), specific_errors(&errors)));
    }
    let engine = body["engine"].as_str().unwrap_or_default().to_string();
    let details = body["details"].as_object().cloned().unwrap_or_default();
    test_connection(&engine, &details).map_err(|e| ApiError::json(StatusCode::BAD_REQUEST, e))?;
    let mut state = app.lock();
    let id = state.next_id("database");
    let now = state.now();
    state.add_database(Database {
        id,
        name: body["name"].as_str().unwrap_or_default().to_string(),
        engine,
        details: Value::Object(details),
        is_sample: false,
        is_full_sync: body["is_full_sync"].as_bool().unwrap_or(true),
        is_on_demand: body["is_on_demand"].as_bool().unwrap_or(false),
        auto_run_queries: body["auto_run_queries"].as_bool().unwrap_or(true),
        created_at: now,
        updated_at: now,
        tables: Vec::new(),
        // Its own copy of the seed warehouse, so queries against it run (and are told apart from
        // the sample `analytics` database by their `database_id`).
        warehouse: Some(std::sync::Arc::new(crate::analytics::AnalyticsDb::new())),
    });
    let db = &state.databases[&id];
    ok(database_json(db, None, true))
}

async fn delete_database(State(app): State<AppState>, Superuser(_): Superuser, Path(id): Path<String>) -> ApiResult {
    let id: i64 = id.parse().map_err(|_| ApiError::not_found())?;
    let mut state = app.lock();
    state.databases.remove(&id).ok_or_else(ApiError::not_found)?;
    for dbs in state.data_perms.values_mut() {
        dbs.remove(&id);
    }
    no_content()
}
