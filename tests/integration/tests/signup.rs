//! The `signup` function end to end in-process: real API Gateway events from `events/signup/`,
//! DynamoDB and Secrets Manager on moto, and the Metabase emulator over HTTP.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tenantbase::auth::TokenSettings;
use tenantbase::clock::{Clock, ManualClock};
use tenantbase::deps::Deps;
use tenantbase::ids::UserId;
use tenantbase::routes::Function;
use tenantbase::secrets::SecretString;
use tenantbase_tests::Stack;

const SIGNUP: &str = include_str!("../../../events/signup/post-signup.json");
const LOGIN_FORM: &str = include_str!("../../../events/signup/post-login-form.json");
const LOGIN_JSON: &str = include_str!("../../../events/signup/post-login-json.json");
const ME: &str = include_str!("../../../events/signup/get-me.json");

const PASSWORD: &str = "Analytical-Engine-1843";

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: Value,
}

impl Reply {
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }
}

async fn send(deps: &Arc<Deps>, event: &Value) -> Reply {
    let request = lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway v2 event");
    let response = tenantbase::api::handle(Function::Signup, deps.clone(), request).await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json", "every answer is JSON");
    let body = serde_json::from_slice(response.body().as_ref()).expect("a JSON body");
    Reply { status: response.status().as_u16(), headers: response.headers().clone(), body }
}

fn event(fixture: &str) -> Value {
    serde_json::from_str(fixture).unwrap()
}

/// A fixture with another body and content type (plain text, as API Gateway sends JSON).
fn with_body(fixture: &str, content_type: Option<&str>, body: &str) -> Value {
    let mut event = event(fixture);
    match content_type {
        Some(content_type) => event["headers"]["content-type"] = content_type.into(),
        None => {
            event["headers"].as_object_mut().unwrap().remove("content-type");
        }
    }
    event["headers"]["content-length"] = body.len().to_string().into();
    event["body"] = body.into();
    event["isBase64Encoded"] = false.into();
    event
}

async fn signup(deps: &Arc<Deps>, email: &str, password: &str, first: &str, last: &str) -> Reply {
    let body = json!({"email": email, "password": password, "first_name": first, "last_name": last});
    send(deps, &with_body(SIGNUP, Some("application/json"), &body.to_string())).await
}

async fn login_json(deps: &Arc<Deps>, email: &str, password: &str) -> Reply {
    let body = json!({"email": email, "password": password});
    send(deps, &with_body(LOGIN_JSON, Some("application/json"), &body.to_string())).await
}

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn login_form(deps: &Arc<Deps>, email: &str, password: &str) -> Reply {
    let body = format!("grant_type=password&username={}&password={}", form_encode(email), form_encode(password));
    send(deps, &with_body(LOGIN_FORM, Some("application/x-www-form-urlencoded"), &body)).await
}

async fn me(deps: &Arc<Deps>, authorization: Option<&str>) -> Reply {
    let mut event = event(ME);
    let headers = event["headers"].as_object_mut().unwrap();
    match authorization {
        Some(value) => headers.insert("authorization".into(), value.into()),
        None => headers.remove("authorization"),
    };
    send(deps, &event).await
}

async fn token(deps: &Arc<Deps>, email: &str, password: &str) -> String {
    let reply = login_json(deps, email, password).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["access_token"].as_str().unwrap().to_owned()
}

/// The stack's `Deps` again, with a clock the test moves.
fn with_clock(stack: &Stack, clock: &ManualClock) -> Arc<Deps> {
    let mut deps = Deps::build(stack.deps.config.clone(), &stack.sdk).expect("deps");
    deps.clock = Arc::new(clock.clone());
    Arc::new(deps)
}

/// Every Metabase user with `email` (any case, active or not), read straight from the emulator.
async fn metabase_users(stack: &Stack, email: &str) -> Vec<Value> {
    let key = stack.deps.secrets.get().await.unwrap().metabase_api_key.expose().clone();
    let list: Value = reqwest::Client::new()
        .get(stack.emulator_url("/api/user"))
        .query(&[("status", "all")])
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email)))
        .cloned()
        .collect()
}

