//! The workspaces function against moto and the Metabase emulator: the provisioning saga,
//! tenant keys, idempotency, concurrency, fault recovery, members, and cross-tenant isolation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value, json};
use tenantbase::deps::Deps;
use tenantbase::ids::{MetabaseGroupId, WorkspaceId};
use tenantbase_tests::Stack;
use tenantbase_tests::api::{as_operator, as_user, call, sign_up};

async fn create(deps: &Arc<Deps>, token: &str, name: &str) -> Value {
    let reply = as_user(deps, token, "POST", "/api/workspaces", Some(json!({"name": name, "description": "d"}))).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body
}

/// Asserts the collection graph holds exactly the intended cells for each active workspace:
/// its group writes its collection, no other non-admin group (All Users included) has access.
async fn assert_graph_exact(stack: &Stack, workspaces: &[Value]) {
    let admin = stack.deps.metabase_admin().await.unwrap();
    let groups = admin.groups().await.unwrap();
    let admin_group = groups.iter().find(|g| g.is_admin()).unwrap().id;
    let graph = admin.collection_graph().await.unwrap();
    for workspace in workspaces {
        let collection = workspace["metabase_collection_id"].as_u64().unwrap().to_string();
        let group = MetabaseGroupId(workspace["metabase_group_id"].as_u64().unwrap());
        assert_eq!(graph.access(group, &collection), "write", "own group writes {collection}");
        for (gid, cells) in &graph.groups {
            if *gid == group.to_string() || *gid == admin_group.to_string() {
                continue;
            }
            let access = cells.get(&collection).map_or("none", String::as_str);
            assert_eq!(access, "none", "group {gid} must not reach collection {collection}");
        }
    }
}

#[tokio::test]
async fn create_list_get_patch_delete_and_isolation_between_tenants() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (alice_id, alice) = sign_up(deps, "alice@acme.test").await;
    let (_, bob) = sign_up(deps, "bob@globex.test").await;

    let acme = create(deps, &alice, "Acme Analytics").await;
    assert_eq!(acme["status"], "active");
    assert_eq!(acme["is_active"], true);
    assert_eq!(acme["owner_id"], alice_id.as_str());
    assert_eq!(acme["metabase_collection_name"], "Acme Analytics");
    assert!(acme["tenant_key"].as_str().unwrap().starts_with("tb_"), "generated for end users");
    let globex = create(deps, &bob, "Globex").await;
    assert_ne!(acme["metabase_collection_id"], globex["metabase_collection_id"]);
    assert_graph_exact(&stack, &[acme.clone(), globex.clone()]).await;

    let id = acme["id"].as_str().unwrap();
    let listed = as_user(deps, &alice, "GET", "/api/workspaces", None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "only the caller's workspaces");
    assert_eq!(listed.body[0]["id"], id);
    assert_eq!(listed.body[0]["role"], "owner");
    let got = as_user(deps, &alice, "GET", &format!("/api/workspaces/{id}"), None).await;
    assert_eq!((got.status, got.body["name"].as_str()), (200, Some("Acme Analytics")));

    // Bob cannot see, change or delete Acme's workspace: 404, as if it did not exist.
    for (method, body) in [("GET", None), ("PATCH", Some(json!({"name": "pwned"}))), ("DELETE", None)] {
        let reply = as_user(deps, &bob, method, &format!("/api/workspaces/{id}"), body).await;
        assert_eq!(reply.status, 404, "{method}: {:?}", reply.body);
    }

    let renamed =
        as_user(deps, &alice, "PATCH", &format!("/api/workspaces/{id}"), Some(json!({"name": "Acme BI"}))).await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.body["metabase_collection_name"], "Acme BI");
    let admin = deps.metabase_admin().await.unwrap();
    let collection_id = acme["metabase_collection_id"].as_u64().unwrap();
    let collection = admin.collections().await.unwrap().into_iter().find(|c| c.id.0 == collection_id).unwrap();
    assert_eq!(collection.name, "Acme BI");

    let bad = as_user(deps, &alice, "PATCH", &format!("/api/workspaces/{id}"), Some(json!({"tenant_key": "x"}))).await;
    assert_eq!((bad.status, bad.body["error"].as_str()), (400, Some("invalid_field")));

    let deleted = as_user(deps, &alice, "DELETE", &format!("/api/workspaces/{id}"), None).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    assert_eq!((deleted.body["status"].as_str(), deleted.body["is_active"].as_bool()), (Some("archived"), Some(false)));
    let collection = admin.collections().await.unwrap().into_iter().find(|c| c.id.0 == collection_id).unwrap();
    assert!(collection.archived, "the collection is in the trash");
    let graph = admin.collection_graph().await.unwrap();
    let group = MetabaseGroupId(acme["metabase_group_id"].as_u64().unwrap());
    assert_eq!(graph.access(group, &collection_id.to_string()), "none", "the group lost its access");
    let kept = as_user(deps, &alice, "GET", &format!("/api/workspaces/{id}"), None).await;
    assert_eq!(kept.body["status"], "archived", "records are kept");
}

