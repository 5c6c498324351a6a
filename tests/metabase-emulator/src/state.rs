//! The emulator's whole in-memory application database: every entity any route needs, plus seed data.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::{EmulatorConfig, Knobs};

/// Id of the All Users group on a fresh install (§10).
pub const ALL_USERS_GROUP_ID: i64 = 1;
/// Id of the Administrators group on a fresh install (§10).
pub const ADMIN_GROUP_ID: i64 = 2;
/// Id of the seeded `Sample Database`.
pub const SAMPLE_DB_ID: i64 = 1;
/// Id of the seeded `analytics` database whose `orders` table holds the tenants' rows.
pub const ANALYTICS_DB_ID: i64 = 2;
/// §1: sessions live 14 days from creation (`MAX_SESSION_AGE` = 20160 minutes).
pub const SESSION_MAX_AGE_SECS: i64 = 20160 * 60;

/// Shared axum state: the database plus the process start instant (for the initialising window).
#[derive(Clone, Debug)]
pub struct AppState {
    pub inner: Arc<Mutex<State>>,
    pub config: Arc<EmulatorConfig>,
    pub started: Arc<Mutex<Instant>>,
}

impl AppState {
    pub fn new(config: EmulatorConfig) -> Self {
        let state = State::fresh(config.knobs.clone());
        AppState {
            inner: Arc::new(Mutex::new(state)),
            config: Arc::new(config),
            started: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// Lock the database. A poisoned lock (a panicking handler) is recovered: the data stays usable.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Seconds since start (or since the last reset), for the §2 initialising window.
    pub fn uptime_secs(&self) -> f64 {
        let started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        started.elapsed().as_secs_f64()
    }

    /// Back to a fresh, not-yet-set-up Metabase with the start-up knobs.
    pub fn reset(&self) {
        *self.lock() = State::fresh(self.config.knobs.clone());
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }
}

/// `normal` users log in; `api-key` users are the hidden users behind API keys (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserKind {
    Normal,
    ApiKey,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `salt$sha256hex`; `None` never happens for users created through the API (invites get a random one).
    #[serde(skip)]
    pub password_hash: String,
    pub is_active: bool,
    pub kind: UserKind,
    pub date_joined: OffsetDateTime,
    pub last_login: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
    pub locale: Option<String>,
    pub login_attributes: Option<Value>,
    /// True for the user created by `POST /api/setup`.
    pub is_installer: bool,
}

impl User {
    /// Metabase's `common_name`: first and last name joined, else the email.
    pub fn common_name(&self) -> String {
        let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() { self.email.clone() } else { parts.join(" ") }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: String,
    pub user_id: i64,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The hidden `api-key` user that requests made with this key act as.
    pub user_id: i64,
    pub group_id: i64,
    /// First 7 characters of the key (`mb_` + 4), the unique lookup prefix.
    pub prefix: String,
    #[serde(skip)]
    pub key_hash: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub updated_by_id: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub id: i64,
    pub name: String,
    /// `admin`, `all-internal-users` or `None` (§10, §19.6).
    pub magic_group_type: Option<String>,
    pub entity_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Membership {
    pub id: i64,
    pub user_id: i64,
    pub group_id: i64,
    pub is_group_manager: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Collection {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub slug: String,
    /// Materialised path of ancestors: `/` for top level, `/1/5/` under 5 under 1.
    pub location: String,
    pub personal_owner_id: Option<i64>,
    pub archived: bool,
    pub entity_id: String,
    pub namespace: Option<String>,
    pub authority_level: Option<String>,
    pub collection_type: Option<String>,
    pub created_at: OffsetDateTime,
}

impl Collection {
    /// Direct parent id, derived from `location`.
    pub fn parent_id(&self) -> Option<i64> {
        self.ancestor_ids().last().copied()
    }
    /// Ancestor ids from the top down.
    pub fn ancestor_ids(&self) -> Vec<i64> {
        location_ids(&self.location)
    }
}

/// Parse `/1/5/` into `[1, 5]`.
pub fn location_ids(location: &str) -> Vec<i64> {
    location.split('/').filter(|s| !s.is_empty()).filter_map(|s| s.parse().ok()).collect()
}

/// A cell of the collection permission graph; absence means no access (§11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// `None` is the root collection.
pub type CollectionKey = Option<i64>;

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub id: i64,
    pub table_id: i64,
    pub name: String,
    pub display_name: String,
    pub base_type: String,
    pub semantic_type: Option<String>,
    pub database_type: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub id: i64,
    pub db_id: i64,
    pub name: String,
    pub display_name: String,
    pub schema: String,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Database {
    pub id: i64,
    pub name: String,
    pub engine: String,
    pub details: Value,
    pub is_sample: bool,
    pub is_full_sync: bool,
    pub is_on_demand: bool,
    pub auto_run_queries: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub tables: Vec<Table>,
    /// Where native queries against this database run: the emulator cannot reach the server the
    /// details name, so a database registered through `POST /api/database` gets its own in-memory
    /// copy of the seed warehouse. `None` for the sample database (no queries run there).
    #[serde(skip)]
    pub warehouse: Option<std::sync::Arc<crate::analytics::AnalyticsDb>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DashboardTab {
    pub id: i64,
    pub dashboard_id: i64,
    pub name: String,
    pub position: i64,
    pub entity_id: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct DashCard {
    pub id: i64,
    pub dashboard_id: i64,
    /// `None` for virtual (text/heading/link…) cards.
    pub card_id: Option<i64>,
    pub dashboard_tab_id: Option<i64>,
    pub row: i64,
    pub col: i64,
    pub size_x: i64,
    pub size_y: i64,
    pub parameter_mappings: Vec<Value>,
    /// Ids of the series cards.
    pub series: Vec<i64>,
    pub visualization_settings: Value,
    pub action_id: Option<i64>,
    pub entity_id: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub collection_id: Option<i64>,
    pub collection_position: Option<i64>,
    pub creator_id: i64,
    pub parameters: Vec<Value>,
    pub enable_embedding: bool,
    /// `{slug: "disabled"|"enabled"|"locked"}` or `None` (JSON null).
    pub embedding_params: Option<Value>,
    pub embedding_type: Option<String>,
    pub archived: bool,
    pub archived_directly: bool,
    pub public_uuid: Option<String>,
    pub cache_ttl: Option<i64>,
    /// `"fixed"` or `"full"`.
    pub width: String,
    pub auto_apply_filters: bool,
    pub tabs: Vec<DashboardTab>,
    pub dashcards: Vec<DashCard>,
    pub entity_id: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub display: String,
    /// Stored as sent (legacy or MBQL 5); rendering decides the response shape.
    pub dataset_query: Value,
    pub visualization_settings: Value,
    pub parameters: Vec<Value>,
    pub parameter_mappings: Vec<Value>,
    pub collection_id: Option<i64>,
    pub collection_position: Option<i64>,
    /// Set for dashboard questions (0.53+).
    pub dashboard_id: Option<i64>,
    /// `question`, `model` or `metric`.
    pub card_type: String,
    pub query_type: Option<String>,
    pub enable_embedding: bool,
    pub embedding_params: Option<Value>,
    pub archived: bool,
    pub archived_directly: bool,
    pub database_id: Option<i64>,
    pub table_id: Option<i64>,
    pub result_metadata: Option<Value>,
    pub cache_ttl: Option<i64>,
    pub creator_id: i64,
    pub public_uuid: Option<String>,
    pub entity_id: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// One login attempt remembered by a throttler (§5).
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub at: OffsetDateTime,
}

/// An injected fault (`POST /__emulator/faults`).
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub method: Option<String>,
    pub path: String,
    /// `None` means "timeout": the request hangs.
    pub status: Option<u16>,
    pub body: Option<String>,
    pub remaining: Option<u64>,
    pub probability: Option<f64>,
}

/// An injected delay (`POST /__emulator/latency`).
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub method: Option<String>,
    pub path: String,
    pub ms: u64,
}

/// The application database.
#[derive(Debug, Clone, Serialize)]
pub struct State {
    pub knobs: Knobs,
    /// Added to the wall clock by [`State::now`]; lets tests skip throttle waits and session expiry.
    pub clock_offset_secs: i64,

    pub users: BTreeMap<i64, User>,
    pub sessions: BTreeMap<String, Session>,
    pub api_keys: BTreeMap<i64, ApiKey>,
    /// Setting values that differ from their defaults, keyed by kebab-case name (see `settings.rs`).
    pub settings: BTreeMap<String, Value>,
    pub groups: BTreeMap<i64, Group>,
    pub memberships: BTreeMap<i64, Membership>,
    pub collections: BTreeMap<i64, Collection>,
    /// `(group id, collection or root) → access`; a missing cell is "none" (§11).
    #[serde(serialize_with = "serialize_collection_perms")]
    pub collection_perms: BTreeMap<(i64, CollectionKey), Access>,
    pub collection_revision: i64,
    /// `group id → db id → perm type (view-data, create-queries, download, data-model, details) → value` (§12).
    pub data_perms: BTreeMap<i64, BTreeMap<i64, BTreeMap<String, Value>>>,
    pub data_revision: i64,
    pub databases: BTreeMap<i64, Database>,
    pub dashboards: BTreeMap<i64, Dashboard>,
    pub cards: BTreeMap<i64, Card>,
    /// `(model, id) → when the search index reflects the last write` (§19.1 indexing delay).
    #[serde(serialize_with = "serialize_search_index")]
    pub search_indexed_at: BTreeMap<(String, i64), OffsetDateTime>,

    /// Failed-login bookkeeping per lower-cased username and per client IP (§5).
    pub login_attempts_by_username: HashMap<String, Vec<Attempt>>,
    pub login_attempts_by_ip: HashMap<String, Vec<Attempt>>,

    /// `"METHOD /path" → calls`, counted before faults and routing.
    pub route_calls: BTreeMap<String, u64>,
    pub faults: Vec<Fault>,
    pub latencies: Vec<Latency>,
    /// Last id handed out per entity kind.
    pub id_counters: BTreeMap<String, i64>,
}

fn serialize_collection_perms<S: serde::Serializer>(
    perms: &BTreeMap<(i64, CollectionKey), Access>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut out: BTreeMap<String, BTreeMap<String, Access>> = BTreeMap::new();
    for ((group, coll), access) in perms {
        let key = coll.map_or_else(|| "root".to_string(), |id| id.to_string());
        out.entry(group.to_string()).or_default().insert(key, *access);
    }
    out.serialize(serializer)
}

fn serialize_search_index<S: serde::Serializer>(
    index: &BTreeMap<(String, i64), OffsetDateTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let out: BTreeMap<String, String> =
        index.iter().map(|((model, id), at)| (format!("{model}/{id}"), iso(*at))).collect();
    out.serialize(serializer)
}

/// RFC 3339 timestamp as Metabase prints them.
pub fn iso(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// JSON for an optional timestamp.
pub fn iso_opt(at: Option<OffsetDateTime>) -> Value {
    at.map_or(Value::Null, |t| Value::String(iso(t)))
}

/// A random 21-character NanoID, the shape of Metabase `entity_id`s.
pub fn new_entity_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    (0..21).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect()
}

/// Lower-case hex of `len` random bytes.
pub fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::fill(&mut bytes[..]);
    hex::encode(bytes)
}

/// Salted SHA-256 password hash `salt$hex` (the emulator needs only equality, not bcrypt's cost).
pub fn hash_password(password: &str) -> String {
    let salt = random_hex(8);
    format!("{salt}${}", salted_digest(&salt, password))
}

/// Whether `password` matches a hash made by [`hash_password`].
pub fn verify_password(hash: &str, password: &str) -> bool {
    match hash.split_once('$') {
        Some((salt, digest)) => salted_digest(salt, password) == digest,
        None => false,
    }
}

fn salted_digest(salt: &str, password: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(password.as_bytes());
    hex::encode(hasher.finalize())
}

/// Slug of a collection name as Metabase derives it (lower-case, `_` between words).
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('_') {
            slug.push('_');
        }
    }
    slug.trim_matches('_').to_string()
}

/// Table and field metadata of the `analytics` database, taken from the SQLite catalogue in
/// `analytics.rs` so the metadata and the queryable data cannot drift apart.
pub fn analytics_catalog() -> Vec<Table> {
    crate::analytics::catalog()
        .into_iter()
        .map(|t| Table {
            id: t.id,
            db_id: ANALYTICS_DB_ID,
            name: t.name.into(),
            display_name: t.display_name.into(),
            schema: t.schema.into(),
            fields: t
                .fields
                .into_iter()
                .map(|f| Field {
                    id: f.id,
                    table_id: t.id,
                    name: f.name.into(),
                    display_name: f.display_name.into(),
                    base_type: f.base_type.into(),
                    semantic_type: (f.name == "id").then(|| "type/PK".to_string()),
                    database_type: sqlite_type(f.base_type).into(),
                })
                .collect(),
        })
        .collect()
}

/// SQLite column type reported for a Metabase base type.
fn sqlite_type(base_type: &str) -> &'static str {
    match base_type {
        "type/Integer" | "type/BigInteger" => "INTEGER",
        "type/Float" | "type/Decimal" => "REAL",
        "type/DateTime" | "type/Date" => "TIMESTAMP",
        _ => "TEXT",
    }
}

