//! Tenantbase's access tokens: HS256 JWTs with `sub`, `iat`, `exp`, `iss`, `aud` and `jti`.
//!
//! Verification pins HS256 (so `alg: none` and every other algorithm are refused before the
//! signature is looked at), requires every claim, and checks expiry against the injected clock
//! with no leeway, so tests move a clock instead of sleeping.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::secrets::SecretString;

/// The claims of an access token. Every field is required: a token missing one does not
/// deserialise and is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    /// Unique per token, so one token can later be revoked or audited on its own.
    pub jti: String,
    /// Never issued by Tenantbase; honoured when present so a token cannot be post-dated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// What a signer and a verifier agree on: the key from the secret, issuer and audience from
/// configuration, and the lifetime of new tokens.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub key: SecretString,
    pub issuer: String,
    pub audience: String,
    pub ttl_seconds: i64,
}

/// A freshly issued token and its lifetime in seconds.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: SecretString,
    pub expires_in: i64,
    pub claims: Claims,
}

const ALGORITHM: Algorithm = Algorithm::HS256;
const SPEC_CLAIMS: [&str; 4] = ["sub", "exp", "iss", "aud"];

fn signing_key(settings: &TokenSettings) -> Result<&[u8]> {
    let key = settings.key.expose().as_bytes();
    // An empty HMAC key would make every token forgeable: refuse to sign or verify with it.
    if key.is_empty() {
        return Err(Error::internal("the access token signing key in the secret is empty"));
    }
    Ok(key)
}

/// Signs a token for `user` valid from now for `settings.ttl_seconds`.
///
/// # Errors
/// The signing key is empty or signing failed (500).
pub fn issue(settings: &TokenSettings, clock: &dyn Clock, user: UserId) -> Result<IssuedToken> {
    let now = clock.unix_seconds();
    let claims = Claims {
        sub: user,
        iat: now,
        exp: now + settings.ttl_seconds,
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        jti: uuid::Uuid::new_v4().simple().to_string(),
        nbf: None,
    };
    let token =
        jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &EncodingKey::from_secret(signing_key(settings)?))
            .map_err(|e| Error::internal(format!("token signing: {e}")))?;
    Ok(IssuedToken { token: SecretString::new(token), expires_in: settings.ttl_seconds, claims })
}

/// Verifies `token` and returns its claims.
///
/// # Errors
/// 401 for anything but a well-formed, correctly signed HS256 token with every claim, our
/// issuer and audience, not expired; 500 if the signing key is empty.
pub fn verify(settings: &TokenSettings, clock: &dyn Clock, token: &str) -> Result<Claims> {
    let mut validation = Validation::new(ALGORITHM);
    validation.set_required_spec_claims(&SPEC_CLAIMS);
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    // Expiry is checked below against the injected clock, without the library's leeway.
    validation.validate_exp = false;
    let key = DecodingKey::from_secret(signing_key(settings)?);
    // The header alone decides the algorithm: anything but HS256 (including `none`, which the
    // library cannot even parse) is refused as such, before claims are read.
    if header_algorithm(token).is_some_and(|alg| alg != "HS256") {
        return Err(reject(&ErrorKind::InvalidAlgorithm));
    }
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| reject(e.kind()))?.claims;
    let now = clock.unix_seconds();
    if claims.exp <= now {
        return Err(Error::Unauthorized("the access token has expired".to_owned()));
    }
    // A token issued in the future was not issued by us with this clock.
    if claims.iat > now + 60 || claims.iat > claims.exp || claims.nbf.is_some_and(|nbf| nbf > now + 60) {
        return Err(Error::Unauthorized("the access token is not valid".to_owned()));
    }
    Ok(claims)
}

/// The `alg` a token's header names, if the header decodes at all.
fn header_algorithm(token: &str) -> Option<String> {
    use base64::Engine;
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("alg").map(|alg| alg.as_str().unwrap_or_default().to_owned())
}

