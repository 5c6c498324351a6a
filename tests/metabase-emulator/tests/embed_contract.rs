//! Contract tests for static embedding over real HTTP: §18 cases 1–11, §19.7 cases 27 and 29, and the
//! tenant-isolation property (a token locked to one tenant only ever returns that tenant's rows).
//!
//! All content is created through the emulator's own Metabase API, exactly as Tenantbase would.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::Resp;
use hmac::{Hmac, KeyInit, Mac};
use metabase_emulator::{EmulatorConfig, RunningEmulator, spawn};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

const K: &str = "5f1c0a4e9b2d7c3e8f6a1b0c9d2e4f3a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";
const OTHER_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";
const ANALYTICS_DB: i64 = 2;
const ORDERS_TABLE: i64 = 10;
const TENANT_ID_FIELD: i64 = 101;
const ACME_ROWS: usize = 14;
const ALL_ROWS: usize = 30;

/// An independent HS256 signer, written the way Metabase's code samples sign: the secret string's
/// bytes are the HMAC key.
fn sign_with(header: &Value, claims: &Value, key: &str) -> String {
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap());
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{h}.{p}").as_bytes());
    let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{h}.{p}.{s}")
}

fn sign(claims: &Value) -> String {
    sign_with(&json!({"alg": "HS256", "typ": "JWT"}), claims, K)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn dash_token(dashboard: i64, params: Value) -> String {
    sign(&json!({"resource": {"dashboard": dashboard}, "params": params, "exp": now() + 600}))
}

fn card_token(card: i64, params: Value) -> String {
    sign(&json!({"resource": {"question": card}, "params": params, "exp": now() + 600}))
}

struct Env {
    emu: RunningEmulator,
    http: reqwest::Client,
    session: String,
}

impl Resp {
    /// A §15 error: 400 with exactly this plain-text body.
    fn assert_error(&self, message: &str) {
        assert_eq!(self.status, StatusCode::BAD_REQUEST, "body: {}", self.text);
        assert_eq!(self.text, message);
        assert!(self.content_type.starts_with("text/plain"), "content type {}", self.content_type);
    }

    /// Query results: 202 JSON.
    fn query(&self) -> Value {
        assert_eq!(self.status, StatusCode::ACCEPTED, "body: {}", self.text);
        assert!(self.content_type.starts_with("application/json"));
        self.json()
    }
}

/// Distinct `tenant_id` values of a completed query result, plus the row count.
fn tenants(result: &Value) -> (Vec<String>, usize) {
    assert_eq!(result["status"], "completed", "result: {result}");
    let cols = result["data"]["cols"].as_array().unwrap();
    let idx = cols.iter().position(|c| c["name"] == "tenant_id").expect("tenant_id column");
    let rows = result["data"]["rows"].as_array().unwrap();
    let mut seen: Vec<String> = Vec::new();
    for r in rows {
        let t = r[idx].as_str().unwrap().to_string();
        if !seen.contains(&t) {
            seen.push(t);
        }
    }
    assert_eq!(result["row_count"], rows.len());
    (seen, rows.len())
}

impl Env {
    async fn start() -> Env {
        let emu = spawn(EmulatorConfig::default()).await.unwrap();
        let http = reqwest::Client::new();
        let mut env = Env { emu, http, session: String::new() };
        let props = env.get("/api/session/properties").await.json();
        let token = props["setup-token"].as_str().unwrap().to_string();
        let setup = env
            .send(
                reqwest::Method::POST,
                "/api/setup",
                json!({
                    "token": token,
                    "user": {"email": "admin@example.com", "password": "Tenantbase-2026!",
                             "first_name": "Ada", "last_name": "Admin"},
                    "prefs": {"site_name": "Tenantbase"}
                }),
            )
            .await;
        assert_eq!(setup.status, StatusCode::OK, "setup: {}", setup.text);
        env.session = setup.json()["id"].as_str().unwrap().to_string();
        env.put_ok("/api/setting/enable-embedding-static", json!({"value": true}), 204).await;
        env.put_ok("/api/setting/embedding-secret-key", json!({"value": K}), 204).await;
        env
    }

    async fn get(&self, path: &str) -> Resp {
        let r = self
            .http
            .get(format!("{}{}", self.emu.base_url, path))
            .header("X-Metabase-Session", &self.session)
            .send()
            .await
            .unwrap();
        Resp::read(r).await
    }

    /// An embed request carries no session, like a browser inside the iframe.
    async fn get_anon(&self, path: &str) -> Resp {
        let r = self.http.get(format!("{}{}", self.emu.base_url, path)).send().await.unwrap();
        Resp::read(r).await
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Resp {
        let r = self
            .http
            .request(method, format!("{}{}", self.emu.base_url, path))
            .header("X-Metabase-Session", &self.session)
            .json(&body)
            .send()
            .await
            .unwrap();
        Resp::read(r).await
    }

    async fn put_ok(&self, path: &str, body: Value, status: u16) -> Resp {
        let r = self.send(reqwest::Method::PUT, path, body).await;
        assert_eq!(r.status.as_u16(), status, "PUT {path}: {}", r.text);
        r
    }

    async fn post_ok(&self, path: &str, body: Value) -> Value {
        let r = self.send(reqwest::Method::POST, path, body).await;
        assert_eq!(r.status, StatusCode::OK, "POST {path}: {}", r.text);
        r.json()
    }

    async fn create_card(&self, name: &str, dataset_query: Value) -> i64 {
        let card = self
            .post_ok(
                "/api/card",
                json!({"name": name, "display": "table", "visualization_settings": {},
                       "dataset_query": dataset_query}),
            )
            .await;
        card["id"].as_i64().unwrap()
    }

    /// Creates a dashboard with `parameters` and `dashcards`, enables embedding with `embedding_params`,
    /// and returns its id and the created dashcards (matched by position).
    async fn create_dashboard(
        &self,
        name: &str,
        parameters: Value,
        dashcards: Value,
        embedding_params: Value,
    ) -> (i64, Vec<Value>) {
        let d = self.post_ok("/api/dashboard", json!({"name": name})).await;
        let id = d["id"].as_i64().unwrap();
        let updated = self
            .put_ok(
                &format!("/api/dashboard/{id}"),
                json!({"parameters": parameters, "dashcards": dashcards, "tabs": []}),
                200,
            )
            .await
            .json();
        self.put_ok(
            &format!("/api/dashboard/{id}"),
            json!({"enable_embedding": true, "embedding_params": embedding_params}),
            200,
        )
        .await;
        let mut created = updated["dashcards"].as_array().unwrap().clone();
        created.sort_by_key(|dc| (dc["row"].as_i64(), dc["col"].as_i64()));
        (id, created)
    }
}

fn native(sql: &str, tags: Value) -> Value {
    json!({"database": ANALYTICS_DB, "type": "native", "native": {"query": sql, "template-tags": tags}})
}

fn text_tag(name: &str, required: bool) -> Value {
    json!({"id": format!("tag-{name}"), "name": name, "display-name": name, "type": "text",
           "required": required})
}

/// The §18 fixture: parameters `tenant` (locked), `region` (enabled), `secret` (disabled); one data
/// dashcard whose card filters on `{{tenant}}` (required) and optionally `{{region}}` (the channel),
/// plus a text card showing the tenant.
struct Case18 {
    env: Env,
    dashboard: i64,
    dashcard: i64,
    card: i64,
}

async fn case18() -> Case18 {
    let env = Env::start().await;
    let card = env
        .create_card(
            "Orders",
            native(
                "SELECT * FROM orders WHERE tenant_id = {{tenant}} [[AND channel = {{region}}]] ORDER BY id",
                json!({"tenant": text_tag("tenant", true), "region": text_tag("region", false)}),
            ),
        )
        .await;
    let (dashboard, dashcards) = env
        .create_dashboard(
            "Tenant sales",
            json!([
                {"id": "p-tenant", "name": "Tenant", "slug": "tenant", "type": "string/="},
                {"id": "p-region", "name": "Region", "slug": "region", "type": "string/="},
                {"id": "p-secret", "name": "Secret", "slug": "secret", "type": "string/="}
            ]),
            json!([
                {"id": -1, "card_id": card, "row": 0, "col": 0, "size_x": 12, "size_y": 6,
                 "parameter_mappings": [
                    {"parameter_id": "p-tenant", "card_id": card, "target": ["variable", ["template-tag", "tenant"]]},
                    {"parameter_id": "p-region", "card_id": card, "target": ["variable", ["template-tag", "region"]]}
                 ]},
                {"id": -2, "card_id": null, "row": 6, "col": 0, "size_x": 24, "size_y": 2,
                 "visualization_settings": {"virtual_card": {"display": "text"}, "text": "Orders of {{tenant}}"},
                 "parameter_mappings": [{"parameter_id": "p-tenant", "target": ["text-tag", "tenant"]}]}
            ]),
            json!({"tenant": "locked", "region": "enabled", "secret": "disabled"}),
        )
        .await;
    let dashcard = dashcards[0]["id"].as_i64().unwrap();
    Case18 { env, dashboard, dashcard, card }
}

impl Case18 {
    fn query_path(&self, token: &str, query: &str) -> String {
        format!("/api/embed/dashboard/{token}/dashcard/{}/card/{}{query}", self.dashcard, self.card)
    }
}

// §18 case 1, plus the §15 response shape and text-card substitution.
#[tokio::test]
async fn case01_shell_lists_only_enabled_unsupplied_parameters() {
    let f = case18().await;
    let r =
        f.env.get_anon(&format!("/api/embed/dashboard/{}", dash_token(f.dashboard, json!({"tenant": "acme"})))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.content_type.starts_with("application/json"));
    let body = r.json();
    let slugs: Vec<&str> = body["parameters"].as_array().unwrap().iter().map(|p| p["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, vec!["region"]);
    for hidden in ["collection_id", "enable_embedding", "embedding_params"] {
        assert!(body.get(hidden).is_none(), "{hidden} must not be exposed");
    }
    assert_eq!(body["id"], f.dashboard);
    assert_eq!(body["name"], "Tenant sales");
    let dashcards = body["dashcards"].as_array().unwrap();
    let data = dashcards.iter().find(|d| d["card_id"] == f.card).unwrap();
    let mapped: Vec<&str> =
        data["parameter_mappings"].as_array().unwrap().iter().map(|m| m["parameter_id"].as_str().unwrap()).collect();
    assert_eq!(mapped, vec!["p-region"], "locked mapping must be stripped");
    assert_eq!(data["card"]["id"], f.card);
    assert!(!data["card"].to_string().contains("SELECT"), "SQL must not leak into embeds");
    let text = dashcards.iter().find(|d| d["card_id"].is_null()).unwrap();
    assert_eq!(text["visualization_settings"]["text"], "Orders of acme");
    // A token supplying the enabled param too hides it as well.
    let r = f
        .env
        .get_anon(&format!(
            "/api/embed/dashboard/{}",
            dash_token(f.dashboard, json!({"tenant": "acme", "region": "web"}))
        ))
        .await;
    assert_eq!(r.json()["parameters"], json!([]));
}

// §18 case 2.
#[tokio::test]
async fn case02_other_key_is_corrupt() {
    let f = case18().await;
    let t = sign_with(
        &json!({"alg": "HS256"}),
        &json!({"resource": {"dashboard": f.dashboard}, "params": {"tenant": "a"}}),
        OTHER_KEY,
    );
    f.env.get_anon(&format!("/api/embed/dashboard/{t}")).await.assert_error("Message seems corrupt or manipulated");
    // Another HMAC size under the right key fails the same way.
    let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512"}"#);
    let p = URL_SAFE_NO_PAD.encode(format!(r#"{{"resource":{{"dashboard":{}}},"params":{{}}}}"#, f.dashboard));
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(K.as_bytes()).unwrap();
    mac.update(format!("{h}.{p}").as_bytes());
    let t = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    f.env.get_anon(&format!("/api/embed/dashboard/{t}")).await.assert_error("Message seems corrupt or manipulated");
    // Unsigned (empty signature part).
    let t = format!("{h}.{p}.");
    f.env.get_anon(&format!("/api/embed/dashboard/{t}")).await.assert_error("Message seems corrupt or manipulated");
}

// §18 case 3, and a token that does not look like a JWT at all.
#[tokio::test]
async fn case03_alg_none_and_non_jwt_token() {
    let f = case18().await;
    let t = sign_with(
        &json!({"alg": "none"}),
        &json!({"resource": {"dashboard": f.dashboard}, "params": {"tenant": "a"}}),
        K,
    );
    f.env.get_anon(&format!("/api/embed/dashboard/{t}")).await.assert_error("JWT `alg` cannot be `none`.");
    let t = sign_with(&json!({"typ": "JWT"}), &json!({"resource": {"dashboard": f.dashboard}, "params": {}}), K);
    f.env.get_anon(&format!("/api/embed/dashboard/{t}")).await.assert_error("JWT is missing `alg`.");
    for path in ["/api/embed/dashboard/not-a-jwt", "/api/embed/card/abc.def"] {
        let r = f.env.get_anon(path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.text, "API endpoint does not exist.");
    }
}

// §18 case 4.
#[tokio::test]
async fn case04_expiry_with_sixty_second_leeway() {
    let f = case18().await;
    let with_exp = |exp: Option<i64>| {
        let mut c = json!({"resource": {"dashboard": f.dashboard}, "params": {"tenant": "a"}});
        if let Some(e) = exp {
            c["exp"] = json!(e);
        }
        sign(&c)
    };
    let r = f.env.get_anon(&format!("/api/embed/dashboard/{}", with_exp(Some(now() - 3600)))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.starts_with("Token is expired ("), "{}", r.text);
    for exp in [Some(now() - 30), None] {
        let r = f.env.get_anon(&format!("/api/embed/dashboard/{}", with_exp(exp))).await;
        assert_eq!(r.status, StatusCode::OK, "exp {exp:?}: {}", r.text);
    }
}

// §18 case 5.
#[tokio::test]
async fn case05_params_claim_required() {
    let f = case18().await;
    let t = sign(&json!({"resource": {"dashboard": f.dashboard}}));
    f.env
        .get_anon(&format!("/api/embed/dashboard/{t}"))
        .await
        .assert_error("Token is missing value for keypath [:params]");
}

// §18 case 6.
#[tokio::test]
async fn case06_question_token_on_dashboard_endpoint() {
    let f = case18().await;
    f.env
        .get_anon(&format!("/api/embed/dashboard/{}", card_token(f.card, json!({}))))
        .await
        .assert_error("Token is missing value for keypath [:resource :dashboard]");
    f.env
        .get_anon(&format!("/api/embed/card/{}", dash_token(f.dashboard, json!({}))))
        .await
        .assert_error("Token is missing value for keypath [:resource :question]");
    let t = sign(&json!({"resource": {"dashboard": "8"}, "params": {}}));
    let r = f.env.get_anon(&format!("/api/embed/dashboard/{t}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.starts_with("Invalid input:"), "{}", r.text);
}

// §18 case 7.
#[tokio::test]
async fn case07_global_switch_checked_before_lookup() {
    let f = case18().await;
    f.env.put_ok("/api/setting/enable-embedding-static", json!({"value": false}), 204).await;
    for id in [f.dashboard, 999_999] {
        f.env
            .get_anon(&format!("/api/embed/dashboard/{}", dash_token(id, json!({"tenant": "a"}))))
            .await
            .assert_error("Embedding is not enabled.");
    }
    f.env
        .get_anon(&f.query_path(&dash_token(f.dashboard, json!({"tenant": "acme"})), ""))
        .await
        .assert_error("Embedding is not enabled.");
}

// §18 case 8.
#[tokio::test]
async fn case08_object_switch_and_unknown_id() {
    let f = case18().await;
    f.env
        .get_anon(&format!("/api/embed/dashboard/{}", dash_token(999_999, json!({}))))
        .await
        .assert_error("Not found.");
    f.env.put_ok(&format!("/api/dashboard/{}", f.dashboard), json!({"enable_embedding": false}), 200).await;
    f.env
        .get_anon(&format!("/api/embed/dashboard/{}", dash_token(f.dashboard, json!({"tenant": "a"}))))
        .await
        .assert_error("Embedding is not enabled for this object.");
    // The card itself was never enabled for embedding.
    f.env
        .get_anon(&format!("/api/embed/card/{}", card_token(f.card, json!({}))))
        .await
        .assert_error("Embedding is not enabled for this object.");
}

// §18 case 9, and the isolation property: the locked tenant's rows only.
#[tokio::test]
async fn case09_locked_parameter_rules_and_filtered_rows() {
    let f = case18().await;
    f.env
        .get_anon(&f.query_path(&dash_token(f.dashboard, json!({})), ""))
        .await
        .assert_error("You must specify a value for :tenant in the JWT.");
    f.env
        .get_anon(&f.query_path(&dash_token(f.dashboard, json!({"tenant": ""})), ""))
        .await
        .assert_error("You must specify a value for :tenant in the JWT.");
    f.env
        .get_anon(&f.query_path(&dash_token(f.dashboard, json!({"tenant": "a"})), "?tenant=b"))
        .await
        .assert_error("You can only specify a value for :tenant in the JWT.");
    let body = f.env.get_anon(&f.query_path(&dash_token(f.dashboard, json!({"tenant": "acme"})), "")).await.query();
    assert_eq!(tenants(&body), (vec!["acme".to_string()], ACME_ROWS));
    let body = f.env.get_anon(&f.query_path(&dash_token(f.dashboard, json!({"tenant": "globex"})), "")).await.query();
    assert_eq!(tenants(&body).0, vec!["globex".to_string()]);
    // An enabled parameter from the URL narrows further; the locked value still applies.
    let body =
        f.env.get_anon(&f.query_path(&dash_token(f.dashboard, json!({"tenant": "acme"})), "?region=web")).await.query();
    let (seen, n) = tenants(&body);
    assert_eq!(seen, vec!["acme".to_string()]);
    assert!(n > 0 && n < ACME_ROWS);
    // A dashcard/card pair that does not belong to the dashboard.
    let r = f
        .env
        .get_anon(&format!(
            "/api/embed/dashboard/{}/dashcard/{}/card/{}",
            dash_token(f.dashboard, json!({"tenant": "acme"})),
            f.dashcard,
            f.card + 1000
        ))
        .await;
    r.assert_error("Not found.");
}

// §18 case 10.
#[tokio::test]
async fn case10_enabled_parameter_not_in_both() {
    let f = case18().await;
    f.env
        .get_anon(&f.query_path(&dash_token(f.dashboard, json!({"tenant": "a", "region": "x"})), "?region=y"))
        .await
        .assert_error("You can't specify a value for :region if it's already set in the JWT.");
}

// §18 case 11.
#[tokio::test]
async fn case11_disabled_and_unknown_parameters() {
    let f = case18().await;
    f.env
        .get_anon(&f.query_path(&dash_token(f.dashboard, json!({"tenant": "a", "secret": 1})), ""))
        .await
        .assert_error("You're not allowed to specify a value for :secret.");
    let bogus = dash_token(f.dashboard, json!({"tenant": "a", "bogus": 1}));
    f.env.get_anon(&f.query_path(&bogus, "")).await.assert_error("Unknown parameter :bogus.");
    let r = f.env.get_anon(&format!("/api/embed/dashboard/{bogus}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

// §19.7 case 27: card embedding end to end, parameters synthesised from template tags.
#[tokio::test]
async fn case27_card_embedding_with_locked_tag() {
    let env = Env::start().await;
    let no_display = env
        .send(
            reqwest::Method::POST,
            "/api/card",
            json!({"name": "x", "visualization_settings": {},
                   "dataset_query": native("SELECT 1", json!({}))}),
        )
        .await;
    assert_eq!(no_display.status, StatusCode::BAD_REQUEST);
    assert!(no_display.json()["errors"]["display"].is_string());
    let created = env
        .post_ok(
            "/api/card",
            json!({"name": "Tenant orders", "display": "table", "visualization_settings": {},
                   "dataset_query": native(
                       "SELECT * FROM orders WHERE tenant_id = {{tenant}}",
                       json!({"tenant": text_tag("tenant", true)}))}),
        )
        .await;
    assert_eq!(created["parameters"], json!([]));
    assert_eq!(created["enable_embedding"], false);
    assert!(created["dataset_query"]["stages"][0]["template-tags"]["tenant"].is_object());
    let id = created["id"].as_i64().unwrap();
    env.put_ok(
        &format!("/api/card/{id}"),
        json!({"enable_embedding": true, "embedding_params": {"tenant": "locked"}}),
        200,
    )
    .await;
    let r = env.get_anon(&format!("/api/embed/card/{}", card_token(id, json!({"tenant": "acme"})))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.json();
    assert_eq!(body["parameters"], json!([]));
    assert!(body.get("embedding_params").is_none());
    let body =
        env.get_anon(&format!("/api/embed/card/{}/query", card_token(id, json!({"tenant": "acme"})))).await.query();
    assert_eq!(tenants(&body), (vec!["acme".to_string()], ACME_ROWS));
    env.get_anon(&format!("/api/embed/card/{}/query", card_token(id, json!({}))))
        .await
        .assert_error("You must specify a value for :tenant in the JWT.");
    env.get_anon(&format!("/api/embed/card/{}/query?tenant=globex", card_token(id, json!({"tenant": "acme"}))))
        .await
        .assert_error("You can only specify a value for :tenant in the JWT.");
    // An enabled tag is listed in the shell until the token supplies it.
    env.put_ok(&format!("/api/card/{id}"), json!({"embedding_params": {"tenant": "enabled"}}), 200).await;
    let body = env.get_anon(&format!("/api/embed/card/{}", card_token(id, json!({})))).await.json();
    assert_eq!(body["parameters"][0]["slug"], "tenant");
    assert_eq!(body["parameters"][0]["type"], "category");
    assert_eq!(body["parameters"][0]["target"], json!(["variable", ["template-tag", "tenant"]]));
}

// §19.7 case 29: unmapped cards run unfiltered, and the `[]` footgun.
#[tokio::test]
async fn case29_unmapped_cards_and_empty_array_footgun() {
    let env = Env::start().await;
    let ff = json!({"tenant": {"id": "tag-ff", "name": "tenant", "display-name": "Tenant", "type": "dimension",
        "dimension": ["field", TENANT_ID_FIELD, null], "widget-type": "string/=", "required": false}});
    let a = env.create_card("A", native("SELECT * FROM orders WHERE {{tenant}}", ff)).await;
    let b = env
        .create_card("B", json!({"database": ANALYTICS_DB, "type": "query", "query": {"source-table": ORDERS_TABLE}}))
        .await;
    let c = env
        .create_card(
            "C",
            native("SELECT * FROM orders WHERE tenant_id = {{tenant}}", json!({"tenant": text_tag("tenant", true)})),
        )
        .await;
    // The same MBQL query, but mapped to the tenant column.
    let e = env
        .create_card("E", json!({"database": ANALYTICS_DB, "type": "query", "query": {"source-table": ORDERS_TABLE}}))
        .await;
    let (d, dashcards) = env
        .create_dashboard(
            "Wiring",
            json!([{"id": "p1", "name": "Tenant", "slug": "tenant", "type": "string/="}]),
            json!([
                {"id": -1, "card_id": a, "row": 0, "col": 0, "size_x": 8, "size_y": 4,
                 "parameter_mappings": [{"parameter_id": "p1", "card_id": a,
                                         "target": ["dimension", ["template-tag", "tenant"]]}]},
                {"id": -2, "card_id": b, "row": 0, "col": 8, "size_x": 8, "size_y": 4},
                {"id": -3, "card_id": c, "row": 0, "col": 16, "size_x": 8, "size_y": 4,
                 "parameter_mappings": [{"parameter_id": "p1", "card_id": c,
                                         "target": ["variable", ["template-tag", "tenant"]]}]},
                {"id": -4, "card_id": e, "row": 4, "col": 0, "size_x": 8, "size_y": 4,
                 "parameter_mappings": [{"parameter_id": "p1", "card_id": e,
                                         "target": ["dimension", ["field", TENANT_ID_FIELD, null]]}]}
            ]),
            json!({"tenant": "locked"}),
        )
        .await;
    let dc = |i: usize| dashcards[i]["id"].as_i64().unwrap();
    let path =
        |token: &str, i: usize, card: i64| format!("/api/embed/dashboard/{token}/dashcard/{}/card/{card}", dc(i));
    let acme = dash_token(d, json!({"tenant": "acme"}));
    // B is not mapped: it leaks every tenant's rows.
    let body = env.get_anon(&path(&acme, 1, b)).await.query();
    let (seen, n) = tenants(&body);
    assert_eq!(seen.len(), 3);
    assert_eq!(n, ALL_ROWS);
    // E runs the same MBQL query as B but is mapped to the tenant column: acme only.
    let body = env.get_anon(&path(&acme, 3, e)).await.query();
    assert_eq!(tenants(&body), (vec!["acme".to_string()], ACME_ROWS));
    // A is mapped: acme only.
    let body = env.get_anon(&path(&acme, 0, a)).await.query();
    assert_eq!(tenants(&body), (vec!["acme".to_string()], ACME_ROWS));
    env.get_anon(&path(&dash_token(d, json!({})), 0, a))
        .await
        .assert_error("You must specify a value for :tenant in the JWT.");
    // `[]` passes the locked check, then means "no value".
    let empty = dash_token(d, json!({"tenant": []}));
    let body = env.get_anon(&path(&empty, 0, a)).await.query();
    assert_eq!(tenants(&body).1, ALL_ROWS);
    let body = env.get_anon(&path(&empty, 2, c)).await.query();
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"], "An error occurred while running the query.");
    assert_eq!(body["error_type"], "invalid-query");
    for token in [&acme, &empty, &dash_token(d, json!({}))] {
        let r = env.get_anon(&format!("/api/embed/dashboard/{token}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
}

// The iframe pages: a dashboard page shows only the locked tenant's rows; errors show their text.
#[tokio::test]
async fn embed_pages_render_rows_and_errors() {
    let f = case18().await;
    let r = f.env.get_anon(&format!("/embed/dashboard/{}", dash_token(f.dashboard, json!({"tenant": "acme"})))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type.starts_with("text/html"));
    assert!(r.text.contains("<h1>Tenant sales</h1>"));
    assert!(r.text.contains("<td>acme</td>"));
    assert!(!r.text.contains("globex") && !r.text.contains("initech"));
    let r = f.env.get_anon(&format!("/embed/dashboard/{}", dash_token(f.dashboard, json!({})))).await;
    assert!(r.text.contains("You must specify a value for :tenant in the JWT."));
    let bad = sign_with(&json!({"alg": "HS256"}), &json!({"resource": {"question": f.card}, "params": {}}), OTHER_KEY);
    let r = f.env.get_anon(&format!("/embed/question/{bad}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("Message seems corrupt or manipulated"));
}

// §15 step 2: with the switch on but the secret cleared, every token is refused with the secret message.
#[tokio::test]
async fn secret_not_set_is_reported_before_signature() {
    let f = case18().await;
    f.env.put_ok("/api/setting/embedding-secret-key", json!({"value": null}), 204).await;
    f.env
        .get_anon(&format!("/api/embed/dashboard/{}", dash_token(f.dashboard, json!({"tenant": "a"}))))
        .await
        .assert_error("The embedding secret key has not been set.");
}

// §15 step 5 (0.51+): the resource may be named by its 21-character entity id.
#[tokio::test]
async fn entity_id_resources() {
    let f = case18().await;
    let dashboard = f.env.get(&format!("/api/dashboard/{}", f.dashboard)).await.json();
    let entity_id = dashboard["entity_id"].as_str().unwrap().to_string();
    assert_eq!(entity_id.len(), 21);
    let token = sign(&json!({"resource": {"dashboard": entity_id}, "params": {"tenant": "initech"}}));
    let r = f.env.get_anon(&format!("/api/embed/dashboard/{token}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["id"], f.dashboard);
    let body = f.env.get_anon(&f.query_path(&token, "")).await.query();
    assert_eq!(tenants(&body).0, vec!["initech".to_string()]);
}

/// A database registered through `POST /api/database` runs native queries on its own warehouse
/// (seeded from `templates/analytics.sql`): results carry its `database_id`, the tenant filter
/// applies, and the template tables exist there as in the sample `analytics` database.
#[tokio::test]
async fn registered_database_runs_native_queries_on_its_own_warehouse() {
    let env = Env::start().await;
    let db = env
        .post_ok(
            "/api/database",
            json!({"name": "acme warehouse", "engine": "postgres",
                   "details": {"host": "db.acme.test", "dbname": "acme", "user": "ro", "password": "pw"}}),
        )
        .await;
    let db_id = db["id"].as_i64().unwrap();
    assert_ne!(db_id, ANALYTICS_DB);
    let tags = json!({"tenant_id": {"id": "t1", "name": "tenant_id", "display-name": "Tenant", "type": "text",
                                    "required": true}});
    let sql = "SELECT name, platform, tenant_id FROM campaigns WHERE tenant_id = {{tenant_id}}";
    let card = env
        .create_card(
            "Campaigns",
            json!({"database": db_id, "type": "native", "native": {"query": sql, "template-tags": tags}}),
        )
        .await;
    env.put_ok(
        &format!("/api/card/{card}"),
        json!({"enable_embedding": true, "embedding_params": {"tenant_id": "locked"}}),
        200,
    )
    .await;
    let token = card_token(card, json!({"tenant_id": "acme"}));
    let result = env.get_anon(&format!("/api/embed/card/{token}/query")).await.query();
    assert_eq!(result["database_id"], db_id, "{result}");
    let (seen, rows) = tenants(&result);
    assert_eq!(seen, vec!["acme"]);
    assert!(rows > 0);

    // A card on a database the emulator has no warehouse for (the h2 sample) fails like a query error.
    let sample =
        env.create_card("Sample", json!({"database": 1, "type": "native", "native": {"query": "SELECT 1"}})).await;
    env.put_ok(&format!("/api/card/{sample}"), json!({"enable_embedding": true, "embedding_params": {}}), 200).await;
    let token = card_token(sample, json!({}));
    let failed = env.get_anon(&format!("/api/embed/card/{token}/query")).await.query();
    assert_eq!(failed["status"], "failed", "{failed}");
}