#[tokio::test]
async fn only_the_operator_chooses_tenant_keys_and_they_are_unique() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (owner_id, owner) = sign_up(deps, "owner@initech.test").await;

    let created = as_operator(
        deps,
        "POST",
        "/api/workspaces",
        json!({"name": "Initech", "tenant_key": "initech", "owner_email": "OWNER@initech.test"}),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["tenant_key"], "initech");
    assert_eq!(created.body["owner_id"], owner_id.as_str());
    let mine = as_user(deps, &owner, "GET", "/api/workspaces", None).await;
    assert_eq!(mine.body[0]["tenant_key"], "initech", "the owner sees it");

    let chosen =
        as_user(deps, &owner, "POST", "/api/workspaces", Some(json!({"name": "Mine", "tenant_key": "acme"}))).await;
    assert_eq!((chosen.status, chosen.body["error"].as_str()), (403, Some("forbidden")));
    let reused = as_operator(
        deps,
        "POST",
        "/api/workspaces",
        json!({"name": "Again", "tenant_key": "initech", "owner_email": "owner@initech.test"}),
    )
    .await;
    assert_eq!((reused.status, reused.body["error"].as_str()), (409, Some("tenant_key_taken")));
    let wrong_key = call(
        deps,
        "POST",
        "/api/workspaces",
        &[("x-api-key", "not-the-key"), ("content-type", "application/json")],
        Some("{}"),
    )
    .await;
    assert_eq!(wrong_key.status, 401);
    let unknown_owner = as_operator(
        deps,
        "POST",
        "/api/workspaces",
        json!({"name": "X", "tenant_key": "x1", "owner_email": "nobody@x.test"}),
    )
    .await;
    assert_eq!((unknown_owner.status, unknown_owner.body["error"].as_str()), (400, Some("unknown_owner")));
    for bad in [" padded", "", "a\u{7}b"] {
        let reply = as_operator(
            deps,
            "POST",
            "/api/workspaces",
            json!({"name": "X", "tenant_key": bad, "owner_email": "owner@initech.test"}),
        )
        .await;
        assert_eq!(reply.status, 400, "{bad:?}: {:?}", reply.body);
    }
    // Nothing was half-written by the refused requests.
    let all = as_operator(deps, "GET", "/api/workspaces", json!({})).await;
    assert_eq!(all.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_workspace() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, token) = sign_up(deps, "idem@acme.test").await;
    let headers = |key: &'static str| {
        let auth = format!("Bearer {token}");
        (auth, key)
    };
    let mut ids = BTreeSet::new();
    for _ in 0..3 {
        let (auth, key) = headers("create-acme-1");
        let reply = call(
            deps,
            "POST",
            "/api/workspaces",
            &[("authorization", &auth), ("content-type", "application/json"), ("idempotency-key", key)],
            Some(r#"{"name":"Acme"}"#),
        )
        .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        ids.insert(reply.body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "one workspace for one key");
    let listed = as_user(deps, &token, "GET", "/api/workspaces", None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    let admin = deps.metabase_admin().await.unwrap();
    assert_eq!(admin.collections().await.unwrap().len(), 1, "one collection");
}

#[tokio::test]
async fn fifty_concurrent_creates_make_fifty_isolated_workspaces() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, token) = sign_up(deps, "many@acme.test").await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let deps = deps.clone();
        let auth = format!("Bearer {token}");
        tasks.push(tokio::spawn(async move {
            // Fifty creates queue for the one permission-graph lease; on a busy machine the last
            // ones can wait past its limit and get 503, which a client retries with the same
            // Idempotency-Key (the saga resumes; nothing is created twice).
            let key = format!("fifty-{i}");
            let headers =
                [("authorization", auth.as_str()), ("content-type", "application/json"), ("idempotency-key", &key)];
            let body = json!({"name": format!("Tenant {i}")}).to_string();
            for _ in 0..5 {
                let reply = call(&deps, "POST", "/api/workspaces", &headers, Some(&body)).await;
                if reply.status != 503 {
                    return reply;
                }
            }
            panic!("workspace {i} still busy after 5 attempts");
        }));
    }
    let mut workspaces = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        workspaces.push(reply.body);
    }
    let admin = deps.metabase_admin().await.unwrap();
    let collections = admin.collections().await.unwrap();
    assert_eq!(collections.len(), 50, "50 collections, no duplicates");
    let groups = admin.groups().await.unwrap();
    assert_eq!(groups.iter().filter(|g| g.name.starts_with("Tenant ")).count(), 50, "50 groups");
    let distinct: BTreeSet<_> = workspaces.iter().map(|w| w["metabase_collection_id"].as_u64()).collect();
    assert_eq!(distinct.len(), 50);
    assert_graph_exact(&stack, &workspaces).await;
}

