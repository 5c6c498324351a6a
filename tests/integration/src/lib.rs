//! Helpers shared by the integration tests and `devstack` (the local stack helper): the AWS
//! emulator endpoint, fresh isolated tables and secrets, and generated development secrets.
//!
//! Tests run against the moto server that `scripts/test.sh` starts (it exports
//! `AWS_ENDPOINT_URL`). Without it they fail loudly rather than skip.

use aws_config::SdkConfig;
use rand::RngExt;
use tenantbase::secrets::{AppSecrets, Secret};
use tenantbase::store::{Store, TABLE};

/// The AWS emulator's endpoint, or a panic that says how to provide one.
pub fn aws_endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "AWS_ENDPOINT_URL is not set: these tests need the moto server. Run them with `make test` \
             (scripts/test.sh starts moto and exports AWS_ENDPOINT_URL and dummy credentials)."
        ),
    }
}

/// SDK configuration pointed at the emulator; panics if it is not configured or not answering.
pub async fn sdk_config() -> SdkConfig {
    let endpoint = aws_endpoint();
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned();
    if tokio::net::TcpStream::connect(&address).await.is_err() {
        panic!("the AWS emulator at {endpoint} is not answering: start it with `make test` or `make dev`");
    }
    tenantbase::aws::load().await
}

/// A unique name so suites sharing one moto server never see each other's data.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A new, empty table created from the shared definition.
pub async fn fresh_table(sdk: &SdkConfig) -> Store {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let name = unique_name("tb-test");
    TABLE.ensure(&client, &name).await.expect("create test table");
    Store::new(client, name)
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

/// Secrets for a development stack: admin and operator credentials as given, keys generated.
pub fn generate_secrets(admin_email: &str, admin_password: &str, operator_api_key: &str) -> AppSecrets {
    AppSecrets {
        metabase_admin_email: admin_email.to_owned(),
        metabase_admin_password: Secret::new(admin_password.to_owned()),
        metabase_api_key: Secret::default(),
        embedding_secret_key: Secret::new(random_hex(32)),
        access_token_signing_key: Secret::new(random_hex(32)),
        operator_api_key: Secret::new(operator_api_key.to_owned()),
        analytics_db_details: None,
    }
}

/// Creates the secret with `value`, or, if it exists, leaves it as it is and returns `false`.
///
/// # Errors
/// Secrets Manager refused the request.
pub async fn ensure_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &AppSecrets,
) -> anyhow::Result<bool> {
    let body = serde_json::to_string(value)?;
    match client.create_secret().name(name).secret_string(body).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => Ok(false),
        Err(e) => Err(anyhow::Error::msg(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())),
    }
}
