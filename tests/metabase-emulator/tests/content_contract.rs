//! Contract tests for dashboards, cards, listings and search over real HTTP: §18 case 17, §19.7 cases
//! 21–30 (27 and 29 on the card/dashboard side), permission-filtered listings, the dashcard/tab diff, copies and `updated_at`.
//!
//! State is built only through the emulator's Metabase API (setup → session → collections …).

mod common;

use common::Resp;
use metabase_emulator::{EmulatorConfig, RunningEmulator, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "Tenantbase-2026!";
const ANALYTICS_DB: i64 = 2;

impl Resp {
    /// 200 JSON body.
    fn ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text);
        assert!(self.content_type.starts_with("application/json"), "{}", self.content_type);
        self.json()
    }

    /// A plain-text error with exactly this status and body (§1).
    fn assert_text(&self, status: u16, body: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.text, body);
        assert!(self.content_type.starts_with("text/plain"), "{}", self.content_type);
    }

    /// A 400 JSON `{"errors": {key: …}}`.
    fn assert_field_error(&self, key: &str) -> Value {
        assert_eq!(self.status, StatusCode::BAD_REQUEST, "body: {}", self.text);
        assert!(self.content_type.starts_with("application/json"), "{}", self.content_type);
        let body = self.json();
        assert!(body["errors"][key].is_string(), "no errors.{key}: {body}");
        body
    }
}

struct Env {
    emu: RunningEmulator,
    http: reqwest::Client,
    /// The admin's session.
    admin: String,
    admin_id: i64,
}

impl Env {
    async fn start() -> Env {
        let emu = spawn(EmulatorConfig::default()).await.unwrap();
        let mut env = Env { emu, http: reqwest::Client::new(), admin: String::new(), admin_id: 0 };
        let props = env.call(None, Method::GET, "/api/session/properties", None).await.ok();
        let token = props["setup-token"].as_str().unwrap().to_string();
        let setup = env
            .call(
                None,
                Method::POST,
                "/api/setup",
                Some(json!({
                    "token": token,
                    "user": {"email": "admin@example.com", "password": PASSWORD,
                             "first_name": "Ada", "last_name": "Admin"},
                    "prefs": {"site_name": "Tenantbase"}
                })),
            )
            .await
            .ok();
        env.admin = setup["id"].as_str().unwrap().to_string();
        env.admin_id = env.get("/api/user/current").await.ok()["id"].as_i64().unwrap();
        env
    }

