//! Authentication: the one bearer-token extractor of every protected route, access tokens,
//! password policy and hashing, and the login lockout rule.

pub mod lockout;
pub mod password;
pub mod token;

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::ids::UserId;
pub use token::{Claims, IssuedToken, TokenSettings};

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub claims: Claims,
}

/// Token settings from the secret (key) and configuration (issuer, audience, lifetime).
///
/// # Errors
/// The secret cannot be read (503).
pub async fn token_settings(deps: &Deps) -> Result<TokenSettings> {
    let secrets = deps.secrets.get().await?;
    Ok(TokenSettings {
        key: secrets.access_token_signing_key.clone(),
        issuer: deps.config.token_issuer.clone(),
        audience: deps.config.token_audience.clone(),
        ttl_seconds: i64::from(deps.config.access_token_ttl_minutes) * 60,
    })
}

/// The bearer token of `Authorization: Bearer <token>` (scheme case-insensitive).
///
/// # Errors
/// 401 when the header is missing, not valid text, of another scheme, or empty.
pub fn bearer_token(headers: &http::HeaderMap) -> Result<&str> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| Error::Unauthorized("an Authorization: Bearer token is required".to_owned()))?
        .to_str()
        .map_err(|_| Error::Unauthorized("the Authorization header is malformed".to_owned()))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(Error::Unauthorized("the Authorization header must be: Bearer <token>".to_owned()));
    }
    Ok(token)
}

/// Authenticates a request by its bearer token: every protected route of every function calls
/// this first. It checks the token only; routes that need the account read it themselves.
///
/// # Errors
/// 401 (with `WWW-Authenticate: Bearer`) for a missing, malformed, expired, wrongly signed,
/// wrong-algorithm or wrong-audience token; 503 when the secret is unreadable.
pub async fn authenticate<B>(deps: &Deps, request: &http::Request<B>) -> Result<Principal> {
    let token = bearer_token(request.headers())?;
    let settings = token_settings(deps).await?;
    let claims = token::verify(&settings, deps.clock.as_ref(), token)?;
    Ok(Principal { user_id: claims.sub, claims })
}

/// Who is calling a route that both end users and the SaaS backend may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An end user with a valid bearer token.
    User(Principal),
    /// The SaaS backend, with `X-Api-Key: <operator key>`: trusted to choose tenant keys and to
    /// act on any workspace.
    Operator,
}

impl Caller {
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Self::User(principal) => Some(principal.user_id),
            Self::Operator => None,
        }
    }
}

/// Authenticates a request by its operator key (`X-Api-Key`) when it has one, else by its bearer
/// token. A wrong operator key is a 401, never a fallback to the bearer token.
///
/// # Errors
/// 401 for a wrong operator key or a bad bearer token; 503 when the secret is unreadable.
pub async fn caller<B>(deps: &Deps, request: &http::Request<B>) -> Result<Caller> {
    let Some(key) = request.headers().get("x-api-key") else {
        return authenticate(deps, request).await.map(Caller::User);
    };
    let secrets = deps.secrets.get().await?;
    let expected = secrets.operator_api_key.expose().as_bytes();
    if !expected.is_empty() && constant_time_eq(key.as_bytes(), expected) {
        Ok(Caller::Operator)
    } else {
        Err(Error::Unauthorized("the X-Api-Key is not valid".to_owned()))
    }
}

/// Compares without an early exit, so the time taken does not reveal how much of a guessed key
/// was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn headers(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, http::HeaderValue::from_bytes(value).unwrap());
        headers
    }

    #[test]
    fn keys_compare_only_when_equal() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn bearer_tokens_are_extracted_strictly() {
        assert_eq!(bearer_token(&headers(b"Bearer abc.def.ghi")).unwrap(), "abc.def.ghi");
        assert_eq!(bearer_token(&headers(b"bearer  abc ")).unwrap(), "abc");
        for bad in [&b"Basic dXNlcjpwYXNz"[..], b"Bearer", b"Bearer   ", b"abc.def.ghi", b"Token abc"] {
            let error = bearer_token(&headers(bad)).unwrap_err();
            assert_eq!(error.status().as_u16(), 401, "{bad:?}");
        }
        assert_eq!(bearer_token(&headers(b"Bearer \xff")).unwrap_err().status().as_u16(), 401);
        let error = bearer_token(&HeaderMap::new()).unwrap_err();
        assert_eq!(error.to_string(), "an Authorization: Bearer token is required");
        let response = crate::http::error_response(&error);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
}
