//! The settings registry (visibility, defaults, validation) behind §3 and §7.

use axum::http::StatusCode;
use regex::Regex;
use serde_json::{Map, Value, json};

use crate::http::ApiError;
use crate::state::{State, random_hex};

/// Who may read a setting (§3 visibility levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Visibility {
    Public,
    Authenticated,
    Admin,
}

/// How a setting is stored and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Text,
    /// Derived from other state; `PUT` is refused.
    Computed,
}

#[derive(Debug)]
pub struct SettingDef {
    pub key: &'static str,
    pub visibility: Visibility,
    pub kind: Kind,
    pub description: &'static str,
}

const fn def(key: &'static str, visibility: Visibility, kind: Kind, description: &'static str) -> SettingDef {
    SettingDef { key, visibility, kind, description }
}

/// The settings the emulator knows; any other key is "unknown" (§7).
pub static REGISTRY: &[SettingDef] = &[
    def(
        "admin-email",
        Visibility::Authenticated,
        Kind::Text,
        "The email address users should be referred to if they encounter a problem.",
    ),
    def(
        "embedding-app-origins-interactive",
        Visibility::Public,
        Kind::Text,
        "Allow this origin to embed Metabase interactive.",
    ),
    def(
        "embedding-app-origins-sdk",
        Visibility::Public,
        Kind::Text,
        "Allow Metabase SDK access to these space delimited origins.",
    ),
    def(
        "embedding-secret-key",
        Visibility::Admin,
        Kind::Text,
        "Secret key used to sign JSON Web Tokens for requests to /api/embed endpoints.",
    ),
    def(
        "enable-embedding",
        Visibility::Authenticated,
        Kind::Bool,
        "Allow admins to securely embed questions and dashboards within other applications?",
    ),
    def(
        "enable-embedding-interactive",
        Visibility::Authenticated,
        Kind::Bool,
        "Allow admins to embed Metabase via interactive embedding?",
    ),
    def("enable-embedding-sdk", Visibility::Authenticated, Kind::Bool, "Allow admins to embed Metabase via the SDK?"),
    def(
        "enable-embedding-simple",
        Visibility::Authenticated,
        Kind::Bool,
        "Allow admins to embed Metabase via modular embedding?",
    ),
    def(
        "enable-embedding-static",
        Visibility::Authenticated,
        Kind::Bool,
        "Allow admins to embed Metabase via static embedding?",
    ),
    def(
        "has-user-setup",
        Visibility::Public,
        Kind::Computed,
        "A value that is true iff the metabase instance has one or more users registered.",
    ),
    def("password-complexity", Visibility::Public, Kind::Computed, "Current password complexity requirements"),
    def(
        "session-cookies",
        Visibility::Admin,
        Kind::Bool,
        "When set, enforces the use of session cookies for all users which expire when the browser is closed.",
    ),
    def(
        "setup-token",
        Visibility::Public,
        Kind::Computed,
        "A token used to signify that an instance has permissions to create the initial User.",
    ),
    def(
        "site-locale",
        Visibility::Public,
        Kind::Text,
        "The default language for all users across the Metabase UI, system emails, pulses, and alerts.",
    ),
    def("site-name", Visibility::Public, Kind::Text, "The name used for this instance of Metabase."),
    def(
        "site-url",
        Visibility::Public,
        Kind::Text,
        "This URL is used for things like creating links in emails, auth redirects, and in some embedding scenarios.",
    ),
    def("token-features", Visibility::Public, Kind::Computed, "Features registered for this instance's token"),
    def("version", Visibility::Public, Kind::Computed, "Metabase's version info"),
];

/// The `enable-embedding-*` switches whose false→true flip auto-generates a secret (§7).
const EMBEDDING_SWITCHES: &[&str] = &[
    "enable-embedding",
    "enable-embedding-interactive",
    "enable-embedding-sdk",
    "enable-embedding-simple",
    "enable-embedding-static",
];

/// Prefix of the assertion message for a malformed secret key (§7, §18 case 16).
pub const SECRET_KEY_ASSERT: &str = "Assert failed: Invalid embedding-secret-key! Secret key must be a hexadecimal-encoded 256-bit key (i.e., a 64-character string).";

/// Snake-case keys are accepted and kebab-cased (§7).
pub fn normalize_key(key: &str) -> String {
    key.replace('_', "-")
}

pub fn definition(key: &str) -> Option<&'static SettingDef> {
    REGISTRY.iter().find(|d| d.key == key)
}

/// Default value of a stored setting.
pub fn default_value(key: &str) -> Value {
    match key {
        "site-name" => json!("Metabase"),
        "site-locale" => json!("en"),
        k if EMBEDDING_SWITCHES.contains(&k) => json!(false),
        "session-cookies" => Value::Null,
        _ => Value::Null,
    }
}

