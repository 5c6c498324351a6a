//! Reading requests: bodies, query parameters and headers, with JSON 4xx errors for bad input.
//!
//! Every function's handlers read their input through these helpers, so a wrong content type is
//! always a 415, an unparsable body always a 400 `invalid_json`, and a missing or mistyped field
//! always a 400 that names the field.

use std::collections::HashMap;

use lambda_http::{Request, RequestExt};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Bodies larger than this are refused before parsing: no route takes more than a few fields.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub const JSON: &str = "application/json";
pub const FORM: &str = "application/x-www-form-urlencoded";

/// A header's value, if present and valid visible ASCII. Header names are case-insensitive.
pub fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers().get(name).and_then(|value| value.to_str().ok())
}

/// The body's media type, lower-cased and without parameters (`application/json; charset=utf-8`
/// is `application/json`).
pub fn media_type(request: &Request) -> Option<String> {
    header(request, "content-type")
        .map(|value| value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .filter(|value| !value.is_empty())
}

/// One query-string parameter (the first, if repeated).
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request.query_string_parameters_ref().and_then(|params| params.first(name)).map(ToOwned::to_owned)
}

/// Every query-string parameter (the first value of repeated ones).
pub fn query_params(request: &Request) -> HashMap<String, String> {
    request
        .query_string_parameters_ref()
        .map(|params| params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
        .unwrap_or_default()
}

/// Whether a media type (as [`media_type`] returns it) is JSON: `application/json` or
/// `application/<something>+json`.
pub fn is_json(media_type: &str) -> bool {
    media_type == JSON || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

fn unsupported(accepted: &str, got: Option<&str>) -> Error {
    Error::UnsupportedMediaType(match got {
        Some(got) => format!("content type {got} is not accepted here; send {accepted}"),
        None => format!("a content type is required here; send {accepted}"),
    })
}

/// The raw body bytes, refused above [`MAX_BODY_BYTES`].
///
/// # Errors
/// The body is too large (400 `body_too_large`).
pub fn body_bytes(request: &Request) -> Result<&[u8]> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::bad_request(
            "body_too_large",
            format!("the request body exceeds {} KiB", MAX_BODY_BYTES / 1024),
        ));
    }
    Ok(bytes)
}

/// The body as a JSON object, after checking the content type.
///
/// # Errors
/// 415 for any content type other than JSON; 400 `invalid_json` for an unparsable body and
/// 400 `invalid_body` when the body is JSON but not an object.
pub fn json_object(request: &Request) -> Result<JsonFields> {
    match media_type(request) {
        Some(media) if is_json(&media) => {}
        other => return Err(unsupported(JSON, other.as_deref())),
    }
    parse_json_object(body_bytes(request)?)
}

/// Parses `bytes` as a JSON object (the content type already checked).
///
/// # Errors
/// 400 `invalid_json` or `invalid_body`, as for [`json_object`].
pub fn parse_json_object(bytes: &[u8]) -> Result<JsonFields> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        let at = if e.is_eof() {
            "it ends too early".to_owned()
        } else {
            format!("line {}, column {}", e.line(), e.column())
        };
        Error::bad_request("invalid_json", format!("the request body is not valid JSON ({at})"))
    })?;
    match value {
        Value::Object(map) => Ok(JsonFields(map)),
        _ => Err(Error::bad_request("invalid_body", "the request body must be a JSON object")),
    }
}

/// The body deserialised into `T`, after the same checks as [`json_object`].
///
/// # Errors
/// As [`json_object`]; a body of another shape is 400 `invalid_body` with serde's reason.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T> {
    let fields = json_object(request)?;
    serde_json::from_value(Value::Object(fields.0))
        .map_err(|e| Error::bad_request("invalid_body", format!("the request body is not accepted: {e}")))
}

/// The body as `application/x-www-form-urlencoded` fields (the first value of repeated ones).
///
/// # Errors
/// 415 for another content type; 400 `invalid_form` for a body that does not decode.
pub fn form_body(request: &Request) -> Result<FormFields> {
    match media_type(request) {
        Some(media) if media == FORM => {}
        other => return Err(unsupported(FORM, other.as_deref())),
    }
    parse_form(body_bytes(request)?)
}

/// Decodes a form body (the content type already checked).
///
/// # Errors
/// 400 `invalid_form` when the body is not valid form encoding.
pub fn parse_form(bytes: &[u8]) -> Result<FormFields> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|_| Error::bad_request("invalid_form", "the request body is not valid form encoding"))?;
    let mut fields = HashMap::new();
    for (name, value) in pairs {
        fields.entry(name).or_insert(value);
    }
    Ok(FormFields(fields))
}

/// The fields of a JSON object body, read one by one so every error names its field.
#[derive(Debug, Clone, Default)]
pub struct JsonFields(pub Map<String, Value>);

