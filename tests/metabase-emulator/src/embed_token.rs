//! Verification of static-embedding JWTs, reproducing the checks and messages of contract §15 steps 1–5.
//!
//! Key material: Metabase hands the `embedding-secret-key` *string* to buddy-sign, which turns a string
//! key into its UTF-8 bytes. The 64 hex characters are therefore used as a 64-byte ASCII key, not decoded
//! into 32 raw bytes. A signer that hex-decodes the secret produces tokens Metabase rejects with
//! `Message seems corrupt or manipulated`, and so does this emulator.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use regex::Regex;
use serde_json::{Map, Value};
use sha2::Sha256;

/// Leeway Metabase grants on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: i64 = 60;

/// The exact message for any signature or token-structure failure (no trailing period, as in buddy-sign).
pub const CORRUPT: &str = "Message seems corrupt or manipulated";

/// Which embed endpoint family the token is presented to; selects the `resource` key that must exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Dashboard,
    Question,
}

impl ResourceKind {
    /// The key inside the `resource` claim (`dashboard` for dashboard endpoints, `question` for card ones).
    pub fn claim_key(self) -> &'static str {
        match self {
            ResourceKind::Dashboard => "dashboard",
            ResourceKind::Question => "question",
        }
    }
}

/// The object a verified token points at: a numeric id or (0.51+) a 21-character entity id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceRef {
    Id(i64),
    EntityId(String),
}

/// A token that passed steps 1–5: what it points at and the signed `params` claim.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    pub resource: ResourceRef,
    pub params: Map<String, Value>,
}

static JWT_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]+\.[A-Za-z0-9_=-]*$").expect("static regex is valid")
});

/// Whether `s` matches Metabase's route regex for the `:token` segment (base64url `.` base64url `.`
/// optional signature). Anything else does not match the route at all and is answered with a 404.
pub fn looks_like_jwt(s: &str) -> bool {
    JWT_SHAPE.is_match(s)
}

fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    // Padding is tolerated because the route regex admits `=`; buddy-sign strips it as well.
    URL_SAFE_NO_PAD.decode(segment.trim_end_matches('=')).ok()
}

fn decode_json_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = decode_segment(segment)?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Reads a numeric claim; JWT numeric dates may be sent as floats, which are truncated like Metabase does.
fn numeric_claim(claims: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    match claims.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))),
        Some(other) => Err(format!("Invalid input: claim {key} must be a number, got {other}")),
    }
}

fn resource_from_value(kind: ResourceKind, value: &Value) -> Result<ResourceRef, String> {
    let keypath = format!("[:resource :{}]", kind.claim_key());
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(id) if id > 0 => Ok(ResourceRef::Id(id)),
            _ => Err(format!(
                "Invalid input: {keypath} should be a positive integer or a 21-character entity id, got {n}"
            )),
        },
        Value::String(s) if s.chars().count() == 21 => Ok(ResourceRef::EntityId(s.clone())),
        other => Err(format!(
            "Invalid input: {keypath} should be a positive integer or a 21-character entity id, got {other}"
        )),
    }
}

