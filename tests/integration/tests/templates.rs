//! Dashboard templates against the emulator: every template's dashboard runs every card and shows
//! only the tenant's rows through an embed token; templates at workspace creation; upgrades in
//! place and their refusal after a hand edit; the per-workspace database; and the cross-tenant and
//! role matrix of the new routes.

use std::sync::{Arc, Mutex, Once};

use reqwest::Method;
use serde_json::{Value, json};
use tenantbase::deps::Deps;
use tenantbase::templates::{self, Catalog};
use tenantbase::workspaces::Workspace;
use tenantbase_tests::Stack;
use tenantbase_tests::api::{as_operator, as_user, call, sign_up};
use tenantbase_tests::fixtures::{Metabase, SLUG};

const EXECUTIVE: &str = include_str!("../../../templates/executive.json");

/// A bootstrapped stack with alice owning `acme` and bob owning `globex` (tenant keys as named).
struct World {
    stack: Stack,
    alice: String,
    bob: String,
    acme: String,
    globex: String,
}

async fn workspace_for(deps: &Arc<Deps>, tenant: &str, owner: &str, extra: Value) -> Value {
    let mut body = json!({"name": tenant, "tenant_key": tenant, "owner_email": owner});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let reply = as_operator(deps, "POST", "/api/workspaces", body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body
}

/// Everything the functions log in this test binary (down to trace), to check that connection
/// credentials never reach a log line.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber before any stack does (the harness's own `try_init` then
/// leaves it in place).
fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,tenantbase=trace"))
            .with_writer(|| Capture)
            .init();
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

async fn world() -> World {
    capture_logs();
    let stack = Stack::bootstrapped().await;
    let deps = stack.deps.clone();
    let (_, alice) = sign_up(&deps, "alice@acme.test").await;
    let (_, bob) = sign_up(&deps, "bob@globex.test").await;
    let acme = workspace_for(&deps, "acme", "alice@acme.test", json!({})).await["id"].as_str().unwrap().to_owned();
    let globex = workspace_for(&deps, "globex", "bob@globex.test", json!({})).await["id"].as_str().unwrap().to_owned();
    World { stack, alice, bob, acme, globex }
}

async fn stored(deps: &Arc<Deps>, id: &str) -> Workspace {
    tenantbase::workspaces::get(&deps.store, id.parse().unwrap()).await.unwrap().unwrap()
}

async fn create(deps: &Arc<Deps>, token: &str, workspace: &str, body: Value) -> tenantbase_tests::api::Reply {
    as_user(deps, token, "POST", &format!("/api/workspaces/{workspace}/dashboards"), Some(body)).await
}

/// Mints an embed for a dashboard record and runs every dashcard; returns each card's row count
/// (every row checked to be `tenant`'s).
async fn embed_rows(deps: &Arc<Deps>, mb: &Metabase, token: &str, record_id: &str, tenant: &str) -> Vec<usize> {
    let minted = as_user(deps, token, "GET", &format!("/api/workspaces/dashboards/{record_id}/embed"), None).await;
    assert_eq!(minted.status, 200, "{:?}", minted.body);
    mb.shell_rows(minted.body["token"].as_str().unwrap(), tenant).await
}

/// The database ids the cards of a dashboard query.
async fn card_databases(mb: &Metabase, dashboard: u64) -> Vec<u64> {
    let detail = mb.admin(Method::GET, &format!("/api/dashboard/{dashboard}"), Value::Null).await;
    detail["dashcards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dc| dc["card"]["dataset_query"]["database"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn every_template_creates_a_dashboard_whose_cards_run_for_the_tenant_only() {
    let w = world().await;
    let deps = &w.stack.deps;
    let mb = Metabase::of(&w.stack).await;

    let listed = as_user(deps, &w.alice, "GET", "/api/templates", None).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let names: Vec<&str> = listed.body.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["executive", "operational", "analytical"]);
    let mut charts: Vec<String> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["charts"].as_array().unwrap().iter().map(|c| c["display"].as_str().unwrap().to_owned()))
        .collect();
    charts.sort();
    charts.dedup();
    assert_eq!(charts, ["bar", "funnel", "line", "pie", "scalar", "scatter", "table"]);
    assert!(
        listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["version"].as_u64() >= Some(1) && t["description"].is_string())
    );
    assert_eq!(call(deps, "GET", "/api/templates", &[], None).await.status, 401);

    for (token, workspace, tenant) in [(&w.alice, &w.acme, "acme"), (&w.bob, &w.globex, "globex")] {
        for template in ["executive", "operational", "analytical"] {
            let reply = create(deps, token, workspace, json!({"template": template})).await;
            assert_eq!(reply.status, 201, "{template}: {:?}", reply.body);
            assert_eq!(reply.body["status"], "embeddable", "{template}: {:?}", reply.body);
            assert_eq!(reply.body["template"], json!({"name": template, "version": 1}));
            assert_eq!(reply.body["workspace_id"], workspace.as_str());
            assert!(reply.body["parameters"].as_array().unwrap().iter().any(|p| p["slug"] == SLUG));
            let rows = embed_rows(deps, &mb, token, reply.body["id"].as_str().unwrap(), tenant).await;
            assert_eq!(rows.len(), 3, "{template}: one dashcard per card");
            assert!(rows.iter().all(|n| *n > 0), "{template}: every card returns rows for {tenant}: {rows:?}");
            let dashboard = reply.body["metabase_dashboard_id"].as_u64().unwrap();
            let detail = mb.admin(Method::GET, &format!("/api/dashboard/{dashboard}"), Value::Null).await;
            assert_eq!(detail["collection_id"], stored(deps, workspace).await.metabase_collection_id.unwrap().0);
            let tabs = detail["tabs"].as_array().unwrap().len();
            assert_eq!(tabs, if template == "executive" { 2 } else { 0 }, "{template}");
        }
    }

    // The listing shows where each dashboard came from; a name can be chosen.
    let named = create(deps, &w.alice, &w.acme, json!({"template": "operational", "name": "Ops room"})).await;
    assert_eq!((named.status, named.body["name"].as_str()), (201, Some("Ops room")));
    let listed = as_user(deps, &w.alice, "GET", &format!("/api/workspaces/{}/dashboards", w.acme), None).await;
    let from_templates = listed.body.as_array().unwrap().iter().filter(|d| d["template"]["version"] == 1).count();
    assert_eq!(from_templates, 4);

    // Bad input: JSON 400, nothing created.
    let before = mb.admin(Method::GET, "/api/dashboard/", Value::Null).await.as_array().unwrap().len();
    for (body, code) in [
        (json!({"template": "nope"}), "unknown_template"),
        (json!({}), "missing_field"),
        (json!({"template": 7}), "invalid_field"),
        (json!({"template": "executive", "name": " "}), "invalid_name"),
        (json!({"template": "executive", "collection_id": 1}), "invalid_field"),
    ] {
        let reply = create(deps, &w.alice, &w.acme, body.clone()).await;
        assert_eq!((reply.status, reply.body["error"].as_str()), (400, Some(code)), "{body}");
    }
    let after = mb.admin(Method::GET, "/api/dashboard/", Value::Null).await.as_array().unwrap().len();
    assert_eq!(before, after);
}

