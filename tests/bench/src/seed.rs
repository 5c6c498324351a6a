//! The content the embed benchmarks mint for, built the way the integration tests build it: a
//! signed-up member, an operator-created workspace, a wired dashboard in its collection, and a
//! discovery pass that lints, publishes and records it.

use anyhow::{Context, ensure};
use serde_json::json;
use tenantbase::ids::WorkspaceId;
use tenantbase::workspaces;
use tenantbase_tests::Stack;
use tenantbase_tests::api::{as_operator, sign_up};
use tenantbase_tests::fixtures::Metabase;

/// A member's access token and the mint path of an embeddable dashboard.
pub struct EmbedTarget {
    pub bearer: String,
    pub mint_path: String,
}

/// Builds one tenant's embeddable dashboard on `stack` (bootstrapped).
pub async fn embed_target(stack: &Stack) -> anyhow::Result<EmbedTarget> {
    let (_, bearer) = sign_up(&stack.deps, "owner@acme.bench").await;
    let body = json!({"name": "Acme", "tenant_key": "acme", "owner_email": "owner@acme.bench"});
    let created = as_operator(&stack.deps, "POST", "/api/workspaces", body).await;
    ensure!(created.status == 201, "workspace not created: {:?}", created.body);
    let collection = created.body["metabase_collection_id"].as_u64().context("collection id")?;
    let workspace_id: WorkspaceId = created.body["id"].as_str().context("workspace id")?.parse()?;

    let mb = Metabase::of(stack).await;
    let orders = mb
        .card(
            collection,
            "Orders",
            "SELECT * FROM orders WHERE tenant_id = {{tenant_id}} [[AND channel = {{channel}}]] ORDER BY id",
        )
        .await;
    let (dashboard, _) = mb.dashboard(collection, "Orders per tenant", &[orders], &[]).await;
    let workspace = workspaces::get(&stack.deps.store, workspace_id).await?.context("workspace record")?;
    let report = tenantbase::discovery::sync_workspace(&stack.deps, &workspace).await?;
    ensure!(report.counts.published >= 1, "discovery published nothing: {report:?}");
    Ok(EmbedTarget { bearer, mint_path: format!("/api/workspaces/dashboards/{workspace_id}.{dashboard}/embed") })
}