/// Verifies `token` the way `/api/embed/*` does, in the contract's order:
/// header `alg` present and not `none`; secret set; HS256 signature (whatever the header claims);
/// `exp`/`nbf` with 60 s leeway; `resource.<kind>` present and well typed; `params` present and a map.
/// Errors are the exact plain-text bodies Metabase sends with its 400.
pub fn verify(
    token: &str,
    secret_hex: Option<&str>,
    kind: ResourceKind,
    now_unix: i64,
) -> Result<VerifiedToken, String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(CORRUPT.to_string());
    }
    // Step 1: Metabase parses the header itself before calling buddy-sign.
    let header = decode_json_object(parts[0]).ok_or_else(|| CORRUPT.to_string())?;
    match header.get("alg") {
        None | Some(Value::Null) => return Err("JWT is missing `alg`.".to_string()),
        Some(Value::String(alg)) if alg.eq_ignore_ascii_case("none") => {
            return Err("JWT `alg` cannot be `none`.".to_string());
        }
        _ => {}
    }
    // Step 2.
    let secret = match secret_hex {
        Some(s) if !s.is_empty() => s,
        _ => return Err("The embedding secret key has not been set.".to_string()),
    };
    // Step 3: HS256 over `header.payload`, keyed by the secret string's bytes; the header's `alg` value is
    // deliberately not consulted, so an HS512 token fails here with the same message as a wrong key.
    let signature = decode_segment(parts[2]).ok_or_else(|| CORRUPT.to_string())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| CORRUPT.to_string())?;
    mac.update(parts[0].as_bytes());
    mac.update(b".");
    mac.update(parts[1].as_bytes());
    // `verify_slice` compares in constant time and rejects wrong lengths (e.g. an empty signature).
    mac.verify_slice(&signature).map_err(|_| CORRUPT.to_string())?;
    let claims = decode_json_object(parts[1]).ok_or_else(|| CORRUPT.to_string())?;
    // Step 4.
    if let Some(exp) = numeric_claim(&claims, "exp")?
        && exp <= now_unix - LEEWAY_SECONDS
    {
        return Err(format!("Token is expired ({exp})"));
    }
    if let Some(nbf) = numeric_claim(&claims, "nbf")?
        && nbf > now_unix + LEEWAY_SECONDS
    {
        return Err(format!("Token is not yet valid ({nbf})"));
    }
    // Step 5: resource first, then params.
    let key = kind.claim_key();
    let resource_value = match claims.get("resource") {
        Some(Value::Object(resource)) => resource.get(key).filter(|v| !v.is_null()),
        _ => None,
    };
    let resource = match resource_value {
        Some(v) => resource_from_value(kind, v)?,
        None => {
            return Err(format!("Token is missing value for keypath [:resource :{key}]"));
        }
    };
    let params = match claims.get("params") {
        None | Some(Value::Null) => {
            return Err("Token is missing value for keypath [:params]".to_string());
        }
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(format!("Invalid input: [:params] should be a map, got {other}"));
        }
    };
    Ok(VerifiedToken { resource, params })
}

/// Signs `claims` with HS256 under `secret` (its string bytes), with the given header. Used by tests of
/// this crate and by anyone who needs a token the emulator accepts; Tenantbase has its own signer.
pub fn sign_with_header(header: &Value, claims: &Value, secret: &str) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let p = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key");
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{h}.{p}.{sig}")
}