async fn create_workspace(deps: &Arc<Deps>, token: &str, key: &str, body: &Value) -> tenantbase_tests::api::Reply {
    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json"), ("idempotency-key", key)];
    call(deps, "POST", "/api/workspaces", &headers, Some(&body.to_string())).await
}

#[tokio::test]
async fn templates_at_workspace_creation_are_created_once() {
    capture_logs();
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, carol) = sign_up(deps, "carol@initech.test").await;
    let body = json!({"name": "Initech", "templates": ["executive", "analytical", "executive"]});
    let first = create_workspace(deps, &carol, "initech-1", &body).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let dashboards = first.body["dashboards"].as_array().unwrap().clone();
    let made: Vec<(&str, &str)> =
        dashboards.iter().map(|d| (d["template"]["name"].as_str().unwrap(), d["status"].as_str().unwrap())).collect();
    assert_eq!(made, [("executive", "embeddable"), ("analytical", "embeddable")]);

    let replay = create_workspace(deps, &carol, "initech-1", &body).await;
    assert_eq!(replay.status, 201, "{:?}", replay.body);
    assert_eq!(replay.body["id"], first.body["id"]);
    let ids = |v: &Value| v["dashboards"].as_array().unwrap().iter().map(|d| d["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&replay.body), ids(&first.body), "a replay creates nothing new");
    let id = first.body["id"].as_str().unwrap();
    let listed = as_user(deps, &carol, "GET", &format!("/api/workspaces/{id}/dashboards"), None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2);

    // An unknown template refuses the whole request before anything exists.
    let workspaces = as_user(deps, &carol, "GET", "/api/workspaces", None).await.body.as_array().unwrap().len();
    for bad in
        [json!({"name": "X", "templates": ["executive", "nope"]}), json!({"name": "X", "templates": "executive"})]
    {
        let reply = as_user(deps, &carol, "POST", "/api/workspaces", Some(bad.clone())).await;
        assert_eq!(reply.status, 400, "{bad}: {:?}", reply.body);
    }
    assert_eq!(as_user(deps, &carol, "GET", "/api/workspaces", None).await.body.as_array().unwrap().len(), workspaces);
}

/// The executive spec at `version`, with the revenue query changed and a card added.
fn executive_v2(version: u32) -> String {
    let mut spec: Value = serde_json::from_str(EXECUTIVE).unwrap();
    spec["version"] = json!(version);
    spec["cards"][0]["sql"] = json!(
        "SELECT ROUND(SUM(amount), 2) AS revenue, ROUND(AVG(amount), 2) AS average_order, tenant_id\n\
         FROM orders WHERE tenant_id = {{tenant_id}} GROUP BY tenant_id"
    );
    let mut by_channel = spec["cards"][1].clone();
    by_channel["key"] = json!("orders_by_channel");
    by_channel["name"] = json!("Orders by channel");
    by_channel["display"] = json!("bar");
    by_channel["sql"] = json!(
        "SELECT channel, COUNT(*) AS orders, tenant_id FROM orders WHERE tenant_id = {{tenant_id}} \
         GROUP BY tenant_id, channel"
    );
    by_channel["layout"] = json!({"row": 10, "col": 0, "size_x": 24, "size_y": 6});
    spec["cards"].as_array_mut().unwrap().push(by_channel);
    spec.to_string()
}

#[tokio::test]
async fn upgrade_keeps_the_dashboard_and_refuses_after_a_hand_edit() {
    let w = world().await;
    let deps = &w.stack.deps;
    let mb = Metabase::of(&w.stack).await;
    let created = create(deps, &w.alice, &w.acme, json!({"template": "executive"})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let record_id = created.body["id"].as_str().unwrap().to_owned();
    let dashboard = created.body["metabase_dashboard_id"].as_u64().unwrap();
    let before = mb.admin(Method::GET, &format!("/api/dashboard/{dashboard}"), Value::Null).await;
    let revenue_card =
        before["dashcards"].as_array().unwrap().iter().find(|dc| dc["card"]["display"] == "scalar").unwrap()["card_id"]
            .as_u64()
            .unwrap();
    let minted = as_user(deps, &w.alice, "GET", &format!("/api/workspaces/dashboards/{record_id}/embed"), None).await;
    let old_jwt = minted.body["token"].as_str().unwrap().to_owned();

    // The shipped version is the newest: nothing to upgrade (by record id or Metabase id).
    for id in [record_id.clone(), dashboard.to_string()] {
        let path = format!("/api/workspaces/{}/dashboards/{id}/upgrade", w.acme);
        let reply = as_user(deps, &w.alice, "POST", &path, None).await;
        assert_eq!((reply.status, reply.body["error"].as_str()), (409, Some("up_to_date")), "{:?}", reply.body);
    }

    // Version 2 in place: same dashboard, the revenue card updated, a card added, still tenant-safe.
    let v2 = executive_v2(2);
    let catalog = Catalog::from_sources(&[("executive.json", &v2)], SLUG).unwrap();
    let workspace = stored(deps, &w.acme).await;
    let upgraded = templates::upgrade(deps, &catalog, &workspace, dashboard).await.expect("upgrade to v2");
    let upgraded = serde_json::to_value(&upgraded).unwrap();
    assert_eq!(upgraded["metabase_dashboard_id"], dashboard);
    assert_eq!(upgraded["id"], record_id.as_str());
    assert_eq!(upgraded["template"], json!({"name": "executive", "version": 2}));
    assert_eq!(upgraded["status"], "embeddable");
    let after = mb.admin(Method::GET, &format!("/api/dashboard/{dashboard}"), Value::Null).await;
    assert_eq!(after["dashcards"].as_array().unwrap().len(), 4);
    let card = mb.admin(Method::GET, &format!("/api/card/{revenue_card}"), Value::Null).await;
    assert!(card["dataset_query"].to_string().contains("average_order"), "{card}");
    let tab_ids = |d: &Value| d["tabs"].as_array().unwrap().iter().map(|t| t["id"].clone()).collect::<Vec<_>>();
    assert_eq!(tab_ids(&after), tab_ids(&before), "tabs kept");
    let rows = embed_rows(deps, &mb, &w.alice, &record_id, "acme").await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|n| *n > 0), "{rows:?}");
    // An embed minted before the upgrade still opens the same dashboard.
    let (status, shell) = mb.embed(&format!("/api/embed/dashboard/{old_jwt}")).await;
    assert_eq!(status, 200, "{shell}");
    // A repeat is refused as up to date; the stored record says version 2.
    let again = templates::upgrade(deps, &catalog, &workspace, dashboard).await.unwrap_err();
    assert_eq!(again.code(), "up_to_date");
    let record = templates::get(&deps.store, workspace.id, dashboard).await.unwrap().unwrap();
    assert_eq!((record.version, record.cards.len(), record.upgrading_to), (2, 4, None));

    // A hand edit in Metabase (a card's query) blocks the next upgrade, and changes nothing.
    mb.admin(Method::PUT, &format!("/api/card/{revenue_card}"), json!({"name": "Revenue (our own)"})).await;
    let v3 = executive_v2(3);
    let catalog = Catalog::from_sources(&[("executive.json", &v3)], SLUG).unwrap();
    let refused = templates::upgrade(deps, &catalog, &workspace, dashboard).await.unwrap_err();
    assert_eq!(refused.code(), "edited_by_hand", "{refused}");
    assert_eq!(refused.status().as_u16(), 409);
    let kept = mb.admin(Method::GET, &format!("/api/card/{revenue_card}"), Value::Null).await;
    assert_eq!(kept["name"], "Revenue (our own)");
    let record = templates::get(&deps.store, workspace.id, dashboard).await.unwrap().unwrap();
    assert_eq!(record.version, 2);

    // A layout edit on another template dashboard is caught the same way.
    let other = create(deps, &w.alice, &w.acme, json!({"template": "executive"})).await;
    let other_id = other.body["metabase_dashboard_id"].as_u64().unwrap();
    mb.admin(Method::PUT, &format!("/api/dashboard/{other_id}"), json!({"name": "Renamed by hand"})).await;
    let refused = templates::upgrade(deps, &catalog, &workspace, other_id).await.unwrap_err();
    assert_eq!(refused.code(), "edited_by_hand");
}

