//! Discovery at scale: many workspaces with many dashboards each, a fixed latency on every
//! Metabase call, and three sweeps — everything new, nothing new, one dashboard changed — each
//! with its wall time, Metabase calls (by route) and DynamoDB reads and writes.
//!
//! Seeding is direct, not through provisioning sagas: collections through the Metabase API,
//! workspace records with `workspaces::insert` (what provisioning writes), content as an editor
//! would create it. Latency is switched on only for the sweeps.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt, stream};
use reqwest::Method;
use serde_json::json;
use tenantbase::discovery::SweepReport;
use tenantbase::fixtures;
use tenantbase::ids::{UserId, WorkspaceId};
use tenantbase::workspaces::{self, Inserted, Workspace};
use tenantbase_tests::Stack;
use tenantbase_tests::fixtures::Metabase;

use crate::counting::{Counter, count_dynamodb};

/// Seeding requests in flight at once.
const SEED_CONCURRENCY: usize = 16;

pub struct Scale {
    pub workspaces: usize,
    pub dashboards: usize,
    pub latency_ms: u64,
}

pub async fn run(scale: &Scale) -> anyhow::Result<()> {
    let mut stack = Stack::bootstrapped().await;
    let sdk = aws_sdk_dynamodb::config::Builder::from(&stack.sdk);
    let counter = count_dynamodb(Arc::get_mut(&mut stack.deps).context("deps shared too early")?, &sdk);
    let mb = Metabase::of(&stack).await;

    let seeding = Instant::now();
    let dashboards = seed(&stack, &mb, scale).await?;
    println!(
        "discovery at scale: {} workspaces × {} dashboards (+ the one question each shows) seeded in {:.1} s",
        scale.workspaces,
        scale.dashboards,
        seeding.elapsed().as_secs_f64()
    );
    let http = reqwest::Client::new();
    http.post(stack.emulator_url("/__emulator/latency"))
        .json(&json!({"path": "/api/*", "ms": scale.latency_ms}))
        .send()
        .await?
        .error_for_status()?;
    println!("{} ms latency on every Metabase call from here on", scale.latency_ms);

    let first = sweep(&stack, &http, &counter, "first sweep (everything new)").await?;
    anyhow::ensure!(first.counts.new >= scale.workspaces * scale.dashboards, "the first sweep missed items: {first:?}");
    let steady = sweep(&stack, &http, &counter, "steady-state sweep (nothing new)").await?;
    anyhow::ensure!(steady.counts.new + steady.counts.changed == 0, "the steady sweep found changes: {steady:?}");
    // The steady sweep's reads, each timed alone, in the order the sweep makes them.
    let started = Instant::now();
    let all = tenantbase::workspaces::all(&stack.deps.store).await?.len();
    println!("  its reads, each timed alone: the workspaces (one Query, {all} records): {:.2} s", secs(started));
    let metabase = stack.deps.metabase_admin().await?;
    let started = Instant::now();
    let listed_dashboards = metabase.all_dashboards().await?.map_or(0, |d| d.len());
    let listed_cards = metabase.all_cards().await?.map_or(0, |c| c.len());
    println!(
        "    the two Metabase listings ({listed_dashboards} dashboards, {listed_cards} cards, {} ms latency each): {:.2} s",
        scale.latency_ms,
        secs(started)
    );
    let started = Instant::now();
    let records: usize = tenantbase::items::all_by_workspace(&stack.deps.store).await?.values().map(Vec::len).sum();
    println!("    every item record (one parallel Scan, {records} records): {:.2} s", secs(started));

    let changed = dashboards[dashboards.len() / 2];
    mb.admin(Method::PUT, &format!("/api/dashboard/{changed}"), json!({"description": "edited"})).await;
    let one = sweep(&stack, &http, &counter, "one dashboard changed").await?;
    anyhow::ensure!(one.counts.changed == 1, "expected one changed dashboard: {one:?}");
    Ok(())
}

