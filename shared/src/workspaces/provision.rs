//! The provisioning saga (design §6) and its reverse (archive): each step is idempotent and
//! recorded on the workspace, so a retry, a replayed request or the reconciler resumes where the
//! last attempt stopped, and nothing is created twice.
//!
//! Steps: collection (found again by a marker in its description) → group (`Tenant <id>`) →
//! permission cells (group write, everyone else none on the collection; verified by reading the
//! graph back) → Metabase group membership of owners and editors → active.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::ids::{MetabaseCollectionId, MetabaseGroupId};
use crate::metabase::{MetabaseClient, Patched, PermissionGroup};
use crate::workspaces::lease;
use crate::workspaces::{self, Status, Workspace, members};

pub(crate) const SAGA_LEASE_TTL: Duration = Duration::from_secs(60);
const GRAPH_LEASE_TTL: Duration = Duration::from_secs(15);

pub(crate) fn now(deps: &Deps) -> String {
    let now = time::OffsetDateTime::from_unix_timestamp(deps.clock.unix_seconds())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Saves progress; when another writer saved first, continues from their version (every step
/// re-checks Metabase, so nothing is lost by re-reading).
async fn record(deps: &Deps, workspace: &Workspace) -> Result<Workspace> {
    if let Some(saved) = workspaces::save(&deps.store, workspace, &now(deps)).await? {
        return Ok(saved);
    }
    workspaces::get(&deps.store, workspace.id)
        .await?
        .ok_or_else(|| Error::internal("workspace vanished during provisioning"))
}

/// Runs (or resumes) the saga to `active`, holding the workspace's lease so concurrent retries
/// of one workspace never interleave. `changes` collects what had to be repaired.
///
/// # Errors
/// A step failed; the workspace is then saved as `failed` with the reason and everything created
/// so far recorded.
pub async fn provision(deps: &Deps, workspace: Workspace, changes: &mut Vec<String>) -> Result<Workspace> {
    let result = lease::hold(
        &deps.store,
        deps.clock.as_ref(),
        &lease::workspace(workspace.id),
        SAGA_LEASE_TTL,
        Box::pin(async {
            // Re-read under the lease: a concurrent attempt may have finished steps meanwhile.
            let current = workspaces::get(&deps.store, workspace.id).await?.unwrap_or(workspace.clone());
            Box::pin(run_steps(deps, current, changes)).await
        }),
    )
    .await;
    match result {
        Ok(done) => Ok(done),
        // Another worker holds the saga: it is in progress, not failed.
        Err(error @ Error::Unavailable { service: "lease", .. }) => Err(error),
        Err(error) => {
            let reason = error.public_message();
            tracing::warn!(workspace = %workspace.id, %error, "provisioning stopped; recorded as failed");
            if let Some(mut failed) = workspaces::get(&deps.store, workspace.id).await.ok().flatten()
                && failed.status != Status::Archived
            {
                failed.status = Status::Failed;
                failed.failure_reason = Some(reason);
                let _ = workspaces::save(&deps.store, &failed, &now(deps)).await;
            }
            Err(error)
        }
    }
}

async fn run_steps(deps: &Deps, mut workspace: Workspace, changes: &mut Vec<String>) -> Result<Workspace> {
    if workspace.status == Status::Archived {
        return archive_steps(deps, workspace, changes).await;
    }
    let admin = deps.metabase_admin().await?;
    let groups = admin.groups().await?;

    let collection = ensure_collection(&admin, &workspace, changes).await?;
    if workspace.metabase_collection_id != Some(collection) {
        workspace.metabase_collection_id = Some(collection);
        workspace.metabase_collection_name = Some(workspace.name.clone());
        workspaces::record_collection(&deps.store, collection, workspace.id).await?;
        workspace = record(deps, &workspace).await?;
    }

    let group = ensure_group(&admin, &groups, &workspace, changes).await?;
    if workspace.metabase_group_id != Some(group) {
        workspace.metabase_group_id = Some(group);
        workspace = record(deps, &workspace).await?;
    }

    let admin_group = groups.iter().find(|g| g.is_admin()).map(|g| g.id);
    let patched = with_graph_lease(deps, apply_cells(&admin, collection, Some(group), admin_group)).await?;
    if patched == Patched::Changed {
        changes
            .push(format!("workspace {}: set collection permissions (group write, everyone else none)", workspace.id));
    }
    if !workspace.permissions_applied {
        workspace.permissions_applied = true;
        workspace = record(deps, &workspace).await?;
    }

    Box::pin(members::sync_group(deps, &admin, &workspace, group, changes)).await?;

    if workspace.status != Status::Active || workspace.failure_reason.is_some() {
        workspace.status = Status::Active;
        workspace.failure_reason = None;
        workspace = record(deps, &workspace).await?;
    }
    Ok(workspace)
}

/// Finds the workspace's collection (recorded id, else the description marker) or creates it.
async fn ensure_collection(
    admin: &MetabaseClient,
    workspace: &Workspace,
    changes: &mut Vec<String>,
) -> Result<MetabaseCollectionId> {
    let marker = workspace.collection_marker();
    let collections = admin.collections().await?;
    let found = collections
        .iter()
        .find(|c| Some(c.id) == workspace.metabase_collection_id)
        .or_else(|| collections.iter().find(|c| c.description.as_deref() == Some(marker.as_str())));
    if let Some(collection) = found {
        if collection.archived {
            // Someone trashed an active workspace's collection by hand: restore it.
            admin.update_collection(collection.id, &serde_json::json!({"archived": false})).await?;
            changes.push(format!("workspace {}: restored its archived collection", workspace.id));
        }
        return Ok(collection.id);
    }
    let created = admin.create_collection(&workspace.name, &marker).await?;
    changes.push(format!("workspace {}: created collection {}", workspace.id, created.id));
    Ok(created.id)
}

async fn ensure_group(
    admin: &MetabaseClient,
    groups: &[PermissionGroup],
    workspace: &Workspace,
    changes: &mut Vec<String>,
) -> Result<MetabaseGroupId> {
    let name = workspace.group_name();
    if let Some(group) = groups.iter().find(|g| Some(g.id) == workspace.metabase_group_id || g.name == name) {
        return Ok(group.id);
    }
    match admin.create_group(&name).await {
        Ok(group) => {
            changes.push(format!("workspace {}: created group {}", workspace.id, group.id));
            Ok(group.id)
        }
        // Created by an attempt whose answer was lost: find it.
        Err(e) if e.is_status(400) => {
            admin.groups().await?.into_iter().find(|g| g.name == name).map(|g| g.id).ok_or_else(|| Error::from(e))
        }
        Err(e) => Err(e.into()),
    }
}

/// The cells to change so that, on `collection`, `group` writes (nobody when `None`, i.e.
/// archived) and every other non-admin group has no access; `None` when the graph is exact.
pub fn plan_cells(
    graph: &crate::metabase::CollectionGraph,
    collection: MetabaseCollectionId,
    group: Option<MetabaseGroupId>,
    admin_group: Option<MetabaseGroupId>,
) -> Option<BTreeMap<String, BTreeMap<String, String>>> {
    let collection = collection.to_string();
    let mut patch: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    if let Some(group) = group
        && graph.access(group, &collection) != "write"
    {
        patch.entry(group.to_string()).or_default().insert(collection.clone(), "write".to_owned());
    }
    for (gid, cells) in &graph.groups {
        let ours = group.is_some_and(|g| g.to_string() == *gid);
        let is_admin = admin_group.is_some_and(|g| g.to_string() == *gid);
        if !ours && !is_admin && cells.get(&collection).is_some_and(|access| access != "none") {
            patch.entry(gid.clone()).or_default().insert(collection.clone(), "none".to_owned());
        }
    }
    (!patch.is_empty()).then_some(patch)
}

/// Applies [`plan_cells`] until the graph read back is exact (the verification).
fn apply_cells(
    admin: &MetabaseClient,
    collection: MetabaseCollectionId,
    group: Option<MetabaseGroupId>,
    admin_group: Option<MetabaseGroupId>,
) -> impl Future<Output = Result<Patched>> + '_ {
    admin.patch_collection_graph(move |graph| plan_cells(graph, collection, group, admin_group))
}

/// Re-asserts every workspace (design §4, last step): unfinished sagas are resumed, active
/// workspaces whose collection, group, cells or members drifted are repaired, archived ones
/// stay archived. The graph, groups and collections are read once for all workspaces, so a
/// healthy system costs one group-members read per workspace.
///
/// # Errors
/// Metabase or DynamoDB failed before any workspace could be checked, or some workspaces could
/// not be repaired (each is logged; the rest are still done).
pub async fn reconcile_all(deps: &Deps, changes: &mut Vec<String>) -> Result<()> {
    let all = workspaces::all(&deps.store).await?;
    if all.is_empty() {
        return Ok(());
    }
    let admin = deps.metabase_admin().await?;
    let collections = admin.collections().await?;
    let groups = admin.groups().await?;
    let graph = admin.collection_graph().await?;
    let admin_group = groups.iter().find(|g| g.is_admin()).map(|g| g.id);
    let mut failed = 0usize;
    for workspace in all {
        let id = workspace.id;
        let result = match workspace.status {
            Status::Provisioning | Status::Failed => Box::pin(provision(deps, workspace, changes)).await.map(|_| ()),
            Status::Archived => {
                let live = workspace
                    .metabase_collection_id
                    .is_some_and(|c| collections.iter().any(|x| x.id == c && !x.archived));
                if live { Box::pin(archive(deps, workspace, changes)).await.map(|_| ()) } else { Ok(()) }
            }
            Status::Active => {
                let exact = match (workspace.metabase_collection_id, workspace.metabase_group_id) {
                    (Some(collection), Some(group)) => {
                        collections.iter().any(|c| c.id == collection && !c.archived)
                            && groups.iter().any(|g| g.id == group)
                            && plan_cells(&graph, collection, Some(group), admin_group).is_none()
                    }
                    _ => false,
                };
                match workspace.metabase_group_id {
                    Some(group) if exact => {
                        Box::pin(members::sync_group(deps, &admin, &workspace, group, changes)).await
                    }
                    _ => Box::pin(provision(deps, workspace, changes)).await.map(|_| ()),
                }
            }
        };
        match result {
            Ok(()) => {}
            // Someone else is working on it right now.
            Err(Error::Unavailable { service: "lease", .. }) => {}
            Err(error) => {
                tracing::warn!(workspace = %id, %error, "workspace not reconciled");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(Error::unavailable("metabase", format!("{failed} workspace(s) could not be reconciled")));
    }
    Ok(())
}

async fn with_graph_lease<F: Future<Output = Result<Patched>>>(deps: &Deps, work: F) -> Result<Patched> {
    lease::hold(&deps.store, deps.clock.as_ref(), lease::COLLECTION_GRAPH, GRAPH_LEASE_TTL, Box::pin(work)).await
}

/// Archives a workspace: status first (so our side stops at once), then the group loses its
/// access and the collection goes to the trash. Records are kept.
///
/// # Errors
/// A step failed; repeating the call (or the reconciler) finishes it.
pub async fn archive(deps: &Deps, workspace: Workspace, changes: &mut Vec<String>) -> Result<Workspace> {
    let mut workspace = workspace;
    if workspace.status != Status::Archived {
        workspace.status = Status::Archived;
        workspace.failure_reason = None;
        workspace = record(deps, &workspace).await?;
    }
    let id = workspace.id;
    lease::hold(
        &deps.store,
        deps.clock.as_ref(),
        &lease::workspace(id),
        SAGA_LEASE_TTL,
        Box::pin(archive_steps(deps, workspace, changes)),
    )
    .await
}

async fn archive_steps(deps: &Deps, workspace: Workspace, changes: &mut Vec<String>) -> Result<Workspace> {
    let Some(collection) = workspace.metabase_collection_id else {
        return Ok(workspace);
    };
    let admin = deps.metabase_admin().await?;
    let groups = admin.groups().await?;
    let admin_group = groups.iter().find(|g| g.is_admin()).map(|g| g.id);
    let collections = admin.collections().await?;
    match collections.iter().find(|c| c.id == collection) {
        Some(found) if !found.archived => {
            // Cells first: a trashed collection disappears from the graph.
            if with_graph_lease(deps, apply_cells(&admin, collection, None, admin_group)).await? == Patched::Changed {
                changes.push(format!("workspace {}: removed its group's collection access", workspace.id));
            }
            admin.update_collection(collection, &serde_json::json!({"archived": true})).await?;
            changes.push(format!("workspace {}: archived its collection", workspace.id));
        }
        _ => {}
    }
    Ok(workspace)
}
