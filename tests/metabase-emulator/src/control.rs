//! Test-control surface outside Metabase's paths: `/__emulator/*` routes, call counting, latency and
//! fault injection (a middleware run before routing), and the §2 initialising window.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State as AxumState};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use regex::Regex;
use serde_json::{Value, json};

use crate::config::Knobs;
use crate::http::{self, ApiError, ApiResult, INITIALIZING, ok, parse_body};
use crate::state::{AppState, Fault, Latency};

/// Prefix of every control route; never a Metabase path.
pub const CONTROL_PREFIX: &str = "/__emulator";

/// Does `pattern` (with `*` matching any run of characters) match the whole `path`?
/// A pattern without `*` also matches as a prefix at a `/` boundary, so `/api/card` covers `/api/card/1`.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    if pattern.contains('*') {
        let escaped: Vec<String> = pattern.split('*').map(regex::escape).collect();
        Regex::new(&format!("^{}$", escaped.join(".*"))).map(|re| re.is_match(path)).unwrap_or(false)
    } else {
        path == pattern || path.strip_prefix(pattern.trim_end_matches('/')).is_some_and(|rest| rest.starts_with('/'))
    }
}

fn method_matches(wanted: Option<&str>, method: &Method) -> bool {
    wanted.is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
}

/// What the middleware decided for one request, computed under the lock and acted on after it.
enum Injection {
    Fault { status: Option<u16>, body: String },
    Pass,
}

/// Count the call, apply latency and faults, then the initialising window, then route.
pub async fn middleware(AxumState(app): AxumState<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if path.starts_with(CONTROL_PREFIX) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let (delay_ms, injection, init_seconds) = {
        let mut state = app.lock();
        *state.route_calls.entry(format!("{method} {path}")).or_insert(0) += 1;
        let delay_ms: u64 = state
            .latencies
            .iter()
            .filter(|l| method_matches(l.method.as_deref(), &method) && path_matches(&l.path, &path))
            .map(|l| l.ms)
            .max()
            .unwrap_or(0);
        let mut injection = Injection::Pass;
        for fault in state.faults.iter_mut() {
            if !method_matches(fault.method.as_deref(), &method) || !path_matches(&fault.path, &path) {
                continue;
            }
            if fault.remaining == Some(0) {
                continue;
            }
            if let Some(p) = fault.probability {
                if !rand::random_bool(p.clamp(0.0, 1.0)) {
                    continue;
                }
            }
            if let Some(n) = fault.remaining.as_mut() {
                *n -= 1;
            }
            injection = Injection::Fault { status: fault.status, body: fault.body.clone().unwrap_or_default() };
            break;
        }
        state.faults.retain(|f| f.remaining != Some(0));
        (delay_ms, injection, state.knobs.init_seconds)
    };
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    match injection {
        Injection::Fault { status: None, .. } => {
            // A "timeout" fault: never answer; the client's own timeout ends the request.
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Injection::Fault { status: Some(code), body } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return http::text(status, body);
        }
        Injection::Pass => {}
    }
    let uptime = app.uptime_secs();
    if uptime < init_seconds {
        // §1/§2: everything under /api answers 503 while starting, except the health check.
        if path == "/api/health" || path == "/readyz" {
            let progress = (uptime / init_seconds).clamp(0.0, 0.99);
            return http::json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({ "status": "initializing", "progress": progress }),
            );
        }
        if path.starts_with("/api/") || path == "/api" {
            return http::text(StatusCode::SERVICE_UNAVAILABLE, INITIALIZING);
        }
    }
    let mut response = next.run(request).await;
    // axum adds `Allow` on wrong-method answers; Metabase's plain 404 has no such header.
    response.headers_mut().remove(axum::http::header::ALLOW);
    response
}

/// The `/__emulator/*` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/__emulator/reset", post(reset))
        .route("/__emulator/state", get(dump_state))
        .route("/__emulator/counters", get(counters).delete(clear_counters))
        .route("/__emulator/latency", post(add_latency).delete(clear_latency))
        .route("/__emulator/faults", post(add_fault).delete(clear_faults))
        .route("/__emulator/version", get(get_knobs).post(set_knobs))
        .route("/__emulator/clock", get(get_clock).post(set_clock))
}

async fn reset(AxumState(app): AxumState<AppState>) -> ApiResult {
    app.reset();
    ok(json!({ "reset": true }))
}

