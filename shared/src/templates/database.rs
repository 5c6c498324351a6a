//! DB-per-tenant mode: a workspace's own Metabase database (`POST /api/workspaces/{id}/database`).
//!
//! The connection details carry credentials: they go to Metabase (`POST /api/database`, §8) inside
//! a [`Secret`] and nowhere else — not into the table, the logs, error bodies or responses.
//! Registration is idempotent and resumable: the Metabase database has a name derived from the
//! workspace id, so a retry after a lost answer finds it instead of connecting a second one;
//! the record (`WS#<ws>/DATABASE`) is written last.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::ids::{MetabaseDatabaseId, MetabaseGroupId, WorkspaceId};
use crate::metabase::{DataCells, DataPermissionGraph, MetabaseClient, MetabaseError, NewDatabase};
use crate::secrets::Secret;
use crate::store::{Condition, Store, WriteOutcome};
use crate::workspaces::{Status, Workspace, workspace_pk};

const SK: &str = "DATABASE";
const MAX_DETAILS: usize = 50;

/// Engines whose "database" is a file on the Metabase host: connecting one would let a workspace
/// owner read files there (Metabase's own application database included).
const REFUSED_ENGINES: [&str; 2] = ["h2", "sqlite"];

/// `WS#<ws>/DATABASE`: the workspace's registered database (never its details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseRecord {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    pub workspace_id: WorkspaceId,
    pub metabase_database_id: u64,
    pub name: String,
    pub engine: String,
    pub created_at: String,
}

/// The record as clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseView {
    pub workspace_id: WorkspaceId,
    pub metabase_database_id: u64,
    pub name: String,
    pub engine: String,
    pub created_at: String,
}

impl From<&DatabaseRecord> for DatabaseView {
    fn from(r: &DatabaseRecord) -> Self {
        Self {
            workspace_id: r.workspace_id,
            metabase_database_id: r.metabase_database_id,
            name: r.name.clone(),
            engine: r.engine.clone(),
            created_at: r.created_at.clone(),
        }
    }
}

/// A validated registration request.
#[derive(Debug)]
pub struct Registration {
    pub engine: String,
    pub name: String,
    pub details: Secret<Map<String, Value>>,
}

impl Registration {
    /// Reads `{engine, name, details}`; anything else in the body is refused.
    ///
    /// # Errors
    /// 400 naming the field at fault (never echoing `details`).
    pub fn parse(body: Map<String, Value>) -> Result<Self> {
        if let Some(key) = body.keys().find(|k| !matches!(k.as_str(), "engine" | "name" | "details")) {
            return Err(Error::bad_request("invalid_field", format!("{key} is not accepted here")));
        }
        let text = |field: &str| match body.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            None | Some(Value::Null) => Err(Error::bad_request("missing_field", format!("{field} is required"))),
            Some(_) => Err(Error::bad_request("invalid_field", format!("{field} must be a non-blank string"))),
        };
        let engine = text("engine")?;
        let engine_ok = engine.len() <= 40
            && engine.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && engine.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !engine_ok {
            return Err(Error::bad_request("invalid_engine", "engine must be a Metabase driver name such as postgres"));
        }
        if REFUSED_ENGINES.contains(&engine.as_str()) {
            return Err(Error::bad_request(
                "invalid_engine",
                format!("{engine} databases are files on the Metabase server and cannot be registered"),
            ));
        }
        let name = crate::http::request::display_name(&text("name")?)?;
        let details = match body.get("details") {
            Some(Value::Object(map)) if !map.is_empty() && map.len() <= MAX_DETAILS => map.clone(),
            None | Some(Value::Null) => return Err(Error::bad_request("missing_field", "details is required")),
            Some(_) => {
                return Err(Error::bad_request(
                    "invalid_details",
                    format!("details must be an object of 1 to {MAX_DETAILS} connection settings"),
                ));
            }
        };
        Ok(Self { engine, name, details: Secret::new(details) })
    }
}

