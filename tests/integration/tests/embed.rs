//! The embed function against moto and the Metabase emulator: members mint tenant-locked tokens
//! that Metabase (the emulator) accepts and that show only their tenant's rows; the refresh
//! contract; cross-tenant refusals; workspace, item and member revocation (with a short TTL cap
//! and a manual clock); the token ledger and usage counts.
//!
//! Content is built through the emulator's Metabase API as an editor would (cards and a wired
//! dashboard in the workspace's collection), then discovery lints and publishes it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantbase::clock::ManualClock;
use tenantbase::deps::Deps;
use tenantbase::ids::WorkspaceId;
use tenantbase::workspaces;
use tenantbase_tests::api::{Reply, as_operator, as_user, call, sign_up};
use tenantbase_tests::fixtures::Metabase;
use tenantbase_tests::{Stack, TEST_OPERATOR_KEY};

/// Rows per tenant in the emulator's `analytics` database (its README).
const ACME_ROWS: usize = 14;
const GLOBEX_ROWS: usize = 10;
const SITE: &str = "https://analytics.example.test";

/// What was built in one workspace's collection.
struct Content {
    workspace_id: String,
    /// Record id of the wired dashboard.
    dashboard: String,
    /// Record id of the orders question.
    question: String,
    /// Record id of a dashboard whose second card ignores the tenant filter.
    leaky_dashboard: String,
    /// `(dashcard id, card id)` of the wired dashboard's data cards.
    dashcards: Vec<(u64, u64)>,
}

/// An operator-created workspace with the given tenant key, owned by `owner_email`.
async fn workspace(deps: &Arc<Deps>, name: &str, tenant: &str, owner_email: &str) -> Value {
    let body = json!({"name": name, "tenant_key": tenant, "owner_email": owner_email});
    let created = as_operator(deps, "POST", "/api/workspaces", body).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["status"], "active");
    created.body
}

/// Lets discovery lint and publish the workspace's content (it writes the item records).
async fn discover(stack: &Stack, workspace_id: &str) -> tenantbase::discovery::SyncReport {
    let id: WorkspaceId = workspace_id.parse().unwrap();
    let workspace = workspaces::get(&stack.deps.store, id).await.unwrap().expect("the workspace exists");
    tenantbase::discovery::sync_workspace(&stack.deps, &workspace).await.expect("discovery syncs")
}

/// Two wired cards on a dashboard, the orders card as a question, and a leaky dashboard.
async fn build_content(stack: &Stack, workspace: &Value) -> Content {
    let mb = Metabase::of(stack).await;
    let collection = workspace["metabase_collection_id"].as_u64().expect("collection id");
    let orders = mb
        .card(
            collection,
            "Orders",
            "SELECT * FROM orders WHERE tenant_id = {{tenant_id}} [[AND channel = {{channel}}]] ORDER BY id",
        )
        .await;
    let totals = mb
        .card(
            collection,
            "Order totals",
            "SELECT tenant_id, COUNT(*) AS orders FROM orders WHERE tenant_id = {{tenant_id}} \
             [[AND channel = {{channel}}]] GROUP BY tenant_id",
        )
        .await;
    let (dashboard, dashcards) = mb.dashboard(collection, "Orders per tenant", &[orders, totals], &[]).await;
    let (leaky, _) = mb.dashboard(collection, "Leaky", &[orders], &[totals]).await;
    let workspace_id = workspace["id"].as_str().unwrap().to_owned();
    discover(stack, &workspace_id).await;
    Content {
        dashboard: format!("{workspace_id}.{dashboard}"),
        question: format!("{workspace_id}.{orders}"),
        leaky_dashboard: format!("{workspace_id}.{leaky}"),
        workspace_id,
        dashcards,
    }
}