    async fn call(&self, session: Option<&str>, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.emu.base_url));
        if let Some(s) = session {
            req = req.header("X-Metabase-Session", s);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::read(req.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> Resp {
        self.call(Some(&self.admin), Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Some(&self.admin), Method::POST, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Some(&self.admin), Method::PUT, path, Some(body)).await
    }

    async fn set_static_embedding(&self, on: bool) {
        let r = self.put("/api/setting/enable-embedding-static", json!({"value": on})).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "body: {}", r.text);
    }

    async fn collection(&self, name: &str, parent: Option<i64>) -> i64 {
        self.post("/api/collection", json!({"name": name, "parent_id": parent})).await.ok()["id"].as_i64().unwrap()
    }

    async fn dashboard(&self, name: &str, collection: Option<i64>) -> Value {
        self.post("/api/dashboard", json!({"name": name, "collection_id": collection})).await.ok()
    }

    /// A native card with a required text tag `tenant`, sent in the legacy shape.
    async fn native_card(&self, name: &str, collection: Option<i64>, extra: Value) -> Value {
        let mut body = json!({
            "name": name,
            "collection_id": collection,
            "display": "table",
            "visualization_settings": {},
            "dataset_query": legacy_native_query(),
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.post("/api/card", body).await.ok()
    }

    /// A non-admin user with a session; `groups` are extra group memberships.
    async fn user(&self, email: &str, groups: &[i64]) -> (i64, String) {
        let user =
            self.post("/api/user", json!({"email": email, "first_name": "Nora", "last_name": "Nonadmin"})).await.ok();
        let id = user["id"].as_i64().unwrap();
        self.put(&format!("/api/user/{id}/password"), json!({"password": PASSWORD})).await.ok();
        for g in groups {
            self.post("/api/permissions/membership", json!({"group_id": g, "user_id": id})).await.ok();
        }
        let session = self
            .call(None, Method::POST, "/api/session", Some(json!({"username": email, "password": PASSWORD})))
            .await
            .ok()["id"]
            .as_str()
            .unwrap()
            .to_string();
        (id, session)
    }

    async fn group(&self, name: &str) -> i64 {
        self.post("/api/permissions/group", json!({"name": name})).await.ok()["id"].as_i64().unwrap()
    }

    /// Replace collection permissions: `cells` = (group, collection key, "read"|"write"|"none").
    async fn set_perms(&self, cells: &[(i64, &str, &str)]) {
        let mut groups = serde_json::Map::new();
        for (g, c, a) in cells {
            let entry = groups.entry(g.to_string()).or_insert_with(|| json!({}));
            entry[*c] = json!(a);
        }
        let r = self.put("/api/collection/graph?force=true", json!({"revision": 0, "groups": groups})).await;
        assert_eq!(r.status, StatusCode::OK, "graph: {}", r.text);
    }

    /// Collections C1 and C2 closed to All Users, and a new group `name` that reads C1 only;
    /// returns (C1, C2, the group).
    async fn readers_of_c1_only(&self, name: &str) -> (i64, i64, i64) {
        let c1 = self.collection("C1", None).await;
        let c2 = self.collection("C2", None).await;
        let g = self.group(name).await;
        self.set_perms(&[
            (1, "root", "none"),
            (1, &c1.to_string(), "none"),
            (1, &c2.to_string(), "none"),
            (g, &c1.to_string(), "read"),
        ])
        .await;
        (c1, c2, g)
    }
}

fn legacy_native_query() -> Value {
    json!({
        "database": ANALYTICS_DB,
        "type": "native",
        "native": {
            "query": "SELECT * FROM orders WHERE tenant_id = {{tenant}}",
            "template-tags": {"tenant": {"id": "3f1c2b7a-0000-4000-8000-000000000001", "name": "tenant",
                               "display-name": "Tenant", "type": "text", "required": true}}
        }
    })
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array().unwrap().iter().map(|v| v["id"].as_i64().unwrap()).collect()
}

fn data_ids(page: &Value, model: &str) -> Vec<i64> {
    page["data"].as_array().unwrap().iter().filter(|v| v["model"] == model).map(|v| v["id"].as_i64().unwrap()).collect()
}

/// §18 case 17: embedding changes check the global switch first, then superuser; no PATCH route.
#[tokio::test]
async fn case17_embedding_change_order_and_no_patch() {
    let env = Env::start().await;
    let d = env.dashboard("Tenant dashboard", None).await["id"].as_i64().unwrap();
    let (_, nora) = env.user("nora@example.com", &[]).await;
    let path = format!("/api/dashboard/{d}");

    env.set_static_embedding(true).await;
    env.put(&path, json!({"enable_embedding": true, "embedding_params": {"tenant": "locked"}})).await.ok();
    env.set_static_embedding(false).await;
    for session in [&env.admin, &nora] {
        env.call(Some(session), Method::PUT, &path, Some(json!({"enable_embedding": false})))
            .await
            .assert_text(400, "Embedding is not enabled.");
    }
    // Re-sending identical values is not a change: any writer may do it, even with embedding off.
    let same = env
        .call(
            Some(&nora),
            Method::PUT,
            &path,
            Some(json!({"enable_embedding": true, "embedding_params": {"tenant": "locked"}, "name": "Renamed"})),
        )
        .await
        .ok();
    assert_eq!(same["name"], "Renamed");

    env.set_static_embedding(true).await;
    env.call(Some(&nora), Method::PUT, &path, Some(json!({"enable_embedding": false})))
        .await
        .assert_text(403, "You don't have permissions to do that.");
    let off = env.put(&path, json!({"enable_embedding": false})).await.ok();
    assert_eq!(off["enable_embedding"], false);
    assert_eq!(off["embedding_params"], json!({"tenant": "locked"}));

    let bad = env.put(&path, json!({"embedding_params": {"tenant": "sometimes"}})).await;
    let body = bad.assert_field_error("embedding_params");
    assert_eq!(body["errors"]["embedding_params"], "nullable value must be a valid embedding params map.");

    let patch = env.call(Some(&env.admin), Method::PATCH, &path, Some(json!({"name": "x"}))).await;
    patch.assert_text(404, "API endpoint does not exist.");
    env.call(None, Method::PATCH, &path, Some(json!({"name": "x"}))).await.assert_text(401, "Unauthenticated");
    // Removed and deprecated dashcard routes (§19.4).
    let cards = format!("{path}/cards");
    env.call(Some(&env.admin), Method::POST, &cards, Some(json!({"cardId": 1})))
        .await
        .assert_text(404, "API endpoint does not exist.");
    env.call(Some(&env.admin), Method::DELETE, &cards, None).await.assert_text(404, "API endpoint does not exist.");
}

/// §19.7 case 21: search finds a new dashboard; with the indexing delay only the DB-backed listings do.
#[tokio::test]
async fn case21_search_and_index_delay() {
    let env = Env::start().await;
    let c = env.collection("Acme", None).await;
    let d = env.dashboard("Acme Sales", Some(c)).await["id"].as_i64().unwrap();
    let found = env.get("/api/search?q=acme&models=dashboard").await.ok();
    assert_eq!(found["total"], 1);
    assert_eq!(found["limit"], Value::Null);
    assert_eq!(found["offset"], Value::Null);
    assert_eq!(found["models"], json!(["dashboard"]));
    let item = &found["data"][0];
    assert_eq!(item["model"], "dashboard");
    assert_eq!(item["id"], d);
    assert_eq!(item["name"], "Acme Sales");
    assert_eq!(item["collection"]["id"], c);
    assert_eq!(item["archived"], false);
    for absent in ["parameters", "embedding_params", "dashcards"] {
        assert!(item.get(absent).is_none(), "{absent} in search item");
    }

    let knob = env.post("/__emulator/version", json!({"search_index_delay_ms": 60_000})).await;
    assert_eq!(knob.status, StatusCode::OK, "{}", knob.text);
    let late = env.dashboard("Acme Later", Some(c)).await["id"].as_i64().unwrap();
    let search = env.get("/api/search?q=acme%20later&models=dashboard").await.ok();
    assert_eq!(search["total"], 0);
    assert!(ids(&env.get("/api/dashboard/").await.ok()).contains(&late));
    let items = env.get(&format!("/api/collection/{c}/items")).await.ok();
    assert!(data_ids(&items, "dashboard").contains(&late));
}

/// §19.7 case 22: the 1000 cap is applied before paging and `total` is the capped count.
#[tokio::test]
async fn case22_search_cap() {
    let env = Env::start().await;
    for i in 0..1005 {
        env.dashboard(&format!("Bulk {i:04}"), None).await;
    }
    let all = env.get("/api/search?models=dashboard").await.ok();
    assert_eq!(all["total"], 1000);
    assert_eq!(all["data"].as_array().unwrap().len(), 1000);
    let page = env.get("/api/search?models=dashboard&limit=50&offset=980").await.ok();
    assert_eq!(page["data"].as_array().unwrap().len(), 20);
    assert_eq!(page["limit"], 50);
    assert_eq!(page["offset"], 980);
    assert_eq!(page["total"], 1000);
    assert_eq!(env.get("/api/dashboard/").await.ok().as_array().unwrap().len(), 1005);
}

/// §19.7 case 23: search is permission filtered; personal collections; archived; bad models.
#[tokio::test]
async fn case23_search_permissions() {
    let env = Env::start().await;
    let (c1, c2, g) = env.readers_of_c1_only("Tenant A").await;
    let (nora_id, nora) = env.user("nora@example.com", &[g]).await;
    let nora_personal =
        env.call(Some(&nora), Method::GET, "/api/user/current", None).await.ok()["personal_collection_id"]
            .as_i64()
            .unwrap();
    let admin_personal = env.get("/api/user/current").await.ok()["personal_collection_id"].as_i64().unwrap();
    let d1 = env.dashboard("Report one", Some(c1)).await["id"].as_i64().unwrap();
    let d2 = env.dashboard("Report two", Some(c2)).await["id"].as_i64().unwrap();
    let dn = env
        .call(
            Some(&nora),
            Method::POST,
            "/api/dashboard",
            Some(json!({"name": "Report mine", "collection_id": nora_personal})),
        )
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let da = env.dashboard("Report admin", Some(admin_personal)).await["id"].as_i64().unwrap();
    assert!(nora_id > 0);

    let nora_hits = env.call(Some(&nora), Method::GET, "/api/search?q=report&models=dashboard", None).await.ok();
    let mut seen = data_ids(&nora_hits, "dashboard");
    seen.sort_unstable();
    assert_eq!(seen, vec![d1, dn]);
    assert_eq!(nora_hits["total"], 2);

    let admin_hits = env.get("/api/search?q=report&models=dashboard").await.ok();
    let mut seen = data_ids(&admin_hits, "dashboard");
    seen.sort_unstable();
    assert_eq!(seen, vec![d1, d2, dn, da]);
    let excluded =
        env.get("/api/search?q=report&models=dashboard&filter_items_in_personal_collection=exclude-others").await.ok();
    let mut seen = data_ids(&excluded, "dashboard");
    seen.sort_unstable();
    assert_eq!(seen, vec![d1, d2, da]);

    env.put(&format!("/api/dashboard/{d2}"), json!({"archived": true})).await.ok();
    let trashed = env.get("/api/search?q=report&models=dashboard&archived=true").await.ok();
    assert_eq!(data_ids(&trashed, "dashboard"), vec![d2]);
    assert_eq!(trashed["data"][0]["archived"], true);
    env.get("/api/search?models=bogus").await.assert_field_error("models");
    env.get("/api/search?ids=1").await.assert_text(400, "Filtering by ids work only when you ask for a single model");
    let by_id = env.get(&format!("/api/search?models=dashboard&ids={d1}")).await.ok();
    assert_eq!(data_ids(&by_id, "dashboard"), vec![d1]);
}

/// §19.7 case 24: dashboard questions are hidden from search and items unless asked for.
#[tokio::test]
async fn case24_dashboard_questions() {
    let env = Env::start().await;
    let c = env.collection("Tenant", None).await;
    let d = env.dashboard("Tenant board", Some(c)).await["id"].as_i64().unwrap();
    let k = env.native_card("Tenant orders", None, json!({"dashboard_id": d})).await;
    let k_id = k["id"].as_i64().unwrap();
    assert_eq!(k["dashboard_id"], d);
    assert_eq!(k["collection_id"], c, "collection forced to the dashboard's");
    let board = env.get(&format!("/api/dashboard/{d}")).await.ok();
    assert_eq!(board["dashcards"][0]["card_id"], k_id, "auto-placed");

    let hidden = env.get("/api/search?q=tenant%20orders&models=card").await.ok();
    assert_eq!(hidden["total"], 0);
    let shown = env.get("/api/search?q=tenant%20orders&models=card&include_dashboard_questions=true").await.ok();
    assert_eq!(shown["total"], 1);
    let item = &shown["data"][0];
    assert_eq!(item["id"], k_id);
    assert_eq!(item["dashboard"], json!({"id": d, "name": "Tenant board", "moderation_status": null}));
    assert!(item.get("dashboard_id").is_none());

    let items = env.get(&format!("/api/collection/{c}/items?models=card")).await.ok();
    assert_eq!(items["total"], 0);
    assert_eq!(items["models"], json!(["card"]));
    let items = env.get(&format!("/api/collection/{c}/items?models=card&show_dashboard_questions=true")).await.ok();
    assert_eq!(data_ids(&items, "card"), vec![k_id]);
    assert_eq!(items["data"][0]["dashboard_id"], d);
    // `GET /api/card/` includes dashboard questions.
    assert!(ids(&env.get("/api/card/").await.ok()).contains(&k_id));
    // A dashboard question cannot be placed on another dashboard.
    let other = env.dashboard("Other", Some(c)).await["id"].as_i64().unwrap();
    let r = env
        .put(
            &format!("/api/dashboard/{other}"),
            json!({"dashcards": [{"id": -1, "card_id": k_id,
            "row": 0, "col": 0, "size_x": 4, "size_y": 4}], "tabs": []}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // Shallow copies cannot share dashboard questions (§14).
    env.post(&format!("/api/dashboard/{d}/copy"), json!({"collection_id": c}))
        .await
        .assert_text(400, "You cannot do a shallow copy of this dashboard because it contains Dashboard Questions.");
    // Dashboard questions are trashed and restored with their dashboard.
    env.put(&format!("/api/dashboard/{d}"), json!({"archived": true})).await.ok();
    assert_eq!(env.get(&format!("/api/card/{k_id}")).await.ok()["archived"], true);
    env.put(&format!("/api/dashboard/{d}"), json!({"archived": false})).await.ok();
    assert_eq!(env.get(&format!("/api/card/{k_id}")).await.ok()["archived"], false);
}

/// §19.7 case 25: `GET /api/dashboard/` shape, order and filters.
#[tokio::test]
async fn case25_dashboard_listing() {
    let env = Env::start().await;
    let c = env.collection("Listing", None).await;
    let b = env.dashboard("beta", Some(c)).await["id"].as_i64().unwrap();
    let a = env.dashboard("Alpha", None).await["id"].as_i64().unwrap();
    let z = env.dashboard("zulu", None).await["id"].as_i64().unwrap();
    env.put(&format!("/api/dashboard/{z}"), json!({"archived": true})).await.ok();
    let (_, nora) = env.user("nora@example.com", &[]).await;
    let mine = env
        .call(Some(&nora), Method::POST, "/api/dashboard", Some(json!({"name": "Gamma", "collection_id": null})))
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();

    let list = env.get("/api/dashboard/").await.ok();
    assert_eq!(ids(&list), vec![a, b, mine]);
    let first = &list[0];
    for key in ["collection_id", "parameters", "enable_embedding", "embedding_params", "creator", "last-edit-info"] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }
    assert!(first.get("dashcards").is_none());
    assert_eq!(first["creator"]["email"], "admin@example.com");
    assert_eq!(list[1]["collection_id"], c);
    assert_eq!(ids(&env.get("/api/dashboard/?f=archived").await.ok()), vec![z]);
    let nora_mine = env.call(Some(&nora), Method::GET, "/api/dashboard/?f=mine", None).await.ok();
    assert_eq!(ids(&nora_mine), vec![mine]);
    env.get("/api/dashboard/?f=bad").await.assert_field_error("f");

    // An archived dashboard is still readable and says so.
    let archived = env.get(&format!("/api/dashboard/{z}")).await.ok();
    assert_eq!(archived["archived"], true);
}

/// §19.7 case 26: `GET /api/collection/` and the tree.
#[tokio::test]
async fn case26_collection_listing_and_tree() {
    let env = Env::start().await;
    let top = env.collection("Top", None).await;
    let child = env.collection("Child", Some(top)).await;
    env.native_card("In child", Some(child), json!({})).await;
    env.dashboard("Board in top", Some(top)).await;
    let (nora_id, _) = env.user("nora@example.com", &[]).await;

    let list = env.get("/api/collection/").await.ok();
    assert_eq!(list[0]["id"], "root");
    assert_eq!(list[0]["name"], "Our analytics");
    let listed = list.as_array().unwrap();
    assert!(listed.iter().any(|c| c["id"] == top));
    assert!(listed.iter().any(|c| c["personal_owner_id"] == nora_id), "admin sees others' personal collections");
    let trimmed = env.get("/api/collection/?exclude-other-user-collections=true").await.ok();
    let trimmed = trimmed.as_array().unwrap();
    assert!(!trimmed.iter().any(|c| c["personal_owner_id"] == nora_id));
    assert!(trimmed.iter().any(|c| c["personal_owner_id"] == env.admin_id));

    let tree = env.get("/api/collection/tree?exclude-other-user-collections=true").await.ok();
    let top_node = tree.as_array().unwrap().iter().find(|n| n["id"] == top).unwrap().clone();
    assert_eq!(top_node["children"][0]["id"], child);
    assert_eq!(top_node["children"][0]["here"], json!(["card"]));
    assert_eq!(top_node["below"], json!(["card"]));
    assert_eq!(top_node["here"], json!([]), "dashboards never appear in here/below");
    assert!(!tree.to_string().contains("\"dashboard\""));
}

/// §19.7 case 27 (card side): legacy native body → MBQL 5, validation, embedding PUT.
#[tokio::test]
async fn case27_card_create_and_embedding() {
    let env = Env::start().await;
    let card = env.native_card("Orders by tenant", None, json!({})).await;
    let k = card["id"].as_i64().unwrap();
    assert_eq!(card["parameters"], json!([]));
    assert_eq!(card["enable_embedding"], false);
    assert_eq!(card["embedding_params"], Value::Null);
    assert_eq!(card["dataset_query"]["lib/type"], "mbql/query");
    assert_eq!(card["dataset_query"]["database"], ANALYTICS_DB);
    let stage = &card["dataset_query"]["stages"][0];
    assert_eq!(stage["lib/type"], "mbql.stage/native");
    assert_eq!(stage["native"], "SELECT * FROM orders WHERE tenant_id = {{tenant}}");
    assert_eq!(stage["template-tags"]["tenant"]["type"], "text");
    assert_eq!(card["database_id"], ANALYTICS_DB);
    assert_eq!(card["query_type"], "native");

    let missing = env
        .post(
            "/api/card",
            json!({"name": "No display", "dataset_query": legacy_native_query(),
                                   "visualization_settings": {}}),
        )
        .await;
    let body = missing.assert_field_error("display");
    assert!(body["errors"].get("name").is_none());

    let legacy = env.get(&format!("/api/card/{k}?legacy-mbql=true")).await.ok();
    assert_eq!(legacy["dataset_query"], legacy_native_query());

    env.set_static_embedding(true).await;
    let (_, nora) = env.user("nora@example.com", &[]).await;
    let embed = json!({"enable_embedding": true, "embedding_params": {"tenant": "locked"}});
    env.call(Some(&nora), Method::PUT, &format!("/api/card/{k}"), Some(embed.clone()))
        .await
        .assert_text(403, "You don't have permissions to do that.");
    let updated = env.put(&format!("/api/card/{k}"), embed).await.ok();
    assert_eq!(updated["enable_embedding"], true);
    assert_eq!(updated["embedding_params"], json!({"tenant": "locked"}));
    let embeddable = env.get("/api/card/embeddable").await.ok();
    assert_eq!(embeddable, json!([{"id": k, "name": "Orders by tenant"}]));
    env.get("/api/card/999999").await.assert_text(404, "Not found.");
}

fn wiring_body(k: i64) -> Value {
    json!({
        "parameters": [{"id": "p1", "name": "Tenant", "slug": "tenant", "type": "string/="}],
        "dashcards": [
            {"id": -1, "card_id": k, "row": 0, "col": 0, "size_x": 12, "size_y": 6,
             "parameter_mappings": [{"parameter_id": "p1", "card_id": k,
                                     "target": ["variable", ["template-tag", "tenant"]]}]},
            {"id": -2, "card_id": null, "row": 6, "col": 0, "size_x": 24, "size_y": 2,
             "visualization_settings": {"virtual_card": {"display": "text"}, "text": "Hi"}}
        ],
        "tabs": []
    })
}

/// §19.7 case 28: wiring parameters and dashcards in one PUT, plus the error cases.
#[tokio::test]
async fn case28_dashcard_wiring() {
    let env = Env::start().await;
    let k = env.native_card("Orders", None, json!({})).await["id"].as_i64().unwrap();
    let d = env.dashboard("Wired", None).await["id"].as_i64().unwrap();
    let path = format!("/api/dashboard/{d}");

    let wired = env.put(&path, wiring_body(k)).await.ok();
    let dashcards = wired["dashcards"].as_array().unwrap();
    assert_eq!(dashcards.len(), 2);
    assert!(dashcards.iter().all(|dc| dc["id"].as_i64().unwrap() > 0));
    let data = dashcards.iter().find(|dc| dc["card_id"] == k).unwrap();
    assert_eq!(data["parameter_mappings"][0]["parameter_id"], "p1");
    assert_eq!(data["card"]["dataset_query"]["stages"][0]["template-tags"]["tenant"]["name"], "tenant");
    assert_eq!(data["dashboard_tab_id"], Value::Null);
    assert_eq!(wired["parameters"][0]["slug"], "tenant");
    assert_eq!(wired["tabs"], json!([]));
    let fetched = env.get(&path).await.ok();
    assert_eq!(fetched["dashcards"], wired["dashcards"]);

    let mut no_size = wiring_body(k);
    no_size["dashcards"][0].as_object_mut().unwrap().remove("size_x");
    env.put(&path, no_size).await.assert_field_error("dashcards");
    let mut unknown = wiring_body(k);
    unknown["dashcards"][0]["card_id"] = json!(999_999);
    env.put(&path, unknown).await.assert_text(404, "Not found.");

    let trashed = env.native_card("Trashed", None, json!({})).await["id"].as_i64().unwrap();
    env.put(&format!("/api/card/{trashed}"), json!({"archived": true})).await.ok();
    let mut archived = wiring_body(k);
    archived["dashcards"][0]["card_id"] = json!(trashed);
    let r = env.put(&path, archived).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.content_type.starts_with("application/json"));
    assert_eq!(r.json(), json!({"message": "The object has been archived.", "error_code": "archived"}));
    // Failed PUTs change nothing.
    assert_eq!(env.get(&path).await.ok()["dashcards"], wired["dashcards"]);

    let cleared = env.put(&path, json!({"dashcards": [], "tabs": []})).await.ok();
    assert_eq!(cleared["dashcards"], json!([]));
    assert_eq!(cleared["parameters"][0]["id"], "p1", "parameters untouched when absent");
    env.post(&format!("{path}/cards"), json!({"cardId": k})).await.assert_text(404, "API endpoint does not exist.");
}

/// The complete-set diff: update and delete by omission, tabs with negative ids, the tab rule.
#[tokio::test]
async fn dashcard_and_tab_diff() {
    let env = Env::start().await;
    let k = env.native_card("Orders", None, json!({})).await["id"].as_i64().unwrap();
    let k2 = env.native_card("Orders 2", None, json!({})).await["id"].as_i64().unwrap();
    let d = env.dashboard("Diff", None).await["id"].as_i64().unwrap();
    let path = format!("/api/dashboard/{d}");
    let first = env.put(&path, wiring_body(k)).await.ok();
    let data_id =
        first["dashcards"].as_array().unwrap().iter().find(|dc| dc["card_id"] == k).unwrap()["id"].as_i64().unwrap();

    // Update the data card in place, drop the text card, add another card.
    let next = env
        .put(
            &path,
            json!({"dashcards": [
            {"id": data_id, "card_id": k, "row": 2, "col": 0, "size_x": 6, "size_y": 4},
            {"id": -5, "card_id": k2, "row": 0, "col": 6, "size_x": 6, "size_y": 4}
        ], "tabs": []}),
        )
        .await
        .ok();
    let cards = next["dashcards"].as_array().unwrap();
    assert_eq!(cards.len(), 2);
    let kept = cards.iter().find(|dc| dc["id"] == data_id).unwrap();
    assert_eq!(kept["row"], 2);
    assert_eq!(kept["size_x"], 6);
    assert_eq!(kept["parameter_mappings"][0]["parameter_id"], "p1", "mappings kept when not sent");
    assert!(cards.iter().any(|dc| dc["card_id"] == k2));

    // Tabs alone do not touch the layout (only `dashcards` does).
    let untouched = env.put(&path, json!({"tabs": [{"id": -1, "name": "Ignored"}]})).await.ok();
    assert_eq!(untouched["tabs"], json!([]));
    assert_eq!(untouched["dashcards"].as_array().unwrap().len(), 2);
    // One tab: cards without a tab land on it.
    let single = env
        .put(
            &path,
            json!({"dashcards": [{"id": data_id, "card_id": k, "row": 0, "col": 0, "size_x": 6, "size_y": 4}],
                           "tabs": [{"id": -1, "name": "Only"}]}),
        )
        .await
        .ok();
    assert_eq!(single["dashcards"][0]["dashboard_tab_id"], single["tabs"][0]["id"]);
    // Two tabs: every card needs a tab.
    let r = env
        .put(
            &path,
            json!({"dashcards": [{"id": data_id, "card_id": k, "row": 0, "col": 0, "size_x": 6, "size_y": 4}],
                           "tabs": [{"id": -1, "name": "One"}, {"id": -2, "name": "Two"}]}),
        )
        .await;
    r.assert_text(400, "This dashboard has tab, makes sure every card has a tab");
    let tabbed = env
        .put(
            &path,
            json!({"dashcards": [
            {"id": data_id, "card_id": k, "row": 0, "col": 0, "size_x": 6, "size_y": 4, "dashboard_tab_id": -1},
            {"id": -3, "card_id": k2, "row": 0, "col": 0, "size_x": 6, "size_y": 4, "dashboard_tab_id": -2}
        ], "tabs": [{"id": -1, "name": "One"}, {"id": -2, "name": "Two"}]}),
        )
        .await
        .ok();
    let tabs = tabbed["tabs"].as_array().unwrap();
    assert_eq!(tabs.len(), 2);
    assert_eq!(tabs[0]["name"], "One");
    let tab_one = tabs[0]["id"].as_i64().unwrap();
    let tab_two = tabs[1]["id"].as_i64().unwrap();
    assert!(tab_one > 0 && tab_two > 0);
    let on_two = tabbed["dashcards"].as_array().unwrap().iter().find(|dc| dc["card_id"] == k2).unwrap().clone();
    assert_eq!(on_two["dashboard_tab_id"], tab_two);

    // Deprecated PUT …/cards: same diff, `{cards, tabs}` shape; deleting tab two removes its card.
    let via_cards = env
        .put(
            &format!("{path}/cards"),
            json!({"cards": [
            {"id": data_id, "card_id": k, "row": 0, "col": 0, "size_x": 6, "size_y": 4, "dashboard_tab_id": tab_one}
        ], "tabs": [{"id": tab_one, "name": "Renamed"}]}),
        )
        .await
        .ok();
    assert_eq!(via_cards["tabs"].as_array().unwrap().len(), 1);
    assert_eq!(via_cards["tabs"][0]["name"], "Renamed");
    assert_eq!(ids(&via_cards["cards"]), vec![data_id]);
}

/// §19.7 case 30 plus the shallow variant: copies keep wiring, drop embedding, land where asked.
#[tokio::test]
async fn case30_copy_deep_and_shallow() {
    let env = Env::start().await;
    let c1 = env.collection("Source", None).await;
    let c2 = env.collection("Target", None).await;
    let k = env.native_card("Orders", Some(c1), json!({})).await["id"].as_i64().unwrap();
    let d = env.dashboard("Original", Some(c1)).await["id"].as_i64().unwrap();
    env.put(&format!("/api/dashboard/{d}"), wiring_body(k)).await.ok();
    env.set_static_embedding(true).await;
    env.put(
        &format!("/api/dashboard/{d}"),
        json!({"enable_embedding": true, "embedding_params": {"tenant": "locked"}}),
    )
    .await
    .ok();

    let copy =
        env.post(&format!("/api/dashboard/{d}/copy"), json!({"collection_id": c2, "is_deep_copy": true})).await.ok();
    let copy_id = copy["id"].as_i64().unwrap();
    assert_ne!(copy_id, d);
    assert_eq!(copy["collection_id"], c2);
    assert_eq!(copy["enable_embedding"], false);
    assert_eq!(copy["embedding_params"], Value::Null);
    assert_eq!(copy["parameters"][0]["id"], "p1");
    assert_eq!(copy["parameters"][0]["slug"], "tenant");
    assert!(copy.get("dashcards").is_none());

    let full = env.get(&format!("/api/dashboard/{copy_id}")).await.ok();
    let cards = full["dashcards"].as_array().unwrap();
    assert_eq!(cards.len(), 2);
    let data = cards.iter().find(|dc| !dc["card_id"].is_null()).unwrap();
    let new_card = data["card_id"].as_i64().unwrap();
    assert_ne!(new_card, k);
    assert_eq!(data["card"]["collection_id"], c2);
    assert_eq!(data["card"]["name"], "Orders", "different collection: no suffix");
    assert_eq!(data["parameter_mappings"][0]["card_id"], new_card);
    assert_eq!(data["parameter_mappings"][0]["parameter_id"], "p1");
    assert!(cards.iter().any(|dc| dc["visualization_settings"]["text"] == "Hi"));

    let rooted = env.post(&format!("/api/dashboard/{d}/copy"), json!({"is_deep_copy": true})).await.ok();
    assert_eq!(rooted["collection_id"], Value::Null);

    // Deep copy into the same collection suffixes card names.
    let same =
        env.post(&format!("/api/dashboard/{d}/copy"), json!({"collection_id": c1, "is_deep_copy": true})).await.ok();
    let same_full = env.get(&format!("/api/dashboard/{}", same["id"])).await.ok();
    let dup = same_full["dashcards"].as_array().unwrap().iter().find(|dc| !dc["card_id"].is_null()).unwrap().clone();
    assert_eq!(dup["card"]["name"], "Orders - Duplicate");

    // Shallow copy references the same card.
    let shallow = env.post(&format!("/api/dashboard/{d}/copy"), json!({"collection_id": c2})).await.ok();
    let shallow_full = env.get(&format!("/api/dashboard/{}", shallow["id"])).await.ok();
    let same_card =
        shallow_full["dashcards"].as_array().unwrap().iter().find(|dc| !dc["card_id"].is_null()).unwrap().clone();
    assert_eq!(same_card["card_id"], k);
    assert_eq!(same_card["parameter_mappings"][0]["card_id"], k);
}

/// A non-admin with read on C1 only sees C1's content in every listing; C2 is 403.
#[tokio::test]
async fn permission_filtered_listings() {
    let env = Env::start().await;
    let (c1, c2, g) = env.readers_of_c1_only("Readers").await;
    let d1 = env.dashboard("One", Some(c1)).await["id"].as_i64().unwrap();
    let d2 = env.dashboard("Two", Some(c2)).await["id"].as_i64().unwrap();
    let k1 = env.native_card("Card one", Some(c1), json!({})).await["id"].as_i64().unwrap();
    let k2 = env.native_card("Card two", Some(c2), json!({})).await["id"].as_i64().unwrap();
    // A C1 dashboard showing a C2 card: the card is reduced to `{id}` for C1 readers.
    env.put(
        &format!("/api/dashboard/{d1}"),
        json!({"dashcards": [
        {"id": -1, "card_id": k2, "row": 0, "col": 0, "size_x": 4, "size_y": 4}], "tabs": []}),
    )
    .await
    .ok();
    let (_, nora) = env.user("nora@example.com", &[g]).await;
    let as_nora = |path: String| {
        let env = &env;
        let nora = nora.clone();
        async move { env.call(Some(&nora), Method::GET, &path, None).await }
    };

    assert_eq!(ids(&as_nora("/api/dashboard/".into()).await.ok()), vec![d1]);
    assert_eq!(ids(&as_nora("/api/card/".into()).await.ok()), vec![k1]);
    let colls = as_nora("/api/collection/".into()).await.ok();
    let coll_ids: Vec<Value> = colls.as_array().unwrap().iter().map(|c| c["id"].clone()).collect();
    assert!(coll_ids.contains(&json!(c1)));
    assert!(!coll_ids.contains(&json!(c2)));
    let items = as_nora(format!("/api/collection/{c1}/items")).await.ok();
    assert_eq!(data_ids(&items, "dashboard"), vec![d1]);
    assert_eq!(data_ids(&items, "card"), vec![k1]);
    assert_eq!(items["data"][0]["can_write"], false);
    as_nora(format!("/api/collection/{c2}/items")).await.assert_text(403, "You don't have permissions to do that.");
    as_nora("/api/collection/999999/items".into()).await.assert_text(404, "Not found.");
    as_nora(format!("/api/dashboard/{d2}")).await.assert_text(403, "You don't have permissions to do that.");
    let board = as_nora(format!("/api/dashboard/{d1}")).await.ok();
    assert_eq!(board["dashcards"][0]["card"], json!({"id": k2}));
    assert_eq!(board["can_write"], false);
    let write =
        env.call(Some(&nora), Method::PUT, &format!("/api/dashboard/{d1}"), Some(json!({"name": "Nope"}))).await;
    write.assert_text(403, "You don't have permissions to do that.");
    env.call(Some(&nora), Method::POST, "/api/dashboard", Some(json!({"name": "x", "collection_id": c1})))
        .await
        .assert_text(403, "You don't have permissions to do that.");
}

/// Collection items: paging per §1, sorting, model filters and the response envelope.
#[tokio::test]
async fn collection_items_paging_and_sorting() {
    let env = Env::start().await;
    let c = env.collection("Items", None).await;
    let sub = env.collection("A sub", Some(c)).await;
    let d = env.dashboard("b board", Some(c)).await["id"].as_i64().unwrap();
    let k = env.native_card("C card", Some(c), json!({})).await["id"].as_i64().unwrap();
    let all = env.get(&format!("/api/collection/{c}/items")).await.ok();
    assert_eq!(all["total"], 3);
    assert_eq!(all["limit"], Value::Null);
    assert_eq!(all["offset"], Value::Null);
    let order: Vec<i64> = all["data"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(order, vec![sub, d, k]);
    let desc = env.get(&format!("/api/collection/{c}/items?sort_column=name&sort_direction=desc")).await.ok();
    assert_eq!(desc["data"][0]["id"], k);
    let page = env.get(&format!("/api/collection/{c}/items?limit=1&offset=1")).await.ok();
    assert_eq!(page["total"], 3);
    assert_eq!(page["limit"], 1);
    assert_eq!(page["offset"], 1);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], d);
    let two = env.get(&format!("/api/collection/{c}/items?models=dashboard&models=card")).await.ok();
    assert_eq!(two["total"], 2);
    assert_eq!(two["models"], json!(["dashboard", "card"]));
    env.get(&format!("/api/collection/{c}/items?models=nope")).await.assert_field_error("models");
    let card_item = &two["data"].as_array().unwrap().iter().find(|i| i["model"] == "card").unwrap().clone();
    assert_eq!(card_item["display"], "table");
    assert_eq!(card_item["database_id"], ANALYTICS_DB);
    assert_eq!(card_item["last-edit-info"]["email"], "admin@example.com");
    let root = env.get("/api/collection/root/items?models=collection").await.ok();
    assert!(data_ids(&root, "collection").contains(&c));
}

/// Every change bumps `updated_at`; reads never do.
#[tokio::test]
async fn updated_at_changes_on_put_only() {
    let env = Env::start().await;
    let d = env.dashboard("Clocked", None).await;
    let id = d["id"].as_i64().unwrap();
    let path = format!("/api/dashboard/{id}");
    let before = d["updated_at"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(env.get(&path).await.ok()["updated_at"], before.as_str());
    let listed = env.get("/api/dashboard/").await.ok();
    assert_eq!(listed[0]["updated_at"], before.as_str());
    let after = env.put(&path, json!({"description": "now described"})).await.ok();
    let after = after["updated_at"].as_str().unwrap().to_string();
    assert_ne!(after, before);

    let card = env.native_card("Clocked card", None, json!({})).await;
    let k = card["id"].as_i64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let renamed = env.put(&format!("/api/card/{k}"), json!({"name": "Renamed card"})).await.ok();
    assert_ne!(renamed["updated_at"], card["updated_at"]);
    assert_eq!(env.get(&format!("/api/card/{k}")).await.ok()["updated_at"], renamed["updated_at"]);
}

/// §19.7 case 29 (card/dashboard side): a locked tenant slug with one mapped native card and one
/// unmapped MBQL card, as the embed tests consume it; plus the embeddable listing.
#[tokio::test]
async fn case29_locked_dashboard_wiring() {
    let env = Env::start().await;
    let a = env.native_card("Mapped", None, json!({})).await["id"].as_i64().unwrap();
    let b = env
        .post(
            "/api/card",
            json!({"name": "Unmapped", "display": "table", "visualization_settings": {},
            "dataset_query": {"database": ANALYTICS_DB, "type": "query", "query": {"source-table": 10}}}),
        )
        .await
        .ok();
    let b_id = b["id"].as_i64().unwrap();
    assert_eq!(b["dataset_query"]["stages"][0]["lib/type"], "mbql.stage/mbql");
    assert_eq!(b["dataset_query"]["stages"][0]["source-table"], 10);
    assert_eq!(b["query_type"], "query");
    assert_eq!(b["table_id"], 10);
    let legacy = env.get(&format!("/api/card/{b_id}?legacy-mbql=true")).await.ok();
    assert_eq!(
        legacy["dataset_query"],
        json!({"database": ANALYTICS_DB, "type": "query", "query": {"source-table": 10}})
    );

    let d = env.dashboard("Locked", None).await["id"].as_i64().unwrap();
    let path = format!("/api/dashboard/{d}");
    let mut body = wiring_body(a);
    body["dashcards"][1] = json!({"id": -2, "card_id": b_id, "row": 6, "col": 0, "size_x": 12, "size_y": 6});
    env.put(&path, body).await.ok();

    env.get("/api/dashboard/embeddable").await.assert_text(400, "Embedding is not enabled.");
    env.set_static_embedding(true).await;
    let embedded =
        env.put(&path, json!({"enable_embedding": true, "embedding_params": {"tenant": "locked"}})).await.ok();
    assert_eq!(embedded["embedding_params"], json!({"tenant": "locked"}));
    let cards = embedded["dashcards"].as_array().unwrap();
    let mapped = cards.iter().find(|dc| dc["card_id"] == a).unwrap();
    assert_eq!(
        mapped["parameter_mappings"],
        json!([{"parameter_id": "p1", "card_id": a, "target": ["variable", ["template-tag", "tenant"]]}])
    );
    let unmapped = cards.iter().find(|dc| dc["card_id"] == b_id).unwrap();
    assert_eq!(unmapped["parameter_mappings"], json!([]));
    assert_eq!(env.get("/api/dashboard/embeddable").await.ok(), json!([{"id": d, "name": "Locked"}]));
    let (_, nora) = env.user("nora@example.com", &[]).await;
    env.call(Some(&nora), Method::GET, "/api/dashboard/embeddable", None)
        .await
        .assert_text(403, "You don't have permissions to do that.");
}