async fn add_fault(stack: &Stack, fault: Value) {
    let reply =
        reqwest::Client::new().post(stack.emulator_url("/__emulator/faults")).json(&fault).send().await.unwrap();
    assert!(reply.status().is_success());
}

#[tokio::test]
async fn a_failure_at_each_saga_step_is_resumed_without_duplicates_or_orphans() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, token) = sign_up(deps, "faults@acme.test").await;
    let auth = format!("Bearer {token}");
    // One step fails per attempt (enough times to defeat the client's own retries); the same
    // Idempotency-Key resumes where the failed attempt stopped.
    let steps = [
        json!({"method": "POST", "path": "/api/collection", "status": 500, "count": 1}),
        json!({"method": "POST", "path": "/api/permissions/group", "status": 500, "count": 1}),
        // The client retries an idempotent PUT four times before giving up.
        json!({"method": "PUT", "path": "/api/collection/graph", "status": 500, "count": 4}),
        json!({"method": "POST", "path": "/api/permissions/membership", "status": 500, "count": 1}),
    ];
    let attempt = || async {
        call(
            deps,
            "POST",
            "/api/workspaces",
            &[("authorization", &auth), ("content-type", "application/json"), ("idempotency-key", "resume-1")],
            Some(r#"{"name":"Resumable"}"#),
        )
        .await
    };
    let mut workspace_id = None;
    for fault in steps {
        add_fault(&stack, fault.clone()).await;
        let reply = attempt().await;
        assert_eq!(reply.status, 503, "{fault}: {:?}", reply.body);
        assert_eq!(reply.body["error"], "service_unavailable");
        let listed = as_user(deps, &token, "GET", "/api/workspaces", None).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 1, "one workspace record throughout");
        assert_eq!(listed.body[0]["status"], "failed", "recorded as failed with a reason");
        assert!(listed.body[0]["failure_reason"].is_string());
        workspace_id = listed.body[0]["id"].as_str().map(str::to_owned);
    }
    let reply = attempt().await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "active");
    assert_eq!(reply.body["id"].as_str(), workspace_id.as_deref());
    assert!(reply.body.get("failure_reason").is_none());
    let admin = deps.metabase_admin().await.unwrap();
    assert_eq!(admin.collections().await.unwrap().len(), 1, "no orphan collection");
    let groups = admin.groups().await.unwrap();
    assert_eq!(groups.iter().filter(|g| g.name.starts_with("Tenant ")).count(), 1, "no orphan group");
    let group = MetabaseGroupId(reply.body["metabase_group_id"].as_u64().unwrap());
    assert_eq!(admin.group_members(group).await.unwrap().len(), 1, "the owner is in the group once");
    assert_graph_exact(&stack, std::slice::from_ref(&reply.body)).await;
}

