//! The embed mint under load: N requests at each concurrency through the embed function's
//! handler (in-process, real API Gateway events), with the table on moto and the Metabase
//! emulator; latency percentiles, throughput, and the DynamoDB and Metabase calls per request.
//!
//! A request's time is what the function does with it: parse the API Gateway event (as the
//! Lambda runtime does) and answer it (`api::respond` with the embed service). The test
//! harness's `api::call` is not used in the loop: it also checks every reply against
//! openapi.yaml, which the integration tests do and the function does not.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::Value;
use tenantbase::api::{Service, respond};
use tenantbase_tests::Stack;
use tenantbase_tests::api::event;

use crate::counting::count_dynamodb;
use crate::seed;
use crate::stats::{Samples, ms};

/// Unrecorded requests before each measurement (connection pools, caches).
const WARM_UP: usize = 100;

pub async fn run(requests: usize, concurrencies: &[usize]) -> anyhow::Result<()> {
    let mut stack = Stack::bootstrapped().await;
    let sdk = aws_sdk_dynamodb::config::Builder::from(&stack.sdk);
    let counter = count_dynamodb(Arc::get_mut(&mut stack.deps).context("deps shared too early")?, &sdk);
    let target = seed::embed_target(&stack).await?;
    let auth = format!("Bearer {}", target.bearer);
    let metabase = reqwest::Client::new();
    let counters_url = stack.emulator_url("/__emulator/counters");

    println!("embed mint under load: {requests} requests per concurrency, GET {}", target.mint_path);
    println!(
        "{:>11} {:>10} {:>10} {:>10} {:>10} {:>12} {:>28} {:>16} {:>14}",
        "concurrency",
        "p50",
        "p95",
        "p99",
        "max",
        "throughput",
        "DynamoDB calls/request",
        "DynamoDB time/req",
        "Metabase calls"
    );
    for &concurrency in concurrencies {
        drive(&stack, &target.mint_path, &auth, WARM_UP.min(requests), concurrency).await?;
        counter.take();
        metabase.delete(&counters_url).send().await?.error_for_status()?;

        let started = Instant::now();
        let latencies = drive(&stack, &target.mint_path, &auth, requests, concurrency).await?;
        let wall = started.elapsed();

        let tally = counter.take();
        let counts: Value = metabase.get(&counters_url).send().await?.error_for_status()?.json().await?;
        let metabase_calls: u64 = counts.as_object().map(|m| m.values().filter_map(Value::as_u64).sum()).unwrap_or(0);
        let per_request: Vec<String> =
            tally.calls.iter().map(|(op, n)| format!("{op} {:.2}", *n as f64 / requests as f64)).collect();
        let samples = Samples::new(latencies);
        println!(
            "{concurrency:>11} {:>10} {:>10} {:>10} {:>10} {:>10.0}/s {:>28} {:>16} {:>14}",
            ms(samples.median()),
            ms(samples.percentile(95.0)),
            ms(samples.percentile(99.0)),
            ms(samples.max()),
            requests as f64 / wall.as_secs_f64(),
            per_request.join(", "),
            ms(tally.time / u32::try_from(requests).unwrap_or(u32::MAX)),
            metabase_calls,
        );
    }
    Ok(())
}

/// `requests` mints from `concurrency` workers; every one must succeed. Returns each latency.
async fn drive(
    stack: &Stack,
    path: &str,
    auth: &str,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Duration>> {
    let next = Arc::new(AtomicUsize::new(0));
    let event: Arc<str> = event("GET", path, &[("authorization", auth)], None).into();
    let workers = (0..concurrency).map(|_| {
        let (deps, next, event) = (stack.deps.clone(), next.clone(), event.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let sent = Instant::now();
                let request = lambda_http::request::from_str(&event).context("the mint event does not parse")?;
                let Ok(reply) = respond(Service::EMBED, deps.clone(), request).await;
                latencies.push(sent.elapsed());
                let status = reply.status();
                ensure!(status == 200, "a mint failed: {status} {}", String::from_utf8_lossy(reply.body()));
            }
            Ok::<_, anyhow::Error>(latencies)
        })
    });
    let mut all = Vec::with_capacity(requests);
    for worker in futures::future::join_all(workers).await {
        all.extend(worker??);
    }
    Ok(all)
}
