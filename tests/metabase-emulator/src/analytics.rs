//! The `analytics` warehouse: an in-memory SQLite database created from `templates/analytics.sql`
//! (the schema and sample rows the dashboard templates query, for three tenants), and a small query
//! engine that substitutes template tags the way Metabase does (§19.4,
//! §19.5) so that a missing or wrong tenant filter visibly returns other tenants' rows.

use std::sync::Mutex;

use regex::Regex;
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

/// Stable id of the `orders` table in the `analytics` database's metadata (the same ids the
/// emulator's database metadata in `state.rs` publishes, so MBQL cards built from it run here).
pub const ORDERS_TABLE_ID: i64 = 10;
/// Stable field ids of `orders`, in column order.
pub const FIELD_ID: i64 = 100;
pub const FIELD_TENANT_ID: i64 = 101;
pub const FIELD_CREATED_AT: i64 = 102;
pub const FIELD_CHANNEL: i64 = 103;
pub const FIELD_AMOUNT: i64 = 104;

/// Rows per tenant; the counts differ so tests can tell from a row count which tenants leaked in.
pub const TENANT_ROWS: [(&str, usize); 3] = [("acme", 14), ("globex", 10), ("initech", 6)];

/// The constraint Metabase applies to non-export bare-row queries (§16).
pub const ROW_LIMIT: usize = 2000;

/// The message every failed embedded query carries; the real cause is not exposed to embeds.
pub const EMBED_QUERY_ERROR: &str = "An error occurred while running the query.";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldMeta {
    pub id: i64,
    pub name: &'static str,
    pub display_name: &'static str,
    pub base_type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableMeta {
    pub id: i64,
    pub name: &'static str,
    pub display_name: &'static str,
    pub schema: &'static str,
    pub fields: Vec<FieldMeta>,
}

/// Table and field metadata of the `analytics` database, with ids that never change between runs.
pub fn catalog() -> Vec<TableMeta> {
    let field = |id, name, display_name, base_type| FieldMeta { id, name, display_name, base_type };
    vec![TableMeta {
        id: ORDERS_TABLE_ID,
        name: "orders",
        display_name: "Orders",
        schema: "main",
        fields: vec![
            field(FIELD_ID, "id", "ID", "type/BigInteger"),
            field(FIELD_TENANT_ID, "tenant_id", "Tenant ID", "type/Text"),
            field(FIELD_CREATED_AT, "created_at", "Created At", "type/DateTime"),
            field(FIELD_CHANNEL, "channel", "Channel", "type/Text"),
            field(FIELD_AMOUNT, "amount", "Amount", "type/Float"),
        ],
    }]
}

fn field_by_id(id: i64) -> Option<FieldMeta> {
    catalog().into_iter().flat_map(|t| t.fields).find(|f| f.id == id)
}

fn field_by_name(name: &str) -> Option<FieldMeta> {
    catalog().into_iter().flat_map(|t| t.fields).find(|f| f.name.eq_ignore_ascii_case(name))
}

fn is_numeric_type(base_type: &str) -> bool {
    matches!(base_type, "type/Integer" | "type/BigInteger" | "type/Float" | "type/Decimal")
}

/// A column reference from a parameter target or template tag: `["field", <id|name>, opts]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    Id(i64),
    Name(String),
}

impl FieldRef {
    /// Parses `["field", x, …]`, or the same wrapped in `["dimension", …]`.
    pub fn from_target(target: &Value) -> Option<FieldRef> {
        let items = target.as_array()?;
        match items.first()?.as_str()? {
            "dimension" => FieldRef::from_target(items.get(1)?),
            "field" => match items.get(1)? {
                Value::Number(n) => n.as_i64().map(FieldRef::Id),
                Value::String(s) => Some(FieldRef::Name(s.clone())),
                _ => None,
            },
            _ => None,
        }
    }

    fn resolve(&self) -> Option<FieldMeta> {
        match self {
            FieldRef::Id(id) => field_by_id(*id),
            FieldRef::Name(name) => field_by_name(name),
        }
    }
}

/// A card's query, reduced to what the engine runs; legacy and MBQL 5 shapes both map onto it.
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetQuery {
    Native { database: Option<i64>, sql: String, template_tags: Map<String, Value> },
    Mbql { database: Option<i64>, source_table: Option<i64>, limit: Option<i64> },
}

impl DatasetQuery {
    pub fn database(&self) -> Option<i64> {
        match self {
            DatasetQuery::Native { database, .. } | DatasetQuery::Mbql { database, .. } => *database,
        }
    }

    /// The template tags of a native query (empty for MBQL).
    pub fn template_tags(&self) -> Map<String, Value> {
        match self {
            DatasetQuery::Native { template_tags, .. } => template_tags.clone(),
            DatasetQuery::Mbql { .. } => Map::new(),
        }
    }
}

fn tags_of(v: Option<&Value>) -> Map<String, Value> {
    v.and_then(Value::as_object).cloned().unwrap_or_default()
}

