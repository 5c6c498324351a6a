//! CORS as the functions answer it locally (`make dev`): preflights and allow headers for the
//! configured origins only, on every route of every function, through the real dispatch.

use tenantbase::routes::ROUTES;
use tenantbase_tests::Stack;
use tenantbase_tests::api::{Reply, call};

const APP: &str = "http://127.0.0.1:8080";
const OTHER: &str = "https://evil.example.com";

async fn stack() -> Stack {
    Stack::with_emulator(metabase_emulator::EmulatorConfig::default(), &[("CORS_ALLOWED_ORIGINS", APP)]).await
}

fn header<'r>(reply: &'r Reply, name: &str) -> Option<&'r str> {
    reply.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A concrete path for a route pattern.
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{dashboard_id}", "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b.7")
        .replace("{user_id}", "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c")
        .replace("{id}", "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b")
}

async fn preflight(stack: &Stack, origin: &str, path: &str, method: &str) -> Reply {
    call(&stack.deps, "OPTIONS", path, &[("origin", origin), ("access-control-request-method", method)], None).await
}

#[tokio::test]
async fn every_route_answers_preflights_from_allowed_origins_only() {
    let stack = stack().await;
    for route in ROUTES {
        let path = concrete(route.path);
        let allowed = preflight(&stack, APP, &path, route.method.as_str()).await;
        assert_eq!(allowed.status, 204, "{} {path}: {:?}", route.method, allowed.body);
        assert_eq!(header(&allowed, "access-control-allow-origin"), Some(APP));
        let methods = header(&allowed, "access-control-allow-methods").unwrap_or_default();
        assert!(methods.split(", ").any(|m| m == route.method.as_str()), "{} {path}: {methods}", route.method);
        let headers = header(&allowed, "access-control-allow-headers").unwrap_or_default();
        assert!(headers.contains("authorization") && headers.contains("content-type"), "{headers}");

        let refused = preflight(&stack, OTHER, &path, route.method.as_str()).await;
        assert_eq!(refused.status, 403, "{} {path}", route.method);
        assert_eq!(refused.body["error"], "forbidden");
        assert_eq!(header(&refused, "access-control-allow-origin"), None);
        assert_eq!(header(&refused, "access-control-allow-methods"), None);
    }
    let unknown = preflight(&stack, APP, "/api/nope", "GET").await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn answers_carry_allow_headers_for_allowed_origins_only() {
    let stack = stack().await;
    // An error answer too: the page must be able to read the message.
    let allowed = call(&stack.deps, "GET", "/auth/me", &[("origin", APP)], None).await;
    assert_eq!(allowed.status, 401);
    assert_eq!(header(&allowed, "access-control-allow-origin"), Some(APP));
    assert!(header(&allowed, "access-control-expose-headers").unwrap_or_default().contains("www-authenticate"));
    assert_eq!(header(&allowed, "vary"), Some("origin"));

    for headers in [&[("origin", OTHER)][..], &[("origin", "null")][..], &[][..]] {
        let reply = call(&stack.deps, "GET", "/auth/me", headers, None).await;
        assert_eq!(reply.status, 401);
        assert_eq!(header(&reply, "access-control-allow-origin"), None, "{headers:?}");
        assert_eq!(header(&reply, "vary"), Some("origin"), "{headers:?}");
    }

    // A successful answer, through another function.
    let (_, token) = tenantbase_tests::api::sign_up(&stack.deps, "cors@example.com").await;
    let auth = format!("Bearer {token}");
    let reply = call(&stack.deps, "GET", "/auth/me", &[("origin", APP), ("authorization", &auth)], None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(header(&reply, "access-control-allow-origin"), Some(APP));
}

#[tokio::test]
async fn without_configuration_no_origin_is_allowed() {
    let stack = Stack::new().await;
    let refused = preflight(&stack, APP, "/api/workspaces", "POST").await;
    assert_eq!(refused.status, 403);
    assert_eq!(header(&refused, "access-control-allow-origin"), None);
    let reply = call(&stack.deps, "GET", "/auth/me", &[("origin", APP)], None).await;
    assert_eq!(header(&reply, "access-control-allow-origin"), None);
    assert_eq!(header(&reply, "vary"), None);
}
