//! Admin-side contract tests (§2–§13, §18 cases 12–16 and 18–20) over real HTTP against an
//! in-process emulator.

use metabase_emulator::{EmulatorConfig, Knobs, RunningEmulator};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "Sup3rSecret!pw";
const STALE: &str =
    "Looks like someone else edited the permissions and your data is out of date. Please fetch new data and try again.";

struct Mb {
    emu: RunningEmulator,
    http: Client,
}

/// A response reduced to what the contract pins: status, content type, body text.
struct Reply {
    status: StatusCode,
    content_type: String,
    text: String,
    set_cookie: Option<String>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
    fn is_text(&self) -> bool {
        self.content_type.starts_with("text/plain")
    }
    fn is_json(&self) -> bool {
        self.content_type.starts_with("application/json")
    }
    /// Assert a plain-text body with the exact text.
    fn expect_text(&self, status: u16, text: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert!(self.is_text(), "content type {} for {:?}", self.content_type, self.text);
        assert_eq!(self.text, text);
    }
    /// Assert a JSON body equal to `expected`.
    fn expect_json(&self, status: u16, expected: &Value) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert!(self.is_json(), "content type {}", self.content_type);
        assert_eq!(&self.json(), expected);
    }
    fn ok_json(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text);
        assert!(self.is_json(), "content type {}", self.content_type);
        self.json()
    }
}

