//! Convergence under Metabase faults: a scripted workload (users, workspaces, members, an
//! analyst's dashboards, discovery, embeds) runs while the emulator fails about a fifth of all
//! requests (5xx, 409, timeouts). Every API answer is either a success or a clear JSON 502/503,
//! and the client retries. Then the faults stop, one reconcile runs, and the emulator's state
//! must equal what DynamoDB records: every workspace active, exactly one collection, group, set
//! of graph cells and group membership per workspace, dashboards published exactly as recorded,
//! no orphans and no duplicates.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tenantbase::deps::Deps;
use tenantbase::ids::WorkspaceId;
use tenantbase::items::{self, ItemKind};
use tenantbase::users;
use tenantbase::workspaces::{self, Status};
use tenantbase_tests::api::{Reply, call};
use tenantbase_tests::fixtures::Metabase;
use tenantbase_tests::{Stack, consistency};

const USERS: usize = 10;
const WORKSPACES: usize = 20;
const PASSWORD: &str = "Fault-tolerant-42";
/// Injected faults, tried in order on every Metabase request: about 20 % of requests fail.
const FAULTS: [(&str, f64); 4] = [("500", 0.05), ("503", 0.05), ("409", 0.06), ("timeout", 0.05)];
/// Large enough never to run out: what is left tells how many were injected.
const FAULT_BUDGET: u64 = 1_000_000;

/// The client side of the workload: sends requests, checks every failure is a clear JSON
/// 502/503, and retries.
struct Client {
    deps: Arc<Deps>,
    requests: AtomicUsize,
    retries: AtomicUsize,
}

