//! The isolation lint against content built through the Metabase emulator's real API, and proof
//! that its verdicts match what signed embeds really return: a dashboard it passes shows one tenant
//! only, a dashboard it quarantines would leak other tenants' rows if published anyway.

use std::collections::{BTreeMap, BTreeSet};

use jsonwebtoken::{EncodingKey, Header};
use metabase_emulator::analytics::{FIELD_TENANT_ID, TENANT_ROWS};
use metabase_emulator::{EmulatorConfig, RunningEmulator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantbase::lint::{EmbedParamMode, LintOutcome, PublishAction, lint_card, lint_dashboard, needs_publish};
use tenantbase_tests::fixtures::{
    SLUG, TENANT_PARAM, dashcard, map_tenant, native, orders_table, rows_of, tenant_column, tenant_parameter, text_tag,
    variable,
};

const SECRET: &str = "4d2f6b8a0c1e3f5a7b9c0d2e4f6a8b0c1d3e5f7a9b0c2d4e6f8a0b1c3d5e7f9a";

/// An admin session on a fresh emulator with static embedding switched on.
struct Metabase {
    emulator: RunningEmulator,
    http: reqwest::Client,
    session: String,
}

impl Metabase {
    async fn start() -> Self {
        let emulator = metabase_emulator::spawn(EmulatorConfig::default()).await.expect("start the emulator");
        let mut mb = Self { emulator, http: reqwest::Client::new(), session: String::new() };
        let (status, properties) = mb.call(Method::GET, "/api/session/properties", None).await;
        assert_eq!(status, StatusCode::OK);
        let token = properties["setup-token"].as_str().expect("a fresh instance has a setup token").to_owned();
        let setup = json!({
            "token": token,
            "user": {"email": "lint@tenantbase.test", "password": "Lint-check-2026!", "first_name": "Lin",
                     "last_name": "Ter"},
            "prefs": {"site_name": "Tenantbase lint"}
        });
        let (status, created) = mb.call(Method::POST, "/api/setup", Some(setup)).await;
        assert_eq!(status, StatusCode::OK, "setup: {created}");
        mb.session = created["id"].as_str().expect("session id").to_owned();
        mb.expect(Method::PUT, "/api/setting/enable-embedding-static", json!({"value": true}), 204).await;
        mb.expect(Method::PUT, "/api/setting/embedding-secret-key", json!({"value": SECRET}), 204).await;
        mb
    }

    /// One request; the body is parsed as JSON when it is JSON, else kept as a JSON string.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.emulator.base_url));
        if !self.session.is_empty() {
            request = request.header("X-Metabase-Session", &self.session);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("emulator answers");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn expect(&self, method: Method, path: &str, body: Value, status: u16) -> Value {
        let (got, answer) = self.call(method.clone(), path, Some(body)).await;
        assert_eq!(got.as_u16(), status, "{method} {path}: {answer}");
        answer
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// `POST /api/card` with a legacy body, as the UI and most scripts send it.
    async fn card(&self, name: &str, dataset_query: Value) -> i64 {
        let body =
            json!({"name": name, "display": "table", "visualization_settings": {}, "dataset_query": dataset_query});
        self.expect(Method::POST, "/api/card", body, 200).await["id"].as_i64().expect("card id")
    }

    /// `POST /api/dashboard`, then one `PUT` with parameters, dashcards and `tabs: []` (§19.4).
    async fn dashboard(&self, name: &str, parameters: Value, dashcards: Value) -> i64 {
        let id = self.expect(Method::POST, "/api/dashboard", json!({"name": name}), 200).await["id"]
            .as_i64()
            .expect("dashboard id");
        let wiring = json!({"parameters": parameters, "dashcards": dashcards, "tabs": []});
        self.expect(Method::PUT, &format!("/api/dashboard/{id}"), wiring, 200).await;
        id
    }

    /// The embed query of one card of one dashcard, as a browser in the iframe would run it.
    async fn embed_rows(&self, token: &str, dashcard: i64, card: i64) -> Vec<String> {
        let path = format!("/api/embed/dashboard/{token}/dashcard/{dashcard}/card/{card}");
        let response = self.http.get(format!("{}{path}", self.emulator.base_url)).send().await.expect("embed query");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        tenant_column(&response.json().await.expect("query JSON"))
    }
}

fn all_rows() -> usize {
    TENANT_ROWS.iter().map(|(_, n)| n).sum()
}

/// A ten-minute embed token for `resource`, locked to `tenant`.
fn embed_token(resource: Value, tenant: &str) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let claims = json!({"resource": resource, "params": {SLUG: tenant}, "exp": exp});
    // Metabase keys HMAC with the secret string's bytes, not its hex decoding (§15).
    jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).expect("sign")
}

fn dashboard_token(dashboard: i64, tenant: &str) -> String {
    embed_token(json!({"dashboard": dashboard}), tenant)
}

fn card_token(card: i64, tenant: &str) -> String {
    embed_token(json!({"question": card}), tenant)
}

fn tenant_field_tag() -> Value {
    json!({"id": "tag-tenant-field", "name": SLUG, "display-name": "Tenant", "type": "dimension",
           "dimension": ["field", FIELD_TENANT_ID, null], "widget-type": "string/=", "required": true})
}

fn text_dashcard(id: i64, row: i64) -> Value {
    json!({"id": id, "card_id": null, "row": row, "col": 0, "size_x": 24, "size_y": 2,
           "visualization_settings": {"virtual_card": {"display": "text"}, "text": "Orders of {{tenant_id}}"},
           "parameter_mappings": [{"parameter_id": TENANT_PARAM, "target": ["text-tag", SLUG]}]})
}

/// The card a text-tag SQL card is built from: required, used outside any optional clause.
async fn text_card(mb: &Metabase, name: &str) -> i64 {
    let sql = "SELECT * FROM orders WHERE tenant_id = {{tenant_id}} [[AND channel = {{channel}}]] ORDER BY id";
    mb.card(name, native(sql, json!({SLUG: text_tag(SLUG, true), "channel": text_tag("channel", false)}))).await
}

fn reasons(outcome: LintOutcome) -> Vec<String> {
    match outcome {
        LintOutcome::Quarantined { reasons } => reasons,
        LintOutcome::Embeddable { .. } => panic!("expected a quarantine, got {outcome:?}"),
    }
}

/// Every (dashcard id, card id) pair that runs a query: main cards and series cards.
fn data_queries(dashboard: &Value) -> Vec<(i64, i64)> {
    let mut pairs = Vec::new();
    for dc in dashboard["dashcards"].as_array().expect("dashcards") {
        let Some(card) = dc["card_id"].as_i64() else { continue };
        let id = dc["id"].as_i64().unwrap();
        pairs.push((id, card));
        pairs.extend(dc["series"].as_array().unwrap().iter().map(|s| (id, s["id"].as_i64().unwrap())));
    }
    pairs
}

#[tokio::test]
async fn a_fully_wired_dashboard_is_embeddable_and_its_embeds_show_one_tenant() {
    let mb = Metabase::start().await;
    let revenue = text_card(&mb, "Revenue").await;
    let field = mb
        .card(
            "Orders by field filter",
            native("SELECT * FROM orders WHERE {{tenant_id}} ORDER BY id", json!({SLUG: tenant_field_tag()})),
        )
        .await;
    let table = mb.card("All orders table", orders_table()).await;
    let id = mb
        .dashboard(
            "Tenant sales",
            json!([tenant_parameter(), {"id": "p-channel", "name": "Channel", "slug": "channel", "type": "string/="}]),
            json!([
                dashcard(-1, 0, revenue, json!([
                    map_tenant(revenue, variable(SLUG)),
                    {"parameter_id": "p-channel", "card_id": revenue, "target": variable("channel")}
                ])),
                {"id": -2, "card_id": field, "row": 6, "col": 0, "size_x": 12, "size_y": 6,
                 "series": [{"id": table}],
                 "parameter_mappings": [
                    map_tenant(field, json!(["dimension", ["template-tag", SLUG]])),
                    map_tenant(table, json!(["dimension", ["field", FIELD_TENANT_ID, null]]))
                 ]},
                text_dashcard(-3, 12)
            ]),
        )
        .await;

    let dashboard = mb.get(&format!("/api/dashboard/{id}")).await;
    // The emulator answers like Metabase 0.57+: card queries come back as MBQL 5.
    let first_card = &dashboard["dashcards"][0]["card"];
    assert_eq!(first_card["dataset_query"]["lib/type"], "mbql/query", "{first_card}");
    let outcome = lint_dashboard(&dashboard, SLUG);
    let LintOutcome::Embeddable { embedding_params, parameters } = outcome.clone() else {
        panic!("expected embeddable: {outcome:?}");
    };
    assert_eq!(
        embedding_params,
        BTreeMap::from([("channel".to_owned(), EmbedParamMode::Enabled), (SLUG.to_owned(), EmbedParamMode::Locked)])
    );
    assert_eq!(parameters.iter().map(|p| p.slug.as_str()).collect::<Vec<_>>(), ["tenant_id", "channel"]);

    // Publish exactly as the publisher will, then the comparison says nothing is left to do.
    let PublishAction::Publish { embedding_params } = needs_publish(&dashboard, &outcome) else {
        panic!("an unpublished dashboard needs publishing");
    };
    let publish = json!({"enable_embedding": true, "embedding_params": embedding_params});
    mb.expect(Method::PUT, &format!("/api/dashboard/{id}"), publish, 200).await;
    let published = mb.get(&format!("/api/dashboard/{id}")).await;
    assert_eq!(needs_publish(&published, &lint_dashboard(&published, SLUG)), PublishAction::Nothing);

    let queries = data_queries(&published);
    assert_eq!(queries.len(), 3, "two main cards and one series card");
    for tenant in ["acme", "globex"] {
        let token = dashboard_token(id, tenant);
        for (dashcard, card) in &queries {
            let rows = mb.embed_rows(&token, *dashcard, *card).await;
            assert_eq!(rows.len(), rows_of(tenant), "card {card} for {tenant}");
            assert!(rows.iter().all(|t| t == tenant), "card {card} leaked for {tenant}: {rows:?}");
        }
    }
    mb.emulator.shutdown().await;
}

#[tokio::test]
async fn one_unwired_card_is_quarantined_and_publishing_it_anyway_would_leak() {
    let mb = Metabase::start().await;
    let revenue = text_card(&mb, "Revenue").await;
    let everything = mb.card("Everything", orders_table()).await;
    let id = mb
        .dashboard(
            "Half wired",
            json!([tenant_parameter()]),
            json!([
                dashcard(-1, 0, revenue, json!([map_tenant(revenue, variable(SLUG))])),
                dashcard(-2, 6, everything, json!([]))
            ]),
        )
        .await;
    let dashboard = mb.get(&format!("/api/dashboard/{id}")).await;
    let outcome = lint_dashboard(&dashboard, SLUG);
    assert_eq!(
        reasons(outcome.clone()),
        [format!("card \"Everything\" (#{everything}) does not map the tenant_id parameter")]
    );
    assert_eq!(needs_publish(&dashboard, &outcome), PublishAction::Nothing, "never published, nothing to undo");

    // Someone publishes it by hand with the tenant locked, as the lint would have for a sound one.
    let by_hand = json!({"enable_embedding": true, "embedding_params": {SLUG: "locked"}});
    mb.expect(Method::PUT, &format!("/api/dashboard/{id}"), by_hand, 200).await;
    let published = mb.get(&format!("/api/dashboard/{id}")).await;
    let token = dashboard_token(id, "acme");
    let queries = data_queries(&published);
    let dashcard_of = |card: i64| queries.iter().find(|(_, c)| *c == card).unwrap().0;

    let wired = mb.embed_rows(&token, dashcard_of(revenue), revenue).await;
    assert!(wired.iter().all(|t| t == "acme") && wired.len() == rows_of("acme"));
    let leaked = mb.embed_rows(&token, dashcard_of(everything), everything).await;
    assert_eq!(leaked.len(), all_rows(), "the unwired card runs unfiltered");
    let tenants: BTreeSet<&str> = leaked.iter().map(String::as_str).collect();
    assert_eq!(tenants, BTreeSet::from(["acme", "globex", "initech"]), "an acme token sees every tenant");

    // The verdict on the hand-published dashboard is to un-publish it; doing so closes the leak.
    let verdict = lint_dashboard(&published, SLUG);
    assert_eq!(needs_publish(&published, &verdict), PublishAction::Unpublish);
    mb.expect(Method::PUT, &format!("/api/dashboard/{id}"), json!({"enable_embedding": false}), 200).await;
    let path = format!("/api/embed/dashboard/{token}/dashcard/{}/card/{everything}", dashcard_of(everything));
    let (status, body) = mb.call(Method::GET, &path, None).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!("Embedding is not enabled for this object.")));
    mb.emulator.shutdown().await;
}

