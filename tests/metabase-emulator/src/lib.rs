//! An in-memory emulator of the Metabase HTTP API (see README.md in this crate).

pub mod analytics;
pub mod auth;
pub mod config;
pub mod content;
pub mod control;
pub mod embed_params;
pub mod embed_token;
pub mod http;
pub mod page;
pub mod password;
pub mod routes;
pub mod settings;
pub mod state;
pub mod throttle;

use std::net::SocketAddr;

pub use config::{EmulatorConfig, Knobs};
pub use state::AppState;

/// A running emulator; dropping it does not stop the server, call [`RunningEmulator::shutdown`].
#[derive(Debug)]
pub struct RunningEmulator {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    pub addr: SocketAddr,
    /// The live state, for tests that want to inspect or seed it directly.
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<()>,
}

impl RunningEmulator {
    /// Stop accepting connections and wait (at most a second) for in-flight requests; a request
    /// held by a "timeout" fault would otherwise keep the server alive, so the task is then aborted.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if tokio::time::timeout(std::time::Duration::from_secs(1), &mut self.handle).await.is_err() {
            self.handle.abort();
        }
    }
}

/// Bind (127.0.0.1:0 unless `config.bind` is set) and serve in a background task.
///
/// # Errors
/// Fails when the address cannot be bound.
pub async fn spawn(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    let bind = config.bind.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let state = AppState::new(config);
    let app = routes::app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "emulator server stopped");
        }
    });
    Ok(RunningEmulator { base_url: format!("http://{addr}"), addr, state, shutdown: Some(tx), handle })
}
