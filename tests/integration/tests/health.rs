//! `GET /health` end to end in-process: the real API Gateway event from `events/health/`, real
//! DynamoDB and Secrets Manager on moto, and the Metabase emulator over HTTP.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tenantbase::config::Config;
use tenantbase::deps::Deps;
use tenantbase::routes::Function;

const EVENT: &str = include_str!("../../../events/health/get-health.json");

async fn deps(metabase_url: &str, secret: Option<&str>) -> Arc<Deps> {
    let sdk = tenantbase_tests::sdk_config().await;
    let store = tenantbase_tests::fresh_table(&sdk).await;
    let secret_name = tenantbase_tests::unique_name("tb-secret");
    if let Some(operator) = secret {
        let value = tenantbase_tests::generate_secrets("admin@example.com", "Adm1n-passw0rd!", operator);
        tenantbase_tests::ensure_secret(&aws_sdk_secretsmanager::Client::new(&sdk), &secret_name, &value)
            .await
            .unwrap();
    }
    let env = HashMap::from([
        ("TABLE_NAME", store.table()),
        ("SECRET_ID", secret_name.as_str()),
        ("METABASE_URL", metabase_url),
        ("METABASE_TIMEOUT_SECONDS", "2"),
    ]);
    Arc::new(Deps::build(Config::from_source(&env).unwrap(), &sdk).unwrap())
}

async fn get_health(deps: Arc<Deps>) -> (u16, Value) {
    let request = lambda_http::request::from_str(EVENT).expect("valid API Gateway v2 event");
    let response = tenantbase::api::handle(Function::Health, deps, request).await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    (response.status().as_u16(), serde_json::from_slice(response.body().as_ref()).unwrap())
}

#[tokio::test]
async fn healthy_stack_reports_every_part_ok() {
    let emulator = metabase_emulator::spawn(Default::default()).await.unwrap();
    let (status, body) = get_health(deps(&emulator.base_url, Some("operator-key-0123456789")).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    for part in ["metabase", "dynamodb", "secret"] {
        assert_eq!(body[part]["status"], "ok", "{part}: {body}");
    }
}

#[tokio::test]
async fn unreachable_metabase_and_missing_secret_are_named_without_leaking_the_host() {
    // A port nothing listens on: bind, note the port, drop the listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (status, body) = get_health(deps(&format!("http://127.0.0.1:{port}"), None).await).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["failing"], serde_json::json!(["metabase", "secret"]));
    assert_eq!(body["metabase"]["status"], "unreachable");
    assert_eq!(body["dynamodb"]["status"], "ok");
    assert!(!body.to_string().contains(&port.to_string()), "internal address leaked: {body}");
}

#[tokio::test]
async fn initializing_metabase_is_reported_as_such() {
    let knobs = metabase_emulator::Knobs { init_seconds: 60.0, ..Default::default() };
    let config = metabase_emulator::EmulatorConfig { knobs, ..Default::default() };
    let emulator = metabase_emulator::spawn(config).await.unwrap();
    let (status, body) = get_health(deps(&emulator.base_url, Some("operator-key-0123456789")).await).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["failing"], serde_json::json!(["metabase"]));
    assert_eq!(body["metabase"]["status"], "initializing");
}

#[tokio::test]
async fn unknown_paths_and_methods_are_json_errors() {
    let emulator = metabase_emulator::spawn(Default::default()).await.unwrap();
    let deps = deps(&emulator.base_url, Some("operator-key-0123456789")).await;
    let mut event: Value = serde_json::from_str(EVENT).unwrap();
    event["requestContext"]["http"]["method"] = "POST".into();
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = tenantbase::api::handle(Function::Health, deps.clone(), request).await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(body["error"], "method_not_allowed");

    event["requestContext"]["http"]["method"] = "GET".into();
    event["rawPath"] = "/nope".into();
    event["requestContext"]["http"]["path"] = "/nope".into();
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = tenantbase::api::handle(Function::Health, deps, request).await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(body, serde_json::json!({"error": "not_found", "message": "no route for GET /nope"}));
}
