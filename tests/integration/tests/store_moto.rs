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

#[tokio::test]
async fn missing_table_is_an_error_not_an_outcome() {
    let sdk = tenantbase_tests::sdk_config().await;
    let store =
        tenantbase::store::Store::new(aws_sdk_dynamodb::Client::new(&sdk), tenantbase_tests::unique_name("absent"));
    let err = store.put_if(&record("A", "B", "c"), Condition::not_exists()).await.unwrap_err();
    assert_eq!(err.code(), "upstream_error", "{err:?}");
    assert!(store.ping().await.is_err());
}
