//! `metabase-emulator --bind 127.0.0.1:PORT`: a fresh, not-yet-set-up Metabase held in memory.

use std::net::SocketAddr;

use clap::Parser;
use metabase_emulator::{EmulatorConfig, Knobs};

#[derive(Debug, Parser)]
#[command(about = "In-memory emulator of the Metabase HTTP API")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    bind: SocketAddr,
    /// Seconds during which /api/* answers 503 "still initializing" (§2).
    #[arg(long, default_value_t = 0.0)]
    init_seconds: f64,
    /// Keep exposing `setup-token` after setup (older Metabase, §3).
    #[arg(long)]
    keep_setup_token: bool,
    /// Return "none" cells in the collection graph (before 0.56.13, §11).
    #[arg(long)]
    graph_none_cells: bool,
    /// Collection creation does not bump the graph revision (before ~0.56, §11).
    #[arg(long)]
    no_creation_bump: bool,
    /// Delay before writes become visible in search, in ms (§19.1).
    #[arg(long, default_value_t = 0)]
    search_index_delay_ms: u64,
    /// Like MB_DISABLE_SESSION_THROTTLE=true (§5).
    #[arg(long, env = "MB_DISABLE_SESSION_THROTTLE")]
    disable_session_throttle: bool,
    /// Like MB_PASSWORD_COMPLEXITY: weak, normal or strong (§4).
    #[arg(long, env = "MB_PASSWORD_COMPLEXITY", default_value = "normal")]
    password_complexity: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let args = Args::parse();
    let knobs = Knobs {
        init_seconds: args.init_seconds,
        setup_token_cleared_after_setup: !args.keep_setup_token,
        graph_none_cells: args.graph_none_cells,
        creation_bumps_revision: !args.no_creation_bump,
        search_index_delay_ms: args.search_index_delay_ms,
        disable_session_throttle: args.disable_session_throttle,
        password_complexity: args.password_complexity,
        ..Knobs::default()
    };
    let running = metabase_emulator::spawn(EmulatorConfig { bind: Some(args.bind), knobs }).await?;
    println!("listening on http://{}", running.addr);
    let _ = running.handle.await;
    Ok(())
}
