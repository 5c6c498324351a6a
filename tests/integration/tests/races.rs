//! Races beyond the single-route ones in `signup.rs` and `workspaces.rs`: signups of one email
//! with different passwords, creates sharing an Idempotency-Key, an invitation racing the signup
//! it names, many member changes on one workspace at once, and discovery racing a delete. Each
//! ends with a consistency check of DynamoDB against Metabase.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tenantbase::deps::Deps;
use tenantbase::items::{self, ItemKind, ItemStatus};
use tenantbase::workspaces::{self, Status, Workspace};
use tenantbase_tests::api::{Reply, as_user, call, sign_up};
use tenantbase_tests::fixtures::Metabase;
use tenantbase_tests::{Stack, consistency};

async fn stored(deps: &Arc<Deps>, id: &str) -> Workspace {
    workspaces::get(&deps.store, id.parse().unwrap()).await.unwrap().expect("stored")
}

async fn create(deps: &Arc<Deps>, token: &str, name: &str, key: Option<&str>) -> Reply {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str()), ("content-type", "application/json")];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    let body = json!({"name": name}).to_string();
    call(deps, "POST", "/api/workspaces", &headers, Some(&body)).await
}

/// A server-side error is never a 500 and always a JSON error body.
fn assert_clear(reply: &Reply, what: &str) {
    assert_ne!(reply.status, 500, "{what}: {:?}", reply.body);
    if reply.status >= 400 {
        assert!(reply.body["error"].is_string() && reply.body["message"].is_string(), "{what}: {:?}", reply.body);
    }
}

#[tokio::test]
async fn racing_signups_with_different_passwords_keep_only_the_winners() {
    let stack = Stack::bootstrapped().await;
    // Fewer losers than the ten failed logins that lock an account.
    const RACERS: usize = 9;
    let attempts = (0..RACERS).map(|i| {
        let deps = stack.deps.clone();
        async move {
            let body = json!({"email": "Dup@Race.test", "password": format!("Winner-or-not-{i:02}"),
                              "first_name": "Race", "last_name": "Twin"});
            let reply =
                call(&deps, "POST", "/auth/signup", &[("content-type", "application/json")], Some(&body.to_string()))
                    .await;
            (i, reply)
        }
    });
    let replies = futures::future::join_all(attempts).await;
    let winners: Vec<usize> = replies.iter().filter(|(_, r)| r.status == 201).map(|(i, _)| *i).collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    assert!(replies.iter().all(|(_, r)| r.status == 201 || (r.status == 409 && r.body["error"] == "email_taken")));
    let mut logins = 0;
    for i in 0..RACERS {
        let body = json!({"email": "dup@race.test", "password": format!("Winner-or-not-{i:02}")});
        let reply =
            call(&stack.deps, "POST", "/auth/login", &[("content-type", "application/json")], Some(&body.to_string()))
                .await;
        let expected = if winners.contains(&i) { 200 } else { 401 };
        assert_eq!(reply.status, expected, "password {i}: {:?}", reply.body);
        logins += 1;
    }
    let state = consistency::state(&stack).await;
    let in_metabase = state["users"].as_object().unwrap().values().filter(|u| u["email"] == "dup@race.test").count();
    assert_eq!(in_metabase, 1, "one Metabase user");
    tenantbase_tests::summary!(
        "races: signups of one email: {RACERS} racing, 1 account, {logins} logins checked, 1 Metabase user"
    );
}

