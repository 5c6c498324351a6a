//! Talking to Metabase over HTTP (contract: `metabase-api.md`, cited §N).
//!
//! A thin typed client over reqwest rather than a third-party SDK: the crates on crates.io are
//! either untyped (`serde_json::Value` everywhere) or lack the permission graphs, API keys and
//! embedding settings this product depends on (README, dependency notes).

mod client;
mod content;
mod graphs;
mod health;
mod tenancy;
pub mod types;
mod users;

pub use client::{Auth, MetabaseClient, MetabaseError, RetryPolicy};
pub use graphs::{CollectionCells, DataCells, Patched};
pub use health::{MetabaseHealth, probe_health};
pub use tenancy::{Collection, GroupMember};
pub use types::*;
pub use users::MetabaseUser;