/// Extracts the runnable part of a `dataset_query` in any of its shapes: legacy native
/// (`{"type":"native","native":{"query","template-tags"}}`), legacy MBQL (`{"type":"query","query":{…}}`),
/// MBQL 5 (`{"lib/type":"mbql/query","stages":[…]}`) or a bare inner MBQL map (`{"source-table": …}`).
pub fn parse_dataset_query(q: &Value) -> Result<DatasetQuery, String> {
    let database = q.get("database").and_then(Value::as_i64);
    if let Some(stage) = q.get("stages").and_then(|s| s.get(0)) {
        if stage.get("lib/type").and_then(Value::as_str) == Some("mbql.stage/native")
            || stage.get("native").is_some_and(Value::is_string)
        {
            let sql = stage.get("native").and_then(Value::as_str).ok_or("native stage without SQL")?;
            return Ok(DatasetQuery::Native {
                database,
                sql: sql.to_string(),
                template_tags: tags_of(stage.get("template-tags")),
            });
        }
        return Ok(DatasetQuery::Mbql {
            database,
            source_table: stage.get("source-table").and_then(Value::as_i64),
            limit: stage.get("limit").and_then(Value::as_i64),
        });
    }
    if let Some(native) = q.get("native") {
        let sql = native.get("query").and_then(Value::as_str).ok_or("native query without SQL")?;
        return Ok(DatasetQuery::Native {
            database,
            sql: sql.to_string(),
            template_tags: tags_of(native.get("template-tags")),
        });
    }
    let inner = q.get("query").unwrap_or(q);
    if inner.get("source-table").is_some() {
        return Ok(DatasetQuery::Mbql {
            database,
            source_table: inner.get("source-table").and_then(Value::as_i64),
            limit: inner.get("limit").and_then(Value::as_i64),
        });
    }
    Err("unrecognised dataset_query shape".to_string())
}

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub display_name: String,
    pub base_type: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed {
        cols: Vec<Column>,
        rows: Vec<Vec<Value>>,
    },
    /// `reason` is for logs and tests; the embed response only carries [`EMBED_QUERY_ERROR`].
    Failed {
        reason: String,
    },
}

/// A query run, serialising to Metabase's query-result body.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub outcome: Outcome,
    /// The SQL actually executed (after substitution), reported as `native_form.query`.
    pub native_sql: Option<String>,
    pub database_id: Option<i64>,
    pub started_at: String,
    pub json_query: Value,
}

fn now_iso() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl QueryResult {
    pub fn failed(reason: impl Into<String>) -> Self {
        QueryResult {
            outcome: Outcome::Failed { reason: reason.into() },
            native_sql: None,
            database_id: None,
            started_at: now_iso(),
            json_query: Value::Null,
        }
    }

    fn completed(cols: Vec<Column>, rows: Vec<Vec<Value>>, sql: String) -> Self {
        QueryResult {
            outcome: Outcome::Completed { cols, rows },
            native_sql: Some(sql),
            database_id: None,
            started_at: now_iso(),
            json_query: Value::Null,
        }
    }

    /// Records which database and request query the result belongs to (echoed as `database_id` and
    /// `json_query`).
    pub fn with_context(mut self, database_id: Option<i64>, json_query: Value) -> Self {
        self.database_id = database_id;
        self.json_query = json_query;
        self
    }

    pub fn is_completed(&self) -> bool {
        matches!(self.outcome, Outcome::Completed { .. })
    }

    pub fn rows(&self) -> &[Vec<Value>] {
        match &self.outcome {
            Outcome::Completed { rows, .. } => rows,
            Outcome::Failed { .. } => &[],
        }
    }

    pub fn cols(&self) -> &[Column] {
        match &self.outcome {
            Outcome::Completed { cols, .. } => cols,
            Outcome::Failed { .. } => &[],
        }
    }

    /// The internal failure cause, if the query failed.
    pub fn failure_reason(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Failed { reason } => Some(reason),
            Outcome::Completed { .. } => None,
        }
    }

    /// Distinct values of the named column, in first-seen order (handy for tenant assertions).
    pub fn column_values(&self, name: &str) -> Vec<Value> {
        let Some(idx) = self.cols().iter().position(|c| c.name == name) else {
            return Vec::new();
        };
        let mut seen = Vec::new();
        for row in self.rows() {
            if let Some(v) = row.get(idx)
                && !seen.contains(v)
            {
                seen.push(v.clone());
            }
        }
        seen
    }

    pub fn to_json(&self) -> Value {
        match &self.outcome {
            Outcome::Completed { cols, rows } => json!({
                "data": {
                    "rows": rows,
                    "cols": cols.iter().map(|c| json!({
                        "name": c.name,
                        "display_name": c.display_name,
                        "base_type": c.base_type,
                    })).collect::<Vec<_>>(),
                    "native_form": {"query": self.native_sql, "params": null},
                },
                "row_count": rows.len(),
                "status": "completed",
                "database_id": self.database_id,
                "started_at": self.started_at,
                "json_query": self.json_query,
            }),
            Outcome::Failed { .. } => json!({
                "data": {"rows": [], "cols": []},
                "row_count": 0,
                "status": "failed",
                "error": EMBED_QUERY_ERROR,
                "error_type": "invalid-query",
                "database_id": self.database_id,
                "started_at": self.started_at,
                "json_query": self.json_query,
            }),
        }
    }
}

impl Serialize for QueryResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

// ---------------------------------------------------------------------------------------------
// Template-tag substitution
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Tag(String),
    Optional(Vec<Node>),
}