#[derive(Clone, Copy)]
enum As<'a> {
    Anon,
    Session(&'a str),
    Key(&'a str),
}

impl Mb {
    async fn start() -> Self {
        Self::with_knobs(Knobs::default()).await
    }

    async fn with_knobs(knobs: Knobs) -> Self {
        let emu = metabase_emulator::spawn(EmulatorConfig { bind: None, knobs }).await.expect("emulator starts");
        Mb { emu, http: Client::new() }
    }

    async fn call(&self, who: As<'_>, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{}", self.emu.base_url, path));
        match who {
            As::Anon => {}
            As::Session(s) => req = req.header("X-Metabase-Session", s),
            As::Key(k) => req = req.header("x-api-key", k),
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request is sent");
        let status = resp.status();
        let content_type =
            resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let set_cookie = resp.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = resp.text().await.expect("body is read");
        Reply { status, content_type, text, set_cookie }
    }

    async fn get(&self, who: As<'_>, path: &str) -> Reply {
        self.call(who, Method::GET, path, None).await
    }
    async fn post(&self, who: As<'_>, path: &str, body: Value) -> Reply {
        self.call(who, Method::POST, path, Some(body)).await
    }
    async fn put(&self, who: As<'_>, path: &str, body: Value) -> Reply {
        self.call(who, Method::PUT, path, Some(body)).await
    }
    async fn delete(&self, who: As<'_>, path: &str) -> Reply {
        self.call(who, Method::DELETE, path, None).await
    }

    async fn setup_token(&self) -> String {
        let props = self.get(As::Anon, "/api/session/properties").await.ok_json();
        props["setup-token"].as_str().expect("fresh instance has a token").to_string()
    }

    /// Run `POST /api/setup` and return the admin session id.
    async fn setup(&self) -> String {
        let token = self.setup_token().await;
        let reply = self.post(As::Anon, "/api/setup", setup_body(&token, ADMIN_PASSWORD)).await;
        reply.ok_json()["id"].as_str().expect("session id").to_string()
    }

    /// Create a user, set their password, log in; returns (user id, session).
    async fn user(&self, admin: &str, email: &str) -> (i64, String) {
        let created = self
            .post(As::Session(admin), "/api/user", json!({ "email": email, "first_name": "Ten", "last_name": "Ant" }))
            .await
            .ok_json();
        let id = created["id"].as_i64().expect("user id");
        let reply = self
            .put(As::Session(admin), &format!("/api/user/{id}/password"), json!({ "password": "tenant-pass-42" }))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let session = self.login(email, "tenant-pass-42").await.ok_json()["id"].as_str().expect("session").to_string();
        (id, session)
    }

    async fn login(&self, username: &str, password: &str) -> Reply {
        self.post(As::Anon, "/api/session", json!({ "username": username, "password": password })).await
    }

    async fn control(&self, method: Method, path: &str, body: Value) -> Reply {
        self.call(As::Anon, method, path, Some(body)).await
    }

    async fn group(&self, admin: &str, name: &str) -> i64 {
        self.post(As::Session(admin), "/api/permissions/group", json!({ "name": name })).await.ok_json()["id"]
            .as_i64()
            .expect("group id")
    }

    async fn collection(&self, session: &str, body: Value) -> i64 {
        self.post(As::Session(session), "/api/collection", body).await.ok_json()["id"].as_i64().expect("collection id")
    }
}

fn setup_body(token: &str, password: &str) -> Value {
    json!({
        "token": token,
        "user": { "email": ADMIN_EMAIL, "password": password, "first_name": "Ada", "last_name": "Admin" },
        "prefs": { "site_name": "Tenantbase" },
    })
}

// ----- §1 cross-cutting, §2 health -----

#[tokio::test]
async fn health_livez_readyz_and_unknown_routes() {
    let mb = Mb::start().await;
    mb.get(As::Anon, "/api/health").await.expect_json(200, &json!({ "status": "ok" }));
    mb.get(As::Anon, "/livez").await.expect_json(200, &json!({ "status": "ok" }));
    mb.get(As::Anon, "/readyz").await.expect_json(200, &json!({ "status": "ok" }));
    mb.get(As::Anon, "/api/no-such-thing").await.expect_text(404, "API endpoint does not exist.");
    // +auth prefix: 401 before route matching, for unknown sub-routes and wrong methods alike.
    mb.get(As::Anon, "/api/user/current").await.expect_text(401, "Unauthenticated");
    mb.get(As::Anon, "/api/collection/1/nonsense").await.expect_text(401, "Unauthenticated");
    mb.call(As::Anon, Method::PATCH, "/api/user/1", None).await.expect_text(401, "Unauthenticated");
    let admin = mb.setup().await;
    mb.call(As::Session(&admin), Method::PATCH, "/api/user/1", None)
        .await
        .expect_text(404, "API endpoint does not exist.");
    mb.call(As::Session(&admin), Method::PATCH, "/api/collection/root", None)
        .await
        .expect_text(404, "API endpoint does not exist.");
    let malformed = mb
        .http
        .post(format!("{}/api/session", mb.emu.base_url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(malformed.status().as_u16(), 400);
    assert_eq!(malformed.text().await.expect("body"), "Malformed JSON in request body.");
    mb.get(As::Anon, "/api/collection/graph").await.expect_text(401, "Unauthenticated");
    let (_, user) = mb.user(&admin, "viewer@example.com").await;
    mb.get(As::Session(&user), "/api/collection/graph")
        .await
        .expect_text(403, "You don't have permissions to do that.");
    mb.put(As::Session(&user), "/api/permissions/graph", json!({ "revision": 0, "groups": {} }))
        .await
        .expect_text(403, "You don't have permissions to do that.");
}

#[tokio::test]
async fn initialising_window_answers_503_then_ready() {
    let mb = Mb::with_knobs(Knobs { init_seconds: 1.5, ..Knobs::default() }).await;
    let health = mb.get(As::Anon, "/api/health").await;
    assert_eq!(health.status.as_u16(), 503);
    let body = health.json();
    assert_eq!(body["status"], "initializing");
    assert!(body["progress"].as_f64().is_some_and(|p| (0.0..1.0).contains(&p)));
    mb.get(As::Anon, "/api/session/properties")
        .await
        .expect_text(503, "Metabase is still initializing. Please sit tight...");
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    mb.get(As::Anon, "/api/health").await.expect_json(200, &json!({ "status": "ok" }));
    assert_eq!(mb.get(As::Anon, "/api/session/properties").await.status, StatusCode::OK);
}

// ----- §3 properties, §4 setup -----

#[tokio::test]
async fn session_properties_follow_visibility_levels() {
    let mb = Mb::start().await;
    let anon = mb.get(As::Anon, "/api/session/properties").await.ok_json();
    assert_eq!(anon["has-user-setup"], false);
    assert!(anon["setup-token"].as_str().is_some_and(|t| t.len() == 36));
    assert_eq!(anon["password-complexity"], json!({ "total": 6, "digit": 1 }));
    assert!(anon["version"]["tag"].is_string());
    assert!(anon.get("enable-embedding-static").is_none(), "authenticated-only");
    assert!(anon.get("embedding-secret-key").is_none(), "admin-only");

    let admin = mb.setup().await;
    let anon = mb.get(As::Anon, "/api/session/properties").await.ok_json();
    assert_eq!(anon["has-user-setup"], true);
    assert_eq!(anon["setup-token"], Value::Null, "newest Metabase clears it");
    assert_eq!(anon["site-name"], "Tenantbase");
    let (_, user) = mb.user(&admin, "viewer@example.com").await;
    let as_user = mb.get(As::Session(&user), "/api/session/properties").await.ok_json();
    assert_eq!(as_user["enable-embedding-static"], false);
    assert!(as_user.get("embedding-secret-key").is_none());
    let as_admin = mb.get(As::Session(&admin), "/api/session/properties").await.ok_json();
    assert!(as_admin.as_object().is_some_and(|m| m.contains_key("embedding-secret-key")));
}

#[tokio::test]
async fn setup_validates_schema_before_the_403() {
    let mb = Mb::start().await;
    let token = mb.setup_token().await;
    // Weak password (no digit) → the nested errors map of §4 / §18 case 18.
    let weak = mb.post(As::Anon, "/api/setup", setup_body(&token, "anything")).await;
    assert_eq!(weak.status.as_u16(), 400);
    assert_eq!(weak.json()["errors"], json!({ "user": { "password": "password is too common." } }));
    let common = mb.post(As::Anon, "/api/setup", setup_body(&token, "Password1")).await;
    assert_eq!(common.json()["errors"], json!({ "user": { "password": "password is too common." } }));
    let mut bad_email = setup_body(&token, ADMIN_PASSWORD);
    bad_email["user"]["email"] = json!("not-an-email");
    let reply = mb.post(As::Anon, "/api/setup", bad_email).await;
    assert_eq!(reply.json()["errors"], json!({ "user": { "email": "value must be a valid email address." } }));
    let wrong_token = mb.post(As::Anon, "/api/setup", setup_body("nope", ADMIN_PASSWORD)).await;
    assert_eq!(wrong_token.status.as_u16(), 400);
    assert_eq!(wrong_token.json()["errors"], json!({ "token": "Token does not match the setup token." }));
    assert_eq!(
        mb.get(As::Anon, "/api/session/properties").await.ok_json()["has-user-setup"],
        false,
        "nothing was created"
    );

    let ok = mb.post(As::Anon, "/api/setup", setup_body(&token, ADMIN_PASSWORD)).await;
    let body = ok.ok_json();
    assert_eq!(body.as_object().map(|m| m.len()), Some(1), "exactly the id key");
    assert!(ok.set_cookie.as_deref().is_some_and(|c| c.starts_with("metabase.SESSION=")));
    let me = mb.get(As::Session(body["id"].as_str().unwrap_or_default()), "/api/user/current").await.ok_json();
    assert_eq!(me["is_superuser"], true);
    assert_eq!(me["email"], ADMIN_EMAIL);

    // §18 case 18, newest: the token was cleared, so the old token fails schema validation first.
    let again = mb.post(As::Anon, "/api/setup", setup_body(&token, ADMIN_PASSWORD)).await;
    assert_eq!(again.status.as_u16(), 400);
    assert_eq!(again.json()["errors"]["token"], "Token does not match the setup token.");
}

#[tokio::test]
async fn setup_again_with_exposed_token_is_403_text() {
    let mb = Mb::with_knobs(Knobs { setup_token_cleared_after_setup: false, ..Knobs::default() }).await;
    let token = mb.setup_token().await;
    mb.setup().await;
    assert_eq!(mb.setup_token().await, token, "older versions keep exposing it");
    mb.post(As::Anon, "/api/setup", setup_body(&token, ADMIN_PASSWORD)).await.expect_text(
        403,
        "The /api/setup route can only be used to create the first user, however a user currently exists.",
    );
    // Schema errors still win over the 403.
    let weak = mb.post(As::Anon, "/api/setup", setup_body(&token, "anything")).await;
    assert_eq!(weak.status.as_u16(), 400);
}

// ----- §5 sessions -----

#[tokio::test]
async fn login_logout_and_wrong_password() {
    let mb = Mb::start().await;
    mb.setup().await;
    let missing = mb.post(As::Anon, "/api/session", json!({})).await;
    assert_eq!(missing.status.as_u16(), 400);
    assert_eq!(missing.json()["errors"]["username"], "value must be a non-blank string.");
    let wrong = json!({ "errors": { "password": "did not match stored password" } });
    mb.login(ADMIN_EMAIL, "wrong-password-1").await.expect_json(401, &wrong);
    mb.login("nobody@example.com", "wrong-password-1").await.expect_json(401, &wrong);
    let ok = mb.login("ADMIN@example.COM", ADMIN_PASSWORD).await.ok_json();
    let session = ok["id"].as_str().expect("session").to_string();
    assert_eq!(mb.get(As::Session(&session), "/api/user/current").await.status, StatusCode::OK);
    // The cookie works as well as the header.
    let via_cookie = mb
        .http
        .get(format!("{}/api/user/current", mb.emu.base_url))
        .header("cookie", format!("metabase.SESSION={session}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(via_cookie.status(), StatusCode::OK);
    assert_eq!(mb.delete(As::Session(&session), "/api/session").await.status.as_u16(), 204);
    mb.get(As::Session(&session), "/api/user/current").await.expect_text(401, "Unauthenticated");
    mb.delete(As::Session(&session), "/api/session").await.expect_text(404, "Not found.");
    mb.delete(As::Anon, "/api/session").await.expect_text(404, "Not found.");
}

#[tokio::test]
async fn sessions_expire_fourteen_days_after_creation() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    mb.control(Method::POST, "/__emulator/clock", json!({ "advance_seconds": 14 * 24 * 3600 - 60 })).await;
    assert_eq!(
        mb.get(As::Session(&admin), "/api/user/current").await.status,
        StatusCode::OK,
        "not sliding, still valid"
    );
    mb.control(Method::POST, "/__emulator/clock", json!({ "advance_seconds": 120 })).await;
    mb.get(As::Session(&admin), "/api/user/current").await.expect_text(401, "Unauthenticated");
}

#[tokio::test]
async fn login_throttle_per_username_with_injectable_clock() {
    let mb = Mb::start().await;
    mb.setup().await;
    let wrong = json!({ "errors": { "password": "did not match stored password" } });
    for _ in 0..10 {
        mb.login(ADMIN_EMAIL, "bad-password-1").await.expect_json(401, &wrong);
    }
    // §18 case 19: the 11th failure within the hour is throttled for 15 s, even with the right password.
    mb.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.expect_json(
        401,
        &json!({ "errors": { "username": "Too many attempts! You must wait 15 seconds before trying again." } }),
    );
    mb.login(ADMIN_EMAIL, "bad-password-1").await.expect_json(
        401,
        &json!({ "errors": { "username": "Too many attempts! You must wait 42 seconds before trying again." } }),
    );
    // Another username is not affected by this username's throttle.
    mb.login("other@example.com", "bad-password-1").await.expect_json(401, &wrong);
    mb.control(Method::POST, "/__emulator/clock", json!({ "advance_seconds": 3601 })).await;
    assert_eq!(mb.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn login_throttle_per_ip_and_disable_knob() {
    let mb = Mb::start().await;
    mb.setup().await;
    for i in 0..50 {
        let reply = mb.login(&format!("user{i}@example.com"), "bad-password-1").await;
        assert_eq!(reply.json()["errors"]["password"], "did not match stored password", "attempt {i}");
    }
    let throttled = mb.login("fresh@example.com", "bad-password-1").await;
    assert_eq!(throttled.status.as_u16(), 401);
    assert_eq!(
        throttled.json()["errors"]["username"],
        "Too many attempts! You must wait 15 seconds before trying again."
    );
    let off = Mb::with_knobs(Knobs { disable_session_throttle: true, ..Knobs::default() }).await;
    off.setup().await;
    for _ in 0..12 {
        off.login(ADMIN_EMAIL, "bad-password-1").await;
    }
    assert_eq!(off.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn deactivated_user_cannot_log_in() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let (id, session) = mb.user(&admin, "leaver@example.com").await;
    mb.delete(As::Session(&admin), &format!("/api/user/{id}")).await.expect_json(200, &json!({ "success": true }));
    mb.get(As::Session(&session), "/api/user/current").await.expect_text(401, "Unauthenticated");
    mb.login("leaver@example.com", "tenant-pass-42")
        .await
        .expect_json(401, &json!({ "errors": { "_error": "Your account is disabled." } }));
    let reactivated = mb.put(As::Session(&admin), &format!("/api/user/{id}/reactivate"), json!({})).await.ok_json();
    assert_eq!(reactivated["is_active"], true);
    let again = mb.put(As::Session(&admin), &format!("/api/user/{id}/reactivate"), json!({})).await;
    assert_eq!(again.status.as_u16(), 400);
    assert_eq!(mb.login("leaver@example.com", "tenant-pass-42").await.status, StatusCode::OK);
}

// ----- §6 API keys -----

#[tokio::test]
async fn api_keys_authenticate_with_their_groups_permissions() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let tenant = mb.group(&admin, "Tenant A").await;
    let created = mb
        .post(As::Session(&admin), "/api/api-key", json!({ "group_id": tenant, "name": "tenant key" }))
        .await
        .ok_json();
    let key = created["unmasked_key"].as_str().expect("unmasked key").to_string();
    assert_eq!(key.len(), 47);
    assert!(regex::Regex::new(r"^mb_[A-Za-z0-9+/=]{44}$").unwrap().is_match(&key), "{key}");
    assert_eq!(created["masked_key"].as_str().map(|m| &m[..7]), Some(&key[..7]));
    assert!(created["masked_key"].as_str().is_some_and(|m| m.ends_with("***")));
    assert_eq!(created["group"], json!({ "id": tenant, "name": "Tenant A" }));
    assert!(created["updated_by"]["id"].is_i64());

    let me = mb.get(As::Key(&key), "/api/user/current").await.ok_json();
    assert_eq!(me["is_superuser"], false);
    assert_eq!(me["personal_collection_id"], Value::Null);
    assert!(me["group_ids"].as_array().is_some_and(|g| g.contains(&json!(tenant))));
    // The header name is case-insensitive; an unknown key is simply unauthenticated.
    let upper = mb
        .http
        .get(format!("{}/api/user/current", mb.emu.base_url))
        .header("X-API-KEY", &key)
        .send()
        .await
        .expect("sent");
    assert_eq!(upper.status(), StatusCode::OK);
    mb.get(As::Key("mb_notakey"), "/api/user/current").await.expect_text(401, "Unauthenticated");
    mb.get(As::Key(&key), "/api/permissions/group").await.expect_text(403, "You don't have permissions to do that.");
    // The hidden key user does not count as a set-up user and is not listed.
    let users = mb.get(As::Session(&admin), "/api/user").await.ok_json();
    assert_eq!(users["total"], 1);

    let admin_key = mb
        .post(As::Session(&admin), "/api/api-key", json!({ "group_id": 2, "name": "admin key" }))
        .await
        .ok_json()["unmasked_key"]
        .as_str()
        .expect("key")
        .to_string();
    assert_eq!(mb.get(As::Key(&admin_key), "/api/permissions/group").await.status, StatusCode::OK);

    mb.post(As::Session(&admin), "/api/api-key", json!({ "group_id": tenant, "name": "tenant key" }))
        .await
        .expect_json(400, &json!({ "errors": { "name": "An API key with this name already exists." } }));
    let blank = mb.post(As::Session(&admin), "/api/api-key", json!({ "group_id": tenant, "name": " " })).await;
    assert_eq!(blank.status.as_u16(), 400);
    mb.post(As::Key(&key), "/api/api-key", json!({ "group_id": tenant, "name": "x" }))
        .await
        .expect_text(403, "You don't have permissions to do that.");

    let list = mb.get(As::Session(&admin), "/api/api-key").await.ok_json();
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert!(list[0].get("unmasked_key").is_none());
    let count = mb.get(As::Session(&admin), "/api/api-key/count").await;
    assert_eq!(count.text, "2");

    let id = created["id"].as_i64().expect("id");
    let regenerated = mb.put(As::Session(&admin), &format!("/api/api-key/{id}/regenerate"), json!({})).await.ok_json();
    let new_key = regenerated["unmasked_key"].as_str().expect("new key").to_string();
    assert_eq!(regenerated["prefix"].as_str(), Some(&new_key[..7]));
    mb.get(As::Key(&key), "/api/user/current").await.expect_text(401, "Unauthenticated");
    assert_eq!(mb.get(As::Key(&new_key), "/api/user/current").await.status, StatusCode::OK);

    let renamed = mb
        .put(As::Session(&admin), &format!("/api/api-key/{id}"), json!({ "name": "renamed", "group_id": 2 }))
        .await
        .ok_json();
    assert_eq!(renamed["group"]["id"], 2);
    assert_eq!(mb.get(As::Key(&new_key), "/api/permissions/group").await.status, StatusCode::OK);
    assert_eq!(mb.delete(As::Session(&admin), &format!("/api/api-key/{id}")).await.status.as_u16(), 204);
    mb.get(As::Key(&new_key), "/api/user/current").await.expect_text(401, "Unauthenticated");
}

// ----- §7 settings -----

#[tokio::test]
async fn embedding_secret_validation_and_raw_reads() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    // §18 case 16.
    let bad = mb.put(As::Session(&admin), "/api/setting/embedding-secret-key", json!({ "value": "abc" })).await;
    assert_eq!(bad.status.as_u16(), 500);
    assert!(bad.is_json());
    assert!(
        bad.json()["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Assert failed: Invalid embedding-secret-key! Secret key must be a hexadecimal-encoded 256-bit key (i.e., a 64-character string)."))
    );
    let upper = "A".repeat(64);
    let reply = mb.put(As::Session(&admin), "/api/setting/embedding-secret-key", json!({ "value": upper })).await;
    assert_eq!(reply.status.as_u16(), 500, "uppercase hex is rejected");
    let key = "0123456789abcdef".repeat(4);
    let ok = mb.put(As::Session(&admin), "/api/setting/embedding-secret-key", json!({ "value": key })).await;
    assert_eq!(ok.status.as_u16(), 204);
    assert_eq!(ok.text, "");
    // Raw text, no JSON quotes; snake_case accepted.
    mb.get(As::Session(&admin), "/api/setting/embedding_secret_key").await.expect_text(200, &key);
    let (_, user) = mb.user(&admin, "viewer@example.com").await;
    mb.get(As::Session(&user), "/api/setting/embedding-secret-key")
        .await
        .expect_text(403, "You don't have permissions to do that.");
    mb.put(As::Session(&user), "/api/setting/enable-embedding-static", json!({ "value": true }))
        .await
        .expect_text(403, "You don't have permissions to do that.");
    let null = mb.put(As::Session(&admin), "/api/setting/embedding-secret-key", json!({ "value": null })).await;
    assert_eq!(null.status.as_u16(), 204);
    assert_eq!(mb.get(As::Session(&admin), "/api/setting/embedding-secret-key").await.status.as_u16(), 204);
}

#[tokio::test]
async fn enabling_static_embedding_generates_a_secret() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let reply = mb.put(As::Session(&admin), "/api/setting/enable-embedding-static", json!({ "value": true })).await;
    assert_eq!(reply.status.as_u16(), 204);
    let secret = mb.get(As::Session(&admin), "/api/setting/embedding-secret-key").await;
    assert!(regex::Regex::new("^[0-9a-f]{64}$").unwrap().is_match(&secret.text), "{}", secret.text);
    mb.get(As::Session(&admin), "/api/setting/enable-embedding-static").await.expect_text(200, "true");
    // Off and on again keeps the existing secret.
    mb.put(As::Session(&admin), "/api/setting/enable-embedding-static", json!({ "value": false })).await;
    mb.put(As::Session(&admin), "/api/setting/enable-embedding-static", json!({ "value": true })).await;
    assert_eq!(mb.get(As::Session(&admin), "/api/setting/embedding-secret-key").await.text, secret.text);
    let props = mb.get(As::Session(&admin), "/api/session/properties").await.ok_json();
    assert_eq!(props["enable-embedding-static"], true);
    assert_eq!(props["enable-embedding"], false, "the deprecated flag is separate");
}

#[tokio::test]
async fn unknown_settings_bulk_put_and_listing() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let unknown = mb.put(As::Session(&admin), "/api/setting/foo", json!({ "value": 1 })).await;
    assert_eq!(unknown.status.as_u16(), 500);
    assert_eq!(unknown.json()["message"], "Unknown setting: :foo");
    let unknown_get = mb.get(As::Session(&admin), "/api/setting/foo").await;
    assert_eq!(unknown_get.status.as_u16(), 500);
    let (_, user) = mb.user(&admin, "viewer@example.com").await;
    mb.put(As::Session(&user), "/api/setting/foo", json!({ "value": 1 }))
        .await
        .expect_text(403, "You don't have permissions to do that.");
    mb.get(As::Session(&user), "/api/setting/foo").await.expect_text(403, "You don't have permissions to do that.");

    let bulk = mb
        .put(
            As::Session(&admin),
            "/api/setting",
            json!({ "site-url": "bi.example.com/", "enable-embedding-static": true }),
        )
        .await;
    assert_eq!(bulk.status.as_u16(), 204);
    mb.get(As::Session(&admin), "/api/setting/site-url").await.expect_text(200, "http://bi.example.com");
    // All-or-nothing: one bad value leaves the other untouched.
    let mixed = mb
        .put(As::Session(&admin), "/api/setting", json!({ "site-name": "Changed", "embedding-secret-key": "xyz" }))
        .await;
    assert_eq!(mixed.status.as_u16(), 500);
    mb.get(As::Session(&admin), "/api/setting/site-name").await.expect_text(200, "Tenantbase");

    let list = mb.get(As::Session(&admin), "/api/setting").await.ok_json();
    let entry = list
        .as_array()
        .and_then(|l| l.iter().find(|s| s["key"] == "enable-embedding-static"))
        .cloned()
        .expect("listed");
    assert_eq!(entry["value"], true);
    assert_eq!(entry["env_name"], "MB_ENABLE_EMBEDDING_STATIC");
    assert_eq!(entry["is_env_setting"], false);
    mb.get(As::Session(&user), "/api/setting").await.expect_text(403, "You don't have permissions to do that.");

    let token = mb.get(As::Anon, "/api/util/random_token").await.ok_json();
    assert!(token["token"].as_str().is_some_and(|t| t.len() == 64));
}

// ----- §8 databases -----

#[tokio::test]
async fn databases_list_create_with_connection_test_and_delete() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let list = mb.get(As::Session(&admin), "/api/database").await.ok_json();
    assert_eq!(list["total"], 2);
    assert_eq!(list["data"][0]["name"], "Sample Database");
    assert_eq!(list["data"][0]["is_sample"], true);
    assert_eq!(list["data"][1]["name"], "analytics");
    let with_tables = mb.get(As::Session(&admin), "/api/database/2?include=tables.fields").await.ok_json();
    let fields: Vec<&str> = with_tables["tables"][0]["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["id", "tenant_id", "created_at", "channel", "amount"]);

    let failed = mb
        .post(
            As::Session(&admin),
            "/api/database",
            json!({ "name": "T", "engine": "postgres", "details": { "dbname": "t" } }),
        )
        .await;
    assert_eq!(failed.status.as_u16(), 400);
    assert!(failed.json()["errors"]["host"].is_string());
    assert!(failed.json()["message"].is_string());
    let schema = mb.post(As::Session(&admin), "/api/database", json!({ "engine": "postgres" })).await;
    assert_eq!(schema.status.as_u16(), 400);
    assert!(schema.json()["errors"]["name"].is_string());

    let created = mb
        .post(
            As::Session(&admin),
            "/api/database",
            json!({ "name": "Tenant A", "engine": "postgres", "details": { "host": "db.internal", "port": 5432, "dbname": "a", "user": "u" } }),
        )
        .await
        .ok_json();
    let db = created["id"].as_i64().expect("db id");
    assert_eq!(created["engine"], "postgres");
    assert_eq!(created["is_full_sync"], true);
    // §12: a new DB gives All Users unrestricted / query-builder-and-native.
    let graph = mb.get(As::Session(&admin), "/api/permissions/graph").await.ok_json();
    assert_eq!(
        graph["groups"]["1"][db.to_string()],
        json!({ "view-data": "unrestricted", "create-queries": "query-builder-and-native", "download": { "schemas": "full" } })
    );
    let (_, user) = mb.user(&admin, "viewer@example.com").await;
    mb.post(As::Session(&user), "/api/database", json!({ "name": "x", "engine": "h2", "details": { "db": "x" } }))
        .await
        .expect_text(403, "You don't have permissions to do that.");
    let as_user = mb.get(As::Session(&user), &format!("/api/database/{db}")).await.ok_json();
    assert!(as_user.get("details").is_none(), "details hidden from non-admins");
    assert_eq!(mb.delete(As::Session(&admin), &format!("/api/database/{db}")).await.status.as_u16(), 204);
    mb.get(As::Session(&admin), &format!("/api/database/{db}")).await.expect_text(404, "Not found.");
}

// ----- §9 collections, §11 graph -----

#[tokio::test]
async fn collection_graph_revisions_case_12() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let tenant = mb.group(&admin, "Tenant A").await;
    let a = mb.collection(&admin, json!({ "name": "A" })).await;
    let r =
        mb.get(As::Session(&admin), "/api/collection/graph").await.ok_json()["revision"].as_i64().expect("revision");
    let change = |rev: i64| json!({ "revision": rev, "groups": { tenant.to_string(): { a.to_string(): "read" } } });
    mb.put(As::Session(&admin), "/api/collection/graph", change(r - 1)).await.expect_text(409, STALE);
    mb.put(As::Session(&admin), "/api/collection/graph", json!({ "groups": {} })).await.expect_text(409, STALE);
    let after = mb.put(As::Session(&admin), "/api/collection/graph", change(r)).await.ok_json();
    assert_eq!(after["revision"], r + 1);
    assert_eq!(after["groups"][tenant.to_string()][a.to_string()], "read");
    let same = mb.put(As::Session(&admin), "/api/collection/graph", change(r + 1)).await.ok_json();
    assert_eq!(same["revision"], r + 1, "no real change, no bump");
    // Newest: creating a collection bumps the revision, so the pre-creation revision is stale.
    mb.collection(&admin, json!({ "name": "B" })).await;
    mb.put(As::Session(&admin), "/api/collection/graph", change(r + 1)).await.expect_text(409, STALE);
    let forced = mb
        .put(
            As::Session(&admin),
            "/api/collection/graph?force=true",
            json!({ "revision": 0, "groups": { tenant.to_string(): { a.to_string(): "none" } } }),
        )
        .await
        .ok_json();
    assert_eq!(forced["revision"], r + 3);
    assert!(forced["groups"].get(tenant.to_string()).is_none(), "a group without cells is omitted");
    let skipped = mb
        .put(As::Session(&admin), "/api/collection/graph?skip-graph=true", json!({ "revision": r + 3, "groups": {} }))
        .await
        .ok_json();
    assert_eq!(skipped, json!({ "revision": r + 3 }));
}

#[tokio::test]
async fn collection_creation_without_bump_on_older_versions() {
    let mb = Mb::with_knobs(Knobs { creation_bumps_revision: false, ..Knobs::default() }).await;
    let admin = mb.setup().await;
    let r = mb.get(As::Session(&admin), "/api/collection/graph").await.ok_json()["revision"].clone();
    mb.collection(&admin, json!({ "name": "A" })).await;
    let r2 = mb.get(As::Session(&admin), "/api/collection/graph").await.ok_json()["revision"].clone();
    assert_eq!(r, r2);
    // The switch can also be flipped at run time.
    let knobs =
        mb.control(Method::POST, "/__emulator/version", json!({ "creation_bumps_revision": true })).await.ok_json();
    assert_eq!(knobs["creation_bumps_revision"], true);
    mb.collection(&admin, json!({ "name": "B" })).await;
    let r3 = mb.get(As::Session(&admin), "/api/collection/graph").await.ok_json()["revision"].clone();
    assert_eq!(r3.as_i64(), r2.as_i64().map(|r| r + 1));
}

#[tokio::test]
async fn collection_inheritance_case_13_and_admin_guard_case_14() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let a = mb.collection(&admin, json!({ "name": "A" })).await;
    let graph = mb.get(As::Session(&admin), "/api/collection/graph").await.ok_json();
    assert_eq!(graph["groups"]["1"], json!({ "root": "write", a.to_string(): "write" }));
    assert_eq!(graph["groups"]["2"]["root"], "write");
    assert_eq!(graph["groups"]["2"][a.to_string()], "write");
    // No personal collection is ever listed.
    let personal = mb.get(As::Session(&admin), "/api/user/current").await.ok_json()["personal_collection_id"]
        .as_i64()
        .expect("personal collection");
    assert!(graph["groups"]["2"].get(personal.to_string()).is_none());

    let rev = graph["revision"].as_i64().expect("revision");
    let closed = mb
        .put(
            As::Session(&admin),
            "/api/collection/graph",
            json!({ "revision": rev, "groups": { "1": { "root": "none" } } }),
        )
        .await
        .ok_json();
    assert_eq!(closed["groups"]["1"], json!({ a.to_string(): "write" }), "later changes do not propagate");
    let b = mb.collection(&admin, json!({ "name": "B" })).await;
    let child = mb.collection(&admin, json!({ "name": "A child", "parent_id": a })).await;
    let graph = mb.get(As::Session(&admin), "/api/collection/graph").await.ok_json();
    assert!(graph["groups"]["1"].get(b.to_string()).is_none(), "copied from the closed root");
    assert_eq!(graph["groups"]["1"][child.to_string()], "write", "copied from parent A");

    // §18 case 14.
    let rev = graph["revision"].as_i64().expect("revision");
    mb.put(
        As::Session(&admin),
        "/api/collection/graph",
        json!({ "revision": rev, "groups": { "2": { a.to_string(): "read" } } }),
    )
    .await
    .expect_text(400, "You cannot create or revoke permissions for the 'Admin' group.");
    let harmless = mb
        .put(
            As::Session(&admin),
            "/api/collection/graph",
            json!({ "revision": rev, "groups": { "2": { a.to_string(): "write", "root": "write" } } }),
        )
        .await
        .ok_json();
    assert_eq!(harmless["revision"], rev);
    // Personal collections in the body are dropped silently; unknown ids are a 500.
    let dropped = mb
        .put(
            As::Session(&admin),
            "/api/collection/graph",
            json!({ "revision": rev, "groups": { "1": { personal.to_string(): "write" } } }),
        )
        .await
        .ok_json();
    assert_eq!(dropped["revision"], rev);
    let unknown = mb
        .put(
            As::Session(&admin),
            "/api/collection/graph",
            json!({ "revision": rev, "groups": { "1": { "9999": "read" } } }),
        )
        .await;
    assert_eq!(unknown.status.as_u16(), 500);
    assert_eq!(unknown.json()["message"], "Collection does not exist.");
}

#[tokio::test]
async fn graph_with_none_cells_on_older_versions() {
    let mb = Mb::with_knobs(Knobs { graph_none_cells: true, ..Knobs::default() }).await;
    let admin = mb.setup().await;
    let tenant = mb.group(&admin, "Tenant A").await;
    let a = mb.collection(&admin, json!({ "name": "A" })).await;
    let graph = mb.get(As::Session(&admin), "/api/collection/graph").await.ok_json();
    assert_eq!(graph["groups"][tenant.to_string()], json!({ "root": "none", a.to_string(): "none" }));
}

#[tokio::test]
async fn collection_crud_permissions_and_personal_collections() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let tenant = mb.group(&admin, "Tenant A").await;
    let (user_id, user) = mb.user(&admin, "tenant@example.com").await;
    mb.post(As::Session(&admin), "/api/permissions/membership", json!({ "group_id": tenant, "user_id": user_id }))
        .await
        .ok_json();

    let blank = mb.post(As::Session(&admin), "/api/collection", json!({ "name": "" })).await;
    assert_eq!(blank.status.as_u16(), 400);
    assert_eq!(blank.json()["errors"]["name"], "value must be a non-blank string.");
    let a = mb.collection(&admin, json!({ "name": "Tenant A", "description": "for A" })).await;
    let row = mb.get(As::Session(&admin), &format!("/api/collection/{a}")).await.ok_json();
    assert_eq!(row["location"], "/");
    assert_eq!(row["slug"], "tenant_a");
    assert_eq!(row["can_write"], true);
    assert_eq!(row["is_personal"], false);
    assert_eq!(row["effective_ancestors"][0]["id"], "root");
    assert!(row.get("color").is_none());
    let by_entity = mb
        .get(As::Session(&admin), &format!("/api/collection/{}", row["entity_id"].as_str().unwrap_or_default()))
        .await
        .ok_json();
    assert_eq!(by_entity["id"], a);
    let child = mb.collection(&admin, json!({ "name": "Reports", "parent_id": a })).await;
    let child_row = mb.get(As::Session(&admin), &format!("/api/collection/{child}")).await.ok_json();
    assert_eq!(child_row["location"], format!("/{a}/"));
    assert_eq!(child_row["parent_id"], a);
    assert_eq!(child_row["effective_ancestors"][1]["id"], a);

    // Close root and A for All Users, grant A read to the tenant group.
    let rev = mb.get(As::Session(&admin), "/api/collection/graph").await.ok_json()["revision"].clone();
    mb.put(
        As::Session(&admin),
        "/api/collection/graph",
        json!({ "revision": rev, "groups": { "1": { "root": "none", a.to_string(): "none", child.to_string(): "none" }, tenant.to_string(): { a.to_string(): "read" } } }),
    )
    .await
    .ok_json();
    let seen = mb.get(As::Session(&user), &format!("/api/collection/{a}")).await.ok_json();
    assert_eq!(seen["can_write"], false);
    mb.get(As::Session(&user), &format!("/api/collection/{child}"))
        .await
        .expect_text(403, "You don't have permissions to do that.");
    mb.post(As::Session(&user), "/api/collection", json!({ "name": "x", "parent_id": a }))
        .await
        .expect_text(403, "You don't have permissions to do that.");
    mb.post(As::Session(&user), "/api/collection", json!({ "name": "x" }))
        .await
        .expect_text(403, "You don't have permissions to do that.");
    let root = mb.get(As::Session(&user), "/api/collection/root").await.ok_json();
    assert_eq!(root["id"], "root");
    assert_eq!(root["name"], "Our analytics");
    assert_eq!(root["can_write"], false);
    mb.get(As::Session(&admin), "/api/collection/99999").await.expect_text(404, "Not found.");

    // Personal collections: owner writes, admins see them, others do not.
    let me = mb.get(As::Session(&user), "/api/user/current").await.ok_json();
    let personal = me["personal_collection_id"].as_i64().expect("personal");
    let inside = mb.collection(&user, json!({ "name": "mine", "parent_id": personal })).await;
    let personal_row = mb.get(As::Session(&admin), &format!("/api/collection/{personal}")).await.ok_json();
    assert_eq!(personal_row["personal_owner_id"], user_id);
    assert_eq!(personal_row["is_personal"], true);
    let (_, other) = mb.user(&admin, "other@example.com").await;
    mb.get(As::Session(&other), &format!("/api/collection/{inside}"))
        .await
        .expect_text(403, "You don't have permissions to do that.");
    let archive_personal =
        mb.put(As::Session(&user), &format!("/api/collection/{personal}"), json!({ "archived": true })).await;
    assert_eq!(archive_personal.status.as_u16(), 400);

    // Archive, then hard delete (must be trashed first).
    mb.delete(As::Session(&admin), &format!("/api/collection/{a}"))
        .await
        .expect_text(400, "Collection must be trashed before deletion.");
    let archived =
        mb.put(As::Session(&admin), &format!("/api/collection/{a}"), json!({ "archived": true })).await.ok_json();
    assert_eq!(archived["archived"], true);
    let graph = mb.get(As::Session(&admin), "/api/collection/graph").await.ok_json();
    assert!(graph["groups"]["2"].get(a.to_string()).is_none(), "trashed collections are not listed");
    assert_eq!(mb.delete(As::Session(&admin), &format!("/api/collection/{a}")).await.status.as_u16(), 204);
    mb.get(As::Session(&admin), &format!("/api/collection/{child}")).await.expect_text(404, "Not found.");
    let renamed =
        mb.put(As::Session(&user), &format!("/api/collection/{inside}"), json!({ "name": "Renamed" })).await.ok_json();
    assert_eq!(renamed["name"], "Renamed");
}

