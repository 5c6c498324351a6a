//! The discovery function against moto and the Metabase emulator: listing routes that sync first,
//! the isolation lint's verdicts applied in Metabase, cross-tenant isolation, removal, revocation,
//! change events, and the sweep's steady-state cost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tenantbase::deps::Deps;
use tenantbase::discovery::{sweep, sync_workspace};
use tenantbase::ids::{MetabaseCollectionId, UserId, WorkspaceId};
use tenantbase::items::{self, ItemKind, ItemRef};
use tenantbase::signer::{Appearance, EmbedRequest, EmbedResource, EmbedSigner};
use tenantbase::workspaces::{self, Status, Workspace};
use tenantbase_tests::Stack;
use tenantbase_tests::api::{as_operator, as_user, call, sign_up};
use tenantbase_tests::fixtures::{
    SLUG, dashcard, map_tenant, native, orders_table, rows_of, tenant_column, tenant_parameter, text_tag, variable,
};

/// Metabase's admin API as the tests build content through it (the key bootstrap stored).
struct Metabase {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Metabase {
    async fn admin(stack: &Stack) -> Self {
        let secrets = stack.deps.secrets.get().await.expect("secret");
        Self {
            http: reqwest::Client::new(),
            base: stack.emulator.base_url.clone(),
            key: secrets.metabase_api_key.expose().to_owned(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if path.starts_with("/api/") && !path.starts_with("/api/embed/") {
            request = request.header("x-api-key", &self.key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("emulator answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn expect(&self, method: reqwest::Method, path: &str, body: Option<Value>, status: u16) -> Value {
        let (got, answer) = self.call(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        answer
    }

    async fn get(&self, path: &str) -> Value {
        self.expect(reqwest::Method::GET, path, None, 200).await
    }

    async fn put(&self, path: &str, body: Value) -> Value {
        self.expect(reqwest::Method::PUT, path, Some(body), 200).await
    }

    async fn card(&self, collection: u64, name: &str, dataset_query: Value) -> u64 {
        let body = json!({"name": name, "display": "table", "visualization_settings": {},
                          "dataset_query": dataset_query, "collection_id": collection});
        self.expect(reqwest::Method::POST, "/api/card", Some(body), 200).await["id"].as_u64().expect("card id")
    }

    /// `POST /api/dashboard` in `collection`, then one `PUT` with parameters, dashcards and `tabs: []`.
    async fn dashboard(&self, collection: u64, name: &str, parameters: Value, dashcards: Value) -> u64 {
        let created = self
            .expect(
                reqwest::Method::POST,
                "/api/dashboard",
                Some(json!({"name": name, "collection_id": collection})),
                200,
            )
            .await;
        let id = created["id"].as_u64().expect("dashboard id");
        self.put(
            &format!("/api/dashboard/{id}"),
            json!({"parameters": parameters, "dashcards": dashcards, "tabs": []}),
        )
        .await;
        id
    }

    /// A sound dashboard: the tenant parameter mapped to a required tag of its one card.
    async fn sound_dashboard(&self, collection: u64, name: &str) -> (u64, u64) {
        let card = self.card(collection, &format!("{name} revenue"), tenant_sql()).await;
        let id = self
            .dashboard(
                collection,
                name,
                json!([tenant_parameter()]),
                json!([dashcard(-1, 0, card, json!([map_tenant(card, variable(SLUG))]))]),
            )
            .await;
        (id, card)
    }

    async fn counters(&self) -> BTreeMap<String, u64> {
        let (_, body) = self.call(reqwest::Method::GET, "/__emulator/counters", None).await;
        serde_json::from_value(body).expect("counters")
    }

    async fn clear_counters(&self) {
        self.call(reqwest::Method::DELETE, "/__emulator/counters", None).await;
    }
}

/// Required tenant tag used outside any optional clause, plus an optional channel filter.
fn tenant_sql() -> Value {
    native(
        "SELECT * FROM orders WHERE tenant_id = {{tenant_id}} [[AND channel = {{channel}}]] ORDER BY id",
        json!({SLUG: text_tag(SLUG, true), "channel": text_tag("channel", false)}),
    )
}

/// A workspace the operator creates for `owner_email` with `tenant_key`, through the real saga.
async fn workspace(deps: &Arc<Deps>, name: &str, tenant_key: &str, owner_email: &str) -> Workspace {
    let body = json!({"name": name, "tenant_key": tenant_key, "owner_email": owner_email});
    let reply = as_operator(deps, "POST", "/api/workspaces", body).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let id: WorkspaceId = reply.body["id"].as_str().unwrap().parse().unwrap();
    workspaces::get(&deps.store, id).await.unwrap().expect("stored")
}

fn collection(workspace: &Workspace) -> u64 {
    workspace.metabase_collection_id.expect("provisioned").0
}

async fn list(deps: &Arc<Deps>, token: &str, workspace: &Workspace, what: &str) -> Vec<Value> {
    let reply = as_user(deps, token, "GET", &format!("/api/workspaces/{}/{what}", workspace.id), None).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body.as_array().expect("a list").clone()
}

fn by_name<'a>(listed: &'a [Value], name: &str) -> &'a Value {
    listed.iter().find(|i| i["name"] == name).unwrap_or_else(|| panic!("{name} not listed in {listed:?}"))
}

fn reason(listed: &[Value], name: &str) -> String {
    let item = by_name(listed, name);
    assert_eq!((item["status"].as_str(), item["is_public"].as_bool()), (Some("quarantined"), Some(false)), "{item}");
    item["reason"].as_str().expect("a reason").to_owned()
}

/// Signs an embed of a recorded item the way the embed function will: the workspace's tenant key
/// and the whitelist discovery recorded.
async fn sign(stack: &Stack, workspace: &Workspace, kind: ItemKind, id: u64) -> String {
    let record = items::get(&stack.deps.store, ItemRef::new(workspace.id, kind, id)).await.unwrap().expect("record");
    assert!(record.is_embeddable(), "{record:?}");
    let secrets = stack.deps.secrets.get().await.unwrap();
    let signer = EmbedSigner::from_config(&secrets.embedding_secret_key, &stack.deps.config).unwrap();
    let resource = match kind {
        ItemKind::Dashboard => EmbedResource::Dashboard(tenantbase::ids::MetabaseDashboardId(id)),
        ItemKind::Question => EmbedResource::Question(tenantbase::ids::MetabaseCardId(id)),
    };
    let request = EmbedRequest {
        resource,
        tenant_key: &workspace.tenant_key,
        embedding_params: &record.embedding_params,
        viewer_params: Vec::new(),
        minutes: None,
        appearance: Appearance::default(),
    };
    signer.sign(&request, stack.deps.clock.unix_seconds()).unwrap().token
}

#[tokio::test]
async fn listing_syncs_lints_publishes_and_never_crosses_tenants() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, alice) = sign_up(deps, "alice@acme.test").await;
    let (_, bob) = sign_up(deps, "bob@globex.test").await;
    let acme = workspace(deps, "Acme", "acme", "alice@acme.test").await;
    let globex = workspace(deps, "Globex", "globex", "bob@globex.test").await;
    let mb = Metabase::admin(&stack).await;

    assert!(list(deps, &alice, &acme, "dashboards").await.is_empty(), "an empty collection lists nothing");
    assert!(list(deps, &alice, &acme, "questions").await.is_empty());

    let c = collection(&acme);
    let revenue = mb.card(c, "Revenue", tenant_sql()).await;
    let sales = mb
        .dashboard(
            c,
            "Tenant sales",
            json!([tenant_parameter(), {"id": "p-channel", "name": "Channel", "slug": "channel", "type": "string/="}]),
            json!([dashcard(
                -1,
                0,
                revenue,
                json!([
                    map_tenant(revenue, variable(SLUG)),
                    {"parameter_id": "p-channel", "card_id": revenue, "target": variable("channel")}
                ])
            )]),
        )
        .await;
    let everything = mb.card(c, "Everything", orders_table()).await;
    let half = mb
        .dashboard(
            c,
            "Half wired",
            json!([tenant_parameter()]),
            json!([
                dashcard(-1, 0, revenue, json!([map_tenant(revenue, variable(SLUG))])),
                dashcard(-2, 6, everything, json!([]))
            ]),
        )
        .await;
    mb.dashboard(
        c,
        "No tenant filter",
        json!([{"id": "p-channel", "name": "Channel", "slug": "channel", "type": "string/="}]),
        json!([dashcard(-1, 0, revenue, json!([]))]),
    )
    .await;
    mb.dashboard(
        c,
        "Wrong tag",
        json!([tenant_parameter()]),
        json!([dashcard(-1, 0, revenue, json!([map_tenant(revenue, variable("tenant"))]))]),
    )
    .await;
    let sql = "SELECT * FROM orders WHERE 1 = 1 [[AND tenant_id = {{tenant_id}}]] ORDER BY id";
    let maybe = mb.card(c, "Maybe filtered", native(sql, json!({SLUG: text_tag(SLUG, true)}))).await;
    mb.dashboard(
        c,
        "Optional tenant",
        json!([tenant_parameter()]),
        json!([dashcard(-1, 0, maybe, json!([map_tenant(maybe, variable(SLUG))]))]),
    )
    .await;
    mb.card(
        c,
        "Optional tag",
        native("SELECT * FROM orders WHERE tenant_id = {{tenant_id}}", json!({SLUG: text_tag(SLUG, false)})),
    )
    .await;
    // Someone publishes the half-wired dashboard by hand, tenant locked, as if it were sound.
    mb.put(&format!("/api/dashboard/{half}"), json!({"enable_embedding": true, "embedding_params": {SLUG: "locked"}}))
        .await;
    let (foreign, _) = mb.sound_dashboard(collection(&globex), "Globex only").await;

    let dashboards = list(deps, &alice, &acme, "dashboards").await;
    assert_eq!(dashboards.len(), 5, "{dashboards:?}");
    let published = by_name(&dashboards, "Tenant sales");
    assert_eq!((published["status"].as_str(), published["is_public"].as_bool()), (Some("embeddable"), Some(true)));
    assert_eq!(published["id"], format!("{}.{sales}", acme.id));
    assert_eq!(published["workspace_id"], acme.id.to_string());
    assert_eq!(published["metabase_dashboard_id"], sales);
    assert!(published["reason"].is_null());
    let slugs: Vec<&str> =
        published["parameters"].as_array().unwrap().iter().map(|p| p["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, [SLUG, "channel"]);
    for key in ["created_at", "updated_at"] {
        assert!(published[key].is_string(), "{key}");
    }
    assert_eq!(
        reason(&dashboards, "Half wired"),
        format!("card \"Everything\" (#{everything}) does not map the tenant_id parameter")
    );
    assert!(reason(&dashboards, "No tenant filter").contains("has no parameter with slug \"tenant_id\""));
    assert!(reason(&dashboards, "Wrong tag").contains("template tag \"tenant\", which its query does not have"));
    assert!(reason(&dashboards, "Optional tenant").contains("only inside an optional [[ … ]] clause"));
    assert!(dashboards.iter().all(|d| d["name"] != "Globex only"), "another workspace's dashboard is never listed");
    assert!(dashboards.iter().all(|d| d["metabase_dashboard_id"] != foreign));

    // Metabase matches the verdicts: published with the tenant locked, the hand-published one off.
    let in_metabase = mb.get(&format!("/api/dashboard/{sales}")).await;
    assert_eq!(in_metabase["enable_embedding"], true);
    assert_eq!(in_metabase["embedding_params"], json!({SLUG: "locked", "channel": "enabled"}));
    assert_eq!(mb.get(&format!("/api/dashboard/{half}")).await["enable_embedding"], false, "un-published");

    // A token signed with the workspace's tenant key shows acme's rows only.
    let token = sign(&stack, &acme, ItemKind::Dashboard, sales).await;
    let dashcard_id = in_metabase["dashcards"][0]["id"].as_u64().unwrap();
    let path = format!("/api/embed/dashboard/{token}/dashcard/{dashcard_id}/card/{revenue}");
    let (status, rows) = mb.call(reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 202, "{rows}");
    let tenants = tenant_column(&rows);
    assert_eq!(tenants.len(), rows_of("acme"));
    assert!(tenants.iter().all(|t| t == "acme"), "{tenants:?}");

    // Questions: the required-tag one is published, the optional-tag and query-builder ones are not.
    let questions = list(deps, &alice, &acme, "questions").await;
    let question = by_name(&questions, "Revenue");
    assert_eq!(
        (question["status"].as_str(), question["metabase_card_id"].as_u64()),
        (Some("embeddable"), Some(revenue))
    );
    assert!(reason(&questions, "Optional tag").contains("not required"));
    assert!(reason(&questions, "Everything").contains("query-builder question"));
    assert!(reason(&questions, "Maybe filtered").contains("optional [[ … ]] clause"));
    let card = mb.get(&format!("/api/card/{revenue}")).await;
    assert_eq!(
        (card["enable_embedding"].as_bool(), &card["embedding_params"]),
        (Some(true), &json!({SLUG: "locked", "channel": "enabled"}))
    );
    let token = sign(&stack, &acme, ItemKind::Question, revenue).await;
    let (status, result) = mb.call(reqwest::Method::GET, &format!("/api/embed/card/{token}/query"), None).await;
    assert_eq!(status, 202);
    assert!(tenant_column(&result).iter().all(|t| t == "acme"));

    // Cross-tenant: bob cannot list acme's items (404 as if absent); his own list has only his.
    for what in ["dashboards", "questions"] {
        let reply = as_user(deps, &bob, "GET", &format!("/api/workspaces/{}/{what}", acme.id), None).await;
        assert_eq!((reply.status, reply.body["error"].as_str()), (404, Some("not_found")), "{what}");
    }
    let his = list(deps, &bob, &globex, "dashboards").await;
    assert_eq!(his.iter().map(|d| d["name"].as_str().unwrap()).collect::<Vec<_>>(), ["Globex only"]);
    let unauthenticated = call(deps, "GET", &format!("/api/workspaces/{}/dashboards", acme.id), &[], None).await;
    assert_eq!(unauthenticated.status, 401);

    // Dashboards made by hand carry no template.
    let listed = list(deps, &alice, &acme, "dashboards").await;
    assert!(listed.iter().all(|d| d.get("template").is_none()), "{listed:?}");
}

/// Moto's SQS over its JSON protocol (the queue behind the test's EventBridge rule).
async fn sqs(action: &str, body: Value) -> Value {
    let endpoint = tenantbase_tests::aws_endpoint();
    let response = reqwest::Client::new()
        .post(endpoint)
        .header("x-amz-target", format!("AmazonSQS.{action}"))
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .expect("moto answers");
    assert!(response.status().is_success(), "SQS {action}: {}", response.status());
    response.json().await.expect("SQS JSON")
}

/// A bus whose discovery events land in a fresh SQS queue; returns the bus name and queue URL.
async fn event_bus(sdk: &aws_config::SdkConfig) -> (String, String) {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let bus = tenantbase_tests::unique_name("tb-bus");
    events.create_event_bus().name(&bus).send().await.expect("bus");
    let queue = tenantbase_tests::unique_name("tb-events");
    let url = sqs("CreateQueue", json!({"QueueName": queue})).await["QueueUrl"].as_str().unwrap().to_owned();
    let arn = sqs("GetQueueAttributes", json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]})).await["Attributes"]
        ["QueueArn"]
        .as_str()
        .unwrap()
        .to_owned();
    events
        .put_rule()
        .name("discovery-changes")
        .event_bus_name(&bus)
        .event_pattern(json!({"source": ["tenantbase.discovery"]}).to_string())
        .send()
        .await
        .expect("rule");
    let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(arn).build().unwrap();
    events.put_targets().rule("discovery-changes").event_bus_name(&bus).targets(target).send().await.expect("target");
    (bus, url)
}

async fn received(queue: &str) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let batch = sqs("ReceiveMessage", json!({"QueueUrl": queue, "MaxNumberOfMessages": 10})).await;
        let messages = batch["Messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            return all;
        }
        all.extend(messages.iter().map(|m| serde_json::from_str(m["Body"].as_str().unwrap()).unwrap()));
    }
}

