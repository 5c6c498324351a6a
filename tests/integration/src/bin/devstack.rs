//! Local stack helper for `make dev`: creates the table (from the shared definition) and the
//! application secret on the AWS emulator. Idempotent: an existing secret keeps its generated
//! keys, so restarting `make dev` does not invalidate tokens or embeds.

use clap::Parser;
use tenantbase::store::TABLE;

#[derive(Debug, Parser)]
#[command(about = "Prepare the local AWS emulator for Tenantbase")]
struct Args {
    #[arg(long, env = "TABLE_NAME")]
    table: String,
    #[arg(long, env = "SECRET_ID")]
    secret: String,
    #[arg(long, env = "METABASE_ADMIN_EMAIL")]
    admin_email: String,
    #[arg(long, env = "METABASE_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: String,
    #[arg(long, env = "OPERATOR_API_KEY", hide_env_values = true)]
    operator_api_key: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sdk = tenantbase_tests::sdk_config().await;
    TABLE.ensure(&aws_sdk_dynamodb::Client::new(&sdk), &args.table).await?;
    println!("table {} ready", args.table);
    let secrets = tenantbase_tests::generate_secrets(&args.admin_email, &args.admin_password, &args.operator_api_key);
    let created =
        tenantbase_tests::ensure_secret(&aws_sdk_secretsmanager::Client::new(&sdk), &args.secret, &secrets).await?;
    println!("secret {} {}", args.secret, if created { "created" } else { "already present" });
    Ok(())
}