#[tokio::test]
async fn a_dashboard_without_the_tenant_parameter_is_quarantined() {
    let mb = Metabase::start().await;
    let revenue = text_card(&mb, "Revenue").await;
    // Mapping `parameter_id`s are not checked against `parameters` (§19.4), so this saves fine.
    let id = mb
        .dashboard(
            "No tenant filter",
            json!([{"id": "p-channel", "name": "Channel", "slug": "channel", "type": "string/="}]),
            json!([dashcard(-1, 0, revenue, json!([map_tenant(revenue, variable(SLUG))]))]),
        )
        .await;
    let dashboard = mb.get(&format!("/api/dashboard/{id}")).await;
    assert_eq!(
        reasons(lint_dashboard(&dashboard, SLUG)),
        [format!("dashboard \"No tenant filter\" (#{id}) has no parameter with slug \"tenant_id\" to lock the tenant")]
    );
    mb.emulator.shutdown().await;
}

#[tokio::test]
async fn a_mapping_to_a_template_tag_the_query_lacks_is_quarantined() {
    let mb = Metabase::start().await;
    let revenue = text_card(&mb, "Revenue").await;
    let id = mb
        .dashboard(
            "Wrong tag",
            json!([tenant_parameter()]),
            json!([dashcard(-1, 0, revenue, json!([map_tenant(revenue, variable("tenant"))]))]),
        )
        .await;
    let dashboard = mb.get(&format!("/api/dashboard/{id}")).await;
    assert_eq!(
        reasons(lint_dashboard(&dashboard, SLUG)),
        [format!(
            "card \"Revenue\" (#{revenue}) maps the tenant_id parameter to template tag \"tenant\", which its query \
             does not have"
        )]
    );
    mb.emulator.shutdown().await;
}

