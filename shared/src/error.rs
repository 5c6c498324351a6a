//! The one error type of Tenantbase and its one mapping to HTTP and to Lambda diagnostics.
//!
//! Clients see a stable `code` and a human `message`; internal detail (upstream bodies, SDK
//! errors) goes to the log only, never into a response body.

use http::StatusCode;
use serde::Serialize;

/// Every failure a Tenantbase function can report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or fails validation (400). `code` is a stable machine-readable
    /// identifier such as `invalid_json` or `weak_password`.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },

    /// Missing or invalid credentials (401, with `WWW-Authenticate: Bearer`).
    #[error("{0}")]
    Unauthorized(String),

    /// Authenticated, but the caller's role does not allow this (403).
    #[error("{0}")]
    Forbidden(String),

    /// The resource does not exist *or the caller may not know that it exists* (404).
    #[error("{0}")]
    NotFound(String),

    /// The request conflicts with current state, e.g. a duplicate email (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },

    /// The path exists but not with this method (405, with `Allow`).
    #[error("{method} is not allowed here; use {allowed}")]
    MethodNotAllowed { method: String, allowed: String },

    /// The request body has a content type this route does not accept (415).
    #[error("{0}")]
    UnsupportedMediaType(String),

    /// Too many attempts; retry after the given number of seconds (429).
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },

    /// The route exists but its implementation has not shipped yet (501).
    #[error("{0} is not implemented yet")]
    NotImplemented(String),

    /// A dependency (Metabase, DynamoDB, Secrets Manager) answered with an error (502).
    /// `detail` is logged, never returned.
    #[error("{service} failed: {detail}")]
    Upstream { service: &'static str, detail: String },

    /// A dependency is not reachable or not ready (503). `detail` is logged, never returned.
    #[error("{service} is unavailable: {detail}")]
    Unavailable { service: &'static str, detail: String },

    /// Configuration is missing or invalid (500 at runtime; fails init in `main`).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),

    /// A bug or an unexpected state. `0` is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error response: `{"error": code, "message": ...}`.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

impl Error {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }

    pub fn upstream(service: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Upstream { service, detail: detail.to_string() }
    }

    pub fn unavailable(service: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Unavailable { service, detail: detail.to_string() }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Config(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code clients can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Conflict { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::NotImplemented(_) => "not_implemented",
            Self::Upstream { .. } => "upstream_error",
            Self::Unavailable { .. } => "service_unavailable",
            Self::Config(_) => "configuration_error",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The message a client may see. Upstream, configuration and internal errors are reduced to
    /// a generic sentence so no internal detail (hostnames, SDK output) leaks.
    pub fn public_message(&self) -> String {
        match self {
            Self::Upstream { service, .. } => format!("{service} returned an error; try again later"),
            Self::Unavailable { service, .. } => format!("{service} is unavailable; try again later"),
            Self::Config(_) | Self::Internal(_) => "internal error".to_owned(),
            other => other.to_string(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: self.code().to_owned(), message: self.public_message() }
    }

    /// Whether the detail deserves an error-level log line (server-side faults) rather than a
    /// debug line (client mistakes).
    pub fn is_server_fault(&self) -> bool {
        self.status().is_server_error() && !matches!(self, Self::NotImplemented(_))
    }
}

/// Non-HTTP functions (bootstrap, the discovery sweep) report failures to the Lambda runtime as a
/// `Diagnostic` whose type is the stable code.
impl From<Error> for lambda_runtime::Diagnostic {
    fn from(error: Error) -> Self {
        lambda_runtime::Diagnostic { error_type: error.code().to_owned(), error_message: error.public_message() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_a_status_and_code() {
        let cases = [
            (Error::bad_request("invalid_json", "bad"), 400, "invalid_json"),
            (Error::Unauthorized("no token".into()), 401, "unauthorized"),
            (Error::Forbidden("nope".into()), 403, "forbidden"),
            (Error::NotFound("workspace not found".into()), 404, "not_found"),
            (Error::conflict("email_taken", "taken"), 409, "email_taken"),
            (Error::MethodNotAllowed { method: "GET".into(), allowed: "POST".into() }, 405, "method_not_allowed"),
            (Error::UnsupportedMediaType("json only".into()), 415, "unsupported_media_type"),
            (Error::TooManyRequests { message: "locked".into(), retry_after_secs: 5 }, 429, "too_many_requests"),
            (Error::NotImplemented("POST /auth/signup".into()), 501, "not_implemented"),
            (Error::upstream("metabase", "500 boom"), 502, "upstream_error"),
            (Error::unavailable("dynamodb", "timeout"), 503, "service_unavailable"),
            (Error::internal("bug"), 500, "internal_error"),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.code(), code, "{error:?}");
        }
    }

    #[test]
    fn internal_detail_never_reaches_the_public_message() {
        let detail = "connect to http://10.0.3.7:3000 failed: password=hunter2";
        for error in
            [Error::upstream("metabase", detail), Error::unavailable("metabase", detail), Error::internal(detail)]
        {
            let body = serde_json::to_string(&error.body()).unwrap();
            assert!(!body.contains("10.0.3.7"), "{body}");
            assert!(!body.contains("hunter2"), "{body}");
        }
    }

    #[test]
    fn diagnostic_uses_the_stable_code() {
        let diagnostic: lambda_runtime::Diagnostic = Error::unavailable("metabase", "down").into();
        assert_eq!(diagnostic.error_type, "service_unavailable");
        assert_eq!(diagnostic.error_message, "metabase is unavailable; try again later");
    }
}