/// Splits SQL into text, `{{tag}}` references and (possibly nested) `[[ … ]]` optional clauses.
fn parse_sql(sql: &str) -> Result<Vec<Node>, String> {
    let mut stack: Vec<Vec<Node>> = vec![Vec::new()];
    let mut text = String::new();
    let mut rest = sql;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{{") {
            let end = after.find("}}").ok_or("unclosed {{ in query")?;
            flush(&mut text, &mut stack);
            let name = after[..end].trim().to_string();
            stack.last_mut().expect("stack never empty").push(Node::Tag(name));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix("[[") {
            flush(&mut text, &mut stack);
            stack.push(Vec::new());
            rest = after;
        } else if let Some(after) = rest.strip_prefix("]]") {
            flush(&mut text, &mut stack);
            if stack.len() < 2 {
                return Err("unbalanced ]] in query".to_string());
            }
            let inner = stack.pop().expect("checked length");
            stack.last_mut().expect("stack never empty").push(Node::Optional(inner));
            rest = after;
        } else {
            let ch = rest.chars().next().expect("rest is not empty");
            text.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    flush(&mut text, &mut stack);
    if stack.len() != 1 {
        return Err("unclosed [[ in query".to_string());
    }
    Ok(stack.pop().expect("one level left"))
}

fn flush(text: &mut String, stack: &mut [Vec<Node>]) {
    if !text.is_empty() {
        stack.last_mut().expect("stack never empty").push(Node::Text(std::mem::take(text)));
    }
}

/// Metabase's "no value": `null`, a blank string, or an array with no non-blank element (`[]` — the
/// §19.5 footgun). Arrays lose their blank elements.
fn normalize(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter(|i| normalize(Some(i)).is_some()).cloned().collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => Some(other.clone()),
    }
}

/// The value a tag gets: the supplied one, else its `default`, else none.
fn effective_value(name: &str, tags: &Map<String, Value>, values: &Map<String, Value>) -> Option<Value> {
    normalize(values.get(name)).or_else(|| normalize(tags.get(name).and_then(|t| t.get("default"))))
}

fn quote_str(s: &str) -> Result<String, String> {
    if s.contains('\0') {
        return Err("NUL character in parameter value".to_string());
    }
    Ok(format!("'{}'", s.replace('\'', "''")))
}

fn number_literal(v: &Value) -> Result<String, String> {
    static NUMBER: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$").expect("static regex is valid")
    });
    match v {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) if NUMBER.is_match(s.trim()) => Ok(s.trim().to_string()),
        other => Err(format!("not a number: {other}")),
    }
}

fn text_literal(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => quote_str(s),
        Value::Number(n) => quote_str(&n.to_string()),
        Value::Bool(b) => quote_str(&b.to_string()),
        other => Err(format!("not a text value: {other}")),
    }
}

fn date_literal(v: &Value) -> Result<String, String> {
    static DATE: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
        Regex::new(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
            .expect("static regex is valid")
    });
    match v {
        Value::String(s) if DATE.is_match(s.trim()) => quote_str(s.trim()),
        other => Err(format!("not a date: {other}")),
    }
}

