//! Property-based bad input through the real dispatch: every route that reads a body gets
//! arbitrary bytes, arbitrary JSON and near-miss objects (the right keys with values of any
//! type), login also arbitrary form bodies, and every query-parameter parser (embed options,
//! embed-usage `days`) arbitrary pairs. Whatever arrives, the function never panics and never
//! answers 5xx; every refusal is a JSON 4xx `{"error", "message"}`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use tenantbase::deps::Deps;
use tenantbase::routes::{Endpoint, ROUTES, Route};
use tenantbase_tests::Stack;
use tenantbase_tests::api::{Reply, as_user, call, sign_up};
use tenantbase_tests::fixtures::Metabase;

/// Generated inputs per parser.
const CASES: u32 = 40;

/// Every field name any body parser reads, so near-miss objects hit the real fields.
const FIELDS: &[&str] = &[
    "email",
    "password",
    "first_name",
    "last_name",
    "username",
    "name",
    "description",
    "tenant_key",
    "owner_email",
    "embed_appearance",
    "role",
    "entityType",
    "entityId",
    "minutes",
    "days",
    "template",
    "bordered",
    "theme",
];

/// Query keys the embed options parser knows, plus near misses.
const QUERY_KEYS: &[&str] = &[
    "minutes",
    "param.tenant_id",
    "param.channel",
    "param.",
    "param",
    "bordered",
    "titled",
    "theme",
    "hide_parameters",
    "downloads",
    "days",
];

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "text/plain",
    "multipart/form-data; boundary=x",
    "",
];

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        Just(json!("owner")),
        Just(json!("someone@example.test")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(FIELDS).prop_map(str::to_owned), inner.clone(), 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            prop::collection::btree_map(".{0,12}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body as sent: raw bytes (often not UTF-8 or not JSON), arbitrary JSON text, or an object of
/// real field names with values of any type.
fn any_body() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..120).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ".{0,80}",
        any_json().prop_map(|v| v.to_string()),
        prop::collection::btree_map(prop::sample::select(FIELDS).prop_map(str::to_owned), any_json(), 0..6)
            .prop_map(|m| Value::Object(m.into_iter().collect()).to_string()),
    ]
}

fn any_form() -> impl Strategy<Value = String> {
    prop_oneof![
        (".{0,30}", ".{0,30}").prop_map(|(u, p)| {
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("username", &u)
                .append_pair("password", &p)
                .finish()
        }),
        prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[a-z_=&%0-9]{0,60}",
    ]
}

fn any_query() -> impl Strategy<Value = String> {
    let key = prop_oneof![prop::sample::select(QUERY_KEYS).prop_map(str::to_owned), "[a-z_.]{0,12}"];
    let value = prop_oneof![
        ".{0,20}",
        any::<i64>().prop_map(|n| n.to_string()),
        prop::sample::select(&["true", "false", "night", "transparent", "0", "61", "7", "90", "91", "-1", "1e3"][..])
            .prop_map(str::to_owned),
    ];
    prop::collection::vec((key, value), 0..4).prop_map(|pairs| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        query.finish()
    })
}

/// Tally of what the generated inputs got.
#[derive(Default)]
struct Tally {
    cases: usize,
    by_status: BTreeMap<u16, usize>,
}

fn check(reply: &Reply, what: &str, tally: &RefCell<Tally>) -> Result<(), TestCaseError> {
    let mut tally = tally.borrow_mut();
    tally.cases += 1;
    *tally.by_status.entry(reply.status).or_default() += 1;
    prop_assert!(reply.status < 500, "{what}: {} {:?}", reply.status, reply.body);
    if reply.status >= 400 {
        prop_assert!(
            reply.body["error"].is_string() && reply.body["message"].is_string(),
            "{what}: {} without a JSON error body: {:?}",
            reply.status,
            reply.body
        );
    }
    Ok(())
}

fn runner() -> TestRunner {
    TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() })
}

/// A caller, their workspace with a discovered dashboard, and a second member.
struct Fixture {
    stack: Stack,
    token: String,
    workspace: String,
    member: String,
    dashboard: String,
}

async fn fixture() -> Fixture {
    let stack = Stack::bootstrapped().await;
    let deps = stack.deps.clone();
    let (_, token) = sign_up(&deps, "owner@bad-input.test").await;
    let (member, _) = sign_up(&deps, "member@bad-input.test").await;
    let created = as_user(&deps, &token, "POST", "/api/workspaces", Some(json!({"name": "Fuzzed"}))).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let workspace = created.body["id"].as_str().unwrap().to_owned();
    let collection = created.body["metabase_collection_id"].as_u64().unwrap();
    let members = format!("/api/workspaces/{workspace}/members");
    let added =
        as_user(&deps, &token, "POST", &members, Some(json!({"email": "member@bad-input.test", "role": "editor"})))
            .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let analyst = Metabase::of(&stack).await;
    let card = analyst.card(collection, "Orders", "SELECT * FROM orders WHERE tenant_id = {{tenant_id}}").await;
    let (dashboard, _) = analyst.dashboard(collection, "Orders", &[card], &[]).await;
    let listed = as_user(&deps, &token, "GET", &format!("/api/workspaces/{workspace}/dashboards"), None).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    Fixture { stack, token, workspace: workspace.clone(), member, dashboard: format!("{workspace}.{dashboard}") }
}

