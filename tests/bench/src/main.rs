//! `make bench`'s measuring tool: cold start of the function binaries, the embed mint under
//! load, and discovery at scale, against moto (`AWS_ENDPOINT_URL`) and the in-process Metabase
//! emulator. The microbenchmarks are `tenantbase-micro`. Method and results: BENCHMARKS.md.

mod coldstart;
mod counting;
mod discovery_scale;
mod embed_load;
mod runtime_api;
mod seed;
mod stats;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Tenantbase benchmarks (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Spawn → first runtime-API `next` of each function binary, and the embed function's first mint.
    Coldstart {
        /// Where the host function binaries are.
        #[arg(long, default_value = "target/bench-release")]
        bin_dir: PathBuf,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// The embed mint under load at several concurrencies.
    EmbedLoad {
        #[arg(long, default_value_t = 5000)]
        requests: usize,
        #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
        concurrency: Vec<usize>,
    },
    /// Discovery sweeps over many workspaces with Metabase latency.
    Discovery {
        #[arg(long, default_value_t = 1000)]
        workspaces: usize,
        #[arg(long, default_value_t = 10)]
        dashboards: usize,
        #[arg(long, default_value_t = 20)]
        latency_ms: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Cli::parse().command;
    // Fails loudly (with how to start it) when moto is not there.
    tenantbase_tests::aws_endpoint();
    match command {
        Command::Coldstart { bin_dir, runs } => coldstart::run(&bin_dir, runs).await,
        Command::EmbedLoad { requests, concurrency } => embed_load::run(requests, &concurrency).await,
        Command::Discovery { workspaces, dashboards, latency_ms } => {
            discovery_scale::run(&discovery_scale::Scale { workspaces, dashboards, latency_ms }).await
        }
    }
}