/// Decodes a token the way Metabase does (HS256 keyed with the embedding secret string's bytes)
/// and checks the tenant lock and the lifetime; returns the claims.
async fn verify_like_metabase(deps: &Arc<Deps>, token: &str, tenant: &str) -> Value {
    let secret = deps.secrets.get().await.unwrap().embedding_secret_key.expose().to_owned();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    // The functions may run on a manual clock ahead of real time; expiry is checked below.
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation)
        .expect("HS256 with the embedding secret");
    assert_eq!(data.header.alg, Algorithm::HS256);
    let claims = data.claims;
    assert!(claims["params"].is_object(), "params present: {claims}");
    assert_eq!(claims["params"]["tenant_id"], tenant, "{claims}");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    let cap = i64::from(deps.config.embed_ttl_cap_minutes) * 60;
    assert!(lifetime > 0 && lifetime <= cap, "exp - iat = {lifetime}, cap {cap}");
    claims
}

fn mint_path(kind: &str, id: &str) -> String {
    format!("/api/workspaces/{kind}/{id}/embed")
}

async fn mint(deps: &Arc<Deps>, token: &str, kind: &str, id: &str, query: &str) -> Reply {
    let sep = if query.is_empty() { "" } else { "?" };
    as_user(deps, token, "GET", &format!("{}{sep}{query}", mint_path(kind, id)), None).await
}

async fn refresh(deps: &Arc<Deps>, token: &str, kind: &str, id: &str) -> Reply {
    as_user(deps, token, "POST", "/api/embed/token", Some(json!({"entityType": kind, "entityId": id}))).await
}

/// The token of a successful mint (`token`) or refresh (`jwt`), checked as Metabase checks it.
async fn token_of(deps: &Arc<Deps>, reply: &Reply, tenant: &str) -> String {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let token = reply.body["token"].as_str().or(reply.body["jwt"].as_str()).expect("a token").to_owned();
    verify_like_metabase(deps, &token, tenant).await;
    token
}

