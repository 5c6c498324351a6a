//! Request and response shapes of the Metabase endpoints Tenantbase uses. Only the fields we
//! read are declared; Metabase adds fields between versions and serde ignores the rest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{MetabaseDatabaseId, MetabaseGroupId, MetabaseUserId};
use crate::secrets::SecretString;

/// `GET /api/session/properties` (§3). Embedding keys are absent for anonymous callers and the
/// secret key is present only for admins.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionProperties {
    #[serde(rename = "has-user-setup", default)]
    pub has_user_setup: bool,
    /// Present on fresh installs; newer versions clear it after setup (never rely on that).
    #[serde(rename = "setup-token", default)]
    pub setup_token: Option<SecretString>,
    #[serde(rename = "enable-embedding-static", default)]
    pub enable_embedding_static: Option<bool>,
    #[serde(rename = "embedding-secret-key", default)]
    pub embedding_secret_key: Option<SecretString>,
    #[serde(default)]
    pub version: Option<Version>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Version {
    #[serde(default)]
    pub tag: Option<String>,
}

/// `POST /api/setup` (§4).
#[derive(Debug, Clone, Serialize)]
pub struct SetupRequest {
    pub token: SecretString,
    pub user: SetupUser,
    pub prefs: SetupPrefs,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetupUser {
    pub email: String,
    pub password: SecretString,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetupPrefs {
    pub site_name: String,
}

/// The outcome of `POST /api/setup`: both the 403 and the 400-token answers mean another setup
/// already happened (§4 check order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupOutcome {
    Created,
    AlreadySetUp,
}

/// `GET /api/user/current` (§19.6).
#[derive(Debug, Clone, Deserialize)]
pub struct CurrentUser {
    pub id: MetabaseUserId,
    pub email: String,
    #[serde(default)]
    pub is_superuser: bool,
}

/// `GET /api/permissions/group` (§10). `magic_group_type` exists since 0.55; older versions are
/// recognised by name.
#[derive(Debug, Clone, Deserialize)]
pub struct PermissionGroup {
    pub id: MetabaseGroupId,
    pub name: String,
    #[serde(default)]
    pub magic_group_type: Option<String>,
}

impl PermissionGroup {
    pub fn is_all_users(&self) -> bool {
        match &self.magic_group_type {
            Some(kind) => kind == "all-internal-users",
            None => self.name == "All Users",
        }
    }

    pub fn is_admin(&self) -> bool {
        match &self.magic_group_type {
            Some(kind) => kind == "admin",
            None => self.name == "Administrators",
        }
    }
}

/// One entry of `GET /api/api-key` (§6).
#[derive(Debug, Clone, Deserialize)]
pub struct ApiKeySummary {
    pub id: u64,
    pub name: String,
}

/// `POST /api/api-key` and `PUT /api/api-key/:id/regenerate`: the only answers that carry the
/// unmasked key.
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedApiKey {
    pub id: u64,
    pub unmasked_key: SecretString,
}

/// One database of `GET /api/database` (§8).
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSummary {
    pub id: MetabaseDatabaseId,
    pub name: String,
    #[serde(default)]
    pub engine: Option<String>,
}

/// `POST /api/database` (§8). The details carry credentials.
#[derive(Debug, Clone, Serialize)]
pub struct NewDatabase {
    pub name: String,
    pub engine: String,
    pub details: crate::secrets::Secret<serde_json::Map<String, Value>>,
}

/// `GET`/`PUT /api/collection/graph` (§11): group id → collection id (or `root`) → `read`,
/// `write` or (older versions, and in patches) `none`. Sparse: absent means no access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionGraph {
    pub revision: i64,
    pub groups: BTreeMap<String, BTreeMap<String, String>>,
}

impl CollectionGraph {
    /// The effective access of `group` to `collection` (`"none"` when absent).
    pub fn access(&self, group: MetabaseGroupId, collection: &str) -> &str {
        self.groups.get(&group.to_string()).and_then(|cells| cells.get(collection)).map_or("none", String::as_str)
    }
}

/// `GET`/`PUT /api/permissions/graph` (§12, 0.50+ shape): group id → database id → permission
/// type → value. Least-permissive values are elided, so absent means the most restrictive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataPermissionGraph {
    pub revision: i64,
    pub groups: BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>,
}

impl DataPermissionGraph {
    /// `create-queries` of `group` on `database`; `"no"` when elided.
    pub fn create_queries(&self, group: MetabaseGroupId, database: MetabaseDatabaseId) -> String {
        self.groups
            .get(&group.to_string())
            .and_then(|dbs| dbs.get(&database.to_string()))
            .and_then(|perms| perms.get("create-queries"))
            .map_or_else(|| "no".to_owned(), |v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    }
}

/// A patch for either graph: the revision read, and only the cells to change.
#[derive(Debug, Clone, Serialize)]
pub struct GraphPatch<T> {
    pub revision: i64,
    pub groups: BTreeMap<String, T>,
}