#[tokio::test]
async fn removed_items_stop_being_embeddable_and_every_change_is_announced() {
    let sdk = tenantbase_tests::sdk_config().await;
    let (bus, queue) = event_bus(&sdk).await;
    let stack =
        Stack::with_emulator(metabase_emulator::EmulatorConfig::default(), &[("EVENT_BUS_NAME", bus.as_str())]).await;
    tenantbase::bootstrap::reconcile(&stack.deps).await.expect("bootstrap");
    let deps = &stack.deps;
    let (_, owner) = sign_up(deps, "owner@acme.test").await;
    let acme = workspace(deps, "Acme", "acme", "owner@acme.test").await;
    let mb = Metabase::admin(&stack).await;
    let c = collection(&acme);
    let (archived, _) = mb.sound_dashboard(c, "To archive").await;
    let (moved, _) = mb.sound_dashboard(c, "To move").await;
    let (deleted, _) = mb.sound_dashboard(c, "To delete").await;
    let (kept, _) = mb.sound_dashboard(c, "Kept").await;
    let quarantined_card = mb.card(c, "Unfiltered", orders_table()).await;

    let first = list(deps, &owner, &acme, "dashboards").await;
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|d| d["status"] == "embeddable"), "{first:?}");

    mb.put(&format!("/api/dashboard/{archived}"), json!({"archived": true})).await;
    mb.put(&format!("/api/dashboard/{moved}"), json!({"collection_id": null})).await;
    // The emulator has no hard delete: a deleted dashboard is one no listing shows and whose
    // detail is 404, which trashing it and failing its detail reproduces.
    mb.put(&format!("/api/dashboard/{deleted}"), json!({"archived": true})).await;
    let fault =
        json!({"path": format!("/api/dashboard/{deleted}"), "method": "GET", "status": 404, "body": "Not found."});
    mb.expect(reqwest::Method::POST, "/__emulator/faults", Some(fault), 200).await;

    let after = list(deps, &owner, &acme, "dashboards").await;
    assert_eq!(after.iter().map(|d| d["name"].as_str().unwrap()).collect::<Vec<_>>(), ["Kept"]);
    for (id, why) in [
        (archived, "archived in Metabase"),
        (moved, "moved out of the workspace's collection"),
        (deleted, "deleted in Metabase"),
    ] {
        let record = items::get(&deps.store, ItemRef::new(acme.id, ItemKind::Dashboard, id)).await.unwrap().unwrap();
        assert_eq!((record.status, record.reason.as_deref()), (items::ItemStatus::Removed, Some(why)));
    }
    assert_eq!(mb.get(&format!("/api/dashboard/{archived}")).await["enable_embedding"], false, "archived: off");
    assert_eq!(mb.get(&format!("/api/dashboard/{moved}")).await["enable_embedding"], false, "moved to root: off");
    assert_eq!(mb.get(&format!("/api/dashboard/{kept}")).await["enable_embedding"], true);

    // Events: 4 dashboards and 4 questions published, 1 question quarantined, then 3 removals.
    let events = received(&queue).await;
    let count = |kind: &str| events.iter().filter(|e| e["detail-type"] == kind).count();
    assert!(events.iter().all(|e| e["source"] == "tenantbase.discovery"));
    assert_eq!(
        (
            count("DashboardPublished"),
            count("QuestionPublished"),
            count("QuestionQuarantined"),
            count("DashboardRemoved")
        ),
        (4, 4, 1, 3),
        "{events:?}"
    );
    let removal = events
        .iter()
        .find(|e| e["detail-type"] == "DashboardRemoved" && e["detail"]["metabase_dashboard_id"] == moved)
        .expect("moved");
    assert_eq!(removal["detail"]["workspace_id"], acme.id.to_string());
    assert_eq!(removal["detail"]["reason"], "moved out of the workspace's collection");
    assert_eq!(removal["detail"]["status"], "removed");
    let quarantine = events.iter().find(|e| e["detail-type"] == "QuestionQuarantined").unwrap();
    assert_eq!(quarantine["detail"]["metabase_card_id"], quarantined_card);

    // Archiving the workspace retires what is left and un-publishes it.
    let deleted_ws = as_user(deps, &owner, "DELETE", &format!("/api/workspaces/{}", acme.id), None).await;
    assert_eq!(deleted_ws.status, 200, "{:?}", deleted_ws.body);
    let archived_ws = workspaces::get(&deps.store, acme.id).await.unwrap().unwrap();
    let report = sync_workspace(deps, &archived_ws).await.unwrap();
    assert_eq!(report.counts.published, 0);
    assert!(list(deps, &owner, &acme, "dashboards").await.is_empty());
    assert_eq!(mb.get(&format!("/api/dashboard/{kept}")).await["enable_embedding"], false);
}

