//! Checks that the places which must agree do: the shared table definition vs the SAM
//! template; the shared route table vs the local `cargo lambda watch` router, the SAM template
//! and `openapi.yaml`; the functions' CORS layer vs the HTTP API's CORS configuration.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_yaml::Value;
use tenantbase::routes::ROUTES;
use tenantbase::store::TABLE;

fn repo_file(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn template_table() -> Value {
    let template: Value = serde_yaml::from_str(&repo_file("infra/template.yaml")).expect("template parses");
    let resources = template["Resources"].as_mapping().expect("Resources");
    let tables: Vec<_> = resources.values().filter(|r| r["Type"] == "AWS::DynamoDB::Table").collect();
    assert_eq!(tables.len(), 1, "exactly one DynamoDB table in infra/template.yaml");
    tables[0]["Properties"].clone()
}

fn key_schema(value: &Value) -> Vec<(String, String)> {
    value
        .as_sequence()
        .expect("KeySchema")
        .iter()
        .map(|k| (k["AttributeName"].as_str().unwrap().to_owned(), k["KeyType"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn template_table_matches_the_shared_definition() {
    let table = template_table();
    assert_eq!(
        key_schema(&table["KeySchema"]),
        [(TABLE.partition_key.to_owned(), "HASH".to_owned()), (TABLE.sort_key.to_owned(), "RANGE".to_owned())]
    );
    let attributes: BTreeSet<(String, String)> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| (a["AttributeName"].as_str().unwrap().to_owned(), a["AttributeType"].as_str().unwrap().to_owned()))
        .collect();
    let expected: BTreeSet<_> = TABLE.key_attributes().into_iter().map(|n| (n.to_owned(), "S".to_owned())).collect();
    assert_eq!(attributes, expected);

    let indexes: Vec<_> = table["GlobalSecondaryIndexes"].as_sequence().map(|s| s.to_vec()).unwrap_or_default();
    assert_eq!(indexes.len(), TABLE.indexes.len(), "GSI count");
    for index in TABLE.indexes {
        let declared = indexes
            .iter()
            .find(|i| i["IndexName"] == index.name)
            .unwrap_or_else(|| panic!("template lacks index {}", index.name));
        assert_eq!(
            key_schema(&declared["KeySchema"]),
            [(index.partition_key.to_owned(), "HASH".to_owned()), (index.sort_key.to_owned(), "RANGE".to_owned())]
        );
        assert_eq!(declared["Projection"]["ProjectionType"], Value::from("ALL"));
    }
    assert_eq!(table["TimeToLiveSpecification"]["AttributeName"], Value::from(TABLE.ttl_attribute));
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], Value::from(true));
    assert_eq!(table["BillingMode"], Value::from("PAY_PER_REQUEST"));
}

#[test]
fn local_router_serves_exactly_the_route_table() {
    let manifest: toml::Table = toml::from_str(&repo_file("Cargo.toml")).expect("Cargo.toml parses");
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"].as_table().expect("router table");
    let local: BTreeSet<(String, String)> =
        router.iter().map(|(path, function)| (path.clone(), function.as_str().unwrap().to_owned())).collect();
    let shared: BTreeSet<(String, String)> =
        ROUTES.iter().map(|r| (r.path.to_owned(), r.function.name().to_owned())).collect();
    assert_eq!(local, shared, "[workspace.metadata.lambda.watch.router] and tenantbase::routes::ROUTES differ");
}

#[test]
fn every_function_package_exists_and_only_wires() {
    let mut functions: BTreeSet<&str> = ROUTES.iter().map(|r| r.function.name()).collect();
    functions.insert("bootstrap");
    for name in functions {
        let main = repo_file(&format!("functions/{name}/src/main.rs"));
        assert!(main.lines().count() <= 40, "functions/{name}/src/main.rs only wires (≤ 40 lines)");
        let manifest: toml::Table = toml::from_str(&repo_file(&format!("functions/{name}/Cargo.toml"))).unwrap();
        assert_eq!(manifest["package"]["name"].as_str(), Some(name));
    }
}

fn template(relative: &str) -> Value {
    serde_yaml::from_str(&repo_file(relative)).unwrap_or_else(|e| panic!("{relative} parses: {e}"))
}

/// `(METHOD, path, function)` of every `HttpApi` event in the SAM template, by the function's binary.
fn template_http_routes(template: &Value) -> BTreeSet<(String, String, String)> {
    let mut routes = BTreeSet::new();
    for (id, resource) in template["Resources"].as_mapping().expect("Resources") {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id:?} has no Metadata.BuildProperties.Binary"));
        let Some(events) = resource["Properties"]["Events"].as_mapping() else { continue };
        for (name, event) in events {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let properties = &event["Properties"];
            let method = properties["Method"].as_str().unwrap_or_else(|| panic!("{id:?}.{name:?}: Method"));
            let path = properties["Path"].as_str().unwrap_or_else(|| panic!("{id:?}.{name:?}: Path"));
            let fresh = routes.insert((method.to_ascii_uppercase(), path.to_owned(), binary.to_owned()));
            assert!(fresh, "{method} {path} is declared twice on {binary}");
        }
    }
    routes
}

#[test]
fn template_http_api_serves_exactly_the_route_table() {
    let template = template("infra/template.yaml");
    let declared = template_http_routes(&template);
    let shared: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_owned(), r.path.to_owned(), r.function.name().to_owned()))
        .collect();
    let missing: Vec<_> = shared.difference(&declared).collect();
    let extra: Vec<_> = declared.difference(&shared).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "infra/template.yaml and tenantbase::routes::ROUTES differ\n  in ROUTES only: {missing:?}\n  in the template only: {extra:?}"
    );

    // One arm64 cargo-lambda function per package, bootstrap included (it has no HTTP routes).
    let functions: BTreeSet<String> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Serverless::Function")
        .map(|r| {
            assert_eq!(r["Metadata"]["BuildMethod"], Value::from("rust-cargolambda"));
            r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_owned()
        })
        .collect();
    let packages: BTreeSet<String> =
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../functions"))
            .expect("functions/")
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    assert_eq!(functions, packages, "one AWS::Serverless::Function per package under functions/");
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], Value::from("provided.al2023"));
    assert_eq!(globals["Architectures"], Value::Sequence(vec![Value::from("arm64")]));
}