// ----- §10 groups and memberships -----

#[tokio::test]
async fn groups_and_memberships_case_15() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let tenant = mb.group(&admin, "Tenant A").await;
    mb.post(As::Session(&admin), "/api/permissions/group", json!({ "name": "tenant a" }))
        .await
        .expect_text(400, "A group with that name already exists.");
    let groups = mb.get(As::Session(&admin), "/api/permissions/group").await.ok_json();
    let names: Vec<&str> =
        groups.as_array().map(|g| g.iter().filter_map(|g| g["name"].as_str()).collect()).unwrap_or_default();
    assert_eq!(names, ["Administrators", "All Users", "Tenant A"]);
    let all_users = groups.as_array().and_then(|g| g.iter().find(|g| g["id"] == 1)).cloned().expect("All Users");
    assert_eq!(all_users["magic_group_type"], "all-internal-users");
    assert_eq!(all_users["member_count"], 1);
    assert_eq!(groups[0]["magic_group_type"], "admin");
    mb.put(As::Session(&admin), "/api/permissions/group/1", json!({ "name": "Everyone" }))
        .await
        .expect_text(400, "You cannot edit or delete the 'All Users' permissions group!");
    mb.delete(As::Session(&admin), "/api/permissions/group/2")
        .await
        .expect_text(400, "You cannot edit or delete the 'Administrators' permissions group!");

    let (user_id, user) = mb.user(&admin, "tenant@example.com").await;
    let members = mb
        .post(As::Session(&admin), "/api/permissions/membership", json!({ "group_id": tenant, "user_id": user_id }))
        .await
        .ok_json();
    assert_eq!(members.as_array().map(Vec::len), Some(1));
    assert_eq!(members[0]["user_id"], user_id);
    assert_eq!(members[0]["email"], "tenant@example.com");
    assert!(members[0]["membership_id"].is_i64());
    let map = mb.get(As::Session(&admin), "/api/permissions/membership").await.ok_json();
    let mine = map[user_id.to_string()].as_array().cloned().unwrap_or_default();
    assert_eq!(mine.len(), 2, "All Users + Tenant A");
    let group = mb.get(As::Session(&admin), &format!("/api/permissions/group/{tenant}")).await.ok_json();
    assert_eq!(group["members"][0]["user_id"], user_id);
    mb.get(As::Session(&user), "/api/permissions/group")
        .await
        .expect_text(403, "You don't have permissions to do that.");

    // Administrators membership ⇒ superuser; the last admin cannot be removed.
    let made_admin = mb
        .post(As::Session(&admin), "/api/permissions/membership", json!({ "group_id": 2, "user_id": user_id }))
        .await
        .ok_json();
    assert_eq!(made_admin.as_array().map(Vec::len), Some(2));
    assert_eq!(mb.get(As::Session(&user), "/api/permissions/group").await.status, StatusCode::OK);
    let map = mb.get(As::Session(&admin), "/api/permissions/membership").await.ok_json();
    let admin_membership = |uid: i64| {
        map[uid.to_string()]
            .as_array()
            .and_then(|l| l.iter().find(|m| m["group_id"] == 2))
            .and_then(|m| m["membership_id"].as_i64())
            .expect("admin membership")
    };
    let first_admin_id = mb.get(As::Session(&admin), "/api/user/current").await.ok_json()["id"].as_i64().expect("id");
    assert_eq!(
        mb.delete(As::Session(&admin), &format!("/api/permissions/membership/{}", admin_membership(user_id)))
            .await
            .status
            .as_u16(),
        204
    );
    mb.get(As::Session(&user), "/api/permissions/group")
        .await
        .expect_text(403, "You don't have permissions to do that.");
    mb.delete(As::Session(&admin), &format!("/api/permissions/membership/{}", admin_membership(first_admin_id)))
        .await
        .expect_text(400, "You cannot remove the last member of the 'Admin' group!");
    mb.delete(As::Session(&admin), "/api/permissions/membership/9999").await.expect_text(404, "Not found.");
    assert_eq!(
        mb.put(As::Session(&admin), &format!("/api/permissions/membership/{tenant}/clear"), json!({}))
            .await
            .status
            .as_u16(),
        204
    );
    let group = mb.get(As::Session(&admin), &format!("/api/permissions/group/{tenant}")).await.ok_json();
    assert_eq!(group["members"], json!([]));
    assert_eq!(mb.delete(As::Session(&admin), &format!("/api/permissions/group/{tenant}")).await.status.as_u16(), 204);
    mb.get(As::Session(&admin), &format!("/api/permissions/group/{tenant}")).await.expect_text(404, "Not found.");
}

