//! The discovery function's Lambda edge: one binary serves API Gateway HTTP API (v2) requests and
//! EventBridge scheduled events, so it runs on the plain runtime with JSON events and converts
//! HTTP ones to and from `lambda_http` itself.

use std::sync::Arc;

use base64::Engine;
use lambda_http::Body;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Map, Value, json};

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::http::HttpResponse;
use crate::routes::Function;

/// What invoked the function, recognised from the event's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    /// An API Gateway HTTP API (payload 2.0) request.
    Http,
    /// The EventBridge schedule: run the sweep.
    Scheduled,
    Unknown,
}

impl Invocation {
    pub fn classify(event: &Value) -> Self {
        if event.get("requestContext").and_then(|c| c.get("http")).is_some() {
            Self::Http
        } else if event.get("source").and_then(Value::as_str) == Some("aws.events")
            && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
        {
            Self::Scheduled
        } else {
            Self::Unknown
        }
    }
}

/// Handles one event: HTTP requests go through the route table and come back as API Gateway v2
/// responses; the schedule runs [`super::sweep`] and returns its report.
///
/// # Errors
/// The event is neither kind, an HTTP event does not parse, or the sweep failed.
pub async fn handle_event(deps: Arc<Deps>, event: Value) -> Result<Value> {
    match Invocation::classify(&event) {
        Invocation::Http => {
            let request = lambda_http::request::from_str(&event.to_string())
                .map_err(|e| Error::bad_request("invalid_event", format!("not an HTTP API request: {e}")))?;
            let Ok(response) = crate::api::respond(crate::api::Service::DISCOVERY, deps, request).await;
            Ok(gateway_response(response))
        }
        Invocation::Scheduled => {
            let report = super::sweep(&deps).await?;
            serde_json::to_value(report).map_err(Error::internal)
        }
        Invocation::Unknown => Err(Error::bad_request(
            "unknown_event",
            "expected an API Gateway HTTP API request or an EventBridge scheduled event",
        )),
    }
}

/// An HTTP response as API Gateway's payload 2.0 expects it back.
fn gateway_response(response: HttpResponse) -> Value {
    let (parts, body) = response.into_parts();
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::SET_COOKIE {
            cookies.push(Value::String(value));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(joined)) => {
                joined.push_str(", ");
                joined.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let bytes = match body {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        other => other.to_vec(),
    };
    let (body, encoded) = match String::from_utf8(bytes) {
        Ok(text) => (text, false),
        Err(e) => (base64::engine::general_purpose::STANDARD.encode(e.into_bytes()), true),
    };
    json!({
        "statusCode": parts.status.as_u16(),
        "headers": headers,
        "cookies": cookies,
        "body": body,
        "isBase64Encoded": encoded,
    })
}

/// The discovery function's whole `main`: runs it on the Lambda runtime (see
/// [`crate::runtime`] for why this is not an `async fn`).
///
/// # Errors
/// The Tokio runtime could not start, initialisation failed (invalid configuration) or the
/// Lambda runtime stopped.
pub fn main() -> Result<(), lambda_runtime::Error> {
    crate::runtime::build()?.block_on(serve())
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let deps = Deps::init().await?;
    tracing::info!(function = Function::Discovery.name(), "initialised");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| handle_event(deps.clone(), event.payload))).await
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;

    fn event(name: &str) -> Value {
        let text = match name {
            "http" => include_str!("../../../events/discovery/get-dashboards.json"),
            _ => include_str!("../../../events/discovery/scheduled.json"),
        };
        serde_json::from_str(text).expect("event JSON")
    }

    #[test]
    fn real_events_are_recognised() {
        assert_eq!(Invocation::classify(&event("http")), Invocation::Http);
        assert_eq!(Invocation::classify(&event("scheduled")), Invocation::Scheduled);
        assert_eq!(Invocation::classify(&json!({"hello": "world"})), Invocation::Unknown);
    }

    #[test]
    fn the_http_event_converts_to_a_request_on_the_dashboards_route() {
        let request = lambda_http::request::from_str(&event("http").to_string()).expect("parses");
        let matched = crate::http::route(Function::Discovery, &request).expect("routed");
        assert_eq!(matched.endpoint, crate::routes::Endpoint::ListDashboards);
        assert_eq!(matched.params.get("id"), Some("019aa8f3-1c2d-7e4f-8a5b-6c7d8e9f0a1b"));
        assert!(request.headers().contains_key("authorization"));
    }

    #[test]
    fn responses_become_api_gateway_v2_payloads() {
        let response = crate::http::json(StatusCode::NOT_FOUND, &json!({"error": "not_found"}));
        let payload = gateway_response(response);
        assert_eq!(payload["statusCode"], 404);
        assert_eq!(payload["headers"]["content-type"], "application/json");
        assert_eq!(payload["isBase64Encoded"], false);
        assert_eq!(serde_json::from_str::<Value>(payload["body"].as_str().unwrap()).unwrap()["error"], "not_found");

        let mut binary = HttpResponse::new(Body::Binary(vec![0xff, 0x00]));
        *binary.status_mut() = StatusCode::OK;
        let payload = gateway_response(binary);
        assert_eq!((payload["body"].as_str(), payload["isBase64Encoded"].as_bool()), (Some("/wA="), Some(true)));
    }
}
