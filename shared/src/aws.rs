//! AWS SDK configuration, loaded once at init.
//!
//! The standard chain applies: region and credentials from the environment (the Lambda role in
//! AWS), and `AWS_ENDPOINT_URL` when set, which is how local dev and tests reach the moto server
//! on 127.0.0.1 without any code path that differs from production.

use aws_config::{BehaviorVersion, SdkConfig};

pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}
