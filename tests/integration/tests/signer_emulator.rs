//! Proves Metabase accepts what the embed signer produces: tokens and page URLs from
//! `tenantbase::signer` are loaded by the emulator (contract §15, §19.5), which verifies them the way
//! Metabase does, and each tenant's token only ever returns that tenant's rows.
//!
//! Everything is set up through the emulator's own Metabase API, as an administrator would.

use std::collections::{BTreeMap, HashMap};

use metabase_emulator::{EmulatorConfig, RunningEmulator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantbase::config::Config;
use tenantbase::ids::{MetabaseCardId, MetabaseDashboardId};
use tenantbase::secrets::SecretString;
use tenantbase::signer::{Appearance, EmbedRequest, EmbedResource, EmbedSigner, EmbeddingParamMode, SignedEmbed};
use tenantbase_tests::fixtures::tenant_rows;

const SECRET: &str = "3b9f0c7d2e4a6b8c1d3e5f7a9b0c2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c";
const OTHER_SECRET: &str = "c5b3a1f0e8d6c4b2a0f9e7d5c3b1a8f6e4d2c0b9a7f5e3d1c8b6a4e2d0c7f9b3";
/// The emulator's `analytics` database (README: database 2, table `orders`).
const ANALYTICS_DB: u64 = 2;
const ACME_ROWS: usize = 14;
const GLOBEX_ROWS: usize = 10;
const DASHBOARD_NAME: &str = "Orders per tenant";

struct Fixture {
    emu: RunningEmulator,
    http: reqwest::Client,
    session: String,
    dashboard: MetabaseDashboardId,
    /// `(dashcard id, card id)` of every data dashcard.
    dashcards: Vec<(u64, u64)>,
    card: MetabaseCardId,
    whitelist: BTreeMap<String, EmbeddingParamMode>,
}

struct Reply {
    status: StatusCode,
    content_type: String,
    text: String,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Reply { status, content_type, text: response.text().await.expect("a body") }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// A completed embed query (202) whose rows all belong to `tenant`; returns the row count.
    fn rows_of(&self, tenant: &str) -> usize {
        tenant_rows(self.status, &self.text, tenant)
    }
}

fn native(sql: &str) -> Value {
    json!({
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
    })
}

impl Fixture {
    async fn start() -> Self {
        let emu = metabase_emulator::spawn(EmulatorConfig::default()).await.expect("emulator starts");
        let mut fixture = Fixture {
            emu,
            http: reqwest::Client::new(),
            session: String::new(),
            dashboard: MetabaseDashboardId(0),
            dashcards: Vec::new(),
            card: MetabaseCardId(0),
            whitelist: BTreeMap::from([
                ("tenant_id".to_owned(), EmbeddingParamMode::Locked),
                ("channel".to_owned(), EmbeddingParamMode::Enabled),
            ]),
        };
        let properties = fixture.call(Method::GET, "/api/session/properties", None).await.json();
        let setup_token = properties["setup-token"].as_str().expect("a fresh instance has a setup token").to_owned();
        let setup = fixture
            .ok(
                Method::POST,
                "/api/setup",
                json!({
                    "token": setup_token,
                    "user": {"email": "admin@example.com", "password": "Signer-Check-2026!",
                             "first_name": "Ada", "last_name": "Admin"},
                    "prefs": {"site_name": "Tenantbase"}
                }),
            )
            .await;
        fixture.session = setup["id"].as_str().expect("a session id").to_owned();
        fixture.setting("enable-embedding-static", json!(true)).await;
        fixture.setting("embedding-secret-key", json!(SECRET)).await;

        let orders = fixture
            .create_card(
                "Orders",
                "SELECT * FROM orders WHERE tenant_id = {{tenant_id}} [[AND channel = {{channel}}]] ORDER BY id",
            )
            .await;
        let totals = fixture
            .create_card(
                "Order totals",
                "SELECT tenant_id, COUNT(*) AS orders FROM orders WHERE tenant_id = {{tenant_id}} \
                 [[AND channel = {{channel}}]] GROUP BY tenant_id",
            )
            .await;
        fixture.card = MetabaseCardId(orders);

        let dashboard = fixture.ok(Method::POST, "/api/dashboard", json!({"name": DASHBOARD_NAME})).await;
        let dashboard_id = dashboard["id"].as_u64().expect("dashboard id");
        let dashcard = |id: i64, card: u64, row: u64| {
            json!({
                "id": id, "card_id": card, "row": row, "col": 0, "size_x": 12, "size_y": 6,
                "parameter_mappings": [
                    {"parameter_id": "p-tenant", "card_id": card, "target": ["variable", ["template-tag", "tenant_id"]]},
                    {"parameter_id": "p-channel", "card_id": card, "target": ["variable", ["template-tag", "channel"]]}
                ]
            })
        };
        let wired = fixture
            .ok(
                Method::PUT,
                &format!("/api/dashboard/{dashboard_id}"),
                json!({
                    "parameters": [
                        {"id": "p-tenant", "name": "Tenant", "slug": "tenant_id", "type": "string/="},
                        {"id": "p-channel", "name": "Channel", "slug": "channel", "type": "string/="}
                    ],
                    "dashcards": [dashcard(-1, orders, 0), dashcard(-2, totals, 6)],
                    "tabs": []
                }),
            )
            .await;
        fixture.dashcards = wired["dashcards"]
            .as_array()
            .expect("dashcards")
            .iter()
            .map(|dc| (dc["id"].as_u64().unwrap(), dc["card_id"].as_u64().unwrap()))
            .collect();
        assert_eq!(fixture.dashcards.len(), 2);
        fixture.dashboard = MetabaseDashboardId(dashboard_id);

        let publish = json!({"enable_embedding": true, "embedding_params": fixture.whitelist});
        fixture.ok(Method::PUT, &format!("/api/dashboard/{dashboard_id}"), publish.clone()).await;
        fixture.ok(Method::PUT, &format!("/api/card/{orders}"), publish).await;
        fixture
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.emu.base_url));
        if !self.session.is_empty() {
            request = request.header("X-Metabase-Session", &self.session);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::read(request.send().await.expect("the emulator answers")).await
    }

    /// An embed request carries no session, like a browser inside the iframe.
    async fn anonymous(&self, path: &str) -> Reply {
        Reply::read(self.http.get(format!("{}{path}", self.emu.base_url)).send().await.expect("answers")).await
    }

    async fn ok(&self, method: Method, path: &str, body: Value) -> Value {
        let reply = self.call(method.clone(), path, Some(body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{method} {path}: {}", reply.text);
        reply.json()
    }

    async fn setting(&self, key: &str, value: Value) {
        let reply = self.call(Method::PUT, &format!("/api/setting/{key}"), Some(json!({"value": value}))).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "setting {key}: {}", reply.text);
    }

    async fn create_card(&self, name: &str, sql: &str) -> u64 {
        let card = self
            .ok(
                Method::POST,
                "/api/card",
                json!({"name": name, "display": "table", "visualization_settings": {}, "dataset_query": native(sql)}),
            )
            .await;
        card["id"].as_u64().expect("card id")
    }

    /// A signer configured the way the functions build it, with the emulator as the public site.
    fn signer(&self, secret: &str) -> EmbedSigner {
        let env = HashMap::from([
            ("TABLE_NAME", "unused"),
            ("SECRET_ID", "unused"),
            ("METABASE_URL", "http://metabase.internal:3000"),
            ("METABASE_SITE_URL", self.emu.base_url.as_str()),
        ]);
        let config = Config::from_source(&env).expect("config");
        EmbedSigner::from_config(&SecretString::new(secret.to_owned()), &config).expect("signer")
    }

    fn sign(
        &self,
        signer: &EmbedSigner,
        resource: EmbedResource,
        tenant: &str,
        viewer: Vec<(String, Value)>,
    ) -> SignedEmbed {
        let request = EmbedRequest {
            resource,
            tenant_key: tenant,
            embedding_params: &self.whitelist,
            viewer_params: viewer,
            minutes: None,
            appearance: Appearance::default(),
        };
        signer.sign(&request, now()).expect("signs")
    }

    fn dashboard_token(&self, tenant: &str) -> SignedEmbed {
        self.sign(&self.signer(SECRET), EmbedResource::Dashboard(self.dashboard), tenant, Vec::new())
    }

    fn card_token(&self, tenant: &str) -> SignedEmbed {
        self.sign(&self.signer(SECRET), EmbedResource::Question(self.card), tenant, Vec::new())
    }

    /// Loads the dashboard shell and runs every dashcard query; returns each card's row count.
    async fn dashboard_rows(&self, token: &str, tenant: &str) -> Vec<usize> {
        let shell = self.anonymous(&format!("/api/embed/dashboard/{token}")).await;
        assert_eq!(shell.status, StatusCode::OK, "{}", shell.text);
        let shell = shell.json();
        assert_eq!(shell["name"], DASHBOARD_NAME);
        let listed: Vec<&str> =
            shell["parameters"].as_array().unwrap().iter().map(|p| p["slug"].as_str().unwrap()).collect();
        assert!(!listed.contains(&"tenant_id"), "the locked tenant parameter must not be offered: {listed:?}");
        let mut counts = Vec::new();
        for (dashcard, card) in &self.dashcards {
            let reply = self.anonymous(&format!("/api/embed/dashboard/{token}/dashcard/{dashcard}/card/{card}")).await;
            counts.push(reply.rows_of(tenant));
        }
        counts
    }

    async fn card_rows(&self, token: &str, tenant: &str) -> usize {
        let shell = self.anonymous(&format!("/api/embed/card/{token}")).await;
        assert_eq!(shell.status, StatusCode::OK, "{}", shell.text);
        assert_eq!(shell.json()["name"], "Orders");
        self.anonymous(&format!("/api/embed/card/{token}/query")).await.rows_of(tenant)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The totals card has one row per tenant; the orders card one row per order.
fn assert_counts(counts: &[usize], orders: usize) {
    assert_eq!(counts, [orders, 1]);
}

#[tokio::test]
async fn a_dashboard_token_for_acme_loads_and_every_card_returns_only_acme_rows() {
    let f = Fixture::start().await;
    let signed = f.dashboard_token("acme");
    assert_counts(&f.dashboard_rows(&signed.token, "acme").await, ACME_ROWS);

    let path = signed.url.strip_prefix(&f.emu.base_url).expect("the URL is built on the public site");
    assert_eq!(path, format!("/embed/dashboard/{}", signed.token));
    let page = f.anonymous(path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.content_type.starts_with("text/html"), "{}", page.content_type);
    assert!(page.text.contains(DASHBOARD_NAME), "{}", page.text);
    assert!(page.text.contains("acme"), "{}", page.text);
    for other in ["globex", "initech"] {
        assert!(!page.text.contains(other), "the page shows {other}'s rows");
    }

    f.emu.shutdown().await;
}

#[tokio::test]
async fn a_question_token_for_acme_returns_only_acme_rows() {
    let f = Fixture::start().await;
    let signed = f.card_token("acme");
    assert_eq!(f.card_rows(&signed.token, "acme").await, ACME_ROWS);

    let path = signed.url.strip_prefix(&f.emu.base_url).expect("the URL is built on the public site");
    assert_eq!(path, format!("/embed/question/{}", signed.token));
    let page = f.anonymous(path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Orders") && page.text.contains("acme"), "{}", page.text);
    assert!(!page.text.contains("globex"), "{}", page.text);

    f.emu.shutdown().await;
}

#[tokio::test]
async fn a_token_for_globex_sees_only_globex() {
    let f = Fixture::start().await;
    assert_counts(&f.dashboard_rows(&f.dashboard_token("globex").token, "globex").await, GLOBEX_ROWS);
    assert_eq!(f.card_rows(&f.card_token("globex").token, "globex").await, GLOBEX_ROWS);
    f.emu.shutdown().await;
}

#[tokio::test]
async fn an_enabled_viewer_filter_narrows_within_the_tenant() {
    let f = Fixture::start().await;
    let signer = f.signer(SECRET);
    let signed =
        f.sign(&signer, EmbedResource::Dashboard(f.dashboard), "acme", vec![("channel".to_owned(), json!("web"))]);
    let counts = f.dashboard_rows(&signed.token, "acme").await;
    assert!(counts[0] > 0 && counts[0] < ACME_ROWS, "the channel filter applies within acme: {counts:?}");
    let (dashcard, card) = f.dashcards[0];
    let reply = f.anonymous(&format!("/api/embed/dashboard/{}/dashcard/{dashcard}/card/{card}", signed.token)).await;
    let result = reply.json();
    let cols = result["data"]["cols"].as_array().unwrap();
    let channel = cols.iter().position(|c| c["name"] == "channel").unwrap();
    assert!(result["data"]["rows"].as_array().unwrap().iter().all(|row| row[channel] == "web"));
    f.emu.shutdown().await;
}

#[tokio::test]
async fn a_token_from_another_secret_is_rejected_as_metabase_does() {
    let f = Fixture::start().await;
    let forged = f.sign(&f.signer(OTHER_SECRET), EmbedResource::Dashboard(f.dashboard), "acme", Vec::new());
    for path in [
        format!("/api/embed/dashboard/{}", forged.token),
        format!("/api/embed/dashboard/{}/dashcard/{}/card/{}", forged.token, f.dashcards[0].0, f.dashcards[0].1),
    ] {
        let reply = f.anonymous(&path).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}: {}", reply.text);
        assert_eq!(reply.text, "Message seems corrupt or manipulated");
        assert!(reply.content_type.starts_with("text/plain"), "{}", reply.content_type);
    }
    let page = f.anonymous(&format!("/embed/dashboard/{}", forged.token)).await;
    assert!(!page.text.contains(DASHBOARD_NAME), "a forged token must not render the dashboard");

    let forged_card = f.sign(&f.signer(OTHER_SECRET), EmbedResource::Question(f.card), "acme", Vec::new());
    let reply = f.anonymous(&format!("/api/embed/card/{}/query", forged_card.token)).await;
    assert_eq!((reply.status, reply.text.as_str()), (StatusCode::BAD_REQUEST, "Message seems corrupt or manipulated"));
    f.emu.shutdown().await;
}

#[tokio::test]
async fn the_signed_expiry_is_the_one_metabase_enforces() {
    let f = Fixture::start().await;
    let signer = f.signer(SECRET);
    let request = EmbedRequest {
        resource: EmbedResource::Dashboard(f.dashboard),
        tenant_key: "acme",
        embedding_params: &f.whitelist,
        viewer_params: Vec::new(),
        minutes: Some(1),
        appearance: Appearance::default(),
    };
    // Signed two hours ago with a one-minute lifetime: past Metabase's 60 s leeway.
    let stale = signer.sign(&request, now() - 7200).expect("signs");
    let reply = f.anonymous(&format!("/api/embed/dashboard/{}", stale.token)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.text, format!("Token is expired ({})", stale.expires_at.unix_timestamp()));

    let fresh = signer.sign(&request, now()).expect("signs");
    assert_eq!(f.anonymous(&format!("/api/embed/dashboard/{}", fresh.token)).await.status, StatusCode::OK);
    f.emu.shutdown().await;
}