fn error_code(reply: &Reply) -> (u16, String) {
    (reply.status, reply.body["error"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn members_mint_and_refresh_tokens_locked_to_their_tenant_that_load_in_metabase() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, alice) = sign_up(deps, "alice@acme.test").await;
    let acme = workspace(deps, "Acme", "acme", "alice@acme.test").await;
    let content = build_content(&stack, &acme).await;
    let mb = Metabase::of(&stack).await;

    let reply = mint(deps, &alice, "dashboards", &content.dashboard, "").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.headers["cache-control"], "no-store");
    let token = token_of(deps, &reply, "acme").await;
    let claims = verify_like_metabase(deps, &token, "acme").await;
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600, "default 10 minutes");
    let dashboard_id: u64 = content.dashboard.split('.').nth(1).unwrap().parse().unwrap();
    assert_eq!(claims["resource"], json!({"dashboard": dashboard_id}));
    assert_eq!(reply.body["url"], format!("{SITE}/embed/dashboard/{token}"), "the public site, no hash options");
    assert_eq!(reply.body["expires_in_minutes"], 10);
    assert!(reply.body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(mb.dashboard_rows(&token, &content.dashcards, "acme").await, [ACME_ROWS, 1]);

    let reply = mint(deps, &alice, "questions", &content.question, "minutes=5").await;
    let token = token_of(deps, &reply, "acme").await;
    let claims = verify_like_metabase(deps, &token, "acme").await;
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);
    assert!(reply.body["url"].as_str().unwrap().starts_with(&format!("{SITE}/embed/question/")));
    assert_eq!(mb.question_rows(&token, "acme").await, ACME_ROWS);

    // Viewer filters: enabled slugs only; repeated values become one array.
    let reply = mint(deps, &alice, "dashboards", &content.dashboard, "param.channel=web").await;
    let token = token_of(deps, &reply, "acme").await;
    assert_eq!(verify_like_metabase(deps, &token, "acme").await["params"]["channel"], "web");
    let counts = mb.dashboard_rows(&token, &content.dashcards, "acme").await;
    assert!(counts[0] > 0 && counts[0] < ACME_ROWS, "the channel filter narrows within acme: {counts:?}");
    let reply = mint(deps, &alice, "dashboards", &content.dashboard, "param.channel=web&param.channel=store").await;
    let claims = verify_like_metabase(deps, &token_of(deps, &reply, "acme").await, "acme").await;
    assert_eq!(claims["params"]["channel"], json!(["web", "store"]));
    for (query, code) in [
        ("param.tenant_id=globex", "param_not_allowed"),
        ("param.region=eu", "param_not_allowed"),
        ("param.channel=", "invalid_param_value"),
        ("minutes=61", "invalid_minutes"),
        ("minutes=0", "invalid_minutes"),
        ("theme=dark", "invalid_appearance"),
        ("tenant_id=globex", "unknown_query_parameter"),
    ] {
        let reply = mint(deps, &alice, "dashboards", &content.dashboard, query).await;
        assert_eq!(error_code(&reply), (400, code.to_owned()), "{query}: {:?}", reply.body);
    }

    // Appearance: workspace defaults, overridable per request.
    let path = format!("/api/workspaces/{}", content.workspace_id);
    let patched = as_user(
        deps,
        &alice,
        "PATCH",
        &path,
        Some(json!({"embed_appearance": {"titled": false, "theme": "night", "hide_parameters": ["channel"]}})),
    )
    .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["embed_appearance"]["theme"], "night");
    let reply = mint(deps, &alice, "dashboards", &content.dashboard, "").await;
    token_of(deps, &reply, "acme").await;
    assert!(reply.body["url"].as_str().unwrap().ends_with("#titled=false&theme=night&hide_parameters=channel"));
    let reply = mint(deps, &alice, "dashboards", &content.dashboard, "theme=light&bordered=false").await;
    token_of(deps, &reply, "acme").await;
    assert!(
        reply.body["url"]
            .as_str()
            .unwrap()
            .ends_with("#bordered=false&titled=false&theme=light&hide_parameters=channel"),
        "{:?}",
        reply.body
    );
    for bad in [json!({"theme": "dark"}), json!({"colour": "red"}), json!("night")] {
        let reply = as_user(deps, &alice, "PATCH", &path, Some(json!({"embed_appearance": bad}))).await;
        assert_eq!(error_code(&reply), (400, "invalid_appearance".to_owned()), "{bad}");
    }

    // The refresh contract: the same rules, `{jwt}` back.
    let reply = refresh(deps, &alice, "dashboard", &content.dashboard).await;
    assert_eq!(reply.body.as_object().unwrap().len(), 1, "{:?}", reply.body);
    let jwt = token_of(deps, &reply, "acme").await;
    verify_like_metabase(deps, &jwt, "acme").await;
    assert_eq!(mb.dashboard_rows(&jwt, &content.dashcards, "acme").await, [ACME_ROWS, 1]);
    let jwt = token_of(deps, &refresh(deps, &alice, "question", &content.question).await, "acme").await;
    assert_eq!(mb.question_rows(&jwt, "acme").await, ACME_ROWS);
    for body in [
        json!({"entityType": "collection", "entityId": content.dashboard}),
        json!({"entityType": "dashboard", "entityId": 7}),
        json!({"entityType": "dashboard"}),
        json!({"entityType": "dashboard", "entityId": content.dashboard, "extra": 1}),
    ] {
        let reply = as_user(deps, &alice, "POST", "/api/embed/token", Some(body.clone())).await;
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
    }
    let reply = refresh(deps, &alice, "dashboard", &format!("{}.999999", content.workspace_id)).await;
    assert_eq!(reply.status, 404, "{:?}", reply.body);

    // A dashboard whose second card ignores the tenant filter is quarantined: 409 with the reason.
    let reply = mint(deps, &alice, "dashboards", &content.leaky_dashboard, "").await;
    assert_eq!(error_code(&reply), (409, "quarantined".to_owned()), "{:?}", reply.body);
    assert!(reply.body["message"].as_str().unwrap().contains("Order totals"), "{:?}", reply.body);
    let reply = refresh(deps, &alice, "dashboard", &content.leaky_dashboard).await;
    assert_eq!(reply.status, 409);

    // No bearer token: 401; the operator key names no member: 401 too.
    let reply = call(deps, "GET", &mint_path("dashboards", &content.dashboard), &[], None).await;
    assert_eq!(reply.status, 401);
    let reply = as_operator(deps, "GET", &mint_path("dashboards", &content.dashboard), json!({})).await;
    assert_eq!(reply.status, 401);
    for garbage in ["nope", "7", &format!("{}.0", content.workspace_id), &format!("{}.999999", content.workspace_id)] {
        let reply = mint(deps, &alice, "dashboards", garbage, "").await;
        assert_eq!(reply.status, 404, "{garbage}: {:?}", reply.body);
    }
    stack.emulator.shutdown().await;
}