async fn metabase_admin_call(stack: &Stack, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let key = stack.deps.secrets.get().await.unwrap().metabase_api_key.expose().clone();
    let mut request = reqwest::Client::new().request(method, stack.emulator_url(path)).header("x-api-key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.unwrap()
}

/// Every profile item in the table with `email`.
async fn profiles_with_email(stack: &Stack, email: &str) -> usize {
    let output = aws_sdk_dynamodb::Client::new(&stack.sdk)
        .scan()
        .table_name(stack.deps.store.table())
        .filter_expression("#sk = :sk AND #email = :email")
        .expression_attribute_names("#sk", "SK")
        .expression_attribute_names("#email", "email")
        .expression_attribute_values(":sk", AttributeValue::S("PROFILE".into()))
        .expression_attribute_values(":email", AttributeValue::S(email.into()))
        .send()
        .await
        .unwrap();
    output.items().len()
}

#[tokio::test]
async fn signup_login_and_me_from_the_fixtures_with_the_metabase_user_mirrored() {
    let stack = Stack::bootstrapped().await;
    let deps = &stack.deps;

    let created = send(deps, &event(SIGNUP)).await;
    assert_eq!(created.status, 201, "{created:?}");
    let body = &created.body;
    assert_eq!(body["email"], "ada.lovelace@example.com", "trimmed and lower-cased");
    assert_eq!((body["first_name"].as_str(), body["last_name"].as_str()), (Some("Ada"), Some("Lovelace")));
    assert_eq!(body["is_active"], true);
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    let id: UserId = body["id"].as_str().unwrap().parse().unwrap();
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "email", "first_name", "id", "is_active", "last_name"], "no hash, nothing else");

    let mirrored = metabase_users(&stack, "ada.lovelace@example.com").await;
    assert_eq!(mirrored.len(), 1, "{mirrored:?}");
    assert_eq!(mirrored[0]["email"], "ada.lovelace@example.com");
    assert_eq!(
        (mirrored[0]["first_name"].as_str(), mirrored[0]["last_name"].as_str()),
        (Some("Ada"), Some("Lovelace"))
    );

    // Both login shapes, straight from the fixtures (the form one arrives base64-encoded).
    for fixture in [LOGIN_FORM, LOGIN_JSON] {
        let reply = send(deps, &event(fixture)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body["token_type"], "bearer");
        assert_eq!(reply.body["expires_in"], 3600);
        assert_eq!(reply.headers["cache-control"], "no-store");
        assert_eq!(reply.body["access_token"].as_str().unwrap().split('.').count(), 3);
    }
    let form = login_form(deps, " ADA.Lovelace@example.com ", PASSWORD).await;
    assert_eq!(form.status, 200, "{form:?}");

    let access_token = form.body["access_token"].as_str().unwrap();
    let profile = me(deps, Some(&format!("Bearer {access_token}"))).await;
    assert_eq!(profile.status, 200, "{profile:?}");
    assert_eq!(profile.body["id"], id.to_string());
    assert_eq!(profile.body["email"], "ada.lovelace@example.com");
    assert_eq!(profile.body["metabase_user_id"], mirrored[0]["id"]);
    assert_eq!(profile.body["workspaces"], json!([]));
    assert!(profile.body.get("password_hash").is_none());

    // A membership as the workspaces function writes it shows up through the index.
    let workspace = uuid::Uuid::now_v7().to_string();
    aws_sdk_dynamodb::Client::new(&stack.sdk)
        .put_item()
        .table_name(stack.deps.store.table())
        .item("PK", AttributeValue::S(format!("WS#{workspace}")))
        .item("SK", AttributeValue::S(format!("MEMBER#{id}")))
        .item("GSI1PK", AttributeValue::S(format!("USER#{id}")))
        .item("GSI1SK", AttributeValue::S(format!("WS#{workspace}")))
        .item("role", AttributeValue::S("owner".into()))
        .send()
        .await
        .unwrap();
    let profile = me(deps, Some(&format!("Bearer {access_token}"))).await;
    assert_eq!(profile.body["workspaces"], json!([{"workspace_id": workspace, "role": "owner"}]));
}

