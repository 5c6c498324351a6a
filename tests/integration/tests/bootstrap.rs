//! Bootstrap and reconcile against the Metabase emulator and moto: first run on a fresh
//! Metabase, adoption of one set up by someone else, waiting for start-up, drift repair,
//! custom-resource responses, and convergence under injected faults.

use std::sync::{Arc, Mutex};

use reqwest::Client;
use serde_json::{Value, json};
use tenantbase::bootstrap::{self, reconcile};
use tenantbase::metabase::{Auth, SetupOutcome, SetupPrefs, SetupRequest, SetupUser};
use tenantbase::secrets::Secret;
use tenantbase_tests::{Stack, TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD};

/// Logs in to the emulator as the admin and returns a session id, as an operator in the UI would.
async fn admin_session(stack: &Stack) -> String {
    let response = Client::new()
        .post(stack.emulator_url("/api/session"))
        .json(&json!({"username": TEST_ADMIN_EMAIL, "password": TEST_ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn as_admin(stack: &Stack, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let session = admin_session(stack).await;
    let mut request = Client::new().request(method, stack.emulator_url(path)).header("x-metabase-session", session);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Asserts the converged state through Metabase's own API.
async fn assert_converged(stack: &Stack) {
    let secrets = stack.deps.secrets.get().await.unwrap();
    let key = secrets.metabase_api_key.expose().clone();
    assert!(key.starts_with("mb_"), "API key stored in the secret");
    let admin = stack.deps.metabase(Auth::ApiKey(Secret::new(key)));
    assert!(admin.current_user().await.unwrap().is_superuser, "the stored key is an admin key");
    let properties = admin.session_properties().await.unwrap();
    assert!(properties.has_user_setup);
    assert_eq!(properties.enable_embedding_static, Some(true));
    assert_eq!(
        properties.embedding_secret_key.map(|k| k.expose().clone()).as_deref(),
        Some(secrets.embedding_secret_key.expose().as_str())
    );
    let groups = admin.groups().await.unwrap();
    let all_users = groups.iter().find(|g| g.is_all_users()).unwrap().id;
    assert_eq!(admin.collection_graph().await.unwrap().access(all_users, "root"), "none");
    let databases = admin.databases().await.unwrap();
    let analytics = databases.iter().find(|d| d.name == "analytics").expect("analytics database connected");
    assert_eq!(admin.data_graph().await.unwrap().create_queries(all_users, analytics.id), "no");
}

#[tokio::test]
async fn fresh_metabase_converges_in_one_run_and_a_second_run_changes_nothing() {
    let stack = Stack::new().await;
    let first = reconcile(&stack.deps).await.unwrap();
    let changes = first.changes.join("\n");
    for expected in [
        "set up Metabase",
        "created the Metabase admin API key",
        "static embedding",
        "embedding secret",
        "root collection",
        "create-queries",
    ] {
        assert!(changes.contains(expected), "missing {expected:?} in:\n{changes}");
    }
    assert_converged(&stack).await;

    let second = reconcile(&stack.deps).await.unwrap();
    assert_eq!(second.changes, Vec::<String>::new(), "a healthy system needs no change");
}

async fn adopt(setup_token_cleared: bool) {
    let stack = Stack::new().await;
    Client::new()
        .post(stack.emulator_url("/__emulator/version"))
        .json(&json!({"setup_token_cleared_after_setup": setup_token_cleared}))
        .send()
        .await
        .unwrap();
    // Someone sets Metabase up by hand first (with the admin credentials the secret holds).
    let anonymous = stack.deps.metabase(Auth::Anonymous);
    let token = anonymous.session_properties().await.unwrap().setup_token.unwrap();
    let request = SetupRequest {
        token: token.clone(),
        user: SetupUser {
            email: TEST_ADMIN_EMAIL.into(),
            password: Secret::new(TEST_ADMIN_PASSWORD.into()),
            first_name: None,
            last_name: None,
        },
        prefs: SetupPrefs { site_name: "Someone else's".into() },
    };
    assert_eq!(anonymous.setup(&request).await.unwrap(), SetupOutcome::Created);
    // Repeating setup is recognised as "already set up" whichever way this version answers.
    assert_eq!(anonymous.setup(&request).await.unwrap(), SetupOutcome::AlreadySetUp);
    let exposed = anonymous.session_properties().await.unwrap().setup_token.is_some();
    assert_eq!(exposed, !setup_token_cleared);

    let report = reconcile(&stack.deps).await.unwrap();
    assert!(!report.changes.iter().any(|c| c.contains("set up Metabase")), "{:?}", report.changes);
    assert!(report.changes.iter().any(|c| c.contains("API key")), "{:?}", report.changes);
    assert_converged(&stack).await;
}

#[tokio::test]
async fn adopts_a_metabase_set_up_by_someone_else_with_the_setup_token_exposed() {
    adopt(false).await;
}

#[tokio::test]
async fn adopts_a_metabase_set_up_by_someone_else_with_the_setup_token_cleared() {
    adopt(true).await;
}

#[tokio::test]
async fn waits_for_an_initializing_metabase() {
    let knobs = metabase_emulator::Knobs { init_seconds: 2.0, ..Default::default() };
    let stack = Stack::with_emulator(metabase_emulator::EmulatorConfig { knobs, ..Default::default() }, &[]).await;
    let started = std::time::Instant::now();
    reconcile(&stack.deps).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(1500), "it waited for start-up");
    assert_converged(&stack).await;
}

#[tokio::test]
async fn unreachable_metabase_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let stack =
        Stack::with_emulator(Default::default(), &[("METABASE_URL", &url), ("BOOTSTRAP_WAIT_SECONDS", "1")]).await;
    let error = reconcile(&stack.deps).await.unwrap_err();
    assert_eq!(error.code(), "service_unavailable");
    assert!(error.to_string().contains("not ready after 1s"), "{error}");
    assert!(error.to_string().contains("connection refused"), "{error}");
    assert!(!error.public_message().contains(&port.to_string()));
}

#[tokio::test]
async fn drift_introduced_by_hand_is_repaired_and_reported() {
    let stack = Stack::bootstrapped().await;
    let (status, _) = as_admin(&stack, reqwest::Method::GET, "/api/collection/graph", None).await;
    assert_eq!(status, 200);
    // Re-open root to All Users (group 1 on a normal install), turn static embedding off,
    // change the embedding secret.
    let (_, graph) = as_admin(&stack, reqwest::Method::GET, "/api/collection/graph", None).await;
    let patch = json!({"revision": graph["revision"], "groups": {"1": {"root": "write"}}});
    assert_eq!(as_admin(&stack, reqwest::Method::PUT, "/api/collection/graph", Some(patch)).await.0, 200);
    let off = json!({"value": false});
    assert_eq!(as_admin(&stack, reqwest::Method::PUT, "/api/setting/enable-embedding-static", Some(off)).await.0, 204);
    let other = json!({"value": "0123456789abcdef".repeat(4)});
    assert_eq!(as_admin(&stack, reqwest::Method::PUT, "/api/setting/embedding-secret-key", Some(other)).await.0, 204);
    let (_, data) = as_admin(&stack, reqwest::Method::GET, "/api/permissions/graph", None).await;
    let open =
        json!({"revision": data["revision"], "groups": {"1": {"2": {"create-queries": "query-builder-and-native"}}}});
    assert_eq!(as_admin(&stack, reqwest::Method::PUT, "/api/permissions/graph", Some(open)).await.0, 200);

    let report = reconcile(&stack.deps).await.unwrap();
    let changes = report.changes.join("\n");
    for expected in ["static embedding", "embedding secret", "root collection", "create-queries"] {
        assert!(changes.contains(expected), "missing {expected:?} in:\n{changes}");
    }
    assert!(!changes.contains("API key"), "the stored key still works:\n{changes}");
    assert_converged(&stack).await;
    assert!(reconcile(&stack.deps).await.unwrap().changes.is_empty());
}

#[tokio::test]
async fn a_revoked_api_key_is_replaced() {
    let stack = Stack::bootstrapped().await;
    let (_, keys) = as_admin(&stack, reqwest::Method::GET, "/api/api-key", None).await;
    let id = keys[0]["id"].as_i64().unwrap();
    assert_eq!(as_admin(&stack, reqwest::Method::DELETE, &format!("/api/api-key/{id}"), None).await.0, 204);
    let report = reconcile(&stack.deps).await.unwrap();
    assert!(report.changes.iter().any(|c| c.contains("API key")), "{:?}", report.changes);
    assert_converged(&stack).await;
}

#[tokio::test]
async fn converges_with_twenty_percent_faults_on_every_route() {
    let stack = Stack::new().await;
    let client = Client::new();
    // Deterministic failures on the non-idempotent steps (so the run-level retry is always
    // exercised), then 20 % random 500/503 answers on every route.
    let faults = [
        json!({"method": "POST", "path": "/api/api-key", "status": 500, "count": 2}),
        json!({"method": "POST", "path": "/api/session", "status": 502, "count": 1}),
        json!({"method": "PUT", "path": "/api/collection/graph", "status": 500, "count": 3}),
        json!({"path": "/api/*", "status": 500, "probability": 0.1}),
        json!({"path": "/api/*", "status": 503, "probability": 0.1}),
    ];
    for fault in faults {
        assert!(
            client
                .post(stack.emulator_url("/__emulator/faults"))
                .json(&fault)
                .send()
                .await
                .unwrap()
                .status()
                .is_success()
        );
    }
    let report = reconcile(&stack.deps).await.unwrap();
    client.delete(stack.emulator_url("/__emulator/faults")).send().await.unwrap();
    println!("converged under faults after {} run attempt(s): {:?}", report.attempts, report.changes);
    assert!(report.attempts >= 2, "the injected POST failures forced at least one run retry");
    assert_converged(&stack).await;
    assert!(reconcile(&stack.deps).await.unwrap().changes.is_empty());
}

/// A local HTTP listener standing in for CloudFormation's pre-signed response URL.
async fn response_listener() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let received: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/response",
        axum::routing::put(move |headers: axum::http::HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let content_type =
                    headers.get("content-type").map(|v| v.to_str().unwrap_or("?").to_owned()).unwrap_or_default();
                sink.lock().unwrap().push((content_type, serde_json::from_str(&body).unwrap()));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/response?X-Amz-Signature=abc", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

fn event(file: &str, response_url: &str) -> Value {
    let path = format!("{}/../../events/bootstrap/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["ResponseURL"] = response_url.into();
    event
}

#[tokio::test]
async fn custom_resource_events_get_the_right_response_document() {
    let stack = Stack::new().await;
    let (url, received) = response_listener().await;

    let result =
        bootstrap::handle(&stack.deps, event("cfn-create.json", &url), "2026/11/22/[$LATEST]abc").await.unwrap();
    assert_eq!(result["status"], "SUCCESS");
    assert_converged(&stack).await;
    bootstrap::handle(&stack.deps, event("cfn-update.json", &url), "stream").await.unwrap();
    bootstrap::handle(&stack.deps, event("cfn-delete.json", &url), "stream").await.unwrap();

    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    let (content_type, create) = &received[0];
    assert_eq!(content_type, "", "pre-signed URLs are signed without a content type");
    assert_eq!(create["Status"], "SUCCESS");
    assert_eq!(create["PhysicalResourceId"], "tenantbase-metabase-bootstrap");
    assert_eq!(create["LogicalResourceId"], "MetabaseBootstrap");
    assert_eq!(create["RequestId"], "0c3d6b1e-7f2a-4e53-9b8d-2a1f6e4c9d70");
    assert!(create["StackId"].as_str().unwrap().starts_with("arn:aws:cloudformation"));
    assert_ne!(create["Data"]["Changes"], "0");
    let update = &received[1].1;
    assert_eq!((update["Status"].as_str(), update["Data"]["Changes"].as_str()), (Some("SUCCESS"), Some("0")));
    assert_eq!(update["PhysicalResourceId"], "tenantbase-metabase-bootstrap");
    assert_eq!(received[2].1["Status"], "SUCCESS");
}

#[tokio::test]
async fn custom_resource_failure_is_reported_and_delete_never_needs_metabase() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let metabase = format!("http://127.0.0.1:{port}");
    let stack =
        Stack::with_emulator(Default::default(), &[("METABASE_URL", &metabase), ("BOOTSTRAP_WAIT_SECONDS", "1")]).await;
    let (url, received) = response_listener().await;

    let result = bootstrap::handle(&stack.deps, event("cfn-create.json", &url), "stream-1").await.unwrap();
    assert_eq!(result["status"], "FAILED");
    bootstrap::handle(&stack.deps, event("cfn-delete.json", &url), "stream-1").await.unwrap();

    let received = received.lock().unwrap().clone();
    let create = &received[0].1;
    assert_eq!(create["Status"], "FAILED");
    let reason = create["Reason"].as_str().unwrap();
    assert!(reason.contains("metabase is unavailable") && reason.contains("stream-1"), "{reason}");
    assert!(!reason.contains(&port.to_string()), "no internal address in the reason: {reason}");
    assert_eq!(received[1].1["Status"], "SUCCESS", "delete succeeds with Metabase down");
}

#[tokio::test]
async fn scheduled_and_direct_invokes_run_reconcile() {
    let stack = Stack::new().await;
    let scheduled: Value = serde_json::from_str(include_str!("../../../events/bootstrap/scheduled.json")).unwrap();
    let report = bootstrap::handle(&stack.deps, scheduled, "s").await.unwrap();
    assert!(!report["changes"].as_array().unwrap().is_empty());
    let direct: Value = serde_json::from_str(include_str!("../../../events/bootstrap/invoke.json")).unwrap();
    let report = bootstrap::handle(&stack.deps, direct, "s").await.unwrap();
    assert_eq!(report["changes"], json!([]));
}
