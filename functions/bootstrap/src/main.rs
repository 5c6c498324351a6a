//! The `bootstrap` Lambda function (custom resource, schedule, direct invoke); its logic lives in
//! the shared crate.

fn main() -> Result<(), lambda_runtime::Error> {
    tenantbase::bootstrap::main()
}