/// Default data permissions of All Users on a new database (§12).
pub fn default_data_perms() -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("view-data".to_string(), json!("unrestricted")),
        ("create-queries".to_string(), json!("query-builder-and-native")),
        ("download".to_string(), json!({ "schemas": "full" })),
        ("data-model".to_string(), json!({ "schemas": "none" })),
        ("details".to_string(), json!("no")),
    ])
}

impl State {
    /// A fresh, not-yet-set-up Metabase: two magic groups, root writable by All Users, two databases.
    pub fn fresh(knobs: Knobs) -> Self {
        let now = OffsetDateTime::now_utc();
        let mut state = State {
            knobs,
            clock_offset_secs: 0,
            users: BTreeMap::new(),
            sessions: BTreeMap::new(),
            api_keys: BTreeMap::new(),
            settings: BTreeMap::new(),
            groups: BTreeMap::new(),
            memberships: BTreeMap::new(),
            collections: BTreeMap::new(),
            collection_perms: BTreeMap::new(),
            collection_revision: 0,
            data_perms: BTreeMap::new(),
            data_revision: 0,
            databases: BTreeMap::new(),
            dashboards: BTreeMap::new(),
            cards: BTreeMap::new(),
            search_indexed_at: BTreeMap::new(),
            login_attempts_by_username: HashMap::new(),
            login_attempts_by_ip: HashMap::new(),
            route_calls: BTreeMap::new(),
            faults: Vec::new(),
            latencies: Vec::new(),
            id_counters: BTreeMap::new(),
        };
        for (name, magic) in [("All Users", "all-internal-users"), ("Administrators", "admin")] {
            let id = state.next_id("group");
            state.groups.insert(
                id,
                Group { id, name: name.into(), magic_group_type: Some(magic.into()), entity_id: new_entity_id() },
            );
        }
        state.collection_perms.insert((ALL_USERS_GROUP_ID, None), Access::Write);
        state.settings.insert("setup-token".into(), json!(uuid::Uuid::new_v4().to_string()));

        let sample_tables = vec![Table {
            id: 1,
            db_id: SAMPLE_DB_ID,
            name: "PRODUCTS".into(),
            display_name: "Products".into(),
            schema: "PUBLIC".into(),
            fields: vec![Field {
                id: 1,
                table_id: 1,
                name: "ID".into(),
                display_name: "ID".into(),
                base_type: "type/BigInteger".into(),
                semantic_type: Some("type/PK".into()),
                database_type: "BIGINT".into(),
            }],
        }];
        state.add_database(Database {
            id: SAMPLE_DB_ID,
            name: "Sample Database".into(),
            engine: "h2".into(),
            details: json!({ "db": "file:/plugins/sample-database.db;USER=GUEST;PASSWORD=guest" }),
            is_sample: true,
            is_full_sync: true,
            is_on_demand: false,
            auto_run_queries: true,
            created_at: now,
            updated_at: now,
            tables: sample_tables,
            warehouse: None,
        });
        state.add_database(Database {
            id: ANALYTICS_DB_ID,
            name: "analytics".into(),
            engine: "sqlite".into(),
            details: json!({ "db": "analytics.sqlite" }),
            is_sample: false,
            is_full_sync: true,
            is_on_demand: false,
            auto_run_queries: true,
            created_at: now,
            updated_at: now,
            tables: analytics_catalog(),
            warehouse: Some(crate::analytics::shared_handle()),
        });
        // Seeding is not an edit: fresh installs start at revision 0 for both graphs.
        state.data_revision = 0;
        state
    }

