//! Local stack helper for `make dev`: creates the table (from the shared definition) and the
//! application secret on the AWS emulator, then runs the real bootstrap against Metabase.
//! Idempotent: an existing secret keeps its generated keys, so restarting `make dev` does not
//! invalidate tokens or embeds.

use clap::Parser;
use tenantbase::store::TABLE;

#[derive(Debug, Parser)]
#[command(about = "Prepare the local AWS emulator and Metabase for Tenantbase")]
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
    /// Connection details (JSON object) of the analytics database, for a real Metabase that
    /// does not have it connected yet; stored in the secret for bootstrap.
    #[arg(long, env = "ANALYTICS_DB_DETAILS", hide_env_values = true)]
    analytics_db_details: Option<String>,
    /// Stop after the table and secret (do not touch Metabase).
    #[arg(long)]
    no_bootstrap: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sdk = tenantbase_tests::sdk_config().await;
    TABLE.ensure(&aws_sdk_dynamodb::Client::new(&sdk), &args.table).await?;
    println!("table {} ready", args.table);
    let mut secrets =
        tenantbase_tests::generate_secrets(&args.admin_email, &args.admin_password, &args.operator_api_key);
    if let Some(details) = &args.analytics_db_details {
        let details: serde_json::Map<String, serde_json::Value> = serde_json::from_str(details).map_err(|e| {
            anyhow::anyhow!("ANALYTICS_DB_DETAILS must be a JSON object (line {}, column {})", e.line(), e.column())
        })?;
        secrets.analytics_db_details = Some(tenantbase::secrets::Secret::new(details));
    }
    let created =
        tenantbase_tests::ensure_secret(&aws_sdk_secretsmanager::Client::new(&sdk), &args.secret, &secrets).await?;
    println!("secret {} {}", args.secret, if created { "created" } else { "already present" });
    if args.no_bootstrap {
        return Ok(());
    }
    // The same code path as the deployed bootstrap function, configured from the environment.
    let deps = tenantbase::deps::Deps::build(tenantbase::config::Config::from_env()?, &sdk)?;
    let report = tenantbase::bootstrap::reconcile(&deps).await?;
    if report.changes.is_empty() {
        println!("bootstrap: Metabase already as required");
    }
    for change in &report.changes {
        println!("bootstrap: {change}");
    }
    Ok(())
}