#[tokio::test]
async fn an_optional_tenant_clause_is_quarantined() {
    let mb = Metabase::start().await;
    let sql = "SELECT * FROM orders WHERE 1 = 1 [[AND tenant_id = {{tenant_id}}]] ORDER BY id";
    let optional = mb.card("Maybe filtered", native(sql, json!({SLUG: text_tag(SLUG, true)}))).await;
    let id = mb
        .dashboard(
            "Optional tenant",
            json!([tenant_parameter()]),
            json!([dashcard(-1, 0, optional, json!([map_tenant(optional, variable(SLUG))]))]),
        )
        .await;
    let dashboard = mb.get(&format!("/api/dashboard/{id}")).await;
    assert_eq!(
        reasons(lint_dashboard(&dashboard, SLUG)),
        [format!(
            "card \"Maybe filtered\" (#{optional}) uses {{{{tenant_id}}}} only inside an optional [[ … ]] clause, \
             which vanishes without a value"
        )]
    );
    // The same card as a question fails the question lint for the same reason.
    let card = mb.get(&format!("/api/card/{optional}")).await;
    let question = reasons(lint_card(&card, SLUG));
    assert_eq!(question.len(), 1);
    assert!(question[0].starts_with(&format!("question \"Maybe filtered\" (#{optional}) uses")), "{question:?}");
    mb.emulator.shutdown().await;
}

