//! The `discovery` Lambda function; its routes and logic live in the shared crate.

use tenantbase::routes::Function;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tenantbase::api::serve(Function::Discovery).await
}