#[tokio::test]
async fn duplicate_emails_conflict_in_any_case() {
    let stack = Stack::new().await;
    let first = signup(&stack.deps, "grace@example.com", "Compiler-Pioneer-1952", "Grace", "Hopper").await;
    assert_eq!(first.status, 201, "{first:?}");
    for again in ["grace@example.com", "  Grace@EXAMPLE.com"] {
        let reply = signup(&stack.deps, again, "Another-Passw0rd!", "Other", "Person").await;
        assert_eq!((reply.status, reply.error()), (409, "email_taken"), "{again}: {reply:?}");
    }
    assert_eq!(profiles_with_email(&stack, "grace@example.com").await, 1);
}

#[tokio::test]
async fn twenty_concurrent_signups_of_one_email_make_exactly_one_account() {
    let stack = Stack::bootstrapped().await;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..20 {
        let deps = stack.deps.clone();
        // Different spellings of one address, all racing.
        let email = if i % 2 == 0 { "Race@Example.com".to_owned() } else { "race@example.com".to_owned() };
        attempts.spawn(async move { signup(&deps, &email, "Concurrent-Signup-42", "Race", "Condition").await });
    }
    let replies: Vec<Reply> = attempts.join_all().await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let conflicts = replies.iter().filter(|r| r.status == 409 && r.error() == "email_taken").count();
    assert_eq!((created, conflicts), (1, 19), "{replies:?}");
    assert_eq!(profiles_with_email(&stack, "race@example.com").await, 1);
    assert_eq!(metabase_users(&stack, "race@example.com").await.len(), 1, "one Metabase user too");
}

#[tokio::test]
async fn weak_passwords_and_invalid_fields_are_400s_that_change_nothing() {
    let stack = Stack::new().await;
    let deps = &stack.deps;
    let email = "alan.turing@example.com";
    for (password, why) in [
        ("Sh0rt!", "at least 10"),
        ("abcdefghijklmnop", "two kinds"),
        ("1234567890123", "two kinds"),
        ("Alan.Turing-1912", "email"),
        ("alan.turing@example.com", "email"),
    ] {
        let reply = signup(deps, email, password, "Alan", "Turing").await;
        assert_eq!((reply.status, reply.error()), (400, "weak_password"), "{password}: {reply:?}");
        assert!(reply.body["message"].as_str().unwrap().contains(why), "{reply:?}");
    }
    for (body, code, field) in [
        (json!({"password": PASSWORD, "first_name": "A", "last_name": "T"}), "missing_field", "email"),
        (json!({"email": email, "first_name": "A", "last_name": "T"}), "missing_field", "password"),
        (json!({"email": email, "password": PASSWORD, "last_name": "T"}), "missing_field", "first_name"),
        (
            json!({"email": email, "password": PASSWORD, "first_name": "A", "last_name": " "}),
            "missing_field",
            "last_name",
        ),
        (json!({"email": 42, "password": PASSWORD, "first_name": "A", "last_name": "T"}), "invalid_field", "email"),
        (
            json!({"email": "not-an-email", "password": PASSWORD, "first_name": "A", "last_name": "T"}),
            "invalid_email",
            "email",
        ),
    ] {
        let reply = send(deps, &with_body(SIGNUP, Some("application/json"), &body.to_string())).await;
        assert_eq!((reply.status, reply.error()), (400, code), "{body}: {reply:?}");
        assert!(reply.body["message"].as_str().unwrap().contains(field), "{reply:?}");
    }
    assert_eq!(profiles_with_email(&stack, email).await, 0, "nothing was written");
    let fine = signup(deps, email, "Enigma-Machine-1939", "Alan", "Turing").await;
    assert_eq!(fine.status, 201, "the email is still free: {fine:?}");
}

