//! The attack matrix, generated from the route table: every protected route against every
//! bearer-token forgery, and every route that takes a workspace, member or item id against a
//! caller from another tenant (or a member with too small a role). Each case has its expected
//! status; the test prints the counts and fails on any success.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tenantbase::routes::{Endpoint, ROUTES, Route};
use tenantbase_tests::api::{as_operator, as_user, call, sign_up};
use tenantbase_tests::fixtures::Metabase;
use tenantbase_tests::{Stack, TEST_OPERATOR_KEY};

/// Routes that need no credentials.
fn is_public(endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::Health | Endpoint::Signup | Endpoint::Login)
}

/// A body shaped like what the route takes, so a failure is never "bad JSON" by accident.
fn body_for(endpoint: Endpoint) -> Option<Value> {
    match endpoint {
        Endpoint::CreateWorkspace => Some(json!({"name": "Attack"})),
        Endpoint::UpdateWorkspace => Some(json!({"name": "Renamed by attacker"})),
        Endpoint::AddMember => Some(json!({"email": "attacker@evil.test", "role": "owner"})),
        Endpoint::UpdateMember => Some(json!({"role": "owner"})),
        Endpoint::RefreshEmbedToken => Some(json!({"entityType": "dashboard", "entityId": "x"})),
        Endpoint::CreateDashboardFromTemplate => Some(json!({"template": "executive"})),
        Endpoint::RegisterWorkspaceDatabase => {
            Some(json!({"engine": "postgres", "name": "Stolen", "details": {"host": "db.evil.test", "dbname": "x"}}))
        }
        _ => None,
    }
}

struct Forger {
    key: String,
    issuer: String,
    audience: String,
}

impl Forger {
    fn token(&self, alg: Algorithm, key: &str, claims: Value) -> String {
        jsonwebtoken::encode(&Header::new(alg), &claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
    }

    fn claims(&self, sub: &str, iat: i64, exp: i64) -> Value {
        json!({"sub": sub, "iat": iat, "exp": exp, "iss": self.issuer, "aud": self.audience, "jti": "forged"})
    }

    /// Every forged or broken bearer token, named.
    fn variants(&self, victim: &str, now: i64) -> Vec<(&'static str, Option<String>)> {
        let valid = self.claims(victim, now, now + 600);
        let b64 = |v: &Value| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&valid));
        let mut wrong_aud = valid.clone();
        wrong_aud["aud"] = json!("someone-else");
        let mut wrong_iss = valid.clone();
        wrong_iss["iss"] = json!("evil");
        let mut future_nbf = valid.clone();
        future_nbf["nbf"] = json!(now + 3600);
        let mut no_exp = valid.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        vec![
            ("missing header", None),
            ("malformed", Some("Bearer not-a-jwt".to_owned())),
            ("alg none", Some(format!("Bearer {none}"))),
            (
                "HS512 with the real key",
                Some(format!("Bearer {}", self.token(Algorithm::HS512, &self.key, valid.clone()))),
            ),
            (
                "wrong key",
                Some(format!("Bearer {}", self.token(Algorithm::HS256, "not-the-key-000000000000", valid.clone()))),
            ),
            (
                "expired",
                Some(format!(
                    "Bearer {}",
                    self.token(Algorithm::HS256, &self.key, self.claims(victim, now - 7200, now - 3600))
                )),
            ),
            (
                "future iat",
                Some(format!(
                    "Bearer {}",
                    self.token(Algorithm::HS256, &self.key, self.claims(victim, now + 3600, now + 7200))
                )),
            ),
            ("future nbf", Some(format!("Bearer {}", self.token(Algorithm::HS256, &self.key, future_nbf)))),
            ("wrong aud", Some(format!("Bearer {}", self.token(Algorithm::HS256, &self.key, wrong_aud)))),
            ("wrong iss", Some(format!("Bearer {}", self.token(Algorithm::HS256, &self.key, wrong_iss)))),
            ("missing exp", Some(format!("Bearer {}", self.token(Algorithm::HS256, &self.key, no_exp)))),
            (
                "another user's sub, forged",
                Some(format!(
                    "Bearer {}",
                    self.token(Algorithm::HS256, "guessed-key-guessed-key", self.claims(victim, now, now + 600))
                )),
            ),
            ("basic scheme", Some("Basic dXNlcjpwYXNz".to_owned())),
        ]
    }
}

