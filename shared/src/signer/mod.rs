//! The embed token signer: turns an authorised embed request into a Metabase static-embedding JWT
//! locked to the workspace's tenant, plus the public embed page URL (design §2 item 4, contract §15
//! and §19.5). Pure and in memory: no I/O, the key is prepared once.

pub mod appearance;

use std::collections::BTreeMap;
use std::fmt;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;

pub use appearance::{APPEARANCE_KEYS, Appearance, Theme};

use crate::config::{Config, ConfigError, MAX_EMBED_TTL_CAP_MINUTES};
use crate::error::{Error, Result};
use crate::ids::{MetabaseCardId, MetabaseDashboardId};
use crate::secrets::SecretString;

/// What a token opens. Serialises as the JWT's `resource` claim: `{"dashboard": id}` or
/// `{"question": id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedResource {
    Dashboard(MetabaseDashboardId),
    Question(MetabaseCardId),
}

impl EmbedResource {
    /// The kind as it appears in embed *page* URLs (`/embed/question/…`, not `card`, §15).
    pub fn page_kind(self) -> &'static str {
        match self {
            Self::Dashboard(_) => "dashboard",
            Self::Question(_) => "question",
        }
    }
}

/// A value of a published item's `embedding_params` whitelist (§14, §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingParamMode {
    /// Nobody may give a value.
    Disabled,
    /// The viewer may give a value (through us, in the token).
    Enabled,
    /// Only the signed token may give it; the tenant slug is always locked.
    Locked,
}

/// The signer's fixed settings, normally taken from [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerSettings {
    /// The parameter slug that carries the tenant (design §2 item 1).
    pub tenant_slug: String,
    /// Lifetime when the request names none.
    pub default_minutes: u32,
    /// Longest lifetime a request may ask for.
    pub cap_minutes: u32,
    /// Metabase as browsers reach it; never the internal URL.
    pub site_url: Url,
}

impl SignerSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            tenant_slug: config.tenant_slug.clone(),
            default_minutes: config.embed_ttl_minutes,
            cap_minutes: config.embed_ttl_cap_minutes,
            site_url: config.metabase_site_url.clone(),
        }
    }
}

/// One embed to sign. The caller has already authorised the viewer and checked the item is
/// embeddable; the signer enforces everything about the token itself.
#[derive(Debug, Clone)]
pub struct EmbedRequest<'a> {
    pub resource: EmbedResource,
    /// The workspace's `tenant_key`, signed under the tenant slug.
    pub tenant_key: &'a str,
    /// The item's published whitelist, as discovery recorded it.
    pub embedding_params: &'a BTreeMap<String, EmbeddingParamMode>,
    /// Viewer filter values (`?param.<slug>=value`): strings, numbers, booleans or non-empty arrays of them.
    pub viewer_params: Vec<(String, Value)>,
    /// Requested lifetime; `None` means the default.
    pub minutes: Option<u32>,
    /// Already merged with the workspace defaults ([`Appearance::merge`]).
    pub appearance: Appearance,
}

/// A signed embed. `Debug` hides the token and URL: both are bearer credentials until they expire.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct SignedEmbed {
    /// `{site}/embed/{dashboard|question}/{token}#{options}`.
    pub url: String,
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub expires_in_minutes: u32,
    /// The token's `jti` claim, for the token ledger.
    #[serde(skip)]
    pub jti: Uuid,
}

impl fmt::Debug for SignedEmbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedEmbed")
            .field("url", &"[redacted]")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("expires_in_minutes", &self.expires_in_minutes)
            .field("jti", &self.jti)
            .finish()
    }
}

/// Signs embed tokens with Metabase's `embedding-secret-key`. Build it once per process.
#[derive(Debug)]
pub struct EmbedSigner {
    key: EncodingKey,
    header: Header,
    tenant_slug: String,
    default_minutes: u32,
    cap_minutes: u32,
    /// The site URL without its trailing slash, so page URLs are one concatenation.
    page_base: String,
}

