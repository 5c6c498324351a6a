//! Start-up configuration and the version switches of contract §17.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Behaviours that differ between Metabase versions (§17) plus test knobs. Defaults = newest Metabase.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Knobs {
    /// §3: newer releases clear `setup-token` once the first user exists.
    pub setup_token_cleared_after_setup: bool,
    /// §11/§17: before 0.56.13 the collection graph listed `"none"` cells instead of omitting them.
    pub graph_none_cells: bool,
    /// §11/§17: since ~0.56 creating a collection bumps the collection-graph revision.
    pub creation_bumps_revision: bool,
    /// §19.1: delay before a written dashboard/card becomes visible in search (appdb engine queue).
    pub search_index_delay_ms: u64,
    /// §2: seconds after start during which `/api/*` answers 503 "still initializing".
    pub init_seconds: f64,
    /// §5: `MB_DISABLE_SESSION_THROTTLE=true`.
    pub disable_session_throttle: bool,
    /// §4: `MB_PASSWORD_COMPLEXITY` (`weak`, `normal`, `strong`).
    pub password_complexity: String,
    /// §4: `MB_PASSWORD_LENGTH`; overrides the level's minimum length when set.
    pub password_length: Option<usize>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            setup_token_cleared_after_setup: true,
            graph_none_cells: false,
            creation_bumps_revision: true,
            search_index_delay_ms: 0,
            init_seconds: 0.0,
            disable_session_throttle: false,
            password_complexity: "normal".to_string(),
            password_length: None,
        }
    }
}

/// Everything needed to start an emulator.
#[derive(Debug, Clone, Default)]
pub struct EmulatorConfig {
    /// Address to bind; `127.0.0.1:0` (a random port) when absent.
    pub bind: Option<SocketAddr>,
    /// Initial knob values; `POST /__emulator/reset` returns to these.
    pub knobs: Knobs,
}