/// The workspace's registered database, if any.
///
/// # Errors
/// DynamoDB failed.
pub async fn get(store: &Store, workspace: WorkspaceId) -> Result<Option<DatabaseRecord>> {
    store.get(&workspace_pk(workspace), SK).await
}

/// The name the database gets in Metabase: unique per workspace, so a retry finds it.
fn metabase_name(workspace: &Workspace, name: &str) -> String {
    format!("{name} [{}]", workspace.id)
}

/// Metabase's connection-test refusal (§8: `400 {"message", "errors": {field: …}}`), reduced to
/// the fields at fault: the driver's message may quote connection settings.
fn connection_refused(error: &MetabaseError) -> Option<Error> {
    if !error.is_status(400) {
        return None;
    }
    let fields: Vec<String> = error
        .json()
        .and_then(|body| body.get("errors").and_then(Value::as_object).map(|e| e.keys().cloned().collect()))
        .unwrap_or_default();
    let hint = if fields.is_empty() { String::new() } else { format!(" (check: {})", fields.join(", ")) };
    Some(Error::bad_request("connection_failed", format!("Metabase could not connect to the database{hint}")))
}

/// Registers `registration` as `workspace`'s database, or returns the one already registered
/// with the same name and engine (`false`: nothing new). Either way the permissions are
/// (re-)applied: All Users `create-queries: "no"` (§12), the workspace's group full query rights
/// on its own database.
///
/// # Errors
/// 409 `database_exists` when another database is registered; 409 when the workspace is not
/// active; 400 `connection_failed` when Metabase's connection test fails; Metabase or DynamoDB
/// failures (a retry resumes).
pub async fn register(
    deps: &Deps,
    workspace: &Workspace,
    registration: Registration,
) -> Result<(DatabaseRecord, bool)> {
    if workspace.status != Status::Active {
        return Err(Error::conflict(
            "workspace_not_active",
            "a database can be registered only for an active workspace",
        ));
    }
    let admin = deps.metabase_admin().await?;
    if let Some(existing) = get(&deps.store, workspace.id).await? {
        if existing.name != registration.name || existing.engine != registration.engine {
            return Err(Error::conflict(
                "database_exists",
                format!("the workspace already has the database {:?} ({})", existing.name, existing.engine),
            ));
        }
        restrict(&admin, workspace, MetabaseDatabaseId(existing.metabase_database_id)).await?;
        return Ok((existing, false));
    }
    let wanted = metabase_name(workspace, &registration.name);
    let id = match admin.databases().await?.into_iter().find(|d| d.name == wanted) {
        Some(found) => found.id,
        None => {
            let new = NewDatabase { name: wanted, engine: registration.engine.clone(), details: registration.details };
            match admin.create_database(&new).await {
                Ok(created) => created.id,
                Err(error) => return Err(connection_refused(&error).unwrap_or_else(|| error.into())),
            }
        }
    };
    restrict(&admin, workspace, id).await?;
    let record = DatabaseRecord {
        pk: workspace_pk(workspace.id),
        sk: SK.to_owned(),
        workspace_id: workspace.id,
        metabase_database_id: id.0,
        name: registration.name,
        engine: registration.engine,
        created_at: crate::workspaces::provision::now(deps),
    };
    match deps.store.put_if(&record, Condition::not_exists()).await? {
        WriteOutcome::Applied => {
            tracing::info!(workspace = %workspace.id, database = id.0, engine = %record.engine, "workspace database registered");
            Ok((record, true))
        }
        // A concurrent request registered first: answer as its replay would.
        WriteOutcome::ConditionFailed => {
            let existing =
                get(&deps.store, workspace.id).await?.ok_or_else(|| Error::internal("database record vanished"))?;
            Ok((existing, false))
        }
    }
}

