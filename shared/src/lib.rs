//! Tenantbase's shared library: everything the Lambda functions do lives here; each function's
//! `main.rs` only wires it up.

pub mod api;
pub mod auth;
pub mod aws;
pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod deps;
pub mod discovery;
pub mod embed;
pub mod error;
#[cfg(any(test, feature = "bench"))]
pub mod fixtures;
pub mod health;
pub mod http;
pub mod ids;
pub mod items;
pub mod lint;
pub mod metabase;
pub mod routes;
mod runtime;
pub mod secrets;
pub mod signer;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod users;
pub mod workspaces;

pub use error::{Error, Result};
