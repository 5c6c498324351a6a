//! Helpers shared by the integration tests and `devstack` (the local stack helper): the AWS
//! emulator endpoint, fresh isolated tables and secrets, and generated development secrets.
//!
//! Tests run against the moto server that `scripts/test.sh` starts (it exports
//! `AWS_ENDPOINT_URL`). Without it they fail loudly rather than skip.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use rand::RngExt;
use tenantbase::config::Config;
use tenantbase::deps::Deps;
use tenantbase::secrets::{AppSecrets, Secret};
use tenantbase::store::{Store, TABLE};

pub mod logs;
pub mod openapi;

/// The AWS emulator's endpoint, or a panic that says how to provide one.
pub fn aws_endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "AWS_ENDPOINT_URL is not set: these tests need the moto server. Run them with `make test` \
             (scripts/test.sh starts moto and exports AWS_ENDPOINT_URL and dummy credentials)."
        ),
    }
}

/// SDK configuration pointed at the emulator; panics if it is not configured or not answering.
pub async fn sdk_config() -> SdkConfig {
    let endpoint = aws_endpoint();
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned();
    if tokio::net::TcpStream::connect(&address).await.is_err() {
        panic!("the AWS emulator at {endpoint} is not answering: start it with `make test` or `make dev`");
    }
    tenantbase::aws::load().await
}

/// A unique name so suites sharing one moto server never see each other's data.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A new, empty table created from the shared definition.
pub async fn fresh_table(sdk: &SdkConfig) -> Store {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let name = unique_name("tb-test");
    TABLE.ensure(&client, &name).await.expect("create test table");
    Store::new(client, name)
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

/// Secrets for a development stack: admin and operator credentials as given, keys generated.
pub fn generate_secrets(admin_email: &str, admin_password: &str, operator_api_key: &str) -> AppSecrets {
    AppSecrets {
        metabase_admin_email: admin_email.to_owned(),
        metabase_admin_password: Secret::new(admin_password.to_owned()),
        metabase_api_key: Secret::default(),
        embedding_secret_key: Secret::new(random_hex(32)),
        access_token_signing_key: Secret::new(random_hex(32)),
        operator_api_key: Secret::new(operator_api_key.to_owned()),
        analytics_db_details: None,
    }
}

/// Creates the secret with `value`, or, if it exists, leaves it as it is and returns `false`.
///
/// # Errors
/// Secrets Manager refused the request.
pub async fn ensure_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &AppSecrets,
) -> anyhow::Result<bool> {
    let body = serde_json::to_string(value)?;
    match client.create_secret().name(name).secret_string(body).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => Ok(false),
        Err(e) => Err(anyhow::Error::msg(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())),
    }
}

/// Records every secret value of `secrets` for the log scan.
pub fn record_secrets(secrets: &AppSecrets) {
    for value in [
        &secrets.metabase_admin_password,
        &secrets.metabase_api_key,
        &secrets.embedding_secret_key,
        &secrets.access_token_signing_key,
        &secrets.operator_api_key,
    ] {
        logs::record_secret(value.expose());
    }
}

/// A complete, isolated stack for one test: a fresh in-process Metabase emulator, a fresh table
/// and secret on moto, and the functions' `Deps` pointed at them.
pub struct Stack {
    pub emulator: metabase_emulator::RunningEmulator,
    pub sdk: SdkConfig,
    pub deps: Arc<Deps>,
    pub secret_id: String,
}

/// The operator key every test stack's secret holds.
pub const TEST_OPERATOR_KEY: &str = "test-operator-key-0123456789abcdef";
pub const TEST_ADMIN_EMAIL: &str = "admin@tenantbase.test";
pub const TEST_ADMIN_PASSWORD: &str = "Tb-admin-passw0rd-2026";

impl Stack {
    /// A fresh, not-yet-set-up Metabase emulator and empty AWS resources.
    pub async fn new() -> Self {
        Self::with_emulator(metabase_emulator::EmulatorConfig::default(), &[]).await
    }

