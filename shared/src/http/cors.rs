//! CORS for browsers that call the functions directly (`make dev`, where `cargo lambda watch`
//! does none): preflight answers and allow headers, for the configured origins only. Deployed,
//! the HTTP API's `CorsConfiguration` answers instead; API Gateway then ignores these headers.

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};

use super::HttpResponse;
use super::request;
use crate::error::{Error, Result};
use crate::routes::{self, Function, RouteMatch};

/// The request headers a browser may send: the bearer token, JSON bodies, idempotency keys and
/// the operator key.
pub const ALLOWED_HEADERS: &str = "authorization, content-type, idempotency-key, x-api-key";
/// Response headers scripts may read besides the CORS-safelisted ones.
pub const EXPOSED_HEADERS: &str = "retry-after, www-authenticate, allow";
/// How long a browser may cache a preflight answer.
pub const MAX_AGE_SECONDS: &str = "600";

/// The request's `Origin`, when it is one of `allowed`.
pub fn allowed_origin<'r>(allowed: &[String], request: &'r Request) -> Option<&'r str> {
    request::header(request, "origin").filter(|origin| allowed.iter().any(|a| a == origin))
}

/// A preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
pub fn is_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        && request::header(request, "origin").is_some()
        && request::header(request, "access-control-request-method").is_some()
}

/// Answers a preflight for one of `function`'s paths: `204` with the path's methods for an
/// allowed origin; `403` for any other origin and `404` for a path the function does not serve.
///
/// # Errors
/// The origin is not allowed, or the path is unknown.
pub fn preflight(function: Function, allowed: &[String], request: &Request) -> Result<HttpResponse> {
    let origin = request::header(request, "origin").unwrap_or_default();
    if allowed_origin(allowed, request).is_none() {
        return Err(Error::Forbidden(format!("the origin {origin} may not call this API from a browser")));
    }
    let path = request.raw_http_path();
    let path = if path.is_empty() { request.uri().path().to_owned() } else { path.to_owned() };
    // No route takes OPTIONS, so resolving with it lists the path's methods.
    let methods = match routes::resolve(function, &Method::OPTIONS, &path) {
        RouteMatch::MethodNotAllowed { allowed } => allowed,
        RouteMatch::Found(..) | RouteMatch::NotFound => {
            return Err(Error::NotFound(format!("no route for {path}")));
        }
    };
    let methods = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::ACCESS_CONTROL_ALLOW_METHODS, methods.as_str()),
        (header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS),
        (header::ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECONDS),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    Ok(response)
}

/// Lets `origin` (already checked against the allowed list) read `response`.
pub fn allow(response: &mut HttpResponse, origin: &str) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
    }
}

/// Answers vary by `Origin` whenever CORS is configured, so no cache serves one origin's answer
/// to another.
pub fn vary(response: &mut HttpResponse, allowed: &[String]) {
    if !allowed.is_empty() {
        response.headers_mut().append(header::VARY, HeaderValue::from_static("origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder().method(method).uri(format!("https://api.example.test{path}"));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::Empty).unwrap()
    }

    fn allowed() -> Vec<String> {
        vec!["http://127.0.0.1:8080".to_owned(), "https://app.example.com".to_owned()]
    }

    const PREFLIGHT: [(&str, &str); 2] =
        [("origin", "https://app.example.com"), ("access-control-request-method", "POST")];

    #[test]
    fn only_listed_origins_are_allowed_exactly() {
        let ok = request("GET", "/api/workspaces", &[("origin", "https://app.example.com")]);
        assert_eq!(allowed_origin(&allowed(), &ok), Some("https://app.example.com"));
        for origin in ["https://app.example.com.evil.test", "http://app.example.com", "null", "https://APP.example.com"]
        {
            let other = request("GET", "/api/workspaces", &[("origin", origin)]);
            assert_eq!(allowed_origin(&allowed(), &other), None, "{origin}");
        }
        assert_eq!(allowed_origin(&[], &ok), None, "nothing is allowed by default");
        assert_eq!(allowed_origin(&allowed(), &request("GET", "/", &[])), None);
    }

    #[test]
    fn preflights_list_the_paths_methods_for_allowed_origins_only() {
        let preflight_request = request("OPTIONS", "/api/workspaces", &PREFLIGHT);
        assert!(is_preflight(&preflight_request));
        let answer = preflight(Function::Workspaces, &allowed(), &preflight_request).unwrap();
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        assert_eq!(answer.headers()[header::ACCESS_CONTROL_ALLOW_METHODS], "GET, POST");
        assert_eq!(answer.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS], ALLOWED_HEADERS);

        let refused = preflight(Function::Workspaces, &allowed()[..1], &preflight_request).unwrap_err();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let unknown = request("OPTIONS", "/api/nope", &PREFLIGHT);
        assert_eq!(preflight(Function::Workspaces, &allowed(), &unknown).unwrap_err().status(), StatusCode::NOT_FOUND);

        assert!(!is_preflight(&request("OPTIONS", "/api/workspaces", &PREFLIGHT[..1])), "no requested method");
        assert!(!is_preflight(&request("OPTIONS", "/api/workspaces", &PREFLIGHT[1..])), "no origin");
    }
}
