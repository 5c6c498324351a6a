//! Cold start of each function's release binary: from spawning the process to its first
//! `GET /2018-06-01/runtime/invocation/next` against a local runtime API, with every client
//! built and the secret read from Secrets Manager (moto); the peak RSS at that point. Then the
//! embed function's first invocation (a mint) with and without `WARM_CONNECTIONS`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use tenantbase_tests::Stack;
use tokio::process::{Child, Command};

use crate::runtime_api::RuntimeApi;
use crate::seed::{self, EmbedTarget};
use crate::stats::Samples;

pub const FUNCTIONS: [&str; 6] = ["signup", "workspaces", "discovery", "embed", "health", "bootstrap"];

/// Longest a function may take to reach its first `next`.
const INIT_LIMIT: Duration = Duration::from_secs(10);

/// One process started against its own runtime API.
struct Started {
    child: Child,
    api: RuntimeApi,
    init: Duration,
}

impl Started {
    /// Peak resident set so far (`VmHWM`), in KiB.
    fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("process already gone")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmHWM in /proc/<pid>/status")
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// Starts `binary` with the environment Lambda would give it; `warm` sets `WARM_CONNECTIONS`,
/// `None` leaves it unset (the function's default).
async fn start(binary: &Path, stack: &Stack, warm: Option<bool>) -> anyhow::Result<Started> {
    let mut api = RuntimeApi::start().await?;
    let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("function");
    let config = &stack.deps.config;
    let mut command = Command::new(binary);
    command
        .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("TABLE_NAME", &config.table_name)
        .env("SECRET_ID", &stack.secret_id)
        .env("METABASE_URL", config.metabase_url.as_str().trim_end_matches('/'))
        .env("METABASE_SITE_URL", config.metabase_site_url.as_str().trim_end_matches('/'))
        .env_remove("WARM_CONNECTIONS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(warm) = warm {
        command.env("WARM_CONNECTIONS", warm.to_string());
    }
    let spawned = Instant::now();
    let mut child = command.spawn().with_context(|| format!("spawn {}", binary.display()))?;
    let ready = tokio::select! {
        ready = tokio::time::timeout(INIT_LIMIT, api.first_next()) => ready
            .with_context(|| format!("{name} did not ask for an invocation within {INIT_LIMIT:?}"))??,
        status = child.wait() => bail!("{name} exited during init: {}", status?),
    };
    Ok(Started { child, api, init: ready.duration_since(spawned) })
}

/// Cold start of every function, then the embed function's first invocation; prints the report.
pub async fn run(bin_dir: &Path, runs: usize) -> anyhow::Result<()> {
    let binaries: Vec<PathBuf> = FUNCTIONS.iter().map(|f| bin_dir.join(f)).collect();
    for binary in &binaries {
        ensure!(
            binary.is_file(),
            "{} is missing: build the functions with `make bench` (profile bench-release) or pass --bin-dir",
            binary.display()
        );
    }
    let stack = Stack::bootstrapped().await;
    let target = seed::embed_target(&stack).await?;

    println!(
        "cold start: spawn → first GET /runtime/invocation/next, {runs} runs each (after one unrecorded run), \
         default configuration (WARM_CONNECTIONS unset)"
    );
    println!("{:<11} {:<70} peak RSS (VmHWM, median)", "function", "time to first next");
    for binary in &binaries {
        start(binary, &stack, None).await?.stop().await?;
        let (mut times, mut rss) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let started = start(binary, &stack, None).await?;
            times.push(started.init);
            rss.push(started.peak_rss_kib()?);
            started.stop().await?;
        }
        rss.sort_unstable();
        let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        println!("{name:<11} {:<70} {:.1} MiB", Samples::new(times).spread_ms(), rss[rss.len() / 2] as f64 / 1024.0);
    }

    first_invocation(&bin_dir.join("embed"), &stack, &target, runs).await
}

/// Per setting: init time, first and second mint latency, peak RSS (KiB).
#[derive(Default)]
struct FirstInvocations {
    init: Vec<Duration>,
    first: Vec<Duration>,
    second: Vec<Duration>,
    rss: Vec<u64>,
}

/// The embed function's first mint after init, with the connections warmed at init or not.
async fn first_invocation(binary: &Path, stack: &Stack, target: &EmbedTarget, runs: usize) -> anyhow::Result<()> {
    let auth = format!("Bearer {}", target.bearer);
    let event = tenantbase_tests::api::event("GET", &target.mint_path, &[("authorization", &auth)], None);
    println!("\nembed: first invocation (a mint) after a cold start, {runs} runs each, alternating");
    let mut results: [FirstInvocations; 2] = Default::default();
    for run in 0..=runs {
        for (i, warm) in [false, true].into_iter().enumerate() {
            let started = start(binary, stack, Some(warm)).await?;
            let sent = Instant::now();
            let answer = started.api.invoke(event.clone()).await?;
            let first = answer.at.duration_since(sent);
            let reply: serde_json::Value = serde_json::from_slice(&answer.body)?;
            ensure!(answer.ok && reply["statusCode"] == 200, "the mint failed: {reply}");
            // The second mint in the same sandbox, for comparison.
            let sent = Instant::now();
            let answer = started.api.invoke(event.clone()).await?;
            let second = answer.at.duration_since(sent);
            ensure!(answer.ok, "the second mint failed");
            let rss = started.peak_rss_kib()?;
            let init = started.init;
            started.stop().await?;
            if run > 0 {
                let slot = &mut results[i];
                slot.init.push(init);
                slot.first.push(first);
                slot.second.push(second);
                slot.rss.push(rss);
            }
        }
    }
    for (warm, FirstInvocations { init, first, second, mut rss }) in [false, true].into_iter().zip(results) {
        rss.sort_unstable();
        println!("WARM_CONNECTIONS={warm}:");
        println!("  init (spawn → first next)  {}", Samples::new(init).spread_ms());
        println!("  first mint                 {}", Samples::new(first).spread_ms());
        println!("  second mint                {}", Samples::new(second).spread_ms());
        println!("  peak RSS after two mints   {:.1} MiB (median)", rss[rss.len() / 2] as f64 / 1024.0);
    }
    Ok(())
}