#[tokio::test]
async fn creates_sharing_an_idempotency_key_make_one_workspace_and_others_stay_distinct() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, token) = sign_up(deps, "keys@race.test").await;
    // Eight requests repeat one key, four carry their own, four none: 1 + 4 + 4 workspaces.
    let keys: Vec<Option<String>> = (0..16)
        .map(|i| match i % 4 {
            0 | 1 => Some("shared-key".to_owned()),
            2 => Some(format!("own-key-{i}")),
            _ => None,
        })
        .collect();
    let attempts = keys.iter().enumerate().map(|(i, key)| {
        let (deps, token) = (deps.clone(), token.clone());
        async move {
            let name = if key.as_deref() == Some("shared-key") { "Shared".to_owned() } else { format!("Own {i}") };
            // A 503 (the saga is held by a concurrent twin) is retried with the same key.
            for _ in 0..20 {
                let reply = create(&deps, &token, &name, key.as_deref()).await;
                assert_clear(&reply, "create");
                if reply.status != 503 {
                    return (key.clone(), reply);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("create kept answering 503");
        }
    });
    let replies = futures::future::join_all(attempts).await;
    let mut shared = BTreeSet::new();
    let mut all = BTreeSet::new();
    for (key, reply) in &replies {
        assert_eq!(reply.status, 201, "{key:?}: {:?}", reply.body);
        assert_eq!(reply.body["status"], "active");
        let id = reply.body["id"].as_str().unwrap().to_owned();
        if key.as_deref() == Some("shared-key") {
            shared.insert(id.clone());
        }
        all.insert(id);
    }
    assert_eq!(shared.len(), 1, "one workspace for the shared key");
    assert_eq!(all.len(), 9, "1 shared + 4 own keys + 4 without");
    let state = consistency::state(&stack).await;
    let markers: Vec<String> = state["collections"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|c| c["description"].as_str().map(str::to_owned))
        .collect();
    let groups: Vec<String> = state["groups"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|g| g["name"].as_str().filter(|n| n.starts_with("Tenant ")).map(str::to_owned))
        .collect();
    assert_eq!(markers.len(), 9, "one collection per workspace: {markers:?}");
    assert_eq!(groups.len(), 9, "one group per workspace: {groups:?}");
    for id in &all {
        let workspace = stored(deps, id).await;
        assert_eq!(markers.iter().filter(|m| **m == workspace.collection_marker()).count(), 1);
        assert_eq!(groups.iter().filter(|g| **g == workspace.group_name()).count(), 1);
        consistency::assert_group_matches_members(&stack, &workspace, &state).await;
    }
    tenantbase_tests::summary!(
        "races: workspace creates: 16 racing (8 on one key), 9 workspaces, 9 collections, 9 groups"
    );
}

#[tokio::test]
async fn an_invitation_racing_the_signup_it_names_ends_as_one_membership() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, owner) = sign_up(deps, "owner@invite-race.test").await;
    let workspace = create(deps, &owner, "Invites", None).await;
    let id = workspace.body["id"].as_str().unwrap().to_owned();
    let members = format!("/api/workspaces/{id}/members");
    const PEOPLE: usize = 10;
    let races = (0..PEOPLE).map(|i| {
        let (deps, owner, members) = (deps.clone(), owner.clone(), members.clone());
        async move {
            let email = format!("person{i}@invite-race.test");
            let invite = as_user(&deps, &owner, "POST", &members, Some(json!({"email": email, "role": "editor"})));
            let body = json!({"email": email, "password": "Invited-racer-42", "first_name": "P", "last_name": "R"});
            let body = body.to_string();
            let signup = call(&deps, "POST", "/auth/signup", &[("content-type", "application/json")], Some(&body));
            let (invited, signed) = tokio::join!(invite, signup);
            assert_eq!(invited.status, 201, "{email}: {:?}", invited.body);
            assert_eq!(signed.status, 201, "{email}: {:?}", signed.body);
        }
    });
    futures::future::join_all(races).await;
    let listed = as_user(deps, &owner, "GET", &members, None).await;
    let entries = listed.body.as_array().unwrap();
    for i in 0..PEOPLE {
        let email = format!("person{i}@invite-race.test");
        let mine: Vec<&Value> = entries.iter().filter(|m| m["email"] == email.as_str()).collect();
        assert_eq!(mine.len(), 1, "{email}: {mine:?}");
        assert_eq!((mine[0]["status"].as_str(), mine[0]["role"].as_str()), (Some("active"), Some("editor")), "{email}");
    }
    let state = consistency::state(&stack).await;
    consistency::assert_group_matches_members(&stack, &stored(deps, &id).await, &state).await;
    tenantbase_tests::summary!(
        "races: invitation vs signup: {PEOPLE} racing pairs, {PEOPLE} memberships, no stranded invitation"
    );
}