#[tokio::test]
async fn nothing_is_published_while_embeds_are_revoked() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, owner) = sign_up(deps, "owner@initech.test").await;
    let mut initech = workspace(deps, "Initech", "initech", "owner@initech.test").await;
    let now = deps.clock.unix_seconds();
    initech.embeds_revoked_until = Some(now + 600);
    let now_text = "2026-11-22T04:00:00Z";
    initech = workspaces::save(&deps.store, &initech, now_text).await.unwrap().expect("saved");
    let mb = Metabase::admin(&stack).await;
    let (dashboard, card) = mb.sound_dashboard(collection(&initech), "Initech sales").await;

    let held = list(deps, &owner, &initech, "dashboards").await;
    assert!(reason(&held, "Initech sales").starts_with("embeds are revoked until"), "{held:?}");
    assert_eq!(mb.get(&format!("/api/dashboard/{dashboard}")).await["enable_embedding"], false);
    assert_eq!(mb.get(&format!("/api/card/{card}")).await["enable_embedding"], false);
    // Someone publishes it by hand during the revocation: discovery takes it down again.
    mb.put(
        &format!("/api/dashboard/{dashboard}"),
        json!({"enable_embedding": true, "embedding_params": {SLUG: "locked"}}),
    )
    .await;
    let report = sync_workspace(deps, &initech).await.unwrap();
    assert_eq!((report.counts.published, report.counts.unpublished), (0, 1));
    assert_eq!(mb.get(&format!("/api/dashboard/{dashboard}")).await["enable_embedding"], false);

    // Once the revocation is over, the next sync publishes.
    initech.embeds_revoked_until = Some(now - 1);
    initech = workspaces::save(&deps.store, &initech, now_text).await.unwrap().expect("saved");
    let report = sync_workspace(deps, &initech).await.unwrap();
    assert_eq!(report.counts.published, 2, "{report:?}");
    let listed = list(deps, &owner, &initech, "dashboards").await;
    assert_eq!(by_name(&listed, "Initech sales")["status"], "embeddable");
    assert_eq!(mb.get(&format!("/api/dashboard/{dashboard}")).await["enable_embedding"], true);

    // Item scope, as the embed function revokes: the window is recorded, then the item is
    // un-published; discovery keeps it down and its write keeps the window.
    let item = ItemRef::new(initech.id, ItemKind::Dashboard, dashboard);
    let until = deps.clock.unix_seconds() + 600;
    items::set_revoked_until(&deps.store, item, until).await.unwrap().expect("recorded item");
    mb.put(&format!("/api/dashboard/{dashboard}"), json!({"enable_embedding": false})).await;
    let report = sync_workspace(deps, &initech).await.unwrap();
    assert_eq!((report.counts.changed, report.counts.published), (1, 0), "{report:?}");
    assert_eq!(mb.get(&format!("/api/dashboard/{dashboard}")).await["enable_embedding"], false);
    let record = items::get(&deps.store, item).await.unwrap().unwrap();
    assert_eq!((record.status, record.revoked_until), (items::ItemStatus::Quarantined, Some(until)));
    let question = items::get(&deps.store, ItemRef::new(initech.id, ItemKind::Question, card)).await.unwrap().unwrap();
    assert!(question.is_embeddable(), "only the revoked item is held");

    // A revocation that lands while a sync is publishing wins: the sync's record write is refused
    // and what it published is taken down again.
    mb.put(&format!("/api/card/{card}"), json!({"name": "Initech revenue (renamed)"})).await;
    let slow = json!({"path": format!("/api/card/{card}"), "method": "GET", "ms": 3000});
    mb.expect(reqwest::Method::POST, "/__emulator/latency", Some(slow), 200).await;
    let running = {
        let (deps, initech) = (deps.clone(), initech.clone());
        tokio::spawn(async move { sync_workspace(&deps, &initech).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let question = ItemRef::new(initech.id, ItemKind::Question, card);
    items::set_revoked_until(&deps.store, question, until).await.unwrap().expect("recorded item");
    mb.put(&format!("/api/card/{card}"), json!({"enable_embedding": false})).await;
    let report = running.await.unwrap().unwrap();
    assert_eq!((report.counts.published, report.counts.unpublished), (1, 1), "{report:?}");
    assert_eq!(mb.get(&format!("/api/card/{card}")).await["enable_embedding"], false);
    let record = items::get(&deps.store, question).await.unwrap().unwrap();
    assert_eq!(record.revoked_until, Some(until), "the window survives");
}

/// Creates `n` active workspaces straight in the store, each with a collection in Metabase (the
/// provisioning saga is tested elsewhere; here only discovery's inputs matter).
async fn many_workspaces(stack: &Stack, n: usize) -> Vec<Workspace> {
    let admin = stack.deps.metabase_admin().await.unwrap();
    let mut created = Vec::with_capacity(n);
    for i in 0..n {
        let id = WorkspaceId::generate();
        let name = format!("Tenant {i:03}");
        let collection = admin.create_collection(&name, &format!("tenantbase-workspace:{id}")).await.unwrap();
        let workspace = Workspace {
            id,
            name: name.clone(),
            description: None,
            tenant_key: format!("tenant-{i:03}-{}", id.as_uuid().simple()),
            owner_id: UserId::generate(),
            status: Status::Active,
            failure_reason: None,
            metabase_collection_id: Some(collection.id),
            metabase_collection_name: Some(name),
            metabase_group_id: None,
            permissions_applied: true,
            created_at: "2026-11-22T03:00:00Z".into(),
            updated_at: "2026-11-22T03:00:00Z".into(),
            version: 1,
            embeds_revoked_until: None,
            embed_appearance: None,
        };
        workspaces::insert(&stack.deps.store, &workspace, None).await.unwrap();
        workspaces::record_collection(&stack.deps.store, collection.id, id).await.unwrap();
        created.push(workspace);
    }
    created
}

#[tokio::test]
async fn a_steady_state_sweep_over_200_workspaces_costs_two_list_calls_and_no_writes() {
    let stack = Stack::bootstrapped().await;
    let mb = Metabase::admin(&stack).await;
    let started = Instant::now();
    let all = many_workspaces(&stack, 200).await;
    for workspace in &all {
        mb.sound_dashboard(collection(workspace), &workspace.name).await;
    }
    eprintln!("200 workspaces with content created in {:?}", started.elapsed());

    let started = Instant::now();
    let first = sweep(&stack.deps).await.unwrap();
    eprintln!("first sweep: {first:?} in {:?}", started.elapsed());
    assert_eq!((first.workspaces, first.failed, first.fallback), (200, 0, false));
    let c = first.counts;
    assert_eq!((c.seen, c.new, c.changed), (400, 400, 0));
    assert_eq!((c.published, c.quarantined, c.removed), (400, 0, 0), "one dashboard and its question each");
    assert_eq!(c.dynamodb_writes, 400);
    assert_eq!(c.metabase_calls, 2 + 400 + 400, "two listings, one detail and one PUT per item");

    mb.clear_counters().await;
    let started = Instant::now();
    let second = sweep(&stack.deps).await.unwrap();
    eprintln!("steady-state sweep: {second:?} in {:?}", started.elapsed());
    let c = second.counts;
    assert_eq!((c.seen, c.new, c.changed, c.published, c.unpublished), (400, 0, 0, 0, 0));
    assert_eq!((c.dynamodb_writes, c.metabase_calls), (0, 2));
    let counters = mb.counters().await;
    let calls: u64 = counters.values().sum();
    assert!(calls <= 3, "{counters:?}");
    assert!(counters.keys().all(|k| k == "GET /api/dashboard/" || k == "GET /api/card/"), "{counters:?}");
}

#[tokio::test]
async fn without_the_bulk_route_each_collection_is_listed() {
    let stack = Stack::bootstrapped().await;
    let mb = Metabase::admin(&stack).await;
    let all = many_workspaces(&stack, 3).await;
    for workspace in &all {
        mb.sound_dashboard(collection(workspace), &workspace.name).await;
    }
    // Only the bulk listing disappears (`*` makes the pattern exact); details still work.
    let fault =
        json!({"path": "*/api/dashboard/", "method": "GET", "status": 404, "body": "API endpoint does not exist."});
    mb.expect(reqwest::Method::POST, "/__emulator/faults", Some(fault), 200).await;

    let first = sweep(&stack.deps).await.unwrap();
    assert!(first.fallback);
    assert_eq!((first.counts.seen, first.counts.published, first.failed), (6, 6, 0), "{first:?}");
    for workspace in &all {
        let records = items::list(&stack.deps.store, workspace.id, ItemKind::Dashboard).await.unwrap();
        assert!(records.len() == 1 && records[0].is_embeddable(), "{records:?}");
        assert_eq!(records[0].collection_id, Some(MetabaseCollectionId(collection(workspace))));
    }
    let second = sweep(&stack.deps).await.unwrap();
    assert_eq!((second.counts.new, second.counts.changed, second.counts.dynamodb_writes), (0, 0, 0), "{second:?}");
    assert_eq!(second.counts.metabase_calls, 1 + 3, "the failed bulk call, then one page per collection");
}

#[tokio::test]
async fn a_card_edit_that_drops_the_tenant_filter_quarantines_its_dashboard() {
    let stack = Stack::bootstrapped().await;
    let mb = Metabase::admin(&stack).await;
    let all = many_workspaces(&stack, 2).await;
    for workspace in &all {
        mb.sound_dashboard(collection(workspace), &workspace.name).await;
    }
    assert_eq!(sweep(&stack.deps).await.unwrap().counts.published, 4);

    // A card edit that drops the tenant filter is caught although its dashboard did not change.
    let victim = &all[1];
    let dashboard_id = items::list(&stack.deps.store, victim.id, ItemKind::Dashboard).await.unwrap()[0].metabase_id;
    let detail = mb.get(&format!("/api/dashboard/{dashboard_id}")).await;
    let card = detail["dashcards"][0]["card_id"].as_u64().unwrap();
    let unfiltered = native(
        "SELECT * FROM orders WHERE 1 = 1 [[AND tenant_id = {{tenant_id}}]]",
        json!({SLUG: text_tag(SLUG, true)}),
    );
    mb.put(&format!("/api/card/{card}"), json!({"dataset_query": unfiltered})).await;
    let third = sweep(&stack.deps).await.unwrap();
    assert_eq!((third.counts.changed, third.counts.unpublished, third.counts.quarantined), (2, 2, 2), "{third:?}");
    assert_eq!(mb.get(&format!("/api/dashboard/{dashboard_id}")).await["enable_embedding"], false);

    let untouched = items::list(&stack.deps.store, all[0].id, ItemKind::Dashboard).await.unwrap();
    assert!(untouched[0].is_embeddable(), "the other workspace is not affected");
}
