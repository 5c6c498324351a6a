//! The application secret against the Secrets Manager emulator: parse, redact, cache for the
//! TTL, re-read after expiry.

use std::time::Duration;

use tenantbase::clock::ManualClock;
use tenantbase::secrets::{CachedSecrets, Secret, SecretsManager};

#[tokio::test]
async fn cached_secret_is_reread_after_its_ttl() {
    let sdk = tenantbase_tests::sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = tenantbase_tests::unique_name("tb-secret");
    let mut value =
        tenantbase_tests::generate_secrets("admin@example.com", "Adm1n-passw0rd!", "operator-key-1234567890");
    assert!(tenantbase_tests::ensure_secret(&client, &name, &value).await.unwrap());
    assert!(!tenantbase_tests::ensure_secret(&client, &name, &value).await.unwrap(), "second ensure keeps it");

    let clock = ManualClock::new();
    let cache =
        CachedSecrets::with_clock(SecretsManager::new(client.clone(), &name), Duration::from_secs(300), clock.clone());
    let first = cache.get().await.unwrap();
    assert_eq!(first.embedding_secret_key.expose().len(), 64);
    assert_eq!(first.operator_api_key.expose(), "operator-key-1234567890");

    // Rotate in Secrets Manager behind the cache's back.
    value.metabase_api_key = Secret::new("mb_rotated".to_owned());
    client
        .put_secret_value()
        .secret_id(&name)
        .secret_string(serde_json::to_string(&value).unwrap())
        .send()
        .await
        .unwrap();

    clock.advance(Duration::from_secs(299));
    assert_eq!(cache.get().await.unwrap().metabase_api_key.expose(), "", "still cached within the TTL");
    clock.advance(Duration::from_secs(1));
    assert_eq!(cache.get().await.unwrap().metabase_api_key.expose(), "mb_rotated", "re-read after expiry");
}

#[tokio::test]
async fn put_writes_through_and_redaction_holds_for_what_was_read() {
    let sdk = tenantbase_tests::sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = tenantbase_tests::unique_name("tb-secret");
    let value = tenantbase_tests::generate_secrets("admin@example.com", "Adm1n-passw0rd!", "operator-key-abcdef");
    tenantbase_tests::ensure_secret(&client, &name, &value).await.unwrap();
    let cache = CachedSecrets::new(SecretsManager::new(client.clone(), &name), Duration::from_secs(300));
    let mut updated = (*cache.get().await.unwrap()).clone();
    updated.metabase_api_key = Secret::new("mb_written_by_bootstrap".to_owned());
    cache.put(updated).await.unwrap();

    let fresh = CachedSecrets::new(SecretsManager::new(client, &name), Duration::ZERO);
    let read = fresh.get().await.unwrap();
    assert_eq!(read.metabase_api_key.expose(), "mb_written_by_bootstrap");
    let shown = format!("{read:?}");
    for secret in
        ["mb_written_by_bootstrap", "Adm1n-passw0rd!", "operator-key-abcdef", read.embedding_secret_key.expose()]
    {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
}

#[tokio::test]
async fn missing_secret_is_unavailable_and_malformed_secret_is_reported_without_content() {
    let sdk = tenantbase_tests::sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let absent = CachedSecrets::new(
        SecretsManager::new(client.clone(), tenantbase_tests::unique_name("absent")),
        Duration::ZERO,
    );
    assert_eq!(absent.get().await.unwrap_err().code(), "service_unavailable");

    let name = tenantbase_tests::unique_name("tb-secret");
    client
        .create_secret()
        .name(&name)
        .secret_string(r#"{"metabase_admin_password":"hunter2-leak"}"#)
        .send()
        .await
        .unwrap();
    let malformed = CachedSecrets::new(SecretsManager::new(client, &name), Duration::ZERO);
    let err = malformed.get().await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter2-leak"));
}