#[tokio::test]
async fn many_member_changes_at_once_keep_an_owner_and_the_group_in_step() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let mut people = Vec::new();
    for i in 0..6 {
        people.push(sign_up(deps, &format!("m{i}@members-race.test")).await);
    }
    let workspace = create(deps, &people[0].1, "Busy", None).await;
    let id = workspace.body["id"].as_str().unwrap().to_owned();
    let members = format!("/api/workspaces/{id}/members");
    for (i, role) in [(1, "owner"), (2, "editor"), (3, "editor"), (4, "viewer"), (5, "viewer")] {
        let body = json!({"email": format!("m{i}@members-race.test"), "role": role});
        assert_eq!(as_user(deps, &people[0].1, "POST", &members, Some(body)).await.status, 201);
    }
    let roles = ["owner", "editor", "viewer"];
    let mut cases = 0usize;
    for round in 0..3usize {
        // Both original owners act at once on everyone (themselves included): role changes,
        // removals and re-additions, in an order that differs each round.
        let ops = (0..24usize).map(|k| {
            let actor = people[k % 2].1.clone();
            let target = (k * 7 + round * 3) % people.len();
            let (target_id, deps, members) = (people[target].0.clone(), deps.clone(), members.clone());
            let role = roles[(k + round) % 3];
            async move {
                let reply = match (k + round) % 5 {
                    0 => as_user(&deps, &actor, "DELETE", &format!("{members}/{target_id}"), None).await,
                    1 => {
                        let body = json!({"email": format!("m{target}@members-race.test"), "role": role});
                        as_user(&deps, &actor, "POST", &members, Some(body)).await
                    }
                    _ => {
                        let body = json!({"role": role});
                        as_user(&deps, &actor, "PATCH", &format!("{members}/{target_id}"), Some(body)).await
                    }
                };
                assert_clear(&reply, "member change");
                assert!(matches!(reply.status, 200 | 201 | 204 | 403 | 404 | 409 | 503), "{:?}", reply.body);
                reply.status
            }
        });
        let statuses = futures::future::join_all(ops).await;
        cases += statuses.len();
        let state = consistency::state(&stack).await;
        let current = stored(deps, &id).await;
        consistency::assert_group_matches_members(&stack, &current, &state).await;
        // Whoever is still an owner keeps acting in the next round; if the original owners lost
        // their role, the operator restores one so the race goes on.
        let listed = as_user(deps, &people[0].1, "GET", &members, None).await;
        if listed.status != 200
            || !listed
                .body
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["email"] == "m0@members-race.test" && m["role"] == "owner")
        {
            let owner = tenantbase_tests::api::as_operator(deps, "GET", &members, json!({})).await;
            let owners: Vec<&Value> = owner.body.as_array().unwrap().iter().filter(|m| m["role"] == "owner").collect();
            assert!(!owners.is_empty(), "an owner remains: {:?}", owner.body);
            let restored = tenantbase_tests::api::as_operator(
                deps,
                "POST",
                &members,
                json!({"email": "m0@members-race.test", "role": "owner"}),
            )
            .await;
            if restored.status == 409 {
                let path = format!("{members}/{}", people[0].0);
                let promoted = tenantbase_tests::api::as_operator(deps, "PATCH", &path, json!({"role": "owner"})).await;
                assert_eq!(promoted.status, 200, "{:?}", promoted.body);
            }
        }
    }
    tenantbase_tests::summary!(
        "races: member changes: {cases} concurrent changes over 3 rounds, an owner and the group in step"
    );
}

/// Records and Metabase after a delete raced discovery: nothing of the workspace is published.
async fn assert_nothing_published(stack: &Stack, workspace: &Workspace) -> usize {
    let collection = workspace.metabase_collection_id.unwrap().0;
    let state = consistency::state(stack).await;
    let published: Vec<&Value> = state["dashboards"]
        .as_object()
        .unwrap()
        .values()
        .filter(|d| d["collection_id"].as_u64() == Some(collection) && d["enable_embedding"] == true)
        .collect();
    assert!(published.is_empty(), "dashboards of deleted workspace {} still published: {published:?}", workspace.id);
    state["dashboards"]
        .as_object()
        .unwrap()
        .values()
        .filter(|d| d["collection_id"].as_u64() == Some(collection))
        .count()
}