// ----- §12 data permission graph -----

#[tokio::test]
async fn data_permission_graph_patch_revision_and_guards() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let tenant = mb.group(&admin, "Tenant A").await;
    let graph = mb.get(As::Session(&admin), "/api/permissions/graph").await.ok_json();
    assert_eq!(
        graph["groups"]["2"]["2"],
        json!({ "view-data": "unrestricted", "create-queries": "query-builder-and-native", "download": { "schemas": "full" }, "data-model": { "schemas": "all" }, "details": "yes" })
    );
    // A new group: All Users' view-data, everything else least permissive (elided).
    assert_eq!(graph["groups"][tenant.to_string()]["2"], json!({ "view-data": "unrestricted" }));
    let rev = graph["revision"].as_i64().expect("revision");

    mb.put(As::Session(&admin), "/api/permissions/graph", json!({ "revision": rev - 1, "groups": {} }))
        .await
        .expect_text(409, STALE);
    let patched = mb
        .put(
            As::Session(&admin),
            "/api/permissions/graph",
            json!({ "revision": rev, "groups": { "1": { "2": { "create-queries": "no", "data": { "native": "write" } } }, tenant.to_string(): { "2": { "create-queries": "query-builder" } } } }),
        )
        .await
        .ok_json();
    assert_eq!(patched["revision"], rev + 1);
    let sent: Vec<&String> = patched["groups"].as_object().map(|g| g.keys().collect()).unwrap_or_default();
    assert_eq!(sent.len(), 2, "only the groups sent");
    assert_eq!(patched["groups"]["1"]["2"], json!({ "view-data": "unrestricted", "download": { "schemas": "full" } }));
    assert_eq!(patched["groups"]["1"]["1"]["create-queries"], "query-builder-and-native", "other DB untouched");
    assert_eq!(patched["groups"][tenant.to_string()]["2"]["create-queries"], "query-builder");

    mb.put(
        As::Session(&admin),
        "/api/permissions/graph",
        json!({ "revision": rev + 1, "groups": { tenant.to_string(): { "2": { "view-data": "blocked" } } } }),
    )
    .await
    .expect_text(402, "The blocked permissions functionality is only enabled if you have a premium token with the advanced-permissions feature.");
    let invalid = mb
        .put(
            As::Session(&admin),
            "/api/permissions/graph",
            json!({ "revision": rev + 1, "groups": { tenant.to_string(): { "2": { "view-data": "blocked", "create-queries": "query-builder-and-native" } } } }),
        )
        .await;
    assert_eq!(invalid.status.as_u16(), 400);
    assert!(invalid.is_text());
    assert!(invalid.text.starts_with("Cannot parse permissions graph because it is invalid: "));
    let bogus = mb
        .put(
            As::Session(&admin),
            "/api/permissions/graph",
            json!({ "revision": rev + 1, "groups": { "1": { "2": { "create-queries": "everything" } } } }),
        )
        .await;
    assert_eq!(bogus.status.as_u16(), 400);
    mb.put(
        As::Session(&admin),
        "/api/permissions/graph",
        json!({ "revision": rev + 1, "groups": { "2": { "2": { "create-queries": "no" } } } }),
    )
    .await
    .expect_text(400, "You cannot create or revoke permissions for the 'Admin' group.");
    let skipped = mb
        .put(As::Session(&admin), "/api/permissions/graph?skip-graph=true", json!({ "revision": 0, "groups": {} }))
        .await;
    assert_eq!(skipped.status.as_u16(), 409, "force is needed to skip the revision check");
    let forced = mb
        .put(
            As::Session(&admin),
            "/api/permissions/graph?force=true&skip-graph=true",
            json!({ "revision": 0, "groups": {} }),
        )
        .await
        .ok_json();
    assert_eq!(forced, json!({ "revision": rev + 2 }));
    let by_group = mb.get(As::Session(&admin), &format!("/api/permissions/graph/group/{tenant}")).await.ok_json();
    assert_eq!(by_group["groups"].as_object().map(|g| g.len()), Some(1));
    let by_db = mb.get(As::Session(&admin), "/api/permissions/graph/db/2").await.ok_json();
    assert!(by_db["groups"]["1"].get("1").is_none());
    // The All Users downgrade shows up for a plain user.
    let (_, user) = mb.user(&admin, "viewer@example.com").await;
    let me = mb.get(As::Session(&user), "/api/user/current").await.ok_json();
    assert_eq!(me["permissions"]["can_create_native_queries"], true, "still native on the sample DB");
}