async fn dump_state(AxumState(app): AxumState<AppState>) -> ApiResult {
    let state = app.lock();
    ok(serde_json::to_value(&*state).unwrap_or(Value::Null))
}

async fn counters(AxumState(app): AxumState<AppState>) -> ApiResult {
    let state = app.lock();
    ok(json!(state.route_calls))
}

async fn clear_counters(AxumState(app): AxumState<AppState>) -> ApiResult {
    app.lock().route_calls.clear();
    http::no_content()
}

fn control_error(message: &str) -> ApiError {
    ApiError::json(StatusCode::BAD_REQUEST, json!({ "error": message }))
}

/// Body: `{"path": "/api/card*", "method": "GET"?, "ms": 250}` (`route_prefix` is accepted for `path`).
async fn add_latency(AxumState(app): AxumState<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let path = body["path"]
        .as_str()
        .or_else(|| body["route_prefix"].as_str())
        .ok_or_else(|| control_error("path is required"))?;
    let ms = body["ms"].as_u64().ok_or_else(|| control_error("ms is required"))?;
    let latency = Latency { method: body["method"].as_str().map(str::to_string), path: path.to_string(), ms };
    let mut state = app.lock();
    state.latencies.push(latency);
    ok(json!({ "latencies": state.latencies }))
}

async fn clear_latency(AxumState(app): AxumState<AppState>) -> ApiResult {
    app.lock().latencies.clear();
    http::no_content()
}

/// Body: `{"path": "/api/collection/*", "method"?: "PUT", "status": 503 | "timeout", "body"?: "text",
/// "count"?: n, "probability"?: 0.5}`.
async fn add_fault(AxumState(app): AxumState<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let path = body["path"].as_str().ok_or_else(|| control_error("path is required"))?;
    let status = match &body["status"] {
        Value::String(s) if s == "timeout" => None,
        Value::Number(n) => {
            let code = n
                .as_u64()
                .filter(|c| (100..600).contains(c))
                .ok_or_else(|| control_error("status must be an HTTP status code"))?;
            Some(code as u16)
        }
        _ => return Err(control_error("status must be a code or \"timeout\"")),
    };
    let fault = Fault {
        method: body["method"].as_str().map(str::to_string),
        path: path.to_string(),
        status,
        body: body["body"].as_str().map(str::to_string),
        remaining: body["count"].as_u64(),
        probability: body["probability"].as_f64(),
    };
    let mut state = app.lock();
    state.faults.push(fault);
    ok(json!({ "faults": state.faults }))
}

async fn clear_faults(AxumState(app): AxumState<AppState>) -> ApiResult {
    app.lock().faults.clear();
    http::no_content()
}

async fn get_knobs(AxumState(app): AxumState<AppState>) -> ApiResult {
    ok(json!(app.lock().knobs))
}

/// Partial update of the §17 switches: only the keys sent change.
async fn set_knobs(AxumState(app): AxumState<AppState>, body: Bytes) -> ApiResult {
    let patch = parse_body(&body)?;
    let Value::Object(patch) = patch else {
        return Err(control_error("body must be an object"));
    };
    let mut state = app.lock();
    let mut merged = json!(state.knobs);
    for (key, value) in patch {
        if merged.get(&key).is_none() {
            return Err(control_error(&format!("unknown knob {key}")));
        }
        merged[key] = value;
    }
    let knobs: Knobs = serde_json::from_value(merged).map_err(|e| control_error(&e.to_string()))?;
    state.knobs = knobs;
    ok(json!(state.knobs))
}

async fn get_clock(AxumState(app): AxumState<AppState>) -> ApiResult {
    let state = app.lock();
    ok(json!({ "offset_seconds": state.clock_offset_secs, "now": crate::state::iso(state.now()) }))
}

/// Body: `{"advance_seconds": n}` (adds) or `{"offset_seconds": n}` (sets).
async fn set_clock(AxumState(app): AxumState<AppState>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let mut state = app.lock();
    if let Some(n) = body["advance_seconds"].as_i64() {
        state.clock_offset_secs += n;
    } else if let Some(n) = body["offset_seconds"].as_i64() {
        state.clock_offset_secs = n;
    } else {
        return Err(control_error("advance_seconds or offset_seconds is required"));
    }
    ok(json!({ "offset_seconds": state.clock_offset_secs, "now": crate::state::iso(state.now()) }))
}
