//! First-time setup, `POST /api/setup` (§4): schema errors (token included) first, then the 403.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Map, Value, json};

use crate::http::{ApiError, ApiResult, parse_body};
use crate::password;
use crate::routes::session::{issue_session, session_response};
use crate::state::{AppState, NewUser, UserKind};

pub const ALREADY_SET_UP: &str =
    "The /api/setup route can only be used to create the first user, however a user currently exists.";
const TOKEN_MISMATCH: &str = "Token does not match the setup token.";
const NON_BLANK: &str = "value must be a non-blank string.";
const BAD_EMAIL: &str = "value must be a valid email address.";

pub fn router() -> Router<AppState> {
    Router::new().route("/api/setup", post(setup))
}

/// Loose email check, the same one `POST /api/user` uses.
pub fn is_valid_email(email: &str) -> bool {
    regex::Regex::new(r"^[^@\s]+@[^@\s]+\.[^@\s]+$").expect("static regex").is_match(email)
}

/// A present, non-blank string field.
pub fn non_blank(value: &Value) -> Option<&str> {
    value.as_str().filter(|s| !s.trim().is_empty())
}

async fn setup(State(app): State<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let mut state = app.lock();

    // 1. Schema validation, the setup token included (§4).
    let mut errors = Map::new();
    let expected = state.setting("setup-token");
    let token_ok = matches!((body["token"].as_str(), expected.as_str()), (Some(t), Some(e)) if t == e);
    if !token_ok {
        errors.insert("token".into(), json!(TOKEN_MISMATCH));
    }
    let user = &body["user"];
    let mut user_errors = Map::new();
    let email = non_blank(&user["email"]).map(str::to_string);
    match &email {
        Some(e) if is_valid_email(e) => {}
        _ => {
            user_errors.insert("email".into(), json!(BAD_EMAIL));
        }
    }
    let password = user["password"].as_str().unwrap_or_default().to_string();
    if !password::is_valid(&password, &state.knobs) {
        user_errors.insert("password".into(), json!(password::TOO_COMMON));
    }
    for key in ["first_name", "last_name"] {
        if !(user[key].is_null() || non_blank(&user[key]).is_some()) {
            user_errors.insert(key.into(), json!(format!("nullable {NON_BLANK}")));
        }
    }
    if !user_errors.is_empty() {
        errors.insert("user".into(), Value::Object(user_errors));
    }
    let prefs = &body["prefs"];
    let site_name = non_blank(&prefs["site_name"]).map(str::to_string);
    if site_name.is_none() {
        errors.insert("prefs".into(), json!({ "site_name": NON_BLANK }));
    }
    if !errors.is_empty() {
        let specific = specific_errors(&Value::Object(errors.clone()));
        return Err(ApiError::invalid(Value::Object(errors), specific));
    }

    // 2. Only the first user may be created this way.
    if state.has_user_setup() {
        return Err(ApiError::text(StatusCode::FORBIDDEN, ALREADY_SET_UP));
    }

    let email = email.unwrap_or_default();
    let user_id = state.create_user(NewUser {
        email: email.clone(),
        first_name: user["first_name"].as_str().map(str::to_string),
        last_name: user["last_name"].as_str().map(str::to_string),
        password,
        kind: UserKind::Normal,
        superuser: true,
        is_installer: true,
        login_attributes: None,
    });
    state.settings.insert("site-name".into(), json!(site_name));
    state.settings.insert("admin-email".into(), json!(email));
    if let Some(locale) = non_blank(&prefs["site_locale"]) {
        state.settings.insert("site-locale".into(), json!(locale));
    }
    if state.knobs.setup_token_cleared_after_setup {
        state.settings.remove("setup-token");
    }
    let session_id = issue_session(&mut state, user_id);
    Ok(session_response(&session_id))
}

/// malli's `specific-errors` mirror the `errors` tree with each message wrapped in a list.
pub fn specific_errors(errors: &Value) -> Value {
    match errors {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), specific_errors(v))).collect()),
        other => json!([other]),
    }
}