impl EmbedSigner {
    /// # Errors
    /// The secret is not 64 lowercase hex characters (Metabase's own rule for the setting), or a
    /// setting is out of range (empty or malformed tenant slug, lifetimes outside
    /// 1 ≤ default ≤ cap ≤ 60, a site URL that is not a plain http(s) base).
    pub fn new(secret: &SecretString, settings: SignerSettings) -> Result<Self> {
        let raw = secret.expose();
        if raw.len() != 64 || !raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(Error::internal(
                "the embedding secret key must be 64 lowercase hex characters (Metabase's embedding-secret-key)",
            ));
        }
        let SignerSettings { tenant_slug, default_minutes, cap_minutes, site_url } = settings;
        if tenant_slug.is_empty()
            || !tenant_slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(invalid_setting("TENANT_SLUG", &tenant_slug, "a parameter slug uses only a-z, 0-9 and _"));
        }
        if !(1..=MAX_EMBED_TTL_CAP_MINUTES).contains(&cap_minutes) {
            let reason = format!("expected an integer from 1 to {MAX_EMBED_TTL_CAP_MINUTES}");
            return Err(invalid_setting("EMBED_TTL_CAP_MINUTES", &cap_minutes.to_string(), &reason));
        }
        if !(1..=cap_minutes).contains(&default_minutes) {
            let reason = format!("expected an integer from 1 to {cap_minutes}");
            return Err(invalid_setting("EMBED_TTL_MINUTES", &default_minutes.to_string(), &reason));
        }
        if !matches!(site_url.scheme(), "http" | "https")
            || site_url.host().is_none()
            || site_url.query().is_some()
            || site_url.fragment().is_some()
        {
            return Err(invalid_setting(
                "METABASE_SITE_URL",
                site_url.as_str(),
                "expected an http(s) base URL without query or fragment",
            ));
        }
        Ok(Self {
            // Metabase keys HMAC with the secret string's bytes (the hex text), not the decoded bytes.
            key: EncodingKey::from_secret(raw.as_bytes()),
            header: Header::new(Algorithm::HS256),
            tenant_slug,
            default_minutes,
            cap_minutes,
            page_base: site_url.as_str().trim_end_matches('/').to_owned(),
        })
    }

    /// # Errors
    /// As [`EmbedSigner::new`].
    pub fn from_config(secret: &SecretString, config: &Config) -> Result<Self> {
        Self::new(secret, SignerSettings::from_config(config))
    }

    pub fn tenant_slug(&self) -> &str {
        &self.tenant_slug
    }

    pub fn default_minutes(&self) -> u32 {
        self.default_minutes
    }

    pub fn cap_minutes(&self) -> u32 {
        self.cap_minutes
    }

    /// Signs `request` as of `now_unix` (seconds since the epoch).
    ///
    /// # Errors
    /// * 400 `invalid_minutes`: `minutes` is 0 or above the cap.
    /// * 400 `param_not_allowed`: a viewer parameter names the tenant slug, or a slug that is
    ///   `locked`, `disabled` or not in the whitelist.
    /// * 400 `invalid_param_value`: a viewer value is blank, null, an object or an empty array, or a
    ///   slug is given twice.
    /// * 400 `invalid_appearance`: `hide_parameters` names a slug the item does not publish.
    /// * 500: the tenant key is blank or the whitelist does not lock the tenant slug (discovery
    ///   guarantees both; signing anyway could leak or fail every query).
    pub fn sign(&self, request: &EmbedRequest<'_>, now_unix: i64) -> Result<SignedEmbed> {
        let minutes = self.lifetime(request.minutes)?;
        if request.tenant_key.trim().is_empty() {
            return Err(Error::internal("refusing to sign an embed with a blank tenant key"));
        }
        if request.embedding_params.get(&self.tenant_slug) != Some(&EmbeddingParamMode::Locked) {
            return Err(Error::internal(format!(
                "refusing to sign {:?}: its embedding_params do not lock {}",
                request.resource, self.tenant_slug
            )));
        }
        self.check_viewer_params(&request.viewer_params, request.embedding_params)?;
        request.appearance.check_hidden(|slug| request.embedding_params.contains_key(slug))?;

        let exp = now_unix + i64::from(minutes) * 60;
        let expires_at = OffsetDateTime::from_unix_timestamp(exp)
            .map_err(|e| Error::internal(format!("embed expiry {exp} is out of range: {e}")))?;
        let jti = Uuid::new_v4();
        let claims = Claims {
            resource: request.resource,
            params: Params {
                tenant_slug: &self.tenant_slug,
                tenant_key: request.tenant_key,
                viewer: &request.viewer_params,
            },
            iat: now_unix,
            exp,
            jti,
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.key)
            .map_err(|e| Error::internal(format!("signing the embed token failed: {e}")))?;

        let kind = request.resource.page_kind();
        let mut url = String::with_capacity(
            self.page_base.len() + "/embed//".len() + kind.len() + token.len() + request.appearance.hash_len_hint(),
        );
        url.push_str(&self.page_base);
        url.push_str("/embed/");
        url.push_str(kind);
        url.push('/');
        url.push_str(&token);
        request.appearance.write_hash(&mut url);

        Ok(SignedEmbed { url, token, expires_at, expires_in_minutes: minutes, jti })
    }

    fn lifetime(&self, requested: Option<u32>) -> Result<u32> {
        match requested {
            None => Ok(self.default_minutes),
            Some(minutes) if (1..=self.cap_minutes).contains(&minutes) => Ok(minutes),
            Some(minutes) => Err(Error::bad_request(
                "invalid_minutes",
                format!("minutes must be from 1 to {} (got {minutes})", self.cap_minutes),
            )),
        }
    }

    fn check_viewer_params(
        &self,
        viewer: &[(String, Value)],
        whitelist: &BTreeMap<String, EmbeddingParamMode>,
    ) -> Result<()> {
        for (index, (slug, value)) in viewer.iter().enumerate() {
            let refusal = if *slug == self.tenant_slug {
                Some("is the tenant parameter; its value always comes from the workspace")
            } else {
                match whitelist.get(slug) {
                    Some(EmbeddingParamMode::Enabled) => None,
                    Some(EmbeddingParamMode::Locked) => Some("is locked; only the server sets it"),
                    Some(EmbeddingParamMode::Disabled) => Some("is disabled for embedding"),
                    None => Some("is not a published parameter of this item"),
                }
            };
            if let Some(reason) = refusal {
                return Err(Error::bad_request("param_not_allowed", format!("parameter {slug} {reason}")));
            }
            if viewer[..index].iter().any(|(earlier, _)| earlier == slug) {
                return Err(Error::bad_request(
                    "invalid_param_value",
                    format!("parameter {slug} is given more than once; send several values as one array"),
                ));
            }
            if !is_signable(value) {
                return Err(Error::bad_request(
                    "invalid_param_value",
                    format!("parameter {slug} needs a non-blank value (a string, number, boolean or non-empty list)"),
                ));
            }
        }
        Ok(())
    }
}

