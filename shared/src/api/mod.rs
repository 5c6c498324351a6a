//! Request dispatch for the HTTP functions: route, call the endpoint, map errors. A function's
//! `main` calls [`serve`] with its name and nothing else.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::{Request, service_fn};

mod discovery;
mod embed;
mod signup;
mod workspaces;

use crate::deps::Deps;
use crate::error::Result;
use crate::health;
use crate::http::{self, HttpResponse, cors};
use crate::routes::Function;

/// Runs `function` on the Lambda runtime: tracing, configuration and clients once, then one
/// dispatch per request.
///
/// # Errors
/// Initialisation failed (invalid configuration) or the runtime stopped.
pub async fn serve(function: Function) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let deps = Deps::init().await?;
    tracing::info!(function = function.name(), "initialised");
    lambda_http::run(service_fn(move |request| handle(function, deps.clone(), request))).await
}

/// Handles one request. Never fails at the Lambda level: every error becomes a JSON response.
/// CORS preflights are answered here, before routing; an allowed origin may read every answer.
pub async fn handle(function: Function, deps: Arc<Deps>, request: Request) -> Result<HttpResponse, Infallible> {
    let origins = &deps.config.cors_allowed_origins;
    let result = if cors::is_preflight(&request) {
        cors::preflight(function, origins, &request)
    } else {
        dispatch(function, &deps, &request).await
    };
    let mut response = result.unwrap_or_else(|error| http::error_response(&error));
    if let Some(origin) = cors::allowed_origin(origins, &request) {
        cors::allow(&mut response, origin);
    }
    cors::vary(&mut response, origins);
    Ok(response)
}

async fn dispatch(function: Function, deps: &Deps, request: &Request) -> Result<HttpResponse> {
    let matched = http::route(function, request)?;
    match function {
        Function::Health => {
            let report = health::check(deps).await;
            Ok(http::json(report.http_status(), &report))
        }
        // Boxed: handler futures are large (sagas with many awaits), and on the heap they
        // cannot overflow a small thread stack.
        Function::Signup => Box::pin(signup::handle(deps, matched, request)).await,
        Function::Workspaces => Box::pin(workspaces::handle(deps, matched, request)).await,
        Function::Discovery => Box::pin(discovery::handle(deps, matched, request)).await,
        Function::Embed => Box::pin(embed::handle(deps, matched, request)).await,
    }
}
