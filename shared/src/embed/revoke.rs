//! Embed revocation (design §2 item 6). Metabase cannot revoke one token: a signed token stays
//! valid until its `exp` unless the object it opens stops being embeddable, because Metabase
//! re-checks `enable_embedding` on every embed request (§15). So:
//!
//! * **workspace / item scope** un-publishes the items in Metabase at once (outstanding tokens
//!   fail with `Embedding is not enabled for this object.`) and refuses mints and refreshes until
//!   every token issued before has expired — the TTL cap plus Metabase's 60 s expiry leeway;
//!   after that discovery re-publishes by itself (it does not publish before the window passes);
//! * **member scope** refuses that member's mints and refreshes until lifted; tokens already
//!   issued to them keep working until they expire (at most the cap).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::Serialize;

use super::{resource_of, rfc3339};
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::ids::{UserId, WorkspaceId};
use crate::items::{self, ItemKind, ItemRecord, ItemStatus};
use crate::metabase::MetabaseClient;
use crate::signer::EmbedResource;
use crate::store::{from_item, keys, sdk_error};
use crate::workspaces::{self, Member, Workspace, member_sk, provision, workspace_pk};

/// Metabase accepts a token up to 60 s after its `exp` (§15, step 4).
pub const METABASE_EXPIRY_LEEWAY_SECONDS: i64 = 60;

/// How many un-publish calls run at once: enough to be "at once" for a workspace, few enough not to
/// flood Metabase.
const UNPUBLISH_CONCURRENCY: usize = 8;

/// How long workspace and item revocations hold: until every token issued before can no longer
/// be used.
pub fn revocation_window_seconds(deps: &Deps) -> i64 {
    i64::from(deps.config.embed_ttl_cap_minutes) * 60 + METABASE_EXPIRY_LEEWAY_SECONDS
}

/// The answer of a workspace or item revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revocation {
    /// `workspace`, `dashboard` or `question`.
    pub scope: &'static str,
    pub workspace_id: WorkspaceId,
    /// Our record id, for item scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// Mints and refreshes are refused until then (RFC 3339); discovery re-publishes after it.
    pub revoked_until: String,
    /// The items switched off in Metabase.
    pub unpublished: Vec<ItemId>,
}

/// An item in a revocation answer: record ids of dashboards and questions can coincide, so the
/// kind comes along.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemId {
    pub id: String,
    pub kind: ItemKind,
}

impl From<&ItemRecord> for ItemId {
    fn from(record: &ItemRecord) -> Self {
        Self { id: record.item_ref().to_string(), kind: record.kind }
    }
}

/// Un-publishes one item; a deleted object counts as done.
async fn unpublish(admin: &MetabaseClient, item: &ItemRecord) -> Result<()> {
    let result = match resource_of(item) {
        EmbedResource::Dashboard(id) => admin.set_dashboard_embedding(id, None).await,
        EmbedResource::Question(id) => admin.set_card_embedding(id, None).await,
    };
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.is_status(404) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

async fn unpublish_all(deps: &Deps, records: &[ItemRecord]) -> Result<Vec<ItemId>> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let admin = deps.metabase_admin().await?;
    let mut done = Vec::with_capacity(records.len());
    for wave in records.chunks(UNPUBLISH_CONCURRENCY) {
        futures::future::try_join_all(wave.iter().map(|record| unpublish(&admin, record))).await?;
        done.extend(wave.iter().map(ItemId::from));
    }
    Ok(done)
}

/// Revokes every embed of `workspace`: records the window first (so discovery cannot re-publish
/// in between), then un-publishes all its published items concurrently. Repeating it is safe
/// and extends the window.
///
/// # Errors
/// DynamoDB or Metabase failed (the window is recorded; repeating finishes the un-publishing),
/// or the workspace kept changing under the save.
pub async fn revoke_workspace(deps: &Deps, workspace: Workspace) -> Result<Revocation> {
    let until = deps.clock.unix_seconds() + revocation_window_seconds(deps);
    let mut current = workspace;
    let saved = loop {
        let mut next = current.clone();
        next.embeds_revoked_until = Some(next.embeds_revoked_until.map_or(until, |u| u.max(until)));
        if let Some(saved) = workspaces::save(&deps.store, &next, &provision::now(deps)).await? {
            break saved;
        }
        // Someone else saved meanwhile: re-read and apply the revocation to the newer record.
        current = workspaces::get(&deps.store, current.id)
            .await?
            .ok_or_else(|| Error::NotFound("workspace not found".to_owned()))?;
    };
    let published: Vec<ItemRecord> = items::list_workspace(&deps.store, saved.id)
        .await?
        .into_iter()
        .filter(|record| record.status == ItemStatus::Embeddable)
        .collect();
    let unpublished = unpublish_all(deps, &published).await?;
    tracing::info!(workspace = %saved.id, items = unpublished.len(), until, "workspace embeds revoked");
    Ok(Revocation {
        scope: "workspace",
        workspace_id: saved.id,
        item_id: None,
        revoked_until: rfc3339(saved.embeds_revoked_until.unwrap_or(until)),
        unpublished,
    })
}

/// Revokes every embed of one item: records the window on the item, then un-publishes it.
///
/// # Errors
/// 404 when the record vanished meanwhile; DynamoDB or Metabase failed.
pub async fn revoke_item(deps: &Deps, record: &ItemRecord) -> Result<Revocation> {
    let until = deps.clock.unix_seconds() + revocation_window_seconds(deps);
    let until = record.revoked_until.map_or(until, |u| u.max(until));
    let item = record.item_ref();
    let saved = items::set_revoked_until(&deps.store, item, until)
        .await?
        .ok_or_else(|| Error::NotFound(format!("{} not found", item.kind.label())))?;
    let unpublished = unpublish_all(deps, std::slice::from_ref(&saved)).await?;
    tracing::info!(workspace = %item.workspace_id, item = %item, until, "item embeds revoked");
    Ok(Revocation {
        scope: item.kind.label(),
        workspace_id: item.workspace_id,
        item_id: Some(item.to_string()),
        revoked_until: rfc3339(until),
        unpublished,
    })
}

/// Sets or lifts a member's embed revocation (one conditional `UpdateItem`, so a concurrent role
/// change is not overwritten). Returns the updated membership, `None` when there is no such member.
///
/// # Errors
/// DynamoDB failed.
pub async fn set_member_revoked(
    deps: &Deps,
    workspace: WorkspaceId,
    user: UserId,
    revoked: bool,
) -> Result<Option<Member>> {
    let result = deps
        .store
        .client()
        .update_item()
        .table_name(deps.store.table())
        .set_key(Some(HashMap::from([
            (keys::PK.to_owned(), AttributeValue::S(workspace_pk(workspace))),
            (keys::SK.to_owned(), AttributeValue::S(member_sk(user))),
        ])))
        .update_expression("SET #revoked = :revoked")
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#revoked", "embeds_revoked")
        .expression_attribute_names("#pk", keys::PK)
        .expression_attribute_values(":revoked", AttributeValue::Bool(revoked))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match result {
        Ok(output) => {
            tracing::info!(workspace = %workspace, user = %user, revoked, "member embed revocation changed");
            output.attributes.map(from_item::<Member>).transpose()
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(None),
        Err(e) => Err(sdk_error(e)),
    }
}
