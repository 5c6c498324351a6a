//! The `health` Lambda function; its routes and logic live in the shared crate.

use tenantbase::api::Service;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tenantbase::api::serve(Service::HEALTH).await
}