    /// Like [`Stack::new`] with emulator knobs and extra environment for `Config`.
    pub async fn with_emulator(config: metabase_emulator::EmulatorConfig, env: &[(&str, &str)]) -> Self {
        // Everything is logged to target/test-logs; `RUST_LOG=info cargo test …` also shows the
        // functions' logs in a failing test's output.
        logs::init();
        let emulator = metabase_emulator::spawn(config).await.expect("start the Metabase emulator");
        let sdk = sdk_config().await;
        let store = fresh_table(&sdk).await;
        let secret_id = unique_name("tb-secret");
        let secrets = generate_secrets(TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD, TEST_OPERATOR_KEY);
        record_secrets(&secrets);
        ensure_secret(&aws_sdk_secretsmanager::Client::new(&sdk), &secret_id, &secrets).await.expect("create secret");
        let mut vars: HashMap<String, String> = HashMap::from([
            ("TABLE_NAME".to_owned(), store.table().to_owned()),
            ("SECRET_ID".to_owned(), secret_id.clone()),
            ("METABASE_URL".to_owned(), emulator.base_url.clone()),
            ("METABASE_SITE_URL".to_owned(), "https://analytics.example.test".to_owned()),
            ("METABASE_TIMEOUT_SECONDS".to_owned(), "5".to_owned()),
            ("BOOTSTRAP_WAIT_SECONDS".to_owned(), "20".to_owned()),
        ]);
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let config = Config::from_source(&vars).expect("test configuration");
        let deps = Arc::new(Deps::build(config, &sdk).expect("deps"));
        Self { emulator, sdk, deps, secret_id }
    }

    /// A stack whose Metabase emulator has been set up by the real bootstrap (admin API key
    /// stored in the secret, static embedding on, root closed).
    pub async fn bootstrapped() -> Self {
        let stack = Self::new().await;
        tenantbase::bootstrap::reconcile(&stack.deps).await.expect("bootstrap converges on a fresh emulator");
        stack.record_secrets().await;
        stack
    }

    /// Records the secret's current values (bootstrap adds the Metabase API key) for the log scan.
    pub async fn record_secrets(&self) {
        record_secrets(&self.deps.secrets.get().await.expect("secret"));
    }

    /// Like [`Stack::bootstrapped`], with extra environment for `Config` (e.g. a short
    /// `EMBED_TTL_CAP_MINUTES`) and a clock the test moves instead of sleeping.
    pub async fn bootstrapped_with_clock(env: &[(&str, &str)], clock: tenantbase::clock::ManualClock) -> Self {
        let mut stack = Self::with_emulator(metabase_emulator::EmulatorConfig::default(), env).await;
        Arc::get_mut(&mut stack.deps).expect("nothing else holds the new deps yet").clock = Arc::new(clock);
        tenantbase::bootstrap::reconcile(&stack.deps).await.expect("bootstrap converges on a fresh emulator");
        stack.record_secrets().await;
        stack
    }

    /// A raw HTTP client for the emulator's control routes (`/__emulator/...`).
    pub fn emulator_url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base_url)
    }

    /// Calls one of the emulator's control routes (faults, latency, state, counters) and returns
    /// its JSON answer (`Null` when empty); panics unless it succeeds.
    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let mut request = reqwest::Client::new().request(method, self.emulator_url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the emulator answers");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(serde_json::Value::Null)
    }
}

/// Checks that Metabase, as the emulator's state dump shows it, matches what DynamoDB records.
pub mod consistency {
    use std::collections::BTreeSet;

    use serde_json::Value;
    use tenantbase::users;
    use tenantbase::workspaces::{Role, Workspace, members};

    use crate::Stack;

    /// The emulator's whole state (`GET /__emulator/state`).
    pub async fn state(stack: &Stack) -> Value {
        stack.control(reqwest::Method::GET, "/__emulator/state", None).await
    }

    /// The workspace's Metabase group holds exactly its owners' and editors' Metabase users,
    /// each once, and the workspace still has an owner.
    pub async fn assert_group_matches_members(stack: &Stack, workspace: &Workspace, state: &Value) {
        let deps = &stack.deps;
        let group = workspace.metabase_group_id.expect("a provisioned workspace has a group").0;
        let (members, _) = members::list(deps, workspace).await.expect("members");
        let mut wanted = BTreeSet::new();
        for member in members.iter().filter(|m| m.role >= Role::Editor) {
            let user = users::get(&deps.store, member.user_id).await.expect("user").expect("an account");
            wanted.insert(user.metabase_user_id.expect("an owner or editor has a linked Metabase user").0);
        }
        let in_group: Vec<u64> = state["memberships"]
            .as_object()
            .expect("memberships")
            .values()
            .filter(|m| m["group_id"].as_u64() == Some(group))
            .map(|m| m["user_id"].as_u64().expect("a user id"))
            .collect();
        let distinct: BTreeSet<u64> = in_group.iter().copied().collect();
        assert_eq!(in_group.len(), distinct.len(), "workspace {}: a duplicate group membership", workspace.id);
        assert_eq!(distinct, wanted, "workspace {}: group {group} holds exactly its owners and editors", workspace.id);
        assert!(members.iter().any(|m| m.role == Role::Owner), "workspace {} has an owner", workspace.id);
    }
}