#[tokio::test]
async fn the_reconciler_finishes_a_failed_workspace_and_repairs_drift() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, token) = sign_up(deps, "drift@acme.test").await;
    add_fault(&stack, json!({"method": "PUT", "path": "/api/collection/graph", "status": 500, "count": 8})).await;
    let failed = as_user(deps, &token, "POST", "/api/workspaces", Some(json!({"name": "Later"}))).await;
    assert_eq!(failed.status, 503);
    let report = tenantbase::bootstrap::reconcile(deps).await.unwrap();
    assert!(report.changes.iter().any(|c| c.contains("collection permissions")), "{:?}", report.changes);
    let listed = as_user(deps, &token, "GET", "/api/workspaces", None).await;
    let workspace = listed.body[0].clone();
    assert_eq!(workspace["status"], "active");
    assert_graph_exact(&stack, std::slice::from_ref(&workspace)).await;

    // Someone removes the group's access and adds a stranger to the group by hand.
    let admin = deps.metabase_admin().await.unwrap();
    let group = workspace["metabase_group_id"].as_u64().unwrap();
    let collection = workspace["metabase_collection_id"].as_u64().unwrap().to_string();
    let graph = admin.collection_graph().await.unwrap();
    let mut cells = BTreeMap::new();
    cells.insert(group.to_string(), BTreeMap::from([(collection.clone(), "none".to_owned())]));
    cells.insert("1".to_owned(), BTreeMap::from([(collection.clone(), "read".to_owned())]));
    admin
        .put_collection_graph(&tenantbase::metabase::GraphPatch { revision: graph.revision, groups: cells })
        .await
        .unwrap();
    let stranger = admin.ensure_user("stranger@evil.test", "S", "T").await.unwrap();
    admin.add_membership(MetabaseGroupId(group), stranger.id).await.unwrap();

    let report = tenantbase::bootstrap::reconcile(deps).await.unwrap();
    let changes = report.changes.join("\n");
    assert!(changes.contains("collection permissions"), "{changes}");
    assert!(changes.contains(&format!("removed Metabase user {}", stranger.id)), "{changes}");
    assert_graph_exact(&stack, std::slice::from_ref(&workspace)).await;
    assert!(tenantbase::bootstrap::reconcile(deps).await.unwrap().changes.is_empty());
}

