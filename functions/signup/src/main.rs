//! The `signup` Lambda function; its routes and logic live in the shared crate.

use tenantbase::api::Service;

fn main() -> Result<(), lambda_http::Error> {
    tenantbase::api::main(Service::SIGNUP)
}