/// A client-facing reason; the precise cause goes to the debug log only.
fn reject(kind: &ErrorKind) -> Error {
    tracing::debug!(?kind, "access token rejected");
    let message = match kind {
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::UnsupportedAlgorithm => {
            "the access token must be signed with HS256"
        }
        ErrorKind::InvalidSignature => "the access token signature is invalid",
        ErrorKind::ExpiredSignature => "the access token has expired",
        ErrorKind::InvalidAudience | ErrorKind::InvalidIssuer => "the access token is not for this API",
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) | ErrorKind::Json(_) => {
            "the access token lacks a required claim"
        }
        _ => "the access token is malformed",
    };
    Error::Unauthorized(message.to_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};
    use std::time::Duration;

    pub(crate) fn settings() -> TokenSettings {
        TokenSettings {
            key: SecretString::new("k".repeat(64)),
            issuer: "tenantbase".into(),
            audience: "tenantbase-api".into(),
            ttl_seconds: 3600,
        }
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    /// A token with an arbitrary header and claims, signed with `key` by HMAC-SHA256 of the
    /// library (through `encode` for HS*, by hand for `none`).
    fn forge(header: Value, claims: Value, key: &str) -> String {
        let alg = header["alg"].as_str().unwrap_or("none").to_owned();
        match alg.as_str() {
            "none" => format!("{}.{}.", b64(&header), b64(&claims)),
            _ => {
                let algorithm: Algorithm = alg.parse().unwrap();
                jsonwebtoken::encode(&Header::new(algorithm), &claims, &EncodingKey::from_secret(key.as_bytes()))
                    .unwrap()
            }
        }
    }

    fn valid_claims(clock: &ManualClock) -> Value {
        let now = clock.unix_seconds();
        json!({"sub": UserId::generate(), "iat": now, "exp": now + 600, "iss": "tenantbase",
               "aud": "tenantbase-api", "jti": "abc"})
    }

    fn rejected(token: &str, clock: &ManualClock) -> String {
        let error = verify(&settings(), clock, token).expect_err("token must be refused");
        assert_eq!(error.status().as_u16(), 401, "{error}");
        error.to_string()
    }

    #[test]
    fn issued_tokens_verify_and_carry_every_claim() {
        let clock = ManualClock::new();
        let user = UserId::generate();
        let issued = issue(&settings(), &clock, user).unwrap();
        assert_eq!(issued.expires_in, 3600);
        let claims = verify(&settings(), &clock, issued.token.expose()).unwrap();
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.sub, user);
        assert_eq!(claims.exp - claims.iat, 3600);
        assert_eq!((claims.iss.as_str(), claims.aud.as_str()), ("tenantbase", "tenantbase-api"));
        assert_eq!(claims.jti.len(), 32);
        let header = jsonwebtoken::decode_header(issued.token.expose()).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        let other = issue(&settings(), &clock, user).unwrap();
        assert_ne!(other.claims.jti, issued.claims.jti, "jti is unique per token");
    }

    #[test]
    fn tokens_expire_by_the_injected_clock() {
        let clock = ManualClock::new();
        let issued = issue(&settings(), &clock, UserId::generate()).unwrap();
        clock.advance(Duration::from_secs(3599));
        assert!(verify(&settings(), &clock, issued.token.expose()).is_ok());
        clock.advance(Duration::from_secs(1));
        assert_eq!(rejected(issued.token.expose(), &clock), "the access token has expired");
    }

    #[test]
    fn every_bad_token_is_a_401() {
        let clock = ManualClock::new();
        let key = settings().key.expose().clone();
        let hs256 = json!({"alg": "HS256", "typ": "JWT"});
        let claims = valid_claims(&clock);
        assert!(verify(&settings(), &clock, &forge(hs256.clone(), claims.clone(), &key)).is_ok(), "control");

        for malformed in ["", "abc", "a.b.c", "a.b", "....", "Bearer x"] {
            assert_eq!(rejected(malformed, &clock), "the access token is malformed", "{malformed:?}");
        }
        let wrong_key = forge(hs256.clone(), claims.clone(), "another-key-entirely");
        assert_eq!(rejected(&wrong_key, &clock), "the access token signature is invalid");
        let none = forge(json!({"alg": "none", "typ": "JWT"}), claims.clone(), &key);
        assert_eq!(rejected(&none, &clock), "the access token must be signed with HS256");
        let none_signed = format!("{}{}", none, "c2ln");
        assert_eq!(rejected(&none_signed, &clock), "the access token must be signed with HS256");
        let hs512 = forge(json!({"alg": "HS512"}), claims.clone(), &key);
        assert_eq!(rejected(&hs512, &clock), "the access token must be signed with HS256");
        let mut wrong_aud = claims.clone();
        wrong_aud["aud"] = "someone-else".into();
        assert_eq!(rejected(&forge(hs256.clone(), wrong_aud, &key), &clock), "the access token is not for this API");
        let mut wrong_iss = claims.clone();
        wrong_iss["iss"] = "evil".into();
        assert_eq!(rejected(&forge(hs256.clone(), wrong_iss, &key), &clock), "the access token is not for this API");
        let mut expired = claims.clone();
        expired["exp"] = (clock.unix_seconds() - 1).into();
        assert_eq!(rejected(&forge(hs256.clone(), expired, &key), &clock), "the access token has expired");
        let mut bad_sub = claims.clone();
        bad_sub["sub"] = "not-a-user-id".into();
        assert_eq!(rejected(&forge(hs256.clone(), bad_sub, &key), &clock), "the access token lacks a required claim");
        for claim in ["sub", "iat", "exp", "iss", "aud", "jti"] {
            let mut missing = claims.clone();
            missing.as_object_mut().unwrap().remove(claim);
            let message = rejected(&forge(hs256.clone(), missing, &key), &clock);
            assert_eq!(message, "the access token lacks a required claim", "{claim}");
        }
        let mut future = claims.clone();
        future["iat"] = (clock.unix_seconds() + 3600).into();
        future["exp"] = (clock.unix_seconds() + 7200).into();
        assert_eq!(rejected(&forge(hs256, future, &key), &clock), "the access token is not valid");
    }

    #[test]
    fn an_empty_key_signs_and_verifies_nothing() {
        let clock = ManualClock::new();
        let empty = TokenSettings { key: SecretString::default(), ..settings() };
        assert_eq!(issue(&empty, &clock, UserId::generate()).unwrap_err().status().as_u16(), 500);
        let token = forge(json!({"alg": "HS256"}), valid_claims(&clock), "x");
        assert_eq!(verify(&empty, &clock, &token).unwrap_err().status().as_u16(), 500);
    }
}