#[tokio::test]
async fn members_roles_invitations_and_the_last_owner_rule() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, owner) = sign_up(deps, "owner@acme.test").await;
    let (editor_id, editor) = sign_up(deps, "editor@acme.test").await;
    let (viewer_id, viewer) = sign_up(deps, "viewer@acme.test").await;
    let (_, outsider) = sign_up(deps, "outsider@globex.test").await;
    let workspace = create(deps, &owner, "Acme").await;
    let id = workspace["id"].as_str().unwrap();
    let members = format!("/api/workspaces/{id}/members");

    for (email, role) in [("editor@acme.test", "editor"), ("viewer@acme.test", "viewer"), ("later@acme.test", "editor")]
    {
        let reply = as_user(deps, &owner, "POST", &members, Some(json!({"email": email, "role": role}))).await;
        assert_eq!(reply.status, 201, "{email}: {:?}", reply.body);
    }
    let again =
        as_user(deps, &owner, "POST", &members, Some(json!({"email": "EDITOR@acme.test", "role": "viewer"}))).await;
    assert_eq!((again.status, again.body["error"].as_str()), (409, Some("already_member")));
    let bad_role =
        as_user(deps, &owner, "POST", &members, Some(json!({"email": "x@acme.test", "role": "admin"}))).await;
    assert_eq!(bad_role.status, 400);

    let listed = as_user(deps, &viewer, "GET", &members, None).await;
    assert_eq!(listed.status, 200);
    let statuses: BTreeMap<String, (String, String)> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_owned(),
                (m["role"].as_str().unwrap().to_owned(), m["status"].as_str().unwrap().to_owned()),
            )
        })
        .collect();
    assert_eq!(statuses["later@acme.test"], ("editor".to_owned(), "invited".to_owned()));
    assert_eq!(statuses["viewer@acme.test"], ("viewer".to_owned(), "active".to_owned()));

    // The invitation is honoured at signup.
    let (later_id, _) = sign_up(deps, "later@acme.test").await;

    // Owners and editors are in the Metabase group; viewers are not.
    let admin = deps.metabase_admin().await.unwrap();
    let group = MetabaseGroupId(workspace["metabase_group_id"].as_u64().unwrap());
    let metabase_ids = |ids: &[&str]| {
        let deps = deps.clone();
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        async move {
            let mut found = BTreeSet::new();
            for id in ids {
                let user = tenantbase::users::get(&deps.store, id.parse().unwrap()).await.unwrap().unwrap();
                found.insert(user.metabase_user_id.unwrap());
            }
            found
        }
    };
    let in_group: BTreeSet<_> = admin.group_members(group).await.unwrap().into_iter().map(|m| m.user_id).collect();
    let owner_id = workspace["owner_id"].as_str().unwrap().to_owned();
    assert_eq!(in_group, metabase_ids(&[&owner_id, &editor_id, &later_id]).await);

    // Roles: viewers and editors may not manage members; non-members get 404.
    let by_viewer =
        as_user(deps, &viewer, "POST", &members, Some(json!({"email": "y@acme.test", "role": "viewer"}))).await;
    assert_eq!(by_viewer.status, 403);
    let by_editor =
        as_user(deps, &editor, "PATCH", &format!("{members}/{viewer_id}"), Some(json!({"role": "owner"}))).await;
    assert_eq!(by_editor.status, 403);
    let by_outsider = as_user(deps, &outsider, "GET", &members, None).await;
    assert_eq!(by_outsider.status, 404);

    // Promote the viewer, demote the editor: the group follows.
    let promoted =
        as_user(deps, &owner, "PATCH", &format!("{members}/{viewer_id}"), Some(json!({"role": "editor"}))).await;
    assert_eq!(promoted.status, 200, "{:?}", promoted.body);
    let demoted =
        as_user(deps, &owner, "PATCH", &format!("{members}/{editor_id}"), Some(json!({"role": "viewer"}))).await;
    assert_eq!(demoted.status, 200);
    let in_group: BTreeSet<_> = admin.group_members(group).await.unwrap().into_iter().map(|m| m.user_id).collect();
    assert_eq!(in_group, metabase_ids(&[&owner_id, &viewer_id, &later_id]).await);

    // The last owner can neither be demoted nor leave; once there is another owner, they can.
    let owner_path = format!("{members}/{owner_id}");
    let demote_last = as_user(deps, &owner, "PATCH", &owner_path, Some(json!({"role": "editor"}))).await;
    assert_eq!((demote_last.status, demote_last.body["error"].as_str()), (409, Some("last_owner")));
    let leave_last = as_user(deps, &owner, "DELETE", &owner_path, None).await;
    assert_eq!((leave_last.status, leave_last.body["error"].as_str()), (409, Some("last_owner")));
    let second =
        as_user(deps, &owner, "PATCH", &format!("{members}/{viewer_id}"), Some(json!({"role": "owner"}))).await;
    assert_eq!(second.status, 200);
    let leave = as_user(deps, &owner, "DELETE", &owner_path, None).await;
    assert_eq!(leave.status, 204, "{:?}", leave.body);
    let gone = as_user(deps, &owner, "GET", &format!("/api/workspaces/{id}"), None).await;
    assert_eq!(gone.status, 404, "a former member is a non-member");
    // A member may leave on their own; removing an unknown member is 404.
    let self_leave = as_user(deps, &editor, "DELETE", &format!("{members}/{editor_id}"), None).await;
    assert_eq!(self_leave.status, 204);
    let unknown = as_user(deps, &viewer, "DELETE", &format!("{members}/{}", WorkspaceId::generate()), None).await;
    assert_eq!(unknown.status, 404);
    let in_group: BTreeSet<_> = admin.group_members(group).await.unwrap().into_iter().map(|m| m.user_id).collect();
    assert_eq!(in_group, metabase_ids(&[&viewer_id, &later_id]).await);
}

