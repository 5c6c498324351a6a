//! The attack matrix, generated from the route table: every protected route against every
//! bearer-token forgery, and every route that takes a workspace, member or item id against a
//! caller from another tenant (or a member with too small a role). Each case has its expected
//! status; the test prints the counts and fails on any success.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tenantbase::deps::Deps;
use tenantbase::routes::{Endpoint, ROUTES, Route};
use tenantbase_tests::api::{as_user, call, sign_up};
use tenantbase_tests::{Stack, TEST_OPERATOR_KEY};

/// Routes that need no credentials.
fn is_public(endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::Health | Endpoint::Signup | Endpoint::Login)
}

/// Routes that answer `501` until their issue ships; they are listed, not attacked.
async fn is_implemented(deps: &Arc<Deps>, token: &str, route: &Route, path: &str) -> bool {
    as_user(deps, token, route.method.as_str(), path, Some(json!({}))).await.status != 501
}

/// A body shaped like what the route takes, so a failure is never "bad JSON" by accident.
fn body_for(endpoint: Endpoint) -> Option<Value> {
    match endpoint {
        Endpoint::CreateWorkspace => Some(json!({"name": "Attack"})),
        Endpoint::UpdateWorkspace => Some(json!({"name": "Renamed by attacker"})),
        Endpoint::AddMember => Some(json!({"email": "attacker@evil.test", "role": "owner"})),
        Endpoint::UpdateMember => Some(json!({"role": "owner"})),
        Endpoint::RefreshEmbedToken => Some(json!({"entityType": "dashboard", "entityId": "x"})),
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

    let (mut cases, mut unimplemented) = (0usize, Vec::new());
    for route in ROUTES.iter().filter(|r| !is_public(r.endpoint)) {
        let path = concrete(route, &workspace_id, &victim_id, &item, &item);
        if !is_implemented(deps, &victim, route, &path).await {
            unimplemented.push(format!("{} {}", route.method, route.path));
            continue;
        }
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
    println!("token attacks: {cases} cases, 0 successes; not yet implemented (501): {unimplemented:?}");
    assert!(cases >= 200, "the matrix covers at least 200 cases, got {cases}");
    // The operator key itself is not a bearer token.
    let reply = as_user(deps, TEST_OPERATOR_KEY, "GET", "/api/workspaces", None).await;
    assert_eq!(reply.status, 401);
}