fn invalid_setting(var: &'static str, value: &str, reason: &str) -> Error {
    Error::Config(ConfigError::Invalid { var, value: value.to_owned(), reason: reason.to_owned() })
}

/// Metabase treats blank strings and null as "no value" and normalises `[]` to no value, which can
/// drop a filter (§19.5); none of those is ever signed.
fn is_signable(value: &Value) -> bool {
    fn scalar(value: &Value) -> bool {
        match value {
            Value::String(s) => !s.trim().is_empty(),
            Value::Number(_) | Value::Bool(_) => true,
            Value::Null | Value::Array(_) | Value::Object(_) => false,
        }
    }
    match value {
        Value::Array(items) => !items.is_empty() && items.iter().all(scalar),
        other => scalar(other),
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    resource: EmbedResource,
    params: Params<'a>,
    iat: i64,
    exp: i64,
    jti: Uuid,
}

/// The `params` claim, written straight from the request without building a map.
struct Params<'a> {
    tenant_slug: &'a str,
    tenant_key: &'a str,
    viewer: &'a [(String, Value)],
}

impl Serialize for Params<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1 + self.viewer.len()))?;
        map.serialize_entry(self.tenant_slug, self.tenant_key)?;
        for (slug, value) in self.viewer {
            map.serialize_entry(slug, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};
    use serde_json::json;

    const SECRET: &str = "5f1c0a4e9b2d7c3e8f6a1b0c9d2e4f3a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";
    const NOW: i64 = 1_800_000_000;

    fn settings() -> SignerSettings {
        SignerSettings {
            tenant_slug: "tenant_id".into(),
            default_minutes: 10,
            cap_minutes: 60,
            site_url: Url::parse("https://analytics.example.com/").unwrap(),
        }
    }

    fn signer() -> EmbedSigner {
        EmbedSigner::new(&SecretString::new(SECRET.into()), settings()).unwrap()
    }

    fn whitelist() -> BTreeMap<String, EmbeddingParamMode> {
        BTreeMap::from([
            ("tenant_id".to_owned(), EmbeddingParamMode::Locked),
            ("channel".to_owned(), EmbeddingParamMode::Enabled),
            ("region".to_owned(), EmbeddingParamMode::Locked),
            ("internal".to_owned(), EmbeddingParamMode::Disabled),
        ])
    }

    fn request(whitelist: &BTreeMap<String, EmbeddingParamMode>) -> EmbedRequest<'_> {
        EmbedRequest {
            resource: EmbedResource::Dashboard(MetabaseDashboardId(7)),
            tenant_key: "acme",
            embedding_params: whitelist,
            viewer_params: Vec::new(),
            minutes: None,
            appearance: Appearance::default(),
        }
    }

    /// Verifies the way Metabase does: HS256 with the secret string's bytes; expiry is checked
    /// separately because the tests sign at a fixed instant.
    fn decode(token: &str) -> (jsonwebtoken::Header, Value) {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp"]);
        let data = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(SECRET.as_bytes()), &validation)
            .expect("token verifies with the secret string's bytes");
        (data.header, data.claims)
    }

    fn bad_request_code(result: Result<SignedEmbed>) -> (&'static str, String) {
        match result {
            Err(Error::BadRequest { code, message }) => (code, message),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn signs_and_verifies_with_the_compiled_crypto_backend() {
        let signed = signer().sign(&request(&whitelist()), NOW).unwrap();
        let (header, claims) = decode(&signed.token);
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(claims["jti"], signed.jti.to_string());

        let hex_decoded = hex_decode(SECRET);
        let wrong = jsonwebtoken::decode::<Value>(
            &signed.token,
            &DecodingKey::from_secret(&hex_decoded),
            &Validation::new(Algorithm::HS256),
        );
        assert!(wrong.is_err(), "the hex-decoded secret must not verify: Metabase keys with the string");
    }

    fn hex_decode(hex: &str) -> Vec<u8> {
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn claims_have_metabase_shape_and_default_ttl() {
        let signed = signer().sign(&request(&whitelist()), NOW).unwrap();
        let (_, claims) = decode(&signed.token);
        assert_eq!(claims["resource"], json!({"dashboard": 7}));
        assert_eq!(claims["params"], json!({"tenant_id": "acme"}));
        assert_eq!(claims["iat"], NOW);
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);
        let keys: Vec<&String> = claims.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 5, "{claims}");
        assert_eq!(signed.expires_in_minutes, 10);
        assert_eq!(signed.expires_at.unix_timestamp(), NOW + 600);

        let body = serde_json::to_value(&signed).unwrap();
        assert_eq!(body["expires_at"], "2027-01-15T08:10:00Z");
        assert_eq!(body["expires_in_minutes"], 10);
        assert_eq!(body["token"], signed.token.as_str());
        assert_eq!(body.as_object().unwrap().len(), 4, "{body}");
    }

    #[test]
    fn questions_sign_the_question_resource_and_use_question_page_urls() {
        let whitelist = whitelist();
        let card = EmbedRequest { resource: EmbedResource::Question(MetabaseCardId(42)), ..request(&whitelist) };
        let signed = signer().sign(&card, NOW).unwrap();
        assert_eq!(decode(&signed.token).1["resource"], json!({"question": 42}));
        assert_eq!(signed.url, format!("https://analytics.example.com/embed/question/{}", signed.token));

        let dashboard = signer().sign(&request(&whitelist), NOW).unwrap();
        assert_eq!(dashboard.url, format!("https://analytics.example.com/embed/dashboard/{}", dashboard.token));
    }

    #[test]
    fn url_is_built_on_the_public_site_with_its_path() {
        let settings =
            SignerSettings { site_url: Url::parse("https://bi.example.com/metabase/").unwrap(), ..settings() };
        let signer = EmbedSigner::new(&SecretString::new(SECRET.into()), settings).unwrap();
        let whitelist = whitelist();
        let req = EmbedRequest {
            appearance: Appearance { titled: Some(false), theme: Some(Theme::Night), ..Appearance::default() },
            ..request(&whitelist)
        };
        let signed = signer.sign(&req, NOW).unwrap();
        assert_eq!(
            signed.url,
            format!("https://bi.example.com/metabase/embed/dashboard/{}#titled=false&theme=night", signed.token)
        );
        let config_signer = EmbedSigner::from_config(
            &SecretString::new(SECRET.into()),
            &Config::from_source(&std::collections::HashMap::from([
                ("TABLE_NAME", "t"),
                ("SECRET_ID", "s"),
                ("METABASE_URL", "http://metabase.internal:3000"),
                ("METABASE_SITE_URL", "https://analytics.example.com"),
            ]))
            .unwrap(),
        )
        .unwrap();
        let signed = config_signer.sign(&request(&whitelist), NOW).unwrap();
        assert!(signed.url.starts_with("https://analytics.example.com/embed/dashboard/ey"), "{}", signed.url);
        assert!(!signed.url.contains("internal"));
    }

    #[test]
    fn minutes_up_to_the_cap_are_honoured_and_beyond_it_rejected() {
        let whitelist = whitelist();
        let signer = signer();
        for minutes in [1, 30, 60] {
            let signed = signer.sign(&EmbedRequest { minutes: Some(minutes), ..request(&whitelist) }, NOW).unwrap();
            let (_, claims) = decode(&signed.token);
            assert_eq!(claims["exp"].as_i64().unwrap() - NOW, i64::from(minutes) * 60);
            assert_eq!(signed.expires_in_minutes, minutes);
        }
        for minutes in [0, 61, u32::MAX] {
            let (code, message) =
                bad_request_code(signer.sign(&EmbedRequest { minutes: Some(minutes), ..request(&whitelist) }, NOW));
            assert_eq!(code, "invalid_minutes");
            assert!(message.contains("from 1 to 60"), "{message}");
        }
        let short = EmbedSigner::new(
            &SecretString::new(SECRET.into()),
            SignerSettings { default_minutes: 2, cap_minutes: 5, ..settings() },
        )
        .unwrap();
        assert_eq!(short.sign(&request(&whitelist), NOW).unwrap().expires_in_minutes, 2);
        let (code, _) = bad_request_code(short.sign(&EmbedRequest { minutes: Some(6), ..request(&whitelist) }, NOW));
        assert_eq!(code, "invalid_minutes");
    }

    #[test]
    fn the_tenant_slug_always_carries_the_workspace_tenant_key() {
        let whitelist = whitelist();
        let req = EmbedRequest {
            tenant_key: "globex",
            viewer_params: vec![("channel".into(), json!("web"))],
            ..request(&whitelist)
        };
        let (_, claims) = decode(&signer().sign(&req, NOW).unwrap().token);
        assert_eq!(claims["params"], json!({"tenant_id": "globex", "channel": "web"}));

        for blank in ["", "   "] {
            let result = signer().sign(&EmbedRequest { tenant_key: blank, ..request(&whitelist) }, NOW);
            assert!(matches!(result, Err(Error::Internal(_))), "{result:?}");
        }
    }

    #[test]
    fn refuses_items_whose_whitelist_does_not_lock_the_tenant() {
        for mode in [None, Some(EmbeddingParamMode::Enabled), Some(EmbeddingParamMode::Disabled)] {
            let mut whitelist = whitelist();
            match mode {
                Some(mode) => whitelist.insert("tenant_id".into(), mode),
                None => whitelist.remove("tenant_id"),
            };
            let result = signer().sign(&request(&whitelist), NOW);
            assert!(matches!(result, Err(Error::Internal(_))), "{mode:?}: {result:?}");
        }
    }

    #[test]
    fn viewer_values_are_accepted_for_enabled_slugs_only() {
        let whitelist = whitelist();
        let signer = signer();
        for value in [json!("web"), json!(3), json!(true), json!(["web", "store"])] {
            let req = EmbedRequest { viewer_params: vec![("channel".into(), value.clone())], ..request(&whitelist) };
            let (_, claims) = decode(&signer.sign(&req, NOW).unwrap().token);
            assert_eq!(claims["params"]["channel"], value);
        }
        for (slug, reason) in [
            ("tenant_id", "tenant parameter"),
            ("region", "locked"),
            ("internal", "disabled"),
            ("nonexistent", "not a published parameter"),
        ] {
            let req = EmbedRequest { viewer_params: vec![(slug.into(), json!("globex"))], ..request(&whitelist) };
            let (code, message) = bad_request_code(signer.sign(&req, NOW));
            assert_eq!(code, "param_not_allowed", "{slug}");
            assert!(message.contains(slug) && message.contains(reason), "{message}");
        }
    }

    #[test]
    fn blank_and_empty_viewer_values_are_never_signed() {
        let whitelist = whitelist();
        for value in [json!(""), json!("  "), json!(null), json!([]), json!([""]), json!({"a": 1}), json!([[1]])] {
            let req = EmbedRequest { viewer_params: vec![("channel".into(), value.clone())], ..request(&whitelist) };
            let (code, message) = bad_request_code(signer().sign(&req, NOW));
            assert_eq!(code, "invalid_param_value", "{value}");
            assert!(message.contains("channel"), "{message}");
        }
        let twice = EmbedRequest {
            viewer_params: vec![("channel".into(), json!("web")), ("channel".into(), json!("store"))],
            ..request(&whitelist)
        };
        let (code, message) = bad_request_code(signer().sign(&twice, NOW));
        assert_eq!(code, "invalid_param_value");
        assert!(message.contains("more than once"), "{message}");
    }

    #[test]
    fn hidden_parameters_must_be_published_slugs() {
        let whitelist = whitelist();
        let hide = |slugs: &[&str]| Appearance {
            hide_parameters: Some(slugs.iter().map(|s| (*s).to_owned()).collect()),
            ..Appearance::default()
        };
        let ok = EmbedRequest { appearance: hide(&["channel", "tenant_id"]), ..request(&whitelist) };
        let signed = signer().sign(&ok, NOW).unwrap();
        assert!(signed.url.ends_with("#hide_parameters=channel,tenant_id"), "{}", signed.url);

        let unknown = EmbedRequest { appearance: hide(&["channel", "nope"]), ..request(&whitelist) };
        let (code, message) = bad_request_code(signer().sign(&unknown, NOW));
        assert_eq!(code, "invalid_appearance");
        assert!(message.contains("nope"), "{message}");
    }

    #[test]
    fn invalid_secrets_and_settings_are_rejected_at_construction() {
        let upper = SECRET.to_uppercase();
        for bad in ["", "abc", &SECRET[..63], &format!("{SECRET}0"), upper.as_str(), &SECRET.replace('5', "g")] {
            let error = EmbedSigner::new(&SecretString::new(bad.to_owned()), settings()).unwrap_err();
            assert!(matches!(error, Error::Internal(_)), "{error:?}");
            assert!(error.to_string().contains("64 lowercase hex"), "{error}");
            if !bad.is_empty() {
                assert!(!error.to_string().contains(bad), "the secret leaked into {error}");
            }
        }
        let secret = SecretString::new(SECRET.into());
        let cases = [
            (SignerSettings { tenant_slug: String::new(), ..settings() }, "TENANT_SLUG"),
            (SignerSettings { tenant_slug: "Tenant-Id".into(), ..settings() }, "TENANT_SLUG"),
            (SignerSettings { cap_minutes: 61, ..settings() }, "EMBED_TTL_CAP_MINUTES"),
            (SignerSettings { cap_minutes: 0, default_minutes: 0, ..settings() }, "EMBED_TTL_CAP_MINUTES"),
            (SignerSettings { default_minutes: 0, ..settings() }, "EMBED_TTL_MINUTES"),
            (SignerSettings { default_minutes: 61, ..settings() }, "EMBED_TTL_MINUTES"),
            (SignerSettings { site_url: Url::parse("ftp://example.com").unwrap(), ..settings() }, "METABASE_SITE_URL"),
            (
                SignerSettings { site_url: Url::parse("https://example.com/?a=1").unwrap(), ..settings() },
                "METABASE_SITE_URL",
            ),
        ];
        for (settings, var) in cases {
            match EmbedSigner::new(&secret, settings) {
                Err(Error::Config(ConfigError::Invalid { var: got, .. })) => assert_eq!(got, var),
                other => panic!("{var}: expected a configuration error, got {other:?}"),
            }
        }
    }

    #[test]
    fn debug_output_hides_the_token_and_key() {
        let signer = signer();
        let signed = signer.sign(&request(&whitelist()), NOW).unwrap();
        let shown = format!("{signed:?} {signer:?}");
        assert!(!shown.contains(&signed.token));
        assert!(!shown.contains(SECRET));
    }
}