/// Signs `claims` with a standard `{"alg":"HS256","typ":"JWT"}` header.
pub fn sign(claims: &Value, secret: &str) -> String {
    sign_with_header(&serde_json::json!({"alg": "HS256", "typ": "JWT"}), claims, secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const K: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    const NOW: i64 = 1_800_000_000;

    fn dash(claims: Value) -> Result<VerifiedToken, String> {
        verify(&sign(&claims, K), Some(K), ResourceKind::Dashboard, NOW)
    }

    #[test]
    fn route_regex_accepts_jwts_and_rejects_other_strings() {
        assert!(looks_like_jwt("eyJh.eyJi.c2ln"));
        assert!(looks_like_jwt("eyJh.eyJi."));
        assert!(looks_like_jwt(&sign(&json!({}), K)));
        assert!(!looks_like_jwt("not-a-token"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a..c"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt("a+b.c.d"));
    }

    #[test]
    fn valid_token_yields_resource_and_params() {
        let v = dash(json!({"resource": {"dashboard": 7}, "params": {"tenant": "a"}})).unwrap();
        assert_eq!(v.resource, ResourceRef::Id(7));
        assert_eq!(v.params.get("tenant"), Some(&json!("a")));
        let v = dash(json!({"resource": {"dashboard": "abcdefghijklmnopqrstu"}, "params": {}})).unwrap();
        assert_eq!(v.resource, ResourceRef::EntityId("abcdefghijklmnopqrstu".into()));
    }

    // §18 case 2.
    #[test]
    fn other_key_is_corrupt() {
        let t = sign(&json!({"resource": {"dashboard": 7}, "params": {}}), OTHER);
        assert_eq!(verify(&t, Some(K), ResourceKind::Dashboard, NOW).unwrap_err(), CORRUPT);
    }

    #[test]
    fn hex_decoded_key_is_not_what_metabase_uses() {
        let raw = hex::decode(K).unwrap();
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
        let p = URL_SAFE_NO_PAD.encode(r#"{"resource":{"dashboard":7},"params":{}}"#);
        let mut mac = Hmac::<Sha256>::new_from_slice(&raw).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        let t = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        assert_eq!(verify(&t, Some(K), ResourceKind::Dashboard, NOW).unwrap_err(), CORRUPT);
    }

    #[test]
    fn header_alg_is_not_trusted_and_missing_signature_is_corrupt() {
        let claims = json!({"resource": {"dashboard": 7}, "params": {}});
        // Header says HS512 but the HS256 signature is valid: accepted, as buddy-sign 3.5 does.
        let t = sign_with_header(&json!({"alg": "HS512"}), &claims, K);
        assert!(verify(&t, Some(K), ResourceKind::Dashboard, NOW).is_ok());
        let unsigned = sign(&claims, K);
        let cut = &unsigned[..unsigned.rfind('.').unwrap() + 1];
        assert_eq!(verify(cut, Some(K), ResourceKind::Dashboard, NOW).unwrap_err(), CORRUPT);
        // A tampered payload with the old signature.
        let mut parts: Vec<String> = unsigned.split('.').map(String::from).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(r#"{"resource":{"dashboard":8},"params":{}}"#);
        assert_eq!(verify(&parts.join("."), Some(K), ResourceKind::Dashboard, NOW).unwrap_err(), CORRUPT);
    }

    // §18 case 3 and the missing-alg message; both are checked before the secret.
    #[test]
    fn alg_none_and_missing_alg() {
        let claims = json!({"resource": {"dashboard": 7}, "params": {}});
        let t = sign_with_header(&json!({"alg": "none"}), &claims, K);
        assert_eq!(verify(&t, None, ResourceKind::Dashboard, NOW).unwrap_err(), "JWT `alg` cannot be `none`.");
        let t = sign_with_header(&json!({"typ": "JWT"}), &claims, K);
        assert_eq!(verify(&t, None, ResourceKind::Dashboard, NOW).unwrap_err(), "JWT is missing `alg`.");
    }

    #[test]
    fn secret_not_set() {
        let t = sign(&json!({"resource": {"dashboard": 7}, "params": {}}), K);
        for secret in [None, Some("")] {
            assert_eq!(
                verify(&t, secret, ResourceKind::Dashboard, NOW).unwrap_err(),
                "The embedding secret key has not been set."
            );
        }
    }

    // §18 case 4.
    #[test]
    fn expiry_with_leeway() {
        let base = json!({"resource": {"dashboard": 7}, "params": {}});
        let with = |k: &str, v: i64| {
            let mut c = base.clone();
            c[k] = json!(v);
            dash(c)
        };
        assert_eq!(with("exp", NOW - 3600).unwrap_err(), format!("Token is expired ({})", NOW - 3600));
        assert!(with("exp", NOW - 30).is_ok());
        assert!(with("exp", NOW - 60).is_err());
        assert!(dash(base.clone()).is_ok());
        assert_eq!(with("nbf", NOW + 3600).unwrap_err(), format!("Token is not yet valid ({})", NOW + 3600));
        assert!(with("nbf", NOW + 30).is_ok());
    }

    // §18 case 5.
    #[test]
    fn params_required() {
        assert_eq!(
            dash(json!({"resource": {"dashboard": 7}})).unwrap_err(),
            "Token is missing value for keypath [:params]"
        );
        assert!(dash(json!({"resource": {"dashboard": 7}, "params": [1]})).unwrap_err().starts_with("Invalid input:"));
    }

    // §18 case 6 and the wrong-type rule.
    #[test]
    fn resource_keypath_and_type() {
        assert_eq!(
            dash(json!({"resource": {"question": 3}, "params": {}})).unwrap_err(),
            "Token is missing value for keypath [:resource :dashboard]"
        );
        assert_eq!(
            verify(
                &sign(&json!({"resource": {"dashboard": 3}, "params": {}}), K),
                Some(K),
                ResourceKind::Question,
                NOW
            )
            .unwrap_err(),
            "Token is missing value for keypath [:resource :question]"
        );
        assert!(dash(json!({"resource": {"dashboard": "8"}, "params": {}})).unwrap_err().starts_with("Invalid input:"));
        assert!(dash(json!({"resource": {"dashboard": -1}, "params": {}})).unwrap_err().starts_with("Invalid input:"));
        // Resource is checked before params.
        assert_eq!(
            dash(json!({"resource": {}})).unwrap_err(),
            "Token is missing value for keypath [:resource :dashboard]"
        );
    }
}
