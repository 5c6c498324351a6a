//! The HTTP edge: lambda_http requests in, JSON responses out. The domain never sees
//! `lambda_http`; this module translates both ways and holds the one error-to-response mapping.

pub mod cors;
pub mod request;

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::error::Error;
use crate::routes::{self, Endpoint, Function, PathParams, RouteMatch};

pub type HttpResponse = Response<Body>;

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::Binary(bytes))
            .unwrap_or_else(|_| fallback()),
        Err(error) => error_response(&Error::internal(format!("response serialisation: {error}"))),
    }
}

/// `204 No Content`.
pub fn no_content() -> HttpResponse {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn fallback() -> HttpResponse {
    let mut response = Response::new(Body::Text(r#"{"error":"internal_error","message":"internal error"}"#.to_owned()));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// The one mapping from [`Error`] to a response: status, `{"error","message"}` body, and the
/// headers some statuses require. Server-side faults are logged with their private detail.
pub fn error_response(error: &Error) -> HttpResponse {
    if error.is_server_fault() {
        tracing::error!(code = error.code(), detail = %error, "request failed");
    } else {
        tracing::info!(code = error.code(), status = error.status().as_u16(), "request rejected");
    }
    let mut response = json(error.status(), &error.body());
    let headers = response.headers_mut();
    match error {
        Error::Unauthorized(_) => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        Error::MethodNotAllowed { allowed, .. } => {
            if let Ok(value) = HeaderValue::from_str(allowed) {
                headers.insert(header::ALLOW, value);
            }
        }
        Error::TooManyRequests { retry_after_secs, .. } => {
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        _ => {}
    }
    response
}

/// A request matched to one of the function's routes.
#[derive(Debug)]
pub struct Matched {
    pub endpoint: Endpoint,
    pub params: PathParams,
}

/// Resolves `request` against `function`'s routes; unknown paths are 404 and known paths with
/// another method 405, both as JSON errors.
///
/// # Errors
/// The request matches none of the function's routes.
pub fn route(function: Function, request: &Request) -> Result<Matched, Error> {
    let path = request.raw_http_path();
    let path = if path.is_empty() { request.uri().path().to_owned() } else { path.to_owned() };
    match routes::resolve(function, request.method(), &path) {
        RouteMatch::Found(route, params) => Ok(Matched { endpoint: route.endpoint, params }),
        RouteMatch::MethodNotAllowed { allowed } => Err(Error::MethodNotAllowed {
            method: request.method().to_string(),
            allowed: allowed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        }),
        RouteMatch::NotFound => Err(Error::NotFound(format!("no route for {} {path}", request.method()))),
    }
}
