//! A local Lambda runtime API (`/2018-06-01/runtime/...`), enough for a function binary to start,
//! take invocations and answer them: it records when the process first asks for work (the end
//! of its init) and hands out the events the benchmark queues.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

/// What a function answered to one invocation.
#[derive(Debug)]
pub struct Answer {
    pub ok: bool,
    pub body: Bytes,
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    /// When the process first asked for an invocation.
    first_next: Option<Instant>,
    first_next_tx: Option<oneshot::Sender<Instant>>,
    waiting: HashMap<String, oneshot::Sender<Answer>>,
}

#[derive(Clone)]
struct App {
    shared: Arc<Mutex<Shared>>,
    events: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, String)>>>,
}

/// One runtime API endpoint, for one function process (or several, taking turns).
pub struct RuntimeApi {
    pub addr: SocketAddr,
    app: App,
    events: mpsc::UnboundedSender<(String, String)>,
    first_next: Option<oneshot::Receiver<Instant>>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Listens on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (first_tx, first_rx) = oneshot::channel();
        let shared = Shared { first_next_tx: Some(first_tx), ..Shared::default() };
        let app = App { shared: Arc::new(Mutex::new(shared)), events: Arc::new(tokio::sync::Mutex::new(rx)) };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(app.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { addr, app, events: tx, first_next: Some(first_rx), server })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Waits for the first `GET .../invocation/next`; returns when it arrived.
    pub async fn first_next(&mut self) -> anyhow::Result<Instant> {
        let rx = self.first_next.take().ok_or_else(|| anyhow::anyhow!("first_next already awaited"))?;
        Ok(rx.await?)
    }

    /// Queues one event and waits for the function's answer.
    pub async fn invoke(&self, event: String) -> anyhow::Result<Answer> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.app.shared.lock().expect("runtime lock").waiting.insert(id.clone(), tx);
        self.events.send((id, event)).map_err(|_| anyhow::anyhow!("runtime API stopped"))?;
        Ok(rx.await?)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(app): State<App>) -> Response {
    {
        let mut shared = app.shared.lock().expect("runtime lock");
        if shared.first_next.is_none() {
            let now = Instant::now();
            shared.first_next = Some(now);
            if let Some(tx) = shared.first_next_tx.take() {
                let _ = tx.send(now);
            }
        }
    }
    let Some((id, event)) = app.events.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 30_000)
        .unwrap_or_default();
    let pairs = [
        ("lambda-runtime-aws-request-id", id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned()),
        ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned()),
        ("content-type", "application/json".to_owned()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    (StatusCode::OK, headers, event).into_response()
}

fn answer(app: &App, id: &str, ok: bool, body: Bytes) -> StatusCode {
    let tx = app.shared.lock().expect("runtime lock").waiting.remove(id);
    match tx {
        Some(tx) => {
            let _ = tx.send(Answer { ok, body, at: Instant::now() });
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(app): State<App>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&app, &id, true, body)
}

async fn error(State(app): State<App>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&app, &id, false, body)
}

async fn init_error(body: Bytes) -> StatusCode {
    eprintln!("function reported an init error: {}", String::from_utf8_lossy(&body));
    StatusCode::ACCEPTED
}