#[tokio::test]
async fn malformed_json_and_wrong_content_types_are_json_errors() {
    let stack = Stack::new().await;
    let deps = &stack.deps;
    let cases = [
        (SIGNUP, Some("application/json"), r#"{"email": "a@b.co", "#, 400, "invalid_json"),
        (SIGNUP, Some("application/json"), "[]", 400, "invalid_body"),
        (SIGNUP, Some("text/plain"), r#"{"email": "a@b.co"}"#, 415, "unsupported_media_type"),
        (SIGNUP, Some("application/x-www-form-urlencoded"), "email=a%40b.co", 415, "unsupported_media_type"),
        (SIGNUP, None, r#"{"email": "a@b.co"}"#, 415, "unsupported_media_type"),
        (LOGIN_JSON, Some("application/json"), "{not json}", 400, "invalid_json"),
        (LOGIN_JSON, Some("text/plain"), "username=a&password=b", 415, "unsupported_media_type"),
        (LOGIN_JSON, Some("multipart/form-data; boundary=x"), "--x--", 415, "unsupported_media_type"),
        (LOGIN_FORM, Some("application/x-www-form-urlencoded"), "username=a%40b.co", 400, "missing_field"),
        (LOGIN_JSON, Some("application/json"), r#"{"username": "a@b.co", "password": "x"}"#, 400, "missing_field"),
    ];
    for (fixture, content_type, body, status, code) in cases {
        let reply = send(deps, &with_body(fixture, content_type, body)).await;
        assert_eq!((reply.status, reply.error()), (status, code), "{content_type:?} {body}: {reply:?}");
        assert!(reply.body["message"].is_string());
    }
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let stack = Stack::new().await;
    let deps = &stack.deps;
    assert_eq!(signup(deps, "edsger@example.com", "Shortest-Path-1959", "Edsger", "Dijkstra").await.status, 201);
    let wrong_password = login_json(deps, "edsger@example.com", "Shortest-Path-1960").await;
    let unknown_email = login_form(deps, "nobody@example.com", "Shortest-Path-1959").await;
    for reply in [&wrong_password, &unknown_email] {
        assert_eq!(reply.status, 401, "{reply:?}");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
    }
    assert_eq!(wrong_password.body, unknown_email.body);
    assert!(login_form(deps, "Edsger@Example.com", "Shortest-Path-1959").await.status == 200);
}

#[tokio::test]
async fn ten_failures_lock_the_account_for_a_growing_period_that_expires() {
    let stack = Stack::new().await;
    let clock = ManualClock::new();
    let deps = &with_clock(&stack, &clock);
    let email = "barbara@example.com";
    assert_eq!(signup(deps, email, "Abstract-Data-1974", "Barbara", "Liskov").await.status, 201);

    for attempt in 1..=10 {
        let reply = login_json(deps, email, "Wrong-Password-00").await;
        assert_eq!(reply.status, 401, "attempt {attempt}: {reply:?}");
    }
    // Locked: even the right password is refused until the lock expires.
    let locked = login_form(deps, email, "Abstract-Data-1974").await;
    assert_eq!((locked.status, locked.error()), (429, "too_many_requests"), "{locked:?}");
    assert_eq!(locked.headers["retry-after"], "60");
    clock.advance(Duration::from_secs(45));
    assert_eq!(login_json(deps, email, "Abstract-Data-1974").await.headers["retry-after"], "15");

    // After expiry the next round of failures locks for twice as long.
    clock.advance(Duration::from_secs(15));
    for _ in 0..10 {
        assert_eq!(login_json(deps, email, "Wrong-Password-00").await.status, 401);
    }
    assert_eq!(login_json(deps, email, "Abstract-Data-1974").await.headers["retry-after"], "120");

    // A successful login after the lock resets the counter: one failure is just a 401 again.
    clock.advance(Duration::from_secs(120));
    assert_eq!(login_json(deps, email, "Abstract-Data-1974").await.status, 200);
    for _ in 0..9 {
        assert_eq!(login_json(deps, email, "Wrong-Password-00").await.status, 401);
    }
    assert_eq!(login_json(deps, email, "Abstract-Data-1974").await.status, 200, "9 failures do not lock");

    // Failures spread over more than 15 minutes never lock.
    for _ in 0..9 {
        assert_eq!(login_json(deps, email, "Wrong-Password-00").await.status, 401);
    }
    clock.advance(Duration::from_secs(15 * 60));
    assert_eq!(login_json(deps, email, "Wrong-Password-00").await.status, 401);
    assert_eq!(login_json(deps, email, "Abstract-Data-1974").await.status, 200);

    // Unknown emails lock the same way, so a 429 does not reveal that an account exists.
    for _ in 0..10 {
        assert_eq!(login_json(deps, "ghost@example.com", "Wrong-Password-00").await.status, 401);
    }
    assert_eq!(login_json(deps, "ghost@example.com", "Wrong-Password-00").await.status, 429);
}

fn forge(header: &Header, claims: &Value, key: &str) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
}

#[tokio::test]
async fn every_bad_token_is_a_401_with_a_bearer_challenge() {
    let stack = Stack::new().await;
    let clock = ManualClock::new();
    let deps = &with_clock(&stack, &clock);
    assert_eq!(signup(deps, "ken@example.com", "Unix-Philosophy-1969", "Ken", "Thompson").await.status, 201);
    let good = token(deps, "ken@example.com", "Unix-Philosophy-1969").await;
    assert_eq!(me(deps, Some(&format!("Bearer {good}"))).await.status, 200, "control");

    let key = stack.deps.secrets.get().await.unwrap().access_token_signing_key.expose().clone();
    let claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(&good).unwrap().claims;
    assert_eq!(claims["iat"], clock.unix_seconds(), "tokens carry the injected clock's time");
    let hs256 = Header::new(Algorithm::HS256);
    let with = |name: &str, value: Value| {
        let mut claims = claims.clone();
        claims[name] = value;
        forge(&hs256, &claims, &key)
    };
    let without = |name: &str| {
        let mut claims = claims.clone();
        claims.as_object_mut().unwrap().remove(name);
        forge(&hs256, &claims, &key)
    };
    let unsigned = {
        let signed =
            metabase_emulator::embed_token::sign_with_header(&json!({"alg": "none", "typ": "JWT"}), &claims, &key);
        let mut parts = signed.split('.');
        format!("{}.{}.", parts.next().unwrap(), parts.next().unwrap())
    };
    let other_settings = |issuer: &str, audience: &str, signing_key: &str| TokenSettings {
        key: SecretString::new(signing_key.to_owned()),
        issuer: issuer.into(),
        audience: audience.into(),
        ttl_seconds: 600,
    };
    let issued_with = |settings: TokenSettings| {
        let user: UserId = claims["sub"].as_str().unwrap().parse().unwrap();
        tenantbase::auth::token::issue(&settings, &clock, user).unwrap().token.expose().clone()
    };

    let mut cases: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        ("basic scheme", Some("Basic a2VuOnVuaXg=".into())),
        ("no scheme", Some(good.clone())),
        ("empty bearer", Some("Bearer ".into())),
        ("malformed", Some("Bearer not.a.jwt".into())),
        ("truncated", Some(format!("Bearer {}", &good[..good.len() - 5]))),
        (
            "wrong signature",
            Some(format!("Bearer {}", issued_with(other_settings("tenantbase", "tenantbase-api", "another-key")))),
        ),
        ("alg none", Some(format!("Bearer {unsigned}"))),
        ("HS512", Some(format!("Bearer {}", forge(&Header::new(Algorithm::HS512), &claims, &key)))),
        ("HS384", Some(format!("Bearer {}", forge(&Header::new(Algorithm::HS384), &claims, &key)))),
        ("wrong aud", Some(format!("Bearer {}", issued_with(other_settings("tenantbase", "another-api", &key))))),
        ("wrong iss", Some(format!("Bearer {}", issued_with(other_settings("someone-else", "tenantbase-api", &key))))),
        ("unknown user", Some(format!("Bearer {}", with("sub", json!(UserId::generate().to_string()))))),
    ];
    for claim in ["sub", "iat", "exp", "iss", "aud", "jti"] {
        cases.push(("missing claim", Some(format!("Bearer {}", without(claim)))));
    }
    for (what, authorization) in &cases {
        let reply = me(deps, authorization.as_deref()).await;
        assert_eq!((reply.status, reply.error()), (401, "unauthorized"), "{what}: {reply:?}");
        assert_eq!(reply.headers["www-authenticate"], "Bearer", "{what}");
    }

    // Expiry follows the clock: valid until exp, refused from then on.
    clock.advance(Duration::from_secs(3599));
    assert_eq!(me(deps, Some(&format!("Bearer {good}"))).await.status, 200);
    clock.advance(Duration::from_secs(1));
    let expired = me(deps, Some(&format!("Bearer {good}"))).await;
    assert_eq!(expired.status, 401, "{expired:?}");
    assert_eq!(expired.body["message"], "the access token has expired");
}

#[tokio::test]
async fn an_existing_metabase_user_is_linked_not_duplicated() {
    let stack = Stack::bootstrapped().await;
    let existing = metabase_admin_call(
        &stack,
        reqwest::Method::POST,
        "/api/user",
        Some(json!({"email": "Margaret@Example.com", "first_name": "Maggie", "last_name": null})),
    )
    .await;
    let created = signup(&stack.deps, "margaret@example.com", "Apollo-Guidance-1969", "Margaret", "Hamilton").await;
    assert_eq!(created.status, 201, "{created:?}");
    let users = metabase_users(&stack, "margaret@example.com").await;
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0]["id"], existing["id"]);
    assert_eq!((users[0]["first_name"].as_str(), users[0]["last_name"].as_str()), (Some("Margaret"), Some("Hamilton")));
    let access = token(&stack.deps, "margaret@example.com", "Apollo-Guidance-1969").await;
    assert_eq!(me(&stack.deps, Some(&format!("Bearer {access}"))).await.body["metabase_user_id"], existing["id"]);

    // A deactivated Metabase user with the email is reactivated and linked.
    let old = metabase_admin_call(
        &stack,
        reqwest::Method::POST,
        "/api/user",
        Some(json!({"email": "frances@example.com", "first_name": "Frances", "last_name": "Allen"})),
    )
    .await;
    metabase_admin_call(&stack, reqwest::Method::DELETE, &format!("/api/user/{}", old["id"]), None).await;
    assert_eq!(
        signup(&stack.deps, "frances@example.com", "Optimising-Compilers-2006", "Frances", "Allen").await.status,
        201
    );
    let users = metabase_users(&stack, "frances@example.com").await;
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!((users[0]["id"].clone(), users[0]["is_active"].clone()), (old["id"].clone(), json!(true)));
}

