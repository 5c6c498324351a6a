//! The `bootstrap` Lambda function (custom resource, schedule, direct invoke); its logic lives in
//! the shared crate.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tenantbase::bootstrap::serve().await
}