#[tokio::test]
async fn a_broken_spec_is_rejected_naming_the_card() {
    let mut spec: Value = serde_json::from_str(EXECUTIVE).unwrap();
    spec["cards"][2]["sql"] = json!("SELECT * FROM customers");
    let text = spec.to_string();
    let error = Catalog::from_sources(&[("executive.json", &text)], SLUG).unwrap_err().to_string();
    assert!(error.contains("card \"acquisition_trend\"") && error.contains("tenant filter"), "{error}");
    // The shipped specs are valid for the configured slug.
    assert_eq!(Catalog::builtin(SLUG).unwrap().specs().len(), 3);
}

#[tokio::test]
async fn a_workspace_database_is_registered_and_used() {
    let w = world().await;
    let deps = &w.stack.deps;
    let mb = Metabase::of(&w.stack).await;
    let path = format!("/api/workspaces/{}/database", w.acme);
    let databases =
        || async { mb.admin(Method::GET, "/api/database", Value::Null).await["data"].as_array().unwrap().len() };
    let count = databases().await;

    // Bad input: JSON 400, nothing registered, the password never echoed.
    for (body, code) in [
        (json!({"engine": "postgres", "name": "Acme"}), "missing_field"),
        (json!({"engine": "h2", "name": "Acme", "details": {"db": "file:/metabase.db"}}), "invalid_engine"),
        (
            json!({"engine": "postgres", "name": "Acme", "details": {"dbname": "acme", "password": "pw-Secret-1"}}),
            "connection_failed",
        ),
        (json!({"engine": "postgres", "name": "Acme", "details": ["x"]}), "invalid_details"),
    ] {
        let reply = as_user(deps, &w.alice, "POST", &path, Some(body.clone())).await;
        assert_eq!((reply.status, reply.body["error"].as_str()), (400, Some(code)), "{body}: {:?}", reply.body);
        assert!(!reply.body.to_string().contains("pw-Secret-1"));
    }
    assert_eq!(databases().await, count);

    let body = json!({"engine": "postgres", "name": "Acme warehouse",
                      "details": {"host": "db.acme.test", "dbname": "acme", "user": "ro", "password": "pw-Secret-1"}});
    let registered = as_user(deps, &w.alice, "POST", &path, Some(body.clone())).await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    assert!(!registered.body.to_string().contains("pw-Secret-1") && registered.body.get("details").is_none());
    let db = registered.body["metabase_database_id"].as_u64().unwrap();
    assert_ne!(db, 2);
    assert_eq!(databases().await, count + 1);
    // Idempotent: the same request again is the same database; another one is refused.
    let replay = as_user(deps, &w.alice, "POST", &path, Some(body)).await;
    assert_eq!((replay.status, replay.body["metabase_database_id"].as_u64()), (200, Some(db)));
    let other = json!({"engine": "postgres", "name": "Second", "details": {"host": "h", "dbname": "d"}});
    let refused = as_user(deps, &w.alice, "POST", &path, Some(other)).await;
    assert_eq!((refused.status, refused.body["error"].as_str()), (409, Some("database_exists")));
    assert_eq!(databases().await, count + 1);
    // The record keeps no credentials.
    let record = tenantbase::templates::database::get(&deps.store, w.acme.parse().unwrap()).await.unwrap().unwrap();
    assert!(!format!("{record:?}").contains("pw-Secret-1"));

    // All Users may not query it; the workspace's group may.
    let graph = mb.admin(Method::GET, "/api/permissions/graph", Value::Null).await;
    let cell = |group: u64| graph["groups"][group.to_string()][db.to_string()]["create-queries"].clone();
    assert!(cell(1).is_null() || cell(1) == "no", "All Users: {}", graph["groups"]["1"]);
    let group = stored(deps, &w.acme).await.metabase_group_id.unwrap().0;
    assert_eq!(cell(group), "query-builder-and-native");

    // Template dashboards of the workspace now query it, and still show only the tenant's rows.
    let created = create(deps, &w.alice, &w.acme, json!({"template": "analytical"})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let dashboard = created.body["metabase_dashboard_id"].as_u64().unwrap();
    assert_eq!(card_databases(&mb, dashboard).await, [db, db, db]);
    let minted = as_user(
        deps,
        &w.alice,
        "GET",
        &format!("/api/workspaces/dashboards/{}/embed", created.body["id"].as_str().unwrap()),
        None,
    )
    .await;
    let jwt = minted.body["token"].as_str().unwrap();
    let (_, shell) = mb.embed(&format!("/api/embed/dashboard/{jwt}")).await;
    let shell: Value = serde_json::from_str(&shell).unwrap();
    for dc in shell["dashcards"].as_array().unwrap() {
        let (status, text) =
            mb.embed(&format!("/api/embed/dashboard/{jwt}/dashcard/{}/card/{}", dc["id"], dc["card_id"])).await;
        assert!(tenantbase_tests::fixtures::tenant_rows(status, &text, "acme") > 0);
        let result: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(result["database_id"], db, "ran on the workspace's database");
    }
    // The password reached Metabase and no log line.
    let logged = logs();
    assert!(logged.contains("workspace database registered"), "the capture works");
    assert!(!logged.contains("pw-Secret-1"), "a connection password was logged");
    // Another workspace's templates still use the shared analytics database.
    let theirs = create(deps, &w.bob, &w.globex, json!({"template": "analytical"})).await;
    assert_eq!(card_databases(&mb, theirs.body["metabase_dashboard_id"].as_u64().unwrap()).await, [2, 2, 2]);
}

#[tokio::test]
async fn template_routes_refuse_other_tenants_and_small_roles() {
    let w = world().await;
    let deps = &w.stack.deps;
    let (_, vic) = sign_up(deps, "vic@acme.test").await;
    let (_, ed) = sign_up(deps, "ed@acme.test").await;
    let members = format!("/api/workspaces/{}/members", w.acme);
    for (email, role) in [("vic@acme.test", "viewer"), ("ed@acme.test", "editor")] {
        let added = as_user(deps, &w.alice, "POST", &members, Some(json!({"email": email, "role": role}))).await;
        assert_eq!(added.status, 201, "{:?}", added.body);
    }
    let created = create(deps, &w.alice, &w.acme, json!({"template": "operational"})).await;
    let record_id = created.body["id"].as_str().unwrap().to_owned();
    let dashboard = created.body["metabase_dashboard_id"].as_u64().unwrap();
    let upgrade = format!("/api/workspaces/{}/dashboards/{dashboard}/upgrade", w.acme);
    let database = format!("/api/workspaces/{}/database", w.acme);
    let db_body = json!({"engine": "postgres", "name": "Mine", "details": {"host": "h", "dbname": "d"}});

    // Another tenant's owner: 404 on every new route naming A's workspace.
    for (path, body) in [
        (format!("/api/workspaces/{}/dashboards", w.acme), Some(json!({"template": "executive"}))),
        (upgrade.clone(), None),
        (database.clone(), Some(db_body.clone())),
    ] {
        let reply = as_user(deps, &w.bob, "POST", &path, body).await;
        assert_eq!((reply.status, reply.body["error"].as_str()), (404, Some("not_found")), "{path}");
    }
    // Nor can B reach A's dashboard through B's own workspace, by Metabase id or record id.
    for id in [dashboard.to_string(), record_id.clone()] {
        let path = format!("/api/workspaces/{}/dashboards/{id}/upgrade", w.globex);
        let reply = as_user(deps, &w.bob, "POST", &path, None).await;
        assert_eq!(reply.status, 404, "{path}: {:?}", reply.body);
    }
    // A's viewer: 403 on all three; A's editor may create and upgrade, not register a database.
    for (path, body) in [
        (format!("/api/workspaces/{}/dashboards", w.acme), Some(json!({"template": "executive"}))),
        (upgrade.clone(), None),
        (database.clone(), Some(db_body.clone())),
    ] {
        let reply = as_user(deps, &vic, "POST", &path, body).await;
        assert_eq!((reply.status, reply.body["error"].as_str()), (403, Some("forbidden")), "{path}");
    }
    let by_editor = create(deps, &ed, &w.acme, json!({"template": "executive"})).await;
    assert_eq!(by_editor.status, 201, "{:?}", by_editor.body);
    assert_eq!(as_user(deps, &ed, "POST", &upgrade, None).await.status, 409);
    assert_eq!(as_user(deps, &ed, "POST", &database, Some(db_body)).await.status, 403);
    // A dashboard made by hand is not a template dashboard.
    let path = format!("/api/workspaces/{}/dashboards/999999/upgrade", w.acme);
    assert_eq!(as_user(deps, &w.alice, "POST", &path, None).await.status, 404);
    // Nothing of A's leaked into B's list.
    let theirs = as_user(deps, &w.bob, "GET", &format!("/api/workspaces/{}/dashboards", w.globex), None).await;
    assert_eq!(theirs.body.as_array().unwrap().len(), 0, "{:?}", theirs.body);
}

#[tokio::test]
async fn an_interrupted_upgrade_resumes_instead_of_reporting_a_hand_edit() {
    let w = world().await;
    let deps = &w.stack.deps;
    let mb = Metabase::of(&w.stack).await;
    let created = create(deps, &w.alice, &w.acme, json!({"template": "executive"})).await;
    let dashboard = created.body["metabase_dashboard_id"].as_u64().unwrap();
    let workspace = stored(deps, &w.acme).await;
    let v2 = executive_v2(2);
    let catalog = Catalog::from_sources(&[("executive.json", &v2)], SLUG).unwrap();

    // Metabase fails the layout PUT (past the client's retries): the cards are already updated.
    let http = reqwest::Client::new();
    let fault = json!({"path": format!("/api/dashboard/{dashboard}"), "method": "PUT", "status": 503, "count": 50});
    assert!(
        http.post(w.stack.emulator_url("/__emulator/faults")).json(&fault).send().await.unwrap().status().is_success()
    );
    let failed = templates::upgrade(deps, &catalog, &workspace, dashboard).await.unwrap_err();
    assert_eq!(failed.status().as_u16(), 503, "{failed}");
    http.delete(w.stack.emulator_url("/__emulator/faults")).send().await.unwrap();
    let record = templates::get(&deps.store, workspace.id, dashboard).await.unwrap().unwrap();
    assert_eq!((record.version, record.upgrading_to), (1, Some(2)));
    let half = mb.admin(Method::GET, &format!("/api/dashboard/{dashboard}"), Value::Null).await;
    assert_ne!(templates::fingerprint(&half), record.fingerprint, "our own half-written change");

    // The retry finishes the upgrade rather than taking our own change for a hand edit.
    let done = templates::upgrade(deps, &catalog, &workspace, dashboard).await.expect("the retry resumes");
    assert_eq!(serde_json::to_value(&done).unwrap()["template"]["version"], 2);
    let record = templates::get(&deps.store, workspace.id, dashboard).await.unwrap().unwrap();
    assert_eq!((record.version, record.upgrading_to, record.cards.len()), (2, None, 4));
    let after = mb.admin(Method::GET, &format!("/api/dashboard/{dashboard}"), Value::Null).await;
    assert_eq!(after["dashcards"].as_array().unwrap().len(), 4, "the card made before the failure was not made twice");
    let cards = mb.admin(Method::GET, "/api/card/", Value::Null).await;
    let by_channel = cards.as_array().unwrap().iter().filter(|c| c["name"] == "Orders by channel").count();
    assert_eq!(by_channel, 1);
    let rows = embed_rows(deps, &mb, &w.alice, created.body["id"].as_str().unwrap(), "acme").await;
    assert!(rows.len() == 4 && rows.iter().all(|n| *n > 0), "{rows:?}");
}

#[tokio::test]
async fn a_failed_creation_leaves_nothing_behind_and_the_retry_makes_one_dashboard() {
    let w = world().await;
    let deps = &w.stack.deps;
    let mb = Metabase::of(&w.stack).await;
    let http = reqwest::Client::new();
    // The cards and the empty dashboard are made; wiring them (the PUT) fails past the retries.
    // The client tries a PUT 4 times (shared/src/metabase/client.rs); the 5th PUT, archiving, goes through.
    let fault = json!({"path": "/api/dashboard/*", "method": "PUT", "status": 503, "count": 4});
    assert!(
        http.post(w.stack.emulator_url("/__emulator/faults")).json(&fault).send().await.unwrap().status().is_success()
    );
    let failed = create(deps, &w.alice, &w.acme, json!({"template": "operational"})).await;
    assert_eq!(failed.status, 503, "{:?}", failed.body);
    http.delete(w.stack.emulator_url("/__emulator/faults")).send().await.unwrap();
    let live_dashboards = mb.admin(Method::GET, "/api/dashboard/", Value::Null).await;
    assert_eq!(live_dashboards.as_array().unwrap().len(), 0, "the unfinished dashboard is archived: {live_dashboards}");
    let live_cards = mb.admin(Method::GET, "/api/card/", Value::Null).await;
    assert_eq!(live_cards.as_array().unwrap().len(), 0, "its cards are archived: {live_cards}");

    let retried = create(deps, &w.alice, &w.acme, json!({"template": "operational"})).await;
    assert_eq!(retried.status, 201, "{:?}", retried.body);
    let listed = as_user(deps, &w.alice, "GET", &format!("/api/workspaces/{}/dashboards", w.acme), None).await;
    let listed = listed.body.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["status"], "embeddable");
}