#[tokio::test]
async fn signup_while_metabase_is_down_succeeds_and_the_next_login_links() {
    let stack = Stack::bootstrapped().await;
    let fault =
        json!({"path": "/api/user", "status": 503, "body": "Metabase is still initializing. Please sit tight..."});
    let client = reqwest::Client::new();
    client
        .post(stack.emulator_url("/__emulator/faults"))
        .json(&fault)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let created = signup(&stack.deps, "radia@example.com", "Spanning-Tree-1985", "Radia", "Perlman").await;
    assert_eq!(created.status, 201, "{created:?}");
    let access = token(&stack.deps, "radia@example.com", "Spanning-Tree-1985").await;
    let profile = me(&stack.deps, Some(&format!("Bearer {access}"))).await;
    assert_eq!(profile.body["metabase_user_id"], Value::Null, "not linked while Metabase is down");

    client.delete(stack.emulator_url("/__emulator/faults")).send().await.unwrap().error_for_status().unwrap();
    assert!(metabase_users(&stack, "radia@example.com").await.is_empty());
    let access = token(&stack.deps, "radia@example.com", "Spanning-Tree-1985").await;
    let users = metabase_users(&stack, "radia@example.com").await;
    assert_eq!(users.len(), 1, "{users:?}");
    let profile = me(&stack.deps, Some(&format!("Bearer {access}"))).await;
    assert_eq!(profile.body["metabase_user_id"], users[0]["id"]);
}

#[tokio::test]
async fn signup_before_bootstrap_succeeds_and_the_first_login_after_it_links() {
    let stack = Stack::new().await;
    let created = signup(&stack.deps, "hedy@example.com", "Frequency-Hopping-1942", "Hedy", "Lamarr").await;
    assert_eq!(created.status, 201, "no Metabase API key yet: {created:?}");
    let access = token(&stack.deps, "hedy@example.com", "Frequency-Hopping-1942").await;
    assert_eq!(me(&stack.deps, Some(&format!("Bearer {access}"))).await.body["metabase_user_id"], Value::Null);

    tenantbase::bootstrap::reconcile(&stack.deps).await.expect("bootstrap converges");
    stack.deps.secrets.invalidate().await;
    let access = token(&stack.deps, "hedy@example.com", "Frequency-Hopping-1942").await;
    let users = metabase_users(&stack, "hedy@example.com").await;
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!((users[0]["first_name"].as_str(), users[0]["last_name"].as_str()), (Some("Hedy"), Some("Lamarr")));
    assert_eq!(me(&stack.deps, Some(&format!("Bearer {access}"))).await.body["metabase_user_id"], users[0]["id"]);
}
