//! Request dispatch for the HTTP functions: route, call the endpoint, map errors. A function's
//! `main` calls [`main`] with its [`Service`] and nothing else.
//!
//! Each function's binary links only its own handlers: a [`Service`] constant names one
//! function's code, and only the `main` that uses it refers to it. (Dispatching on a runtime
//! [`Function`] value instead would link every handler into every function, about a megabyte per
//! arm64 zip against Lambda's size budget.) [`handle`], which takes a [`Function`], is for tests
//! and tools that drive several functions in one process.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lambda_http::{Request, service_fn};

mod discovery;
mod embed;
mod signup;
mod workspaces;

use crate::deps::Deps;
use crate::error::Result;
use crate::health;
use crate::http::{self, HttpResponse, Matched, cors};
use crate::routes::Function;

/// A handler's future, boxed: handler futures are large (sagas with many awaits), and on the heap
/// they cannot overflow a small thread stack.
type Reply<'a> = Pin<Box<dyn Future<Output = Result<HttpResponse>> + Send + 'a>>;

/// One HTTP function: its name (which selects its routes) and the code behind them.
#[derive(Clone, Copy)]
pub struct Service {
    function: Function,
    endpoints: for<'a> fn(&'a Deps, Matched, &'a Request) -> Reply<'a>,
}

impl Service {
    pub const HEALTH: Self = Self { function: Function::Health, endpoints: health_endpoints };
    pub const SIGNUP: Self = Self { function: Function::Signup, endpoints: signup_endpoints };
    pub const WORKSPACES: Self = Self { function: Function::Workspaces, endpoints: workspaces_endpoints };
    pub const DISCOVERY: Self = Self { function: Function::Discovery, endpoints: discovery_endpoints };
    pub const EMBED: Self = Self { function: Function::Embed, endpoints: embed_endpoints };

    /// The service of `function`. Refers to every handler: not for a function's `main`.
    #[must_use]
    pub const fn of(function: Function) -> Self {
        match function {
            Function::Health => Self::HEALTH,
            Function::Signup => Self::SIGNUP,
            Function::Workspaces => Self::WORKSPACES,
            Function::Discovery => Self::DISCOVERY,
            Function::Embed => Self::EMBED,
        }
    }
}

// Each function's endpoints are a named function rather than a closure in its constant: a
// closure is compiled again in every crate that uses it, which put each function's handlers
// into its binary's own (slow, optimised) compilation instead of this crate's.
fn signup_endpoints<'a>(deps: &'a Deps, matched: Matched, request: &'a Request) -> Reply<'a> {
    Box::pin(signup::handle(deps, matched, request))
}

fn workspaces_endpoints<'a>(deps: &'a Deps, matched: Matched, request: &'a Request) -> Reply<'a> {
    Box::pin(workspaces::handle(deps, matched, request))
}

fn discovery_endpoints<'a>(deps: &'a Deps, matched: Matched, request: &'a Request) -> Reply<'a> {
    Box::pin(discovery::handle(deps, matched, request))
}

fn embed_endpoints<'a>(deps: &'a Deps, matched: Matched, request: &'a Request) -> Reply<'a> {
    Box::pin(embed::handle(deps, matched, request))
}

fn health_endpoints<'a>(deps: &'a Deps, _: Matched, _: &'a Request) -> Reply<'a> {
    Box::pin(async move {
        let report = health::check(deps).await;
        Ok(http::json(report.http_status(), &report))
    })
}

/// An HTTP function's whole `main`: runs `service` on the Lambda runtime (see [`crate::runtime`]
/// for why this is not an `async fn`).
///
/// # Errors
/// The Tokio runtime could not start, initialisation failed (invalid configuration) or the
/// Lambda runtime stopped.
pub fn main(service: Service) -> Result<(), lambda_http::Error> {
    crate::runtime::build()?.block_on(serve(service))
}

/// Tracing, configuration and clients once, then one dispatch per request.
async fn serve(service: Service) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let deps = Deps::init().await?;
    tracing::info!(function = service.function.name(), "initialised");
    lambda_http::run(service_fn(move |request| respond(service, deps.clone(), request))).await
}

/// Handles one request for `function`, as its Lambda function would (see [`respond`]).
pub async fn handle(function: Function, deps: Arc<Deps>, request: Request) -> Result<HttpResponse, Infallible> {
    respond(Service::of(function), deps, request).await
}

/// Handles one request. Never fails at the Lambda level: every error becomes a JSON response.
/// CORS preflights are answered here, before routing; an allowed origin may read every answer.
pub async fn respond(service: Service, deps: Arc<Deps>, request: Request) -> Result<HttpResponse, Infallible> {
    let origins = &deps.config.cors_allowed_origins;
    let result = if cors::is_preflight(&request) {
        cors::preflight(service.function, origins, &request)
    } else {
        match http::route(service.function, &request) {
            Ok(matched) => (service.endpoints)(&deps, matched, &request).await,
            Err(error) => Err(error),
        }
    };
    let mut response = result.unwrap_or_else(|error| http::error_response(&error));
    if let Some(origin) = cors::allowed_origin(origins, &request) {
        cors::allow(&mut response, origin);
    }
    cors::vary(&mut response, origins);
    Ok(response)
}