// ----- §13 users -----

#[tokio::test]
async fn users_create_duplicate_password_and_listing_case_20() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let created = mb
        .post(
            As::Session(&admin),
            "/api/user",
            json!({ "email": "Tenant@Example.com", "first_name": "Ten", "last_name": "Ant", "password": "ignored-pass-1", "user_group_memberships": [{ "id": 1 }] }),
        )
        .await
        .ok_json();
    let id = created["id"].as_i64().expect("id");
    assert_eq!(created["common_name"], "Ten Ant");
    assert_eq!(created["is_superuser"], false);
    assert_eq!(created["is_active"], true);
    assert!(created["user_group_memberships"].as_array().is_some_and(|m| m.iter().any(|g| g["id"] == 1)));
    // §18 case 20.
    mb.post(As::Session(&admin), "/api/user", json!({ "email": "tenant@EXAMPLE.com" }))
        .await
        .expect_json(400, &json!({ "errors": { "email": "Email address already in use." } }));
    let bad = mb.post(As::Session(&admin), "/api/user", json!({ "email": "nope" })).await;
    assert_eq!(bad.status.as_u16(), 400);
    // The undeclared `password` is stripped on the newest version.
    mb.login("tenant@example.com", "ignored-pass-1")
        .await
        .expect_json(401, &json!({ "errors": { "password": "did not match stored password" } }));
    let weak = mb.put(As::Session(&admin), &format!("/api/user/{id}/password"), json!({ "password": "short" })).await;
    assert_eq!(weak.status.as_u16(), 400);
    assert_eq!(weak.json()["errors"], json!({ "password": "password is too common." }));
    assert_eq!(
        mb.put(As::Session(&admin), &format!("/api/user/{id}/password"), json!({ "password": "tenant-pass-42" }))
            .await
            .status,
        StatusCode::OK
    );
    let session =
        mb.login("tenant@example.com", "tenant-pass-42").await.ok_json()["id"].as_str().expect("s").to_string();
    let me = mb.get(As::Session(&session), "/api/user/current").await.ok_json();
    assert_eq!(me["id"], id);
    assert!(me["personal_collection_id"].is_i64());
    assert_eq!(me["group_ids"], json!([1]));
    assert_eq!(me["is_installer"], false);
    // A non-admin changing their own password needs the old one.
    let no_old = mb
        .put(As::Session(&session), &format!("/api/user/{id}/password"), json!({ "password": "another-pass-7" }))
        .await;
    assert_eq!(no_old.status.as_u16(), 400);
    mb.get(As::Session(&session), "/api/user").await.expect_text(403, "You don't have permissions to do that.");
    mb.get(As::Session(&session), "/api/user/1").await.expect_text(403, "You don't have permissions to do that.");
    assert_eq!(
        mb.get(As::Session(&session), &format!("/api/user/{id}")).await.ok_json()["email"],
        "Tenant@Example.com"
    );

    mb.post(As::Session(&admin), "/api/user", json!({ "email": "zed@example.com", "first_name": "Zed" }))
        .await
        .ok_json();
    let found = mb.get(As::Session(&admin), "/api/user?query=EXAMPLE").await.ok_json();
    assert_eq!(found["total"], 3);
    assert_eq!(found["limit"], Value::Null);
    let found = mb.get(As::Session(&admin), "/api/user?query=zed").await.ok_json();
    assert_eq!(found["total"], 1);
    let paged = mb.get(As::Session(&admin), "/api/user?limit=1&offset=1").await.ok_json();
    assert_eq!(paged["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        (paged["limit"].clone(), paged["offset"].clone(), paged["total"].clone()),
        (json!(1), json!(1), json!(3))
    );
    mb.delete(As::Session(&admin), &format!("/api/user/{id}")).await.ok_json();
    assert_eq!(mb.get(As::Session(&admin), "/api/user").await.ok_json()["total"], 2);
    assert_eq!(mb.get(As::Session(&admin), "/api/user?status=deactivated").await.ok_json()["total"], 1);
    assert_eq!(mb.get(As::Session(&admin), "/api/user?status=all").await.ok_json()["total"], 3);
    mb.put(As::Session(&admin), &format!("/api/user/{id}"), json!({ "first_name": "X" }))
        .await
        .expect_text(404, "Not found.");
}