#[tokio::test]
async fn another_tenants_members_get_404_and_their_tokens_show_only_their_rows() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (_, alice) = sign_up(deps, "alice@acme.test").await;
    let (_, bob) = sign_up(deps, "bob@globex.test").await;
    let acme = workspace(deps, "Acme", "acme", "alice@acme.test").await;
    let globex = workspace(deps, "Globex", "globex", "bob@globex.test").await;
    let a = build_content(&stack, &acme).await;
    let b = build_content(&stack, &globex).await;
    let mb = Metabase::of(&stack).await;

    // Bob (owner of Globex) cannot mint, refresh or revoke anything of Acme's, nor read its usage.
    for (kind, id) in [("dashboards", &a.dashboard), ("questions", &a.question)] {
        let reply = mint(deps, &bob, kind, id, "").await;
        assert_eq!(error_code(&reply), (404, "not_found".to_owned()), "{kind}: {:?}", reply.body);
        let entity = kind.trim_end_matches('s');
        assert_eq!(refresh(deps, &bob, entity, id).await.status, 404, "{kind}");
        let reply = as_user(deps, &bob, "POST", &format!("/api/workspaces/{kind}/{id}/embeds/revoke"), None).await;
        assert_eq!(reply.status, 404, "{kind}: {:?}", reply.body);
    }
    for (method, path) in [
        ("POST", format!("/api/workspaces/{}/embeds/revoke", a.workspace_id)),
        ("GET", format!("/api/workspaces/{}/embed-usage", a.workspace_id)),
    ] {
        assert_eq!(as_user(deps, &bob, method, &path, None).await.status, 404, "{path}");
    }
    // Pointing Acme's Metabase id at Globex's workspace names nothing either.
    let acme_dashboard = a.dashboard.split('.').nth(1).unwrap();
    let crossed = format!("{}.{acme_dashboard}", b.workspace_id);
    assert_eq!(mint(deps, &bob, "dashboards", &crossed, "").await.status, 404);
    // A viewer filter cannot reach another tenant's rows.
    let reply = mint(deps, &bob, "dashboards", &b.dashboard, "param.tenant_id=acme").await;
    assert_eq!(error_code(&reply), (400, "param_not_allowed".to_owned()));

    let token = token_of(deps, &mint(deps, &bob, "dashboards", &b.dashboard, "").await, "globex").await;
    verify_like_metabase(deps, &token, "globex").await;
    assert_eq!(mb.dashboard_rows(&token, &b.dashcards, "globex").await, [GLOBEX_ROWS, 1]);
    let token = token_of(deps, &mint(deps, &bob, "questions", &b.question, "").await, "globex").await;
    assert_eq!(mb.question_rows(&token, "globex").await, GLOBEX_ROWS);
    let token = token_of(deps, &mint(deps, &alice, "dashboards", &a.dashboard, "").await, "acme").await;
    assert_eq!(mb.dashboard_rows(&token, &a.dashcards, "acme").await, [ACME_ROWS, 1]);
    stack.emulator.shutdown().await;
}