/// Calls the functions in-process with real API Gateway HTTP API (v2) events, the way Lambda
/// would invoke them.
pub mod api {
    use std::sync::Arc;

    use serde_json::{Value, json};
    use tenantbase::deps::Deps;
    use tenantbase::routes::{Function, ROUTES};

    /// One response: status, headers and the JSON body (or `Value::Null` when empty).
    #[derive(Debug, Clone)]
    pub struct Reply {
        pub status: u16,
        pub headers: http::HeaderMap,
        pub body: Value,
    }

    /// The function that serves `method path`, from the route table; for a method the path does
    /// not take (a CORS preflight, a 405), the function that serves the path.
    pub fn function_for(method: &str, path: &str) -> Function {
        use tenantbase::routes::{RouteMatch, resolve};
        let path = path.split('?').next().unwrap_or(path);
        let Ok(method) = method.parse::<http::Method>() else { return Function::Health };
        let outcomes: Vec<(Function, RouteMatch)> =
            ROUTES.iter().map(|r| (r.function, resolve(r.function, &method, path))).collect();
        outcomes
            .iter()
            .find(|(_, m)| matches!(m, RouteMatch::Found(..)))
            .or_else(|| outcomes.iter().find(|(_, m)| matches!(m, RouteMatch::MethodNotAllowed { .. })))
            .map_or(Function::Health, |(function, _)| *function)
    }

    /// Builds an API Gateway v2 event (the shape of `events/*/*.json`).
    pub fn event(method: &str, path_and_query: &str, headers: &[(&str, &str)], body: Option<&str>) -> String {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let mut header_map = serde_json::Map::new();
        header_map.insert("host".into(), json!("api.tenantbase.test"));
        for (name, value) in headers {
            header_map.insert(name.to_lowercase(), json!(value));
        }
        let mut event = json!({
            "version": "2.0",
            "routeKey": format!("{method} {path}"),
            "rawPath": path,
            "rawQueryString": query,
            "headers": header_map,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "testapi",
                "domainName": "api.tenantbase.test",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "tests"},
                "requestId": uuid::Uuid::new_v4().to_string(),
                "routeKey": format!("{method} {path}"),
                "stage": "$default",
                "time": "22/Nov/2026:03:12:01 +0000",
                "timeEpoch": 1795403521000u64
            },
            "isBase64Encoded": false
        });
        if !query.is_empty() {
            let params: serde_json::Map<String, Value> =
                url_pairs(query).into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            event["queryStringParameters"] = Value::Object(params);
        }
        if let Some(body) = body {
            event["body"] = json!(body);
        }
        event.to_string()
    }

    fn url_pairs(query: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    /// Sends one request through the function that serves it.
    pub async fn call(
        deps: &Arc<Deps>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let body_text = body;
        let request = lambda_http::request::from_str(&event(method, path, headers, body)).expect("valid event");
        let function = function_for(method, path);
        let response = tenantbase::api::handle(function, deps.clone(), request).await.expect("infallible");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.body().to_vec();
        // Every response a test sees is one openapi.yaml describes.
        let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if let Err(mismatch) = crate::openapi::description().check(method, path, status, content_type, &bytes) {
            panic!("{mismatch}");
        }
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        let reply = Reply { status, headers, body: body.clone() };
        record_credentials(path, body_text, &reply);
        reply
    }

    /// For the log scan: the password of every accepted signup or login, and every access token.
    fn record_credentials(path: &str, body: Option<&str>, reply: &Reply) {
        if matches!(path, "/auth/signup" | "/auth/login") && (200..300).contains(&reply.status) {
            let text = body.unwrap_or_default();
            let password = serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v["password"].as_str().map(str::to_owned))
                .or_else(|| url_pairs(text).into_iter().find(|(k, _)| k == "password").map(|(_, v)| v));
            if let Some(password) = password {
                crate::logs::record_secret(&password);
            }
        }
        if let Some(token) = reply.body["access_token"].as_str() {
            crate::logs::record_secret(token);
        }
    }

    /// A JSON request with a bearer token.
    pub async fn as_user(deps: &Arc<Deps>, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
        let auth = format!("Bearer {token}");
        let text = body.map(|b| b.to_string());
        call(deps, method, path, &[("authorization", &auth), ("content-type", "application/json")], text.as_deref())
            .await
    }

    /// A JSON request with the operator's API key.
    pub async fn as_operator(deps: &Arc<Deps>, method: &str, path: &str, body: Value) -> Reply {
        let text = body.to_string();
        call(
            deps,
            method,
            path,
            &[("x-api-key", crate::TEST_OPERATOR_KEY), ("content-type", "application/json")],
            Some(&text),
        )
        .await
    }

    /// Signs up `email` and logs in; returns (user id, access token).
    pub async fn sign_up(deps: &Arc<Deps>, email: &str) -> (String, String) {
        let body = json!({"email": email, "password": "Correct-horse-42", "first_name": "Test", "last_name": "User"});
        let reply =
            call(deps, "POST", "/auth/signup", &[("content-type", "application/json")], Some(&body.to_string())).await;
        assert_eq!(reply.status, 201, "signup {email}: {:?}", reply.body);
        let id = reply.body["id"].as_str().unwrap().to_owned();
        let login = json!({"email": email, "password": "Correct-horse-42"});
        let reply =
            call(deps, "POST", "/auth/login", &[("content-type", "application/json")], Some(&login.to_string())).await;
        assert_eq!(reply.status, 200, "login {email}: {:?}", reply.body);
        (id, reply.body["access_token"].as_str().unwrap().to_owned())
    }
}