impl Client {
    /// Repeats `send` until it answers one of `ok` (or, after a failed attempt, one of
    /// `ok_after_retry`, e.g. a 409 because the failed attempt had in fact applied).
    async fn until<F, Fut>(&self, what: &str, ok: &[u16], ok_after_retry: &[u16], send: F) -> Reply
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Reply>,
    {
        for attempt in 0..60 {
            let reply = send().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            if ok.contains(&reply.status) || (attempt > 0 && ok_after_retry.contains(&reply.status)) {
                return reply;
            }
            assert!(
                matches!(reply.status, 502 | 503),
                "{what}: a Metabase fault must be a 502/503, got {}: {:?}",
                reply.status,
                reply.body
            );
            assert!(
                reply.body["error"].is_string() && reply.body["message"].is_string(),
                "{what}: the error body is JSON with error and message: {:?}",
                reply.body
            );
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{what}: no success after 60 attempts");
    }

    async fn json(&self, token: Option<&str>, method: &str, path: &str, body: Option<Value>, key: &str) -> Reply {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(auth) = auth.as_deref() {
            headers.push(("authorization", auth));
        }
        if !key.is_empty() {
            headers.push(("idempotency-key", key));
        }
        let text = body.map(|b| b.to_string());
        call(&self.deps, method, path, &headers, text.as_deref()).await
    }
}

fn email(user: usize) -> String {
    format!("user{user}@faults.test")
}

/// One user's session: (user id, access token).
async fn sign_up_and_log_in(client: &Client, user: usize) -> (String, String) {
    let email = email(user);
    let signup =
        json!({"email": email, "password": PASSWORD, "first_name": "Fault", "last_name": format!("User{user}")});
    let reply = client
        .until(&format!("signup {email}"), &[201], &[409], || {
            client.json(None, "POST", "/auth/signup", Some(signup.clone()), "")
        })
        .await;
    if reply.status == 409 {
        assert_eq!(reply.body["error"], "email_taken", "{:?}", reply.body);
    }
    let login = json!({"email": email, "password": PASSWORD});
    let reply = client
        .until(&format!("login {email}"), &[200], &[], || {
            client.json(None, "POST", "/auth/login", Some(login.clone()), "")
        })
        .await;
    let token = reply.body["access_token"].as_str().expect("a token").to_owned();
    let me = client.until("me", &[200], &[], || client.json(Some(&token), "GET", "/auth/me", None, "")).await;
    (me.body["id"].as_str().expect("an id").to_owned(), token)
}

/// Everything that happens to workspace `n`: created by its owner, two members added, one
/// membership changed, dashboards made by an analyst, discovered, embedded by every member.
async fn workspace_story(client: &Client, analyst: &Metabase, sessions: &[(String, String)], n: usize) -> usize {
    let (owner, editor, viewer) = (n % USERS, (n + 1) % USERS, (n + 2) % USERS);
    let token = &sessions[owner].1;
    let key = format!("faults-{n}");
    let body = json!({"name": format!("Workspace {n}"), "description": "under faults"});
    let created = client
        .until(&format!("create workspace {n}"), &[201], &[], || {
            client.json(Some(token), "POST", "/api/workspaces", Some(body.clone()), &key)
        })
        .await;
    assert_eq!(created.body["status"], "active", "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let collection = created.body["metabase_collection_id"].as_u64().expect("a collection");
    let members_path = format!("/api/workspaces/{id}/members");
    for (user, role) in [(editor, "editor"), (viewer, "viewer")] {
        let body = json!({"email": email(user), "role": role});
        let reply = client
            .until(&format!("add {role} to {n}"), &[201], &[409], || {
                client.json(Some(token), "POST", &members_path, Some(body.clone()), "")
            })
            .await;
        if reply.status == 409 {
            assert_eq!(reply.body["error"], "already_member", "{:?}", reply.body);
        }
    }
    let mut embedders = vec![owner, editor, viewer];
    match n % 4 {
        // The editor becomes a viewer: they must leave the Metabase group.
        0 => {
            let path = format!("{members_path}/{}", sessions[editor].0);
            client
                .until(&format!("demote in {n}"), &[200], &[], || {
                    client.json(Some(token), "PATCH", &path, Some(json!({"role": "viewer"})), "")
                })
                .await;
        }
        // The viewer becomes an editor: they must join it.
        1 => {
            let path = format!("{members_path}/{}", sessions[viewer].0);
            client
                .until(&format!("promote in {n}"), &[200], &[], || {
                    client.json(Some(token), "PATCH", &path, Some(json!({"role": "editor"})), "")
                })
                .await;
        }
        // The editor is removed.
        2 => {
            let path = format!("{members_path}/{}", sessions[editor].0);
            client
                .until(&format!("remove in {n}"), &[204], &[404], || {
                    client.json(Some(token), "DELETE", &path, None, "")
                })
                .await;
            embedders.retain(|u| *u != editor);
        }
        _ => {}
    }

    // An analyst builds content in the workspace's collection, as in Metabase's own editor.
    let orders =
        analyst.card(collection, "Orders", "SELECT * FROM orders WHERE tenant_id = {{tenant_id}} ORDER BY id").await;
    let (sound, _) = analyst.dashboard(collection, "Orders", &[orders], &[]).await;
    if n % 5 == 0 {
        let everything = analyst.card(collection, "Everything", "SELECT * FROM orders ORDER BY id").await;
        analyst.dashboard(collection, "Leaky", &[orders], &[everything]).await;
    }

    let dashboards = format!("/api/workspaces/{id}/dashboards");
    let listed = client
        .until(&format!("discover {n}"), &[200], &[], || client.json(Some(token), "GET", &dashboards, None, ""))
        .await;
    let item = format!("{id}.{sound}");
    let found = listed.body.as_array().unwrap().iter().find(|i| i["id"] == item.as_str()).cloned();
    assert_eq!(found.as_ref().map(|i| i["status"].clone()), Some(json!("embeddable")), "{:?}", listed.body);
    let mut embeds = 0;
    let embed = format!("/api/workspaces/dashboards/{item}/embed");
    for user in embedders {
        let token = &sessions[user].1;
        let reply = client
            .until(&format!("embed in {n}"), &[200], &[], || client.json(Some(token), "GET", &embed, None, ""))
            .await;
        assert!(reply.body["token"].is_string(), "{:?}", reply.body);
        embeds += 1;
    }
    embeds
}

/// `MBCOLL#<collection>/MBCOLL`: which workspace owns a collection.
#[derive(Deserialize)]
struct CollectionOwner {
    workspace_id: WorkspaceId,
}

/// Compares the emulator's whole state with the records; returns how many checks passed.
async fn assert_converged(stack: &Stack, state: &Value, emails: &[String]) -> usize {
    let deps = &stack.deps;
    let mut checks = 0usize;
    let all = workspaces::all(&deps.store).await.unwrap();
    assert_eq!(all.len(), WORKSPACES, "one workspace per create, whatever the retries");
    checks += 1;

    let groups = state["groups"].as_object().unwrap();
    let magic: BTreeSet<String> =
        groups.iter().filter(|(_, g)| !g["magic_group_type"].is_null()).map(|(id, _)| id.clone()).collect();
    let admin_group =
        groups.iter().find(|(_, g)| g["magic_group_type"] == "admin").map(|(id, _)| id.clone()).expect("admin group");
    let tenant_groups: BTreeMap<String, String> = groups
        .iter()
        .filter(|(id, _)| !magic.contains(*id))
        .map(|(id, g)| (id.clone(), g["name"].as_str().unwrap().to_owned()))
        .collect();
    let collections: BTreeMap<String, &Value> = state["collections"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, c)| c["personal_owner_id"].is_null())
        .map(|(id, c)| (id.clone(), c))
        .collect();
    let perms = state["collection_perms"].as_object().unwrap();

    let mut owned_collections = BTreeMap::new();
    for workspace in &all {
        assert_eq!(workspace.status, Status::Active, "{workspace:?}");
        assert!(workspace.failure_reason.is_none() && workspace.permissions_applied, "{workspace:?}");
        let collection = workspace.metabase_collection_id.expect("a collection").to_string();
        let group = workspace.metabase_group_id.expect("a group").to_string();
        checks += 1;

        let found = collections.get(&collection).unwrap_or_else(|| panic!("collection {collection} exists"));
        assert_eq!(found["description"], workspace.collection_marker().as_str());
        assert_eq!(found["archived"], false);
        let owner: CollectionOwner = deps.store.get(&format!("MBCOLL#{collection}"), "MBCOLL").await.unwrap().unwrap();
        assert_eq!(owner.workspace_id, workspace.id, "collection {collection} is recorded as this workspace's");
        assert!(owned_collections.insert(collection.clone(), workspace.id).is_none(), "one workspace per collection");
        checks += 3;

        assert_eq!(tenant_groups.get(&group), Some(&workspace.group_name()), "group {group} is the workspace's");
        checks += 1;

        // Graph cells on the collection: its group writes, the admins keep theirs, nobody else.
        for (gid, cells) in perms {
            let access = cells.get(&collection).and_then(Value::as_str).unwrap_or("none");
            let expected = if *gid == group {
                "write"
            } else if *gid == admin_group {
                access
            } else {
                "none"
            };
            assert_eq!(access, expected, "group {gid} on collection {collection}");
            checks += 1;
        }
        // The group reaches nothing but its collection.
        if let Some(cells) = perms.get(&group) {
            for (other, access) in cells.as_object().unwrap() {
                assert!(other == &collection || access == "none", "group {group} reaches {other}: {access}");
                checks += 1;
            }
        }

        consistency::assert_group_matches_members(stack, workspace, state).await;
        checks += 3;
    }
    let orphans: Vec<&String> = collections.keys().filter(|c| !owned_collections.contains_key(*c)).collect();
    assert!(orphans.is_empty(), "collections no workspace owns: {orphans:?}");
    let names: BTreeSet<String> = all.iter().map(tenantbase::workspaces::Workspace::group_name).collect();
    let stray: Vec<&String> = tenant_groups.values().filter(|name| !names.contains(*name)).collect();
    assert!(stray.is_empty() && tenant_groups.len() == WORKSPACES, "groups no workspace owns: {stray:?}");
    checks += 2;

    // Dashboards: each lives in a workspace collection and is published exactly as recorded.
    let mut published = 0;
    for dashboard in state["dashboards"].as_object().unwrap().values().filter(|d| d["archived"] == false) {
        let collection = dashboard["collection_id"].to_string();
        let workspace = *owned_collections.get(&collection).unwrap_or_else(|| panic!("{dashboard} is in no workspace"));
        let id = dashboard["id"].as_u64().unwrap();
        let record = items::get(&deps.store, items::ItemRef::new(workspace, ItemKind::Dashboard, id))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("dashboard {id} has a record"));
        assert_eq!(dashboard["enable_embedding"].as_bool(), Some(record.is_embeddable()), "dashboard {id}: {record:?}");
        if record.is_embeddable() {
            assert_eq!(dashboard["embedding_params"], json!(record.embedding_params), "dashboard {id}");
            published += 1;
        }
        checks += 2;
    }
    assert_eq!(published, WORKSPACES, "every sound dashboard, and only those, is published");