/// Seconds after which a revocation with a one-minute cap has passed (cap + Metabase's leeway).
const SHORT_WINDOW: u64 = 60 + 60;

#[tokio::test]
async fn workspace_and_item_revocation_unpublish_at_once_and_discovery_republishes_after_the_cap() {
    let clock = ManualClock::new();
    let env = [("EMBED_TTL_CAP_MINUTES", "1"), ("EMBED_TTL_MINUTES", "1")];
    let stack = Stack::bootstrapped_with_clock(&env, clock.clone()).await;
    let deps = &stack.deps;
    let (_, alice) = sign_up(deps, "alice@acme.test").await;
    let (_, carol) = sign_up(deps, "carol@acme.test").await;
    let (_, erin) = sign_up(deps, "erin@acme.test").await;
    let acme = workspace(deps, "Acme", "acme", "alice@acme.test").await;
    let content = build_content(&stack, &acme).await;
    let members = format!("/api/workspaces/{}/members", content.workspace_id);
    for (email, role) in [("carol@acme.test", "viewer"), ("erin@acme.test", "editor")] {
        let added = as_user(deps, &alice, "POST", &members, Some(json!({"email": email, "role": role}))).await;
        assert_eq!(added.status, 201, "{:?}", added.body);
    }
    let mb = Metabase::of(&stack).await;

    let before = token_of(deps, &mint(deps, &carol, "dashboards", &content.dashboard, "").await, "acme").await;
    let claims = verify_like_metabase(deps, &before, "acme").await;
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 60, "the short cap");
    let question_before = token_of(deps, &mint(deps, &carol, "questions", &content.question, "").await, "acme").await;
    assert_eq!(mb.dashboard_rows(&before, &content.dashcards, "acme").await, [ACME_ROWS, 1]);

    // Only owners revoke a workspace.
    let revoke_workspace = format!("/api/workspaces/{}/embeds/revoke", content.workspace_id);
    for member in [&carol, &erin] {
        assert_eq!(as_user(deps, member, "POST", &revoke_workspace, None).await.status, 403);
    }
    let revoked = as_user(deps, &alice, "POST", &revoke_workspace, None).await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    assert_eq!(revoked.body["scope"], "workspace");
    let unpublished = revoked.body["unpublished"].as_array().unwrap();
    assert!(unpublished.contains(&json!({"id": content.dashboard, "kind": "dashboard"})), "{unpublished:?}");
    assert!(unpublished.contains(&json!({"id": content.question, "kind": "question"})), "{unpublished:?}");
    assert!(
        !unpublished.contains(&json!({"id": content.leaky_dashboard, "kind": "dashboard"})),
        "quarantined items are not published: {unpublished:?}"
    );

    // At once: the token issued before no longer loads, neither the shell nor a card.
    let refused = "Embedding is not enabled for this object.";
    assert_eq!(mb.embed(&format!("/api/embed/dashboard/{before}")).await, (StatusCode::BAD_REQUEST, refused.into()));
    let (dashcard, card) = content.dashcards[0];
    let (status, text) = mb.embed(&format!("/api/embed/dashboard/{before}/dashcard/{dashcard}/card/{card}")).await;
    assert_eq!((status, text.as_str()), (StatusCode::BAD_REQUEST, refused));
    assert_eq!(mb.embed(&format!("/api/embed/card/{question_before}/query")).await.1, refused);
    for member in [&alice, &carol] {
        let reply = mint(deps, member, "dashboards", &content.dashboard, "").await;
        assert_eq!(error_code(&reply), (403, "forbidden".to_owned()), "{:?}", reply.body);
        assert!(reply.body["message"].as_str().unwrap().starts_with("revoked:"), "{:?}", reply.body);
        assert_eq!(refresh(deps, member, "question", &content.question).await.status, 403);
    }

    // Discovery during the window publishes nothing again.
    clock.advance(Duration::from_secs(SHORT_WINDOW - 5));
    let report = discover(&stack, &content.workspace_id).await;
    assert_eq!(report.counts.published, 0, "{report:?}");
    assert_eq!(mb.embed(&format!("/api/embed/dashboard/{before}")).await.1, refused);
    assert_eq!(mint(deps, &carol, "dashboards", &content.dashboard, "").await.status, 403);

    // Once every earlier token has expired, discovery re-publishes and mints work again.
    clock.advance(Duration::from_secs(6));
    let report = discover(&stack, &content.workspace_id).await;
    assert!(report.counts.published >= 2, "{report:?}");
    let after = token_of(deps, &mint(deps, &carol, "dashboards", &content.dashboard, "").await, "acme").await;
    assert_eq!(mb.dashboard_rows(&after, &content.dashcards, "acme").await, [ACME_ROWS, 1]);
    let question_after = token_of(deps, &mint(deps, &carol, "questions", &content.question, "").await, "acme").await;
    assert_eq!(mb.question_rows(&question_after, "acme").await, ACME_ROWS);

    // Item scope: owners and editors; a viewer may not. Other items keep working.
    let revoke_question = format!("/api/workspaces/questions/{}/embeds/revoke", content.question);
    assert_eq!(as_user(deps, &carol, "POST", &revoke_question, None).await.status, 403);
    let revoked = as_user(deps, &erin, "POST", &revoke_question, None).await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    assert_eq!(
        (revoked.body["scope"].as_str(), revoked.body["item_id"].as_str()),
        (Some("question"), Some(content.question.as_str()))
    );
    assert_eq!(mb.embed(&format!("/api/embed/card/{question_after}")).await.1, refused);
    let reply = mint(deps, &carol, "questions", &content.question, "").await;
    assert_eq!(reply.status, 403, "{:?}", reply.body);
    assert!(reply.body["message"].as_str().unwrap().contains("this question"), "{:?}", reply.body);
    assert_eq!(refresh(deps, &carol, "question", &content.question).await.status, 403);
    let other = token_of(deps, &mint(deps, &carol, "dashboards", &content.dashboard, "").await, "acme").await;
    assert_eq!(mb.dashboard_rows(&other, &content.dashcards, "acme").await, [ACME_ROWS, 1]);

    let revoke_dashboard = format!("/api/workspaces/dashboards/{}/embeds/revoke", content.dashboard);
    assert_eq!(as_user(deps, &alice, "POST", &revoke_dashboard, None).await.status, 200);
    assert_eq!(mb.embed(&format!("/api/embed/dashboard/{other}")).await.1, refused);
    assert_eq!(mint(deps, &carol, "dashboards", &content.dashboard, "").await.status, 403);

    clock.advance(Duration::from_secs(SHORT_WINDOW + 1));
    let report = discover(&stack, &content.workspace_id).await;
    assert_eq!(report.counts.published, 2, "the dashboard and the question: {report:?}");
    let question_again = token_of(deps, &mint(deps, &carol, "questions", &content.question, "").await, "acme").await;
    assert_eq!(mb.question_rows(&question_again, "acme").await, ACME_ROWS);
    let dashboard_again = token_of(deps, &mint(deps, &carol, "dashboards", &content.dashboard, "").await, "acme").await;
    assert_eq!(mb.dashboard_rows(&dashboard_again, &content.dashcards, "acme").await, [ACME_ROWS, 1]);
    stack.emulator.shutdown().await;
}