/// Every IAM policy statement (a mapping with `Effect`) anywhere in `value`, intrinsic-function
/// branches (`!If`) included.
fn iam_statements<'a>(value: &'a Value, found: &mut Vec<&'a Value>) {
    match value {
        Value::Mapping(mapping) => {
            if mapping.contains_key("Effect") {
                found.push(value);
            }
            mapping.values().for_each(|v| iam_statements(v, found));
        }
        Value::Sequence(items) => items.iter().for_each(|v| iam_statements(v, found)),
        Value::Tagged(tagged) => iam_statements(&tagged.value, found),
        _ => {}
    }
}

#[test]
fn no_iam_statement_in_the_templates_grants_a_wildcard_action() {
    for file in ["infra/template.yaml", "infra/metabase.yaml"] {
        let template = template(file);
        let mut statements = Vec::new();
        iam_statements(&template["Resources"], &mut statements);
        assert!(!statements.is_empty(), "{file}: no IAM statements found (the walk is broken)");
        for statement in statements {
            assert!(statement.get("NotAction").is_none(), "{file}: NotAction grants everything else: {statement:?}");
            let actions: Vec<&str> = match &statement["Action"] {
                Value::String(action) => vec![action.as_str()],
                Value::Sequence(actions) => {
                    actions.iter().map(|a| a.as_str().expect("actions are plain strings")).collect()
                }
                other => panic!("{file}: statement without a plain Action list: {other:?}"),
            };
            for action in actions {
                assert!(
                    !action.contains('*') && !action.contains('?') && action.contains(':'),
                    "{file}: IAM action {action:?} is not one exact action"
                );
            }
        }
    }
}

