//! The store foundation against the DynamoDB emulator: table creation from the shared
//! definition, and conditional writes whose failures are outcomes rather than errors.

use serde::{Deserialize, Serialize};
use tenantbase::store::{Condition, TABLE, WriteOutcome};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    name: String,
    version: u32,
}

fn record(pk: &str, sk: &str, name: &str) -> Record {
    Record { pk: pk.into(), sk: sk.into(), name: name.into(), version: 1 }
}

#[tokio::test]
async fn table_is_created_from_the_shared_definition_and_ensure_is_idempotent() {
    let sdk = tenantbase_tests::sdk_config().await;
    let store = tenantbase_tests::fresh_table(&sdk).await;
    // A second ensure on an existing table succeeds and changes nothing.
    TABLE.ensure(store.client(), store.table()).await.unwrap();
    let described = store.client().describe_table().table_name(store.table()).send().await.unwrap();
    let table = described.table().unwrap();
    let keys: Vec<_> =
        table.key_schema().iter().map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned())).collect();
    assert_eq!(keys, [("PK".to_owned(), "HASH".to_owned()), ("SK".to_owned(), "RANGE".to_owned())]);
    let indexes: Vec<_> = table.global_secondary_indexes().iter().filter_map(|i| i.index_name()).collect();
    assert_eq!(indexes, ["GSI1"]);
    let ttl = store.client().describe_time_to_live().table_name(store.table()).send().await.unwrap();
    assert_eq!(ttl.time_to_live_description().and_then(|d| d.attribute_name()), Some("expires_at"));
    store.ping().await.unwrap();
}

#[tokio::test]
async fn put_if_absent_reports_the_second_write_as_condition_failed() {
    let sdk = tenantbase_tests::sdk_config().await;
    let store = tenantbase_tests::fresh_table(&sdk).await;
    let first = record("EMAIL#a@example.com", "EMAIL", "first");
    assert_eq!(store.put_if(&first, Condition::not_exists()).await.unwrap(), WriteOutcome::Applied);
    let second = record("EMAIL#a@example.com", "EMAIL", "second");
    assert_eq!(store.put_if(&second, Condition::not_exists()).await.unwrap(), WriteOutcome::ConditionFailed);
    let stored: Record = store.get("EMAIL#a@example.com", "EMAIL").await.unwrap().unwrap();
    assert_eq!(stored, first, "the failed write changed nothing");
    assert_eq!(store.get::<Record>("EMAIL#b@example.com", "EMAIL").await.unwrap(), None);
}

#[tokio::test]
async fn a_conditional_update_on_a_missing_item_is_condition_failed() {
    let sdk = tenantbase_tests::sdk_config().await;
    let store = tenantbase_tests::fresh_table(&sdk).await;
    let item = record("WS#1", "META", "ws");
    assert_eq!(store.put_if(&item, Condition::exists()).await.unwrap(), WriteOutcome::ConditionFailed);
    assert_eq!(store.get::<Record>("WS#1", "META").await.unwrap(), None);
}

#[tokio::test]
async fn transaction_with_a_failed_guard_writes_nothing_and_is_an_outcome() {
    let sdk = tenantbase_tests::sdk_config().await;
    let store = tenantbase_tests::fresh_table(&sdk).await;
    let user = record("USER#1", "PROFILE", "one");
    let guard = record("EMAIL#same@example.com", "EMAIL", "USER#1");
    let writes = vec![
        store.put_op(&user, Some(Condition::not_exists())).unwrap(),
        store.put_op(&guard, Some(Condition::not_exists())).unwrap(),
    ];
    assert_eq!(store.transact(writes).await.unwrap(), WriteOutcome::Applied);

    // A second user with the same email: the guard fails, so the user item is not written either.
    let other = record("USER#2", "PROFILE", "two");
    let other_guard = record("EMAIL#same@example.com", "EMAIL", "USER#2");
    let writes = vec![
        store.put_op(&other, Some(Condition::not_exists())).unwrap(),
        store.put_op(&other_guard, Some(Condition::not_exists())).unwrap(),
    ];
    assert_eq!(store.transact(writes).await.unwrap(), WriteOutcome::ConditionFailed);
    assert_eq!(store.get::<Record>("USER#2", "PROFILE").await.unwrap(), None);
    let kept: Record = store.get("EMAIL#same@example.com", "EMAIL").await.unwrap().unwrap();
    assert_eq!(kept.name, "USER#1");
}