#[tokio::test]
async fn user_update_email_and_superuser_flag() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let (id, session) = mb.user(&admin, "tenant@example.com").await;
    mb.post(As::Session(&admin), "/api/user", json!({ "email": "taken@example.com" })).await.ok_json();
    mb.put(As::Session(&admin), &format!("/api/user/{id}"), json!({ "email": "TAKEN@example.com" }))
        .await
        .expect_json(400, &json!({ "errors": { "email": "Email address already associated to another user." } }));
    let promoted =
        mb.put(As::Session(&admin), &format!("/api/user/{id}"), json!({ "is_superuser": true })).await.ok_json();
    assert_eq!(promoted["is_superuser"], true);
    assert_eq!(mb.get(As::Session(&session), "/api/user").await.status, StatusCode::OK);
    let mismatch = mb
        .put(
            As::Session(&admin),
            &format!("/api/user/{id}"),
            json!({ "is_superuser": true, "user_group_memberships": [{ "id": 1 }] }),
        )
        .await;
    assert_eq!(mismatch.status.as_u16(), 400);
    let demoted = mb
        .put(As::Session(&admin), &format!("/api/user/{id}"), json!({ "user_group_memberships": [{ "id": 1 }] }))
        .await
        .ok_json();
    assert_eq!(demoted["is_superuser"], false);
    // A non-admin's own is_superuser is ignored.
    let self_promote = mb
        .put(As::Session(&session), &format!("/api/user/{id}"), json!({ "is_superuser": true, "first_name": "Me" }))
        .await
        .ok_json();
    assert_eq!(self_promote["is_superuser"], false);
    assert_eq!(self_promote["first_name"], "Me");
}