async fn login(deps: &Arc<Deps>, email: &str) -> String {
    let body = json!({"email": email, "password": "Correct-horse-42"}).to_string();
    let reply = call(deps, "POST", "/auth/login", &[("content-type", "application/json")], Some(&body)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_revoked_member_is_refused_until_lifted_and_usage_counts_every_token() {
    let clock = ManualClock::new();
    let stack = Stack::bootstrapped_with_clock(&[], clock.clone()).await;
    let deps = &stack.deps;
    let (alice_id, alice) = sign_up(deps, "alice@acme.test").await;
    let (dave_id, dave) = sign_up(deps, "dave@acme.test").await;
    let (_, bob) = sign_up(deps, "bob@globex.test").await;
    let acme = workspace(deps, "Acme", "acme", "alice@acme.test").await;
    let content = build_content(&stack, &acme).await;
    let ws = content.workspace_id.clone();
    let added = as_user(
        deps,
        &alice,
        "POST",
        &format!("/api/workspaces/{ws}/members"),
        Some(json!({"email": "dave@acme.test", "role": "viewer"})),
    )
    .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let mb = Metabase::of(&stack).await;

    // Day one: alice 2 dashboard mints + 1 refresh, dave 1 question mint.
    let mut expected_user: BTreeMap<String, u64> = BTreeMap::new();
    let mut expected_item: BTreeMap<(String, &str), u64> = BTreeMap::new();
    let mut tally = |user: &str, item: &str, kind: &'static str| {
        *expected_user.entry(user.to_owned()).or_default() += 1;
        *expected_item.entry((item.to_owned(), kind)).or_default() += 1;
    };
    token_of(deps, &mint(deps, &alice, "dashboards", &content.dashboard, "").await, "acme").await;
    tally(&alice_id, &content.dashboard, "dashboard");
    token_of(deps, &mint(deps, &alice, "dashboards", &content.dashboard, "minutes=30").await, "acme").await;
    tally(&alice_id, &content.dashboard, "dashboard");
    token_of(deps, &refresh(deps, &alice, "dashboard", &content.dashboard).await, "acme").await;
    tally(&alice_id, &content.dashboard, "dashboard");
    let daves = token_of(deps, &mint(deps, &dave, "questions", &content.question, "").await, "acme").await;
    tally(&dave_id, &content.question, "question");

    // User scope: only owners; dave's mints and refreshes refused, alice unaffected.
    let dave_revoke = format!("/api/workspaces/{ws}/members/{dave_id}/embeds/revoke");
    let alice_revoke = format!("/api/workspaces/{ws}/members/{alice_id}/embeds/revoke");
    assert_eq!(as_user(deps, &dave, "POST", &alice_revoke, None).await.status, 403, "viewers cannot revoke");
    assert_eq!(as_user(deps, &bob, "POST", &dave_revoke, None).await.status, 404, "non-members see nothing");
    let revoked = as_user(deps, &alice, "POST", &dave_revoke, None).await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    assert_eq!(revoked.body, json!({"workspace_id": ws, "user_id": dave_id, "embeds_revoked": true}));
    for (kind, id) in [("dashboards", &content.dashboard), ("questions", &content.question)] {
        let reply = mint(deps, &dave, kind, id, "").await;
        assert_eq!(reply.status, 403, "{:?}", reply.body);
        assert!(reply.body["message"].as_str().unwrap().starts_with("revoked:"), "{:?}", reply.body);
    }
    assert_eq!(refresh(deps, &dave, "question", &content.question).await.status, 403);
    token_of(deps, &mint(deps, &alice, "questions", &content.question, "").await, "acme").await;
    tally(&alice_id, &content.question, "question");
    // Metabase cannot revoke one token: the one already issued keeps working until it expires.
    assert_eq!(mb.question_rows(&daves, "acme").await, ACME_ROWS);
    let unknown = format!("/api/workspaces/{ws}/members/{}/embeds/revoke", WorkspaceId::generate());
    assert_eq!(as_user(deps, &alice, "POST", &unknown, None).await.status, 404);
    assert_eq!(
        as_user(deps, &alice, "POST", &format!("/api/workspaces/{ws}/members/nope/embeds/revoke"), None).await.status,
        404
    );

    let lifted = as_user(deps, &alice, "DELETE", &dave_revoke, None).await;
    assert_eq!(lifted.status, 200, "{:?}", lifted.body);
    assert_eq!(lifted.body["embeds_revoked"], false);
    token_of(deps, &mint(deps, &dave, "dashboards", &content.dashboard, "").await, "acme").await;
    tally(&dave_id, &content.dashboard, "dashboard");
    // Refused mints are not tokens: they are not in the ledger.

    // Day two.
    let day_one = as_user(deps, &alice, "GET", &format!("/api/workspaces/{ws}/embed-usage?days=1"), None).await;
    assert_eq!(day_one.status, 200, "{:?}", day_one.body);
    let first_day = day_one.body["to"].as_str().unwrap().to_owned();
    clock.advance(Duration::from_secs(86_400));
    let alice = login(deps, "alice@acme.test").await;
    let dave = login(deps, "dave@acme.test").await;
    token_of(deps, &mint(deps, &dave, "questions", &content.question, "").await, "acme").await;
    tally(&dave_id, &content.question, "question");

    let usage = as_user(deps, &alice, "GET", &format!("/api/workspaces/{ws}/embed-usage?days=7"), None).await;
    assert_eq!(usage.status, 200, "{:?}", usage.body);
    let body = &usage.body;
    assert_eq!(
        (body["total"].as_u64(), body["mints"].as_u64(), body["refreshes"].as_u64()),
        (Some(7), Some(6), Some(1))
    );
    let days = body["per_day"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!(days[5], json!({"date": first_day, "count": 6}));
    assert_eq!(days[6]["count"], 1);
    assert!(days[..5].iter().all(|d| d["count"] == 0), "{days:?}");
    let per_user: BTreeMap<String, u64> = body["per_user"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["user_id"].as_str().unwrap().to_owned(), u["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(per_user, expected_user);
    let per_item: BTreeMap<(String, &str), u64> = body["per_item"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            ((i["item_id"].as_str().unwrap().to_owned(), i["kind"].as_str().unwrap()), i["count"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(per_item, expected_item);
    let only_today = as_user(deps, &alice, "GET", &format!("/api/workspaces/{ws}/embed-usage?days=1"), None).await;
    assert_eq!(only_today.body["total"], 1);

    // Every ledger record carries the token's jti and exp and a TTL attribute ~90 days out.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let records = deps.store.query_partition(None, &format!("USAGE#{ws}"), None).await.unwrap();
    assert_eq!(records.len(), 7);
    for record in &records {
        let number = |name: &str| record[name].as_n().unwrap().parse::<i64>().unwrap();
        assert!(!record["jti"].as_s().unwrap().is_empty());
        assert!(number("exp") > number("issued_at"));
        let ttl = number("expires_at") - now;
        assert!((89 * 86_400..=92 * 86_400).contains(&ttl), "expires_at {ttl} s from now");
    }

    // Usage is for owners and editors; bad windows are 400.
    assert_eq!(as_user(deps, &dave, "GET", &format!("/api/workspaces/{ws}/embed-usage"), None).await.status, 403);
    for days in ["0", "91", "x"] {
        let reply = as_user(deps, &alice, "GET", &format!("/api/workspaces/{ws}/embed-usage?days={days}"), None).await;
        assert_eq!(error_code(&reply), (400, "invalid_days".to_owned()), "{days}");
    }
    let operator =
        call(deps, "GET", &format!("/api/workspaces/{ws}/embed-usage"), &[("x-api-key", TEST_OPERATOR_KEY)], None)
            .await;
    assert_eq!((operator.status, operator.body["total"].as_u64()), (200, Some(7)));
    stack.emulator.shutdown().await;
}