fn scalars(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

fn literal_list(v: &Value, one: fn(&Value) -> Result<String, String>) -> Result<String, String> {
    Ok(scalars(v).iter().map(one).collect::<Result<Vec<_>, _>>()?.join(", "))
}

/// A raw variable becomes a literal (arrays a comma-separated list, only meaningful inside `IN (…)`).
fn raw_variable(tag_type: &str, v: &Value) -> Result<String, String> {
    match tag_type {
        "text" => literal_list(v, text_literal),
        "number" => literal_list(v, number_literal),
        "date" => literal_list(v, date_literal),
        "boolean" => match scalars(v).as_slice() {
            [Value::Bool(b)] => Ok(if *b { "TRUE" } else { "FALSE" }.to_string()),
            [Value::String(s)] if s == "true" || s == "false" => Ok(s.to_uppercase()),
            _ => Err(format!("not a boolean: {v}")),
        },
        other => Err(format!("unsupported template tag type {other}")),
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn like_pattern(v: &Value, prefix: &str, suffix: &str) -> Result<String, String> {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    Ok(format!("{} ESCAPE '\\'", quote_str(&format!("{prefix}{escaped}{suffix}"))?))
}

/// A field filter becomes a whole predicate on the mapped column; the widget type picks the operator.
fn field_predicate(field: &FieldMeta, widget_type: &str, v: &Value) -> Result<String, String> {
    let col = quote_ident(field.name);
    let lit: fn(&Value) -> Result<String, String> =
        if is_numeric_type(field.base_type) { number_literal } else { text_literal };
    let items = scalars(v);
    let any_of = |op_like: &str, prefix: &str, suffix: &str, joiner: &str| {
        let parts = items
            .iter()
            .map(|i| Ok(format!("{col} {op_like} {}", like_pattern(i, prefix, suffix)?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok::<String, String>(format!("({})", parts.join(joiner)))
    };
    let list = || -> Result<String, String> { Ok(items.iter().map(lit).collect::<Result<Vec<_>, _>>()?.join(", ")) };
    let single = |i: usize| -> Result<String, String> {
        items.get(i).ok_or_else(|| format!("{widget_type} needs {} value(s)", i + 1)).and_then(lit)
    };
    if field.base_type == "type/DateTime" || widget_type.starts_with("date/") {
        return date_predicate(&col, widget_type, &items);
    }
    match widget_type {
        "string/!=" | "number/!=" => Ok(if items.len() == 1 {
            format!("{col} <> {}", single(0)?)
        } else {
            format!("{col} NOT IN ({})", list()?)
        }),
        "string/contains" => any_of("LIKE", "%", "%", " OR "),
        "string/does-not-contain" => any_of("NOT LIKE", "%", "%", " AND "),
        "string/starts-with" => any_of("LIKE", "", "%", " OR "),
        "string/ends-with" => any_of("LIKE", "%", "", " OR "),
        "number/>=" => Ok(format!("{col} >= {}", single(0)?)),
        "number/<=" => Ok(format!("{col} <= {}", single(0)?)),
        "number/between" => Ok(format!("{col} BETWEEN {} AND {}", single(0)?, single(1)?)),
        _ => Ok(if items.len() == 1 { format!("{col} = {}", single(0)?) } else { format!("{col} IN ({})", list()?) }),
    }
}

fn date_predicate(col: &str, widget_type: &str, items: &[Value]) -> Result<String, String> {
    static MONTH: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r"^\d{4}-\d{2}$").expect("static regex is valid"));
    let [Value::String(s)] = items else {
        return Err(format!("{widget_type} needs one date value"));
    };
    if let Some((from, to)) = s.split_once('~') {
        return Ok(format!("date({col}) BETWEEN {} AND {}", date_literal(&json!(from))?, date_literal(&json!(to))?));
    }
    if MONTH.is_match(s) {
        return Ok(format!("strftime('%Y-%m', {col}) = {}", quote_str(s)?));
    }
    Ok(format!("date({col}) = {}", date_literal(&json!(s))?))
}

fn render_tag(name: &str, tags: &Map<String, Value>, values: &Map<String, Value>) -> Result<String, String> {
    let tag = tags.get(name).ok_or_else(|| format!("no template tag definition for {{{{{name}}}}}"))?;
    let tag_type = tag.get("type").and_then(Value::as_str).unwrap_or("text");
    let value = effective_value(name, tags, values);
    let required = tag.get("required").and_then(Value::as_bool) == Some(true);
    if tag_type == "dimension" {
        let field = tag
            .get("dimension")
            .and_then(FieldRef::from_target)
            .and_then(|f| f.resolve())
            .ok_or_else(|| format!("Invalid Field Filter: {name}"))?;
        return match value {
            Some(v) => {
                let widget = tag.get("widget-type").and_then(Value::as_str).unwrap_or("category");
                field_predicate(&field, widget, &v)
            }
            None if required => Err(format!("missing required parameter {name}")),
            // A field filter with no value matches everything.
            None => Ok("1 = 1".to_string()),
        };
    }
    match value {
        Some(v) => raw_variable(tag_type, &v),
        None => Err(format!("missing value for parameter {name}")),
    }
}

fn all_tags_have_values(nodes: &[Node], tags: &Map<String, Value>, values: &Map<String, Value>) -> bool {
    nodes.iter().all(|n| match n {
        Node::Text(_) => true,
        Node::Tag(name) => effective_value(name, tags, values).is_some(),
        Node::Optional(_) => true,
    })
}

fn render(nodes: &[Node], tags: &Map<String, Value>, values: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::new();
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Tag(name) => out.push_str(&render_tag(name, tags, values)?),
            Node::Optional(inner) => {
                // An optional clause survives only if every tag directly inside it has a value.
                if all_tags_have_values(inner, tags, values) {
                    out.push_str(&render(inner, tags, values)?);
                }
            }
        }
    }
    Ok(out)
}

/// Substitutes template tags into `sql` exactly as the query processor would, without running it.
pub fn substitute(
    sql: &str,
    template_tags: &Map<String, Value>,
    values: &Map<String, Value>,
) -> Result<String, String> {
    render(&parse_sql(sql)?, template_tags, values)
}

// ---------------------------------------------------------------------------------------------
// The database
// ---------------------------------------------------------------------------------------------

/// The seeded analytics warehouse. The connection sits behind a mutex because SQLite connections are
/// not `Sync` and the emulator's state is shared across request tasks.
pub struct AnalyticsDb {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for AnalyticsDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticsDb").finish_non_exhaustive()
    }
}

impl Default for AnalyticsDb {
    fn default() -> Self {
        Self::new()
    }
}

/// The warehouse's schema and sample rows: the same file `make dev` and a real warehouse use.
pub const SEED_SQL: &str = include_str!("../../../templates/analytics.sql");

fn value_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
    }
}

/// The process-wide warehouse. It is read-only, so every emulator instance (and every test) can share
/// one copy instead of re-seeding per request; emulator state dumps stay free of it.
pub fn shared() -> &'static AnalyticsDb {
    &SHARED
}

/// A handle on the shared warehouse, for code that holds warehouses of several databases.
pub fn shared_handle() -> std::sync::Arc<AnalyticsDb> {
    SHARED.clone()
}

static SHARED: std::sync::LazyLock<std::sync::Arc<AnalyticsDb>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(AnalyticsDb::new()));

impl AnalyticsDb {
    /// A fresh in-memory copy of the seed data, made read-only so card SQL cannot alter it.
    pub fn new() -> Self {
        let conn = Connection::open_in_memory().expect("in-memory SQLite opens");
        conn.execute_batch(SEED_SQL).expect("templates/analytics.sql runs on SQLite");
        conn.execute_batch("PRAGMA query_only = ON;").expect("pragma is valid");
        AnalyticsDb { conn: Mutex::new(conn) }
    }