// ----- control routes -----

#[tokio::test]
async fn control_faults_latency_counters_and_reset() {
    let mb = Mb::start().await;
    let admin = mb.setup().await;
    let fault = mb
        .control(
            Method::POST,
            "/__emulator/faults",
            json!({ "method": "GET", "path": "/api/collection/*", "status": 503, "body": "down", "count": 2 }),
        )
        .await;
    assert_eq!(fault.status, StatusCode::OK);
    mb.get(As::Session(&admin), "/api/collection/root").await.expect_text(503, "down");
    mb.get(As::Session(&admin), "/api/collection/root").await.expect_text(503, "down");
    assert_eq!(mb.get(As::Session(&admin), "/api/collection/root").await.status, StatusCode::OK, "count exhausted");
    mb.control(Method::POST, "/__emulator/faults", json!({ "path": "/api/user/current", "status": 500 })).await;
    assert_eq!(mb.get(As::Session(&admin), "/api/user/current").await.status.as_u16(), 500);
    assert_eq!(mb.call(As::Anon, Method::DELETE, "/__emulator/faults", None).await.status.as_u16(), 204);
    assert_eq!(mb.get(As::Session(&admin), "/api/user/current").await.status, StatusCode::OK);

    mb.control(Method::POST, "/__emulator/faults", json!({ "path": "/api/health", "status": "timeout", "count": 1 }))
        .await;
    let timed_out = mb
        .http
        .get(format!("{}/api/health", mb.emu.base_url))
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));

    mb.control(Method::POST, "/__emulator/latency", json!({ "path": "/api/health", "ms": 250 })).await;
    let started = std::time::Instant::now();
    assert_eq!(mb.get(As::Anon, "/api/health").await.status, StatusCode::OK);
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));

    let counters = mb.get(As::Anon, "/__emulator/counters").await.ok_json();
    assert_eq!(counters["GET /api/collection/root"], 3);
    let state = mb.get(As::Anon, "/__emulator/state").await.ok_json();
    assert_eq!(state["route_calls"]["GET /api/collection/root"], 3);
    assert!(state["users"].as_object().is_some_and(|u| u.len() == 1));

    let bad_knob = mb.control(Method::POST, "/__emulator/version", json!({ "no_such_switch": true })).await;
    assert_eq!(bad_knob.status.as_u16(), 400);
    assert_eq!(mb.control(Method::POST, "/__emulator/reset", json!({})).await.status, StatusCode::OK);
    let props = mb.get(As::Anon, "/api/session/properties").await.ok_json();
    assert_eq!(props["has-user-setup"], false);
    assert!(props["setup-token"].is_string());
    mb.get(As::Session(&admin), "/api/user/current").await.expect_text(401, "Unauthenticated");

    // Shutdown does not wait forever on a request held by a timeout fault.
    mb.control(Method::POST, "/__emulator/faults", json!({ "path": "/api/health", "status": "timeout" })).await;
    let Mb { emu, http } = mb;
    let hanging = tokio::spawn(http.get(format!("{}/api/health", emu.base_url)).send());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    tokio::time::timeout(std::time::Duration::from_secs(5), emu.shutdown()).await.expect("shutdown finishes");
    hanging.abort();
}
