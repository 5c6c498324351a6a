//! Checks that the places which must agree do: the shared table definition vs the SAM
//! template, and the shared route table vs the local `cargo lambda watch` router.

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