fn concrete(route: &Route, f: &Fixture) -> String {
    let item = &f.dashboard;
    route
        .path
        .replace("/dashboards/{id}", &format!("/dashboards/{item}"))
        .replace("/questions/{id}", &format!("/questions/{item}"))
        .replace("{id}", &f.workspace)
        .replace("{user_id}", &f.member)
        .replace("{dashboard_id}", item)
}

async fn send(deps: &Arc<Deps>, token: Option<&str>, method: &str, path: &str, ctype: &str, body: &str) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    if !ctype.is_empty() {
        headers.push(("content-type", ctype));
    }
    if let Some(auth) = auth.as_deref() {
        headers.push(("authorization", auth));
    }
    call(deps, method, path, &headers, Some(body)).await
}

#[test]
fn arbitrary_bodies_and_queries_get_json_4xx_and_never_5xx() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(fixture());
    let deps = f.stack.deps.clone();
    let tally = RefCell::new(Tally::default());
    let mut parsers = Vec::new();

    // Every route that reads a body, with any content type; the public ones without a token.
    let body_routes: Vec<&Route> =
        ROUTES.iter().filter(|r| matches!(r.method.as_str(), "POST" | "PATCH" | "PUT")).collect();
    for route in body_routes {
        let path = concrete(route, &f);
        let public = matches!(route.endpoint, Endpoint::Signup | Endpoint::Login);
        let token = (!public).then_some(f.token.as_str());
        parsers.push(format!("{} {}", route.method, route.path));
        let strategy = (any_body(), prop::sample::select(CONTENT_TYPES));
        runner()
            .run(&strategy, |(body, ctype)| {
                let reply = rt.block_on(send(&deps, token, route.method.as_str(), &path, ctype, &body));
                check(&reply, &format!("{} {path} [{ctype}] {body:?}", route.method), &tally)
            })
            .unwrap_or_else(|e| panic!("{} {}: {e}", route.method, route.path));
    }

    // Login's form-encoded variant.
    parsers.push("POST /auth/login (form)".to_owned());
    runner()
        .run(&any_form(), |body| {
            let reply =
                rt.block_on(send(&deps, None, "POST", "/auth/login", "application/x-www-form-urlencoded", &body));
            check(&reply, &format!("form login {body:?}"), &tally)
        })
        .unwrap();

    // Query parameters: embed options on both mint routes, and embed-usage `days`.
    let query_routes = [
        ("dashboards/{id}/embed", format!("/api/workspaces/dashboards/{}/embed", f.dashboard)),
        ("questions/{id}/embed", format!("/api/workspaces/questions/{}/embed", f.dashboard)),
        ("{id}/embed-usage", format!("/api/workspaces/{}/embed-usage", f.workspace)),
    ];
    for (pattern, path) in &query_routes {
        parsers.push(format!("GET /api/workspaces/{pattern} (query)"));
        runner()
            .run(&any_query(), |query| {
                let full = format!("{path}?{query}");
                let reply = rt.block_on(as_user(&deps, &f.token, "GET", &full, None));
                check(&reply, &format!("GET {full}"), &tally)
            })
            .unwrap();
    }
    // Idempotency keys of any shape HTTP can carry (visible ASCII and spaces) on create.
    parsers.push("POST /api/workspaces (Idempotency-Key)".to_owned());
    runner()
        .run(&"[ -~]{0,300}", |key| {
            let auth = format!("Bearer {}", f.token);
            let headers = [
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
                ("idempotency-key", key.as_str()),
            ];
            let reply = rt.block_on(call(&deps, "POST", "/api/workspaces", &headers, Some("{\"name\": 7}")));
            check(&reply, &format!("idempotency key {key:?}"), &tally)
        })
        .unwrap();

    let tally = tally.into_inner();
    let refused: usize = tally.by_status.iter().filter(|(s, _)| **s >= 400).map(|(_, n)| n).sum();
    tenantbase_tests::summary!(
        "bad input: {} generated cases over {} parsers ({}), 0 panics, 0 5xx, {refused} JSON 4xx; statuses {:?}",
        tally.cases,
        parsers.len(),
        parsers.join(", "),
        tally.by_status
    );
    assert!(parsers.len() >= 12, "every body and query parser is covered: {parsers:?}");
}