    fn execute(&self, sql: &str) -> QueryResult {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let run = || -> Result<(Vec<Column>, Vec<Vec<Value>>), String> {
            let mut stmt = conn.prepare(sql).map_err(|e| e.to_string())?;
            if !stmt.readonly() {
                return Err("only read-only queries are allowed".to_string());
            }
            let names: Vec<String> = (0..stmt.column_count())
                .map(|i| stmt.column_name(i).map(str::to_string).map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?;
            let mut rows = Vec::new();
            let mut q = stmt.query([]).map_err(|e| e.to_string())?;
            while let Some(row) = q.next().map_err(|e| e.to_string())? {
                if rows.len() >= ROW_LIMIT {
                    break;
                }
                let mut out = Vec::with_capacity(names.len());
                for i in 0..names.len() {
                    out.push(value_of(row.get_ref(i).map_err(|e| e.to_string())?));
                }
                rows.push(out);
            }
            let cols =
                names.iter().enumerate().map(|(i, name)| column_meta(name, rows.iter().map(|r| &r[i]))).collect();
            Ok((cols, rows))
        };
        match run() {
            Ok((cols, rows)) => QueryResult::completed(cols, rows, sql.to_string()),
            Err(reason) => {
                let mut failed = QueryResult::failed(reason);
                failed.native_sql = Some(sql.to_string());
                failed
            }
        }
    }

    /// Runs a native query after template-tag substitution (§19.4, §19.5). Substitution errors
    /// (missing required value, malformed number, unknown field) produce a failed result, as in Metabase.
    pub fn run_native(
        &self,
        sql: &str,
        template_tags: &Map<String, Value>,
        values: &Map<String, Value>,
    ) -> QueryResult {
        match substitute(sql, template_tags, values) {
            Ok(final_sql) => self.execute(&final_sql),
            Err(reason) => QueryResult::failed(reason),
        }
    }

    /// Runs a simple MBQL query (`source-table` plus optional `limit`, legacy or MBQL 5 shape), with
    /// dashboard filters on columns added as `col = v` / `col IN (…)`. Filters without a value are skipped.
    pub fn run_mbql(&self, query: &Value, filters: &[(FieldRef, Value)]) -> QueryResult {
        let (source_table, limit) = match parse_dataset_query(query) {
            Ok(DatasetQuery::Mbql { source_table, limit, .. }) => (source_table, limit),
            Ok(DatasetQuery::Native { .. }) => {
                return QueryResult::failed("run_mbql called with a native query");
            }
            Err(e) => return QueryResult::failed(e),
        };
        let Some(table) = catalog().into_iter().find(|t| Some(t.id) == source_table) else {
            return QueryResult::failed(format!("unknown source-table {source_table:?}"));
        };
        let columns: Vec<String> = table.fields.iter().map(|f| quote_ident(f.name)).collect();
        let mut predicates = Vec::new();
        for (field_ref, value) in filters {
            let Some(field) = field_ref.resolve() else {
                return QueryResult::failed(format!("unknown field {field_ref:?}"));
            };
            if let Some(v) = normalize(Some(value)) {
                match field_predicate(&field, "category", &v) {
                    Ok(p) => predicates.push(p),
                    Err(e) => return QueryResult::failed(e),
                }
            }
        }
        let mut sql = format!("SELECT {} FROM {}", columns.join(", "), quote_ident(table.name));
        if !predicates.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&predicates.join(" AND "));
        }
        sql.push_str(" ORDER BY \"id\" ASC");
        if let Some(n) = limit {
            sql.push_str(&format!(" LIMIT {}", n.max(0)));
        }
        let mut result = self.execute(&sql);
        // MBQL columns carry the field's display name rather than the raw column name.
        if let Outcome::Completed { cols, .. } = &mut result.outcome {
            for c in cols.iter_mut() {
                if let Some(f) = table.fields.iter().find(|f| f.name == c.name) {
                    c.display_name = f.display_name.to_string();
                }
            }
        }
        result
    }

    /// Runs any `dataset_query` shape with tag values (native) or field filters (MBQL), and records the
    /// context. The caller has already checked that the query targets the analytics database.
    pub fn run(
        &self,
        dataset_query: &Value,
        tag_values: &Map<String, Value>,
        filters: &[(FieldRef, Value)],
    ) -> QueryResult {
        let parsed = parse_dataset_query(dataset_query);
        let database = parsed.as_ref().ok().and_then(DatasetQuery::database);
        let result = match parsed {
            Ok(DatasetQuery::Native { sql, template_tags, .. }) => self.run_native(&sql, &template_tags, tag_values),
            Ok(DatasetQuery::Mbql { .. }) => self.run_mbql(dataset_query, filters),
            Err(e) => QueryResult::failed(e),
        };
        result.with_context(database, dataset_query.clone())
    }
}