#[tokio::test]
async fn concurrent_owner_demotions_never_leave_a_workspace_without_an_owner() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (a_id, a) = sign_up(deps, "a@acme.test").await;
    let (b_id, b) = sign_up(deps, "b@acme.test").await;
    let workspace = create(deps, &a, "Acme").await;
    let id = workspace["id"].as_str().unwrap().to_owned();
    let members = format!("/api/workspaces/{id}/members");
    as_user(deps, &a, "POST", &members, Some(json!({"email": "b@acme.test", "role": "owner"}))).await;
    // Each owner demotes the other at the same moment.
    let (b_path, a_path) = (format!("{members}/{b_id}"), format!("{members}/{a_id}"));
    let (one, two) = tokio::join!(
        as_user(deps, &a, "PATCH", &b_path, Some(json!({"role": "viewer"}))),
        as_user(deps, &b, "PATCH", &a_path, Some(json!({"role": "viewer"}))),
    );
    let statuses = BTreeSet::from([one.status, two.status]);
    assert!(statuses.contains(&200), "{statuses:?}");
    let listed = as_operator(deps, "GET", &members, json!({})).await;
    let owners = listed.body.as_array().unwrap().iter().filter(|m| m["role"] == "owner").count();
    assert!(owners >= 1, "at least one owner remains: {:?}", listed.body);
}

#[tokio::test]
async fn non_members_get_404_on_every_workspace_route_and_bad_input_changes_nothing() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, owner) = sign_up(deps, "owner@acme.test").await;
    let (_, stranger) = sign_up(deps, "stranger@globex.test").await;
    let workspace = create(deps, &owner, "Acme").await;
    let id = workspace["id"].as_str().unwrap();
    let owner_id = workspace["owner_id"].as_str().unwrap();
    let routes = [
        ("GET", format!("/api/workspaces/{id}"), None),
        ("PATCH", format!("/api/workspaces/{id}"), Some(json!({"name": "x"}))),
        ("DELETE", format!("/api/workspaces/{id}"), None),
        ("GET", format!("/api/workspaces/{id}/members"), None),
        ("POST", format!("/api/workspaces/{id}/members"), Some(json!({"email": "s@globex.test", "role": "owner"}))),
        ("PATCH", format!("/api/workspaces/{id}/members/{owner_id}"), Some(json!({"role": "viewer"}))),
        ("DELETE", format!("/api/workspaces/{id}/members/{owner_id}"), None),
    ];
    for (method, path, body) in &routes {
        let reply = as_user(deps, &stranger, method, path, body.clone()).await;
        assert_eq!(reply.status, 404, "{method} {path}: {:?}", reply.body);
        // The same for an id that does not exist and for garbage: indistinguishable.
        let missing = path.replace(id, &WorkspaceId::generate().to_string());
        assert_eq!(as_user(deps, &stranger, method, &missing, body.clone()).await.status, 404);
        assert_eq!(as_user(deps, &stranger, method, &path.replace(id, "not-an-id"), body.clone()).await.status, 404);
        // Without a token: 401 with a challenge.
        let anonymous = call(deps, method, path, &[], None).await;
        assert_eq!(anonymous.status, 401);
        assert_eq!(anonymous.headers["www-authenticate"], "Bearer");
    }
    for body in ["{", "[]", r#"{"name": 5}"#, r#"{"name": ""}"#, r#"{"name": "x", "description": 3}"#] {
        let auth = format!("Bearer {owner}");
        let reply = call(
            deps,
            "POST",
            "/api/workspaces",
            &[("authorization", &auth), ("content-type", "application/json")],
            Some(body),
        )
        .await;
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
        assert!(reply.body["error"].is_string() && reply.body["message"].is_string());
    }
    let auth = format!("Bearer {owner}");
    let wrong_type =
        call(deps, "POST", "/api/workspaces", &[("authorization", &auth), ("content-type", "text/plain")], Some("x"))
            .await;
    assert_eq!(wrong_type.status, 415);
    let listed = as_user(deps, &owner, "GET", "/api/workspaces", None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "bad requests created nothing");
    let reread = as_user(deps, &owner, "GET", &format!("/api/workspaces/{id}"), None).await;
    assert_eq!(reread.body["name"], "Acme");
}