#[tokio::test]
async fn a_sound_question_is_embeddable_and_its_embed_shows_one_tenant() {
    let mb = Metabase::start().await;
    let revenue = text_card(&mb, "Revenue").await;
    let card = mb.get(&format!("/api/card/{revenue}")).await;
    assert!(card["dataset_query"]["stages"][0]["template-tags"][SLUG].is_object(), "MBQL 5 response: {card}");
    let outcome = lint_card(&card, SLUG);
    let PublishAction::Publish { embedding_params } = needs_publish(&card, &outcome) else {
        panic!("expected a publish: {outcome:?}");
    };
    assert_eq!(
        embedding_params,
        BTreeMap::from([("channel".to_owned(), EmbedParamMode::Enabled), (SLUG.to_owned(), EmbedParamMode::Locked)])
    );
    let publish = json!({"enable_embedding": true, "embedding_params": embedding_params});
    mb.expect(Method::PUT, &format!("/api/card/{revenue}"), publish, 200).await;
    let published = mb.get(&format!("/api/card/{revenue}")).await;
    assert_eq!(needs_publish(&published, &lint_card(&published, SLUG)), PublishAction::Nothing);

    let path = format!("/api/embed/card/{}/query", card_token(revenue, "initech"));
    let (status, result) = mb.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let rows = tenant_column(&result);
    assert!(rows.len() == rows_of("initech") && rows.iter().all(|t| t == "initech"), "{rows:?}");
    mb.emulator.shutdown().await;
}