    // Metabase users: at most one per account, and the linked one.
    let by_email: Vec<(String, u64)> = state["users"]
        .as_object()
        .unwrap()
        .values()
        .map(|u| (u["email"].as_str().unwrap().to_lowercase(), u["id"].as_u64().unwrap()))
        .collect();
    for email in emails {
        let ids: Vec<u64> = by_email.iter().filter(|(e, _)| e == email).map(|(_, id)| *id).collect();
        let user = users::find_by_email(&deps.store, email).await.unwrap().expect("an account");
        assert!(ids.len() <= 1, "{email}: duplicate Metabase users {ids:?}");
        if let Some(linked) = user.metabase_user_id {
            assert_eq!(ids, vec![linked.0], "{email} is linked to its Metabase user");
        }
        checks += 2;
    }
    checks
}

#[tokio::test]
async fn a_workload_under_metabase_faults_converges_after_one_reconcile() {
    let started = Instant::now();
    // A short Metabase timeout, so a hanging request costs a second, not ten.
    let stack =
        Stack::with_emulator(metabase_emulator::EmulatorConfig::default(), &[("METABASE_TIMEOUT_SECONDS", "1")]).await;
    tenantbase::bootstrap::reconcile(&stack.deps).await.expect("bootstrap before the faults");
    let analyst = Metabase::retrying(&stack, Duration::from_secs(2)).await;
    let client =
        Arc::new(Client { deps: stack.deps.clone(), requests: AtomicUsize::new(0), retries: AtomicUsize::new(0) });
    stack.control(reqwest::Method::DELETE, "/__emulator/counters", None).await;

    for (status, probability) in FAULTS {
        let status: Value = status.parse::<u16>().map_or(json!(status), |code| json!(code));
        let fault = json!({"path": "/api/*", "status": status, "probability": probability, "count": FAULT_BUDGET,
                           "body": "injected fault"});
        stack.control(reqwest::Method::POST, "/__emulator/faults", Some(fault)).await;
    }

    let sessions: Vec<(String, String)> =
        futures::future::join_all((0..USERS).map(|u| sign_up_and_log_in(&client, u))).await;
    let embeds: usize =
        futures::future::join_all((0..WORKSPACES).map(|n| workspace_story(&client, &analyst, &sessions, n)))
            .await
            .into_iter()
            .sum();

    let state = consistency::state(&stack).await;
    let injected: u64 =
        state["faults"].as_array().unwrap().iter().map(|f| FAULT_BUDGET - f["remaining"].as_u64().unwrap()).sum();
    let calls: u64 = state["route_calls"].as_object().unwrap().values().filter_map(Value::as_u64).sum();
    stack.control(reqwest::Method::DELETE, "/__emulator/faults", None).await;
    let workload = started.elapsed();

    let report = tenantbase::bootstrap::reconcile(&stack.deps).await.expect("one reconcile converges");
    let state = consistency::state(&stack).await;
    let emails: Vec<String> = (0..USERS).map(email).collect();
    let checks = assert_converged(&stack, &state, &emails).await;
    tenantbase_tests::summary!(
        "faults: {} API requests, {} client retries, {} analyst retries, {calls} Metabase requests, {injected} faults \
         injected ({:.1} %), {WORKSPACES} workspaces, {embeds} embeds, reconcile repaired {} things, {checks} checks \
         passed; workload {:.1}s",
        client.requests.load(Ordering::Relaxed),
        client.retries.load(Ordering::Relaxed),
        analyst.retried.load(Ordering::Relaxed),
        injected as f64 * 100.0 / calls.max(1) as f64,
        report.changes.len(),
        workload.as_secs_f64(),
    );
    for change in &report.changes {
        println!("faults: reconcile repaired: {change}");
    }
    assert!(injected > 0 && client.retries.load(Ordering::Relaxed) > 0, "faults were injected and met");
}