    /// The emulator's notion of "now" (wall clock plus the test-controlled offset).
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.clock_offset_secs)
    }

    /// Next id for an entity kind (`user`, `group`, `collection`, `dashboard`, `card`, `dashcard`, …).
    pub fn next_id(&mut self, kind: &str) -> i64 {
        let counter = self.id_counters.entry(kind.to_string()).or_insert(0);
        *counter += 1;
        *counter
    }

    /// Insert a database and give All Users (and copies to every other group) the defaults of §12.
    pub fn add_database(&mut self, db: Database) {
        let db_id = db.id;
        let counter = self.id_counters.entry("database".into()).or_insert(0);
        *counter = (*counter).max(db_id);
        self.databases.insert(db_id, db);
        let all_users = self.all_users_group_id();
        let admin = self.admin_group_id();
        self.data_perms.entry(all_users).or_default().insert(db_id, default_data_perms());
        let others: Vec<i64> = self.groups.keys().copied().filter(|g| *g != all_users && *g != admin).collect();
        for gid in others {
            let perms = self.derived_data_perms(db_id);
            self.data_perms.entry(gid).or_default().insert(db_id, perms);
        }
    }

    /// Data permissions a non-magic group gets on `db_id` when it (or the database) is created:
    /// All Users' `view-data`, everything else at its least permissive value (§10, §12).
    pub fn derived_data_perms(&self, db_id: i64) -> BTreeMap<String, Value> {
        let view_data = self
            .data_perms
            .get(&self.all_users_group_id())
            .and_then(|dbs| dbs.get(&db_id))
            .and_then(|p| p.get("view-data"))
            .cloned()
            .unwrap_or_else(|| json!("unrestricted"));
        BTreeMap::from([
            ("view-data".to_string(), view_data),
            ("create-queries".to_string(), json!("no")),
            ("download".to_string(), json!({ "schemas": "none" })),
            ("data-model".to_string(), json!({ "schemas": "none" })),
            ("details".to_string(), json!("no")),
        ])
    }

    pub fn admin_group_id(&self) -> i64 {
        self.group_by_magic("admin").unwrap_or(ADMIN_GROUP_ID)
    }

    pub fn all_users_group_id(&self) -> i64 {
        self.group_by_magic("all-internal-users").unwrap_or(ALL_USERS_GROUP_ID)
    }

    fn group_by_magic(&self, magic: &str) -> Option<i64> {
        self.groups.values().find(|g| g.magic_group_type.as_deref() == Some(magic)).map(|g| g.id)
    }

    /// Group ids of a user, ascending.
    pub fn user_group_ids(&self, user_id: i64) -> Vec<i64> {
        let mut ids: Vec<i64> =
            self.memberships.values().filter(|m| m.user_id == user_id).map(|m| m.group_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// §10: a superuser is exactly a member of the Administrators group.
    pub fn is_superuser(&self, user_id: i64) -> bool {
        let admin = self.admin_group_id();
        self.memberships.values().any(|m| m.user_id == user_id && m.group_id == admin)
    }

    /// Add a membership unless it exists; returns its id.
    pub fn add_membership(&mut self, user_id: i64, group_id: i64, is_group_manager: bool) -> i64 {
        if let Some(m) = self.memberships.values().find(|m| m.user_id == user_id && m.group_id == group_id) {
            return m.id;
        }
        let id = self.next_id("membership");
        self.memberships.insert(id, Membership { id, user_id, group_id, is_group_manager });
        id
    }

    /// Real (non-API-key) users exist: Metabase's `has-user-setup`.
    pub fn has_user_setup(&self) -> bool {
        self.users.values().any(|u| u.kind == UserKind::Normal)
    }

    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        let wanted = email.to_lowercase();
        self.users.values().find(|u| u.email.to_lowercase() == wanted)
    }

    /// Create a user in All Users (plus Administrators when `superuser`) with a personal collection (§9).
    pub fn create_user(&mut self, spec: NewUser) -> i64 {
        let now = self.now();
        let id = self.next_id("user");
        self.users.insert(
            id,
            User {
                id,
                email: spec.email,
                first_name: spec.first_name,
                last_name: spec.last_name,
                password_hash: hash_password(&spec.password),
                is_active: true,
                kind: spec.kind,
                date_joined: now,
                last_login: None,
                updated_at: now,
                locale: None,
                login_attributes: spec.login_attributes,
                is_installer: spec.is_installer,
            },
        );
        let all_users = self.all_users_group_id();
        self.add_membership(id, all_users, false);
        if spec.superuser {
            let admin = self.admin_group_id();
            self.add_membership(id, admin, false);
        }
        if spec.kind == UserKind::Normal {
            self.create_personal_collection(id);
        }
        id
    }

    fn create_personal_collection(&mut self, user_id: i64) -> i64 {
        let user = &self.users[&user_id];
        let name = format!("{}'s Personal Collection", user.common_name());
        let id = self.next_id("collection");
        let created_at = self.now();
        self.collections.insert(
            id,
            Collection {
                id,
                slug: slugify(&name),
                name,
                description: None,
                location: "/".into(),
                personal_owner_id: Some(user_id),
                archived: false,
                entity_id: new_entity_id(),
                namespace: None,
                authority_level: None,
                collection_type: None,
                created_at,
            },
        );
        id
    }

    /// Id of the user's personal collection, if they have one.
    pub fn personal_collection_id(&self, user_id: i64) -> Option<i64> {
        self.collections.values().find(|c| c.personal_owner_id == Some(user_id)).map(|c| c.id)
    }

    /// Owner of the personal collection `coll_id` or of the personal tree it sits in.
    pub fn personal_owner_of(&self, coll_id: i64) -> Option<i64> {
        let coll = self.collections.get(&coll_id)?;
        if coll.personal_owner_id.is_some() {
            return coll.personal_owner_id;
        }
        let top = *coll.ancestor_ids().first()?;
        self.collections.get(&top)?.personal_owner_id
    }

    /// Find a collection by numeric id or 21-char entity id.
    pub fn collection_by_ref(&self, reference: &str) -> Option<&Collection> {
        if let Ok(id) = reference.parse::<i64>() {
            return self.collections.get(&id);
        }
        self.collections.values().find(|c| c.entity_id == reference)
    }

    /// A setting's current value (stored, computed or default; see `settings.rs` for the registry).
    pub fn setting(&self, key: &str) -> Value {
        crate::settings::current_value(self, key)
    }

    /// A boolean setting, e.g. `enable-embedding-static` (§7).
    pub fn setting_bool(&self, key: &str) -> bool {
        self.setting(key).as_bool().unwrap_or(false)
    }

    /// Record a write to a searchable item; it becomes visible after the indexing delay (§19.1).
    pub fn note_search_write(&mut self, model: &str, id: i64) {
        let visible_at = self.now() + time::Duration::milliseconds(self.knobs.search_index_delay_ms as i64);
        self.search_indexed_at.insert((model.to_string(), id), visible_at);
    }

    /// Whether search can see `(model, id)` yet.
    pub fn is_search_indexed(&self, model: &str, id: i64) -> bool {
        self.search_indexed_at.get(&(model.to_string(), id)).is_none_or(|at| *at <= self.now())
    }

    /// `{id, email, first_name, last_name, common_name}` as hydrated for `creator` (§19.2).
    pub fn user_summary(&self, user_id: i64) -> Value {
        match self.users.get(&user_id) {
            Some(u) => json!({
                "id": u.id,
                "email": u.email,
                "first_name": u.first_name,
                "last_name": u.last_name,
                "common_name": u.common_name(),
            }),
            None => Value::Null,
        }
    }
}

/// Input of [`State::create_user`].
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password: String,
    pub kind: UserKind,
    pub superuser: bool,
    pub is_installer: bool,
    pub login_attributes: Option<Value>,
}