/// Column metadata: catalog columns keep their declared type; computed columns are typed from values.
fn column_meta<'a>(name: &str, mut values: impl Iterator<Item = &'a Value>) -> Column {
    let base_type = match field_by_name(name) {
        Some(f) => f.base_type.to_string(),
        None => match values.find(|v| !v.is_null()) {
            Some(Value::Number(n)) if n.is_i64() => "type/Integer".to_string(),
            Some(Value::Number(_)) => "type/Float".to_string(),
            Some(Value::String(_)) => "type/Text".to_string(),
            _ => "type/*".to_string(),
        },
    };
    Column { name: name.to_string(), display_name: name.to_string(), base_type }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn text_tag(required: bool) -> Map<String, Value> {
        obj(json!({"tenant": {"id": "t1", "name": "tenant", "display-name": "Tenant",
            "type": "text", "required": required}}))
    }

    fn tenant_ff(required: bool) -> Map<String, Value> {
        obj(json!({"tenant": {"id": "t1", "name": "tenant", "display-name": "Tenant",
            "type": "dimension", "dimension": ["field", FIELD_TENANT_ID, null],
            "widget-type": "string/=", "required": required}}))
    }

    fn tenants(r: &QueryResult) -> Vec<Value> {
        assert!(r.is_completed(), "query failed: {:?}", r.failure_reason());
        r.column_values("tenant_id")
    }

    fn count(tenant: &str) -> usize {
        TENANT_ROWS.iter().find(|(t, _)| *t == tenant).unwrap().1
    }

    #[test]
    fn catalog_is_stable() {
        let c = catalog();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].id, ORDERS_TABLE_ID);
        let names: Vec<_> = c[0].fields.iter().map(|f| (f.id, f.name, f.base_type)).collect();
        assert_eq!(
            names,
            vec![
                (100, "id", "type/BigInteger"),
                (101, "tenant_id", "type/Text"),
                (102, "created_at", "type/DateTime"),
                (103, "channel", "type/Text"),
                (104, "amount", "type/Float"),
            ]
        );
    }

    #[test]
    fn the_seed_file_keeps_the_orders_rows_and_adds_the_template_tables() {
        let db = AnalyticsDb::new();
        for (tenant, rows) in TENANT_ROWS {
            let r =
                db.run_native(&format!("SELECT * FROM orders WHERE tenant_id = '{tenant}'"), &Map::new(), &Map::new());
            assert_eq!(r.rows().len(), rows, "{tenant}");
        }
        let first = db.run_native("SELECT * FROM orders WHERE id = 1", &Map::new(), &Map::new());
        assert_eq!(
            first.rows()[0],
            vec![json!(1), json!("acme"), json!("2025-01-01T10:00:00"), json!("store"), json!(47.25)]
        );
        for table in ["campaigns", "customers"] {
            let r =
                db.run_native(&format!("SELECT DISTINCT tenant_id FROM {table} ORDER BY 1"), &Map::new(), &Map::new());
            assert_eq!(tenants(&r), vec![json!("acme"), json!("globex"), json!("initech")], "{table}");
        }
    }

    #[test]
    fn unfiltered_returns_every_tenant_filtered_returns_one() {
        let db = AnalyticsDb::new();
        let all = db.run_native("SELECT * FROM orders", &Map::new(), &Map::new());
        assert_eq!(tenants(&all), vec![json!("acme"), json!("globex"), json!("initech")]);
        assert_eq!(all.rows().len(), 30);
        let one = db.run_native(
            "SELECT * FROM orders WHERE tenant_id = {{tenant}}",
            &text_tag(true),
            &obj(json!({"tenant": "globex"})),
        );
        assert_eq!(tenants(&one), vec![json!("globex")]);
        assert_eq!(one.rows().len(), count("globex"));
        assert_eq!(one.native_sql.as_deref(), Some("SELECT * FROM orders WHERE tenant_id = 'globex'"));
    }

    #[test]
    fn text_variable_is_quoted_and_injection_stays_inside_the_literal() {
        let sql = "SELECT * FROM orders WHERE tenant_id = {{tenant}}";
        let attack = "acme' OR '1'='1";
        assert_eq!(
            substitute(sql, &text_tag(true), &obj(json!({"tenant": attack}))).unwrap(),
            "SELECT * FROM orders WHERE tenant_id = 'acme'' OR ''1''=''1'"
        );
        let db = AnalyticsDb::new();
        let r = db.run_native(sql, &text_tag(true), &obj(json!({"tenant": attack})));
        assert!(r.is_completed());
        assert!(r.rows().is_empty());
        let r = db.run_native(sql, &text_tag(true), &obj(json!({"tenant": "x'; DROP TABLE orders; --"})));
        assert!(r.rows().is_empty());
        assert_eq!(db.run_native("SELECT * FROM orders", &Map::new(), &Map::new()).rows().len(), 30);
    }

    #[test]
    fn text_array_becomes_a_literal_list() {
        let db = AnalyticsDb::new();
        let r = db.run_native(
            "SELECT * FROM orders WHERE tenant_id IN ({{tenant}})",
            &text_tag(true),
            &obj(json!({"tenant": ["acme", "initech"]})),
        );
        assert_eq!(tenants(&r), vec![json!("acme"), json!("initech")]);
        assert_eq!(r.rows().len(), count("acme") + count("initech"));
    }

    #[test]
    fn number_variable_is_validated() {
        let tags = obj(json!({"n": {"name": "n", "type": "number"}}));
        let sql = "SELECT * FROM orders WHERE id <= {{n}}";
        assert_eq!(substitute(sql, &tags, &obj(json!({"n": 3}))).unwrap(), "SELECT * FROM orders WHERE id <= 3");
        assert_eq!(substitute(sql, &tags, &obj(json!({"n": "4.5"}))).unwrap(), "SELECT * FROM orders WHERE id <= 4.5");
        assert_eq!(substitute("SELECT {{n}}", &tags, &obj(json!({"n": [1, "2"]}))).unwrap(), "SELECT 1, 2");
        assert!(substitute(sql, &tags, &obj(json!({"n": "1 OR 1=1"}))).is_err());
        let db = AnalyticsDb::new();
        assert_eq!(db.run_native(sql, &tags, &obj(json!({"n": 3}))).rows().len(), 3);
        assert!(!db.run_native(sql, &tags, &obj(json!({"n": "1; --"}))).is_completed());
    }

    #[test]
    fn date_and_boolean_variables() {
        let tags = obj(json!({"d": {"name": "d", "type": "date"}, "b": {"name": "b", "type": "boolean"}}));
        assert_eq!(
            substitute("{{d}} {{b}}", &tags, &obj(json!({"d": "2025-01-03", "b": true}))).unwrap(),
            "'2025-01-03' TRUE"
        );
        assert!(substitute("{{d}}", &tags, &obj(json!({"d": "yesterday' --"}))).is_err());
        let db = AnalyticsDb::new();
        let r = db.run_native(
            "SELECT * FROM orders WHERE date(created_at) = {{d}}",
            &tags,
            &obj(json!({"d": "2025-01-03"})),
        );
        assert_eq!(r.rows().len(), 1);
    }

    #[test]
    fn field_filter_becomes_a_predicate() {
        let sql = "SELECT * FROM orders WHERE {{tenant}}";
        assert_eq!(
            substitute(sql, &tenant_ff(false), &obj(json!({"tenant": "acme"}))).unwrap(),
            "SELECT * FROM orders WHERE \"tenant_id\" = 'acme'"
        );
        assert_eq!(
            substitute(sql, &tenant_ff(false), &obj(json!({"tenant": ["acme", "o'neil"]}))).unwrap(),
            "SELECT * FROM orders WHERE \"tenant_id\" IN ('acme', 'o''neil')"
        );
        assert_eq!(substitute(sql, &tenant_ff(false), &Map::new()).unwrap(), "SELECT * FROM orders WHERE 1 = 1");
        let db = AnalyticsDb::new();
        let r = db.run_native(sql, &tenant_ff(true), &obj(json!({"tenant": "initech"})));
        assert_eq!(tenants(&r), vec![json!("initech")]);
        // Numeric fields get numeric literals; other widget types pick other operators.
        let ff = |field: i64, widget: &str| {
            obj(json!({"f": {"name": "f", "type": "dimension", "dimension": ["field", field, null],
                "widget-type": widget}}))
        };
        assert_eq!(
            substitute("{{f}}", &ff(FIELD_AMOUNT, "number/between"), &obj(json!({"f": [10, 20]}))).unwrap(),
            "\"amount\" BETWEEN 10 AND 20"
        );
        assert!(substitute("{{f}}", &ff(FIELD_AMOUNT, "number/="), &obj(json!({"f": "x"}))).is_err());
        assert_eq!(
            substitute("{{f}}", &ff(FIELD_CHANNEL, "string/contains"), &obj(json!({"f": "we"}))).unwrap(),
            "(\"channel\" LIKE '%we%' ESCAPE '\\')"
        );
        let r = db.run_native(
            "SELECT * FROM orders WHERE {{f}}",
            &ff(FIELD_CREATED_AT, "date/range"),
            &obj(json!({"f": "2025-01-01~2025-01-05"})),
        );
        assert_eq!(r.rows().len(), 5);
        // Unknown field id: the query fails rather than silently running unfiltered.
        assert!(substitute("{{f}}", &ff(9999, "string/="), &obj(json!({"f": "a"}))).is_err());
    }

    #[test]
    fn optional_clauses_are_dropped_without_a_value() {
        let sql = "SELECT * FROM orders WHERE 1 = 1 [[AND tenant_id = {{tenant}}]]";
        assert_eq!(substitute(sql, &text_tag(false), &Map::new()).unwrap(), "SELECT * FROM orders WHERE 1 = 1 ");
        assert_eq!(
            substitute(sql, &text_tag(false), &obj(json!({"tenant": "acme"}))).unwrap(),
            "SELECT * FROM orders WHERE 1 = 1 AND tenant_id = 'acme'"
        );
        // Every tag inside must have a value.
        let tags = obj(json!({"a": {"name": "a", "type": "text"}, "b": {"name": "b", "type": "text"}}));
        assert_eq!(substitute("x[[ {{a}} {{b}}]]y", &tags, &obj(json!({"a": "1"}))).unwrap(), "xy");
        // A default counts as a value.
        let with_default = obj(json!({"a": {"name": "a", "type": "text", "default": "acme"}}));
        assert_eq!(substitute("[[{{a}}]]", &with_default, &Map::new()).unwrap(), "'acme'");
        assert!(substitute("[[ {{a}}", &tags, &Map::new()).is_err());
        assert!(substitute("{{a}} ]]", &tags, &Map::new()).is_err());
        let db = AnalyticsDb::new();
        let r = db.run_native(sql, &text_tag(false), &Map::new());
        assert_eq!(r.rows().len(), 30);
    }

    // §19.5: `[]` passes the locked check but then means "no value".
    #[test]
    fn empty_array_footgun() {
        let db = AnalyticsDb::new();
        let empty = obj(json!({"tenant": []}));
        let r = db.run_native("SELECT * FROM orders WHERE {{tenant}}", &tenant_ff(false), &empty);
        assert_eq!(tenants(&r).len(), 3);
        let r =
            db.run_native("SELECT * FROM orders WHERE 1 = 1 [[AND tenant_id = {{tenant}}]]", &text_tag(false), &empty);
        assert_eq!(tenants(&r).len(), 3);
        let r = db.run_native("SELECT * FROM orders WHERE {{tenant}}", &tenant_ff(true), &empty);
        assert!(!r.is_completed());
        let r = db.run_native(
            "SELECT * FROM orders WHERE tenant_id = {{tenant}}",
            &text_tag(true),
            &obj(json!({"tenant": ""})),
        );
        assert!(!r.is_completed());
        // A required tag with a default silently uses it.
        let mut tags = text_tag(true);
        tags["tenant"]["default"] = json!("initech");
        let r = db.run_native("SELECT * FROM orders WHERE tenant_id = {{tenant}}", &tags, &empty);
        assert_eq!(tenants(&r), vec![json!("initech")]);
    }

    #[test]
    fn missing_value_outside_optional_fails() {
        let db = AnalyticsDb::new();
        let r = db.run_native("SELECT * FROM orders WHERE tenant_id = {{tenant}}", &text_tag(false), &Map::new());
        assert!(!r.is_completed());
        let body = r.to_json();
        assert_eq!(body["status"], "failed");
        assert_eq!(body["error"], EMBED_QUERY_ERROR);
        assert_eq!(body["error_type"], "invalid-query");
        // A tag used in the SQL but not declared also fails.
        assert!(!db.run_native("SELECT {{x}}", &Map::new(), &Map::new()).is_completed());
    }

    #[test]
    fn card_sql_cannot_write() {
        let db = AnalyticsDb::new();
        assert!(!db.run_native("DELETE FROM orders", &Map::new(), &Map::new()).is_completed());
        assert!(!db.run_native("SELECT 1; DELETE FROM orders", &Map::new(), &Map::new()).is_completed());
        assert_eq!(
            db.run_native("SELECT count(*) AS n FROM orders", &Map::new(), &Map::new()).rows(),
            &[vec![json!(30)]]
        );
    }

    #[test]
    fn mbql_with_and_without_filters() {
        let db = AnalyticsDb::new();
        let legacy = json!({"database": 2, "type": "query", "query": {"source-table": ORDERS_TABLE_ID}});
        let r = db.run_mbql(&legacy, &[]);
        assert_eq!(tenants(&r).len(), 3);
        let r = db.run_mbql(&legacy, &[(FieldRef::Id(FIELD_TENANT_ID), json!("acme"))]);
        assert_eq!(tenants(&r), vec![json!("acme")]);
        assert_eq!(r.rows().len(), count("acme"));
        assert_eq!(r.cols()[1].display_name, "Tenant ID");
        let mbql5 = json!({"lib/type": "mbql/query", "database": 2,
            "stages": [{"lib/type": "mbql.stage/mbql", "source-table": ORDERS_TABLE_ID, "limit": 4}]});
        let r = db.run_mbql(&mbql5, &[(FieldRef::Name("tenant_id".into()), json!(["globex", "initech"]))]);
        assert_eq!(r.rows().len(), 4);
        assert_eq!(tenants(&r), vec![json!("globex")]);
        // Empty values add no filter; unknown tables fail.
        assert_eq!(db.run_mbql(&legacy, &[(FieldRef::Id(FIELD_TENANT_ID), json!([]))]).rows().len(), 30);
        assert!(!db.run_mbql(&json!({"source-table": 5}), &[]).is_completed());
    }

    #[test]
    fn dataset_query_shapes() {
        let tags = json!({"tenant": {"name": "tenant", "type": "text"}});
        let legacy = json!({"database": 2, "type": "native",
            "native": {"query": "SELECT 1", "template-tags": tags}});
        let mbql5 = json!({"lib/type": "mbql/query", "database": 2,
            "stages": [{"lib/type": "mbql.stage/native", "native": "SELECT 1", "template-tags": tags}]});
        let expected =
            DatasetQuery::Native { database: Some(2), sql: "SELECT 1".into(), template_tags: obj(tags.clone()) };
        assert_eq!(parse_dataset_query(&legacy).unwrap(), expected);
        assert_eq!(parse_dataset_query(&mbql5).unwrap(), expected);
        assert_eq!(
            parse_dataset_query(&json!({"database": 2, "type": "query", "query": {"source-table": 100, "limit": 5}}))
                .unwrap(),
            DatasetQuery::Mbql { database: Some(2), source_table: Some(100), limit: Some(5) }
        );
        assert!(parse_dataset_query(&json!({"foo": 1})).is_err());
        let db = AnalyticsDb::new();
        let r = db.run(&mbql5, &Map::new(), &[]);
        let body = serde_json::to_value(&r).unwrap();
        assert_eq!(body["status"], "completed");
        assert_eq!(body["row_count"], 1);
        assert_eq!(body["database_id"], 2);
        assert_eq!(body["json_query"], mbql5);
        assert_eq!(body["data"]["rows"], json!([[1]]));
        assert_eq!(body["data"]["native_form"]["query"], "SELECT 1");
        assert_eq!(body["data"]["cols"][0]["base_type"], "type/Integer");
    }

    #[test]
    fn field_ref_targets() {
        assert_eq!(
            FieldRef::from_target(&json!(["dimension", ["field", 1002, null], {"stage-number": 0}])),
            Some(FieldRef::Id(1002))
        );
        assert_eq!(
            FieldRef::from_target(&json!(["field", "tenant_id", {"base-type": "type/Text"}])),
            Some(FieldRef::Name("tenant_id".into()))
        );
        assert_eq!(FieldRef::from_target(&json!(["variable", ["template-tag", "x"]])), None);
    }
}