/// Fills a route's path parameters with the victim's ids.
fn concrete(route: &Route, workspace: &str, member: &str, dashboard: &str, question: &str) -> String {
    let item = if route.path.contains("/questions/") { question } else { dashboard };
    let is_item_route =
        route.path.starts_with("/api/workspaces/dashboards/") || route.path.starts_with("/api/workspaces/questions/");
    route
        .path
        .replace("{id}", if is_item_route { item } else { workspace })
        .replace("{user_id}", member)
        .replace("{dashboard_id}", "1")
}

#[tokio::test]
async fn every_protected_route_refuses_every_forged_token() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;
    let (victim_id, victim) = sign_up(deps, "victim@acme.test").await;
    let workspace = as_user(deps, &victim, "POST", "/api/workspaces", Some(json!({"name": "Victim"}))).await;
    assert_eq!(workspace.status, 201);
    let workspace_id = workspace.body["id"].as_str().unwrap().to_owned();
    let item = format!("{workspace_id}.1");
    let secrets = deps.secrets.get().await.unwrap();
    let forger = Forger {
        key: secrets.access_token_signing_key.expose().clone(),
        issuer: deps.config.token_issuer.clone(),
        audience: deps.config.token_audience.clone(),
    };
    let now = deps.clock.unix_seconds();

    let mut cases = 0usize;
    for route in ROUTES.iter().filter(|r| !is_public(r.endpoint)) {
        let path = concrete(route, &workspace_id, &victim_id, &item, &item);
        let body = body_for(route.endpoint).map(|b| b.to_string());
        for (name, header) in forger.variants(&victim_id, now) {
            let mut headers = vec![("content-type", "application/json")];
            if let Some(header) = header.as_deref() {
                headers.push(("authorization", header));
            }
            let reply = call(deps, route.method.as_str(), &path, &headers, body.as_deref()).await;
            assert_eq!(reply.status, 401, "{name} on {} {path}: {:?}", route.method, reply.body);
            assert_eq!(reply.headers["www-authenticate"], "Bearer", "{name} on {}", route.path);
            assert_eq!(reply.body["error"], "unauthorized");
            cases += 1;
        }
        // A wrong operator key is refused, never taken as anonymous.
        let reply = call(
            deps,
            route.method.as_str(),
            &path,
            &[("x-api-key", "wrong-operator-key"), ("content-type", "application/json")],
            body.as_deref(),
        )
        .await;
        assert!(matches!(reply.status, 401 | 403 | 404), "wrong operator key on {}: {}", route.path, reply.status);
        cases += 1;
    }
    tenantbase_tests::summary!("token attacks: {cases} cases, 0 successes");
    assert!(cases >= 200, "the matrix covers at least 200 cases, got {cases}");
    // The operator key itself is not a bearer token.
    let reply = as_user(deps, TEST_OPERATOR_KEY, "GET", "/api/workspaces", None).await;
    assert_eq!(reply.status, 401);
}

/// Two tenants with wired content, a viewer in the first, and everything discovered.
struct World {
    stack: Stack,
    /// (token, user id) of A's owner, A's viewer and B's owner.
    alice: (String, String),
    vic: (String, String),
    bob: (String, String),
    a: Value,
    a_dashboard: String,
    a_question: String,
    a_quarantined: String,
}

