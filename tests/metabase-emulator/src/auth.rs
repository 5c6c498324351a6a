//! Who is calling (session header/cookie or API key, §1) and what they may do with collections (§9, §11).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use crate::http::ApiError;
use crate::state::{Access, AppState, CollectionKey, SESSION_MAX_AGE_SECS, State};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub is_superuser: bool,
    /// Set when the caller used a session (API-key callers cannot log out, §6).
    pub session_id: Option<String>,
    /// Set when the caller used `X-Api-Key`.
    pub api_key_id: Option<i64>,
}

/// SHA-256 hex of an API key, the form keys are stored in.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The session id sent in `X-Metabase-Session` or the `metabase.SESSION` cookie.
pub fn session_id_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-metabase-session").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == "metabase.SESSION")
        .map(|(_, value)| value.to_string())
}

/// Resolve the caller from request headers; `None` means unauthenticated (unknown keys are ignored, §1).
pub fn identify(state: &State, headers: &HeaderMap) -> Option<Caller> {
    if let Some(session_id) = session_id_from_headers(headers) {
        let now = state.now();
        if let Some(session) = state.sessions.get(&session_id) {
            let fresh = (now - session.created_at).whole_seconds() < SESSION_MAX_AGE_SECS;
            if fresh {
                let user = state.users.get(&session.user_id)?;
                if user.is_active {
                    return Some(Caller {
                        user_id: user.id,
                        is_superuser: state.is_superuser(user.id),
                        session_id: Some(session_id),
                        api_key_id: None,
                    });
                }
            }
        }
    }
    // HeaderMap names are case-insensitive, so `X-API-KEY` and `x-api-key` both match.
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok())?;
    let hash = hash_api_key(key.trim());
    let api_key = state.api_keys.values().find(|k| k.key_hash == hash)?;
    let user = state.users.get(&api_key.user_id)?;
    if !user.is_active {
        return None;
    }
    Some(Caller {
        user_id: user.id,
        is_superuser: state.is_superuser(user.id),
        session_id: None,
        api_key_id: Some(api_key.id),
    })
}

/// Extractor that never rejects: the caller if any.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let state = app.lock();
        Ok(MaybeCaller(identify(&state, &parts.headers)))
    }
}

/// Extractor for `+auth` routes: rejects with `401 Unauthenticated`.
#[derive(Debug, Clone)]
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let state = app.lock();
        identify(&state, &parts.headers).map(Auth).ok_or_else(ApiError::unauthenticated)
    }
}

/// Extractor for superuser-only routes: 401 when unauthenticated, then 403.
#[derive(Debug, Clone)]
pub struct Superuser(pub Caller);

impl FromRequestParts<AppState> for Superuser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let Auth(caller) = Auth::from_request_parts(parts, app).await?;
        require_superuser(&caller)?;
        Ok(Superuser(caller))
    }
}

/// 401 `Unauthenticated` unless there is a caller.
pub fn require_auth(caller: Option<Caller>) -> Result<Caller, ApiError> {
    caller.ok_or_else(ApiError::unauthenticated)
}

/// 403 unless the caller is a superuser.
pub fn require_superuser(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_superuser { Ok(()) } else { Err(ApiError::forbidden()) }
}

/// The most permissive access `user_id` has on a collection (or root), §9/§11:
/// admins write everything; personal collections (and their subtrees) belong to the owner only
/// (admins included above); otherwise the best cell across the user's groups.
pub fn collection_access(state: &State, user_id: i64, coll: CollectionKey) -> Option<Access> {
    if state.is_superuser(user_id) {
        return Some(Access::Write);
    }
    if let Some(id) = coll {
        if let Some(owner) = state.personal_owner_of(id) {
            return (owner == user_id).then_some(Access::Write);
        }
    }
    state.user_group_ids(user_id).into_iter().filter_map(|gid| state.collection_perms.get(&(gid, coll)).copied()).max()
}

/// Read (or write) access on a collection; `None` is the root collection.
pub fn can_read_collection(state: &State, user_id: i64, coll: CollectionKey) -> bool {
    collection_access(state, user_id, coll).is_some()
}

/// Write (curate) access on a collection; `None` is the root collection.
pub fn can_write_collection(state: &State, user_id: i64, coll: CollectionKey) -> bool {
    collection_access(state, user_id, coll) == Some(Access::Write)
}