/// The data-permission cells `database` needs that `graph` does not have yet.
fn missing_cells(
    graph: &DataPermissionGraph,
    all_users: MetabaseGroupId,
    group: Option<MetabaseGroupId>,
    database: MetabaseDatabaseId,
) -> Option<DataCells> {
    let mut cells: DataCells = BTreeMap::new();
    if graph.create_queries(all_users, database) != "no" {
        let cell = BTreeMap::from([("create-queries".to_owned(), json!("no"))]);
        cells.insert(all_users.to_string(), BTreeMap::from([(database.to_string(), cell)]));
    }
    if let Some(group) = group {
        let view = graph
            .groups
            .get(&group.to_string())
            .and_then(|dbs| dbs.get(&database.to_string()))
            .and_then(|p| p.get("view-data"))
            .and_then(Value::as_str);
        if graph.create_queries(group, database) != "query-builder-and-native" || view != Some("unrestricted") {
            let cell = BTreeMap::from([
                ("view-data".to_owned(), json!("unrestricted")),
                ("create-queries".to_owned(), json!("query-builder-and-native")),
            ]);
            cells.insert(group.to_string(), BTreeMap::from([(database.to_string(), cell)]));
        }
    }
    (!cells.is_empty()).then_some(cells)
}

/// All Users may not query the workspace's database (§12); the workspace's group (owners and
/// editors) may, since the database is the workspace's own.
async fn restrict(admin: &MetabaseClient, workspace: &Workspace, database: MetabaseDatabaseId) -> Result<()> {
    let groups = admin.groups().await?;
    let all_users = groups
        .iter()
        .find(|g| g.is_all_users())
        .map(|g| g.id)
        .ok_or_else(|| Error::upstream("metabase", "no All Users group"))?;
    admin.patch_data_graph(|graph| missing_cells(graph, all_users, workspace.metabase_group_id, database)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<Registration> {
        Registration::parse(body.as_object().unwrap().clone())
    }

    #[test]
    fn bad_input_is_refused_without_echoing_details() {
        let ok = json!({"engine": "postgres", "name": "Acme", "details": {"host": "h", "password": "hunter2"}});
        let registration = parse(ok).unwrap();
        assert!(!format!("{registration:?}").contains("hunter2"));
        let cases = [
            (json!({"name": "A", "details": {"host": "h"}}), "missing_field"),
            (json!({"engine": "Postgres!", "name": "A", "details": {"host": "h"}}), "invalid_engine"),
            (json!({"engine": "h2", "name": "A", "details": {"db": "file:/etc/passwd"}}), "invalid_engine"),
            (json!({"engine": "postgres", "name": " ", "details": {"host": "h"}}), "invalid_field"),
            (json!({"engine": "postgres", "name": "A", "details": {}}), "invalid_details"),
            (json!({"engine": "postgres", "name": "A", "details": "password=hunter2"}), "invalid_details"),
            (json!({"engine": "postgres", "name": "A", "details": {"host": "h"}, "extra": 1}), "invalid_field"),
        ];
        for (body, code) in cases {
            let error = parse(body.clone()).unwrap_err();
            assert_eq!(error.code(), code, "{body}");
            assert!(!error.public_message().contains("hunter2"));
        }
    }

    #[test]
    fn permissions_are_planned_until_in_place() {
        let (all, group, db) = (MetabaseGroupId(1), MetabaseGroupId(5), MetabaseDatabaseId(9));
        let fresh = DataPermissionGraph {
            revision: 1,
            groups: BTreeMap::from([(
                "1".to_owned(),
                BTreeMap::from([(
                    "9".to_owned(),
                    BTreeMap::from([("create-queries".to_owned(), json!("query-builder-and-native"))]),
                )]),
            )]),
        };
        let cells = missing_cells(&fresh, all, Some(group), db).expect("changes needed");
        assert_eq!(cells["1"]["9"]["create-queries"], "no");
        assert_eq!(cells["5"]["9"]["create-queries"], "query-builder-and-native");
        let done = DataPermissionGraph {
            revision: 2,
            groups: BTreeMap::from([(
                "5".to_owned(),
                BTreeMap::from([(
                    "9".to_owned(),
                    BTreeMap::from([
                        ("create-queries".to_owned(), json!("query-builder-and-native")),
                        ("view-data".to_owned(), json!("unrestricted")),
                    ]),
                )]),
            )]),
        };
        assert_eq!(missing_cells(&done, all, Some(group), db), None);
    }
}