#[tokio::test]
async fn discovery_racing_a_delete_publishes_nothing_for_the_deleted_workspace() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let analyst = Metabase::of(&stack).await;
    let (_, owner) = sign_up(deps, "owner@delete-race.test").await;
    let survivor = create(deps, &owner, "Survivor", None).await;
    let survivor = stored(deps, survivor.body["id"].as_str().unwrap()).await;
    let survivor_collection = survivor.metabase_collection_id.unwrap().0;
    let orders_sql = "SELECT * FROM orders WHERE tenant_id = {{tenant_id}} ORDER BY id";
    let survivor_card = analyst.card(survivor_collection, "Orders", orders_sql).await;
    let (survivor_dashboard, _) = analyst.dashboard(survivor_collection, "Orders", &[survivor_card], &[]).await;
    let (mut dashboards, mut published) = (0, 0);
    // Publishing is slowed down so that the delete lands while discovery is mid-pass; each
    // round starts the delete at a different moment of the pass.
    stack
        .control(
            reqwest::Method::POST,
            "/__emulator/latency",
            Some(json!({"method": "PUT", "path": "/api/dashboard/*", "ms": 300})),
        )
        .await;
    for (round, delay_ms) in [0u64, 100, 250, 450].into_iter().enumerate() {
        let doomed = create(deps, &owner, &format!("Doomed {round}"), None).await;
        let id = doomed.body["id"].as_str().unwrap().to_owned();
        let collection = doomed.body["metabase_collection_id"].as_u64().unwrap();
        let card = analyst.card(collection, "Orders", orders_sql).await;
        for name in ["One", "Two", "Three"] {
            analyst.dashboard(collection, name, &[card], &[]).await;
        }
        let workspace = stored(deps, &id).await;
        let delete = async {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            as_user(deps, &owner, "DELETE", &format!("/api/workspaces/{id}"), None).await
        };
        let (synced, deleted) = tokio::join!(tenantbase::discovery::sync_workspace(deps, &workspace), delete);
        // Discovery may finish either way; what it leaves behind is what matters.
        assert_eq!(deleted.status, 200, "{:?}", deleted.body);
        if let Ok(report) = synced {
            published += report.counts.published;
        }

        let workspace = stored(deps, &id).await;
        assert_eq!(workspace.status, Status::Archived);
        dashboards += assert_nothing_published(&stack, &workspace).await;
        for record in items::list_workspace(&deps.store, workspace.id).await.unwrap() {
            let path = format!("/api/workspaces/dashboards/{}.{}/embed", workspace.id, record.metabase_id);
            let minted = as_user(deps, &owner, "GET", &path, None).await;
            assert!(matches!(minted.status, 404 | 409), "round {round}: {path}: {:?}", minted.body);
        }
        // The next scheduled pass retires every record; still nothing published.
        tenantbase::discovery::sweep(deps).await.unwrap();
        assert_nothing_published(&stack, &workspace).await;
        for record in items::list_workspace(&deps.store, workspace.id).await.unwrap() {
            assert_eq!(record.status, ItemStatus::Removed, "round {round}: {record:?}");
        }
    }
    // The workspace that was not deleted keeps its published dashboard.
    tenantbase::discovery::sync_workspace(deps, &survivor).await.unwrap();
    let record = items::get(&deps.store, items::ItemRef::new(survivor.id, ItemKind::Dashboard, survivor_dashboard))
        .await
        .unwrap()
        .expect("the survivor's dashboard is recorded");
    assert!(record.is_embeddable(), "{record:?}");
    tenantbase_tests::summary!(
        "races: discovery vs delete: 4 rounds, {published} publications raced the delete, {dashboards} dashboards of \
         deleted workspaces, none left published"
    );
    assert!(published > 0, "discovery published while the delete ran in some round");
}

#[tokio::test]
async fn a_sweep_racing_an_on_request_sync_leaves_metabase_as_recorded() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let analyst = Metabase::of(&stack).await;
    let (_, owner) = sign_up(deps, "owner@sweep-race.test").await;
    // Publishing is slowed down so that both passes judge the same new items at once.
    stack
        .control(
            reqwest::Method::POST,
            "/__emulator/latency",
            Some(json!({"method": "PUT", "path": "/api/dashboard/*", "ms": 200})),
        )
        .await;
    let mut dashboards = 0;
    for round in 0..3 {
        let created = create(deps, &owner, &format!("Busy {round}"), None).await;
        let workspace = stored(deps, created.body["id"].as_str().unwrap()).await;
        let collection = workspace.metabase_collection_id.unwrap().0;
        let card = analyst.card(collection, "Orders", "SELECT * FROM orders WHERE tenant_id = {{tenant_id}}").await;
        for name in ["One", "Two", "Three"] {
            analyst.dashboard(collection, name, &[card], &[]).await;
        }
        let (synced, swept) =
            tokio::join!(tenantbase::discovery::sync_workspace(deps, &workspace), tenantbase::discovery::sweep(deps));
        synced.unwrap();
        swept.unwrap();
        // Whatever each pass did, Metabase publishes exactly what the records say is embeddable.
        let state = consistency::state(&stack).await;
        for dashboard in state["dashboards"].as_object().unwrap().values() {
            if dashboard["collection_id"].as_u64() != Some(collection) {
                continue;
            }
            let id = dashboard["id"].as_u64().unwrap();
            let record = items::get(&deps.store, items::ItemRef::new(workspace.id, ItemKind::Dashboard, id))
                .await
                .unwrap()
                .expect("recorded");
            assert!(record.is_embeddable(), "round {round}: {record:?}");
            assert_eq!(dashboard["enable_embedding"], true, "round {round}: dashboard {id} is recorded embeddable");
            dashboards += 1;
        }
    }
    tenantbase_tests::summary!(
        "races: sweep vs on-request sync: 3 rounds, {dashboards} dashboards published exactly as recorded"
    );
}
