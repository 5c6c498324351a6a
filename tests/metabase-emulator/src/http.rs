//! Response helpers for the exact body kinds of contract §1: plain text, JSON, `{"errors":…}`, 500 maps, 204.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Content type Metabase sends for JSON bodies (§1).
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// Content type for bare-string bodies (§1: strings are not JSON-encoded).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

pub const UNAUTHENTICATED: &str = "Unauthenticated";
pub const FORBIDDEN: &str = "You don't have permissions to do that.";
pub const NOT_FOUND: &str = "Not found.";
pub const ENDPOINT_MISSING: &str = "API endpoint does not exist.";
pub const INITIALIZING: &str = "Metabase is still initializing. Please sit tight...";
/// §11/§12: the stale-revision text, shared by both graphs.
pub const STALE_REVISION: &str =
    "Looks like someone else edited the permissions and your data is out of date. Please fetch new data and try again.";

/// Result type of every handler: both arms are complete HTTP responses.
pub type ApiResult = Result<Response, ApiError>;

/// A failed request, already shaped the way Metabase would answer it (boxed: `Result`s stay small).
#[derive(Debug)]
pub struct ApiError(pub Box<Response>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<Response> for ApiError {
    fn from(response: Response) -> Self {
        ApiError(Box::new(response))
    }
}

impl ApiError {
    /// Status with a plain-text message body (a thrown error with a status and no data).
    pub fn text(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError::from(text(status, message))
    }
    /// Status with a JSON body (e.g. the `{"errors":…}` validation shape).
    pub fn json(status: StatusCode, body: Value) -> Self {
        ApiError::from(json_response(status, &body))
    }
    /// 400 `{"errors": {field: message}}`.
    pub fn field(field: &str, message: &str) -> Self {
        Self::json(StatusCode::BAD_REQUEST, json!({ "errors": { field: message } }))
    }
    /// 400 `{"errors": {...}, "specific-errors": {...}}` as malli validation produces it.
    pub fn invalid(errors: Value, specific: Value) -> Self {
        Self::json(StatusCode::BAD_REQUEST, json!({ "errors": errors, "specific-errors": specific }))
    }
    /// An error without a status code: 500 with a `{"message": …}` map.
    pub fn server(message: impl Into<String>) -> Self {
        Self::json(StatusCode::INTERNAL_SERVER_ERROR, json!({ "message": message.into(), "via": [], "trace": [] }))
    }
    pub fn unauthenticated() -> Self {
        Self::text(StatusCode::UNAUTHORIZED, UNAUTHENTICATED)
    }
    pub fn forbidden() -> Self {
        Self::text(StatusCode::FORBIDDEN, FORBIDDEN)
    }
    pub fn not_found() -> Self {
        Self::text(StatusCode::NOT_FOUND, NOT_FOUND)
    }
    pub fn endpoint_missing() -> Self {
        Self::text(StatusCode::NOT_FOUND, ENDPOINT_MISSING)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::text(StatusCode::BAD_REQUEST, message)
    }
}

/// A plain-text response.
pub fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = (status, message.into()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_CONTENT_TYPE));
    response
}

/// A JSON response with Metabase's content type.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    response
}

/// 200 with a JSON body.
pub fn ok(body: Value) -> ApiResult {
    Ok(json_response(StatusCode::OK, &body))
}

/// 204 with an empty body.
pub fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Parse a request body as JSON regardless of its content type; an empty body is `null`.
/// Handlers validate the resulting value themselves so errors take Metabase's shapes.
pub fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    // ring-json's malformed-body answer: plain text, not JSON.
    serde_json::from_slice(bytes).map_err(|_| ApiError::bad_request("Malformed JSON in request body."))
}

/// `limit`/`offset` paging of §1: if either is present the list is paged (limit 50, offset 0 by
/// default); if neither is, both are `None` and the response carries `null`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

impl Paging {
    /// Read paging from query pairs; a non-numeric value is a 400 for that key.
    pub fn from_query(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let get = |key: &str| -> Result<Option<usize>, ApiError> {
            match pairs.iter().find(|(k, _)| k == key) {
                None => Ok(None),
                Some((_, v)) => v.parse().map(Some).map_err(|_| {
                    ApiError::invalid(
                        json!({ key: "nullable value must be an integer greater than zero." }),
                        json!({ key: ["value must be an integer greater than zero."] }),
                    )
                }),
            }
        };
        let (limit, offset) = (get("limit")?, get("offset")?);
        if limit.is_none() && offset.is_none() {
            return Ok(Paging { limit: None, offset: None });
        }
        Ok(Paging { limit: Some(limit.unwrap_or(50)), offset: Some(offset.unwrap_or(0)) })
    }

    /// Apply to a full list.
    pub fn apply<T>(&self, items: Vec<T>) -> Vec<T> {
        match (self.limit, self.offset) {
            (Some(limit), Some(offset)) => items.into_iter().skip(offset).take(limit).collect(),
            _ => items,
        }
    }

    /// `limit`/`offset` as JSON (`null` when unpaged).
    pub fn limit_json(&self) -> Value {
        json!(self.limit)
    }
    pub fn offset_json(&self) -> Value {
        json!(self.offset)
    }
}

/// Query-string pairs in order (repeated keys kept), for handlers that need `models=a&models=b`.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    serde_urlencoded::from_str(query.unwrap_or_default()).unwrap_or_default()
}

/// The first value of a query parameter.
pub fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The query flags of a permissions-graph PUT (§11/§12): `force` skips the revision check,
/// `skip-graph` (or `skip_graph`) answers with the new revision only.
pub struct GraphFlags {
    pub force: bool,
    pub skip_graph: bool,
}

impl GraphFlags {
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let force = query_value(pairs, "force") == Some("true");
        let skip_graph = matches!(query_value(pairs, "skip-graph").or(query_value(pairs, "skip_graph")), Some("true"));
        Self { force, skip_graph }
    }

    /// §11/§12: the body's `revision` must equal the graph's current one unless forced.
    ///
    /// # Errors
    /// 409 with the stale-revision text.
    pub fn check_revision(&self, body: &Value, current: i64) -> Result<(), ApiError> {
        if !self.force && body["revision"].as_i64() != Some(current) {
            return Err(ApiError::text(StatusCode::CONFLICT, STALE_REVISION));
        }
        Ok(())
    }
}