/// Current value including computed settings.
pub fn current_value(state: &State, key: &str) -> Value {
    match key {
        "has-user-setup" => json!(state.has_user_setup()),
        "version" => json!({
            "date": "2026-08-14",
            "tag": "v0.63.2",
            "hash": "0e6a2c1",
            "branch": "release-x.63.x",
        }),
        "token-features" => json!({
            "advanced_permissions": false,
            "audit_app": false,
            "embedding": false,
            "embedding_sdk": false,
            "hosting": false,
            "sandboxes": false,
            "sso_jwt": false,
            "whitelabel": false,
        }),
        "password-complexity" => {
            let mut rule = match state.knobs.password_complexity.as_str() {
                "weak" => json!({ "total": 6 }),
                "strong" => json!({ "total": 8, "lower": 2, "upper": 2, "digit": 1, "special": 1 }),
                _ => json!({ "total": 6, "digit": 1 }),
            };
            if let Some(len) = state.knobs.password_length {
                rule["total"] = json!(len);
            }
            rule
        }
        _ => state.settings.get(key).cloned().unwrap_or_else(|| default_value(key)),
    }
}

/// Highest visibility a caller may read: anonymous → public, user → authenticated, admin → all (§3).
pub fn max_visibility(authenticated: bool, superuser: bool) -> Visibility {
    match (authenticated, superuser) {
        (_, true) => Visibility::Admin,
        (true, false) => Visibility::Authenticated,
        _ => Visibility::Public,
    }
}

/// `GET /api/session/properties`: every setting readable at `max` as a flat map.
pub fn properties(state: &State, max: Visibility) -> Map<String, Value> {
    REGISTRY.iter().filter(|d| d.visibility <= max).map(|d| (d.key.to_string(), current_value(state, d.key))).collect()
}

/// Validate and store one setting (an admin caller is assumed). `null` resets to the default.
/// Errors are Metabase's: setter assertion failures and unknown keys are 500s (§7).
pub fn write(state: &mut State, key: &str, value: Value) -> Result<(), ApiError> {
    let Some(def) = definition(key) else {
        return Err(unknown_setting(key));
    };
    let value = validate(def, value)?;
    apply(state, def, value);
    Ok(())
}

/// Validate every pair first, then apply them all: the bulk PUT is all-or-nothing.
pub fn write_many(state: &mut State, pairs: Vec<(String, Value)>) -> Result<(), ApiError> {
    let mut validated = Vec::new();
    for (key, value) in pairs {
        let def = definition(&key).ok_or_else(|| unknown_setting(&key))?;
        validated.push((def, validate(def, value)?));
    }
    for (def, value) in validated {
        apply(state, def, value);
    }
    Ok(())
}

pub fn unknown_setting(key: &str) -> ApiError {
    ApiError::server(format!("Unknown setting: :{key}"))
}

fn validate(def: &SettingDef, value: Value) -> Result<Value, ApiError> {
    match def.kind {
        Kind::Computed => Err(ApiError::server(format!("You cannot update `{}` using the API.", def.key))),
        Kind::Bool => match value {
            Value::Null | Value::Bool(_) => Ok(value),
            Value::String(s) if s == "true" || s == "false" => Ok(json!(s == "true")),
            other => Err(ApiError::server(format!("Invalid value for boolean setting :{}: {other}", def.key))),
        },
        Kind::Text => {
            let text = match value {
                Value::Null => return Ok(Value::Null),
                Value::String(s) if s.is_empty() => return Ok(Value::Null),
                Value::String(s) => s,
                other => other.to_string(),
            };
            match def.key {
                "embedding-secret-key" => {
                    let hex64 = Regex::new("^[0-9a-f]{64}$").expect("static regex");
                    if hex64.is_match(&text) {
                        Ok(json!(text))
                    } else {
                        Err(ApiError::server(format!("{SECRET_KEY_ASSERT}\n(u/hexadecimal-string? new-value)")))
                    }
                }
                "site-url" => normalize_site_url(&text).map(Value::String),
                _ => Ok(json!(text)),
            }
        }
    }
}

fn apply(state: &mut State, def: &SettingDef, value: Value) {
    let was_on = state.setting_bool(def.key);
    if value.is_null() {
        state.settings.remove(def.key);
    } else {
        state.settings.insert(def.key.to_string(), value);
    }
    let now_on = state.setting_bool(def.key);
    // §7: flipping an embedding switch on generates a secret when none is set.
    if EMBEDDING_SWITCHES.contains(&def.key) && !was_on && now_on && state.setting("embedding-secret-key").is_null() {
        state.settings.insert("embedding-secret-key".into(), json!(random_hex(32)));
    }
}

/// `site-url`: trailing `/` removed, `http://` prepended without a scheme, junk rejected (§7).
fn normalize_site_url(raw: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let with_scheme = if trimmed.contains("://") { trimmed.to_string() } else { format!("http://{trimmed}") };
    let valid =
        Regex::new(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[^\s]*)?$").expect("static regex").is_match(&with_scheme);
    if valid {
        Ok(with_scheme)
    } else {
        Err(ApiError::json(
            StatusCode::BAD_REQUEST,
            json!({ "errors": { "site-url": format!("Invalid site URL: {raw:?}") } }),
        ))
    }
}