#[test]
fn every_checkov_skip_in_the_templates_gives_its_reason() {
    for file in ["infra/template.yaml", "infra/metabase.yaml"] {
        let template = template(file);
        for (id, resource) in template["Resources"].as_mapping().expect("Resources") {
            let Some(skips) = resource["Metadata"]["checkov"]["skip"].as_sequence() else { continue };
            for skip in skips {
                let check = skip["id"].as_str().unwrap_or_else(|| panic!("{file} {id:?}: skip without an id"));
                let reason = skip["comment"].as_str().unwrap_or_default().trim();
                assert!(reason.len() >= 20, "{file} {id:?}: skipping {check} needs a written reason");
            }
        }
    }
}

#[test]
fn openapi_describes_exactly_the_route_table() {
    let described = tenantbase_tests::openapi::description().operations();
    let shared: BTreeSet<(String, String)> =
        ROUTES.iter().map(|r| (r.method.as_str().to_owned(), r.path.to_owned())).collect();
    let missing: Vec<_> = shared.difference(&described).collect();
    let extra: Vec<_> = described.difference(&shared).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "openapi.yaml and tenantbase::routes::ROUTES differ\n  in ROUTES only: {missing:?}\n  in openapi.yaml only: {extra:?}"
    );
}

#[test]
fn openapi_response_check_rejects_what_the_description_does_not_allow() {
    let api = tenantbase_tests::openapi::description();
    let json = Some("application/json");
    let error = br#"{"error":"not_found","message":"workspace not found"}"#;
    let path = "/api/workspaces/0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b";
    assert_eq!(api.check("GET", path, 404, json, error), Ok(()));
    // An error body with an extra field, a missing field, or the wrong content type.
    assert!(api.check("GET", path, 404, json, br#"{"error":"not_found","message":"x","detail":"y"}"#).is_err());
    assert!(api.check("GET", path, 404, json, br#"{"error":"not_found"}"#).is_err());
    assert!(api.check("GET", path, 404, Some("text/plain"), error).is_err());
    // A success body of the wrong shape, and a body where none is described.
    assert!(api.check("GET", path, 200, json, br#"{"id":"nope"}"#).is_err());
    let member = format!("{path}/members/0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c");
    assert_eq!(api.check("DELETE", &member, 204, None, b""), Ok(()));
    assert!(api.check("DELETE", &member, 204, json, b"{}").is_err());
    // An unrouted request must still answer the error shape.
    assert_eq!(api.check("GET", "/nope", 404, json, error), Ok(()));
    assert!(api.check("GET", "/nope", 404, json, b"[]").is_err());
    let token = br#"{"access_token":"t","token_type":"bearer","expires_in":3600}"#;
    assert_eq!(api.check("POST", "/auth/login", 200, json, token), Ok(()));
    assert!(
        api.check("POST", "/auth/login", 200, json, br#"{"access_token":"t","token_type":"mac","expires_in":1}"#)
            .is_err()
    );
}

#[test]
fn template_cors_matches_the_functions_cors_layer() {
    let template = template("infra/template.yaml");
    let cors = &template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"];
    let list = |value: &Value| -> BTreeSet<String> {
        value.as_sequence().expect("a list").iter().map(|v| v.as_str().unwrap().to_ascii_lowercase()).collect()
    };
    let split = |text: &str| -> BTreeSet<String> { text.split(", ").map(str::to_owned).collect() };
    use tenantbase::http::cors;
    assert_eq!(list(&cors["AllowHeaders"]), split(cors::ALLOWED_HEADERS));
    assert_eq!(list(&cors["ExposeHeaders"]), split(cors::EXPOSED_HEADERS));
    let mut methods: BTreeSet<String> = ROUTES.iter().map(|r| r.method.as_str().to_ascii_lowercase()).collect();
    methods.insert("options".to_owned());
    assert_eq!(list(&cors["AllowMethods"]), methods, "every method of the route table, and preflights");
    assert_eq!(cors["AllowOrigins"], serde_yaml::from_str::<Value>("!Ref AllowedOrigins").unwrap());
    assert_eq!(cors["AllowCredentials"], Value::from(false), "bearer tokens, no cookies");
    assert_eq!(cors["MaxAge"].as_u64().map(|n| n.to_string()).as_deref(), Some(cors::MAX_AGE_SECONDS));
}