async fn world() -> World {
    let stack = Stack::bootstrapped().await;
    let deps = stack.deps.clone();
    let (alice_id, alice) = sign_up(&deps, "alice@acme.test").await;
    let (vic_id, vic) = sign_up(&deps, "vic@acme.test").await;
    let (bob_id, bob) = sign_up(&deps, "bob@globex.test").await;
    let mb = Metabase::of(&stack).await;
    let mut made = Vec::new();
    for (tenant, owner) in [("acme", "alice@acme.test"), ("globex", "bob@globex.test")] {
        let body = json!({"name": tenant, "tenant_key": tenant, "owner_email": owner});
        let reply = as_operator(&deps, "POST", "/api/workspaces", body).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        let collection = reply.body["metabase_collection_id"].as_u64().unwrap();
        let orders =
            mb.card(collection, "Orders", "SELECT * FROM orders WHERE tenant_id = {{tenant_id}} ORDER BY id").await;
        let all = mb.card(collection, "Everything", "SELECT * FROM orders ORDER BY id").await;
        let (dashboard, _) = mb.dashboard(collection, "Orders", &[orders], &[]).await;
        let (quarantined, _) = mb.dashboard(collection, "Leaky", &[orders], &[all]).await;
        let id = reply.body["id"].as_str().unwrap().to_owned();
        let workspace = tenantbase::workspaces::get(&deps.store, id.parse().unwrap()).await.unwrap().unwrap();
        tenantbase::discovery::sync_workspace(&deps, &workspace).await.unwrap();
        made.push((reply.body, format!("{id}.{dashboard}"), format!("{id}.{orders}"), format!("{id}.{quarantined}")));
    }
    let (a, a_dashboard, a_question, a_quarantined) = made.remove(0);
    let members = format!("/api/workspaces/{}/members", a["id"].as_str().unwrap());
    let added =
        as_user(&deps, &alice, "POST", &members, Some(json!({"email": "vic@acme.test", "role": "viewer"}))).await;
    assert_eq!(added.status, 201);
    World {
        stack,
        alice: (alice, alice_id),
        vic: (vic, vic_id),
        bob: (bob, bob_id),
        a,
        a_dashboard,
        a_question,
        a_quarantined,
    }
}

