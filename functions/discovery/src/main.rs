//! The `discovery` Lambda function: HTTP routes and the scheduled sweep in one binary; its logic
//! lives in the shared crate.

fn main() -> Result<(), lambda_http::Error> {
    tenantbase::discovery::main()
}