impl JsonFields {
    /// A string field; absent and `null` are `None`.
    ///
    /// # Errors
    /// 400 `invalid_field` when the field holds something other than a string.
    pub fn optional_string(&self, name: &str) -> Result<Option<String>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(Error::bad_request("invalid_field", format!("{name} must be a string"))),
        }
    }

    /// A string field that must be present and not blank.
    ///
    /// # Errors
    /// 400 `missing_field` when absent, `null` or blank; `invalid_field` when not a string.
    pub fn required_string(&self, name: &str) -> Result<String> {
        match self.optional_string(name)? {
            Some(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(missing(name)),
        }
    }
}

/// The fields of a form body.
#[derive(Debug, Clone, Default)]
pub struct FormFields(pub HashMap<String, String>);

impl FormFields {
    pub fn optional_string(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    /// # Errors
    /// 400 `missing_field` when absent or blank.
    pub fn required_string(&self, name: &str) -> Result<String> {
        self.0.get(name).filter(|value| !value.trim().is_empty()).cloned().ok_or_else(|| missing(name))
    }
}

/// The longest name a workspace, dashboard or database may have.
pub const MAX_NAME: usize = 100;

/// A display name from a request: trimmed, 1 to [`MAX_NAME`] characters, no control characters.
///
/// # Errors
/// 400 `invalid_name`.
pub fn display_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Error::bad_request("invalid_name", format!("name must be 1 to {MAX_NAME} printable characters")));
    }
    Ok(name.to_owned())
}

fn missing(name: &str) -> Error {
    Error::bad_request("missing_field", format!("{name} is required"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder =
            http::Request::builder().method("POST").uri("https://api.example.test/auth/login?a=1&b=2&a=3");
        if let Some(content_type) = content_type {
            builder = builder.header("Content-Type", content_type);
        }
        let request: Request = builder.body(Body::Text(body.to_owned())).unwrap();
        let query = lambda_http::aws_lambda_events::query_map::QueryMap::from(HashMap::from([
            ("a".to_owned(), vec!["1".to_owned(), "3".to_owned()]),
            ("b".to_owned(), vec!["2".to_owned()]),
        ]));
        request.with_query_string_parameters(query)
    }

    #[test]
    fn json_bodies_check_the_content_type_and_name_fields() {
        let ok = json_object(&request(Some("application/json; charset=utf-8"), r#"{"email":"a@b.co","n":3}"#)).unwrap();
        assert_eq!(ok.required_string("email").unwrap(), "a@b.co");
        assert_eq!(ok.optional_string("absent").unwrap(), None);
        let mistyped = ok.required_string("n").unwrap_err();
        assert_eq!((mistyped.code(), mistyped.to_string()), ("invalid_field", "n must be a string".to_owned()));
        let missing = ok.required_string("password").unwrap_err();
        assert_eq!((missing.code(), missing.to_string()), ("missing_field", "password is required".to_owned()));

        assert!(json_object(&request(Some("application/problem+json"), "{}")).is_ok());
        for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
            let error = json_object(&request(content_type, "{}")).unwrap_err();
            assert_eq!(error.status().as_u16(), 415, "{content_type:?}");
        }
        let error = json_object(&request(Some(JSON), "{\"email\":")).unwrap_err();
        assert_eq!(error.code(), "invalid_json");
        let error = json_object(&request(Some(JSON), "[1]")).unwrap_err();
        assert_eq!(error.code(), "invalid_body");
        let error = json_object(&request(Some(JSON), &" ".repeat(MAX_BODY_BYTES + 1))).unwrap_err();
        assert_eq!(error.code(), "body_too_large");
    }

    #[test]
    fn typed_json_bodies_report_serde_reasons() {
        #[derive(Debug, serde::Deserialize)]
        struct Body {
            n: u32,
        }
        let error = json_body::<Body>(&request(Some(JSON), r#"{"n":"x"}"#)).unwrap_err();
        assert_eq!(error.code(), "invalid_body");
        assert_eq!(json_body::<Body>(&request(Some(JSON), r#"{"n":3}"#)).unwrap().n, 3);
    }

    #[test]
    fn form_bodies_decode_and_keep_the_first_value() {
        let fields = form_body(&request(Some(FORM), "username=a%40b.co&password=p+w%26&username=x")).unwrap();
        assert_eq!(fields.required_string("username").unwrap(), "a@b.co");
        assert_eq!(fields.required_string("password").unwrap(), "p w&");
        assert_eq!(fields.required_string("scope").unwrap_err().code(), "missing_field");
        assert_eq!(form_body(&request(Some(JSON), "a=b")).unwrap_err().status().as_u16(), 415);
    }

    #[test]
    fn headers_and_query_parameters() {
        let request = request(Some("Application/JSON"), "");
        assert_eq!(header(&request, "content-type"), Some("Application/JSON"));
        assert_eq!(media_type(&request).as_deref(), Some("application/json"));
        assert_eq!(query_param(&request, "a").as_deref(), Some("1"));
        assert_eq!(query_param(&request, "zzz"), None);
        assert_eq!(query_params(&request).get("b").map(String::as_str), Some("2"));
    }
}