/// Content for the Metabase emulator shared by the tests: native card bodies, template tags,
/// the tenant dashboard parameter and its mappings, and checks on embed query results.
pub mod fixtures {
    use metabase_emulator::analytics::{ORDERS_TABLE_ID, TENANT_ROWS};
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};

    use crate::Stack;

    /// The locked tenant parameter's slug (and its template tag's name).
    pub const SLUG: &str = "tenant_id";
    /// The emulator's sample analytics database.
    pub const ANALYTICS_DB: i64 = 2;
    /// The id of the dashboard's tenant parameter.
    pub const TENANT_PARAM: &str = "p-tenant";

    /// A native query on the analytics database.
    pub fn native(sql: &str, tags: Value) -> Value {
        json!({"database": ANALYTICS_DB, "type": "native", "native": {"query": sql, "template-tags": tags}})
    }

    /// A text template tag.
    pub fn text_tag(name: &str, required: bool) -> Value {
        json!({"id": format!("tag-{name}"), "name": name, "display-name": name, "type": "text", "required": required})
    }

    /// A GUI query of the whole orders table (no tenant filter).
    pub fn orders_table() -> Value {
        json!({"database": ANALYTICS_DB, "type": "query", "query": {"source-table": ORDERS_TABLE_ID}})
    }

    /// The dashboard's tenant parameter.
    pub fn tenant_parameter() -> Value {
        json!({"id": TENANT_PARAM, "name": "Tenant", "slug": SLUG, "type": "string/="})
    }

    /// A mapping of the tenant parameter onto `card`'s `target`.
    pub fn map_tenant(card: impl Into<Value>, target: Value) -> Value {
        json!({"parameter_id": TENANT_PARAM, "card_id": card.into(), "target": target})
    }

    /// A mapping target: the template tag `tag`.
    pub fn variable(tag: &str) -> Value {
        json!(["variable", ["template-tag", tag]])
    }

    /// A data dashcard showing `card` at `row`.
    pub fn dashcard(id: i64, row: i64, card: impl Into<Value>, mappings: Value) -> Value {
        json!({"id": id, "card_id": card.into(), "row": row, "col": 0, "size_x": 12, "size_y": 6,
               "parameter_mappings": mappings})
    }

    /// How many sample rows `tenant` owns.
    pub fn rows_of(tenant: &str) -> usize {
        TENANT_ROWS.iter().find(|(t, _)| *t == tenant).map(|(_, n)| *n).unwrap()
    }

    /// The `tenant_id` value of every row of a completed query result.
    pub fn tenant_column(result: &Value) -> Vec<String> {
        assert_eq!(result["status"], "completed", "query result: {result}");
        let cols = result["data"]["cols"].as_array().expect("cols");
        let at = cols.iter().position(|c| c["name"] == "tenant_id").expect("a tenant_id column");
        result["data"]["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| row[at].as_str().unwrap().to_owned())
            .collect()
    }

    /// A completed embed query (202) whose rows all belong to `tenant`; returns the row count.
    pub fn tenant_rows(status: http::StatusCode, text: &str, tenant: &str) -> usize {
        assert_eq!(status, http::StatusCode::ACCEPTED, "{text}");
        let result: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        assert_eq!(result["status"], "completed", "{result}");
        let cols = result["data"]["cols"].as_array().expect("cols");
        let tenant_col = cols.iter().position(|c| c["name"] == "tenant_id").expect("a tenant_id column");
        let rows = result["data"]["rows"].as_array().expect("rows");
        for row in rows {
            assert_eq!(row[tenant_col], tenant, "a row of another tenant leaked: {row}");
        }
        rows.len()
    }

    /// A plain HTTP client for the emulator, as Metabase's admin (API key) or as a browser.
    pub struct Metabase {
        pub base: String,
        api_key: String,
        http: reqwest::Client,
        /// Under injected faults: how many times an admin call may be repeated (0 = none).
        retry_limit: u32,
        /// Admin calls repeated after an injected fault (5xx, 409 or a timeout).
        pub retried: std::sync::atomic::AtomicUsize,
    }

    impl Metabase {
        pub async fn of(stack: &Stack) -> Self {
            let secrets = stack.deps.secrets.get().await.expect("secret");
            crate::record_secrets(&secrets);
            Self {
                base: stack.emulator.base_url.trim_end_matches('/').to_owned(),
                api_key: secrets.metabase_api_key.expose().to_owned(),
                http: reqwest::Client::new(),
                retry_limit: 0,
                retried: std::sync::atomic::AtomicUsize::new(0),
            }
        }

        /// An analyst working while the emulator injects faults: admin calls time out after
        /// `timeout` and are repeated on 5xx, 409 and timeouts. Injected faults answer before the
        /// emulator routes the request, so a repeat never applies a change twice.
        pub async fn retrying(stack: &Stack, timeout: std::time::Duration) -> Self {
            let http = reqwest::Client::builder().timeout(timeout).build().expect("HTTP client");
            Self { http, retry_limit: 100, ..Self::of(stack).await }
        }

        pub async fn admin(&self, method: Method, path: &str, body: Value) -> Value {
            let mut attempt = 0;
            loop {
                let sent = self
                    .http
                    .request(method.clone(), format!("{}{path}", self.base))
                    .header("x-api-key", &self.api_key)
                    .json(&body)
                    .send()
                    .await;
                let answer = match sent {
                    Ok(response) => {
                        let status = response.status();
                        Ok((status, response.text().await.expect("a body")))
                    }
                    Err(error) => Err(error),
                };
                let transient = match &answer {
                    Ok((status, _)) => status.is_server_error() || *status == StatusCode::CONFLICT,
                    Err(error) => error.is_timeout(),
                };
                if transient && attempt < self.retry_limit {
                    attempt += 1;
                    self.retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
                let (status, text) = answer.expect("the emulator answers");
                assert_eq!(status, StatusCode::OK, "{method} {path}: {text}");
                return serde_json::from_str(&text).expect("JSON");
            }
        }

        /// An embed request: no session, like a browser inside the iframe.
        pub async fn embed(&self, path: &str) -> (StatusCode, String) {
            let response = self.http.get(format!("{}{path}", self.base)).send().await.expect("the emulator answers");
            let status = response.status();
            (status, response.text().await.expect("a body"))
        }

        pub async fn card(&self, collection: u64, name: &str, sql: &str) -> u64 {
            let query = json!({
                "database": ANALYTICS_DB,
                "type": "native",
                "native": {
                    "query": sql,
                    "template-tags": {
                        "tenant_id": {"id": "tag-tenant", "name": "tenant_id", "display-name": "Tenant", "type": "text",
                                      "required": true},
                        "channel": {"id": "tag-channel", "name": "channel", "display-name": "Channel", "type": "text",
                                    "required": false}
                    }
                }
            });
            let body = json!({"name": name, "display": "table", "visualization_settings": {}, "dataset_query": query,
                              "collection_id": collection});
            self.admin(Method::POST, "/api/card", body).await["id"].as_u64().expect("card id")
        }

        /// A dashboard with tenant and channel parameters; `wired` cards map both, `unwired` none.
        pub async fn dashboard(
            &self,
            collection: u64,
            name: &str,
            wired: &[u64],
            unwired: &[u64],
        ) -> (u64, Vec<(u64, u64)>) {
            let created =
                self.admin(Method::POST, "/api/dashboard", json!({"name": name, "collection_id": collection})).await;
            let id = created["id"].as_u64().expect("dashboard id");
            let mut dashcards = Vec::new();
            for (i, card) in wired.iter().chain(unwired).enumerate() {
                let mappings = if wired.contains(card) {
                    json!([
                        {"parameter_id": "p-tenant", "card_id": card, "target": ["variable", ["template-tag", "tenant_id"]]},
                        {"parameter_id": "p-channel", "card_id": card, "target": ["variable", ["template-tag", "channel"]]}
                    ])
                } else {
                    json!([])
                };
                dashcards.push(json!({"id": -(i as i64) - 1, "card_id": card, "row": i * 6, "col": 0, "size_x": 12,
                                      "size_y": 6, "parameter_mappings": mappings}));
            }
            let wired_dashboard = self
                .admin(
                    Method::PUT,
                    &format!("/api/dashboard/{id}"),
                    json!({
                        "parameters": [
                            {"id": "p-tenant", "name": "Tenant", "slug": "tenant_id", "type": "string/="},
                            {"id": "p-channel", "name": "Channel", "slug": "channel", "type": "string/="}
                        ],
                        "dashcards": dashcards,
                        "tabs": []
                    }),
                )
                .await;
            let placed = wired_dashboard["dashcards"]
                .as_array()
                .expect("dashcards")
                .iter()
                .map(|dc| (dc["id"].as_u64().unwrap(), dc["card_id"].as_u64().unwrap()))
                .collect();
            (id, placed)
        }

        /// Loads a dashboard token's shell and runs every dashcard query; returns each card's row
        /// count after checking every row belongs to `tenant`.
        pub async fn dashboard_rows(&self, token: &str, dashcards: &[(u64, u64)], tenant: &str) -> Vec<usize> {
            let (status, shell) = self.embed(&format!("/api/embed/dashboard/{token}")).await;
            assert_eq!(status, StatusCode::OK, "{shell}");
            let mut counts = Vec::new();
            for (dashcard, card) in dashcards {
                let (status, text) =
                    self.embed(&format!("/api/embed/dashboard/{token}/dashcard/{dashcard}/card/{card}")).await;
                counts.push(tenant_rows(status, &text, tenant));
            }
            counts
        }

        /// Loads a dashboard token's shell and runs every data dashcard it lists (all tabs); returns
        /// each card's row count after checking every row belongs to `tenant`.
        pub async fn shell_rows(&self, token: &str, tenant: &str) -> Vec<usize> {
            let (status, shell) = self.embed(&format!("/api/embed/dashboard/{token}")).await;
            assert_eq!(status, StatusCode::OK, "{shell}");
            let shell: Value = serde_json::from_str(&shell).expect("JSON shell");
            let dashcards: Vec<(u64, u64)> = shell["dashcards"]
                .as_array()
                .expect("dashcards")
                .iter()
                .filter_map(|d| Some((d["id"].as_u64()?, d["card_id"].as_u64()?)))
                .collect();
            self.dashboard_rows(token, &dashcards, tenant).await
        }

        pub async fn question_rows(&self, token: &str, tenant: &str) -> usize {
            let (status, shell) = self.embed(&format!("/api/embed/card/{token}")).await;
            assert_eq!(status, StatusCode::OK, "{shell}");
            let (status, text) = self.embed(&format!("/api/embed/card/{token}/query")).await;
            tenant_rows(status, &text, tenant)
        }
    }
}