/// Collections, workspace records and content; returns every dashboard id.
async fn seed(stack: &Stack, mb: &Metabase, scale: &Scale) -> anyhow::Result<Vec<u64>> {
    let admin = stack.deps.metabase_admin().await?;
    let owner = UserId::generate();
    let created: Vec<Vec<u64>> = stream::iter(0..scale.workspaces)
        .map(|i| {
            let admin = &admin;
            async move {
                let id = WorkspaceId::generate();
                let collection =
                    admin.create_collection(&format!("Tenant {i}"), &format!("tenantbase-workspace:{id}")).await?;
                let workspace = Workspace {
                    name: format!("Tenant {i}"),
                    tenant_key: format!("tenant-{i}"),
                    owner_id: owner,
                    metabase_collection_id: Some(collection.id),
                    metabase_collection_name: Some(collection.name.clone()),
                    ..fixtures::embed::workspace(id)
                };
                let inserted = workspaces::insert(&stack.deps.store, &workspace, None).await?;
                anyhow::ensure!(matches!(inserted, Inserted::Created), "workspace {i} not inserted");
                workspaces::record_collection(&stack.deps.store, collection.id, id).await?;
                let collection = collection.id.0;
                let card = mb
                    .card(
                        collection,
                        "Orders",
                        "SELECT * FROM orders WHERE tenant_id = {{tenant_id}} [[AND channel = {{channel}}]]",
                    )
                    .await;
                let mut dashboards = Vec::with_capacity(scale.dashboards);
                for d in 0..scale.dashboards {
                    dashboards.push(mb.dashboard(collection, &format!("Dashboard {d}"), &[card], &[]).await.0);
                }
                Ok::<_, anyhow::Error>(dashboards)
            }
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(created.into_iter().flatten().collect())
}

/// One sweep with its calls counted; prints its line and returns its report.
async fn sweep(stack: &Stack, http: &reqwest::Client, counter: &Counter, label: &str) -> anyhow::Result<SweepReport> {
    let counters = stack.emulator_url("/__emulator/counters");
    http.delete(&counters).send().await?.error_for_status()?;
    counter.take();
    let started = Instant::now();
    let report = tenantbase::discovery::sweep(&stack.deps).await?;
    let wall = started.elapsed();
    let dynamodb = counter.take();
    let calls: BTreeMap<String, u64> = http.get(&counters).send().await?.error_for_status()?.json().await?;
    // Group by route shape: numbers in the path become `:id`.
    let mut routes: BTreeMap<String, u64> = BTreeMap::new();
    for (route, n) in &calls {
        let shape: Vec<&str> = route
            .split('/')
            .map(|part| if part.chars().all(|c| c.is_ascii_digit()) && !part.is_empty() { ":id" } else { part })
            .collect();
        *routes.entry(shape.join("/")).or_insert(0) += n;
    }
    let total: u64 = calls.values().sum();
    println!("\n{label}: {:.2} s", wall.as_secs_f64());
    println!(
        "  items: seen {} new {} changed {} published {} quarantined {} removed {}; failed workspaces {}",
        report.counts.seen,
        report.counts.new,
        report.counts.changed,
        report.counts.published,
        report.counts.quarantined,
        report.counts.removed,
        report.failed
    );
    let by_route: Vec<String> = routes.iter().map(|(r, n)| format!("{r} ×{n}")).collect();
    println!("  Metabase calls: {total} ({})", by_route.join(", "));
    println!(
        "  DynamoDB: {} reads, {} writes, {} item records written ({}); {:.2} s inside DynamoDB calls (summed over concurrent calls)",
        dynamodb.reads(),
        dynamodb.writes(),
        report.counts.dynamodb_writes,
        dynamodb.summary(),
        dynamodb.time.as_secs_f64()
    );
    anyhow::ensure!(report.failed == 0, "{} workspaces failed", report.failed);
    Ok(report)
}

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}