/// tools/aws_emulator.py keeps only the items a transaction names as its rollback snapshot (moto
/// copies the whole table): an overwritten item comes back as it was, a new one goes away.
#[tokio::test]
async fn a_cancelled_transaction_restores_overwritten_items_and_removes_new_ones() {
    let sdk = tenantbase_tests::sdk_config().await;
    let store = tenantbase_tests::fresh_table(&sdk).await;
    let existing = record("WS#1", "META", "before");
    let bystander = record("WS#1", "DASH#7", "untouched");
    for item in [&existing, &bystander] {
        assert_eq!(store.put_if(item, Condition::not_exists()).await.unwrap(), WriteOutcome::Applied);
    }
    let guard = record("EMAIL#taken@example.com", "EMAIL", "USER#1");
    assert_eq!(store.put_if(&guard, Condition::not_exists()).await.unwrap(), WriteOutcome::Applied);

    let writes = vec![
        store.put_op(&record("WS#1", "META", "after"), Some(Condition::exists())).unwrap(),
        store.put_op(&record("WS#2", "META", "new"), Some(Condition::not_exists())).unwrap(),
        store.put_op(&record("EMAIL#taken@example.com", "EMAIL", "USER#2"), Some(Condition::not_exists())).unwrap(),
    ];
    assert_eq!(store.transact(writes).await.unwrap(), WriteOutcome::ConditionFailed);
    assert_eq!(store.get::<Record>("WS#1", "META").await.unwrap(), Some(existing));
    assert_eq!(store.get::<Record>("WS#2", "META").await.unwrap(), None);
    assert_eq!(store.get::<Record>("WS#1", "DASH#7").await.unwrap(), Some(bystander));
    assert_eq!(store.get::<Record>("EMAIL#taken@example.com", "EMAIL").await.unwrap(), Some(guard));
}

/// Every kind of attribute value comes back exactly as written from every read the store makes
/// (GetItem, BatchGetItem, Query, Scan): `tools/aws_emulator.py` writes attribute values in
/// responses itself instead of through moto's serialiser.
#[tokio::test]
async fn every_attribute_type_reads_back_as_written_from_every_read() {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue as V;

    let sdk = tenantbase_tests::sdk_config().await;
    let store = tenantbase_tests::fresh_table(&sdk).await;
    let nested = V::M(HashMap::from([
        ("deep".to_owned(), V::B(Blob::new(b"zz".to_vec()))),
        ("no".to_owned(), V::Bool(false)),
        ("none".to_owned(), V::Null(true)),
    ]));
    let item: HashMap<String, V> = HashMap::from([
        ("PK".to_owned(), V::S("WS#types".to_owned())),
        ("SK".to_owned(), V::S("ITEM#1".to_owned())),
        ("text".to_owned(), V::S("ünïcode \"quoted\" \\ text".to_owned())),
        ("empty_text".to_owned(), V::S(String::new())),
        ("number".to_owned(), V::N("-12.50".to_owned())),
        ("binary".to_owned(), V::B(Blob::new(vec![0, 255, 10, 13]))),
        ("strings".to_owned(), V::Ss(vec!["a".to_owned(), "b".to_owned()])),
        ("numbers".to_owned(), V::Ns(vec!["1".to_owned(), "2.5".to_owned()])),
        ("binaries".to_owned(), V::Bs(vec![Blob::new(b"x".to_vec()), Blob::new(vec![1])])),
        ("yes".to_owned(), V::Bool(true)),
        ("no".to_owned(), V::Bool(false)),
        ("nothing".to_owned(), V::Null(true)),
        ("empty_list".to_owned(), V::L(Vec::new())),
        ("empty_map".to_owned(), V::M(HashMap::new())),
        ("list".to_owned(), V::L(vec![V::S("v".to_owned()), V::N("3".to_owned()), nested.clone()])),
        ("map".to_owned(), V::M(HashMap::from([("inner".to_owned(), nested)]))),
    ]);
    store.client().put_item().table_name(store.table()).set_item(Some(item.clone())).send().await.unwrap();

    let got = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("PK", V::S("WS#types".to_owned()))
        .key("SK", V::S("ITEM#1".to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(got.item.as_ref(), Some(&item), "GetItem");
    let keys = [("WS#types".to_owned(), "ITEM#1".to_owned())];
    assert_eq!(store.batch_get(&keys, true).await.unwrap(), vec![item.clone()], "BatchGetItem");
    assert_eq!(store.query_partition(None, "WS#types", None).await.unwrap(), vec![item.clone()], "Query");
    assert_eq!(store.scan_prefixed("WS#", &["ITEM#"], 2).await.unwrap(), vec![item], "Scan");
}

#[tokio::test]
async fn missing_table_is_an_error_not_an_outcome() {
    let sdk = tenantbase_tests::sdk_config().await;
    let store =
        tenantbase::store::Store::new(aws_sdk_dynamodb::Client::new(&sdk), tenantbase_tests::unique_name("absent"));
    let err = store.put_if(&record("A", "B", "c"), Condition::not_exists()).await.unwrap_err();
    assert_eq!(err.code(), "upstream_error", "{err:?}");
    assert!(store.ping().await.is_err());
}