#[tokio::test]
async fn another_tenant_and_a_too_small_role_are_refused_on_every_route() {
    let w = world().await;
    let deps = &w.stack.deps;
    let a_id = w.a["id"].as_str().unwrap();
    let mut cases = 0usize;
    // B's owner tries every route that names one of A's workspaces, members or items: 404.
    for route in ROUTES.iter().filter(|r| !is_public(r.endpoint) && r.path.contains('{')) {
        let path = concrete(route, a_id, &w.alice.1, &w.a_dashboard, &w.a_question);
        let reply = as_user(deps, &w.bob.0, route.method.as_str(), &path, body_for(route.endpoint)).await;
        assert_eq!(reply.status, 404, "B's owner on {} {path}: {:?}", route.method, reply.body);
        cases += 1;
    }
    for (kind, id) in [("dashboard", &w.a_dashboard), ("question", &w.a_question)] {
        let reply =
            as_user(deps, &w.bob.0, "POST", "/api/embed/token", Some(json!({"entityType": kind, "entityId": id})))
                .await;
        assert_eq!(reply.status, 404, "B's owner refreshing A's {kind}: {:?}", reply.body);
        cases += 1;
    }
    // A's viewer tries what takes an editor or an owner: 403.
    let owner_or_editor = [
        Endpoint::UpdateWorkspace,
        Endpoint::DeleteWorkspace,
        Endpoint::AddMember,
        Endpoint::UpdateMember,
        Endpoint::RemoveMember,
        Endpoint::RevokeWorkspaceEmbeds,
        Endpoint::RevokeDashboardEmbeds,
        Endpoint::RevokeQuestionEmbeds,
        Endpoint::RevokeMemberEmbeds,
        Endpoint::RestoreMemberEmbeds,
        Endpoint::EmbedUsage,
        Endpoint::CreateDashboardFromTemplate,
        Endpoint::UpgradeTemplateDashboard,
        Endpoint::RegisterWorkspaceDatabase,
    ];
    for route in ROUTES.iter().filter(|r| owner_or_editor.contains(&r.endpoint)) {
        let path = concrete(route, a_id, &w.alice.1, &w.a_dashboard, &w.a_question);
        let reply = as_user(deps, &w.vic.0, route.method.as_str(), &path, body_for(route.endpoint)).await;
        assert_eq!(reply.status, 403, "A's viewer on {} {path}: {:?}", route.method, reply.body);
        cases += 1;
    }
    // Embed parameters an attacker controls.
    let mint = format!("/api/workspaces/dashboards/{}/embed", w.a_dashboard);
    for (query, status) in [
        ("param.tenant_id=globex", 400),
        ("param.tenant_id=acme", 400),
        ("param.bogus=1", 400),
        ("minutes=61", 400),
        ("minutes=0", 400),
        ("minutes=-5", 400),
        ("minutes=ten", 400),
        ("theme=hacker", 400),
    ] {
        let reply = as_user(deps, &w.alice.0, "GET", &format!("{mint}?{query}"), None).await;
        assert_eq!(reply.status, status, "{query}: {:?}", reply.body);
        cases += 1;
    }
    let quarantined =
        as_user(deps, &w.alice.0, "GET", &format!("/api/workspaces/dashboards/{}/embed", w.a_quarantined), None).await;
    assert_eq!((quarantined.status, quarantined.body["error"].as_str()), (409, Some("quarantined")));
    cases += 1;
    // A revoked member is refused while others still mint.
    let revoke = format!("/api/workspaces/{a_id}/members/{}/embeds/revoke", w.vic.1);
    assert!(as_user(deps, &w.alice.0, "POST", &revoke, None).await.status < 300);
    assert_eq!(as_user(deps, &w.vic.0, "GET", &mint, None).await.status, 403);
    assert_eq!(as_user(deps, &w.alice.0, "GET", &mint, None).await.status, 200);
    cases += 1;
    tenantbase_tests::summary!("cross-tenant, role and embed attacks: {cases} cases, 0 successes");
}

#[tokio::test]
async fn every_embed_anyone_can_obtain_shows_only_their_tenant() {
    let w = world().await;
    let deps = &w.stack.deps;
    let mb = Metabase::of(&w.stack).await;
    let (mut embeds, mut rows) = (0usize, 0usize);
    for ((token, _), tenant) in [(&w.alice, "acme"), (&w.vic, "acme"), (&w.bob, "globex")] {
        for workspace in as_user(deps, token, "GET", "/api/workspaces", None).await.body.as_array().unwrap() {
            let id = workspace["id"].as_str().unwrap();
            for kind in ["dashboards", "questions"] {
                let listed = as_user(deps, token, "GET", &format!("/api/workspaces/{id}/{kind}"), None).await;
                for item in listed.body.as_array().unwrap().iter().filter(|i| i["status"] == "embeddable") {
                    let path = format!("/api/workspaces/{kind}/{}/embed", item["id"].as_str().unwrap());
                    let minted = as_user(deps, token, "GET", &path, None).await;
                    assert_eq!(minted.status, 200, "{path}: {:?}", minted.body);
                    let jwt = minted.body["token"].as_str().unwrap();
                    embeds += 1;
                    rows += if kind == "questions" {
                        mb.question_rows(jwt, tenant).await
                    } else {
                        mb.shell_rows(jwt, tenant).await.iter().sum()
                    };
                }
            }
        }
    }
    tenantbase_tests::summary!("leak canary: {embeds} embeds, {rows} rows, every row of the viewer's own tenant");
    assert!(embeds >= 6 && rows > 0, "{embeds} embeds, {rows} rows");
}
